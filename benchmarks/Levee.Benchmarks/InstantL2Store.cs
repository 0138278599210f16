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
