using System.Runtime.CompilerServices;
using Levee.Gate;
using Levee.Health;
using Levee.Tests.Fakes;
using Levee.Tests.Gate;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Levee.Tests.WarmUp;

/// <summary>Warm-up with a fake L2 and a fake clock: readiness, gate share, deadline, empty-L2 detection.</summary>
public class WarmUpTests
{
    private static readonly LeveeEntryOptions TenMinutes = new() { Expiration = TimeSpan.FromMinutes(10) };

    internal sealed class CountingSource(int count, Func<int, CancellationToken, ValueTask<string>> load) : ILeveeWarmUpSource
    {
        public async IAsyncEnumerable<LeveeWarmUpEntry> GetEntriesAsync([EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Yield();
            for (var i = 0; i < count; i++)
            {
                var id = i;
                yield return LeveeWarmUpEntry.Create("setting:" + id, ct => load(id, ct), TenMinutes);
            }
        }
    }

    private static HealthCheckContext Context(IHealthCheck check) =>
        new() { Registration = new HealthCheckRegistration("test", check, HealthStatus.Unhealthy, null) };

    [Fact]
    public async Task AReWarm_OfAKeyRedisLost_WritesBackTheValueThisInstanceHoldsFresh_InsteadOfLoadingIt()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2));
        var entry = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(5) };
        await cache.SetAsync("hot", "held", entry);
        l2.Redis.Data.Clear(); // Redis lost its copies (a long outage: their lifetime ran out; or a restart without persistence)

        var loads = 0;
        var outcome = await cache.WarmUpEntryAsync("hot", _ => { loads++; return ValueTask.FromResult("db"); }, entry, null, CancellationToken.None);
        Assert.Equal(0, loads); // no query: this instance held it fresh
        Assert.Equal(WarmUpOutcome.FromL1, outcome);
        Assert.True(l2.Redis.Data.ContainsKey("levee:d:0:hot")); // and Redis has it again for the other instances

        time.Advance(TimeSpan.FromMinutes(6)); // no longer fresh here: loaded
        l2.Redis.Data.Clear();
        Assert.Equal(WarmUpOutcome.FromFactory, await cache.WarmUpEntryAsync("hot", _ => { loads++; return ValueTask.FromResult("db"); }, entry, null, CancellationToken.None));
        Assert.Equal(1, loads);
    }

    /// <summary>
    /// A re-warm that finds L2 unusable (its breaker still open at the repair, or open again) keeps what this instance
    /// holds through the outage instead of loading it: the 5-minute incident drill showed every levee-warmup instance's
    /// re-warm at the repair going to the database (1,936 warm-up queries in 10 s). A cold instance, which holds nothing,
    /// still loads; so does an entry past its fail-safe window.
    /// </summary>
    [Fact]
    public async Task AReWarm_WhileL2IsUnusable_KeepsWhatThisInstanceHoldsThroughTheOutage_InsteadOfLoadingIt()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(time, l2, o => o.FailSafeMaxDuration = TimeSpan.FromHours(1)));
        var entry = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(5) };
        await cache.SetAsync("fresh", "held", new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(10) });
        await cache.SetAsync("expiring", "held", entry);
        l2.Mode = FakeL2Mode.Down; // the outage
        time.Advance(TimeSpan.FromMinutes(1));
        await cache.RunMaintenanceAsync(); // this instance sees L2 unusable
        time.Advance(TimeSpan.FromMinutes(5)); // "expiring" expired during the outage; "fresh" is still fresh

        var loads = 0;
        ValueTask<string> Load(CancellationToken _)
        {
            loads++;
            return ValueTask.FromResult("db");
        }

        Assert.Equal(WarmUpOutcome.KeptInL1, await cache.WarmUpEntryAsync("fresh", Load, entry, null, CancellationToken.None));
        Assert.Equal(WarmUpOutcome.KeptInL1, await cache.WarmUpEntryAsync("expiring", Load, entry, null, CancellationToken.None));
        Assert.Equal(0, loads);
        Assert.Equal(WarmUpOutcome.FromFactory, await cache.WarmUpEntryAsync("unknown", Load, entry, null, CancellationToken.None)); // nothing held
        Assert.Equal(1, loads);

        time.Advance(TimeSpan.FromHours(1)); // past the fail-safe window: no longer served, so loaded
        Assert.Equal(WarmUpOutcome.FromFactory, await cache.WarmUpEntryAsync("expiring", Load, entry, null, CancellationToken.None));
        Assert.Equal(2, loads);

        // a cold instance with L2 down from its start holds nothing and has never used L2: it loads (start-up warm-up)
        var coldL2 = new FakeL2Store { Mode = FakeL2Mode.Down };
        await using var cold = TestCache.Create(time, coldL2);
        Assert.Equal(WarmUpOutcome.FromFactory, await cold.WarmUpEntryAsync("fresh", Load, entry, null, CancellationToken.None));
        Assert.Equal(3, loads);
    }

    [Fact]
    public async Task StartUp_EntriesInL1AndL2BeforeReady_WarmUpNeverExceedsItsGateShare()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = TestCache.Create(time, l2, o => o.Gate = new LeveeGateOptions { Adaptive = false, InitialLimit = 8, LowPriorityShare = 0.25 });
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = 0;
        var maxInFlight = 0;
        var calls = 0;
        var source = new CountingSource(40, async (id, _) =>
        {
            Interlocked.Increment(ref calls);
            GateEngineTests.InterlockedMax(ref maxInFlight, Interlocked.Increment(ref inFlight));
            await release.Task;
            Interlocked.Decrement(ref inFlight);
            return "value " + id;
        });
        await using var warmUp = new LeveeWarmUp(cache, [source], null);
        var readiness = new LeveeWarmUpHealthCheck(warmUp);
        var health = new LeveeHealthCheck(cache, warmUp);

        warmUp.Start();
        await GateEngineTests.WaitUntil(() => Volatile.Read(ref inFlight) == 2);
        Assert.Equal(HealthStatus.Unhealthy, (await readiness.CheckHealthAsync(Context(readiness))).Status);
        var degraded = await health.CheckHealthAsync(Context(health));
        Assert.Equal(HealthStatus.Degraded, degraded.Status);
        Assert.Contains("warming", degraded.Description, StringComparison.Ordinal);

        // interactive callers are not held up by the warm-up: 6 of the 8 slots stay theirs
        Assert.Equal("now", await cache.GetOrCreateAsync("interactive", 0, (_, _) => ValueTask.FromResult("now"), TenMinutes));

        release.SetResult();
        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(LeveeWarmUpState.Ready, warmUp.State);
        Assert.Equal(HealthStatus.Healthy, (await readiness.CheckHealthAsync(Context(readiness))).Status);
        Assert.Equal(40, calls);
        Assert.Equal(2, maxInFlight); // 8 * 0.25: never more
        Assert.Equal(new LeveeWarmUpResult("startup", 40, 0, 40, 0, warmUp.LastResult!.Duration), warmUp.LastResult);
        for (var i = 0; i < 40; i++)
        {
            Assert.Contains(l2.Redis.Data.Keys, k => k.EndsWith(":setting:" + i, StringComparison.Ordinal));
            Assert.Equal("value " + i, await cache.GetOrCreateAsync("setting:" + i, 0, (_, _) => ValueTask.FromResult("db was called"), TenMinutes));
        }

        Assert.Equal(40, calls);
    }

    /// <summary>
    /// A run takes what L2 has first and loads the rest in an order of the instance's own, reading L2 again just before each
    /// query (the shuffle is the next test's; this one holds the second read, which the one-pass run also had): the
    /// factory of the first key loaded stands for the other instances, which meanwhile put every other key in Redis, so
    /// that one load is the only one; and the keys Redis had are not loaded at all.
    /// </summary>
    [Fact]
    public async Task ARun_TakesWhatL2HasFirst_ThenLoadsTheRestInItsOwnOrder_ReadingL2AgainBeforeEachQuery()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using var others = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis)));
        for (var i = 0; i < 10; i++)
        {
            await others.SetAsync("setting:" + i, "in redis " + i, TenMinutes); // keys 0-9 are in Redis, 10-59 are not
        }

        await using var cache = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(redis), o => o.WarmUp.MaxParallelism = 1));
        var loaded = new System.Collections.Concurrent.ConcurrentQueue<int>();
        var source = new CountingSource(60, async (id, _) =>
        {
            loaded.Enqueue(id);
            for (var i = 10; i < 60; i++)
            {
                if (i != id)
                {
                    await others.SetAsync("setting:" + i, "from another instance " + i, TenMinutes, cancellationToken: CancellationToken.None);
                }
            }

            return "db " + id;
        });
        await using var warmUp = new LeveeWarmUp(cache, [source], null);
        warmUp.Start();
        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.Single(loaded); // one query; every other key came from Redis
        Assert.InRange(loaded.Single(), 10, 59); // never a key Redis had
        Assert.Equal(new LeveeWarmUpResult("startup", 60, 59, 1, 0, warmUp.LastResult!.Duration), warmUp.LastResult);
        Assert.Equal("in redis 3", await cache.GetOrCreateAsync("setting:3", 0, (_, _) => ValueTask.FromResult("db"), TenMinutes));
    }

    /// <summary>The second pass's order is each instance's own (a shuffle): with 50 keys to load, two
    /// instances walking the same order is a 1 in 50! chance. Instances that re-warm together after a failover walked
    /// the same list in the same order and all loaded each missing key at once (the 5-minute incident drill: ~240 such
    /// keys on each of 8 instances, 1,900 warm-up queries in 10 s with the database at capacity).</summary>
    [Fact]
    public async Task TheKeysToLoad_AreLoadedInAnOrderOfEachInstancesOwn()
    {
        var orders = new List<int[]>();
        for (var instance = 0; instance < 2; instance++)
        {
            var time = TestCache.NewTime();
            await using var cache = await TestCache.Ready(TestCache.Create(time, new FakeL2Store(), o => o.WarmUp.MaxParallelism = 1)); // an L2 of its own: nothing shared
            var loaded = new System.Collections.Concurrent.ConcurrentQueue<int>();
            var source = new CountingSource(50, (id, _) => { loaded.Enqueue(id); return ValueTask.FromResult("db " + id); });
            await using var warmUp = new LeveeWarmUp(cache, [source], null);
            warmUp.Start();
            await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));
            Assert.Equal(Enumerable.Range(0, 50), loaded.Order()); // each loaded once
            orders.Add([.. loaded]);
        }

        Assert.NotEqual(orders[0], orders[1]); // two instances, two orders
    }

    [Fact]
    public async Task StartUp_EntriesAlreadyInL2_AreCopiedToL1_WithoutDatabaseCalls()
    {
        var time = TestCache.NewTime();
        var redis = new FakeRedis();
        await using (var other = TestCache.Create(time, new FakeL2Store(redis)))
        {
            for (var i = 0; i < 10; i++)
            {
                await other.SetAsync("setting:" + i, "from other instance " + i, TenMinutes);
            }
        }

        await using var cache = TestCache.Create(time, new FakeL2Store(redis));
        var calls = 0;
        await using var warmUp = new LeveeWarmUp(cache, [new CountingSource(10, (id, _) => { Interlocked.Increment(ref calls); return ValueTask.FromResult("db"); })], null);
        warmUp.Start();
        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(0, calls);
        Assert.Equal(10, warmUp.LastResult!.FromL2);
        Assert.Equal("from other instance 3", await cache.GetOrCreateAsync("setting:3", 0, (_, _) => ValueTask.FromResult("db"), TenMinutes));
    }

    [Fact]
    public async Task StartUp_PastReadinessDeadline_ReportsReadyAndLogs_WhileWarmingContinues()
    {
        var time = TestCache.NewTime();
        var logger = new CollectingLogger();
        await using var cache = TestCache.Create(time, configure: o =>
        {
            o.WarmUp.ReadinessDeadline = TimeSpan.FromSeconds(30);
            o.FactoryHardTimeout = Timeout.InfiniteTimeSpan;
        });
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        await using var warmUp = new LeveeWarmUp(cache, [new CountingSource(3, async (_, _) => { await release.Task; return "v"; })], logger);
        var readiness = new LeveeWarmUpHealthCheck(warmUp);
        warmUp.Start();
        await GateEngineTests.WaitUntil(() => warmUp.Progress.Total == 3);
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(HealthStatus.Unhealthy, (await readiness.CheckHealthAsync(Context(readiness))).Status);
        time.Advance(TimeSpan.FromSeconds(1));
        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(LeveeWarmUpState.ReadyPastDeadline, warmUp.State);
        var result = await readiness.CheckHealthAsync(Context(readiness));
        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Contains("still warming", result.Description, StringComparison.Ordinal);
        Assert.True(logger.Has(LeveeEventIds.WarmUpDeadlinePassed));
        Assert.True(warmUp.IsRunning);
        release.SetResult();
        await GateEngineTests.WaitUntil(() => warmUp.LastResult is { FromFactory: 3 });
    }

    [Fact]
    public async Task L2FoundEmpty_MarkerGone_EntriesReloadedIntoL2WithoutAnyRequest()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        var logger = new CollectingLogger();
        await using var cache = TestCache.Create(time, l2, o => o.WarmUp.EmptyL2CheckInterval = TimeSpan.FromSeconds(5));
        var calls = 0;
        await using var warmUp = new LeveeWarmUp(cache, [new CountingSource(5, (id, _) => { Interlocked.Increment(ref calls); return ValueTask.FromResult("v" + id); })], logger);
        warmUp.Start();
        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(5, calls);
        Assert.Equal(6, l2.Redis.Data.Count); // 5 entries + the marker

        // the marker is still there: nothing happens
        time.Advance(TimeSpan.FromSeconds(5));
        await GateEngineTests.WaitUntil(() => l2.Calls > 0);
        Assert.Equal(5, calls);

        l2.Redis.Data.Clear(); // Redis restarted without persistence
        await GateEngineTests.WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromSeconds(1));
            return l2.Redis.Data.Count == 6;
        });
        Assert.Equal(5, calls); // refilled from this instance's fresh L1 copies, without a query (a copy not fresh is loaded: AReWarm_OfAKeyRedisLost_...)
        Assert.True(logger.Has(LeveeEventIds.L2FoundEmpty));
        Assert.Equal("l2_empty", warmUp.LastResult!.Trigger);
    }

    [Fact]
    public async Task L2Reconnected_TriggersRewarm()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = TestCache.Create(time, l2);
        var calls = 0;
        await using var warmUp = new LeveeWarmUp(cache, [new CountingSource(3, (id, _) => { Interlocked.Increment(ref calls); return ValueTask.FromResult("v"); })], null);
        warmUp.Start();
        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        l2.Redis.Data.Clear();
        l2.RaiseConnected();
        await GateEngineTests.WaitUntil(() => warmUp.LastResult is { Trigger: "l2_connected" } && !warmUp.IsRunning);
        Assert.Equal(3, calls); // refilled from this instance's fresh L1 copies, without a query
        Assert.Equal(4, l2.Redis.Data.Count);
    }

    [Fact]
    public async Task RedisConnectsWhileTheStartUpRunLoads_TheEntriesStillReachL2()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store { Mode = FakeL2Mode.Down };
        await using var cache = TestCache.Create(time, l2, o =>
        {
            o.WarmUp.L2ConnectTimeout = TimeSpan.Zero; // Redis not there yet: the start-up run loads into L1 only
            o.FactoryHardTimeout = Timeout.InfiniteTimeSpan;
        });
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var firstLoaded = 0;
        await using var warmUp = new LeveeWarmUp(cache, [new CountingSource(3, async (id, _) =>
        {
            if (id > 0 && Volatile.Read(ref firstLoaded) == 0)
            {
                await release.Task; // the start-up run's other entries wait until Redis is there
            }

            return "v" + id;
        })], null);
        warmUp.Start();
        await GateEngineTests.WaitUntil(() => cache.TryGetAsync<string>("setting:0").AsTask().Result.Found); // loaded with Redis down
        Volatile.Write(ref firstLoaded, 1);

        l2.Mode = FakeL2Mode.Healthy; // Redis connects while the run still loads
        l2.RaiseConnected();
        release.SetResult();
        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));

        // the run used to end by writing the "warm" marker (L2 was usable by then) and to ignore the connect: the entry it
        // loaded while Redis was away never reached L2, and the marker kept the empty-L2 check from ever refilling it
        await GateEngineTests.WaitUntil(() => warmUp.LastResult is { Trigger: "l2_connected" } && !warmUp.IsRunning);
        Assert.Contains(l2.Redis.Data.Keys, k => k.EndsWith("setting:0", StringComparison.Ordinal));
    }

    [Fact]
    public async Task FailingEntry_IsLoggedAndSkipped_OthersStillWarm()
    {
        var time = TestCache.NewTime();
        var logger = new CollectingLogger();
        await using var cache = TestCache.Create(time);
        await using var warmUp = new LeveeWarmUp(cache, [new CountingSource(4, (id, _) => id == 2 ? throw new InvalidOperationException("boom") : ValueTask.FromResult("v"))], logger);
        warmUp.Start();
        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.Equal(3, warmUp.LastResult!.FromFactory);
        Assert.Equal(1, warmUp.LastResult.Failed);
        Assert.True(logger.Has(LeveeEventIds.WarmUpEntryFailed));
        Assert.Equal(LeveeWarmUpState.Ready, warmUp.State);
    }
}
