using System.Globalization;
using System.Text;

namespace Levee.Drill.Topology;

/// <summary>
/// The checked-in configuration templates of every process the launcher starts. Everything binds to
/// 127.0.0.1, logs to stdout (redirected to the node's log file), and keeps nothing on disk.
/// </summary>
internal static class ConfigTemplates
{
    private const string RedisBase = """
        # Levee test/drill node: loopback only, no persistence, logs to stdout (redirected to the log file)
        port {port}
        bind 127.0.0.1
        protected-mode no
        daemonize no
        logfile ""
        dir "{dir}"
        save ""
        appendonly no
        repl-diskless-sync yes
        repl-diskless-sync-delay 0
        repl-diskless-load swapdb
        """;

    private const string SentinelBase = """
        # Levee test/drill Sentinel: loopback only; Sentinel rewrites this file with what it learns
        port {port}
        bind 127.0.0.1
        protected-mode no
        daemonize no
        logfile ""
        dir "{dir}"
        sentinel resolve-hostnames no
        sentinel monitor {service} 127.0.0.1 {masterPort} {quorum}
        sentinel down-after-milliseconds {service} {downAfter}
        sentinel failover-timeout {service} {failoverTimeout}
        sentinel parallel-syncs {service} 1
        """;

    private const string ClusterExtra = """
        cluster-enabled yes
        cluster-config-file nodes.conf
        cluster-node-timeout {nodeTimeout}
        cluster-port {busPort}
        cluster-require-full-coverage yes
        """;

    public static string RedisServer(string dir, int port, IEnumerable<string> extraLines) =>
        Join(Fill(RedisBase, ("port", port), ("dir", dir)), extraLines);

    public static string Replica(string dir, int port, int masterPort, IEnumerable<string> extraLines) =>
        Join(Fill(RedisBase, ("port", port), ("dir", dir)), [$"replicaof 127.0.0.1 {masterPort.ToString(CultureInfo.InvariantCulture)}", .. extraLines]);

    public static string Sentinel(string dir, int port, string service, int masterPort, int quorum, int downAfterMs, int failoverTimeoutMs, IEnumerable<string>? extraLines = null) =>
        Join(Fill(
            SentinelBase,
            ("port", port),
            ("dir", dir),
            ("service", service),
            ("masterPort", masterPort),
            ("quorum", quorum),
            ("downAfter", downAfterMs),
            ("failoverTimeout", failoverTimeoutMs)), extraLines ?? []);

    public static string ClusterNode(string dir, int port, int busPort, int nodeTimeoutMs, IEnumerable<string> extraLines) =>
        Join(
            Fill(RedisBase, ("port", port), ("dir", dir)) + "\n" + Fill(ClusterExtra, ("nodeTimeout", nodeTimeoutMs), ("busPort", busPort)),
            extraLines);

    private static string Fill(string template, params (string Key, object Value)[] values)
    {
        var sb = new StringBuilder(template);
        foreach (var (key, value) in values)
        {
            sb.Replace("{" + key + "}", Convert.ToString(value, CultureInfo.InvariantCulture));
        }

        return sb.ToString();
    }

    private static string Join(string baseText, IEnumerable<string> extraLines)
    {
        var sb = new StringBuilder(baseText).Append('\n');
        foreach (var line in extraLines)
        {
            if (line.Contains('\n', StringComparison.Ordinal))
            {
                throw new ArgumentException($"config line must not contain a newline: '{line}'", nameof(extraLines));
            }

            sb.Append(line).Append('\n');
        }

        return sb.ToString();
    }
}
