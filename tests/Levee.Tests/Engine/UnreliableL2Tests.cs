using Levee.Tests.Fakes;
using Microsoft.Extensions.Time.Testing;

namespace Levee.Tests.Engine;

/// <summary>The engine over a fake L2 with a fault switch: a sick Redis never crashes the caller, never poisons the cache, never loses an invalidation.</summary>
public class UnreliableL2Tests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task ValueSetByOneInstance_IsReadFromL2ByAnother()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using var a = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await using var b = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await a.SetAsync("k", "from-a", OneMinute);
        var calls = 0;
        Assert.Equal("from-a", await b.GetOrCreateAsync("k", 0, (_, _) => { calls++; return ValueTask.FromResult("factory"); }, OneMinute));
        Assert.Equal(0, calls);
    }

    [Theory]
    [InlineData(new byte[] { 1, 2, 3 })]
    [InlineData(new byte[] { (byte)'L', (byte)'V', 1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0 })]
    [InlineData(new byte[0])]
    public async Task CorruptBytesInL2_AreAMissAndAWarning_NeverAnException(byte[] garbage)
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        var logger = new CollectingLogger();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, logger: logger));
        l2.Redis.Data["levee:d:0:k"] = garbage;
        Assert.Equal("fresh", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("fresh"), OneMinute));
        Assert.True(logger.Has(LeveeEventIds.L2Corrupt));
        Assert.NotEqual(garbage, l2.Redis.Data["levee:d:0:k"]); // replaced by a valid envelope
    }

    [Fact]
    public async Task ValidEnvelopeWithUndeserializablePayload_IsAMiss()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using var writer = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await using var reader = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await writer.SetAsync("k", "not a number", OneMinute);
        Assert.Equal(9, await reader.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(9), OneMinute));
    }

    [Fact]
    public async Task L2Throwing_FallsBackToFactory_WithoutException()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        l2.Mode = FakeL2Mode.Throw;
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(1), OneMinute));
        await cache.SetAsync("k2", 2, OneMinute);
        Assert.Equal(2, (await cache.TryGetAsync<int>("k2")).Value);
    }

    [Fact]
    public async Task L2Hanging_CallerWaitsOnlyTheBudget_ThenFactoryAnswers()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o => o.L2Timeout = TimeSpan.FromMilliseconds(50)));
        l2.Mode = FakeL2Mode.Hang;
        var pending = cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute).AsTask();
        await LeveeCacheTests.WaitUntil(() => Task.FromResult(l2.Calls > 1));
        Assert.False(pending.IsCompleted); // waiting on the frozen L2 ...
        Assert.Equal("db", await TestCache.AdvanceUntilDone(time, pending, TimeSpan.FromMilliseconds(60), "the read")); // ... only until the budget
    }

    [Theory]
    [InlineData(5)] // opened by the consecutive failures
    [InlineData(0)] // opened by Polly's failure ratio (consecutive trip off)
    public async Task BreakerOpensAfterRepeatedFailures_ThenL2IsSkipped_ThenClosesWhenRedisAnswers(int consecutiveFailures)
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.WithOpenBreaker(time, l2, o => o.BreakerConsecutiveFailures = consecutiveFailures);
        var callsWhenOpen = l2.Calls;
        for (var i = 0; i < 10; i++)
        {
            await cache.GetOrCreateAsync("x" + i, 0, (_, _) => ValueTask.FromResult(i), OneMinute);
        }

        Assert.Equal(callsWhenOpen, l2.Calls); // open: no L2 call at all
        l2.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(2));
        await cache.RunMaintenanceAsync(); // the maintenance's probe: Redis answers, the breaker closes
        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState);
    }

    [Fact]
    public async Task NoCallerIsTheBreakersProbe_TheMaintenanceIs()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.WithOpenBreaker(time, l2);
        l2.Mode = FakeL2Mode.Hang; // a frozen master: a probe would wait the whole L2Timeout
        time.Advance(TimeSpan.FromSeconds(2)); // the break has passed
        var calls = l2.Calls;
        for (var i = 0; i < 10; i++)
        {
            var read = cache.GetOrCreateAsync("after" + i, 0, (_, _) => ValueTask.FromResult(i), OneMinute);
            Assert.True(read.IsCompleted); // no caller waits for Redis: none is let through as the probe
            Assert.Equal(i, await read);
        }

        Assert.Equal(calls, l2.Calls);

        var probe = Task.Run(async () => { await cache.RunMaintenanceAsync(); return true; }); // the probe: one call, which hangs, then times out
        await TestCache.Bounded(Until(() => l2.Calls > calls), "the probe's call");
        await TestCache.AdvanceUntilDone(time, probe, TimeSpan.FromMilliseconds(20), "the probe"); // its budget (50 ms) ends it
        Assert.NotEqual(LeveeBreakerState.Closed, cache.L2BreakerState);

        l2.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(2));
        await cache.RunMaintenanceAsync();
        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState);
    }

    [Fact]
    public async Task AMasterThatStopsAnswering_OpensTheBreakerAfterConsecutiveFailures_ThoughTheWindowIsFullOfSuccesses()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2)); // defaults: ratio 0.5, 10 calls in 2 s, 5 in a row
        for (var i = 0; i < 40; i++)
        {
            await cache.GetOrCreateAsync("ok" + i, 0, (_, _) => ValueTask.FromResult(i), OneMinute); // 40 successful GETs and SETs
        }

        l2.Mode = FakeL2Mode.Throw;
        var readOnly = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), Flags = Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableDistributedCacheWrite };
        for (var i = 0; i < 8; i++)
        {
            await cache.GetOrCreateAsync("burst" + i, 0, (_, _) => ValueTask.FromResult(i), readOnly); // failed together, right after successes
        }

        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState); // a burst timing out together is no frozen node

        time.Advance(TimeSpan.FromMilliseconds(250)); // no success for 5 x L2Timeout
        var calls = l2.Calls;
        for (var i = 0; i < 5; i++)
        {
            await cache.GetOrCreateAsync("x" + i, 0, (_, _) => ValueTask.FromResult(i), readOnly);
        }

        Assert.Equal(1, l2.Calls - calls); // the first failure of the quiet stretch trips it (8 in a row already)
        Assert.Equal(LeveeBreakerState.Open, cache.L2BreakerState); // the sampling window alone (9 failures of 89 calls) would not open it
        await cache.GetOrCreateAsync("y", 0, (_, _) => ValueTask.FromResult(0), OneMinute);
        Assert.Equal(1, l2.Calls - calls); // skipped

        l2.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(1));
        await cache.RunMaintenanceAsync();
        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState); // closed by the maintenance's probe
    }

    [Fact]
    public async Task ABreakerThatOpensAgainSoonAfterClosing_WaitsTwiceAsLong_UpTo8Times_AndForgetsItAfterStayingClosed()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.WithOpenBreaker(time, l2); // open, break 1 s
        var l1Only = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), Flags = Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableDistributedCacheWrite };
        var n = 0;

        // a master that answers the probe, then fails again at once (stalled most of the time): each time the break doubles
        l2.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(1));
        await cache.RunMaintenanceAsync();
        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState);
        foreach (var expected in new[] { 2, 4, 8, 8 })
        {
            l2.Mode = FakeL2Mode.Throw;
            for (var i = 0; i < 5; i++)
            {
                await cache.GetOrCreateAsync("f" + n++, 0, (_, _) => ValueTask.FromResult(0), l1Only);
            }

            Assert.Equal(LeveeBreakerState.Open, cache.L2BreakerState);
            Assert.Equal(TimeSpan.FromSeconds(expected), cache.L2CurrentBreak);
            l2.Mode = FakeL2Mode.Healthy;
            time.Advance(TimeSpan.FromSeconds(expected) - TimeSpan.FromMilliseconds(100));
            await cache.RunMaintenanceAsync();
            Assert.Equal(LeveeBreakerState.Open, cache.L2BreakerState); // not probed before the doubled break
            time.Advance(TimeSpan.FromMilliseconds(100));
            await cache.RunMaintenanceAsync();
            Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState);
        }

        // closed and left alone past the flap window: the next opening breaks for the option's 1 s again
        time.Advance(TimeSpan.FromSeconds(11));
        l2.Mode = FakeL2Mode.Throw;
        for (var i = 0; i < 5; i++)
        {
            await cache.GetOrCreateAsync("g" + i, 0, (_, _) => ValueTask.FromResult(0), l1Only);
        }

        l2.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(1));
        await cache.RunMaintenanceAsync();
        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState);
    }

    [Fact]
    public async Task AFailureRightAfterTheProbeClosedTheBreaker_OpensItAgainAtOnce_ButNotOnceTheSamplingWindowHasPassed()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.WithOpenBreaker(time, l2); // open, break 1 s; sampling window 2 s
        var l1Only = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), Flags = Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableDistributedCacheWrite };
        l2.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(1));
        await cache.RunMaintenanceAsync();
        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState);

        // on probation: the node answered the probe and fails the next call (a master stalled between its answers)
        l2.Mode = FakeL2Mode.Throw;
        var calls = l2.Calls;
        for (var i = 0; i < 5; i++)
        {
            await cache.GetOrCreateAsync("p" + i, 0, (_, _) => ValueTask.FromResult(0), l1Only);
        }

        Assert.Equal(1, l2.Calls - calls); // one caller paid for it, not five
        Assert.Equal(LeveeBreakerState.Open, cache.L2BreakerState);
        Assert.Equal(TimeSpan.FromSeconds(2), cache.L2CurrentBreak); // and it flapped: flap damping doubles the break

        // closed again and past the sampling window: one failure is no reason to open (5 in a row with no success are)
        l2.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(2));
        await cache.RunMaintenanceAsync();
        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState);
        await cache.GetOrCreateAsync("ok", 0, (_, _) => ValueTask.FromResult(0), l1Only);
        time.Advance(TimeSpan.FromSeconds(2));
        l2.Mode = FakeL2Mode.Throw;
        await cache.GetOrCreateAsync("q", 0, (_, _) => ValueTask.FromResult(0), l1Only);
        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState);
    }

    private static async Task<bool> Until(Func<bool> condition)
    {
        for (var i = 0; i < 2000 && !condition(); i++)
        {
            await Task.Delay(1);
        }

        return condition();
    }

    [Fact]
    public async Task RemoveWhileL2Down_IsJournaled_AndReplayedWhenL2IsBack()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        await cache.SetAsync("k", "old", OneMinute);
        Assert.True(l2.Redis.Data.ContainsKey("levee:d:0:k"));
        l2.Mode = FakeL2Mode.Throw;
        await cache.RemoveAsync("k");
        Assert.Equal(1, cache.PendingInvalidations);
        Assert.True(l2.Redis.Data.ContainsKey("levee:d:0:k"));

        l2.Mode = FakeL2Mode.Healthy;
        // while the removal is pending, this instance never reads the key from L2
        Assert.Equal("new", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("new"), OneMinute));
        await cache.RunMaintenanceAsync();
        Assert.Equal(0, cache.PendingInvalidations);
    }

    /// <summary>Two instances on one fake Redis; "k" = "v1" was set by A and read by B (in B's L1 now). The caller disposes A and B.</summary>
    private static async Task<(FakeTimeProvider Time, FakeRedis Redis, FakeL2Store StoreA, FakeL2Store StoreB, LeveeCache A, LeveeCache B)> TwoInstancesWithKInBsL1Async()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var storeA = new FakeL2Store(redis);
        var storeB = new FakeL2Store(redis);
        var a = await TestCache.Ready(TestCache.Create(time, storeA));
        var b = await TestCache.Ready(TestCache.Create(time, storeB));
        await a.SetAsync("k", "v1", OneMinute);
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
        return (time, redis, storeA, storeB, a, b);
    }

    [Fact]
    public async Task TwoInstances_RemoveWhileRedisFrozen_OtherNeverServesRemovedValueAfterRecovery()
    {
        var (_, _, storeA, _, a, b) = await TwoInstancesWithKInBsL1Async();
        await using var disposeA = a;
        await using var disposeB = b;

        storeA.Mode = FakeL2Mode.Throw;
        await a.RemoveAsync("k"); // neither L2 nor the backplane are reachable
        storeA.Mode = FakeL2Mode.Healthy;
        await a.RunMaintenanceAsync(); // recovery: replay removes from L2 and re-publishes

        var calls = 0;
        Assert.Equal("v2", await b.GetOrCreateAsync("k", 0, (_, _) => { calls++; return ValueTask.FromResult("v2"); }, OneMinute));
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task JournalOverflow_BumpsGeneration_AllOlderL2EntriesInvisibleToEveryInstance()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var storeA = new FakeL2Store(redis);
        await using var a = await TestCache.Ready(TestCache.Create(time, storeA, o => o.InvalidationJournalCapacity = 3));
        await using var b = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        for (var i = 0; i < 5; i++)
        {
            await a.SetAsync("k" + i, "v" + i, OneMinute);
            Assert.Equal("v" + i, await b.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
        }

        storeA.Mode = FakeL2Mode.Throw;
        for (var i = 0; i < 5; i++)
        {
            await a.RemoveAsync("k" + i);
        }

        Assert.Equal(1, a.PendingInvalidations); // overflowed: only "bump the generation" is remembered
        storeA.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(1)); // 5 failed calls in a row opened A's breaker: its probe waits out the break
        await a.RunMaintenanceAsync();
        Assert.Equal(1, redis.Numbers["levee:generation"]);
        Assert.Equal(0, a.PendingInvalidations);

        await b.RunMaintenanceAsync(); // B re-reads the generation (also told by the backplane)
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal("db", await b.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
        }
    }

    [Fact]
    public async Task AReplayedRemoval_CarriesItsOwnTime_SoAValueLoadedSinceStaysInL1()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var storeA = new FakeL2Store(redis);
        var storeB = new FakeL2Store(redis);
        await using var a = await TestCache.Ready(TestCache.Create(time, storeA));
        await using var b = await TestCache.Ready(TestCache.Create(time, storeB));
        await a.SetAsync("k", "old", OneMinute);
        Assert.Equal("old", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));

        storeA.Mode = FakeL2Mode.Throw; // A can't reach Redis: its removal is journaled (B does not hear of it yet)
        await a.RemoveAsync("k");
        Assert.Equal(1, a.PendingInvalidations);
        time.Advance(TimeSpan.FromSeconds(2));
        b.ClearLocal(); // B reloads the key after the removal (as after its own L1 lifetime): the changed data
        var loads = 0;
        Assert.Equal("new", await b.GetOrCreateAsync("k", 0, (_, _) => { loads++; return ValueTask.FromResult("new"); }, new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), Flags = Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableDistributedCacheRead | Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableDistributedCacheWrite }));
        Assert.Equal(1, loads);

        time.Advance(TimeSpan.FromSeconds(2));
        storeA.Mode = FakeL2Mode.Healthy;
        await a.RunMaintenanceAsync(); // A replays its removal: DEL, and the backplane message with the removal's own time
        Assert.Equal(0, a.PendingInvalidations);
        Assert.Equal("new", await b.GetOrCreateAsync("k", 0, (_, _) => { loads++; return ValueTask.FromResult("db2"); }, OneMinute));
        Assert.Equal(1, loads); // kept: loaded after the removal (the replay sent with its own time made every instance reload)
    }

    [Fact]
    public async Task Backplane_RemoveOnOneInstance_DropsL1OnTheOther_OwnMessagesIgnored()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using var a = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await using var b = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await a.SetAsync("k", "v1", OneMinute);
        await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("x"), OneMinute);
        await a.RemoveAsync("k");
        Assert.False((await b.TryGetAsync<string>("k")).Found);
    }

    [Fact]
    public async Task MasterUnreachable_RemovalReachesOtherInstancesThroughTheReplicas_AndIsStillJournaled()
    {
        var (time, redis, storeA, storeB, a, b) = await TwoInstancesWithKInBsL1Async();
        await using var disposeA = a;
        await using var disposeB = b;

        foreach (var store in new[] { storeA, storeB })
        {
            store.Mode = FakeL2Mode.Throw; // the master is gone, the replicas are not (the incident)
            store.ReplicaMode = FakeL2Mode.Healthy;
        }

        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k"); // the database changed
        Assert.Equal(1, a.PendingInvalidations); // still journaled for the master
        Assert.Contains(redis.Published, m => m.Contains("|R|", StringComparison.Ordinal) && m.EndsWith("|k", StringComparison.Ordinal));

        // B dropped its L1 copy, and the replica's (older) entry is not served either: B asks its factory
        Assert.Equal("v2", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v2"), OneMinute));
    }

    [Fact]
    public async Task TagTimeUnreadable_EntryNotUsed_ButNotTakenAsInvalidatedNow()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var storeB = new FakeL2Store(redis);
        await using var a = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await using var b = await TestCache.Ready(TestCache.Create(time, storeB));
        await a.SetAsync("k", "tagged", OneMinute, ["t"]);

        storeB.Mode = FakeL2Mode.Throw; // B starts while Redis is unreachable: nothing about tag "t" can be read
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), LocalCacheExpiration = TimeSpan.FromSeconds(1) }));
        storeB.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(2)); // B's own L1 copy expired
        await b.RunMaintenanceAsync();
        // Redis is back: the L2 entry (tag never invalidated) is used again, not rejected forever
        var calls = 0;
        Assert.Equal("tagged", await b.GetOrCreateAsync("k", 0, (_, _) => { calls++; return ValueTask.FromResult("db2"); }, OneMinute));
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task TagRemovedOnOneInstance_L2EntryWithTagInvisibleToAnother()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using var a = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await using var b = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis), o => o.TagCheckInterval = TimeSpan.Zero));
        await a.SetAsync("k", "tagged", OneMinute, ["t"]);
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveByTagAsync("t");
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
    }

    [Fact]
    public async Task L2Unavailable_ExpiredL1Entry_ServedStaleAndRefreshedOncePerInterval()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o => o.FailSafeThrottleDuration = TimeSpan.FromSeconds(5)));
        await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(1), OneMinute);
        l2.Mode = FakeL2Mode.Down;
        time.Advance(TimeSpan.FromMinutes(2));
        var calls = 0;
        for (var i = 0; i < 20; i++)
        {
            Assert.True(await cache.GetOrCreateAsync("k", 0, (_, _) => { Interlocked.Increment(ref calls); return ValueTask.FromResult(2); }, OneMinute) is 1 or 2);
        }

        await LeveeCacheTests.WaitUntil(() => Task.FromResult(Volatile.Read(ref calls) >= 1));
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task OversizedValue_StaysInL1_NotWrittenToL2()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        var logger = new CollectingLogger();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o => o.MaximumPayloadBytes = 100, logger));
        await cache.SetAsync("big", new string('x', 1000), OneMinute);
        Assert.Empty(l2.Redis.Data);
        Assert.True(logger.Has(LeveeEventIds.PayloadTooLarge));
        Assert.True((await cache.TryGetAsync<string>("big")).Found);
    }

    [Fact]
    public async Task SerializerThrows_ValueKeptInL1Only_AndLogged()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        var logger = new CollectingLogger();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, logger: logger));
        var cyclic = new Node();
        cyclic.Next = cyclic; // System.Text.Json throws on cycles
        Assert.Same(cyclic, await cache.GetOrCreateAsync("c", cyclic, (n, _) => ValueTask.FromResult(n), OneMinute));
        Assert.Empty(l2.Redis.Data);
        Assert.True(logger.Has(LeveeEventIds.SerializeFailed));
    }

    [Fact]
    public async Task MasterUnreachable_ReadsServedFromReplica_FactoryNotCalled()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var writer = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(l2.Redis)));
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o => o.BreakerMinimumThroughput = 5));
        for (var i = 0; i < 20; i++)
        {
            await writer.SetAsync("k" + i, i, OneMinute);
        }

        l2.Mode = FakeL2Mode.Throw; // master gone, replicas alive (the incident)
        l2.ReplicaMode = FakeL2Mode.Healthy;
        var calls = 0;
        for (var round = 0; round < 3; round++)
        {
            for (var i = 0; i < 20; i++)
            {
                Assert.Equal(i, await cache.GetOrCreateAsync("k" + i, 0, (_, _) => { calls++; return ValueTask.FromResult(-1); }, new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), LocalCacheExpiration = TimeSpan.FromMilliseconds(1) }));
            }

            time.Advance(TimeSpan.FromMilliseconds(5));
        }

        Assert.Equal(0, calls);
        Assert.Equal(LeveeBreakerState.Open, cache.L2BreakerState); // master breaker open: reads go straight to the replica
        Assert.True(l2.ReplicaCalls >= 60);
    }

    [Fact]
    public async Task MasterSwitchOrReconnect_DropsL1_BecauseInvalidationsMayHaveBeenMissed()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        var l1Only = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), Flags = Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableDistributedCacheWrite };
        var calls = 0;
        ValueTask<int> Factory(int s, CancellationToken _) { calls++; return ValueTask.FromResult(calls); }
        await cache.GetOrCreateAsync("k", 0, Factory, l1Only);
        await cache.GetOrCreateAsync("k", 0, Factory, l1Only);
        Assert.Equal(1, calls);

        l2.RaiseFailover();
        await cache.GetOrCreateAsync("k", 0, Factory, l1Only);
        Assert.Equal(2, calls);

        l2.RaiseConnected(); // connected without a loss before: nothing dropped
        await cache.GetOrCreateAsync("k", 0, Factory, l1Only);
        Assert.Equal(2, calls);

        l2.RaiseConnectionLost();
        l2.RaiseConnected(); // a reconnect after a loss: dropped
        await cache.GetOrCreateAsync("k", 0, Factory, l1Only);
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task ValueReadFromReplica_KeptInL1OnlyForTheThrottleDuration()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var writer = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(l2.Redis)));
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o => o.FailSafeThrottleDuration = TimeSpan.FromSeconds(5)));
        await writer.SetAsync("k", 1, OneMinute);
        l2.Mode = FakeL2Mode.Throw;
        l2.ReplicaMode = FakeL2Mode.Healthy;
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(-1), OneMinute));
        var replicaCalls = l2.ReplicaCalls;
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(-1), OneMinute));
        Assert.Equal(replicaCalls, l2.ReplicaCalls); // still in L1
        time.Advance(TimeSpan.FromSeconds(3));
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(-1), OneMinute));
        Assert.True(l2.ReplicaCalls > replicaCalls); // asked the replica again after 5 s, not after the 1 minute expiration
    }

    public sealed class Node
    {
        public Node? Next { get; set; }
    }
}
