using System.Collections.Concurrent;
using Levee.Internal;
using StackExchange.Redis;

namespace Levee.Benchmarks;

/// <summary>
/// An L2 store that answers every read at once from memory (completed tasks, built once per key): Levee's L2 hit path
/// over it measures the engine's own CPU per L2 hit, without the round trip and the thread hops around it.
/// </summary>
internal sealed class InstantL2Store : IL2Store
{
    private readonly ConcurrentDictionary<string, Task<RedisValue>> _reads = new(StringComparer.Ordinal);
    private static readonly Task<RedisValue> Absent = Task.FromResult(RedisValue.Null);

    public bool IsConnected => true;

    public bool IsReplicaConnected => false;

    public event EventHandler<L2StoreEvent>? StateChanged
    {
        add { }
        remove { }
    }

    public Task<RedisValue> GetAsync(string key) => _reads.TryGetValue(key, out var read) ? read : Absent;

    public Task<RedisValue> GetFromReplicaAsync(string key) => GetAsync(key);

    public Task<long?[]> GetNumbersFromReplicaAsync(string[] keys) => GetNumbersAsync(keys);

    public Task<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive)
    {
        _reads[key] = Task.FromResult((RedisValue)value);
        return Task.FromResult(true);
    }

    public Task<bool> RemoveAsync(string key) => Task.FromResult(_reads.TryRemove(key, out _));

    public Task<long?[]> GetNumbersAsync(string[] keys) => Task.FromResult(new long?[keys.Length]);

    public Task SetMaxAsync(string key, long value, TimeSpan timeToLive) => Task.CompletedTask;

    public Task<long> IncrementAsync(string key) => Task.FromResult(1L);

    public Task PublishAsync(string channel, string message) => Task.CompletedTask;

    public void Subscribe(string channel, Action<string> handler)
    {
    }

    public ValueTask DisposeAsync() => default;
}

/// <summary>A <see cref="LeveeCache"/> over <see cref="InstantL2Store"/> holding the L2 hit benchmark's 100 products.</summary>
internal sealed class InstantL2Cache : IAsyncDisposable
{
    private static readonly LeveeEntryOptions L2Only = new()
    {
        Flags = Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableLocalCacheRead | Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableLocalCacheWrite,
    };

    private static readonly Func<int, CancellationToken, ValueTask<Product>> Load =
        static (_, _) => throw new InvalidOperationException("an L2 miss: the benchmark reads only stored keys");

    private readonly LeveeCache _cache;
    private readonly string[] _keys = Enumerable.Range(0, 100).Select(i => "product:" + i.ToString(System.Globalization.CultureInfo.InvariantCulture)).ToArray();
    private int _next;

    private InstantL2Cache(LeveeCache cache) => _cache = cache;

    public static async Task<InstantL2Cache> CreateAsync()
    {
        var options = new LeveeOptions { DefaultExpiration = Peers.Lifetime };
        var cache = new LeveeCache(options, new InstantL2Store(), new Levee.Serialization.SerializerRegistry(null, null, options.JsonSerializerOptions), null, null);
        var self = new InstantL2Cache(cache);
        for (var i = 0; i < self._keys.Length; i++)
        {
            await cache.SetAsync(self._keys[i], Product.For(i));
        }

        return self;
    }

    /// <summary>One L2 hit (L1 neither read nor written); completes synchronously.</summary>
    public ValueTask<Product> GetAsync()
    {
        var i = _next = (_next + 1) % _keys.Length;
        return _cache.GetOrCreateAsync(_keys[i], i, Load, L2Only);
    }

    public ValueTask DisposeAsync() => _cache.DisposeAsync();
}
