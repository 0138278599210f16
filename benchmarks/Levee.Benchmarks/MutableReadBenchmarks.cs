using BenchmarkDotNet.Attributes;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Benchmarks;

/// <summary>
/// An L1 hit of a MUTABLE type (a class that is not sealed and immutable), which HybridCache's rule copies for each read
/// (a deserialization of the stored bytes), beside the same hit of the immutable <see cref="Product"/> (shared, 0 B).
/// Levee and Microsoft's HybridCache, both through the <see cref="HybridCache"/> type, L1 only (a hit never touches L2).
/// One operation = one lookup; each invocation walks the 1,000 keys.
/// </summary>
[Config(typeof(ShortConfig))]
public class MutableReadBenchmarks
{
    private const int Keys = 1_000;

    private static readonly Func<int, CancellationToken, ValueTask<MutableProduct>> LoadMutable = static (id, _) => new ValueTask<MutableProduct>(MutableProduct.For(id));
    private static readonly Func<int, CancellationToken, ValueTask<Product>> LoadImmutable = static (id, _) => new ValueTask<Product>(Product.For(id));

    private readonly string[] _keys = new string[Keys];
    private readonly List<IAsyncDisposable> _owners = [];
    private HybridCache _levee = null!;
    private HybridCache _hybrid = null!;

    [GlobalSetup]
    public async Task SetupAsync()
    {
        for (var i = 0; i < Keys; i++)
        {
            _keys[i] = "product:" + i.ToString(System.Globalization.CultureInfo.InvariantCulture);
        }

        var (levee, leveeOwner) = await Peers.LeveeAsync(null);
        _levee = levee;
        _owners.Add(leveeOwner);
        var (hybrid, hybridOwner) = Peers.Hybrid(null);
        _hybrid = hybrid;
        _owners.Add(hybridOwner);
        for (var i = 0; i < Keys; i++)
        {
            await _levee.GetOrCreateAsync("m:" + _keys[i], i, LoadMutable);
            await _hybrid.GetOrCreateAsync("m:" + _keys[i], i, LoadMutable);
            await _levee.GetOrCreateAsync(_keys[i], i, LoadImmutable);
            await _hybrid.GetOrCreateAsync(_keys[i], i, LoadImmutable);
        }

        _mutableKeys = [.. _keys.Select(k => "m:" + k)];
    }

    private string[] _mutableKeys = [];

    [GlobalCleanup]
    public async Task CleanupAsync()
    {
        foreach (var owner in _owners)
        {
            await owner.DisposeAsync();
        }
    }

    [Benchmark(Baseline = true, OperationsPerInvoke = Keys, Description = "Levee (as HybridCache), immutable Product")]
    public int Levee_Immutable()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += Sync.Result(_levee.GetOrCreateAsync(key, 0, LoadImmutable)).Id;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "HybridCache (Microsoft default), immutable Product")]
    public int HybridCache_Immutable()
    {
        var sum = 0;
        foreach (var key in _keys)
        {
            sum += Sync.Result(_hybrid.GetOrCreateAsync(key, 0, LoadImmutable)).Id;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "Levee (as HybridCache), mutable class: a copy per read")]
    public int Levee_Mutable()
    {
        var sum = 0;
        foreach (var key in _mutableKeys)
        {
            sum += Sync.Result(_levee.GetOrCreateAsync(key, 0, LoadMutable)).Id;
        }

        return sum;
    }

    [Benchmark(OperationsPerInvoke = Keys, Description = "HybridCache (Microsoft default), mutable class: a copy per read")]
    public int HybridCache_Mutable()
    {
        var sum = 0;
        foreach (var key in _mutableKeys)
        {
            sum += Sync.Result(_hybrid.GetOrCreateAsync(key, 0, LoadMutable)).Id;
        }

        return sum;
    }
}

/// <summary>The catalog row as a plain mutable class (what most DTOs are): HybridCache's rule copies it per read.</summary>
public class MutableProduct
{
    public int Id { get; set; }

    public string Name { get; set; } = "";

    public decimal Price { get; set; }

    public static MutableProduct For(int id) => new() { Id = id, Name = "product " + id, Price = 10m + id % 100 };
}
