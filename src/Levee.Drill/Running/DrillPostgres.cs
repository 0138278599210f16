using Levee.Drill.Topology;
using Npgsql;

namespace Levee.Drill.Running;

/// <summary>The drill's throw-away PostgreSQL (a <see cref="PostgresServer"/>), with the admin connection string the catalog needs.</summary>
internal sealed class DrillPostgres : IAsyncDisposable
{
    private readonly PostgresServer _server;

    private DrillPostgres(PostgresServer server)
    {
        _server = server;
        AdminConnectionString = new NpgsqlConnectionStringBuilder(server.ConnectionString) { Timeout = 15 }.ConnectionString;
        var bin = Path.GetDirectoryName(Binaries.Postgres("postgres"));
        Version = "PostgreSQL " + (Path.GetFileName(Path.GetDirectoryName(bin)) ?? "?");
    }

    public string AdminConnectionString { get; }

    public string Version { get; }

    /// <summary>Processes started for it (for the leftover check).</summary>
    public IReadOnlyList<int> ProcessIds => [_server.Pid];

    public static async Task<DrillPostgres> StartAsync(CancellationToken cancellationToken)
    {
        var options = new PostgresOptions { MaxConnections = 100, PgStatStatements = false };
        options.Config.Add("synchronous_commit = off");
        return new DrillPostgres(await PostgresServer.StartAsync(options, cancellationToken).ConfigureAwait(false));
    }

    public async ValueTask DisposeAsync()
    {
        NpgsqlConnection.ClearAllPools();
        await _server.DisposeAsync().ConfigureAwait(false);
    }
}
