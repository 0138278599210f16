using System.Globalization;
using BenchmarkDotNet.Attributes;
using BitFaster.Caching.Lru;
using Microsoft.Extensions.Caching.Hybrid;
using ZiggyCreatures.Caching.Fusion;

namespace Levee.Benchmarks;

/// <summary>
/// Throughput of a mixed workload on 2 threads: each thread runs 10,000 operations over 10,000 keys drawn from a
/// Zipf distribution (s = 1, seeded, the same sequence for every cache); 99% are <c>GetOrCreateAsync</c>, 1% are
/// <c>RemoveAsync</c> (an invalidation: the next read of that key misses L1 and L2 and calls the factory).
/// Every cache runs with its Redis L2 and starts warm. One operation = one call; ns/op is the inverse throughput
/// of the two threads together. The floor is BitFaster's FastConcurrentLru GetOrAdd/TryRemove with no L2.
/// </summary>
[Config(typeof(LongOpConfig))]
public class ThroughputBenchmarks
{
    // the workload, also read by ThroughputBreakdown
    internal const int KeySpace = 10_000;
    internal const int Threads = 2;
    internal const int OpsPerThread = 10_000;
    internal const double RemoveShare = 0.01;
    internal const double ZipfExponent = 1.0;

    private static readonly Func<int, CancellationToken, ValueTask<Product>> Load = static (id, _) => new ValueTask<Product>(Product.For(id));
    private static readonly Func<FusionCacheFactoryExecutionContext<Product>, CancellationToken, Task<Product>> FusionLoad =
        static (_, _) => Task.FromResult(Product.For(0));

    private readonly string[] _keys = new string[KeySpace];
    private readonly int[][] _sequence = new int[Threads][];
    private readonly bool[][] _remove = new bool[Threads][];
    private readonly List<IAsyncDisposable> _owners = [];
    private BenchRedis? _redis;
    private FastConcurrentLru<string, Product> _lru = null!;
    private LeveeCache _levee = null!;
    private HybridCache _hybrid = null!;
    private FusionCache _fusion = null!;

    private void CreateWorkload()
    {
        for (var i = 0; i < KeySpace; i++)
        {
            _keys[i] = "product:" + i.ToString(CultureInfo.InvariantCulture);
        }

        var zipf = new Zipf(KeySpace, ZipfExponent);
        for (var t = 0; t < Threads; t++)
        {
#pragma warning disable CA5394 // a seeded workload generator, not security
            var random = new Random(42 + t);
            _sequence[t] = new int[OpsPerThread];
            _remove[t] = new bool[OpsPerThread];
            for (var i = 0; i < OpsPerThread; i++)
            {
                _sequence[t][i] = zipf.Sample(random);
                _remove[t][i] = random.NextDouble() < RemoveShare;
            }
#pragma warning restore CA5394
        }
    }

    [GlobalSetup(Target = nameof(Floor_FastConcurrentLru))]
    public void SetupFloor()
    {
        CreateWorkload();
        _lru = new FastConcurrentLru<string, Product>(Environment.ProcessorCount, 100_000, StringComparer.Ordinal);
        for (var i = 0; i < KeySpace; i++)
        {
            _lru.AddOrUpdate(_keys[i], Product.For(i));
        }
    }

    [GlobalSetup(Target = nameof(Levee))]
    public async Task SetupLeveeAsync()
    {
        CreateWorkload();
        _redis = await BenchRedis.StartAsync();
        var (levee, owner) = await Peers.LeveeAsync(_redis.Configuration);
        _levee = levee;
        _owners.Add(owner);
        await WarmAsync(i => _levee.GetOrCreateAsync(_keys[i], i, Load));
    }

    [GlobalSetup(Target = nameof(Levee_NoBackplane))]
    public async Task SetupLeveeNoBackplaneAsync()
    {
        CreateWorkload();
        _redis = await BenchRedis.StartAsync();
        var (levee, owner) = await Peers.LeveeAsync(_redis.Configuration, backplane: false);
        _levee = levee;
        _owners.Add(owner);
        await WarmAsync(i => _levee.GetOrCreateAsync(_keys[i], i, Load));
    }

    [GlobalSetup(Target = nameof(HybridCache_Default))]
    public async Task SetupHybridAsync()
    {
        CreateWorkload();
        _redis = await BenchRedis.StartAsync();
        var (hybrid, owner) = Peers.Hybrid(_redis.Configuration);
        _hybrid = hybrid;
        _owners.Add(owner);
        await WarmAsync(i => _hybrid.GetOrCreateAsync(_keys[i], i, Load));
    }

    [GlobalSetup(Target = nameof(FusionCache_Resilient))]
    public async Task SetupFusionAsync()
    {
        CreateWorkload();
        _redis = await BenchRedis.StartAsync();
        _fusion = Peers.FusionResilient(_redis.Configuration);
        await WarmAsync(i => _fusion.GetOrSetAsync<Product>(_keys[i], FusionLoad));
    }

    private static async Task WarmAsync(Func<int, ValueTask<Product>> get)
    {
        const int Batch = 200;
        var batch = new Task<Product>[Batch];
        for (var start = 0; start < KeySpace; start += Batch)
        {
            for (var j = 0; j < Batch; j++)
            {
                batch[j] = get(start + j).AsTask();
            }

            await Task.WhenAll(batch);
        }
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        _fusion?.Dispose();
        foreach (var owner in _owners)
        {
            await owner.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private Task<long[]> RunAsync(Func<ThroughputBenchmarks, int, Task<long>> thread)
    {
        var tasks = new Task<long>[Threads];
        for (var t = 0; t < Threads; t++)
        {
            var index = t;
            tasks[t] = Task.Run(() => thread(this, index));
        }

        return Task.WhenAll(tasks);
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Threads * OpsPerThread, Description = "floor: FastConcurrentLru GetOrAdd/TryRemove (no L2)")]
    public Task<long[]> Floor_FastConcurrentLru() => RunAsync(static (self, t) =>
    {
        long sum = 0;
        var seq = self._sequence[t];
        var remove = self._remove[t];
        for (var i = 0; i < seq.Length; i++)
        {
            var key = self._keys[seq[i]];
            if (remove[i])
            {
                self._lru.TryRemove(key);
            }
            else
            {
                sum += self._lru.GetOrAdd(key, static (_, id) => Product.For(id), seq[i]).Id;
            }
        }

        return Task.FromResult(sum);
    });

    [Benchmark(OperationsPerInvoke = Threads * OpsPerThread, Description = "Levee GetOrCreateAsync/RemoveAsync")]
    public Task<long[]> Levee() => RunAsync(static async (self, t) =>
    {
        long sum = 0;
        var seq = self._sequence[t];
        var remove = self._remove[t];
        for (var i = 0; i < seq.Length; i++)
        {
            var key = self._keys[seq[i]];
            if (remove[i])
            {
                await self._levee.RemoveAsync(key);
            }
            else
            {
                sum += (await self._levee.GetOrCreateAsync(key, seq[i], Load)).Id;
            }
        }

        return sum;
    });

    /// <summary>Levee for a single instance (<see cref="LeveeOptions.Backplane"/> off): like HybridCache, a removal is one DEL.</summary>
    [Benchmark(OperationsPerInvoke = Threads * OpsPerThread, Description = "Levee GetOrCreateAsync/RemoveAsync, Backplane = false (single instance)")]
    public Task<long[]> Levee_NoBackplane() => Levee();

    [Benchmark(OperationsPerInvoke = Threads * OpsPerThread, Description = "HybridCache (Microsoft default) GetOrCreateAsync/RemoveAsync")]
    public Task<long[]> HybridCache_Default() => RunAsync(static async (self, t) =>
    {
        long sum = 0;
        var seq = self._sequence[t];
        var remove = self._remove[t];
        for (var i = 0; i < seq.Length; i++)
        {
            var key = self._keys[seq[i]];
            if (remove[i])
            {
                await self._hybrid.RemoveAsync(key);
            }
            else
            {
                sum += (await self._hybrid.GetOrCreateAsync(key, seq[i], Load)).Id;
            }
        }

        return sum;
    });

    [Benchmark(OperationsPerInvoke = Threads * OpsPerThread, Description = "FusionCache GetOrSetAsync/RemoveAsync (resilient setup)")]
    public Task<long[]> FusionCache_Resilient() => RunAsync(static async (self, t) =>
    {
        long sum = 0;
        var seq = self._sequence[t];
        var remove = self._remove[t];
        for (var i = 0; i < seq.Length; i++)
        {
            var key = self._keys[seq[i]];
            if (remove[i])
            {
                await self._fusion.RemoveAsync(key);
            }
            else
            {
                sum += (await self._fusion.GetOrSetAsync<Product>(key, FusionLoad)).Id;
            }
        }

        return sum;
    });
}

/// <summary>Zipf(s) over ranks 0..n-1 by inverse CDF (binary search): rank 0 is the hottest key.</summary>
internal sealed class Zipf
{
    private readonly double[] _cdf;

    public Zipf(int n, double s)
    {
        _cdf = new double[n];
        double sum = 0;
        for (var i = 0; i < n; i++)
        {
            sum += 1.0 / Math.Pow(i + 1, s);
            _cdf[i] = sum;
        }

        for (var i = 0; i < n; i++)
        {
            _cdf[i] /= sum;
        }
    }

    public int Sample(Random random)
    {
#pragma warning disable CA5394
        var u = random.NextDouble();
#pragma warning restore CA5394
        var i = Array.BinarySearch(_cdf, u);
        return Math.Min(i >= 0 ? i : ~i, _cdf.Length - 1);
    }
}
