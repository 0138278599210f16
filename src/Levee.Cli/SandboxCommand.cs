using System.CommandLine;
using System.Globalization;
using System.Runtime.InteropServices;
using Levee.Drill.Topology;

namespace Levee.Cli;

/// <summary>
/// <c>levee sandbox</c>: starts a throw-away PostgreSQL and Redis Sentinel deployment (<see cref="Sandbox"/>), prints
/// their connection strings, waits for Ctrl+C / SIGTERM / SIGHUP (or the end of <c>--owner-pid</c>), then stops every process
/// and removes the temp folder. stdout holds only <c>LEVEE_SANDBOX_*=value</c> lines (for scripts), the last one
/// <c>LEVEE_SANDBOX_READY=1</c>; stderr the same for people. Exit codes: 0 stopped after a signal or the owner's end;
/// 1 could not start (the message says why and what to install); 2 invalid options; 130 interrupted while starting.
/// </summary>
internal static class SandboxCommand
{
    public static Command Create()
    {
        var database = new Option<string>("--database") { Description = "PostgreSQL database to create (the connection string points at it)", DefaultValueFactory = _ => "levee" };
        var sql = new Option<string[]>("--sql") { Description = "SQL file to run against the database once it is up (a schema and seed rows); repeatable, run in order" };
        var replicas = new Option<int>("--replicas") { Description = "Redis replicas of the master", DefaultValueFactory = _ => 2 };
        var sentinels = new Option<int>("--sentinels") { Description = "Sentinels", DefaultValueFactory = _ => 3 };
        var quorum = new Option<int>("--quorum") { Description = "Sentinel quorum", DefaultValueFactory = _ => 2 };
        var service = new Option<string>("--service") { Description = "Sentinel service (master) name", DefaultValueFactory = _ => "mymaster" };
        var ownerPid = new Option<int?>("--owner-pid") { Description = "Also stop when this process exits (for scripts that start the sandbox in the background)" };

        var command = new Command("sandbox", "Start a throw-away PostgreSQL and Redis Sentinel deployment on free loopback ports, print their connection strings, stop everything on Ctrl+C")
        {
            database, sql, replicas, sentinels, quorum, service, ownerPid,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            var options = new SandboxOptions();
            options.Postgres.Database = parse.GetValue(database);
            options.Redis.Replicas = parse.GetValue(replicas);
            options.Redis.Sentinels = parse.GetValue(sentinels);
            options.Redis.Quorum = parse.GetValue(quorum);
            options.Redis.ServiceName = parse.GetValue(service)!;
            foreach (var file in parse.GetValue(sql) ?? [])
            {
                options.SqlFiles.Add(file);
            }

            var problems = options.Validate();
            if (problems.Count > 0)
            {
                await error.WriteLineAsync("levee sandbox: " + string.Join("; ", problems)).ConfigureAwait(false);
                return 2;
            }

            await error.WriteLineAsync(string.Create(
                CultureInfo.InvariantCulture,
                $"levee sandbox: starting PostgreSQL (database {options.Postgres.Database}) and Redis (1 master, {options.Redis.Replicas} replicas, {options.Redis.Sentinels} Sentinels, quorum {options.Redis.Quorum}) ...")).ConfigureAwait(false);
            Sandbox sandbox;
            try
            {
                sandbox = await Sandbox.StartAsync(options, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await error.WriteLineAsync("levee sandbox: interrupted while starting; every process it started was stopped").ConfigureAwait(false);
                return 130;
            }
            catch (Exception ex) when (ex is TopologyException or Npgsql.NpgsqlException or IOException or UnauthorizedAccessException)
            {
                await error.WriteLineAsync("levee sandbox: could not start: " + ex.Message).ConfigureAwait(false);
                return 1;
            }

            await using (sandbox.ConfigureAwait(false))
            {
                var pids = sandbox.ProcessIds;
                await output.WriteAsync(MachineLines(sandbox, pids)).ConfigureAwait(false);
                await output.FlushAsync(CancellationToken.None).ConfigureAwait(false);
                await error.WriteAsync(HumanLines(sandbox, options)).ConfigureAwait(false);
                // SIGHUP (the terminal closed) stops it too, like Ctrl+C and SIGTERM (System.CommandLine's)
                using var hangup = new CancellationTokenSource();
                using var stop = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken, hangup.Token);
                using var onHangup = OperatingSystem.IsWindows() ? null : PosixSignalRegistration.Create(PosixSignal.SIGHUP, c =>
                {
                    c.Cancel = true;
                    hangup.Cancel();
                });
                var why = await WaitForStopAsync(parse.GetValue(ownerPid), stop.Token).ConfigureAwait(false);
                await error.WriteLineAsync($"levee sandbox: {why}; stopping {pids.Count} processes ...").ConfigureAwait(false);
                await sandbox.DisposeAsync().ConfigureAwait(false);
                var left = pids.Where(ProcessHost.IsAlive).ToList();
                await error.WriteLineAsync(left.Count == 0
                    ? $"levee sandbox: stopped; removed {sandbox.Directory}"
                    : $"levee sandbox: stopped, but PIDs {string.Join(' ', left)} are still running").ConfigureAwait(false);
                return left.Count == 0 ? 0 : 1;
            }
        });
        return command;
    }

    /// <summary>The stable, parseable lines: <c>KEY=value</c>, one per line, <c>LEVEE_SANDBOX_READY=1</c> last.</summary>
    private static string MachineLines(Sandbox sandbox, IReadOnlyList<int> pids) =>
        string.Create(CultureInfo.InvariantCulture, $"""
            LEVEE_SANDBOX_POSTGRES={sandbox.PostgresConnectionString}
            LEVEE_SANDBOX_REDIS={sandbox.RedisConnectionString}
            LEVEE_SANDBOX_REDIS_MASTER={sandbox.Redis.Master.Endpoint}
            LEVEE_SANDBOX_REDIS_SERVICE={sandbox.Redis.ServiceName}
            LEVEE_SANDBOX_DIR={sandbox.Directory}
            LEVEE_SANDBOX_PIDS={string.Join(' ', pids)}
            LEVEE_SANDBOX_READY=1

            """);

    private static string HumanLines(Sandbox sandbox, SandboxOptions options)
    {
        var lines = new List<string>
        {
            string.Create(CultureInfo.InvariantCulture, $"levee sandbox: ready in {sandbox.StartupTime.TotalSeconds:0.0} s, in {sandbox.Directory}"),
        };
        lines.AddRange(options.SqlFiles.Select(f => $"  ran {f}"));
        lines.Add(Row("PostgreSQL", sandbox.Postgres.Endpoint, sandbox.Postgres.Pid, "database " + sandbox.Postgres.Database));
        lines.Add(Row("Redis master", sandbox.Redis.Master.Endpoint, sandbox.Redis.Master.Pid, string.Empty));
        lines.AddRange(sandbox.Redis.Replicas.Select(r => Row("Redis replica", r.Endpoint, r.Pid, string.Empty)));
        lines.AddRange(sandbox.Redis.Sentinels.Select(s => Row("Sentinel", s.Endpoint, s.Pid, string.Empty)));
        lines.Add("  PostgreSQL connection string:  " + sandbox.PostgresConnectionString);
        lines.Add("  Redis through the Sentinels:   " + sandbox.RedisConnectionString);
        lines.Add("  (kill -STOP <pid> freezes a node: a host gone silent; kill -CONT <pid> thaws it)");
        lines.Add($"levee sandbox: Ctrl+C or SIGTERM stops every process and removes {sandbox.Directory}");
        return string.Join('\n', lines) + "\n";
    }

    private static string Row(string what, string endpoint, int pid, string note) =>
        string.Create(CultureInfo.InvariantCulture, $"  {what,-14} {endpoint,-16} pid {pid,-8} {note}").TrimEnd();

    /// <summary>Waits for the command's cancellation (Ctrl+C, SIGTERM, SIGHUP) or for <paramref name="ownerPid"/> to end; says which.</summary>
    private static async Task<string> WaitForStopAsync(int? ownerPid, CancellationToken cancellationToken)
    {
        try
        {
            while (ownerPid is null || ProcessHost.IsAlive(ownerPid.Value))
            {
                await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, cancellationToken).ConfigureAwait(false);
            }

            return $"owner process {ownerPid} ended";
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            return "interrupted";
        }
    }
}
