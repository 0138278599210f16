using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;
using StackExchange.Redis;
using ZiggyCreatures.Caching.Fusion;

namespace Levee.Benchmarks;

/// <summary>
/// An L2 hit: L1 is skipped (neither read nor written) on every call, the value is in a real loopback redis-server.
/// The floor is one raw StackExchange.Redis <c>StringGetAsync</c> of the bytes Levee stored for the same key.
/// A factory call here would mean a miss: they are counted and printed in the log (0 expected).
/// </summary>
[Config(typeof(ShortConfig))]
public class L2HitBenchmarks
{
    private const int Keys = 100;
    private const HybridCacheEntryFlags L1Off = HybridCacheEntryFlags.DisableLocalCacheRead | HybridCacheEntryFlags.DisableLocalCacheWrite;

    private static readonly LeveeEntryOptions LeveeL2Only = new() { Flags = L1Off };
    private static readonly HybridCacheEntryOptions HybridL2Only = new() { Flags = L1Off, Expiration = Peers.Lifetime, LocalCacheExpiration = Peers.Lifetime };
    private static long _factoryCalls;

    private static readonly Func<int, CancellationToken, ValueTask<Product>> Load = static (id, _) =>
    {
        Interlocked.Increment(ref _factoryCalls);
        return new ValueTask<Product>(Product.For(id));
    };

    private static readonly Func<FusionCacheFactoryExecutionContext<Product>, CancellationToken, Task<Product>> FusionLoad = static (_, _) =>
    {
        Interlocked.Increment(ref _factoryCalls);
        return Task.FromResult(Product.For(0));
    };

    private readonly string[] _keys = new string[Keys];
    private readonly RedisKey[] _rawKeys = new RedisKey[Keys];
    private readonly List<IAsyncDisposable> _owners = [];
    private BenchRedis? _redis;
    private ConnectionMultiplexer _multiplexer = null!;
    private IDatabase _database = null!;
    private LeveeCache _levee = null!;
    private HybridCache _hybrid = null!;
    private FusionCache _fusion = null!;
    private FusionCacheEntryOptions _fusionL2Only = null!;
    private int _next;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        _redis = await BenchRedis.StartAsync();
        var redis = _redis.Configuration;
        _multiplexer = await ConnectionMultiplexer.ConnectAsync(redis);
        _database = _multiplexer.GetDatabase();
        var (levee, leveeOwner) = await Peers.LeveeAsync(redis);
        _levee = levee;
        _owners.Add(leveeOwner);
        var (hybrid, hybridOwner) = Peers.Hybrid(redis);
        _hybrid = hybrid;
        _owners.Add(hybridOwner);
        _fusion = Peers.FusionResilient(redis);
        _fusionL2Only = _fusion.DefaultEntryOptions.Duplicate();
        _fusionL2Only.SkipMemoryCacheRead = true;
        _fusionL2Only.SkipMemoryCacheWrite = true;
        _fusionL2Only.AllowBackgroundDistributedCacheOperations = false; // the values must be in Redis before we measure

        for (var i = 0; i < Keys; i++)
        {
            _keys[i] = "product:" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
            _rawKeys[i] = "levee:d:0:" + _keys[i]; // Levee's data key (prefix "levee:", generation 0)
            await _levee.SetAsync(_keys[i], Product.For(i));
            await _hybrid.SetAsync(_keys[i], Product.For(i));
            await _fusion.SetAsync(_keys[i], Product.For(i), _fusionL2Only);
        }

        for (var i = 0; i < Keys; i++)
        {
            if (!(await _database.KeyExistsAsync(_rawKeys[i])))
            {
                throw new InvalidOperationException($"Levee's L2 entry {_rawKeys[i]} is not in Redis {redis}: the floor would read nothing");
            }
        }

        _factoryCalls = 0;
    }

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        Console.WriteLine($"// {nameof(L2HitBenchmarks)}: {Interlocked.Exchange(ref _factoryCalls, 0)} factory calls during the run (0 expected: every call must be an L2 hit)");
        _fusion?.Dispose();
        foreach (var owner in _owners)
        {
            await owner.DisposeAsync();
        }

        if (_multiplexer is not null)
        {
            await _multiplexer.DisposeAsync();
        }

        if (_redis is not null)
        {
            await _redis.DisposeAsync();
        }
    }

    private int Next()
    {
        var i = _next + 1;
        if (i == Keys)
        {
            i = 0;
        }

        _next = i;
        return i;
    }

    [Benchmark(Baseline = true, Description = "floor: StackExchange.Redis StringGetAsync")]
    public async Task<int> Floor_StringGetAsync()
    {
        var value = await _database.StringGetAsync(_rawKeys[Next()]);
        return (int)value.Length();
    }

    /// <summary>A raw GET of the same key through Levee's own connection (its multiplexer, its configuration), no engine.</summary>
    internal async Task<int> RawThroughLeveeConnectionAsync()
    {
        var value = await ((Levee.Redis.RedisL2Store)_levee.L2Store!).Current!.PrimaryDatabase.StringGetAsync(_rawKeys[Next()]);
        return (int)value.Length();
    }

    /// <summary>The PID of the benchmark's redis-server (for CPU accounting).</summary>
    internal int RedisPid => _redis!.Node.Pid;

    /// <summary>Pieces of Levee's L2 path over the same keys (used by the interleaved table).</summary>
    internal L2PathAnatomy CreatePathAnatomy() => new(_database, _rawKeys);

    [Benchmark(Description = "Levee GetOrCreateAsync (LeveeCache, L1 off)")]
    public async Task<int> Levee_Direct()
    {
        var i = Next();
        return (await _levee.GetOrCreateAsync(_keys[i], i, Load, LeveeL2Only)).Id;
    }

    [Benchmark(Description = "Levee GetOrCreateAsync (as HybridCache, L1 off)")]
    public async Task<int> Levee_AsHybridCache()
    {
        var i = Next();
        return (await ((HybridCache)_levee).GetOrCreateAsync(_keys[i], i, Load, HybridL2Only)).Id;
    }

    [Benchmark(Description = "HybridCache (Microsoft default) GetOrCreateAsync (L1 off)")]
    public async Task<int> HybridCache_Default()
    {
        var i = Next();
        return (await _hybrid.GetOrCreateAsync(_keys[i], i, Load, HybridL2Only)).Id;
    }

    [Benchmark(Description = "FusionCache GetOrSetAsync (resilient setup, L1 skipped)")]
    public async Task<int> FusionCache_Resilient()
    {
        var i = Next();
        return (await _fusion.GetOrSetAsync<Product>(_keys[i], FusionLoad, _fusionL2Only)).Id;
    }
}
