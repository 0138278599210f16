using BenchmarkDotNet.Attributes;
using BitFaster.Caching.Lfu;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Caching.Memory;
using ZiggyCreatures.Caching.Fusion;

namespace Levee.Benchmarks;

/// <summary>
/// An L1 hit over a working set of 1,000 string keys, every cache warm: the raw stores (the floor, and issue 2's
/// store choice) and the full <c>GetOrCreateAsync</c> hit of Levee and its peers, in one process per line.
/// Every cache that has an L2 in production is built with its Redis L2 (a hit must not touch it).
/// One operation = one lookup; each invocation walks the 1,000 keys.
/// </summary>
[Config(typeof(ShortConfig))]
public class L1HitBenchmarks
{
    private const int Keys = 1_000;

    private static readonly Func<int, CancellationToken, ValueTask<Product>> LoadState = static (id, _) => new ValueTask<Product>(Product.For(id));
    private static readonly Func<FusionCacheFactoryExecutionContext<Product>, CancellationToken, Task<Product>> FusionLoad =
        static (_, _) => Task.FromResult(Product.For(0));

    private readonly string[] _keys = new string[Keys];
    private BenchRedis? _redis;
    private readonly List<IAsyncDisposable> _owners = [];

    private FastConcurrentLru<string, Product> _fastLru = null!;
    private ConcurrentLru<string, Product> _lru = null!;
    private ConcurrentTLru<string, Product> _tlru = null!;
    private ConcurrentLfu<string, Product> _lfu = null!;
    private MemoryCache _memory = null!;
    private LeveeCache _levee = null!;
    private HybridCache _leveeAsHybrid = null!;
    private HybridCache _hybrid = null!;
    private FusionCache _fusionDefaults = null!;
    private FusionCache _fusionResilient = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        for (var i = 0; i < Keys; i++)
        {
            _keys[i] = "product:" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        _fastLru = new FastConcurrentLru<string, Product>(Environment.ProcessorCount, 100_000, StringComparer.Ordinal);
        _lru = new ConcurrentLru<string, Product>(Environment.ProcessorCount, 100_000, StringComparer.Ordinal);
        _tlru = new ConcurrentTLru<string, Product>(Environment.ProcessorCount, 100_000, StringComparer.Ordinal, Peers.Lifetime);
        _lfu = new ConcurrentLfu<string, Product>(Environment.ProcessorCount, 100_000, new BitFaster.Caching.Scheduler.ThreadPoolScheduler(), StringComparer.Ordinal);
        _memory = new MemoryCache(new MemoryCacheOptions());
        for (var i = 0; i < Keys; i++)
        {
            var p = Product.For(i);
            _fastLru.AddOrUpdate(_keys[i], p);
            _lru.AddOrUpdate(_keys[i], p);
            _tlru.AddOrUpdate(_keys[i], p);
            _lfu.AddOrUpdate(_keys[i], p);
            _memory.Set(_keys[i], p, Peers.Lifetime);
        }

        _redis = await BenchRedis.StartAsync();
        var (levee, leveeOwner) = await Peers.LeveeAsync(_redis.Configuration);
        _levee = levee;
        _leveeAsHybrid = levee;
        _owners.Add(leveeOwner);
        var (hybrid, hybridOwner) = Peers.Hybrid(_redis.Configuration);
        _hybrid = hybrid;
        _owners.Add(hybridOwner);
        _fusionDefaults = Peers.FusionDefaults();
        _fusionResilient = Peers.FusionResilient(_redis.Configuration);

        for (var i = 0; i < Keys; i++)
        {
            await _levee.GetOrCreateAsync(_keys[i], i, LoadState);
            await _hybrid.GetOrCreateAsync(_keys[i], i, LoadState);
            await _fusionDefaults.GetOrSetAsync(_keys[i], Product.For(i));
            await _fusionResilient.GetOrSetAsync(_keys[i], Product.For(i));
        }

        // Everything must be a hit from here on; fail loudly rather than measure misses.
        if (!_fastLru.TryGet(_keys[^1], out _) || _levee.L1Count < Keys)
        {
            throw new InvalidOperationException("the caches are not warm");
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _fusionResilient?.Dispose();
        _fusionDefaults?.Dispose();
        foreach (var owner in _owners)
        {
            await owner.DisposeAsync();
        }

        _memory?.Dispose();
        Sync.ReportAsyncCompletions(nameof(L1HitBenchmarks));
        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Keys, Description = "floor: BitFaster FastConcurrentLru.TryGet")]
    public int Floor_FastConcurrentLru()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            if (_fastLru.TryGet(key, out var p))
            {
                sum += p.Id;
            }
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "store: BitFaster ConcurrentLru.TryGet")]
    public int Store_ConcurrentLru()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            if (_lru.TryGet(key, out var p))
            {
                sum += p.Id;
            }
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "store: BitFaster ConcurrentTLru.TryGet")]
    public int Store_ConcurrentTLru()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            if (_tlru.TryGet(key, out var p))
            {
                sum += p.Id;
            }
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "store: BitFaster ConcurrentLfu.TryGet")]
    public int Store_ConcurrentLfu()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            if (_lfu.TryGet(key, out var p))
            {
                sum += p.Id;
            }
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "store: MemoryCache.TryGetValue")]
    public int Store_MemoryCache()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            if (_memory.TryGetValue(key, out Product? p))
            {
                sum += p!.Id;
            }
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "Levee GetOrCreateAsync (as HybridCache)")]
    public int Levee_AsHybridCache()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += Sync.Result(_leveeAsHybrid.GetOrCreateAsync(key, 0, LoadState)).Id;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "Levee GetOrCreateAsync (LeveeCache)")]
    public int Levee_Direct()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += Sync.Result(_levee.GetOrCreateAsync(key, 0, LoadState)).Id;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "HybridCache (Microsoft default) GetOrCreateAsync")]
    public int HybridCache_Default()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += Sync.Result(_hybrid.GetOrCreateAsync(key, 0, LoadState)).Id;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "FusionCache GetOrSetAsync (defaults)")]
    public int FusionCache_Defaults()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += Sync.Result(_fusionDefaults.GetOrSetAsync<Product>(key, FusionLoad)).Id;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "FusionCache GetOrSetAsync (resilient setup)")]
    public int FusionCache_Resilient()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += Sync.Result(_fusionResilient.GetOrSetAsync<Product>(key, FusionLoad)).Id;
        }

        return sum;
    }
}
