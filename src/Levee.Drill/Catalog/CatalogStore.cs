using System.Globalization;
using Npgsql;

namespace Levee.Drill.Catalog;

/// <summary>
/// One app instance's access to PostgreSQL: a bounded connection pool (<c>Maximum Pool Size</c>) and a
/// fixed per-query cost (<c>pg_sleep</c>) so the database has a finite capacity, as in production.
/// Counts queries, connections in use and callers waiting for a connection.
/// </summary>
internal sealed class CatalogStore : ICatalogLoader, IAsyncDisposable
{
    private readonly NpgsqlDataSource dataSource;
    private readonly double costSeconds;
    private readonly DbCounters counters;

    public CatalogStore(string connectionString, int maxPoolSize, TimeSpan queryCost, DbCounters counters, string applicationName)
    {
        var builder = new NpgsqlConnectionStringBuilder(connectionString)
        {
            MaxPoolSize = maxPoolSize,
            MinPoolSize = 0,
            ApplicationName = applicationName,
            // no DISCARD ALL on reuse: PostgreSQL's transaction count then equals the queries the app ran
            NoResetOnClose = true,
        };
        dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        costSeconds = queryCost.TotalSeconds;
        this.counters = counters;
    }

    /// <summary>Reads one catalog row (the cache's loader).</summary>
    public async ValueTask<CatalogEntry> LoadAsync(string key, CancellationToken cancellationToken)
    {
        var (table, id) = CatalogShape.Parse(key);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
#pragma warning disable CA2100 // table name comes from CatalogShape.Parse's fixed list
            await using var command = new NpgsqlCommand(
                string.Create(CultureInfo.InvariantCulture, $"SELECT t.version, t.payload FROM pg_sleep($2) s, {table} t WHERE t.id = $1"),
                connection.Connection);
#pragma warning restore CA2100
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = id });
            command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = costSeconds });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"catalog row '{key}' does not exist");
            }

            return new CatalogEntry { Key = key, Version = reader.GetInt64(0), Payload = reader.GetString(1) };
        }
        finally
        {
            counters.QueryDone();
        }
    }

    /// <summary>Updates a row (a write), returning its new version.</summary>
    public async ValueTask<long> UpdateAsync(string key, CancellationToken cancellationToken)
    {
        var (table, id) = CatalogShape.Parse(key);
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        try
        {
#pragma warning disable CA2100 // table name comes from CatalogShape.Parse's fixed list
            await using var command = new NpgsqlCommand(
                string.Create(CultureInfo.InvariantCulture, $"UPDATE {table} t SET version = t.version + 1 FROM pg_sleep($2) s WHERE t.id = $1 RETURNING t.version"),
                connection.Connection);
#pragma warning restore CA2100
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = id });
            command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = costSeconds });
            var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return Convert.ToInt64(result, CultureInfo.InvariantCulture);
        }
        finally
        {
            counters.QueryDone();
        }
    }

    public ValueTask DisposeAsync() => dataSource.DisposeAsync();

    private async ValueTask<CountedConnection> OpenAsync(CancellationToken cancellationToken)
    {
        counters.WaitStarted();
        NpgsqlConnection connection;
        try
        {
            connection = await dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            counters.WaitEnded();
        }

        counters.ConnectionTaken();
        return new CountedConnection(connection, counters);
    }

    /// <summary>A pooled connection that reports its return to the pool.</summary>
    private readonly struct CountedConnection(NpgsqlConnection connection, DbCounters counters) : IAsyncDisposable
    {
        public NpgsqlConnection Connection => connection;

        public async ValueTask DisposeAsync()
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            counters.ConnectionReturned();
        }
    }
}

/// <summary>Database activity counted by the clients (shared by all instances of a run).</summary>
internal sealed class DbCounters
{
    private long queries;
    private int inUse;
    private int waiting;

    public long Queries => Interlocked.Read(ref queries);

    public int InUse => Volatile.Read(ref inUse);

    public int Waiting => Volatile.Read(ref waiting);

    public void QueryDone() => Interlocked.Increment(ref queries);

    public void WaitStarted() => Interlocked.Increment(ref waiting);

    public void WaitEnded() => Interlocked.Decrement(ref waiting);

    public void ConnectionTaken() => Interlocked.Increment(ref inUse);

    public void ConnectionReturned() => Interlocked.Decrement(ref inUse);
}
