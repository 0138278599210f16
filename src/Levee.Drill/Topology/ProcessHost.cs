using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;

namespace Levee.Drill.Topology;

/// <summary>
/// Owns one temp folder and every child process started in it. Each child's PID is recorded in
/// <c>&lt;Root&gt;/&lt;name&gt;.pid</c>; <see cref="DisposeAsync"/> stops them all (SIGKILL, waits for exit).
/// A small <c>/bin/sh</c> watchdog polls this .NET process and SIGKILLs every recorded child when it is
/// gone, so a crashed or killed test host leaves no orphan behind. See <c>Topology/readme.md</c>.
/// </summary>
public sealed class ProcessHost : IAsyncDisposable
{
    /// <summary>Environment variable naming the folder under which every host creates its root.</summary>
    public const string RootVariable = "LEVEE_TEST_ROOT";

    /// <summary>Environment variable that, when "1", keeps the root folder (logs) after dispose.</summary>
    public const string KeepVariable = "LEVEE_KEEP_PROCESS_DIRS";

    private const string WatchdogScript = """
        exec </dev/null >/dev/null 2>&1
        owner=$1; root=$2
        alive() { [ -r "/proc/$owner/status" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$owner/status"; }
        while alive; do sleep 1; done
        for f in "$root"/*.pid; do
          [ -f "$f" ] || continue
          pid=$(tr -dc 0-9 < "$f")
          [ -n "$pid" ] && [ "$pid" != "$$" ] || continue
          kill -KILL "$pid"; kill -CONT "$pid"
        done
        """;

    private const string ExecScript = """exec "$0" "$@" </dev/null >>"$LEVEE_LOG" 2>&1""";

    private readonly ConcurrentDictionary<string, HostedProcess> _processes = new(StringComparer.Ordinal);
    private readonly List<Func<ValueTask>> _cleanups = [];
    private readonly Lock _gate = new();
    private readonly Process _watchdog;
    private readonly bool _keepRoot;
    private int _disposed;

    /// <summary>Creates the root folder and starts the orphan watchdog for the current process.</summary>
    public ProcessHost()
        : this(Environment.ProcessId)
    {
    }

    /// <summary>
    /// Creates the root folder and starts the orphan watchdog for <paramref name="ownerPid"/>: when that
    /// process is gone, every recorded child is killed. Tests use this to verify the guard.
    /// </summary>
    public ProcessHost(int ownerPid)
    {
        var baseDir = Environment.GetEnvironmentVariable(RootVariable);
        if (string.IsNullOrWhiteSpace(baseDir))
        {
            baseDir = Path.GetTempPath();
        }

        Directory.CreateDirectory(baseDir);
        Root = Path.Combine(baseDir, "levee-" + Guid.NewGuid().ToString("N")[..10]);
        Directory.CreateDirectory(Root);
        _keepRoot = Environment.GetEnvironmentVariable(KeepVariable) == "1";
        OwnerPid = ownerPid;

        // a script file rather than -c, so `ps` shows "/bin/sh <root>/_watchdog.sh <owner> <root>"
        var script = Path.Combine(Root, "_watchdog.sh");
        File.WriteAllText(script, "# Levee orphan guard: kills every <root>/*.pid once the owner process is gone\n" + WatchdogScript + "\n");
        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false };
        psi.ArgumentList.Add(script);
        psi.ArgumentList.Add(ownerPid.ToString(CultureInfo.InvariantCulture));
        psi.ArgumentList.Add(Root);
        _watchdog = Process.Start(psi) ?? throw new TopologyException("could not start /bin/sh for the orphan watchdog");
        File.WriteAllText(Path.Combine(Root, "_watchdog.pid"), _watchdog.Id.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>The folder that holds every child's files, logs and PID files.</summary>
    public string Root { get; }

    /// <summary>The process whose death makes the watchdog kill every child.</summary>
    public int OwnerPid { get; }

    /// <summary>The PID of the watchdog shell.</summary>
    public int WatchdogPid => _watchdog.Id;

    /// <summary>Every process started so far (latest start per name).</summary>
    public IReadOnlyCollection<HostedProcess> Processes => _processes.Values.ToList();

    /// <summary>
    /// Certificates every Redis and Sentinel node started from now on listens with, on TLS only (see
    /// <see cref="UseTlsAsync"/>); null: plain TCP.
    /// </summary>
    public TlsCertificates? Tls { get; private set; }

    /// <summary>
    /// Makes a private CA, a server and a client certificate with openssl in <c>Root/tls-N</c> (once) and starts every
    /// later Redis and Sentinel node on TLS only (<c>port 0</c>, its port is its TLS port, client certificates
    /// required, replication and the Cluster bus over TLS); the launcher's own commands use TLS too.
    /// </summary>
    public async Task<TlsCertificates> UseTlsAsync(CancellationToken cancellationToken = default)
    {
        if (Tls is null)
        {
            var certificates = await TlsCertificates.CreateAsync(CreateDirectory(UniqueName("tls")), cancellationToken).ConfigureAwait(false);
            Tls ??= certificates;
        }

        return Tls;
    }

    /// <summary>True when <paramref name="pid"/> exists and is not a zombie (for checks that a stopped process is gone).</summary>
    public static bool IsAlive(int pid) => Signals.IsAlive(pid);

    /// <summary>Creates (if needed) and returns the folder <c>Root/name</c>.</summary>
    public string CreateDirectory(string name)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        var dir = Path.Combine(Root, name);
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>
    /// Starts <paramref name="fileName"/> with stdin from /dev/null and stdout + stderr appended to
    /// <paramref name="logFile"/>, records its PID in <c>Root/name.pid</c>. A name already running is an error;
    /// a name whose process exited is reused (restart). With <paramref name="runAsUser"/> the process runs as
    /// that user (via <c>setpriv</c>, needs root).
    /// </summary>
    public HostedProcess Start(
        string name,
        string fileName,
        IEnumerable<string> arguments,
        string workingDirectory,
        string logFile,
        string? runAsUser = null,
        IReadOnlyDictionary<string, string>? environment = null)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(name);
        ArgumentNullException.ThrowIfNull(arguments);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
        if (_processes.TryGetValue(name, out var existing) && !existing.HasExited)
        {
            throw new InvalidOperationException($"a process named '{name}' is already running (pid {existing.Pid})");
        }

        var psi = new ProcessStartInfo("/bin/sh") { UseShellExecute = false, WorkingDirectory = workingDirectory };
        psi.ArgumentList.Add("-c");
        psi.ArgumentList.Add(ExecScript);
        if (runAsUser is not null)
        {
            psi.ArgumentList.Add(FindSetpriv());
            psi.ArgumentList.Add("--reuid=" + runAsUser);
            psi.ArgumentList.Add("--regid=" + PrimaryGroupOf(runAsUser));
            psi.ArgumentList.Add("--clear-groups");
        }

        psi.ArgumentList.Add(fileName);
        foreach (var arg in arguments)
        {
            psi.ArgumentList.Add(arg);
        }

        psi.Environment["LEVEE_LOG"] = logFile;
        if (environment is not null)
        {
            foreach (var (key, value) in environment)
            {
                psi.Environment[key] = value;
            }
        }

        var pidFile = Path.Combine(Root, name + ".pid");
        Process process;
        lock (_gate)
        {
            process = Process.Start(psi) ?? throw new TopologyException($"could not start {fileName}");
            File.WriteAllText(pidFile, process.Id.ToString(CultureInfo.InvariantCulture));
        }

        var hosted = new HostedProcess(name, process, logFile, pidFile);
        process.EnableRaisingEvents = true;
        process.Exited += (_, _) => ForgetPidFile(hosted);
        _processes[name] = hosted;
        if (process.HasExited)
        {
            ForgetPidFile(hosted);
        }

        return hosted;
    }

    /// <summary>
    /// Starts a standalone redis-server (no persistence) on a free loopback port and waits until it answers PING.
    /// </summary>
    /// <param name="name">Folder and PID-file name; default <c>redis-N</c>.</param>
    /// <param name="extraConfig">Extra <c>redis.conf</c> lines appended to the template.</param>
    /// <param name="cancellationToken">Cancels the start.</param>
    public Task<RedisNode> StartRedisAsync(string? name = null, IEnumerable<string>? extraConfig = null, CancellationToken cancellationToken = default)
    {
        var lines = extraConfig?.ToArray() ?? [];
        return RedisNode.StartAsync(
            this,
            name ?? UniqueName("redis"),
            RedisNodeKind.Server,
            (dir, port) => ConfigTemplates.RedisServer(dir, port, lines),
            cancellationToken);
    }

    /// <summary>
    /// Starts one redis-sentinel on a free loopback port, monitoring <paramref name="service"/> at 127.0.0.1:<paramref name="masterPort"/>
    /// (down-after 2000 ms, failover-timeout 4000 ms), with <paramref name="extraConfig"/> lines (e.g. TLS) appended.
    /// </summary>
    public Task<RedisNode> StartSentinelAsync(string service, int masterPort, int quorum = 1, IEnumerable<string>? extraConfig = null, CancellationToken cancellationToken = default)
    {
        var lines = extraConfig?.ToArray() ?? [];
        return RedisNode.StartAsync(
            this,
            UniqueName("sentinel"),
            RedisNodeKind.Sentinel,
            (dir, port) => ConfigTemplates.Sentinel(dir, port, service, masterPort, quorum, 2000, 4000, lines),
            cancellationToken);
    }

    /// <summary>Returns <paramref name="prefix"/>-N for the first N not used yet.</summary>
    public string UniqueName(string prefix)
    {
        lock (_gate)
        {
            for (var i = 1; ; i++)
            {
                var candidate = prefix + "-" + i.ToString(CultureInfo.InvariantCulture);
                if (!_processes.ContainsKey(candidate) && !Directory.Exists(Path.Combine(Root, candidate)))
                {
                    Directory.CreateDirectory(Path.Combine(Root, candidate));
                    return candidate;
                }
            }
        }
    }

    /// <summary>
    /// Stops every child: registered cleanups first (e.g. <c>pg_ctl stop</c>), then SIGKILL to all that still run,
    /// waiting for each to exit; then the watchdog; then deletes the root unless <see cref="KeepVariable"/> is "1".
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        List<Func<ValueTask>> toRun;
        lock (_gate)
        {
            toRun = [.. _cleanups];
            toRun.Reverse();
        }

        foreach (var cleanup in toRun)
        {
            try
            {
                await cleanup().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
                Trace.TraceWarning($"levee process host cleanup failed: {ex.Message}");
            }
        }

        var stuck = new List<string>();
        foreach (var p in _processes.Values)
        {
            if (!p.HasExited)
            {
                Signals.Send(p.Pid, Signals.SigKill);
                Signals.Send(p.Pid, Signals.SigCont);
            }
        }

        foreach (var p in _processes.Values)
        {
            if (!await p.WaitForExitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false))
            {
                stuck.Add(p.ToString());
            }
            else
            {
                ForgetPidFile(p);
            }
        }

        if (!_watchdog.HasExited)
        {
            Signals.Send(_watchdog.Id, Signals.SigKill);
        }

        await _watchdog.WaitForExitAsync().ConfigureAwait(false);
        _watchdog.Dispose();
        TryDelete(Path.Combine(Root, "_watchdog.pid"));

        if (stuck.Count > 0)
        {
            throw new TopologyException("processes did not exit after SIGKILL: " + string.Join("; ", stuck));
        }

        if (!_keepRoot)
        {
            try
            {
                Directory.Delete(Root, recursive: true);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                Trace.TraceWarning($"levee process host could not delete {Root}: {ex.Message}");
            }
        }
    }

    internal void AddCleanup(Func<ValueTask> cleanup)
    {
        lock (_gate)
        {
            _cleanups.Add(cleanup);
        }
    }

    private static string FindSetpriv() =>
        File.Exists("/usr/bin/setpriv") ? "/usr/bin/setpriv"
        : throw new TopologyException("'setpriv' (package util-linux) is needed to run a process as a non-root user");

    private static string PrimaryGroupOf(string user)
    {
        foreach (var line in File.ReadLines("/etc/passwd"))
        {
            var parts = line.Split(':');
            if (parts.Length > 3 && parts[0] == user)
            {
                return parts[3];
            }
        }

        throw new TopologyException($"user '{user}' not found in /etc/passwd");
    }

    private void ForgetPidFile(HostedProcess p)
    {
        lock (_gate)
        {
            try
            {
                if (File.Exists(p.PidFile) && File.ReadAllText(p.PidFile).Trim() == p.Pid.ToString(CultureInfo.InvariantCulture))
                {
                    File.Delete(p.PidFile);
                }
            }
            catch (IOException)
            {
                // best effort: a leftover file only names a dead PID
            }
        }
    }

    private static void TryDelete(string file)
    {
        try
        {
            File.Delete(file);
        }
        catch (IOException)
        {
        }
    }
}
