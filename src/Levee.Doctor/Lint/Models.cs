using System.Net;
using Levee.Doctor.Config;

namespace Levee.Doctor.Lint;

/// <summary>One <c>sentinel monitor</c> declaration and the per-master lines that follow it in one Sentinel config.</summary>
internal sealed class MasterDecl(SentinelModel owner, ConfigDirective monitor)
{
    public SentinelModel Owner { get; } = owner;

    public ConfigDirective Monitor { get; } = monitor;

    /// <summary>No 'sentinel monitor' line in the file: a start-up script of the manifest writes it (P009). <see cref="Monitor"/> is then a stand-in at the master's first line.</summary>
    public bool AtStartup { get; init; }

    public string Name => Monitor.Arg(1);

    public string Host => Monitor.Arg(2);

    public string PortText => Monitor.Arg(3);

    public string QuorumText => Monitor.Arg(4);

    public int Quorum => int.TryParse(QuorumText, out var q) ? q : 0;

    public string Address => $"{Host}:{PortText}";

    /// <summary>Last line of each per-master sub-directive (down-after-milliseconds, auth-pass, ...).</summary>
    public Dictionary<string, ConfigDirective> Settings { get; } = new(StringComparer.Ordinal);

    public List<ConfigDirective> KnownSentinels { get; } = [];

    public List<ConfigDirective> KnownReplicas { get; } = [];

    public List<ConfigDirective> Renames { get; } = [];

    public string? Setting(string sub) => Settings.TryGetValue(sub, out var d) ? d.Arg(2) : null;

    /// <summary>Distinct Sentinels this Sentinel has seen (known-sentinel lines with a run id, by run id).</summary>
    public int KnownSentinelCount => KnownSentinels.Where(k => k.Args.Count == 5).Select(k => k.Arg(4)).Distinct(StringComparer.OrdinalIgnoreCase).Count();
}

/// <summary>A Sentinel config: global settings plus the masters it monitors.</summary>
internal sealed class SentinelModel(ConfigDocument doc)
{
    public ConfigDocument Doc { get; } = doc;

    public Dictionary<string, MasterDecl> Masters { get; } = new(StringComparer.Ordinal);

    /// <summary>Global <c>sentinel X</c> lines (resolve-hostnames, myid, deny-scripts-reconfig, ...), last wins.</summary>
    public Dictionary<string, ConfigDirective> Globals { get; } = new(StringComparer.Ordinal);

    public string? Global(string sub) => Globals.TryGetValue(sub, out var d) ? d.Arg(1) : null;
}

/// <summary>A redis-server config.</summary>
internal sealed class RedisModel(ConfigDocument doc)
{
    public ConfigDocument Doc { get; } = doc;

    public ConfigDirective? ReplicaOf => Doc.LastOf("replicaof", "slaveof");

    public bool IsReplica => ReplicaOf is { } r && !(r.Arg(0).Equals("no", StringComparison.OrdinalIgnoreCase) && r.Arg(1).Equals("one", StringComparison.OrdinalIgnoreCase));

    public string? ReplicaOfAddress => IsReplica ? $"{ReplicaOf!.Arg(0)}:{ReplicaOf.Arg(1)}" : null;

    public ConfigDirective? PriorityLine => Doc.LastOf("replica-priority", "slave-priority");

    public int Priority => PriorityLine is { } p && int.TryParse(p.Arg(0), out var v) ? v : 100;

    public string? RequirePass => Doc.Last("requirepass")?.Arg(0) is { Length: > 0 } p ? p : null;

    /// <summary>No requirepass in the file, but the container's args or a start-up script of the manifest supply one (P009).</summary>
    public bool PasswordAtStartup => RequirePass is null && Doc.ConfigMap?.SuppliesAtStartup("requirepass") == true;

    /// <summary>No masterauth in the file, but the start-up supplies one.</summary>
    public bool MasterAuthAtStartup => MasterAuth is null && Doc.ConfigMap?.SuppliesAtStartup("masterauth") == true;

    /// <summary>protected-mode is set in the file (else the build's default applies: yes for redis.io and distribution builds, no in the official Docker image).</summary>
    public bool ProtectedModeSet => Doc.Last("protected-mode") is not null;

    public string? MasterAuth => Doc.Last("masterauth")?.Arg(0) is { Length: > 0 } p ? p : null;

    /// <summary>A password protects the default user (requirepass, or a <c>user default ... &gt;pass</c> line).</summary>
    public bool HasPassword => RequirePass is not null || PasswordAtStartup
        || Doc.Directives.Any(d => d.Name == "user" && d.Arg(0) == "default" && d.Args.Skip(1).Any(a => a.StartsWith('>') || a.StartsWith('#')));

    public bool ProtectedMode => !string.Equals(Doc.Last("protected-mode")?.Arg(0), "no", StringComparison.OrdinalIgnoreCase);

    /// <summary>Bind addresses; redis-server 7.0 defaults to <c>* -::*</c> (all interfaces) when no bind line is present.</summary>
    public IReadOnlyList<string> Bind => Doc.Last("bind") is { } b ? b.Args : ["*", "-::*"];

    public bool BindsLoopbackOnly => Bind.All(a => Net.IsLoopback(a.TrimStart('-')));

    public bool ClusterEnabled => string.Equals(Doc.Last("cluster-enabled")?.Arg(0), "yes", StringComparison.OrdinalIgnoreCase);

    /// <summary>No RDB snapshots (<c>save ""</c>) and no AOF.</summary>
    public bool PersistenceOff =>
        Doc.Last("save") is { } s && s.Args.All(a => a.Length == 0)
        && !string.Equals(Doc.Last("appendonly")?.Arg(0), "yes", StringComparison.OrdinalIgnoreCase);
}

internal static class Net
{
    public static bool IsIp(string host) => IPAddress.TryParse(host, out _);

    public static bool IsLoopback(string host) =>
        host.Equals("localhost", StringComparison.OrdinalIgnoreCase)
        || (IPAddress.TryParse(host, out var ip) && IPAddress.IsLoopback(ip));

    /// <summary>Parses a Redis memory value (<c>memtoull</c>: k=1000, kb=1024, m, mb, g, gb).</summary>
    public static long? ParseMemory(string text)
    {
        var t = text.Trim().ToLowerInvariant();
        (string suffix, long mul)[] units = [("gb", 1L << 30), ("mb", 1L << 20), ("kb", 1L << 10), ("g", 1_000_000_000), ("m", 1_000_000), ("k", 1000), ("b", 1)];
        foreach (var (suffix, mul) in units)
        {
            if (t.EndsWith(suffix, StringComparison.Ordinal))
            {
                return long.TryParse(t[..^suffix.Length], out var v) ? v * mul : null;
            }
        }

        return long.TryParse(t, out var plain) ? plain : null;
    }
}
