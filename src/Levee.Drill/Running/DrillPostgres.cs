using System.Diagnostics;
using System.Globalization;
using Levee.Drill.Topology;
using Npgsql;

namespace Levee.Drill.Running;

/// <summary>
/// The drill's throw-away PostgreSQL: <c>initdb</c> in a temp folder and <c>postgres</c> on a free loopback
/// port, as user <c>nobody</c> when run as root (initdb refuses root), hosted by a <see cref="ProcessHost"/>
/// so it is stopped with the drill. Minimal on purpose; replace with the topology's PostgresServer once it exists.
/// </summary>
internal sealed class DrillPostgres : IAsyncDisposable
{
    private readonly ProcessHost host;

    private DrillPostgres(ProcessHost host, int port, string version)
    {
        this.host = host;
        AdminConnectionString = new NpgsqlConnectionStringBuilder
        {
            Host = "127.0.0.1",
            Port = port,
            Username = "postgres",
            Database = "postgres",
            Timeout = 15,
        }.ConnectionString;
        Version = version;
    }

    public string AdminConnectionString { get; }

    public string Version { get; }

    public static async Task<DrillPostgres> StartAsync(CancellationToken cancellationToken)
    {
        var initdb = Binaries.Postgres("initdb");
        var postgres = Binaries.Postgres("postgres");
        var host = new ProcessHost();
        try
        {
            var dir = host.CreateDirectory("postgres");
            var data = Path.Combine(dir, "data");
            var asUser = Environment.UserName == "root" ? "nobody" : null;
            if (asUser is not null)
            {
                await RunAsync("chown", ["-R", "nobody:nogroup", dir], null, cancellationToken).ConfigureAwait(false);
                await RunAsync("chmod", ["755", host.Root], null, cancellationToken).ConfigureAwait(false);
            }

            var initLog = Path.Combine(dir, "initdb.log");
            await RunAsync(initdb, ["-D", data, "-U", "postgres", "-A", "trust", "--no-sync", "-E", "UTF8"], asUser, cancellationToken, initLog).ConfigureAwait(false);
            var log = Path.Combine(dir, "postgres.log");
            for (var attempt = 1; ; attempt++)
            {
                var port = PortAllocator.Next();
                var process = host.Start(
                    "postgres",
                    postgres,
                    ["-D", data, "-p", port.ToString(CultureInfo.InvariantCulture), "-k", dir, "-c", "listen_addresses=127.0.0.1",
                     "-c", "fsync=off", "-c", "synchronous_commit=off", "-c", "full_page_writes=off", "-c", "max_connections=100",
                     "-c", "shared_buffers=64MB"],
                    dir,
                    log,
                    asUser);
                var pg = new DrillPostgres(host, port, Path.GetFileName(Path.GetDirectoryName(Path.GetDirectoryName(postgres))!) ?? "?");
                var deadline = Stopwatch.GetTimestamp();
                while (!process.HasExited && Stopwatch.GetElapsedTime(deadline) < TimeSpan.FromSeconds(30))
                {
                    try
                    {
                        await using var connection = new NpgsqlConnection(CatalogUnpooled(pg.AdminConnectionString));
                        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
                        return pg;
                    }
                    catch (NpgsqlException)
                    {
                        await Task.Delay(100, cancellationToken).ConfigureAwait(false);
                    }
                }

                if (attempt >= 3)
                {
                    throw new TopologyException($"PostgreSQL did not accept connections on 127.0.0.1:{port} within 30 s; log {log}:\n{RedisNode.ReadTail(log, 15)}");
                }

                process.Kill();
            }
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await host.DisposeAsync().ConfigureAwait(false);
    }

    private static string CatalogUnpooled(string cs) => new NpgsqlConnectionStringBuilder(cs) { Pooling = false }.ConnectionString;

    private static async Task RunAsync(string file, IEnumerable<string> args, string? asUser, CancellationToken cancellationToken, string? log = null)
    {
        var psi = new ProcessStartInfo(asUser is null ? file : "setpriv") { UseShellExecute = false, RedirectStandardOutput = true, RedirectStandardError = true };
        if (asUser is not null)
        {
            psi.ArgumentList.Add("--reuid=" + asUser);
            psi.ArgumentList.Add("--regid=nogroup");
            psi.ArgumentList.Add("--clear-groups");
            psi.ArgumentList.Add(file);
        }

        foreach (var a in args)
        {
            psi.ArgumentList.Add(a);
        }

        using var process = Process.Start(psi) ?? throw new TopologyException($"could not start {file}");
        var stdout = process.StandardOutput.ReadToEndAsync(cancellationToken);
        var stderr = process.StandardError.ReadToEndAsync(cancellationToken);
        await process.WaitForExitAsync(cancellationToken).ConfigureAwait(false);
        var output = await stdout.ConfigureAwait(false) + await stderr.ConfigureAwait(false);
        if (log is not null)
        {
            await File.WriteAllTextAsync(log, output, cancellationToken).ConfigureAwait(false);
        }

        if (process.ExitCode != 0)
        {
            throw new TopologyException($"{file} {string.Join(' ', args)} failed with exit code {process.ExitCode}: {output.Trim()}");
        }
    }
}
