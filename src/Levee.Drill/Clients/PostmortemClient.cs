using Levee.Drill.Catalog;
using StackExchange.Redis;

namespace Levee.Drill.Clients;

/// <summary>
/// The fixes the postmortem proposed, as written there: a Sentinel-aware connection (the client follows
/// <c>+switch-master</c>) with 0.5 s timeouts; a circuit breaker around Redis that opens after 5
/// consecutive failures for 30 s; on a Redis error or an open breaker, read from a replica; if that fails
/// too, go to the database. While the breaker is open, SETs and DELs are skipped (as a breaker-wrapped
/// call raises instead of running).
/// </summary>
internal sealed class PostmortemClient : IDrillClient
{
    private readonly ConnectionMultiplexer _mux;
    private readonly IDatabase _db;
    private readonly ConsecutiveFailureBreaker _breaker;
    private long _redisErrors;
    private long _replicaReads;

    private PostmortemClient(ConnectionMultiplexer mux, TimeProvider time)
    {
        _mux = mux;
        _db = mux.GetDatabase();
        _breaker = new ConsecutiveFailureBreaker(5, TimeSpan.FromSeconds(30), time);
    }

    public static async Task<PostmortemClient> ConnectAsync(RedisTarget target, TimeProvider time)
    {
        var options = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            ConnectTimeout = 500,
            SyncTimeout = 500,
            AsyncTimeout = 500,
        };
        if (target.IsCluster)
        {
            foreach (var endpoint in target.DataEndpoints)
            {
                options.EndPoints.Add(endpoint);
            }
        }
        else
        {
            foreach (var endpoint in target.SentinelEndpoints)
            {
                options.EndPoints.Add(endpoint);
            }

            options.ServiceName = target.ServiceName;
        }

        target.ConfigureTls(options);

        // a 0.5 s connect timeout is what the postmortem asked for; a start-up blip is retried a few times
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                var mux = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
                return new PostmortemClient(mux, time);
            }
            catch (RedisConnectionException) when (attempt < 5)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(200), time).ConfigureAwait(false);
            }
        }
    }

    public async ValueTask<CatalogEntry> GetAsync(string key, ICatalogLoader database, CancellationToken cancellationToken)
    {
        var masterFailed = true;
        if (_breaker.TryEnter(out var trial))
        {
            try
            {
                var cached = await _db.StringGetAsync(key).ConfigureAwait(false);
                _breaker.Success(trial);
                masterFailed = false;
                if (cached.HasValue)
                {
                    return CatalogEntry.FromRedisValue(key, cached.ToString());
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Interlocked.Increment(ref _redisErrors);
                _breaker.Failure(trial);
            }
        }

        if (masterFailed)
        {
            // replica reads as fallback
            try
            {
                var cached = await _db.StringGetAsync(key, CommandFlags.DemandReplica).ConfigureAwait(false);
                if (cached.HasValue)
                {
                    Interlocked.Increment(ref _replicaReads);
                    return CatalogEntry.FromRedisValue(key, cached.ToString());
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Interlocked.Increment(ref _redisErrors);
            }
        }

        var entry = await database.LoadAsync(key, cancellationToken).ConfigureAwait(false);
        if (!masterFailed && _breaker.TryEnter(out trial))
        {
            try
            {
                await _db.StringSetAsync(key, entry.ToRedisValue(), RawRedisWarmer.EntryTtl).ConfigureAwait(false);
                _breaker.Success(trial);
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                Interlocked.Increment(ref _redisErrors);
                _breaker.Failure(trial);
            }
        }

        return entry;
    }

    public async ValueTask InvalidateAsync(string key, CancellationToken cancellationToken)
    {
        if (!_breaker.TryEnter(out var trial))
        {
            return; // breaker open: the delete is not attempted (and is lost)
        }

        try
        {
            await _db.KeyDeleteAsync(key).ConfigureAwait(false);
            _breaker.Success(trial);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Interlocked.Increment(ref _redisErrors);
            _breaker.Failure(trial);
        }
    }

    public ClientSnapshot Snapshot()
    {
        var open = _breaker.IsOpen;
        var l2 = open ? "breaker-open" : _mux.IsConnected ? "up" : "down";
        return new ClientSnapshot(l2, open, Interlocked.Read(ref _redisErrors), Interlocked.Read(ref _replicaReads));
    }

    public ValueTask DisposeAsync() => _mux.DisposeAsync();
}

/// <summary>The <c>postmortem</c> client kind.</summary>
internal sealed class PostmortemClientKind(TimeProvider time) : IDrillClientKind
{
    public string Name => "postmortem";

    public string Description => "the postmortem's fixes: Sentinel-aware, 0.5 s timeouts, breaker 5 failures / 30 s, replica reads, DB fallback";

    public string? UnavailableReason => null;

    public bool FollowsFailover => true;

    public async Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken) =>
        await PostmortemClient.ConnectAsync(target, time).ConfigureAwait(false);

    public Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken) =>
        RawRedisWarmer.WarmAsync(target, entries, cancellationToken);
}
