using Npgsql;

namespace Levee.Drill.Catalog;

/// <summary>
/// Reads the number of transactions PostgreSQL itself counted for the run database
/// (<c>pg_stat_database.xact_commit + xact_rollback</c>), over one dedicated connection. Each read is
/// itself one transaction; <see cref="ReadAsync"/> subtracts the monitor's own reads.
/// PostgreSQL publishes these counters with up to about a second of delay.
/// </summary>
internal sealed class DbServerMonitor : IDbCountReader, IAsyncDisposable
{
    private readonly NpgsqlConnection _connection;
    private readonly string _database;
    private long _ownReads;

    private DbServerMonitor(NpgsqlConnection connection, string database)
    {
        _connection = connection;
        _database = database;
    }

    public static async Task<DbServerMonitor> OpenAsync(string connectionString, CancellationToken cancellationToken)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString) { Pooling = false, ApplicationName = "levee-drill-monitor" };
        var connection = new NpgsqlConnection(builder.ConnectionString);
        await connection.OpenAsync(cancellationToken).ConfigureAwait(false);
        return new DbServerMonitor(connection, builder.Database ?? "postgres");
    }

    /// <summary>Transactions committed or rolled back in the run database so far, minus the monitor's own.</summary>
    public async Task<long> ReadAsync(CancellationToken cancellationToken)
    {
        await using var command = new NpgsqlCommand(
            "SELECT xact_commit + xact_rollback FROM pg_stat_database WHERE datname = $1", _connection);
        command.Parameters.Add(new NpgsqlParameter<string> { TypedValue = _database });
        var value = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
        var own = Interlocked.Increment(ref _ownReads);
        return Convert.ToInt64(value, System.Globalization.CultureInfo.InvariantCulture) - (own - 1);
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}

/// <summary>Reads PostgreSQL's cumulative count for the run (the drill's sampler; a fake in tests).</summary>
internal interface IDbCountReader
{
    Task<long> ReadAsync(CancellationToken cancellationToken);
}
