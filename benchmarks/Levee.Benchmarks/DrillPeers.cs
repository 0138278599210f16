using Levee.Drill.Catalog;
using Levee.Drill.Clients;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace Levee.Benchmarks;

/// <summary>
/// The peers as drill clients (<c>Levee.Benchmarks outage</c>), plugged in through the drill's public
/// <see cref="IDrillClientKind"/>. Both connect to Redis the Sentinel-aware way
/// (<see cref="RedisTarget.Configuration"/>: the Sentinels plus <c>serviceName=</c>, so StackExchange.Redis follows
/// <c>+switch-master</c>), as a deployment on Sentinel would configure them.
/// </summary>
internal static class DrillPeers
{
    public static IReadOnlyList<IDrillClientKind> All { get; } =
    [
        new PeerKind<FusionCacheClient>(
            "fusioncache",
            "FusionCache 2.9 resilient setup (fail-safe, factory timeouts 100 ms / 1.5 s, L2 timeouts 1 s / 2 s, background L2, L2 + backplane breakers 2 s), Redis L2 + backplane via Sentinel",
            redis => new FusionCacheClient(redis),
            (client, entry, ct) => client.WarmAsync(entry, ct)),
        new PeerKind<HybridCacheClient>(
            "hybridcache",
            "Microsoft HybridCache 10 (default implementation) over AddStackExchangeRedisCache via Sentinel; no backplane",
            redis => new HybridCacheClient(redis),
            (client, entry, ct) => client.WarmAsync(entry, ct)),
    ];
}

/// <summary>
/// A peer as a drill client kind: one client per app instance on the Sentinel configuration, the cache filled through
/// the first instance (32 entries at a time) before the baseline. Peers follow a failover by themselves.
/// </summary>
internal sealed class PeerKind<TClient>(string name, string description, Func<string, TClient> create,
    Func<TClient, CatalogEntry, CancellationToken, ValueTask> warm) : IDrillClientKind
    where TClient : IDrillClient
{
    public string Name => name;

    public string Description => description;

    public string? UnavailableReason => null;

    public bool FollowsFailover => true;

    public Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken) =>
        Task.FromResult<IDrillClient>(create(target.Configuration));

    public Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken) =>
        Parallel.ForEachAsync(
            entries,
            new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken },
            (entry, ct) => warm((TClient)firstInstance, entry, ct));
}

/// <summary>
/// <c>fusioncache</c>: FusionCache with the resilient setup of <see cref="Peers.FusionResilient"/> (fail-safe 2 h /
/// throttle 30 s, factory soft/hard timeouts 100 ms / 1.5 s, L2 soft/hard timeouts 1 s / 2 s, background L2
/// operations, L2 and backplane circuit breakers 2 s, eager refresh 0.9, jitter 2 s), a Redis L2
/// (<see cref="RedisCache"/> + System.Text.Json) and the Redis backplane, both on the Sentinel configuration.
/// One FusionCache per app instance; all instances share the cache name, so the backplane reaches all of them.
/// </summary>
internal sealed class FusionCacheClient : IDrillClient
{
    private readonly FusionCache _cache;
    private readonly RedisCache _l2;
    private readonly RedisBackplane _backplane;
    private readonly FusionCacheEntryOptions _warm;
    private volatile bool _breakerOpen;

    public FusionCacheClient(string redis)
    {
        // the same options as the micro-benchmarks' resilient FusionCache
        _cache = new FusionCache(Peers.FusionResilientOptions("drill"));
        _l2 = new RedisCache(new RedisCacheOptions { Configuration = redis });
        _backplane = new RedisBackplane(new RedisBackplaneOptions { Configuration = redis });
        _cache.SetupDistributedCache(_l2, new FusionCacheSystemTextJsonSerializer());
        _cache.SetupBackplane(_backplane);
        _cache.Events.Distributed.CircuitBreakerChange += (_, e) => _breakerOpen = !e.IsClosed;

        // warm-up writes: L1 + L2 awaited (not in the background), no backplane message per entry
        _warm = _cache.CreateEntryOptions(o =>
        {
            o.AllowBackgroundDistributedCacheOperations = false;
            o.SkipBackplaneNotifications = true;
        });
    }

    public ValueTask<CatalogEntry> GetAsync(string key, ICatalogLoader database, CancellationToken cancellationToken) =>
        _cache.GetOrSetAsync<CatalogEntry>(key, (_, ct) => database.LoadAsync(key, ct).AsTask(), token: cancellationToken);

    public ValueTask InvalidateAsync(string key, CancellationToken cancellationToken) => _cache.RemoveAsync(key, token: cancellationToken);

    public ValueTask WarmAsync(CatalogEntry entry, CancellationToken cancellationToken) => _cache.SetAsync(entry.Key, entry, _warm, token: cancellationToken);

    public ClientSnapshot Snapshot() => new(_breakerOpen ? "breaker-open" : "unknown", _breakerOpen, RedisErrors: 0, ReplicaReads: 0);

    public ValueTask DisposeAsync()
    {
        _cache.Dispose(); // unsubscribes the backplane (closing its connection)
        _l2.Dispose();
        return ValueTask.CompletedTask;
    }
}

/// <summary>
/// <c>hybridcache</c>: Microsoft's default HybridCache as its docs set it up, <c>AddHybridCache()</c> with
/// <c>AddStackExchangeRedisCache</c> as the L2 (<see cref="IDistributedCache"/>), entries 1 h in L1 and L2 (as in
/// <see cref="Peers.Hybrid"/>). The Redis connection is the one <see cref="RedisCache"/> would open from the
/// configuration string, made through <see cref="RedisCacheOptions.ConnectionMultiplexerFactory"/> only so the
/// client can report whether it is connected. No backplane (HybridCache has none): other instances' L1 keeps a
/// removed value until it expires.
/// </summary>
internal sealed class HybridCacheClient : IDrillClient
{
    private readonly ServiceProvider _services;
    private readonly HybridCache _cache;
    private IConnectionMultiplexer? _connection;

    public HybridCacheClient(string redis)
    {
        var services = new ServiceCollection();
        services.AddHybridCache(o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = Peers.Lifetime, LocalCacheExpiration = Peers.Lifetime });
        services.AddStackExchangeRedisCache(o =>
        {
            o.Configuration = redis;
            o.ConnectionMultiplexerFactory = async () => _connection = await ConnectionMultiplexer.ConnectAsync(redis).ConfigureAwait(false);
        });
        _services = services.BuildServiceProvider();
        _cache = _services.GetRequiredService<HybridCache>();
    }

    public ValueTask<CatalogEntry> GetAsync(string key, ICatalogLoader database, CancellationToken cancellationToken) =>
        _cache.GetOrCreateAsync(key, (database, key), static (s, ct) => s.database.LoadAsync(s.key, ct), cancellationToken: cancellationToken);

    public ValueTask InvalidateAsync(string key, CancellationToken cancellationToken) => _cache.RemoveAsync(key, cancellationToken);

    public ValueTask WarmAsync(CatalogEntry entry, CancellationToken cancellationToken) => _cache.SetAsync(entry.Key, entry, cancellationToken: cancellationToken);

    public ClientSnapshot Snapshot()
    {
        var connection = Volatile.Read(ref _connection);
        return new ClientSnapshot(connection is null ? "unknown" : connection.IsConnected ? "up" : "down", BreakerOpen: false, RedisErrors: 0, ReplicaReads: 0);
    }

    public async ValueTask DisposeAsync()
    {
        await _services.DisposeAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _connection) is { } connection)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
    }
}
