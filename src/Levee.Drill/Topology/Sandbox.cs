using Npgsql;

namespace Levee.Drill.Topology;

/// <summary>
/// Throw-away PostgreSQL and Redis Sentinel deployment for trying an application (the storefront sample) or a
/// client on a laptop: the launcher's <see cref="PostgresServer"/> and <see cref="SentinelTopology"/> in one
/// <see cref="ProcessHost"/> (one temp folder, one orphan watchdog), with the SQL files of
/// <see cref="SandboxOptions.SqlFiles"/> run against the database. <c>levee sandbox</c> prints it and waits for Ctrl+C;
/// disposing stops every process by its recorded PID and removes the folder.
/// </summary>
public sealed class Sandbox : IAsyncDisposable
{
    private Sandbox(ProcessHost host, PostgresServer postgres, SentinelTopology redis, TimeSpan startupTime)
    {
        Host = host;
        Postgres = postgres;
        Redis = redis;
        StartupTime = startupTime;
    }

    /// <summary>The process host: its folder holds every process' config, log and PID file.</summary>
    public ProcessHost Host { get; }

    /// <summary>The PostgreSQL server.</summary>
    public PostgresServer Postgres { get; }

    /// <summary>The Redis master, replicas and Sentinels.</summary>
    public SentinelTopology Redis { get; }

    /// <summary>The temp folder (removed on dispose unless <see cref="ProcessHost.KeepVariable"/> is "1").</summary>
    public string Directory => Host.Root;

    /// <summary>Npgsql connection string of the database (superuser, trust authentication on loopback).</summary>
    public string PostgresConnectionString => Postgres.ConnectionString;

    /// <summary>StackExchange.Redis connection string through the Sentinels: <c>127.0.0.1:s1,...,serviceName=mymaster</c>.</summary>
    public string RedisConnectionString => Redis.ConnectionString;

    /// <summary>Wall time from the first process start until everything was ready and the SQL files had run.</summary>
    public TimeSpan StartupTime { get; }

    /// <summary>The PIDs of every process the sandbox runs: PostgreSQL, the Redis nodes, the Sentinels and the orphan watchdog.</summary>
    public IReadOnlyList<int> ProcessIds =>
        [.. Host.Processes.Where(p => !p.HasExited).Select(p => p.Pid).Order(), Host.WatchdogPid];

    /// <summary>
    /// Starts PostgreSQL and the Sentinel topology side by side on free loopback ports, waits until both are ready,
    /// runs the SQL files. On any failure (or cancellation) every process started so far is stopped and the folder removed.
    /// </summary>
    /// <exception cref="ArgumentException">The options are invalid (every problem in one message).</exception>
    /// <exception cref="TopologyException">A process did not start (names the log and what to install), or a SQL file failed.</exception>
    public static async Task<Sandbox> StartAsync(SandboxOptions? options = null, CancellationToken cancellationToken = default)
    {
        options ??= new SandboxOptions();
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid SandboxOptions: " + string.Join("; ", problems), nameof(options));
        }

        var started = TimeProvider.System.GetTimestamp();
        var host = new ProcessHost();
        try
        {
            var postgresStart = PostgresServer.StartAsync(host, options.Postgres, cancellationToken);
            var redisStart = SentinelTopology.StartAsync(host, options.Redis, cancellationToken);
            await Task.WhenAll(postgresStart, redisStart).ConfigureAwait(false); // both settled before a failure disposes the host
            var postgres = await postgresStart.ConfigureAwait(false);
            foreach (var file in options.SqlFiles)
            {
                await RunSqlFileAsync(postgres, file, cancellationToken).ConfigureAwait(false);
            }

            return new Sandbox(host, postgres, await redisStart.ConfigureAwait(false), TimeProvider.System.GetElapsedTime(started));
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Stops every process (PostgreSQL with <c>pg_ctl stop -m immediate</c>, the rest by SIGKILL to its PID) and removes the folder.</summary>
    public ValueTask DisposeAsync() => Host.DisposeAsync();

    private static async Task RunSqlFileAsync(PostgresServer postgres, string file, CancellationToken cancellationToken)
    {
        var sql = await File.ReadAllTextAsync(file, cancellationToken).ConfigureAwait(false);
        try
        {
            await postgres.ExecuteAsync(sql, cancellationToken).ConfigureAwait(false);
        }
        catch (PostgresException ex)
        {
            throw new TopologyException($"{file} failed on database {postgres.Database}: {ex.SqlState} {ex.MessageText}", ex);
        }
    }
}
