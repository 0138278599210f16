using Levee.Drill.Catalog;
using StackExchange.Redis;

namespace Levee.Drill.Clients;

/// <summary>
/// Cache-aside as the incident's application had it: GET from Redis, on a miss (or any Redis error, which
/// it treats as a miss) load from the database and SET the value back; after a write, DEL. One plain
/// StackExchange.Redis connection to the fixed master endpoint with the library's default timeouts.
/// No breaker, no fallback, no local cache.
/// </summary>
internal sealed class NaiveClient : IDrillClient
{
    private readonly ConnectionMultiplexer _mux;
    private readonly IDatabase _db;
    private long _redisErrors;

    private NaiveClient(ConnectionMultiplexer mux)
    {
        _mux = mux;
        _db = mux.GetDatabase();
    }

    public static async Task<NaiveClient> ConnectAsync(RedisTarget target)
    {
        // the app's configuration: one fixed endpoint (the master at deploy time), defaults otherwise
        var endpoints = target.IsCluster ? string.Join(',', target.DataEndpoints) : target.MasterEndpoint;
        var mux = await ConnectionMultiplexer.ConnectAsync(target.ConfigureTls(ConfigurationOptions.Parse($"{endpoints},abortConnect=false"))).ConfigureAwait(false);
        return new NaiveClient(mux);
    }

    public async ValueTask<CatalogEntry> GetAsync(string key, ICatalogLoader database, CancellationToken cancellationToken)
    {
        try
        {
            var cached = await _db.StringGetAsync(key).ConfigureAwait(false);
            if (cached.HasValue)
            {
                return CatalogEntry.FromRedisValue(key, cached.ToString());
            }
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or FormatException)
        {
            Interlocked.Increment(ref _redisErrors);
        }

        var entry = await database.LoadAsync(key, cancellationToken).ConfigureAwait(false);
        try
        {
            await _db.StringSetAsync(key, entry.ToRedisValue(), RawRedisWarmer.EntryTtl).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Interlocked.Increment(ref _redisErrors);
        }

        return entry;
    }

    public async ValueTask InvalidateAsync(string key, CancellationToken cancellationToken)
    {
        try
        {
            await _db.KeyDeleteAsync(key).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            // the row is written; the failed delete is logged and forgotten, as the app did
            Interlocked.Increment(ref _redisErrors);
        }
    }

    public ClientSnapshot Snapshot() =>
        new(_mux.IsConnected ? "up" : "down", BreakerOpen: false, Interlocked.Read(ref _redisErrors), ReplicaReads: 0);

    public ValueTask DisposeAsync() => _mux.DisposeAsync();
}

/// <summary>The <c>naive</c> client kind.</summary>
internal sealed class NaiveClientKind : IDrillClientKind
{
    public string Name => "naive";

    public string Description => "cache-aside as in the incident: fixed master endpoint, StackExchange.Redis defaults, no breaker, no fallback";

    public string? UnavailableReason => null;

    public bool FollowsFailover => false;

    public async Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken) =>
        await NaiveClient.ConnectAsync(target).ConfigureAwait(false);

    public Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken) =>
        RawRedisWarmer.WarmAsync(target, entries, cancellationToken);
}
