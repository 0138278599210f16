using Levee.Tests.Fakes;
using Microsoft.Extensions.Time.Testing;

namespace Levee.Tests.Engine;

/// <summary>
/// Issue 20 item 3: with every Redis node gone (no master, no replica: no Redis channel at all), a value one instance
/// loads reaches the others through the second channel when it carries values
/// (<see cref="ILeveeInvalidationChannel.MaxSharedValueBytes"/>), so a key is loaded from the database once, not once per
/// instance. The same rules as for values shared through the replicas apply (removals, clear-all, the value's lifetime).
/// </summary>
public sealed class ChannelSharingTests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task EveryRedisNodeGone_AValueLoadedOnOneInstance_IsServedByAnotherWithoutAFactoryCall()
    {
        await using var group = await Group.StartAsync(2, maxValueBytes: 4096);
        var (a, b) = (group.Caches[0], group.Caches[1]);
        group.AllRedisGone();

        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v1"); };
        Assert.Equal("v1", await a.GetOrCreateAsync("k", 0, load, OneMinute));
        Assert.Equal(1, b.SharedCount); // A's value reached B through the channel
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, load, OneMinute));
        Assert.Equal(1, factoryCalls);
        Assert.Contains(group.Hub.Sent, m => m.Kind == LeveeInvalidationKind.Loading && m.Subject == "k"); // announced first

        // a removal after it (through the same channel): B drops the shared value and never serves it again
        group.Time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k");
        Assert.Equal(0, b.SharedCount);
        b.ClearLocal();
        Assert.Equal("v2", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v2"), OneMinute));
    }

    [Fact]
    public async Task EveryRedisNodeGone_AValueCreatedBeforeARemovalThisInstanceKnows_IsRefused()
    {
        await using var group = await Group.StartAsync(2, maxValueBytes: 4096);
        var (a, b) = (group.Caches[0], group.Caches[1]);
        group.AllRedisGone();
        Assert.Equal("old", await a.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("old"), OneMinute));
        var shared = group.Hub.Sent.Last(m => m.Kind == LeveeInvalidationKind.Value);

        group.Time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k");      // B learns the removal
        group.Hub.Deliver(shared);     // and then receives the older value again (a late or repeated delivery)
        Assert.Equal(0, b.SharedCount);
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
    }

    [Fact]
    public async Task EveryRedisNodeGone_AnEntryExpiringOnEveryInstance_IsLoadedOnceAcrossInstances()
    {
        await using var group = await Group.StartAsync(4, maxValueBytes: 4096);
        await group.Caches[0].SetAsync("k", "v1", OneMinute);
        foreach (var cache in group.Caches)
        {
            Assert.Equal("v1", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
        }

        group.AllRedisGone();
        group.Time.Advance(TimeSpan.FromSeconds(61)); // every instance's entry expires during the outage
        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v2"); };
        foreach (var cache in group.Caches)
        {
            Assert.Equal("v1", await cache.GetOrCreateAsync("k", 0, load, OneMinute)); // served stale, refreshed in the background
        }

        await group.RunRefreshesInTurnAsync();
        Assert.Equal(1, factoryCalls); // the first refresh shared its value; the others found it and skipped their query
        foreach (var cache in group.Caches)
        {
            Assert.Equal("v2", await cache.GetOrCreateAsync("k", 0, load, OneMinute));
        }

        Assert.Equal(1, factoryCalls);
        Assert.Contains(group.Hub.Sent, m => m.Kind == LeveeInvalidationKind.Refreshing && m.Subject == "k"); // a refresh, announced as one
        Assert.DoesNotContain(group.Hub.Sent, m => m.Kind == LeveeInvalidationKind.Loading);
    }

    /// <summary>Issue 19: a background refresh another instance announces is taken from this instance's
    /// <see cref="LeveeOptions.DegradedRefreshesPerSecond"/> too: the instances share one budget.</summary>
    [Fact]
    public async Task EveryRedisNodeGone_ARefreshAnnouncedElsewhere_TakesATokenOfThisInstancesBudget()
    {
        await using var group = await Group.StartAsync(2, maxValueBytes: 4096); // 2 refreshes per second, bursts of 2
        var (a, b) = (group.Caches[0], group.Caches[1]);
        for (var i = 1; i <= 3; i++)
        {
            await a.SetAsync("k" + i, "v1", OneMinute);
            Assert.Equal("v1", await b.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
        }

        group.AllRedisGone();
        group.Time.Advance(TimeSpan.FromSeconds(61)); // every entry expired during the outage; both budgets full (2)
        Assert.Equal("v1", await a.GetOrCreateAsync("k1", 0, (_, _) => ValueTask.FromResult("v2"), OneMinute)); // stale; A refreshes k1
        await TestCache.AdvanceUntilDone(group.Time, TestCache.Until(() => b.SharedCount == 1 && a.DegradedRefreshesActive == 0), TimeSpan.FromMilliseconds(50), "A's refresh");
        Assert.Contains(group.Hub.Sent, m => m.Kind == LeveeInvalidationKind.Refreshing && m.Subject == "k1");
        Assert.Equal("v2", await b.GetOrCreateAsync("k1", 0, (_, _) => ValueTask.FromResult("b's own"), OneMinute)); // A's value

        // B's budget paid for A's refresh: one token left, not two
        Assert.Equal("v1", await b.GetOrCreateAsync("k2", 0, (_, _) => ValueTask.FromResult("v2"), OneMinute));
        Assert.Equal("v1", await b.GetOrCreateAsync("k3", 0, (_, _) => ValueTask.FromResult("v2"), OneMinute));
        Assert.Equal(1, b.BackgroundRefreshesStarted);
    }

    [Fact]
    public async Task ValuesSharedDuringTheOutage_AreWrittenToRedisWhenTheMasterAnswers_SoNoInstanceLoadsThemAgain()
    {
        await using var group = await Group.StartAsync(2, maxValueBytes: 4096);
        var (a, b) = (group.Caches[0], group.Caches[1]);
        foreach (var cache in group.Caches)
        {
            await cache.RunMaintenanceAsync(); // the master answers: each notes the channel's delivery epoch
        }

        group.AllRedisGone();
        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v1"); };
        Assert.Equal("v1", await a.GetOrCreateAsync("k", 0, load, OneMinute));
        Assert.Equal(1, b.SharedCount);
        group.Time.Advance(TimeSpan.FromMilliseconds(5));
        Assert.Equal("v2", await a.GetOrCreateAsync("removed", 0, (_, _) => ValueTask.FromResult("v2"), OneMinute));
        await a.RemoveAsync("removed"); // removed after it was shared: never written back

        foreach (var store in group.Stores)
        {
            store.Mode = FakeL2Mode.Healthy;
            store.ReplicaMode = FakeL2Mode.Healthy;
        }

        await b.RunMaintenanceAsync(); // the master answers: the journals' replays go first
        Assert.Equal(1, b.SharedCount);
        await b.RunMaintenanceAsync(); // then B writes what it was given, and forgets it
        Assert.Equal(0, b.SharedCount);
        await using var fresh = await TestCache.Ready(TestCache.Create(group.Time, new FakeL2Store(group.Redis)));
        Assert.Equal("v1", await fresh.GetOrCreateAsync("k", 0, load, OneMinute)); // from Redis
        Assert.Equal(1, factoryCalls);
        Assert.Equal("db", await fresh.GetOrCreateAsync("removed", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
    }

    [Fact]
    public async Task AChannelThatCarriesNoValues_IsNeverSentOne_AndEachInstanceLoadsItself()
    {
        await using var group = await Group.StartAsync(2, maxValueBytes: 0);
        group.AllRedisGone();
        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v1"); };
        await group.Caches[0].GetOrCreateAsync("k", 0, load, OneMinute);
        await group.Caches[1].GetOrCreateAsync("k", 0, load, OneMinute);
        Assert.Equal(2, factoryCalls);
        Assert.DoesNotContain(group.Hub.Sent, m => m.Kind is LeveeInvalidationKind.Loading or LeveeInvalidationKind.Refreshing or LeveeInvalidationKind.Value);
    }

    [Fact]
    public async Task AValueLargerThanTheChannelCarries_IsNotSent()
    {
        await using var group = await Group.StartAsync(2, maxValueBytes: 64);
        group.AllRedisGone();
        var big = new string('x', 200);
        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult(big); };
        await group.Caches[0].GetOrCreateAsync("k", 0, load, OneMinute);
        Assert.DoesNotContain(group.Hub.Sent, m => m.Kind == LeveeInvalidationKind.Value && m.Value.Length > 0);
        Assert.Contains(group.Hub.Sent, m => m.Kind == LeveeInvalidationKind.Value && m.Value.IsEmpty); // "nothing to share": B's callers stop waiting
        await group.Caches[1].GetOrCreateAsync("k", 0, load, OneMinute);
        Assert.Equal(2, factoryCalls);
    }

    [Fact]
    public async Task WhileTheReplicasAnswer_ValuesGoThroughThem_NotThroughTheChannel()
    {
        await using var group = await Group.StartAsync(2, maxValueBytes: 4096);
        foreach (var store in group.Stores)
        {
            store.Mode = FakeL2Mode.Throw; // the master is unreachable; the replicas answer
            store.ReplicaMode = FakeL2Mode.Healthy;
        }

        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v1"); };
        await group.Caches[0].GetOrCreateAsync("k", 0, load, OneMinute);
        Assert.Equal("v1", await group.Caches[1].GetOrCreateAsync("k", 0, load, OneMinute));
        Assert.Equal(1, factoryCalls);
        Assert.DoesNotContain(group.Hub.Sent, m => m.Kind is LeveeInvalidationKind.Loading or LeveeInvalidationKind.Refreshing or LeveeInvalidationKind.Value);
    }

    /// <summary>The replicas connected but their breaker open (they time out): values and announcements go through the
    /// second channel rather than to a publish that fails at once.</summary>
    [Fact]
    public async Task MasterGone_ReplicasBreakerOpen_ValuesGoThroughTheChannel()
    {
        await using var group = await Group.StartAsync(2, maxValueBytes: 4096);
        var (a, b) = (group.Caches[0], group.Caches[1]);
        group.Stores[0].Mode = FakeL2Mode.Down;
        group.Stores[0].ReplicaMode = FakeL2Mode.Throw; // A's replicas connected, failing
        group.Stores[1].Mode = FakeL2Mode.Down;
        group.Stores[1].ReplicaMode = FakeL2Mode.Healthy;
        for (var i = 0; i < 20 && a.ReplicaBreakerState == LeveeBreakerState.Closed; i++)
        {
            await a.GetOrCreateAsync("other" + i, 0, (_, _) => ValueTask.FromResult("db"), OneMinute);
            group.Time.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.NotEqual(LeveeBreakerState.Closed, a.ReplicaBreakerState);
        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v1"); };
        Assert.Equal("v1", await a.GetOrCreateAsync("k", 0, load, OneMinute));
        Assert.Contains(group.Hub.Sent, m => m.Kind == LeveeInvalidationKind.Value && m.Subject == "k");
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, load, OneMinute));
        Assert.Equal(1, factoryCalls);
    }

    /// <summary>An in-memory second channel: delivers every message to every subscriber at once, in order, and records it.</summary>
    private sealed class FakeChannelHub
    {
        private readonly List<Action<LeveeInvalidation>> _subscribers = [];

        public FakeChannelHub(int maxValueBytes) => MaxValueBytes = maxValueBytes;

        public int MaxValueBytes { get; }

        public List<LeveeInvalidation> Sent { get; } = [];

        public ILeveeInvalidationChannel NewChannel() => new Channel(this);

        public void Deliver(LeveeInvalidation message)
        {
            Action<LeveeInvalidation>[] subscribers;
            lock (_subscribers)
            {
                Sent.Add(message);
                subscribers = [.. _subscribers];
            }

            foreach (var subscriber in subscribers)
            {
                subscriber(message);
            }
        }

        private sealed class Channel(FakeChannelHub hub) : ILeveeInvalidationChannel
        {
            public int MaxSharedValueBytes => hub.MaxValueBytes;

            public long? DeliveryEpoch => 1; // in memory: never misses a message

            public ValueTask<bool> PublishAsync(LeveeInvalidation invalidation, CancellationToken cancellationToken = default)
            {
                if (invalidation.Kind is LeveeInvalidationKind.Loading or LeveeInvalidationKind.Refreshing or LeveeInvalidationKind.Value && invalidation.Value.Length > hub.MaxValueBytes)
                {
                    return ValueTask.FromResult(false);
                }

                hub.Deliver(invalidation);
                return ValueTask.FromResult(true);
            }

            public IDisposable Subscribe(Action<LeveeInvalidation> onReceived)
            {
                lock (hub._subscribers)
                {
                    hub._subscribers.Add(onReceived);
                }

                return new Unsubscribe(() => { lock (hub._subscribers) { hub._subscribers.Remove(onReceived); } });
            }
        }

        private sealed class Unsubscribe(Action action) : IDisposable
        {
            public void Dispose() => action();
        }
    }

    /// <summary>N instances on one fake Redis and one fake second channel; each one's degraded-mode refresh waits a different
    /// part of half its 4 s throttle (0.2, 0.6, 1.0, 1.4 s), so a test can let them run one after the other.</summary>
    private sealed class Group : IAsyncDisposable
    {
        public required FakeTimeProvider Time { get; init; }

        public required FakeChannelHub Hub { get; init; }

        public List<LeveeCache> Caches { get; } = [];

        public List<FakeL2Store> Stores { get; } = [];

        public FakeRedis Redis { get; } = new();

        public static async Task<Group> StartAsync(int instances, int maxValueBytes)
        {
            var group = new Group { Time = TestCache.NewTime(), Hub = new FakeChannelHub(maxValueBytes) };
            var redis = group.Redis;
            for (var i = 0; i < instances; i++)
            {
                var store = new FakeL2Store(redis);
                var cache = await TestCache.Ready(TestCache.Create(group.Time, store, o => o.FailSafeThrottleDuration = TimeSpan.FromSeconds(4)));
                cache.AttachChannel(group.Hub.NewChannel());
                var fraction = 0.1 + (0.2 * i);
                cache.DegradedDelayFraction = () => fraction;
                group.Stores.Add(store);
                group.Caches.Add(cache);
            }

            return group;
        }

        /// <summary>Every Redis node gone: the master and the replicas (no Redis channel at all).</summary>
        public void AllRedisGone()
        {
            foreach (var store in Stores)
            {
                store.Mode = FakeL2Mode.Down;
                store.ReplicaMode = FakeL2Mode.Down;
            }
        }

        public async Task RunRefreshesInTurnAsync()
        {
            await TestCache.Bounded(Until(() => Caches.All(c => c.DegradedRefreshesWaiting == 1)), "the refreshes' waits");
            for (var i = 0; i < Caches.Count; i++)
            {
                Time.Advance(TimeSpan.FromMilliseconds(i == 0 ? 250 : 400));
                var cache = Caches[i];
                await TestCache.Bounded(Until(() => cache.DegradedRefreshesActive == 0), $"instance {i}'s refresh");
            }
        }

        private static async Task<bool> Until(Func<bool> condition)
        {
            for (var i = 0; i < 2000 && !condition(); i++)
            {
                await Task.Delay(1);
            }

            return condition();
        }

        public async ValueTask DisposeAsync()
        {
            foreach (var cache in Caches)
            {
                await cache.DisposeAsync();
            }
        }
    }
}
