using System.Globalization;

namespace Levee.Drill.Topology;

/// <summary>What a <see cref="RedisNode"/> runs.</summary>
public enum RedisNodeKind
{
    /// <summary>A redis-server (standalone, master or replica).</summary>
    Server,

    /// <summary>A redis-sentinel.</summary>
    Sentinel,

    /// <summary>A redis-server with <c>cluster-enabled yes</c>.</summary>
    ClusterNode,
}

/// <summary>
/// A real redis-server or redis-sentinel process on a loopback port, started by a <see cref="ProcessHost"/>,
/// with fault helpers (kill, freeze, thaw, restart empty) and raw commands with a hard timeout.
/// </summary>
public sealed class RedisNode
{
    /// <summary>Default time a node has to answer PING after start.</summary>
    public static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(20);

    /// <summary>Default timeout of <see cref="ExecuteAsync(string[])"/>.</summary>
    public static readonly TimeSpan DefaultCommandTimeout = TimeSpan.FromSeconds(2);

    private readonly ProcessHost _host;
    private readonly Func<string, int, string> _template;
    private HostedProcess? _process;

    private RedisNode(ProcessHost host, string name, RedisNodeKind kind, string directory, Func<string, int, string> template)
    {
        _host = host;
        _template = template;
        Name = name;
        Kind = kind;
        Directory = directory;
        LogFile = Path.Combine(directory, name + ".log");
        ConfigFile = Path.Combine(directory, kind == RedisNodeKind.Sentinel ? "sentinel.conf" : "redis.conf");
    }

    /// <summary>Name (folder and PID-file name), e.g. <c>master</c>, <c>replica-1</c>, <c>sentinel-2</c>.</summary>
    public string Name { get; }

    /// <summary>What the node runs.</summary>
    public RedisNodeKind Kind { get; }

    /// <summary>The node's folder (config, log, cluster state).</summary>
    public string Directory { get; }

    /// <summary>
    /// The certificates when the node listens on TLS only (its <see cref="Port"/> is then its TLS port, its plain port
    /// is off); taken from <see cref="ProcessHost.Tls"/> when the node was started. Null: plain TCP.
    /// </summary>
    public TlsCertificates? Tls { get; private init; }

    /// <summary>The loopback TCP port; stays the same across <see cref="RestartAsync"/>.</summary>
    public int Port { get; private set; }

    /// <summary><c>127.0.0.1:Port</c>, usable as a StackExchange.Redis endpoint.</summary>
    public string Endpoint => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>The process id of the current incarnation.</summary>
    public int Pid => Process.Pid;

    /// <summary>The file receiving the node's log (stdout and stderr).</summary>
    public string LogFile { get; }

    /// <summary>The node's config file (Sentinel rewrites its own).</summary>
    public string ConfigFile { get; }

    /// <summary>Wall time of the last start or restart until the node answered PING.</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>The current process.</summary>
    public HostedProcess Process => _process ?? throw new InvalidOperationException($"{Name} was never started");

    /// <summary>True while the process exists (frozen counts as running).</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>True while frozen by <see cref="Freeze"/>.</summary>
    public bool IsFrozen => _process is { IsFrozen: true };

    /// <summary>SIGKILL: the node vanishes with a TCP reset (a crashed process).</summary>
    public void Kill() => _process?.Kill();

    /// <summary>SIGSTOP: the node keeps its port open but answers nothing (a dead host without a TCP reset).</summary>
    public void Freeze() => Process.Freeze();

    /// <summary>SIGCONT after <see cref="Freeze"/>.</summary>
    public void Thaw() => Process.Thaw();

    /// <summary>
    /// Kills the node if it runs (also when frozen) and starts it again on the same port with the same
    /// config file; a Redis node comes back empty (no persistence). Waits until it answers PING.
    /// </summary>
    public async Task RestartAsync(CancellationToken cancellationToken = default)
    {
        Kill();
        var started = System.Diagnostics.Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            _process = LaunchProcess();
            var failure = await WaitReadyAsync(StartTimeout, cancellationToken).ConfigureAwait(false);
            if (failure is null)
            {
                StartupTime = started.Elapsed;
                return;
            }

            Kill();
            if (attempt >= 5 || !AddressInUse())
            {
                throw StartFailure("restart", failure);
            }

            await Task.Delay(TimeSpan.FromMilliseconds(200 * attempt), TimeProvider.System, cancellationToken).ConfigureAwait(false);
        }
    }

    /// <summary>Sends one command with the default 2 s timeout; a Redis error reply is returned, not thrown.</summary>
    /// <exception cref="TimeoutException">The node did not answer in time (e.g. frozen).</exception>
    /// <exception cref="IOException">The connection failed or was closed (e.g. killed).</exception>
    public Task<RedisReply> ExecuteAsync(params string[] args) => ExecuteAsync(DefaultCommandTimeout, args, CancellationToken.None);

    /// <summary>Sends one command over a fresh connection with a hard <paramref name="timeout"/>.</summary>
    public async Task<RedisReply> ExecuteAsync(TimeSpan timeout, IReadOnlyList<string> args, CancellationToken cancellationToken = default)
    {
        try
        {
            return await RespClient.ExecuteAsync(Port, timeout, args, cancellationToken, Tls).ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new IOException($"{Name} at {Endpoint}: {ex.Message}", ex);
        }
    }

    /// <summary>
    /// Sends <paramref name="commands"/> in order over one fresh connection (so <c>WAIT</c>, <c>READONLY</c>,
    /// <c>MULTI</c> apply to the commands before or after them), with one hard <paramref name="timeout"/> for all.
    /// </summary>
    public async Task<IReadOnlyList<RedisReply>> ExecuteBatchAsync(TimeSpan timeout, IReadOnlyList<IReadOnlyList<string>> commands, CancellationToken cancellationToken = default)
    {
        try
        {
            return await RespClient.ExecuteBatchAsync(Port, timeout, commands, cancellationToken, Tls).ConfigureAwait(false);
        }
        catch (System.Net.Sockets.SocketException ex)
        {
            throw new IOException($"{Name} at {Endpoint}: {ex.Message}", ex);
        }
    }

    /// <summary>True when the node answers PONG within <paramref name="timeout"/> (default 1 s).</summary>
    public async Task<bool> PingAsync(TimeSpan? timeout = null, CancellationToken cancellationToken = default)
    {
        try
        {
            var reply = await ExecuteAsync(timeout ?? TimeSpan.FromSeconds(1), ["PING"], cancellationToken).ConfigureAwait(false);
            return reply.Text == "PONG";
        }
        catch (Exception ex) when (ex is TimeoutException or IOException)
        {
            return false;
        }
    }

    /// <summary>Runs <c>INFO section</c> and returns its <c>field:value</c> lines.</summary>
    public async Task<IReadOnlyDictionary<string, string>> InfoAsync(string section = "default", CancellationToken cancellationToken = default)
    {
        var reply = await ExecuteAsync(DefaultCommandTimeout, ["INFO", section], cancellationToken).ConfigureAwait(false);
        return ParseInfo(reply);
    }

    /// <summary>The first element of <c>ROLE</c>: <c>master</c>, <c>slave</c> or <c>sentinel</c>.</summary>
    public async Task<string> RoleAsync(CancellationToken cancellationToken = default)
    {
        var reply = await ExecuteAsync(DefaultCommandTimeout, ["ROLE"], cancellationToken).ConfigureAwait(false);
        return reply.Items.Count > 0 ? reply.Items[0].Text ?? string.Empty : throw new IOException($"{Name}: unexpected ROLE reply {reply}");
    }

    /// <summary>The last <paramref name="lines"/> lines of the log file (for failure messages).</summary>
    public string LogTail(int lines = 20) => ReadTail(LogFile, lines);

    /// <inheritdoc />
    public override string ToString() => $"{Name} {Kind} {Endpoint} (log {LogFile})";

    internal static IReadOnlyDictionary<string, string> ParseInfo(RedisReply reply)
    {
        if (reply.IsError)
        {
            throw new IOException("INFO failed: " + reply.Text);
        }

        var map = new Dictionary<string, string>(StringComparer.OrdinalIgnoreCase);
        foreach (var raw in (reply.Text ?? string.Empty).Split('\n'))
        {
            var line = raw.TrimEnd('\r');
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && !line.StartsWith('#'))
            {
                map[line[..colon]] = line[(colon + 1)..];
            }
        }

        return map;
    }

    internal static string ReadTail(string file, int lines)
    {
        try
        {
            using var stream = new FileStream(file, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
            using var reader = new StreamReader(stream);
            var all = reader.ReadToEnd().Split('\n');
            return string.Join('\n', all.TakeLast(lines + 1)).TrimEnd();
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return $"(log {file} not readable: {ex.Message})";
        }
    }

    internal static async Task<RedisNode> StartAsync(
        ProcessHost host,
        string name,
        RedisNodeKind kind,
        Func<string, int, string> template,
        CancellationToken cancellationToken)
    {
        // validate the binary before allocating anything
        _ = kind == RedisNodeKind.Sentinel ? Binaries.RedisSentinel : Binaries.RedisServer;
        var tls = host.Tls;
        if (tls is not null)
        {
            var plain = template;
            template = (dir, port) => plain(dir, port) + string.Join('\n', tls.TlsOnlyConfig(port, kind == RedisNodeKind.ClusterNode)) + "\n";
        }

        var node = new RedisNode(host, name, kind, host.CreateDirectory(name), template) { Tls = tls };
        var started = System.Diagnostics.Stopwatch.StartNew();
        for (var attempt = 1; ; attempt++)
        {
            node.Port = PortAllocator.Next();
            await File.WriteAllTextAsync(node.ConfigFile, template(node.Directory, node.Port), cancellationToken).ConfigureAwait(false);
            node._process = node.LaunchProcess();
            var failure = await node.WaitReadyAsync(StartTimeout, cancellationToken).ConfigureAwait(false);
            if (failure is null)
            {
                node.StartupTime = started.Elapsed;
                return node;
            }

            node.Kill();
            if (attempt >= 4 || !node.AddressInUse())
            {
                throw node.StartFailure("start", failure);
            }
        }
    }

    internal TopologyException StartFailure(string what, string failure) =>
        new($"{Kind} node {Name} failed to {what} on {Endpoint}: {failure}. Log {LogFile}, last lines:\n{LogTail()}");

    private HostedProcess LaunchProcess()
    {
        var binary = Kind == RedisNodeKind.Sentinel ? Binaries.RedisSentinel : Binaries.RedisServer;
        return _host.Start(Name, binary, [ConfigFile], Directory, LogFile);
    }

    private bool AddressInUse() =>
        LogTail(40).Contains("Address already in use", StringComparison.OrdinalIgnoreCase);

    /// <summary>Polls PING until PONG; returns null when ready, else why not.</summary>
    private async Task<string?> WaitReadyAsync(TimeSpan timeout, CancellationToken cancellationToken)
    {
        var result = await Poll.TryUntilAsync("PONG from our process", ProbeReadyAsync, timeout, TimeProvider.System, cancellationToken,
            new PollInterval(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(100))).ConfigureAwait(false);
        return result.IsReady ? null : result.Failure;
    }

    private async Task<Probe<bool>> ProbeReadyAsync(CancellationToken cancellationToken)
    {
        if (_process is null || _process.HasExited)
        {
            return Probe<bool>.Failed("the process exited");
        }

        try
        {
            var replies = await RespClient.ExecuteBatchAsync(Port, TimeSpan.FromMilliseconds(500), [["PING"], ["INFO", "server"]], cancellationToken, Tls).ConfigureAwait(false);
            var reply = replies[0];
            if (reply.Text != "PONG")
            {
                return Probe<bool>.NotYet("PING answered " + reply);
            }

            // another process' server on the same port (a cross-process port race) must not count as ours
            var pid = ParseInfo(replies[1]).GetValueOrDefault("process_id");
            if (pid == _process.Pid.ToString(CultureInfo.InvariantCulture))
            {
                return Probe<bool>.Ready(true);
            }

            var why = $"port {Port} is answered by process {pid}, not by ours ({_process.Pid})";
            return AddressInUse() ? Probe<bool>.Failed(why) : Probe<bool>.NotYet(why);
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or System.Net.Sockets.SocketException)
        {
            return Probe<bool>.NotYet(ex.Message);
        }
    }
}
