using Levee.Drill.Catalog;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.Drill.Clients;

/// <summary>
/// The Levee library with its defaults, as an app would wire it: <c>services.AddLevee(o =&gt; o.Redis = ...)</c>
/// with the Sentinel connection string, one <see cref="LeveeCache"/> per app instance (its own service
/// provider, as a separate server has), reads through <c>GetOrCreateAsync</c>, invalidation through
/// <c>RemoveAsync</c>. The <c>levee</c> kind adds <c>.AddPostgreSqlBackplane(database)</c> (the run's database as the
/// second invalidation channel); <c>levee-no-share</c> adds it with <c>ShareValuesMaxBytes = 0</c> (removals only, no
/// loaded values through PostgreSQL); <c>levee-redis-only</c> does not add it.
/// </summary>
internal sealed class LeveeClient : IDrillClient, IRemovalReceipts
{
    private readonly ServiceProvider _services;
    private readonly LeveeCache _cache;
    private readonly System.Collections.Concurrent.ConcurrentDictionary<string, List<long>> _removalsReceived = new(StringComparer.Ordinal);
    private readonly IDisposable? _receipts;
    private List<Microsoft.Extensions.Hosting.IHostedService> _started = [];

    private LeveeClient(ServiceProvider services)
    {
        _services = services;
        _cache = services.GetRequiredService<LeveeCache>();

        // after the cache's own subscription (made when the cache was resolved, above): a channel calls its subscribers in
        // order, so a removal recorded here has been applied by the cache
        _receipts = services.GetService<ILeveeInvalidationChannel>()?.Subscribe(m =>
        {
            if (m.Kind == LeveeInvalidationKind.Remove && m.Subject is { } key)
            {
                var at = TimeProvider.System.GetTimestamp();
                var receipts = _removalsReceived.GetOrAdd(key, static _ => []);
                lock (receipts)
                {
                    if (receipts.Count < IRemovalReceipts.ReceiptsKept)
                    {
                        receipts.Add(at); // in time order: one listening connection delivers them one after the other
                    }
                }
            }
        });
    }

    /// <inheritdoc />
    public long? RemovalReceivedSince(string key, long sinceTimestamp)
    {
        if (!_removalsReceived.TryGetValue(key, out var receipts))
        {
            return null;
        }

        lock (receipts)
        {
            var i = receipts.BinarySearch(sinceTimestamp);
            i = i >= 0 ? i : ~i; // the first at or after it
            return i < receipts.Count ? receipts[i] : null;
        }
    }

    /// <summary>The cache (the drill's deploy tests look at it).</summary>
    internal LeveeCache Cache => _cache;

    /// <summary>The client's service provider (the warm-up variant resolves its readiness check from it).</summary>
    internal IServiceProvider Services => _services;

    /// <summary>
    /// A client on its own service provider built from <paramref name="configure"/> (after <c>AddLevee</c>), with its
    /// hosted services started as an app host starts them (the warm-up variant's warm-up runs in one).
    /// </summary>
    internal static async Task<LeveeClient> StartAsync(RedisTarget target, Action<IServiceCollection> configure, CancellationToken cancellationToken)
    {
        var collection = new ServiceCollection();
        DrillLog.AddTo(collection);
        collection.AddLevee(o => Connect(o, target));
        configure(collection);
        var client = new LeveeClient(collection.BuildServiceProvider());
        foreach (var hosted in client._services.GetServices<Microsoft.Extensions.Hosting.IHostedService>())
        {
            await hosted.StartAsync(cancellationToken).ConfigureAwait(false);
            client._started.Add(hosted);
        }

        return client;
    }

    public static LeveeClient Create(RedisTarget target, bool postgresChannel, bool shareValues = true)
    {
        var collection = new ServiceCollection();
        DrillLog.AddTo(collection);
        collection.AddLevee(o => Connect(o, target));
        if (postgresChannel && target.Database is { } database)
        {
            collection.AddPostgreSqlBackplane(target.ChannelDatabase ?? database, o =>
            {
                if (!shareValues)
                {
                    o.ShareValuesMaxBytes = 0; // removals only: every instance loads what it misses itself
                }
            });
        }

        return new LeveeClient(collection.BuildServiceProvider());
    }

    /// <summary>The run's Redis, and its TLS settings under <c>--tls</c> (carried by Levee to every connection it makes).</summary>
    private static void Connect(LeveeOptions options, RedisTarget target)
    {
        options.Redis = target.Configuration;
        if (target.Tls is not null)
        {
            options.ConfigureRedis = c => target.ConfigureTls(c);
        }
    }

    /// <summary>True when the cache sends and receives invalidations through PostgreSQL too.</summary>
    internal bool UsesPostgresChannel => _services.GetService<ILeveeInvalidationChannel>() is not null;

    /// <summary>The largest value the PostgreSQL channel shares (0: none, or no channel).</summary>
    internal int SharedValueMaxBytes => _services.GetService<ILeveeInvalidationChannel>()?.MaxSharedValueBytes ?? 0;

    public ValueTask<CatalogEntry> GetAsync(string key, ICatalogLoader database, CancellationToken cancellationToken) =>
        _cache.GetOrCreateAsync(
            key,
            (database, key),
            static (state, ct) => state.database.LoadAsync(state.key, ct),
            cancellationToken: cancellationToken);

    public ValueTask InvalidateAsync(string key, CancellationToken cancellationToken) => _cache.RemoveAsync(key, cancellationToken);

    /// <summary>Puts a value read in bulk into L1 and L2 (the drill's warm cache), without a database query.</summary>
    public ValueTask<CatalogEntry> WarmAsync(CatalogEntry entry, CancellationToken cancellationToken) =>
        _cache.GetOrCreateAsync(entry.Key, entry, static (e, _) => ValueTask.FromResult(e), cancellationToken: cancellationToken);

    public ClientSnapshot Snapshot()
    {
        var breaker = _cache.L2BreakerState;
        var l2 = !_cache.HasL2 ? "none" : breaker == LeveeBreakerState.Open ? "breaker-open" : breaker == LeveeBreakerState.HalfOpen ? "half-open" : _cache.IsL2Available ? "up" : "down";
        return new ClientSnapshot(l2, breaker == LeveeBreakerState.Open, RedisErrors: 0, ReplicaReads: 0);
    }

    public async ValueTask DisposeAsync()
    {
        var hosted = Interlocked.Exchange(ref _started, []);
        for (var i = hosted.Count - 1; i >= 0; i--)
        {
            await hosted[i].StopAsync(CancellationToken.None).ConfigureAwait(false);
        }

        _receipts?.Dispose();
        await _cache.DisposeAsync().ConfigureAwait(false);
        await _services.DisposeAsync().ConfigureAwait(false);
    }
}

/// <summary>The <c>levee</c>, <c>levee-no-share</c> and <c>levee-redis-only</c> client kinds.</summary>
internal sealed class LeveeClientKind(bool postgresChannel, bool shareValues = true) : IDrillClientKind
{
    public string Name => !postgresChannel ? "levee-redis-only" : shareValues ? "levee" : "levee-no-share";

    public string Description => !postgresChannel
        ? "the Levee library with its defaults (Sentinel connection string, AddLevee, GetOrCreateAsync / RemoveAsync), Redis only"
        : shareValues
            ? "the Levee library with its defaults (Sentinel connection string, AddLevee, GetOrCreateAsync / RemoveAsync) and the run's PostgreSQL as second invalidation channel (AddPostgreSqlBackplane)"
            : "the Levee library with its defaults and the run's PostgreSQL as second invalidation channel, values not shared through it (AddPostgreSqlBackplane with ShareValuesMaxBytes = 0)";

    public string? UnavailableReason => null;

    public bool FollowsFailover => true;

    public Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken) =>
        Task.FromResult<IDrillClient>(LeveeClient.Create(target, postgresChannel, shareValues));

    public Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken) =>
        WarmThroughAsync((LeveeClient)firstInstance, entries, cancellationToken);

    /// <summary>Fills L1 and L2 of <paramref name="client"/> with <paramref name="entries"/>, 32 at a time, without database queries.</summary>
    internal static async Task WarmThroughAsync(LeveeClient client, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken)
    {
        await Parallel.ForEachAsync(
            entries,
            new ParallelOptions { MaxDegreeOfParallelism = 32, CancellationToken = cancellationToken },
            async (entry, ct) => await client.WarmAsync(entry, ct).ConfigureAwait(false)).ConfigureAwait(false);
    }
}
