using System.Diagnostics;
using System.Globalization;
using System.Text;
using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;
using ZiggyCreatures.Caching.Fusion;

// Each caller's ValueTask is stored once and awaited exactly once (AwaitAllAsync): what 1,000 concurrent callers do.
#pragma warning disable CA2012

namespace Levee.Benchmarks;

/// <summary>
/// Cold-key stampede: 1,000 concurrent callers of one key that is in neither L1 nor L2 (a new key each invocation);
/// the factory is a 1 ms "database query". Every cache runs with its Redis L2. One operation = the whole stampede
/// (all 1,000 callers answered). Factory calls per stampede are counted by <see cref="CountAsync"/>
/// (<c>Levee.Benchmarks stampede-calls</c>), since BenchmarkDotNet reports only time and memory.
/// </summary>
[Config(typeof(LongOpConfig))]
public class StampedeBenchmarks
{
    public const int Callers = 1_000;

    private static long _factoryCalls;
    private static long _keySequence;

    private static readonly Func<int, CancellationToken, ValueTask<Product>> SlowLoad = static async (id, ct) =>
    {
        Interlocked.Increment(ref _factoryCalls);
        await Task.Delay(1, ct).ConfigureAwait(false);
        return Product.For(id);
    };

    private static readonly Func<FusionCacheFactoryExecutionContext<Product>, CancellationToken, Task<Product>> FusionSlowLoad = static async (_, ct) =>
    {
        Interlocked.Increment(ref _factoryCalls);
        await Task.Delay(1, ct).ConfigureAwait(false);
        return Product.For(1);
    };

    private readonly ValueTask<Product>[] _callers = new ValueTask<Product>[Callers];
    private readonly List<IAsyncDisposable> _owners = [];
    private BenchRedis? _redis;
    private LeveeCache _levee = null!;
    private HybridCache _hybrid = null!;
    private FusionCache _fusionDefaults = null!;
    private FusionCache _fusionResilient = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _redis = await BenchRedis.StartAsync();
        var (levee, leveeOwner) = await Peers.LeveeAsync(_redis.Configuration);
        _levee = levee;
        _owners.Add(leveeOwner);
        var (hybrid, hybridOwner) = Peers.Hybrid(_redis.Configuration);
        _hybrid = hybrid;
        _owners.Add(hybridOwner);
        _fusionDefaults = Peers.FusionDefaults();
        _fusionResilient = Peers.FusionResilient(_redis.Configuration);
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

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private static string ColdKey() => "cold:" + Interlocked.Increment(ref _keySequence).ToString(CultureInfo.InvariantCulture);

    private async Task<int> AwaitAllAsync()
    {
        var sum = 0;
        foreach (var caller in _callers)
        {
            sum += (await caller).Id;
        }

        return sum;
    }

    [Benchmark(Description = "Levee GetOrCreateAsync")]
    public Task<int> Levee()
    {
        var key = ColdKey();
        for (var i = 0; i < Callers; i++)
        {
            _callers[i] = _levee.GetOrCreateAsync(key, i, SlowLoad);
        }

        return AwaitAllAsync();
    }

    [Benchmark(Description = "HybridCache (Microsoft default) GetOrCreateAsync")]
    public Task<int> HybridCache_Default()
    {
        var key = ColdKey();
        for (var i = 0; i < Callers; i++)
        {
            _callers[i] = _hybrid.GetOrCreateAsync(key, i, SlowLoad);
        }

        return AwaitAllAsync();
    }

    [Benchmark(Description = "FusionCache GetOrSetAsync (defaults, L1 only)")]
    public Task<int> FusionCache_Defaults()
    {
        var key = ColdKey();
        for (var i = 0; i < Callers; i++)
        {
            _callers[i] = _fusionDefaults.GetOrSetAsync<Product>(key, FusionSlowLoad);
        }

        return AwaitAllAsync();
    }

    [Benchmark(Description = "FusionCache GetOrSetAsync (resilient setup)")]
    public Task<int> FusionCache_Resilient()
    {
        var key = ColdKey();
        for (var i = 0; i < Callers; i++)
        {
            _callers[i] = _fusionResilient.GetOrSetAsync<Product>(key, FusionSlowLoad);
        }

        return AwaitAllAsync();
    }

    /// <summary>
    /// Runs <paramref name="rounds"/> stampedes per cache (after one warm-up stampede) and returns a markdown table of
    /// factory calls per stampede and the wall time of a stampede.
    /// </summary>
    public static async Task<string> CountAsync(int rounds)
    {
        var bench = new StampedeBenchmarks();
        await bench.SetupAsync();
        try
        {
            var lines = new (string Name, Func<Task<int>> Run)[]
            {
                ("Levee GetOrCreateAsync", bench.Levee),
                ("HybridCache (Microsoft default) GetOrCreateAsync", bench.HybridCache_Default),
                ("FusionCache GetOrSetAsync (defaults, L1 only)", bench.FusionCache_Defaults),
                ("FusionCache GetOrSetAsync (resilient setup)", bench.FusionCache_Resilient),
            };
            var sb = new StringBuilder();
            sb.AppendLine(CultureInfo.InvariantCulture, $"| Cache | Stampedes | Callers each | Factory calls per stampede (min / mean / max) | Wall time per stampede, ms (median / max) |");
            sb.AppendLine("|---|---:|---:|---|---|");
            foreach (var (name, run) in lines)
            {
                await run(); // warm-up (JIT, connections)
                var calls = new long[rounds];
                var times = new double[rounds];
                for (var r = 0; r < rounds; r++)
                {
                    Interlocked.Exchange(ref _factoryCalls, 0);
                    var started = Stopwatch.GetTimestamp();
                    await run();
                    times[r] = Stopwatch.GetElapsedTime(started).TotalMilliseconds;
                    calls[r] = Interlocked.Read(ref _factoryCalls);
                }

                Array.Sort(times);
                sb.AppendLine(CultureInfo.InvariantCulture,
                    $"| {name} | {rounds} | {Callers} | {calls.Min()} / {calls.Average():0.##} / {calls.Max()} | {times[rounds / 2]:0.00} / {times[^1]:0.00} |");
            }

            return sb.ToString();
        }
        finally
        {
            await bench.CleanupAsync();
        }
    }
}
