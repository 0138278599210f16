using Levee.Internal;
using Levee.Tests.Fakes;

namespace Levee.Tests.Engine;

/// <summary>
/// Changes made while Redis is away are never forgotten, and nothing a change replaced comes back: clear-all and SetAsync
/// with Redis down, the journal during its own replay, callers that arrive after a removal while an older load runs,
/// tag records that expire, and the bookkeeping that makes this possible staying bounded.
/// </summary>
public class NothingForgottenTests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task ClearAll_WhileRedisDown_IsJournaled_AndBumpsTheGenerationWhenRedisIsBack()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var storeA = new FakeL2Store(redis);
        await using var a = await TestCache.Ready(TestCache.Create(time, storeA));
        await using var b = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await a.SetAsync("k", "v1", OneMinute);

        storeA.Mode = FakeL2Mode.Throw;
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveByTagAsync("*"); // neither the generation bump nor the message can go out
        Assert.Equal(1, a.PendingInvalidations);

        storeA.Mode = FakeL2Mode.Healthy;
        await a.RunMaintenanceAsync();
        Assert.Equal(0, a.PendingInvalidations);
        Assert.Equal(1, redis.Numbers["levee:generation"]);

        // B (its L1 empty) does not read v1 from Redis any more
        await b.RunMaintenanceAsync();
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
    }

    [Fact]
    public async Task SetAsync_WhileRedisDown_TheReplacedValueIsRemovedFromRedisWhenItIsBack()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var storeA = new FakeL2Store(redis);
        await using var a = await TestCache.Ready(TestCache.Create(time, storeA));
        await a.SetAsync("k", "v1", OneMinute);

        storeA.Mode = FakeL2Mode.Throw;
        await a.SetAsync("k", "v2", OneMinute); // the SET cannot reach Redis: v1 is still there
        Assert.Equal(1, a.PendingInvalidations);
        Assert.Equal("v2", await a.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute)); // this instance: its L1

        storeA.Mode = FakeL2Mode.Healthy;
        await a.RunMaintenanceAsync();
        Assert.Equal(0, a.PendingInvalidations);
        await using var b = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute)); // never v1
    }

    [Fact]
    public async Task SetAsync_ValueTooLargeForRedis_TheReplacedValueIsRemovedFromRedisAtOnce()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using var a = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis), o => o.MaximumPayloadBytes = 1_000));
        await using var b = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await a.SetAsync("k", "small", OneMinute);
        await a.SetAsync("k", new string('x', 5_000), OneMinute); // stays in A's L1 only

        Assert.Equal(0, a.PendingInvalidations);
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute)); // never "small"
    }

    [Fact]
    public void Journal_AnEntryAddedAgainDuringItsReplay_StaysForTheNextReplay()
    {
        var journal = new InvalidationJournal(capacity: 10);
        journal.AddKey("k");
        journal.AddKey("other");
        var (keys, tags, overflow) = journal.Snapshot();
        journal.AddKey("k"); // removed again while the replay of the first removal runs
        journal.Complete(keys, tags, overflow);
        Assert.Equal(1, journal.Count);
        Assert.True(journal.ContainsKey("k"));
        Assert.False(journal.ContainsKey("other"));

        journal.AddEverything();
        var snapshot = journal.Snapshot();
        journal.AddEverything(); // cleared again during the replay of the first clear
        journal.Complete(snapshot.Keys, snapshot.Tags, snapshot.OverflowVersion);
        Assert.True(journal.Overflowed);
        snapshot = journal.Snapshot();
        journal.Complete(snapshot.Keys, snapshot.Tags, snapshot.OverflowVersion);
        Assert.True(journal.IsEmpty);
    }

    [Fact]
    public void Journal_OverflowedAndReplaying_ARemovalJournaledMeanwhile_IsReplayedNext()
    {
        var journal = new InvalidationJournal(capacity: 2);
        journal.AddKey("a");
        journal.AddKey("b");
        Assert.False(journal.AddKey("c")); // overflow: the replay will bump the generation
        var replay = journal.Snapshot(); // the replay starts (its INCR is on the way)
        Assert.True(journal.AddKey("d")); // a removal that failed meanwhile
        journal.Complete(replay.Keys, replay.Tags, replay.OverflowVersion); // the INCR answered

        // the bump was sent before "d" was removed: another instance may have written d under the new generation since.
        // It used to be dropped ("covered by the overflow"); it is replayed next, as a removal (not one more bump)
        Assert.False(journal.Overflowed);
        Assert.True(journal.ContainsKey("d"), "the removal journaled during the overflow's replay was forgotten");

        // with no room left, an addition during an overflow's replay extends the overflow instead
        journal.AddEverything();
        journal.AddKey("e"); // before the replay: covered by its bump, not kept
        var full = journal.Snapshot();
        journal.AddKey("f");
        journal.AddKey("g"); // f and g fill the journal
        journal.AddKey("h"); // no room: the overflow must outlive the replay under way
        journal.Complete(full.Keys, full.Tags, full.OverflowVersion);
        Assert.True(journal.Overflowed);
        Assert.False(journal.ContainsKey("e"));
    }

    [Fact]
    public async Task ACallerAfterARemoval_DoesNotJoinALoadThatStartedBeforeIt()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = cache.GetOrCreateAsync("k", 0, async (_, _) =>
        {
            started.SetResult();
            await release.Task;
            return "old"; // read from the database before the change
        }, OneMinute).AsTask();
        await started.Task;

        await cache.RemoveAsync("k"); // the row changed; the removal has completed
        var calls = 0;
        var second = cache.GetOrCreateAsync("k", 0, (_, _) => { calls++; return ValueTask.FromResult("new"); }, OneMinute).AsTask();
        release.SetResult();

        Assert.Equal("old", await TestCache.Bounded(first, "the first load")); // it began before the removal: it may see the old row
        Assert.Equal("new", await TestCache.Bounded(second, "the caller after the removal"));
        Assert.Equal(1, calls);
        Assert.Equal("new", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute)); // and "old" is not cached
    }

    [Fact]
    public async Task CallersDuringALoad_WithoutAChange_StillShareIt()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        var callers = Enumerable.Range(0, 50).Select(_ => cache.GetOrCreateAsync("k", 0, async (_, _) =>
        {
            Interlocked.Increment(ref calls);
            await release.Task;
            return "v";
        }, OneMinute).AsTask()).ToArray();
        release.SetResult();
        Assert.All(await TestCache.Bounded(Task.WhenAll(callers), "the callers"), v => Assert.Equal("v", v));
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task WarmUp_AnL2ValueWhoseReplyArrivesAfterARemoval_IsNotKeptInL1()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        await cache.SetAsync("k", "old", OneMinute);
        cache.ClearLocal();
        var reply = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        l2.GetReplyGate = reply;
        var warming = cache.WarmUpEntryAsync("k", _ => ValueTask.FromResult("db"), OneMinute, null, CancellationToken.None); // GET ran: "old"
        l2.GetReplyGate = null;

        await cache.RemoveAsync("k");
        reply.SetResult();
        await TestCache.Bounded(warming, "the warm-up entry");
        var calls = 0;
        Assert.Equal("new", await cache.GetOrCreateAsync("k", 0, (_, _) => { calls++; return ValueTask.FromResult("new"); }, OneMinute));
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task ATaggedEntry_NeverOutlivesTheRecordOfItsTagsInvalidations()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        var month = new LeveeEntryOptions { Expiration = TimeSpan.FromDays(30) };
        await cache.SetAsync("tagged", "v", month, ["t"]);
        await cache.SetAsync("untagged", "v", month);

        Assert.True(l2.Redis.Ttls["levee:d:0:tagged"] <= TimeSpan.FromDays(7));
        Assert.True(l2.Redis.Ttls["levee:d:0:untagged"] >= TimeSpan.FromDays(30));
    }

    [Fact]
    public async Task WithoutRedis_ChangeMarksAndTagRecords_AreForgotten_AndAForgottenTagInvalidationStillHolds()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var month = new LeveeEntryOptions { Expiration = TimeSpan.FromDays(30) };
        await cache.SetAsync("tagged", "v", month, ["t"]);
        time.Advance(TimeSpan.FromMilliseconds(5));
        await cache.RemoveByTagAsync("t");
        for (var i = 0; i < 100; i++)
        {
            await cache.RemoveAsync("k" + i);
        }

        Assert.True(cache.LocalStateCount >= 101);
        for (var i = 0; i < 8 * 24; i++)
        {
            time.Advance(TimeSpan.FromHours(1)); // the maintenance timer runs
        }

        await cache.RunMaintenanceAsync();
        Assert.Equal(0, cache.LocalStateCount);
        Assert.False((await cache.TryGetAsync<string>("tagged")).Found); // invalidated before its tag record was forgotten
    }

    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task TwoChangesOfAKey_TheOlderEndsLast_ALoadThatPredatesTheNewerIsNotCached(bool newerIsSet)
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var l2 = new FakeL2Store(redis);
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        var lateReply = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        l2.RemoveReplyGates.Enqueue(lateReply);
        var older = cache.RemoveAsync("k").AsTask(); // change 1: its DEL is done, its reply is late
        Assert.False(older.IsCompleted);

        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var load = cache.GetOrCreateAsync("k", 0, async (_, _) => { started.SetResult(); return await release.Task; }, OneMinute).AsTask();
        await TestCache.Bounded(started.Task.ContinueWith(_ => 0, TaskScheduler.Default), "the factory starts"); // it reads the row as after change 1

        if (newerIsSet)
        {
            await cache.SetAsync("k", "set-value", OneMinute); // change 2
        }
        else
        {
            await cache.RemoveAsync("k"); // change 2
        }

        lateReply.SetResult();
        await TestCache.Bounded(older.ContinueWith(_ => 0, TaskScheduler.Default), "the older removal"); // change 1 ends last
        release.SetResult("read-before-change-2");
        Assert.Equal("read-before-change-2", await TestCache.Bounded(load, "the load")); // its caller asked before change 2
        await LeveeCacheTests.WaitUntil(() => Task.FromResult(cache.FlightCount == 0)); // its L2 write, if any, is done

        // the older removal's end used to erase the newer change's mark: the load's value went into L1 and over Redis
        var expected = newerIsSet ? "set-value" : "db";
        await using var other = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        Assert.Equal(expected, await other.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
        Assert.Equal(expected, await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
    }

    [Fact]
    public async Task ASlowFactoryLeftBehindByTheSoftTimeout_OutlivingTheMinuteAChangeMarkIsKept_StillDoesNotStoreItsValue()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o => o.FactoryHardTimeout = Timeout.InfiniteTimeSpan);
        await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v1"), new LeveeEntryOptions { Expiration = TimeSpan.FromSeconds(1) });
        time.Advance(TimeSpan.FromSeconds(2)); // v1 expired, inside the fail-safe window
        var tenMinutes = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(10) };
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = cache.GetOrCreateAsync("k", 0, async (_, _) => { started.SetResult(); return await release.Task; }, tenMinutes).AsTask();
        await started.Task;
        time.Advance(TimeSpan.FromSeconds(1)); // the soft timeout: v1 served, the factory goes on in the background
        Assert.Equal("v1", await TestCache.Bounded(first, "the soft timeout"));

        await cache.RemoveAsync("k"); // the row changes while the slow factory still runs
        time.Advance(TimeSpan.FromSeconds(61));
        await cache.RunMaintenanceAsync(); // change marks older than a minute are forgotten, but not this one: its reader still runs
        release.SetResult("read-before-the-removal");
        await LeveeCacheTests.WaitUntil(() => Task.FromResult(cache.RunningFactories == 0));

        // its value is stored (or not) just after the factory ends, on the thread pool: read for a while, so that a store
        // that comes late (it would overwrite the "db" the first read put in L1) is seen too
        var watch = System.Diagnostics.Stopwatch.StartNew();
        do
        {
            Assert.Equal("db", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), tenMinutes));
            await Task.Delay(20);
        }
        while (watch.Elapsed < TimeSpan.FromSeconds(1));
    }

    [Fact]
    public async Task RemovedWhileTheFlightWaitsForItsTagRead_TheFailSafeDoesNotPutTheRemovedValueBack()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store(new FakeRedis());
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        await cache.SetAsync("k", "v1", OneMinute, ["t"]);
        cache.ClearLocal(); // not in L1 (a restart, an eviction): the stale value comes from L2
        time.Advance(TimeSpan.FromMinutes(2)); // its L2 entry expired, inside the fail-safe window
        var entered = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        l2.NumbersGates.Enqueue((entered, release));
        var first = cache.GetOrCreateAsync<int, string>("k", 0, (_, _) => throw new InvalidOperationException("db down"), OneMinute, ["t"]).AsTask();
        await TestCache.Bounded(entered.Task.ContinueWith(_ => 0, TaskScheduler.Default), "the tag read");
        await cache.RemoveAsync("k"); // completes while the flight's L2 read waits for the tag's time
        release.SetResult();
        Assert.Equal("v1", await TestCache.Bounded(first, "the load")); // its request began before the removal

        // the load took its sequence position after the read: the removal looked older than it, and v1 went back into L1
        Assert.Equal("v2", await cache.GetOrCreateAsync<int, string>("k", 0, (_, _) => ValueTask.FromResult("v2"), OneMinute, ["t"]));
    }

    [Fact]
    public async Task ClearAll_WhileALoadRuns_ItsValueGoesNeitherIntoTheNewGenerationNorToAnotherInstance()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using var a = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        await using var b = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var load = a.GetOrCreateAsync("k", 0, async (_, _) => { started.SetResult(); return await release.Task; }, OneMinute).AsTask();
        await started.Task;
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveByTagAsync("*"); // the data changed: everything invalidated, generation 0 -> 1
        await b.RunMaintenanceAsync(); // B follows the generation

        release.SetResult("old"); // read before the change
        Assert.Equal("old", await TestCache.Bounded(load, "the load"));
        await LeveeCacheTests.WaitUntil(() => Task.FromResult(a.FlightCount == 0));
        Assert.False(redis.Data.ContainsKey("levee:d:1:k"), "the load's value was written into the new generation");
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
        Assert.Equal("db", await a.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
    }

    [Fact]
    public async Task ClearAll_SentThroughTheReplicas_AnotherInstanceNoLongerTakesTheReplicasOlderEntries()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await a.SetAsync("k", "v1", OneMinute);
        await a.SetAsync("k2", "v1", OneMinute);
        la.Mode = FakeL2Mode.Throw; // the master is unreachable; the replicas answer
        lb.Mode = FakeL2Mode.Throw;
        time.Advance(TimeSpan.FromMilliseconds(5));

        await a.RemoveAsync("k2"); // a single key: B learns it through the replicas and skips their older entry
        Assert.Equal("db", await b.GetOrCreateAsync("k2", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));

        await a.RemoveByTagAsync("*");
        Assert.Contains(redis.Published, m => m.Contains("|C|", StringComparison.Ordinal));
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute)); // was the replica's v1
    }

    private static readonly LeveeEntryOptions TwoDays = new() { Expiration = TimeSpan.FromDays(2) };

    /// <summary>Issue 19: a removal learnt through the replicas while the master is unreachable must hold for as long as the
    /// fault lasts (the replicas keep the removed value until the journaled DEL reaches the master), not a minute.</summary>
    [Fact]
    public async Task RemovalDuringAMasterOutage_StillHoldsAfterHoursOfFault_OnAnotherInstanceThatNeverReadTheKey()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await a.SetAsync("k", "v1", TwoDays);
        la.Mode = FakeL2Mode.Throw; // the master is unreachable for hours; the replicas keep answering with what they hold
        lb.Mode = FakeL2Mode.Throw;
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k"); // journaled; B hears of it through the replicas
        Assert.Equal(1, a.PendingInvalidations);

        var factoryCalls = 0;
        for (var hour = 0; hour < 6; hour++)
        {
            for (var minute = 0; minute < 60; minute++)
            {
                time.Advance(TimeSpan.FromMinutes(1)); // the maintenance timers run (and prune what they may)
            }

            await b.RunMaintenanceAsync();
            b.ClearLocal(); // what B loaded from the database earlier leaves its L1 (expiry, eviction): B reads L2 again
            var read = await b.GetOrCreateAsync("k", 0, (_, _) => { factoryCalls++; return ValueTask.FromResult("db"); }, OneMinute);
            Assert.Equal("db", read); // never the replica's v1, which the removal replaced
        }

        Assert.Equal(6, factoryCalls);
        Assert.Equal("v1", await lb.GetFromReplicaAsync("levee:d:0:k") is { IsNull: false } ? "v1" : null); // the replica still holds it
    }

    [Fact]
    public async Task RemovalDuringAMasterOutage_IsForgottenOnceTheMasterNoLongerHoldsTheRemovedValue()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await pair.RemovedWhileTheMasterIsAwayAsync(FakeL2Mode.Throw, TwoDays);
        time.Advance(TimeSpan.FromHours(1));
        await b.RunMaintenanceAsync();
        Assert.Equal(1, b.LocalStateCount); // kept while the master is away

        la.Mode = FakeL2Mode.Healthy; // the master is back: A replays its DEL (and tells B through the master)
        lb.Mode = FakeL2Mode.Healthy;
        time.Advance(TimeSpan.FromSeconds(5)); // the breakers' break ends
        await a.RunMaintenanceAsync();
        Assert.Equal(0, a.PendingInvalidations);
        Assert.False(redis.Data.ContainsKey("levee:d:0:k"));
        time.Advance(TimeSpan.FromMinutes(2));
        await b.RunMaintenanceAsync();
        Assert.Equal(0, b.LocalStateCount); // bounded: forgotten once Redis itself no longer holds the removed value
    }

    [Fact]
    public async Task RemovalDuringAMasterOutage_ItsIssuerGoneBeforeTheMasterCameBack_AnotherInstanceDeletesTheRemovedValue()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await pair.RemovedWhileTheMasterIsAwayAsync(FakeL2Mode.Throw, TwoDays);
        await a.DisposeAsync(); // the instance that removed the key is gone, its journal with it

        time.Advance(TimeSpan.FromHours(1));
        lb.Mode = FakeL2Mode.Healthy; // the master is back, still holding v1
        time.Advance(TimeSpan.FromSeconds(5)); // the breaker's break ends
        await b.RunMaintenanceAsync();
        Assert.False(redis.Data.ContainsKey("levee:d:0:k")); // B knew of the removal: the master no longer holds the removed value
        var factoryCalls = 0;
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, (_, _) => { factoryCalls++; return ValueTask.FromResult("db"); }, OneMinute));
        Assert.Equal(1, factoryCalls);
        time.Advance(TimeSpan.FromMinutes(2));
        await b.RunMaintenanceAsync();
        Assert.Equal(0, b.LocalStateCount);
    }

    /// <summary>Issue 19: while the master is unreachable, a key changed on one instance is loaded once, not once per instance.</summary>
    [Fact]
    public async Task MasterUnreachable_AValueLoadedOnOneInstance_IsServedByAnotherWithoutAFactoryCall()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await a.SetAsync("k", "v1", OneMinute);
        la.Mode = FakeL2Mode.Throw; // the master is unreachable; the replicas answer
        lb.Mode = FakeL2Mode.Throw;
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k"); // the row changed

        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v2"); };
        Assert.Equal("v2", await a.GetOrCreateAsync("k", 0, load, OneMinute));
        Assert.Equal(1, b.SharedCount); // A's value reached B through the replicas
        Assert.Equal("v2", await b.GetOrCreateAsync("k", 0, load, OneMinute));
        Assert.Equal(1, factoryCalls);

        // a removal after it: B drops the shared value and never serves it again
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k");
        Assert.Equal(0, b.SharedCount);
        Assert.Equal("v3", await b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v3"), OneMinute));

        // the master is back: the shared values are dropped (Redis is the shared copy again)
        la.Mode = FakeL2Mode.Healthy;
        lb.Mode = FakeL2Mode.Healthy;
        Assert.Equal(1, a.SharedCount); // B's v3, shared with A
        time.Advance(TimeSpan.FromSeconds(5));
        await a.RunMaintenanceAsync();
        Assert.Equal(0, a.SharedCount);
    }

    /// <summary>Issue 19: an entry that expires while the master is unreachable is loaded from the factory once across instances.</summary>
    [Fact]
    public async Task MasterUnreachable_AnEntryExpiringOnEveryInstance_IsLoadedOnceAcrossInstances()
    {
        var time = TestCache.NewTime();
        var (caches, stores) = await FourInstancesAsync(time);
        try
        {
            await caches[0].SetAsync("k", "v1", OneMinute);
            foreach (var cache in caches)
            {
                Assert.Equal("v1", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
            }

            stores.ForEach(s => s.Mode = FakeL2Mode.Down); // the master is gone; the replicas keep answering
            time.Advance(TimeSpan.FromSeconds(61)); // every instance's entry expires during the outage
            var factoryCalls = 0;
            Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v2"); };
            foreach (var cache in caches)
            {
                Assert.Equal("v1", await cache.GetOrCreateAsync("k", 0, load, OneMinute)); // served stale at once, refreshed in the background
            }

            // the first refresh queries the database and shares its value; each of the others, when its turn comes,
            // finds that value and skips its query
            await RunRefreshesInTurnAsync(time, caches);
            Assert.Equal(1, factoryCalls);
            foreach (var cache in caches)
            {
                Assert.Equal("v2", await cache.GetOrCreateAsync("k", 0, load, OneMinute));
            }

            Assert.Equal(1, factoryCalls);
        }
        finally
        {
            await DisposeAllAsync(caches);
        }
    }

    /// <summary>
    /// Four instances on one fake Redis whose replicas answer; each one's degraded-mode refresh waits a different part of
    /// half its 4 s throttle (0.2, 0.6, 1.0 and 1.4 s), so the tests can let them run one after the other.
    /// </summary>
    private static async Task<(List<LeveeCache> Caches, List<FakeL2Store> Stores)> FourInstancesAsync(
        Microsoft.Extensions.Time.Testing.FakeTimeProvider time, Action<LeveeOptions>? configure = null)
    {
        var redis = new FakeRedis();
        var caches = new List<LeveeCache>();
        var stores = new List<FakeL2Store>();
        for (var i = 0; i < 4; i++)
        {
            var store = new FakeL2Store(redis) { ReplicaMode = FakeL2Mode.Healthy };
            var cache = await TestCache.Ready(TestCache.Create(time, store, o =>
            {
                o.FailSafeThrottleDuration = TimeSpan.FromSeconds(4);
                configure?.Invoke(o);
            }));
            var fraction = 0.1 + (0.2 * i);
            cache.DegradedDelayFraction = () => fraction;
            stores.Add(store);
            caches.Add(cache);
        }

        return (caches, stores);
    }

    /// <summary>Lets the instances' waiting degraded-mode refreshes run one at a time, each to its end (value shared).</summary>
    private static async Task RunRefreshesInTurnAsync(Microsoft.Extensions.Time.Testing.FakeTimeProvider time, List<LeveeCache> caches)
    {
        await TestCache.Bounded(Until(() => caches.All(c => c.DegradedRefreshesWaiting == 1)), "the refreshes' waits");
        for (var i = 0; i < caches.Count; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(i == 0 ? 250 : 400));
            var cache = caches[i];
            await TestCache.Bounded(Until(() => cache.DegradedRefreshesActive == 0), $"instance {i}'s refresh");
        }

        static async Task<bool> Until(Func<bool> condition)
        {
            for (var i = 0; i < 2000 && !condition(); i++)
            {
                await Task.Delay(1);
            }

            return condition();
        }
    }

    private static async Task DisposeAllAsync(List<LeveeCache> caches)
    {
        foreach (var cache in caches)
        {
            await cache.DisposeAsync();
        }
    }

    /// <summary>Issue 19: the instance that journaled a removal reads the value another instance loaded since (it used
    /// to load it again every time another instance's value arrived).</summary>
    [Fact]
    public async Task MasterUnreachable_TheInstanceThatRemovedAKey_TakesTheValueAnotherLoadedSince()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await a.SetAsync("k", "v1", OneMinute);
        la.Mode = FakeL2Mode.Down;
        lb.Mode = FakeL2Mode.Down;
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k"); // journaled on A
        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v2"); };
        Assert.Equal("v2", await b.GetOrCreateAsync("k", 0, load, OneMinute)); // B loads and shares
        Assert.Equal("v2", await a.GetOrCreateAsync("k", 0, load, OneMinute)); // A: its journal, then B's value
        Assert.Equal(1, factoryCalls);
    }

    /// <summary>Issue 19: a caller on another instance waits for a load that instance announced, rather than querying too.</summary>
    [Fact]
    public async Task MasterUnreachable_ACallerWaitsForTheLoadAnotherInstanceAnnounced()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await pair.RemovedWhileTheMasterIsAwayAsync(FakeL2Mode.Down, OneMinute);

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var factoryCalls = 0;
        var aLoading = a.GetOrCreateAsync("k", release, async (r, _) => { Interlocked.Increment(ref factoryCalls); await r.Task; return "v2"; }, OneMinute).AsTask();
        // A's factory runs and B has heard of it (the announcement reaches B on another thread: without this wait, B's
        // read sometimes came first and loaded on its own, a rare failure in a busy test run)
        for (var i = 0; i < 400 && (Volatile.Read(ref factoryCalls) == 0 || b.PendingLoadsElsewhere == 0); i++)
        {
            await Task.Delay(5);
        }

        var bReading = b.GetOrCreateAsync("k", 0, (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("b's own"); }, OneMinute).AsTask();
        await Task.Delay(50);
        Assert.False(bReading.IsCompleted); // waiting for A's value, not querying
        release.SetResult();
        Assert.Equal("v2", await TestCache.Bounded(aLoading, "A's load"));
        Assert.Equal("v2", await TestCache.Bounded(bReading, "B's read"));
        Assert.Equal(1, factoryCalls);

        // an announced load whose value never comes holds a caller at most LoadElsewhereWait
        var never = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k");
        var stuck = a.GetOrCreateAsync("k", never, async (r, _) => { await r.Task; return "late"; }, OneMinute).AsTask();
        for (var i = 0; i < 400 && b.PendingLoadsElsewhere == 0; i++)
        {
            await Task.Delay(5);
        }

        var bAlone = b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("b's own"), OneMinute).AsTask();
        await Task.Delay(50);
        Assert.False(bAlone.IsCompleted);
        time.Advance(LeveeCache.LoadElsewhereWait);
        Assert.Equal("b's own", await TestCache.Bounded(bAlone, "B's read after the wait"));
        never.SetResult();
        await stuck;
    }

    /// <summary>Issue 19: while the master is unreachable, an entry reaching its early-refresh point on every instance is
    /// refreshed from the factory once across instances (the 5-minute incident drill showed a wave from every instance).</summary>
    [Fact]
    public async Task MasterUnreachable_AnEarlyRefreshOnEveryInstance_QueriesTheFactoryOnce()
    {
        var time = TestCache.NewTime();
        var (caches, stores) = await FourInstancesAsync(time, o => o.EarlyRefreshRatio = 0.5);
        try
        {
            var tenMinutes = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(10) };
            await caches[0].SetAsync("k", "v1", tenMinutes);
            foreach (var cache in caches)
            {
                Assert.Equal("v1", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), tenMinutes));
            }

            stores.ForEach(s => s.Mode = FakeL2Mode.Down);
            time.Advance(TimeSpan.FromMinutes(6)); // past the early-refresh point (half the lifetime), still fresh
            var factoryCalls = 0;
            Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v2"); };
            foreach (var cache in caches)
            {
                Assert.Equal("v1", await cache.GetOrCreateAsync("k", 0, load, tenMinutes)); // a hit that starts the refresh
            }

            await RunRefreshesInTurnAsync(time, caches);
            Assert.Equal(1, factoryCalls);
        }
        finally
        {
            await DisposeAllAsync(caches);
        }
    }

    /// <summary>Issue 19: entries expiring during an outage are refreshed at a bounded rate (a warm cache expires all at once).</summary>
    [Fact]
    public async Task RedisUnavailable_ExpiredEntries_AreRefreshedAtTheDegradedRate_TheOthersServedStale()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o => o.DegradedRefreshesPerSecond = 2));
        for (var i = 0; i < 10; i++)
        {
            await cache.SetAsync("k" + i, "v1", OneMinute);
        }

        l2.Mode = FakeL2Mode.Down; // no master, no replica
        time.Advance(TimeSpan.FromSeconds(61)); // every entry expired, still inside its fail-safe window
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("v1", await cache.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult("v2"), OneMinute)); // stale, at once
        }

        Assert.Equal(2, cache.BackgroundRefreshesStarted); // the burst of 2; 8 wait for tokens

        time.Advance(TimeSpan.FromSeconds(6)); // two more tokens; the throttled stale copies are due again
        for (var i = 0; i < 10; i++)
        {
            await cache.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult("v2"), OneMinute);
        }

        Assert.Equal(4, cache.BackgroundRefreshesStarted); // the 2 refreshed keys need none, 2 more of the 8 get a token
    }

    /// <summary>
    /// Issue 19: while values are shared, the instances together refresh about <see cref="LeveeOptions.DegradedRefreshesPerSecond"/>
    /// expired entries per second, not that many each (8 instances at 2 per second each kept the drill's database at 1.9x
    /// its baseline in the fifth minute of the incident, when the warm-up's entries all expire). Each instance reads the
    /// expired keys in an order of its own, so without the shared budget their refreshes are of different keys and none
    /// is saved by another's shared value.
    /// </summary>
    [Fact]
    public async Task MasterUnreachable_ExpiredEntries_AreRefreshedAtTheDegradedRateOfAllInstancesTogether()
    {
        const int Keys = 100;
        const int Seconds = 20;
        var time = TestCache.NewTime();
        var (caches, stores) = await FourInstancesAsync(time, o => o.DegradedRefreshesPerSecond = 1);
        try
        {
            for (var k = 0; k < Keys; k++)
            {
                await caches[0].SetAsync("k" + k, "v1", OneMinute);
                foreach (var cache in caches)
                {
                    Assert.Equal("v1", await cache.GetOrCreateAsync("k" + k, 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
                }
            }

            stores.ForEach(s => s.Mode = FakeL2Mode.Down); // the master is gone; the replicas keep answering
            time.Advance(TimeSpan.FromSeconds(61)); // every entry expired during the outage, on every instance
            var factoryCalls = 0;
            Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref factoryCalls); return ValueTask.FromResult("v2"); };
            var stale = 0;
            for (var step = 0; step < Seconds * 10; step++)
            {
                // every 100 ms each instance reads 2 of the keys (each key every 5 s: its stale copy, throttled for 4 s,
                // is due again by then, and the keys fall due spread over time), instance i a quarter further on
                for (var i = 0; i < caches.Count; i++)
                {
                    for (var m = 0; m < 2; m++)
                    {
                        var key = "k" + (((step * 2) + m + (i * Keys / caches.Count)) % Keys);
                        if (await caches[i].GetOrCreateAsync(key, 0, load, OneMinute) == "v1")
                        {
                            stale++;
                        }
                    }
                }

                time.Advance(TimeSpan.FromMilliseconds(100));
                await Task.Delay(2); // the refreshes' continuations run
            }

            await TestCache.Bounded(TestCache.Until(() => caches.All(c => c.DegradedRefreshesActive == 0)), "the last refreshes");
            var started = caches.Sum(c => c.BackgroundRefreshesStarted);
            // 1 per second for all four: a first token each (4), then ~1 per second (measured: 20); each instance on its
            // own budget starts ~1 per second (measured without the shared budget: 76)
            Assert.InRange(started, 12, 4 + Seconds + 8);
            Assert.InRange(factoryCalls, 12, started);
            Assert.True(stale > 0);
        }
        finally
        {
            await DisposeAllAsync(caches);
        }
    }

    /// <summary>Issue 19: while L2 is unusable, an early refresh takes a token of the degraded budget like the refresh of an
    /// expired entry (the 5-minute incident's fourth minute: the warm entries' early refreshes were outside it); without
    /// a token the entry is served as it is and refreshed once expired, within the budget.</summary>
    [Fact]
    public async Task RedisUnavailable_EarlyRefreshes_TakeTheDegradedBudget()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o =>
        {
            o.DegradedRefreshesPerSecond = 1; // bursts of 1
            o.EarlyRefreshRatio = 0.5;
        }));
        for (var i = 0; i < 3; i++)
        {
            await cache.SetAsync("k" + i, "v1", OneMinute);
        }

        l2.Mode = FakeL2Mode.Down;
        time.Advance(TimeSpan.FromSeconds(40)); // past the early-refresh point, still fresh
        for (var i = 0; i < 3; i++)
        {
            Assert.Equal("v1", await cache.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult("v2"), OneMinute));
        }

        Assert.Equal(1, cache.BackgroundRefreshesStarted); // one token: one early refresh, not three
    }

    /// <summary>
    /// The replicas' breaker is probed while the master is not connected: opened during a master outage (replica reads
    /// timing out on a starved machine), it closes once the replicas answer again. It used to stay open until the master
    /// came back (its probe waited for the master's connection): in the 92-minute incident drill two of eight instances
    /// read no replica and shared nothing for the rest of the outage, loading every key themselves.
    /// </summary>
    [Fact]
    public async Task MasterGone_TheReplicasBreaker_OpenedDuringTheOutage_ClosesWhenTheReplicasAnswerAgain()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using var writer = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        for (var i = 0; i < 40; i++)
        {
            await writer.SetAsync("k" + i, "v" + i, new LeveeEntryOptions { Expiration = TimeSpan.FromHours(1) });
        }

        var l2 = new FakeL2Store(redis);
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        l2.Mode = FakeL2Mode.Down;          // the master is gone (not connected)
        l2.ReplicaMode = FakeL2Mode.Throw;  // and the replicas fail for a while
        var loads = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { Interlocked.Increment(ref loads); return ValueTask.FromResult("db"); };
        for (var i = 0; i < 20 && cache.ReplicaBreakerState == LeveeBreakerState.Closed; i++)
        {
            Assert.Equal("db", await cache.GetOrCreateAsync("k" + i, 0, load, OneMinute));
            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.NotEqual(LeveeBreakerState.Closed, cache.ReplicaBreakerState);

        l2.ReplicaMode = FakeL2Mode.Healthy; // the replicas answer again; the master is still gone
        for (var i = 0; i < 20 && cache.ReplicaBreakerState != LeveeBreakerState.Closed; i++)
        {
            time.Advance(TimeSpan.FromSeconds(1));
            await cache.RunMaintenanceAsync();
        }

        Assert.Equal(LeveeBreakerState.Closed, cache.ReplicaBreakerState);
        loads = 0;
        Assert.Equal("v30", await cache.GetOrCreateAsync("k30", 0, load, OneMinute)); // from a replica
        Assert.Equal(0, loads);
    }

    /// <summary>Review: a shared value replaced by a newer one of the same key is counted once (the bytes of the
    /// replaced one leaked, until the 16 MiB bound turned sharing off for the life of the process).</summary>
    [Fact]
    public async Task SharedValues_ReplacedByNewerOnes_CountOnlyWhatIsKept()
    {
        var time = TestCache.NewTime();
        await using var cache = await TestCache.Ready(TestCache.Create(time, new FakeL2Store()));
        var now = time.GetUtcNow().ToUnixTimeMilliseconds();
        byte[] envelope = [];
        for (var i = 0; i < 100; i++)
        {
            envelope = Envelope.Write(now + i, now + 60_000, null, "\"value\""u8);
            cache.OnBackplaneMessage($"other-instance|V|{now + i}|{Convert.ToBase64String(envelope)}|k");
        }

        Assert.Equal(1, cache.SharedCount);
        Assert.Equal(envelope.Length, cache.SharedBytes);
    }

    /// <summary>Review: an announced load that ends without a value (its factory failed) releases the other instances'
    /// waiting callers at once, instead of after LoadElsewhereWait.</summary>
    [Fact]
    public async Task MasterUnreachable_AnAnnouncedLoadThatFails_ReleasesTheWaitersAtOnce()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, _, la, lb, a, b) = pair;
        await pair.RemovedWhileTheMasterIsAwayAsync(FakeL2Mode.Down, OneMinute);

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var started = 0;
        var aLoading = a.GetOrCreateAsync("k", release, async (r, _) =>
        {
            Interlocked.Increment(ref started);
            await r.Task;
            throw new InvalidOperationException("the database failed");
#pragma warning disable CS0162 // unreachable: the lambda's return type
            return "never";
#pragma warning restore CS0162
        }, OneMinute).AsTask();
        for (var i = 0; i < 400 && (Volatile.Read(ref started) == 0 || b.PendingLoadsElsewhere == 0); i++)
        {
            await Task.Delay(5);
        }

        var bReading = b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("b's own"), OneMinute).AsTask();
        release.SetResult();
        await Assert.ThrowsAsync<InvalidOperationException>(() => aLoading);
        Assert.Equal("b's own", await TestCache.Bounded(bReading, "B's read")); // the fake clock never moves: no 500 ms wait ran out
    }

    /// <summary>Review: a caller that skips L2 reads (DisableDistributedCacheRead) neither waits for another instance's
    /// announced load nor takes its shared value, which stand in for L2 during the outage.</summary>
    [Fact]
    public async Task MasterUnreachable_ACallerThatSkipsL2Reads_DoesNotWaitForAnotherInstancesLoad()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, _, la, lb, a, b) = pair;
        la.Mode = FakeL2Mode.Down;
        lb.Mode = FakeL2Mode.Down;
        time.Advance(TimeSpan.FromMilliseconds(5));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var aLoading = a.GetOrCreateAsync("k", release, async (r, _) => { await r.Task; return "a's"; }, OneMinute).AsTask();
        for (var i = 0; i < 400 && b.PendingLoadsElsewhere == 0; i++)
        {
            await Task.Delay(5);
        }

        Assert.Equal(1, b.PendingLoadsElsewhere); // A announced its load
        var skipL2 = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), Flags = Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryFlags.DisableDistributedCacheRead };
        var bReading = b.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("b's own"), skipL2).AsTask();
        var done = await Task.WhenAny(bReading, Task.Delay(TimeSpan.FromSeconds(10)));
        release.SetResult();
        Assert.True(done == bReading, "B's caller waited for A's load");
        Assert.Equal("b's own", await bReading);
        Assert.Equal("a's", await aLoading);
    }

    /// <summary>
    /// Issue 19: a removal's PUBLISH on the replicas that times out without being sent (a starved machine) is sent again
    /// by the maintenance, so the other instance stops serving the removed value. Measured before (incident drill,
    /// levee-warmup, tests loading the machine): 13 such publishes, then 1,167 reads of removed values in 8 s.
    /// </summary>
    [Fact]
    public async Task MasterUnreachable_ARemovalWhosePublishReachedNoReplica_IsSentAgain_AndTheOtherInstanceDropsTheRemovedValue()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await a.SetAsync("k", "v1", TwoDays);
        la.Mode = FakeL2Mode.Throw; // the master is unreachable; the replicas answer
        lb.Mode = FakeL2Mode.Throw;
        var factoryCalls = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { factoryCalls++; return ValueTask.FromResult("db"); };
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, load, TwoDays)); // B holds v1 (read from a replica)

        time.Advance(TimeSpan.FromMilliseconds(5));
        la.LoseReplicaPublishes = 1;
        await a.RemoveAsync("k");
        Assert.Equal(1, a.ReplicaOutboxCount);
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, load, TwoDays)); // B never heard of it (yet)

        await a.RunMaintenanceAsync(); // sent again
        Assert.Equal(0, a.ReplicaOutboxCount);
        for (var i = 0; i < 3; i++)
        {
            time.Advance(TimeSpan.FromMinutes(20)); // however long the fault lasts, and whatever B's L1 holds
            b.ClearLocal();
            Assert.Equal("db", await b.GetOrCreateAsync("k", 0, load, TwoDays)); // never the replica's v1
        }

        Assert.Equal(3, factoryCalls);
    }

    /// <summary>
    /// Issue 19: a removal made while the remover's own replica breaker is open (its replica reads timed out a moment ago)
    /// is published through the replicas all the same: the other instances, whose breakers are closed, read the replicas'
    /// older entry until it arrives. Measured before (incident drill, machine loaded): the writers' breakers opened and
    /// closed in turn, and 409 reads of removed values followed in 25 s.
    /// </summary>
    [Fact]
    public async Task MasterUnreachable_ARemovalWhileTheRemoversReplicaBreakerIsOpen_StillReachesTheOthersAtOnce()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await a.SetAsync("k", "v1", TwoDays);
        la.Mode = FakeL2Mode.Throw; // the master is unreachable
        lb.Mode = FakeL2Mode.Throw;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => ValueTask.FromResult("db");
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, load, TwoDays)); // B holds v1 (read from a replica)

        la.ReplicaMode = FakeL2Mode.Throw; // A's replica reads fail for a while: A's replica breaker opens
        for (var i = 0; i < 20 && a.ReplicaBreakerState == LeveeBreakerState.Closed; i++)
        {
            await a.GetOrCreateAsync("x" + i, 0, load, TwoDays);
            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.NotEqual(LeveeBreakerState.Closed, a.ReplicaBreakerState);
        la.ReplicaMode = FakeL2Mode.Healthy; // the replicas answer again; A's breaker is still open

        await a.RemoveAsync("k");
        Assert.Equal(0, a.ReplicaOutboxCount); // sent, not kept for later
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, load, TwoDays)); // B dropped v1 at once
    }

    /// <summary>
    /// Issue 19: asked again by an instance that missed messages, an instance whose journal overflowed (it no longer lists
    /// its keys) sends the removals it still knows of (its change marks not confirmed by the master), not a clear-all
    /// that would send every read of every instance to the database for the rest of the outage.
    /// </summary>
    [Fact]
    public async Task MasterUnreachable_AskedAgain_AnOverflowedJournalSendsTheRemovalsItStillKnows_NotAClearAll()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var la = new FakeL2Store(redis) { ReplicaMode = FakeL2Mode.Healthy };
        var lb = new FakeL2Store(redis) { ReplicaMode = FakeL2Mode.Healthy };
        await using var a = await TestCache.Ready(TestCache.Create(time, la, o => o.InvalidationJournalCapacity = 2));
        await using var b = await TestCache.Ready(TestCache.Create(time, lb));
        foreach (var key in new[] { "k1", "k2", "k3", "other" })
        {
            await a.SetAsync(key, "v1", TwoDays);
        }

        la.Mode = FakeL2Mode.Throw;
        lb.Mode = FakeL2Mode.Throw;
        var loads = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { loads++; return ValueTask.FromResult("db"); };
        Assert.Equal("v1", await b.GetOrCreateAsync("other", 0, load, TwoDays)); // in B's L1

        lb.ReplicaSubscriptionLost = true;
        time.Advance(TimeSpan.FromMilliseconds(5));
        foreach (var key in new[] { "k1", "k2", "k3" })
        {
            await a.RemoveAsync(key); // the third overflows A's journal
        }

        lb.ReplicaSubscriptionLost = false;
        await b.RunMaintenanceAsync();
        await a.RunMaintenanceAsync();
        await Eventually.TrueAsync(() => a.ResentThroughReplicas == 3, TimeSpan.FromSeconds(10), "A sent the three removals it knows again");
        b.ClearLocal();
        Assert.Equal("v1", await b.GetOrCreateAsync("other", 0, load, TwoDays)); // not removed: still served from a replica
        Assert.Equal(0, loads);
        foreach (var key in new[] { "k1", "k2", "k3" })
        {
            Assert.Equal("db", await b.GetOrCreateAsync(key, 0, load, TwoDays)); // never the replicas' v1
        }

        Assert.Equal(3, loads);
    }

    /// <summary>
    /// Issue 19: an instance started during the outage (a deploy, a restart) never heard the removals made before it; it
    /// asks the others once it listens on the replicas, and does not serve the replicas' older entry of a removed key.
    /// </summary>
    [Fact]
    public async Task MasterUnreachable_AnInstanceStartedAfterARemoval_LearnsOfIt_AndDoesNotServeTheReplicasOlderEntry()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await a.SetAsync("k", "v1", TwoDays);
        la.Mode = FakeL2Mode.Throw; // the master is unreachable; the replicas answer
        lb.Mode = FakeL2Mode.Throw;
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k");
        time.Advance(TimeSpan.FromMinutes(30));

        var lc = new FakeL2Store(redis) { Mode = FakeL2Mode.Throw, ReplicaMode = FakeL2Mode.Healthy };
        await using var c = TestCache.Create(time, lc); // a new instance, its master unreachable from the start
        await c.RunMaintenanceAsync(); // sends its request
        await a.RunMaintenanceAsync();
        await Eventually.TrueAsync(() => a.ResentThroughReplicas >= 1, TimeSpan.FromSeconds(10), "A sent its journal again");
        Assert.Equal("db", await c.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), TwoDays)); // never the replica's v1
    }

    /// <summary>
    /// Issue 19: the instance that made a removal during the outage is gone (replaced in a deploy, its journal with it);
    /// an instance that received the removal answers a new instance's request with it, so the new one does not serve the
    /// replicas' older entry either (the drill's incident-deploy: 58-71 reads of removed values by new instances before).
    /// </summary>
    [Fact]
    public async Task MasterUnreachable_TheRemoverIsGone_AnInstanceThatReceivedTheRemovalTellsANewOne()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, _, _, _, a, b) = pair;
        await pair.MastersAwayAfterWritingAsync("k", "other");
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k"); // B receives it through the replicas
        await a.DisposeAsync(); // A is replaced: its journal is gone
        time.Advance(TimeSpan.FromMinutes(30));

        await using var c = pair.NewInstanceDuringTheOutage();
        await c.RunMaintenanceAsync(); // it asks
        await b.RunMaintenanceAsync();
        await Eventually.TrueAsync(() => b.ResentThroughReplicas >= 1, TimeSpan.FromSeconds(10), "B told C of the removal it received");
        var loads = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { loads++; return ValueTask.FromResult("db"); };
        Assert.Equal("db", await c.GetOrCreateAsync("k", 0, load, TwoDays)); // never the replicas' v1
        Assert.Equal("v1", await c.GetOrCreateAsync("other", 0, load, TwoDays)); // not a clear-all
        Assert.Equal(1, loads);

        // and C, in turn, tells the next one
        await using var d = pair.NewInstanceDuringTheOutage();
        await b.DisposeAsync();
        await d.RunMaintenanceAsync();
        await c.RunMaintenanceAsync();
        await Eventually.TrueAsync(() => c.ResentThroughReplicas >= 1, TimeSpan.FromSeconds(10), "C told D of the removal");
        Assert.Equal("db", await d.GetOrCreateAsync("k", 0, load, TwoDays));
    }

    /// <summary>
    /// Issue 19: until a new instance (or one whose subscription on the replicas came back) has asked the others for their
    /// journals, it does not take entries from the replicas: it may not know the removals they predate. The drill's
    /// incident-deploy (instances replaced while the master was frozen) had 71 reads of removed values from such instances.
    /// </summary>
    [Fact]
    public async Task MasterUnreachable_ANewInstance_TakesNothingFromTheReplicas_UntilItHasAskedForTheJournals()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, _, _, a, _) = pair;
        await pair.MastersAwayAfterWritingAsync("k", "other");
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k");

        await using var c = pair.NewInstanceDuringTheOutage(); // its replicas' subscription starts; no maintenance has run yet
        var loads = 0;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => { loads++; return ValueTask.FromResult("db"); };
        Assert.Equal("db", await c.GetOrCreateAsync("k", 0, load, TwoDays)); // not the replicas' v1: C has not asked yet
        Assert.Equal(1, loads);

        await c.RunMaintenanceAsync(); // its check comes back and it asks
        Assert.Contains(redis.PublishedOn, p => p.Message.StartsWith(c.InstanceId + "|Q|", StringComparison.Ordinal));
        Assert.Equal("v1", await c.GetOrCreateAsync("other", 0, load, TwoDays)); // from the replicas now
        Assert.Equal(1, loads);
    }

    /// <summary>
    /// Issue 19: an instance whose subscription on the replicas was lost while another instance removed a key asks for
    /// the journaled removals again once it is back, and stops serving the removed value.
    /// </summary>
    [Fact]
    public async Task MasterUnreachable_AnInstanceThatMissedARemoval_WhileItsReplicaSubscriptionWasLost_GetsItAgain()
    {
        await using var pair = await TwoInstancesAsync();
        var (time, redis, la, lb, a, b) = pair;
        await a.SetAsync("k", "v1", TwoDays);
        await a.SetAsync("other", "o1", TwoDays);
        la.Mode = FakeL2Mode.Throw;
        lb.Mode = FakeL2Mode.Throw;
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => ValueTask.FromResult("db");
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, load, TwoDays));

        lb.ReplicaSubscriptionLost = true;
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k");
        await a.RemoveAsync("other");
        Assert.Equal(0, a.ReplicaOutboxCount); // the replicas took them: A can't know B missed them
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, load, TwoDays));

        lb.ReplicaSubscriptionLost = false; // back: B asks (its maintenance sends the request), A sends its journal again
        await b.RunMaintenanceAsync();
        await a.RunMaintenanceAsync();
        await Eventually.TrueAsync(() => a.ResentThroughReplicas == 2, TimeSpan.FromSeconds(10), "A sent its two journaled removals again");

        // sent to B alone (its own channel on the replicas), not to every instance
        var resent = redis.PublishedOn.Where(p => p.Message.Contains("|R|", StringComparison.Ordinal)).Skip(2).ToList();
        Assert.Equal(2, resent.Count);
        Assert.All(resent, p => Assert.StartsWith("levee:backplane:r:", p.Channel, StringComparison.Ordinal));
        b.ClearLocal();
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, load, TwoDays));
        Assert.Equal("db", await b.GetOrCreateAsync("other", 0, load, TwoDays));
    }

    [Fact]
    public async Task MasterUnreachable_TheRequestForTheJournals_WaitsUntilTheResubscribedInstanceHearsItself()
    {
        // StackExchange.Redis raises ConnectionRestored before it has subscribed the channels again; the journals asked
        // for are sent once, on the asker's own channel: a request sent at once would be answered while B does not
        // listen yet, and nothing would ask again
        await using var pair = await TwoInstancesAsync();
        var (time, redis, _, lb, a, b) = pair;
        await pair.MastersAwayAfterWritingAsync("k");
        Func<int, CancellationToken, ValueTask<string>> load = (_, _) => ValueTask.FromResult("db");
        Assert.Equal("v1", await b.GetOrCreateAsync("k", 0, load, TwoDays));

        lb.ReplicaSubscriptionLost = true;
        time.Advance(TimeSpan.FromMilliseconds(5));
        await a.RemoveAsync("k");
        var before = redis.PublishedOn.Count; // (each instance asked once when it started)
        lb.ReplicaSubscriptionRestoredNotYetListening();
        for (var i = 0; i < 3; i++)
        {
            await b.RunMaintenanceAsync();
            await a.RunMaintenanceAsync();
        }

        Assert.DoesNotContain(redis.PublishedOn.Skip(before), p => p.Message.Contains("|Q|", StringComparison.Ordinal)); // B has not heard itself
        Assert.Equal(0, a.ResentThroughReplicas);
        var (sent, heard) = b.ListenChecks;
        Assert.True(sent > heard, "B's listen check is still unanswered");

        lb.ReplicaSubscriptionListens();
        await b.RunMaintenanceAsync(); // its check comes back: the request goes out
        await a.RunMaintenanceAsync();
        await Eventually.TrueAsync(() => a.ResentThroughReplicas == 1, TimeSpan.FromSeconds(10), "A sent its journaled removal again");
        b.ClearLocal();
        time.Advance(TimeSpan.FromHours(1));
        Assert.Equal("db", await b.GetOrCreateAsync("k", 0, load, TwoDays));
    }

    /// <summary>Two ready instances on one fake Redis whose replicas answer (their masters are switched off by the tests).</summary>
    private static async Task<Pair> TwoInstancesAsync()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        var la = new FakeL2Store(redis) { ReplicaMode = FakeL2Mode.Healthy };
        var lb = new FakeL2Store(redis) { ReplicaMode = FakeL2Mode.Healthy };
        return new Pair(time, redis, la, lb, await TestCache.Ready(TestCache.Create(time, la)), await TestCache.Ready(TestCache.Create(time, lb)));
    }

    private sealed record Pair(Microsoft.Extensions.Time.Testing.FakeTimeProvider Time, FakeRedis Redis, FakeL2Store La, FakeL2Store Lb, LeveeCache A, LeveeCache B)
        : IAsyncDisposable
    {
        /// <summary>"k" = "v1" in Redis; then both masters fail with <paramref name="mode"/> (the replicas answer) and A removes "k".</summary>
        public async Task RemovedWhileTheMasterIsAwayAsync(FakeL2Mode mode, LeveeEntryOptions options)
        {
            await A.SetAsync("k", "v1", options);
            La.Mode = mode;
            Lb.Mode = mode;
            Time.Advance(TimeSpan.FromMilliseconds(5));
            await A.RemoveAsync("k");
        }

        /// <summary>Each of <paramref name="keys"/> = "v1" in Redis, written by A; then both masters are unreachable (the replicas answer).</summary>
        public async Task MastersAwayAfterWritingAsync(params string[] keys)
        {
            foreach (var key in keys)
            {
                await A.SetAsync(key, "v1", TwoDays);
            }

            La.Mode = FakeL2Mode.Throw;
            Lb.Mode = FakeL2Mode.Throw;
        }

        /// <summary>A new instance on the same Redis, its master unreachable from the start (its replicas answer); no maintenance has run.</summary>
        public LeveeCache NewInstanceDuringTheOutage() =>
            TestCache.Create(Time, new FakeL2Store(Redis) { Mode = FakeL2Mode.Throw, ReplicaMode = FakeL2Mode.Healthy });

        public async ValueTask DisposeAsync()
        {
            await A.DisposeAsync(); // idempotent: a test may have disposed A already
            await B.DisposeAsync();
        }
    }
}
