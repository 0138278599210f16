using StackExchange.Redis;

namespace Levee.Internal;

/// <summary>
/// The distributed layer as the engine sees it: plain operations on raw keys, no resilience of its own.
/// The engine wraps every call in <see cref="L2Guard"/> (time budget + circuit breaker), so a fake store in tests gets
/// exactly the protection the Redis store gets.
/// </summary>
internal interface IL2Store : IAsyncDisposable
{
    /// <summary>True when the store believes it can serve calls (connected to a writable or readable node).</summary>
    bool IsConnected { get; }

    /// <summary>Raised (on any thread) when the store reconnects or follows a failover, so the engine can re-read shared state.</summary>
    event EventHandler<L2StoreEvent>? StateChanged;

    /// <summary>True when reads can be sent to a replica (used while the master is unreachable).</summary>
    bool IsReplicaConnected { get; }

    /// <summary>Reads the key (a null <see cref="RedisValue"/> when absent). StackExchange.Redis' own value type, so the Redis
    /// store hands back its task as is: no wrapper frame on the L2 read path.</summary>
    Task<RedisValue> GetAsync(string key);

    /// <summary>Reads from a replica: the whole cache is usually still there while the master is gone.</summary>
    Task<RedisValue> GetFromReplicaAsync(string key);

    /// <summary>Like <see cref="GetNumbersAsync"/>, from a replica.</summary>
    Task<long?[]> GetNumbersFromReplicaAsync(string[] keys);

    /// <summary>Writes the value with its time to live; completes with true once written.</summary>
    Task<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive);

    /// <summary>Deletes the key; completes with true when it existed.</summary>
    Task<bool> RemoveAsync(string key);

    /// <summary>Reads integers stored at the keys (null where absent).</summary>
    Task<long?[]> GetNumbersAsync(string[] keys);

    /// <summary>Sets the key to the value unless it already holds a larger one; <see cref="TimeSpan.Zero"/>: no expiry.</summary>
    Task SetMaxAsync(string key, long value, TimeSpan timeToLive);

    /// <summary>Atomically increments the key and returns the new value.</summary>
    Task<long> IncrementAsync(string key);

    /// <summary>Publishes a backplane message to every subscriber of the channel.</summary>
    Task PublishAsync(string channel, string message);

    /// <summary>
    /// Deletes the key and publishes the message, sent together (the Redis store runs both in one script: one command, one
    /// reply); completes (with true) when both are done, fails when either failed.
    /// </summary>
    async Task<bool> RemoveAndPublishAsync(string key, string channel, string message)
    {
        var removing = RemoveAsync(key);
        var publishing = PublishAsync(channel, message);
        try
        {
            await removing.ConfigureAwait(false);
        }
        finally
        {
            await publishing.ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>Registers a handler for the channel; the store (re)subscribes whenever it (re)connects.</summary>
    void Subscribe(string channel, Action<string> handler);

    /// <summary>
    /// Publishes the message on every replica the store is connected to (used while the master is unreachable: every
    /// instance also listens on one replica, see <see cref="SubscribeReplicas"/>). Completes with true when every
    /// connected replica took it (at least one); false when one did not answer in time or failed (it may or may not have
    /// delivered it), or the store has no replica to publish to.
    /// </summary>
    Task<bool> PublishToReplicasAsync(string channel, string message) => Task.FromResult(false);

    /// <summary>Sets the key only when it holds nothing (SET NX): true when it was written. A store that can't says false.</summary>
    Task<bool> SetIfAbsentAsync(string key, byte[] value, TimeSpan timeToLive) => Task.FromResult(false);

    /// <summary>
    /// Registers a handler for messages published on the replicas (<see cref="PublishToReplicasAsync"/>), and
    /// <paramref name="resubscribed"/>, called when the replicas' subscription starts listening (a replicas' connection
    /// attached: a new one, or one replacing another) or was lost and is back: messages published before may never have
    /// reached this instance (pub/sub keeps none).
    /// </summary>
    void SubscribeReplicas(string channel, Action<string> handler, Action? resubscribed = null)
    {
    }
}

internal enum L2StoreEventKind
{
    Connected,
    ConnectionLost,
    Failover,
}

internal sealed class L2StoreEvent(L2StoreEventKind kind, string? detail) : EventArgs
{
    public L2StoreEventKind Kind { get; } = kind;

    public string? Detail { get; } = detail;
}
