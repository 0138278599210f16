using StackExchange.Redis;
using System.Collections.Concurrent;
using Levee.Internal;

namespace Levee.Tests.Fakes;

public enum FakeL2Mode
{
    Healthy,
    Throw,
    Hang,
    Down,
}

/// <summary>An in-memory L2 with a fault switch (throw, hang like a frozen host, down) and an in-memory pub/sub hub, shareable between caches.</summary>
internal sealed class FakeL2Store : IL2Store
{
    private readonly FakeRedis _redis;
    private readonly List<TaskCompletionSource> _hanging = [];

    public FakeL2Store(FakeRedis? redis = null) => _redis = redis ?? new FakeRedis();

    public FakeRedis Redis => _redis;

    public FakeL2Mode Mode { get; set; }

    public int Calls;

    public bool IsConnected => Mode != FakeL2Mode.Down;

    /// <summary>The replica's own fault switch (replicas keep the data while the master is gone).</summary>
    public FakeL2Mode ReplicaMode { get; set; } = FakeL2Mode.Down;

    public int ReplicaCalls;

    public bool IsReplicaConnected => ReplicaMode != FakeL2Mode.Down;

    public async Task<RedisValue> GetFromReplicaAsync(string key)
    {
        Interlocked.Increment(ref ReplicaCalls);
        if (ReplicaMode != FakeL2Mode.Healthy)
        {
            throw new InvalidOperationException("fake replica failure");
        }

        await Task.Yield();
        return _redis.Data.TryGetValue(key, out var v) ? v : null;
    }

    public async Task<long?[]> GetNumbersFromReplicaAsync(string[] keys)
    {
        if (ReplicaMode != FakeL2Mode.Healthy)
        {
            throw new InvalidOperationException("fake replica failure");
        }

        await Task.Yield();
        return keys.Select(k => _redis.Numbers.TryGetValue(k, out var n) ? n : (long?)null).ToArray();
    }

    public event EventHandler<L2StoreEvent>? StateChanged;

    public void RaiseConnected() => StateChanged?.Invoke(this, new L2StoreEvent(L2StoreEventKind.Connected, "test"));

    public void RaiseFailover() => StateChanged?.Invoke(this, new L2StoreEvent(L2StoreEventKind.Failover, "test"));

    public void RaiseConnectionLost() => StateChanged?.Invoke(this, new L2StoreEvent(L2StoreEventKind.ConnectionLost, "test"));

    /// <summary>Completes (with an error) every call that hung.</summary>
    public void ReleaseHanging()
    {
        lock (_hanging)
        {
            foreach (var h in _hanging)
            {
                h.TrySetException(new TimeoutException("released"));
            }

            _hanging.Clear();
        }
    }

    private async Task Fault()
    {
        Interlocked.Increment(ref Calls);
        switch (Mode)
        {
            case FakeL2Mode.Throw:
            case FakeL2Mode.Down:
                throw new InvalidOperationException("fake L2 failure");
            case FakeL2Mode.Hang:
                var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                lock (_hanging)
                {
                    _hanging.Add(tcs);
                }

                await tcs.Task;
                break;
        }
    }

    /// <summary>When set, a GET's reply (read when the GET runs) reaches the caller only when this completes: a late reply.</summary>
    public TaskCompletionSource? GetReplyGate { get; set; }

    public async Task<RedisValue> GetAsync(string key)
    {
        await Fault();
        var value = _redis.Data.TryGetValue(key, out var v) ? v : null;
        if (GetReplyGate is { } gate)
        {
            await gate.Task;
        }

        return value;
    }

    /// <summary>When set, a SET is "on the wire" until this completes (its data lands then).</summary>
    public TaskCompletionSource? SetGate { get; set; }

    public int Removes;

    /// <summary>SETs that got past the fault switch (counted before <see cref="SetGate"/>: a SET "on the wire").</summary>
    public int SetsStarted;

    public async Task<bool> SetIfAbsentAsync(string key, byte[] value, TimeSpan timeToLive)
    {
        await Fault();
        if (_redis.Data.ContainsKey(key))
        {
            return false;
        }

        _redis.Data[key] = value;
        _redis.Ttls[key] = timeToLive;
        return true;
    }

    public async Task<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive)
    {
        await Fault();
        Interlocked.Increment(ref SetsStarted);
        if (SetGate is { } gate)
        {
            await gate.Task;
        }

        _redis.Data[key] = value;
        _redis.Ttls[key] = timeToLive;
        return true;
    }

    /// <summary>Gates for the next DELs, one each: a DEL takes effect at once, but its reply reaches the caller only when its gate completes.</summary>
    public ConcurrentQueue<TaskCompletionSource> RemoveReplyGates { get; } = new();

    public async Task<bool> RemoveAsync(string key)
    {
        Interlocked.Increment(ref Removes);
        await Fault();
        var removed = _redis.Data.TryRemove(key, out _);
        if (RemoveReplyGates.TryDequeue(out var gate))
        {
            await gate.Task;
        }

        return removed;
    }

    /// <summary>Gates for the next number reads (tag times), one each: the read tells it started, then waits for its release.</summary>
    public ConcurrentQueue<(TaskCompletionSource Entered, TaskCompletionSource Release)> NumbersGates { get; } = new();

    public async Task<long?[]> GetNumbersAsync(string[] keys)
    {
        await Fault();
        if (NumbersGates.TryDequeue(out var gate))
        {
            gate.Entered.TrySetResult();
            await gate.Release.Task;
        }

        return keys.Select(k => _redis.Numbers.TryGetValue(k, out var n) ? n : (long?)null).ToArray();
    }

    public async Task SetMaxAsync(string key, long value, TimeSpan timeToLive)
    {
        await Fault();
        _redis.Numbers.AddOrUpdate(key, value, (_, old) => Math.Max(old, value));
    }

    public async Task<long> IncrementAsync(string key)
    {
        await Fault();
        return _redis.Numbers.AddOrUpdate(key, 1, (_, old) => old + 1);
    }

    public async Task PublishAsync(string channel, string message)
    {
        await Fault();
        _redis.Publish(channel, message);
    }

    public void Subscribe(string channel, Action<string> handler) => _redis.Subscribe(channel, handler);

    /// <summary>The replicas' pub/sub: a replica delivers to its own subscribers (here: the same hub, on its own channel).</summary>
    public async Task<bool> PublishToReplicasAsync(string channel, string message)
    {
        Interlocked.Increment(ref ReplicaCalls);
        if (ReplicaMode != FakeL2Mode.Healthy)
        {
            throw new InvalidOperationException("fake replica failure");
        }

        await Task.Yield();
        if (LoseReplicaPublishes > 0)
        {
            LoseReplicaPublishes--;
            throw new TimeoutException("fake: the PUBLISH timed out and was never written"); // as StackExchange.Redis's timeout on a starved machine
        }

        _redis.Publish(channel, message);
        return true;
    }

    /// <summary>The next this many PUBLISHes on the replicas time out without reaching any subscriber.</summary>
    public int LoseReplicaPublishes;

    /// <summary>While true, messages published on the replicas by anyone do not reach this store's replica handlers (its
    /// subscription is lost); setting it back to false tells them it is back, as a reconnect does.</summary>
    public bool ReplicaSubscriptionLost
    {
        get => _replicaSubscriptionLost;
        set
        {
            var restored = _replicaSubscriptionLost && !value;
            _replicaSubscriptionLost = value;
            if (restored)
            {
                foreach (var resubscribed in _resubscribed)
                {
                    resubscribed();
                }
            }
        }
    }

    private bool _replicaSubscriptionLost;
    private readonly List<Action> _resubscribed = [];

    /// <summary>After <see cref="ReplicaSubscriptionLost"/>: tells the handlers the subscription is back while it does
    /// not listen yet (StackExchange.Redis raises <c>ConnectionRestored</c> before it has subscribed the channels again);
    /// <see cref="ReplicaSubscriptionListens"/> ends that.</summary>
    public void ReplicaSubscriptionRestoredNotYetListening()
    {
        foreach (var resubscribed in _resubscribed)
        {
            resubscribed();
        }
    }

    /// <summary>The replicas' subscription listens again, with no further notice (see <see cref="ReplicaSubscriptionRestoredNotYetListening"/>).</summary>
    public void ReplicaSubscriptionListens() => _replicaSubscriptionLost = false;

    public void SubscribeReplicas(string channel, Action<string> handler, Action? resubscribed = null)
    {
        _redis.Subscribe(channel, m =>
        {
            if (!_replicaSubscriptionLost)
            {
                handler(m);
            }
        });
        if (resubscribed is not null)
        {
            _resubscribed.Add(resubscribed);
            if (ReplicaMode != FakeL2Mode.Down)
            {
                resubscribed(); // as the Redis store does when its replicas' connection is attached
            }
        }
    }

    public ValueTask DisposeAsync()
    {
        ReleaseHanging();
        return default;
    }
}

/// <summary>The shared state behind several <see cref="FakeL2Store"/>s (one "Redis" seen by several instances).</summary>
internal sealed class FakeRedis
{
    public readonly ConcurrentDictionary<string, byte[]> Data = new();
    public readonly ConcurrentDictionary<string, TimeSpan> Ttls = new();
    public readonly ConcurrentDictionary<string, long> Numbers = new();
    public readonly ConcurrentQueue<string> Published = new();
    private readonly List<(string Channel, Action<string> Handler)> _subscribers = [];

    public void Subscribe(string channel, Action<string> handler)
    {
        lock (_subscribers)
        {
            _subscribers.Add((channel, handler));
        }
    }

    /// <summary>Every message published, with its channel.</summary>
    public readonly ConcurrentQueue<(string Channel, string Message)> PublishedOn = new();

    public void Publish(string channel, string message)
    {
        Published.Enqueue(message);
        PublishedOn.Enqueue((channel, message));
        (string Channel, Action<string> Handler)[] subs;
        lock (_subscribers)
        {
            subs = [.. _subscribers];
        }

        foreach (var (c, h) in subs)
        {
            if (c == channel)
            {
                h(message);
            }
        }
    }
}
