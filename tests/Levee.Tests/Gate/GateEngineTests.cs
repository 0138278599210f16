using Levee.Tests.Fakes;

namespace Levee.Tests.Gate;

/// <summary>The admission gate inside GetOrCreate: every factory call passes it; stale values are served when it is full.</summary>
public class GateEngineTests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    private static LeveeCache FixedGateCache(Microsoft.Extensions.Time.Testing.FakeTimeProvider time, int limit, int queue, FakeL2Store? l2 = null) =>
        TestCache.Create(time, l2, o =>
        {
            o.Gate = new LeveeGateOptions { Adaptive = false, InitialLimit = limit, QueueLimit = queue, QueueTimeout = TimeSpan.FromSeconds(1) };
            o.FactorySoftTimeout = Timeout.InfiniteTimeSpan;
            o.FactoryHardTimeout = Timeout.InfiniteTimeSpan;
        });

    [Fact]
    public async Task GetOrCreate_2000DistinctMissesThroughFixedLimit16_NeverMoreThan16InFlight_RestServedStaleOrShed()
    {
        var time = TestCache.NewTime();
        await using var cache = FixedGateCache(time, limit: 16, queue: 100);

        // half of the keys (even ones) have a stale value: loaded once, then expired but inside the fail-safe window
        for (var i = 0; i < 2000; i += 2)
        {
            await cache.GetOrCreateAsync("k" + i, i, (n, _) => ValueTask.FromResult(-n), OneMinute);
        }

        time.Advance(TimeSpan.FromMinutes(2));
        var baselineCalls = cache.GetGateStatus()[0];

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var inFlight = 0;
        var maxInFlight = 0;
        var factoryCalls = 0;
        var tasks = new Task<int>[2000];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = cache.GetOrCreateAsync("k" + i, i, async (n, _) =>
            {
                Interlocked.Increment(ref factoryCalls);
                var now = Interlocked.Increment(ref inFlight);
                InterlockedMax(ref maxInFlight, now);
                await release.Task;
                Interlocked.Decrement(ref inFlight);
                return n;
            }, OneMinute).AsTask();
        }

        var status = cache.GetGateStatus()[0];
        Assert.Equal(16, Volatile.Read(ref maxInFlight));
        Assert.Equal(16, status.InFlight);
        Assert.Equal(100, status.Queued); // the queue is full, never longer

        // the queued ones (odd keys, no stale value) fail when the queue timeout passes, not later
        time.Advance(TimeSpan.FromSeconds(1));
        await WaitUntil(() => cache.GetGateStatus()[0].Queued == 0);
        release.SetResult();
        var outcomes = await Outcomes(tasks);

        Assert.Equal(16, factoryCalls);
        Assert.Equal(16, outcomes.Count(o => o.Value >= 0 && o.Error is null)); // the first 16 keys got the database
        Assert.Equal(992, outcomes.Count(o => o.Value < 0)); // stale (negative) values: the even keys after the first 16
        Assert.Equal(892, outcomes.Count(o => o.Error is LeveeOverloadedException { Reason: "queue_full" }));
        Assert.Equal(100, outcomes.Count(o => o.Error is LeveeOverloadedException { Reason: "queue_timeout" }));
        Assert.All(outcomes.Where(o => o.Error is not null), o =>
        {
            var ex = Assert.IsType<LeveeOverloadedException>(o.Error);
            Assert.Equal("default", ex.Gate);
            Assert.Equal(16, ex.Limit);
            Assert.Contains("admission gate 'default'", ex.Message, StringComparison.Ordinal);
            Assert.Contains("limit 16", ex.Message, StringComparison.Ordinal);
        });
        Assert.All(outcomes.Where(o => o.Error is not null), o => Assert.True(o.Key % 2 == 1, "a key with a stale value was refused"));
        Assert.Equal(baselineCalls.Shed + 992 + 892 + 100, cache.GetGateStatus()[0].Shed);
        Assert.Equal(16, cache.GetGateStatus()[0].PeakInFlight);
    }

    [Fact]
    public async Task GetOrCreate_GateFullWithStaleValue_ServesStaleAtOnce_WithoutWaiting()
    {
        var time = TestCache.NewTime();
        await using var cache = FixedGateCache(time, limit: 1, queue: 10);
        await cache.GetOrCreateAsync("stale", 0, (_, _) => ValueTask.FromResult("old"), OneMinute);
        time.Advance(TimeSpan.FromMinutes(2));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var blocker = cache.GetOrCreateAsync("busy", release, async (r, _) => { await r.Task; return "busy"; }, OneMinute).AsTask();

        var staleTask = cache.GetOrCreateAsync("stale", 0, (_, _) => ValueTask.FromResult("new"), OneMinute).AsTask();
        Assert.True(staleTask.IsCompleted, "a caller with a stale value must not wait for the gate");
        Assert.Equal("old", await staleTask);
        release.SetResult();
        Assert.Equal("busy", await blocker);
    }

    [Fact]
    public async Task GetOrCreate_QueuedCaller_GetsSlotWhenOneIsReleased()
    {
        var time = TestCache.NewTime();
        await using var cache = FixedGateCache(time, limit: 1, queue: 10);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = cache.GetOrCreateAsync("a", release, async (r, _) => { await r.Task; return 1; }, OneMinute).AsTask();
        var second = cache.GetOrCreateAsync("b", 0, (_, _) => ValueTask.FromResult(2), OneMinute).AsTask();
        Assert.False(second.IsCompleted);
        Assert.Equal(1, cache.GetGateStatus()[0].Queued);
        release.SetResult();
        Assert.Equal(1, await first);
        Assert.Equal(2, await second);
        Assert.Equal(0, cache.GetGateStatus()[0].Shed);
    }

    [Fact]
    public async Task GetOrCreate_QueueLimitZero_FailsFastWithOverloadNamingGateAndLimit()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o =>
        {
            o.Gates["postgres"] = new LeveeGateOptions { Adaptive = false, InitialLimit = 1, QueueLimit = 0 };
        });
        var pg = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), Gate = "postgres" };
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = cache.GetOrCreateAsync("a", release, async (r, _) => { await r.Task; return 1; }, pg).AsTask();
        var ex = await Assert.ThrowsAsync<LeveeOverloadedException>(() => cache.GetOrCreateAsync("b", 0, (_, _) => ValueTask.FromResult(2), pg).AsTask());
        Assert.Equal("postgres", ex.Gate);
        Assert.Equal("queue_full", ex.Reason);
        Assert.Equal(1, ex.Limit);
        Assert.Contains("'postgres'", ex.Message, StringComparison.Ordinal);

        // the default gate is separate
        Assert.Equal(3, await cache.GetOrCreateAsync("c", 0, (_, _) => ValueTask.FromResult(3), OneMinute));
        release.SetResult();
        await first;
    }

    [Fact]
    public async Task GetOrCreate_UnknownGateName_ThrowsNamingConfiguredGates()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o => o.Gates["postgres"] = new LeveeGateOptions());
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            cache.GetOrCreateAsync("a", 0, (_, _) => ValueTask.FromResult(1), new LeveeEntryOptions { Gate = "mysql" }).AsTask());
        Assert.Contains("'mysql'", ex.Message, StringComparison.Ordinal);
        Assert.Contains("postgres", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task EarlyRefresh_WhenGateHasNoLowPrioritySlot_IsSkipped_AndValueStays()
    {
        var time = TestCache.NewTime();
        var logger = new CollectingLogger();
        await using var cache = TestCache.Create(time, logger: logger, configure: o =>
        {
            o.EarlyRefreshRatio = 0.5;
            o.FactorySoftTimeout = Timeout.InfiniteTimeSpan;
            o.FactoryHardTimeout = Timeout.InfiniteTimeSpan;
            o.Gate = new LeveeGateOptions { Adaptive = false, InitialLimit = 1, QueueLimit = 10 };
        });
        var options = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) };
        Assert.Equal(1, await cache.GetOrCreateAsync("hot", 0, (_, _) => ValueTask.FromResult(1), options));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var busy = cache.GetOrCreateAsync("busy", release, async (r, _) => { await r.Task; return 9; }, options).AsTask();
        time.Advance(TimeSpan.FromSeconds(40)); // past the early-refresh point, still fresh
        var refreshCalls = 0;
        Assert.Equal(1, await cache.GetOrCreateAsync("hot", 0, (_, _) => { Interlocked.Increment(ref refreshCalls); return ValueTask.FromResult(2); }, options));
        await WaitUntil(() => logger.Has(LeveeEventIds.RefreshSkipped)); // the refresh found no low-priority slot and was skipped
        Assert.Equal(0, refreshCalls);
        Assert.Equal(1, cache.GetGateStatus()[0].InFlight);
        release.SetResult();
        await busy;
    }

    [Fact]
    public async Task DegradedMode_L2Down_StaleServed_RefreshedAtMostOncePerKeyPerThrottleInterval()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = TestCache.Create(time, l2, o => o.FailSafeThrottleDuration = TimeSpan.FromSeconds(5));
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(1), OneMinute));
        l2.Mode = FakeL2Mode.Down;
        time.Advance(TimeSpan.FromMinutes(2));
        var calls = 0;
        for (var second = 0; second < 20; second++)
        {
            for (var i = 0; i < 50; i++)
            {
                var v = await cache.GetOrCreateAsync("k", 0, (_, _) =>
                {
                    Interlocked.Increment(ref calls);
                    return ValueTask.FromException<int>(new InvalidOperationException("database down too"));
                }, OneMinute);
                Assert.Equal(1, v);
            }

            var expected = (second / 5) + 1;
            await WaitUntil(() => Volatile.Read(ref calls) >= expected && cache.GetGateStatus()[0].InFlight == 0);
            time.Advance(TimeSpan.FromSeconds(1));
        }

        // 1,000 reads over 20 s while Redis is down and the database fails: one refresh per 5 s throttle interval
        Assert.Equal(4, calls);
    }

    internal static void InterlockedMax(ref int target, int value)
    {
        var current = Volatile.Read(ref target);
        while (value > current)
        {
            var seen = Interlocked.CompareExchange(ref target, value, current);
            if (seen == current)
            {
                return;
            }

            current = seen;
        }
    }

    internal static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 2000 && !condition(); i++)
        {
            await Task.Delay(5);
        }

        Assert.True(condition(), "condition not reached within 10 s");
    }

    private static async Task<List<(int Key, int Value, Exception? Error)>> Outcomes(Task<int>[] tasks)
    {
        var list = new List<(int, int, Exception?)>(tasks.Length);
        for (var i = 0; i < tasks.Length; i++)
        {
            try
            {
                list.Add((i, await tasks[i], null));
            }
            catch (Exception ex)
            {
                list.Add((i, 0, ex));
            }
        }

        return list;
    }
}

public class GateOptionsValidationTests
{
    [Fact]
    public void InvalidGateOptions_AreAllReportedInOneMessage_NamingTheGateAndValues()
    {
        var options = new LeveeOptions
        {
            Gate = new LeveeGateOptions { MinLimit = 9, MaxLimit = 4, QueueTimeout = TimeSpan.FromMinutes(10) },
        };
        options.Gates["search"] = new LeveeGateOptions { LowPriorityShare = 0, RatePerSecond = -1 };
        options.Gates["default"] = new LeveeGateOptions();
        options.WarmUp.MaxParallelism = 0;
        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => LeveeOptionsValidator.ThrowIfInvalid(options));
        Assert.Contains("LeveeOptions.Gate.MinLimit (9) must not exceed MaxLimit (4).", ex.Message, StringComparison.Ordinal);
        Assert.Contains("LeveeOptions.Gate.QueueTimeout is 00:10:00", ex.Message, StringComparison.Ordinal);
        Assert.Contains("LeveeOptions.Gates[\"search\"].LowPriorityShare is 0", ex.Message, StringComparison.Ordinal);
        Assert.Contains("LeveeOptions.Gates[\"search\"].RatePerSecond is -1", ex.Message, StringComparison.Ordinal);
        Assert.Contains("LeveeOptions.Gates must not contain \"default\"", ex.Message, StringComparison.Ordinal);
        Assert.Contains("LeveeOptions.WarmUp.MaxParallelism is 0", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void DefaultOptions_AreValid() => Assert.Empty(LeveeOptionsValidator.Collect(new LeveeOptions()));
}
