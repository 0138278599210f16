using System.Globalization;
using System.Runtime.InteropServices;
using Npgsql;

namespace Levee.Drill.Topology;

/// <summary>
/// A throw-away PostgreSQL cluster: <c>initdb</c> in the host's temp folder, <c>postgres</c> on a free loopback
/// port (trust authentication, unix socket in its folder, no fsync), run as a non-root user when the current
/// process is root. Stopped with <c>pg_ctl stop -m immediate</c> and SIGKILL when the host is disposed.
/// </summary>
public sealed class PostgresServer : IAsyncDisposable
{
    private const string SuperUser = "postgres";
    private readonly ProcessHost _host;
    private readonly bool _ownsHost;
    private readonly string? _runAs;
    private HostedProcess? _process;

    private PostgresServer(ProcessHost host, bool ownsHost, PostgresOptions options, string name, string directory, string? runAs)
    {
        _host = host;
        _ownsHost = ownsHost;
        _runAs = runAs;
        Options = options;
        Name = name;
        Directory = directory;
        DataDirectory = Path.Combine(directory, "data");
        LogFile = Path.Combine(directory, name + ".log");
    }

    /// <summary>The options it was started with.</summary>
    public PostgresOptions Options { get; }

    /// <summary>Name (folder and PID-file name), e.g. <c>postgres-1</c>.</summary>
    public string Name { get; }

    /// <summary>The server's folder (data directory, unix socket, log).</summary>
    public string Directory { get; }

    /// <summary>The data directory created by initdb.</summary>
    public string DataDirectory { get; }

    /// <summary>The server log (stdout and stderr of postgres).</summary>
    public string LogFile { get; }

    /// <summary>Wall time of initdb + start until <c>SELECT 1</c> answered (and the database/extension were created).</summary>
    public TimeSpan StartupTime { get; private set; }

    /// <summary>The loopback TCP port.</summary>
    public int Port { get; private set; }

    /// <summary><c>127.0.0.1:Port</c>.</summary>
    public string Endpoint => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>The postmaster's process id.</summary>
    public int Pid => Process.Pid;

    /// <summary>The postmaster process.</summary>
    public HostedProcess Process => _process ?? throw new InvalidOperationException($"{Name} was never started");

    /// <summary>True while the postmaster exists (frozen counts as running).</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>True when pg_stat_statements is loaded and its extension created in the target database.</summary>
    public bool HasPgStatStatements { get; private set; }

    /// <summary>The database the <see cref="ConnectionString"/> points at (<c>postgres</c> unless one was created).</summary>
    public string Database => Options.Database ?? "postgres";

    /// <summary>Npgsql connection string (superuser <c>postgres</c>, trust auth on loopback, no password).</summary>
    public string ConnectionString =>
        $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username={SuperUser};Database={Database}";

    /// <summary>Runs initdb and starts the server in its own <see cref="ProcessHost"/> (disposed with it).</summary>
    public static async Task<PostgresServer> StartAsync(PostgresOptions? options = null, CancellationToken cancellationToken = default)
    {
        (options ??= new PostgresOptions()).Validate();
        var host = new ProcessHost();
        try
        {
            return await StartCoreAsync(host, ownsHost: true, options, cancellationToken).ConfigureAwait(false);
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Runs initdb and starts the server in <paramref name="host"/>; the host stops it when disposed.</summary>
    public static Task<PostgresServer> StartAsync(ProcessHost host, PostgresOptions? options = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(host);
        return StartCoreAsync(host, ownsHost: false, options, cancellationToken);
    }

    /// <summary>Runs a SQL command; returns the rows affected (-1 for statements without a count).</summary>
    public async Task<int> ExecuteAsync(string sql, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenProbeAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        return await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
    }

    /// <summary>Runs a query and returns the first column of the first row (null for no row or SQL NULL).</summary>
    public async Task<object?> QueryScalarAsync(string sql, CancellationToken cancellationToken = default)
    {
        await using var connection = await OpenProbeAsync(cancellationToken).ConfigureAwait(false);
        await using var command = new NpgsqlCommand(sql, connection);
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        return value is DBNull ? null : value;
    }

    /// <summary>SIGKILL to the postmaster and its backends (a crashed database host).</summary>
    public void Kill()
    {
        if (_process is null || _process.HasExited)
        {
            return;
        }

        var children = ChildrenOf(_process.Pid);
        _process.Kill();
        foreach (var child in children)
        {
            Signals.Send(child, Signals.SigKill);
            Signals.Send(child, Signals.SigCont);
        }
    }

    /// <summary>SIGSTOP to the postmaster and its backends: connections stay open, nothing answers.</summary>
    public void Freeze()
    {
        Process.Freeze();
        foreach (var child in ChildrenOf(Pid))
        {
            Signals.Send(child, Signals.SigStop);
        }
    }

    /// <summary>SIGCONT after <see cref="Freeze"/>.</summary>
    public void Thaw()
    {
        foreach (var child in ChildrenOf(Pid))
        {
            Signals.Send(child, Signals.SigCont);
        }

        Process.Thaw();
    }

    /// <summary>The last <paramref name="lines"/> lines of the server log.</summary>
    public string LogTail(int lines = 20) => RedisNode.ReadTail(LogFile, lines);

    /// <summary>Stops the server (and its host when it created one).</summary>
    public async ValueTask DisposeAsync()
    {
        if (_ownsHost)
        {
            await _host.DisposeAsync().ConfigureAwait(false);
            return;
        }

        await StopAsync().ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override string ToString() => $"{Name} PostgreSQL {Endpoint} (log {LogFile})";

    private static async Task<PostgresServer> StartCoreAsync(ProcessHost host, bool ownsHost, PostgresOptions? options, CancellationToken cancellationToken)
    {
        options ??= new PostgresOptions();
        options.Validate();
        var started = System.Diagnostics.Stopwatch.StartNew();
        var initdb = Binaries.Postgres("initdb");
        var postgres = Binaries.Postgres("postgres");
        var runAs = IsRoot() ? options.RunAsUser : null;
        var name = host.UniqueName("postgres");
        var server = new PostgresServer(host, ownsHost, options, name, host.CreateDirectory(name), runAs);
        host.AddCleanup(server.StopAsync);
        if (runAs is not null)
        {
            MakeReachable(server.Directory, runAs);
        }

        var deadline = DateTime.UtcNow + options.ReadyTimeout;
        var init = host.Start(
            name + "-initdb",
            initdb,
            ["-D", server.DataDirectory, "-U", SuperUser, "-A", "trust", "-E", "UTF8", "--locale=C", "--no-sync"],
            server.Directory,
            server.LogFile,
            runAs);
        if (!await init.WaitForExitAsync(options.ReadyTimeout, cancellationToken).ConfigureAwait(false))
        {
            init.Kill();
            throw new TopologyException($"initdb for {name} did not finish within {options.ReadyTimeout.TotalSeconds:0} s; log {server.LogFile}:\n{server.LogTail()}");
        }

        if (init.ExitCode != 0)
        {
            throw new TopologyException($"initdb for {name} failed (exit {init.ExitCode}); log {server.LogFile}:\n{server.LogTail()}");
        }

        var libDir = Path.GetFullPath(Path.Combine(Path.GetDirectoryName(postgres)!, "..", "lib"));
        var preload = options.PgStatStatements && File.Exists(Path.Combine(libDir, "pg_stat_statements.so"));
        for (var attempt = 1; ; attempt++)
        {
            server.Port = PortAllocator.Next();
            await server.WriteConfigAsync(preload, cancellationToken).ConfigureAwait(false);
            server._process = host.Start(name, postgres, ["-D", server.DataDirectory], server.Directory, server.LogFile, runAs);
            var failure = await server.WaitReadyAsync(deadline, cancellationToken).ConfigureAwait(false);
            if (failure is null)
            {
                break;
            }

            server.Kill();
            var inUse = server.LogTail(30).Contains("already in use", StringComparison.OrdinalIgnoreCase);
            if (attempt >= 4 || !inUse || DateTime.UtcNow >= deadline)
            {
                throw new TopologyException($"PostgreSQL {name} failed to start on {server.Endpoint}: {failure}. Log {server.LogFile}, last lines:\n{server.LogTail()}");
            }
        }

        if (options.Database is not null)
        {
            await using var admin = new NpgsqlConnection(server.ProbeConnectionString("postgres"));
            await admin.OpenAsync(cancellationToken).ConfigureAwait(false);
            await using var create = new NpgsqlCommand($"CREATE DATABASE \"{options.Database}\"", admin);
            await create.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
        }

        if (preload)
        {
            await server.ExecuteAsync("CREATE EXTENSION IF NOT EXISTS pg_stat_statements", cancellationToken).ConfigureAwait(false);
            server.HasPgStatStatements = true;
        }

        server.StartupTime = started.Elapsed;
        return server;
    }

    private async Task WriteConfigAsync(bool preload, CancellationToken cancellationToken)
    {
        string[] lines =
        [
            "# Levee throw-away cluster: loopback only, no durability",
            "listen_addresses = '127.0.0.1'",
            $"port = {Port.ToString(CultureInfo.InvariantCulture)}",
            $"unix_socket_directories = '{Directory}'",
            $"max_connections = {Options.MaxConnections.ToString(CultureInfo.InvariantCulture)}",
            "fsync = off",
            "synchronous_commit = off",
            "full_page_writes = off",
            "logging_collector = off",
            "shared_buffers = '64MB'",
            .. preload ? new[] { "shared_preload_libraries = 'pg_stat_statements'", "pg_stat_statements.track = all" } : [],
            .. Options.Config,
        ];

        // postgresql.auto.conf is read last and owned by the server user; rewrite it for every (re)start
        var file = Path.Combine(DataDirectory, "postgresql.auto.conf");
        await File.WriteAllLinesAsync(file, lines, cancellationToken).ConfigureAwait(false);
        if (_runAs is not null)
        {
            Chown(file, _runAs);
        }
    }

    private async Task<string?> WaitReadyAsync(DateTime deadline, CancellationToken cancellationToken)
    {
        var last = "no answer";
        while (DateTime.UtcNow < deadline)
        {
            if (_process is null || _process.HasExited)
            {
                return "postgres exited";
            }

            try
            {
                await using var connection = new NpgsqlConnection(ProbeConnectionString("postgres"));
                await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                // SELECT 1, and make sure it is our server (not another one that won a port race)
                await using var command = new NpgsqlCommand("SELECT current_setting('data_directory')", connection);
                var dataDirectory = Convert.ToString(await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false), CultureInfo.InvariantCulture);
                if (dataDirectory == DataDirectory)
                {
                    return null;
                }

                last = $"port {Port} is answered by the server of {dataDirectory}, not {DataDirectory}";
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or IOException)
            {
                last = ex.Message;
            }

            await Task.Delay(50, cancellationToken).ConfigureAwait(false);
        }

        return "no answer to SELECT 1 in time (last: " + last + ")";
    }

    private async Task<NpgsqlConnection> OpenProbeAsync(CancellationToken cancellationToken)
    {
        var connection = new NpgsqlConnection(ProbeConnectionString(Database));
        try
        {
            await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
            return connection;
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    private string ProbeConnectionString(string database) =>
        $"Host=127.0.0.1;Port={Port.ToString(CultureInfo.InvariantCulture)};Username={SuperUser};Database={database};Pooling=false;Timeout=3;Command Timeout=30";

    private async ValueTask StopAsync()
    {
        if (_process is null || _process.HasExited)
        {
            return;
        }

        if (!_process.IsFrozen)
        {
            try
            {
                var stopName = Name + "-stop";
                var stop = _host.Start(
                    stopName,
                    Binaries.Postgres("pg_ctl"),
                    ["stop", "-D", DataDirectory, "-m", "immediate", "-w", "-t", "10"],
                    Directory,
                    LogFile,
                    _runAs);
                await stop.WaitForExitAsync(TimeSpan.FromSeconds(15)).ConfigureAwait(false);
                if (!stop.HasExited)
                {
                    stop.Kill();
                }
            }
            catch (Exception ex) when (ex is TopologyException or InvalidOperationException or ObjectDisposedException)
            {
                // fall through to SIGKILL
            }
        }

        await _process.WaitForExitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
        Kill();
    }

    private static List<int> ChildrenOf(int pid)
    {
        var children = new List<int>();
        foreach (var dir in System.IO.Directory.EnumerateDirectories("/proc"))
        {
            if (!int.TryParse(Path.GetFileName(dir), NumberStyles.None, CultureInfo.InvariantCulture, out var child))
            {
                continue;
            }

            try
            {
                var stat = File.ReadAllText(Path.Combine(dir, "stat"));
                var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
                if (fields.Length > 1 && fields[1] == pid.ToString(CultureInfo.InvariantCulture))
                {
                    children.Add(child);
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                // the process ended meanwhile
            }
        }

        return children;
    }

    private static bool IsRoot() => NativeMethods.geteuid() == 0;

    /// <summary>
    /// Gives <paramref name="user"/> the folder, and search (x) permission on every ancestor that lacks it,
    /// so a non-root postgres can reach a folder under e.g. a <c>mktemp -d</c> (0700) root.
    /// </summary>
    private static void MakeReachable(string directory, string user)
    {
        Chown(directory, user);
        if (OperatingSystem.IsWindows())
        {
            return;
        }

        for (var dir = System.IO.Directory.GetParent(directory); dir is not null; dir = dir.Parent)
        {
            var mode = File.GetUnixFileMode(dir.FullName);
            if (!mode.HasFlag(UnixFileMode.OtherExecute))
            {
                File.SetUnixFileMode(dir.FullName, mode | UnixFileMode.OtherExecute);
            }
        }
    }

    private static void Chown(string path, string user)
    {
        var (uid, gid) = UserIds(user);
        if (NativeMethods.chown(path, uid, gid) != 0)
        {
            throw new TopologyException($"chown {user} {path} failed (errno {Marshal.GetLastPInvokeError()})");
        }
    }

    private static (int Uid, int Gid) UserIds(string user)
    {
        foreach (var line in File.ReadLines("/etc/passwd"))
        {
            var parts = line.Split(':');
            if (parts.Length > 3 && parts[0] == user)
            {
                return (int.Parse(parts[2], CultureInfo.InvariantCulture), int.Parse(parts[3], CultureInfo.InvariantCulture));
            }
        }

        throw new TopologyException($"user '{user}' (to run PostgreSQL as non-root) not found in /etc/passwd");
    }

    private static class NativeMethods
    {
#pragma warning disable SYSLIB1054, CA1401, CA2101, SA1300, IDE1006
        [DllImport("libc", SetLastError = true, CharSet = CharSet.Ansi, BestFitMapping = false)]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern int chown([MarshalAs(UnmanagedType.LPUTF8Str)] string path, int owner, int group);

        [DllImport("libc")]
        [DefaultDllImportSearchPaths(DllImportSearchPath.SafeDirectories)]
        public static extern uint geteuid();
#pragma warning restore SYSLIB1054, CA1401, CA2101, SA1300, IDE1006
    }
}
