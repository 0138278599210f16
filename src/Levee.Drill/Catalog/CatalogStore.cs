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
    private readonly NpgsqlDataSource _dataSource;
    private readonly double _costSeconds;
    private readonly DbCounters _counters;

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
        _dataSource = NpgsqlDataSource.Create(builder.ConnectionString);
        _costSeconds = queryCost.TotalSeconds;
        _counters = counters;
    }

    /// <summary>Reads one catalog row (the cache's loader).</summary>
    public async ValueTask<CatalogEntry> LoadAsync(string key, CancellationToken cancellationToken)
    {
        var (table, id) = CatalogShape.Parse(key);
        var started = System.Diagnostics.Stopwatch.GetTimestamp();
        await using var connection = await OpenAsync(cancellationToken).ConfigureAwait(false);
        var opened = System.Diagnostics.Stopwatch.GetTimestamp();
        try
        {
#pragma warning disable CA2100 // table name comes from CatalogShape.Parse's fixed list
            await using var command = new NpgsqlCommand(
                string.Create(CultureInfo.InvariantCulture, $"SELECT t.version, t.payload FROM pg_sleep($2) s, {table} t WHERE t.id = $1"),
                connection.Connection);
#pragma warning restore CA2100
            command.Parameters.Add(new NpgsqlParameter<int> { TypedValue = id });
            command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = _costSeconds });
            await using var reader = await command.ExecuteReaderAsync(cancellationToken).ConfigureAwait(false);
            if (!await reader.ReadAsync(cancellationToken).ConfigureAwait(false))
            {
                throw new InvalidOperationException($"catalog row '{key}' does not exist");
            }

            return new CatalogEntry { Key = key, Version = reader.GetInt64(0), Payload = reader.GetString(1) };
        }
        finally
        {
            _counters.QueryDone(QueryOrigin.OfRead());
            QueryOrigin.Step(string.Create(CultureInfo.InvariantCulture,
                $"db read {key} (pool wait {System.Diagnostics.Stopwatch.GetElapsedTime(started, opened).TotalMilliseconds:0.0} ms, query {System.Diagnostics.Stopwatch.GetElapsedTime(opened).TotalMilliseconds:0.0} ms)"));
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
            command.Parameters.Add(new NpgsqlParameter<double> { TypedValue = _costSeconds });
            var result = await command.ExecuteScalarAsync(cancellationToken).ConfigureAwait(false);
            return Convert.ToInt64(result, CultureInfo.InvariantCulture);
        }
        finally
        {
            _counters.QueryDone(QueryKind.Write);
        }
    }

    public ValueTask DisposeAsync() => _dataSource.DisposeAsync();

    private async ValueTask<CountedConnection> OpenAsync(CancellationToken cancellationToken)
    {
        _counters.WaitStarted();
        NpgsqlConnection connection;
        try
        {
            connection = await _dataSource.OpenConnectionAsync(cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _counters.WaitEnded();
        }

        _counters.ConnectionTaken();
        return new CountedConnection(connection, _counters);
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
    private long _queries;
    private readonly long[] _byKind = new long[4];
    private int _inUse;
    private int _waiting;

    public long Queries => Interlocked.Read(ref _queries);

    public int InUse => Volatile.Read(ref _inUse);

    public int Waiting => Volatile.Read(ref _waiting);

    /// <summary>The queries so far by kind (<see cref="QueryOrigin"/>).</summary>
    public QueryKindCounts ByKind => new(
        Interlocked.Read(ref _byKind[(int)QueryKind.Request]),
        Interlocked.Read(ref _byKind[(int)QueryKind.Background]),
        Interlocked.Read(ref _byKind[(int)QueryKind.WarmUp]),
        Interlocked.Read(ref _byKind[(int)QueryKind.Write]));

    public void QueryDone(QueryKind kind)
    {
        Interlocked.Increment(ref _byKind[(int)kind]);
        Interlocked.Increment(ref _queries);
    }

    public void WaitStarted() => Interlocked.Increment(ref _waiting);

    public void WaitEnded() => Interlocked.Decrement(ref _waiting);

    public void ConnectionTaken() => Interlocked.Increment(ref _inUse);

    public void ConnectionReturned() => Interlocked.Decrement(ref _inUse);
}
