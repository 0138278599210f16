using Levee.Drill.Topology;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.StackExchangeRedis;
using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

namespace Levee.Benchmarks;

/// <summary>
/// Builds every cache under test the same way an app would, each with its own service provider.
/// Entries live one hour so nothing expires (or early-refreshes) during a benchmark process.
/// </summary>
internal static class Peers
{
    public static readonly TimeSpan Lifetime = TimeSpan.FromHours(1);

    /// <summary>Levee with its defaults; with <paramref name="redis"/> it has a Redis L2 (and its backplane).</summary>
    public static async Task<(LeveeCache Cache, IAsyncDisposable Owner)> LeveeAsync(string? redis, int l1MaxEntries = 100_000, bool backplane = true)
    {
        var services = new ServiceCollection();
        services.AddLevee(o =>
        {
            o.Redis = redis;
            o.DefaultExpiration = Lifetime;
            o.L1MaxEntries = l1MaxEntries;
            o.Backplane = backplane;
        });
        var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<LeveeCache>();
        if (redis is not null)
        {
            await WaitUntilAsync(() => cache.IsL2Available, "Levee's L2 connection to " + redis).ConfigureAwait(false);
        }

        return (cache, provider);
    }

    /// <summary>Microsoft's default HybridCache; with <paramref name="redis"/> its L2 is the Redis IDistributedCache.</summary>
    public static (HybridCache Cache, IAsyncDisposable Owner) Hybrid(string? redis)
    {
        var services = new ServiceCollection();
        services.AddHybridCache(o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = Lifetime, LocalCacheExpiration = Lifetime });
        if (redis is not null)
        {
            services.AddStackExchangeRedisCache(o => o.Configuration = redis);
        }

        var provider = services.BuildServiceProvider();
        return (provider.GetRequiredService<HybridCache>(), provider);
    }

    /// <summary>FusionCache as <c>new FusionCache(new FusionCacheOptions())</c>: its defaults, L1 only.</summary>
    public static FusionCache FusionDefaults() =>
        new(new FusionCacheOptions { DefaultEntryOptions = new FusionCacheEntryOptions { Duration = Lifetime } });

    /// <summary>The options of the resilient setup (also used by the drill's <c>fusioncache</c> client, DrillPeers.cs).</summary>
    public static FusionCacheOptions FusionResilientOptions(string cacheName) => new()
    {
        CacheName = cacheName,
        DistributedCacheCircuitBreakerDuration = TimeSpan.FromSeconds(2),
        BackplaneCircuitBreakerDuration = TimeSpan.FromSeconds(2),
        DefaultEntryOptions = new FusionCacheEntryOptions
        {
            Duration = Lifetime,
            IsFailSafeEnabled = true,
            FailSafeMaxDuration = TimeSpan.FromHours(2),
            FailSafeThrottleDuration = TimeSpan.FromSeconds(30),
            FactorySoftTimeout = TimeSpan.FromMilliseconds(100),
            FactoryHardTimeout = TimeSpan.FromMilliseconds(1500),
            DistributedCacheSoftTimeout = TimeSpan.FromSeconds(1),
            DistributedCacheHardTimeout = TimeSpan.FromSeconds(2),
            AllowBackgroundDistributedCacheOperations = true,
            EagerRefreshThreshold = 0.9f,
            JitterMaxDuration = TimeSpan.FromSeconds(2),
        },
    };

    /// <summary>
    /// FusionCache as its docs recommend for resilience ("step by step"): fail-safe, factory soft/hard timeouts,
    /// L2 soft/hard timeouts, background L2 writes, L2 and backplane circuit breakers, eager refresh, jitter,
    /// a Redis L2 (IDistributedCache + System.Text.Json) and the Redis backplane.
    /// </summary>
    public static FusionCache FusionResilient(string redis)
    {
        var cache = new FusionCache(FusionResilientOptions("resilient"));
        cache.SetupDistributedCache(new RedisCache(new RedisCacheOptions { Configuration = redis }), new FusionCacheSystemTextJsonSerializer());
        cache.SetupBackplane(new RedisBackplane(new RedisBackplaneOptions { Configuration = redis }));
        return cache;
    }

    /// <summary>Polls <paramref name="condition"/> (never a fixed sleep) for at most 10 s.</summary>
    public static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(10);
        while (!condition())
        {
            if (DateTime.UtcNow > deadline)
            {
                throw new InvalidOperationException("timed out after 10 s waiting for " + what);
            }

            await Task.Delay(10).ConfigureAwait(false);
        }
    }
}

/// <summary>A loopback redis-server started with the drill's launcher (temp folder, PID file, orphan watchdog).</summary>
internal sealed class BenchRedis : IAsyncDisposable
{
    private readonly ProcessHost _host;

    private BenchRedis(ProcessHost host, RedisNode node)
    {
        _host = host;
        Node = node;
    }

    public RedisNode Node { get; }

    /// <summary>StackExchange.Redis configuration string of the server.</summary>
    public string Configuration => Node.Endpoint;

    public static async Task<BenchRedis> StartAsync()
    {
        var host = new ProcessHost();
        try
        {
            var node = await host.StartRedisAsync().ConfigureAwait(false);
            return new BenchRedis(host, node);
        }
        catch
        {
            await host.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    public ValueTask DisposeAsync() => _host.DisposeAsync();
}
