using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Options;

namespace Levee.Tests.Engine;

public class LeveeCacheTests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task GetOrCreate_1000ConcurrentCallersOfColdKey_OneFactoryCall()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        var tasks = new Task<int>[1000];
        for (var i = 0; i < tasks.Length; i++)
        {
            tasks[i] = cache.GetOrCreateAsync("cold", gate, async (g, _) =>
            {
                Interlocked.Increment(ref calls);
                await g.Task;
                return 42;
            }, OneMinute).AsTask();
        }

        gate.SetResult();
        var results = await Task.WhenAll(tasks);
        Assert.Equal(1, calls);
        Assert.All(results, r => Assert.Equal(42, r));
    }

    [Fact]
    public async Task GetOrCreate_ConcurrentCallersAcrossL1AndL2Miss_ShareOneFactoryCall()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = TestCache.Create(time, l2);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        var tasks = Enumerable.Range(0, 200).Select(_ => cache.GetOrCreateAsync("k", gate, async (g, _) =>
        {
            Interlocked.Increment(ref calls);
            await g.Task;
            return "v";
        }, OneMinute).AsTask()).ToArray();
        gate.SetResult();
        await Task.WhenAll(tasks);
        Assert.Equal(1, calls);
        Assert.Single(l2.Redis.Data);
    }

    [Fact]
    public async Task GetOrCreate_L1Hit_DoesNotCallFactoryAgain()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var calls = 0;
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(7, await cache.GetOrCreateAsync("k", 0, (_, _) => { calls++; return ValueTask.FromResult(7); }, OneMinute));
        }

        Assert.Equal(1, calls);
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(7, await cache.GetOrCreateAsync("k", 0, (_, _) => { calls++; return ValueTask.FromResult(7); }, OneMinute));
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task GetOrCreate_OneWaiterCancelled_OthersStillGetTheSharedLoad()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var calls = 0;
        Func<TaskCompletionSource, CancellationToken, ValueTask<int>> factory = async (g, ct) =>
        {
            Interlocked.Increment(ref calls);
            await g.Task;
            ct.ThrowIfCancellationRequested();
            return 5;
        };
        using var cts = new CancellationTokenSource();
        var cancelled = cache.GetOrCreateAsync("k", gate, factory, OneMinute, cancellationToken: cts.Token).AsTask();
        var other = cache.GetOrCreateAsync("k", gate, factory, OneMinute).AsTask();
        cts.Cancel();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);
        gate.SetResult();
        Assert.Equal(5, await other);
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task GetOrCreate_FactoryThrowsAndStaleExists_ServesStaleAndCountsIt()
    {
        var time = TestCache.NewTime();
        var logger = new CollectingLogger();
        await using var cache = TestCache.Create(time, logger: logger);
        Assert.Equal("v1", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v1"), OneMinute));
        time.Advance(TimeSpan.FromMinutes(2)); // expired, inside the 1 h fail-safe window
        var value = await cache.GetOrCreateAsync<int, string>("k", 0, (_, _) => throw new InvalidOperationException("db down"), OneMinute);
        Assert.Equal("v1", value);
        Assert.True(logger.Has(LeveeEventIds.StaleServed));
    }

    [Fact]
    public async Task GetOrCreate_FactoryThrowsAndNoStale_ExceptionReachesCallerUnchanged_AndIsNotCached()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var boom = new InvalidOperationException("db down");
        var thrown = await Assert.ThrowsAsync<InvalidOperationException>(() =>
            cache.GetOrCreateAsync<int, string>("k", 0, (_, _) => throw boom, OneMinute).AsTask());
        Assert.Same(boom, thrown);
        Assert.Equal("ok", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("ok"), OneMinute));
    }

    [Fact]
    public async Task GetOrCreate_FactoryFailing_IsAskedAtMostOncePerThrottleInterval()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o => o.FailSafeThrottleDuration = TimeSpan.FromSeconds(5));
        await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v1"), OneMinute);
        time.Advance(TimeSpan.FromMinutes(2));
        var calls = 0;
        Func<int, CancellationToken, ValueTask<string>> failing = (_, _) => { calls++; throw new InvalidOperationException(); };
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal("v1", await cache.GetOrCreateAsync("k", 0, failing, OneMinute));
        }

        Assert.Equal(1, calls);
        time.Advance(TimeSpan.FromSeconds(6));
        Assert.Equal("v1", await cache.GetOrCreateAsync("k", 0, failing, OneMinute));
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task GetOrCreate_FailSafeWindowOver_ThrowsInsteadOfServingStale()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o => o.FailSafeMaxDuration = TimeSpan.FromMinutes(10));
        await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v1"), OneMinute);
        time.Advance(TimeSpan.FromMinutes(12));
        await Assert.ThrowsAsync<InvalidOperationException>(() =>
            cache.GetOrCreateAsync<int, string>("k", 0, (_, _) => throw new InvalidOperationException(), OneMinute).AsTask());
    }

    [Fact]
    public async Task GetOrCreate_SoftTimeoutWithStale_ReturnsStale_ThenBackgroundResultUpdatesCache()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o => o.FactorySoftTimeout = TimeSpan.FromMilliseconds(100));
        await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("old"), OneMinute);
        time.Advance(TimeSpan.FromMinutes(2));
        var slow = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var pending = cache.GetOrCreateAsync("k", slow, (s, _) => new ValueTask<string>(s.Task), OneMinute).AsTask();
        Assert.False(pending.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(150));
        Assert.Equal("old", await pending);

        slow.SetResult("new");
        var calls = 0;
        await WaitUntil(async () => await cache.GetOrCreateAsync("k", 0, (_, _) => { calls++; return ValueTask.FromResult("factory"); }, OneMinute) == "new");
        Assert.Equal(0, calls);
    }

    [Fact]
    public async Task GetOrCreate_HardTimeoutWithoutStale_ThrowsTimeoutAndCancelsFactory()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o =>
        {
            o.FactorySoftTimeout = TimeSpan.FromMilliseconds(100);
            o.FactoryHardTimeout = TimeSpan.FromSeconds(2);
        });
        CancellationToken seen = default;
        var pending = cache.GetOrCreateAsync("k", 0, async (_, ct) =>
        {
            seen = ct;
            await Task.Delay(Timeout.Infinite, ct);
            return 1;
        }, OneMinute).AsTask();
        time.Advance(TimeSpan.FromSeconds(3));
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => pending);
        Assert.Contains("hard timeout", ex.Message, StringComparison.Ordinal);
        Assert.True(seen.IsCancellationRequested);
    }

    [Fact]
    public async Task GetOrCreate_HardTimeoutWithStale_ServesStale()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o =>
        {
            o.FactorySoftTimeout = Timeout.InfiniteTimeSpan;
            o.FactoryHardTimeout = TimeSpan.FromSeconds(1);
        });
        await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("old"), OneMinute);
        time.Advance(TimeSpan.FromMinutes(2));
        var pending = cache.GetOrCreateAsync("k", 0, async (_, ct) =>
        {
            await Task.Delay(Timeout.Infinite, ct);
            return "never";
        }, OneMinute).AsTask();
        time.Advance(TimeSpan.FromSeconds(2));
        Assert.Equal("old", await pending);
    }

    [Fact]
    public async Task FailSafe_KeyRemovedWhileTheFactoryRan_TheRemovedValueIsNotPutBackIntoL1()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        await cache.SetAsync("k", "v1", OneMinute);
        time.Advance(TimeSpan.FromMinutes(2)); // expired, inside the fail-safe window
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = cache.GetOrCreateAsync<int, string>("k", 0, async (_, _) =>
        {
            started.SetResult();
            await release.Task;
            throw new InvalidOperationException("db down");
        }, OneMinute).AsTask();
        await started.Task;
        await cache.RemoveAsync("k"); // the row changed while the load ran
        release.SetResult();
        Assert.Equal("v1", await TestCache.Bounded(first, "the failed load")); // that request began before the removal

        // a caller after the removal must not get the removed value (it used to be put back, fresh for the throttle)
        Assert.Equal("v2", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("v2"), OneMinute));
    }

    [Fact]
    public async Task FailSafe_KeyRemovedBeforeTheSoftTimeout_TheRemovedValueIsNotPutBackIntoL1()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o => o.FactorySoftTimeout = TimeSpan.FromMilliseconds(100));
        await cache.SetAsync("k", "v1", OneMinute);
        time.Advance(TimeSpan.FromMinutes(2));
        var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var slow = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = cache.GetOrCreateAsync("k", 0, async (_, _) =>
        {
            started.SetResult();
            return await slow.Task;
        }, OneMinute).AsTask();
        await started.Task;
        await cache.RemoveAsync("k");
        time.Advance(TimeSpan.FromMilliseconds(150)); // the soft timeout: the caller gets the stale value
        Assert.Equal("v1", await TestCache.Bounded(first, "the soft timeout"));

        var (found, value) = await cache.TryGetAsync<string>("k");
        Assert.False(found, $"the removed value is still in L1: {value}");
        slow.SetResult("v-before-removal"); // the factory began before the removal: its value is not stored either
        var calls = 0;
        Assert.Equal("v3", await cache.GetOrCreateAsync("k", 0, (_, _) => { calls++; return ValueTask.FromResult("v3"); }, OneMinute));
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task EarlyRefresh_FactoryFails_TheValueKeepsItsLifetime_AndTheRefreshIsTriedAgainAfterTheThrottle()
    {
        var time = TestCache.NewTime();
        var logger = new CollectingLogger();
        await using var cache = TestCache.Create(time, configure: o =>
        {
            o.EarlyRefreshRatio = 0.5;
            o.FailSafeThrottleDuration = TimeSpan.FromSeconds(5);
        }, logger: logger);
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(1), OneMinute));
        time.Advance(TimeSpan.FromSeconds(31)); // past half its life: a hit refreshes it in the background
        Assert.Equal(1, await cache.GetOrCreateAsync<int, int>("k", 0, (_, _) => throw new InvalidOperationException("db down"), OneMinute));
        await WaitUntil(() => Task.FromResult(logger.Has(LeveeEventIds.StaleServed))); // the refresh failed (stale served, logged)

        time.Advance(TimeSpan.FromSeconds(6)); // t = 37 s: fresh until 60 s (it used to be cut to 36 s, the throttle)
        var calls = 0;
        Func<int, CancellationToken, ValueTask<int>> factory = (_, _) => { Interlocked.Increment(ref calls); return ValueTask.FromResult(2); };
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, factory, OneMinute)); // a hit, not a load
        await WaitUntil(async () => await cache.GetOrCreateAsync("k", 0, factory, OneMinute) == 2); // refreshed again in the background
        Assert.Equal(1, calls);
    }

    [Fact]
    public async Task TheCallerThatStartedALoadGivesUp_ThenTheLoadFails_TheFaultIsObserved()
    {
        var unobserved = await UnobservedFaults.CountAsync(async marker =>
        {
            await using var cache = TestCache.Create(TestCache.NewTime());
            for (var i = 0; i < 5; i++)
            {
                var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                using var cts = new CancellationTokenSource();
                var pending = cache.GetOrCreateAsync<int, int>("k" + i, 0, async (_, _) =>
                {
                    await release.Task;
                    throw new InvalidOperationException(marker);
                }, OneMinute, cancellationToken: cts.Token).AsTask();
                await cts.CancelAsync();
                await Assert.ThrowsAnyAsync<OperationCanceledException>(() => pending);
                release.SetResult(); // nobody waits for the load any more: its fault must not go unobserved
            }

            await WaitUntil(() => Task.FromResult(cache.FlightCount == 0));
        });
        Assert.Equal(0, unobserved);
    }

    [Fact]
    public async Task HardTimeout_TheAbandonedFactoryFailsLater_TheFaultIsObserved()
    {
        var unobserved = await UnobservedFaults.CountAsync(async marker =>
        {
            var time = TestCache.NewTime();
            await using var cache = TestCache.Create(time, configure: o => o.FactoryHardTimeout = TimeSpan.FromSeconds(1));
            var ended = 0;
            for (var i = 0; i < 5; i++)
            {
                var started = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var pending = cache.GetOrCreateAsync<int, int>("k" + i, 0, async (_, _) =>
                {
                    started.SetResult();
                    try
                    {
                        await release.Task; // ignores its token
                        throw new InvalidOperationException(marker);
                    }
                    finally
                    {
                        Interlocked.Increment(ref ended);
                    }
                }, OneMinute).AsTask();
                await started.Task;
                time.Advance(TimeSpan.FromSeconds(1));
                await Assert.ThrowsAsync<TimeoutException>(() => TestCache.Bounded(pending, "the hard timeout"));
                release.SetResult();
            }

            await WaitUntil(() => Task.FromResult(Volatile.Read(ref ended) == 5));
        });
        Assert.Equal(0, unobserved);
    }

    [Fact]
    public void Options_FailSafeThrottleDurationBelowOneMillisecond_IsRejected()
    {
        // 0 used to pass, and every read from a replica then threw (its L1 lifetime is the throttle, which must be >= 1 ms)
        var ex = Assert.Throws<OptionsValidationException>(() => LeveeOptionsValidator.ThrowIfInvalid(new LeveeOptions { FailSafeThrottleDuration = TimeSpan.Zero }));
        Assert.Contains("FailSafeThrottleDuration", ex.Message, StringComparison.Ordinal);
        LeveeOptionsValidator.ThrowIfInvalid(new LeveeOptions { FailSafeThrottleDuration = TimeSpan.FromMilliseconds(1) });
    }

    [Fact]
    public void Options_SnapshotLargerThanOneArray_IsRejected()
    {
        // a snapshot file is read in one piece at start-up: above Array.MaxLength it could be written but never read back
        var options = new LeveeOptions();
        options.Snapshot.Path = "/tmp/levee-validation-only.snapshot"; // validated only when a snapshot is configured
        options.Snapshot.MaxBytes = 3L * 1024 * 1024 * 1024;
        var ex = Assert.Throws<OptionsValidationException>(() => LeveeOptionsValidator.ThrowIfInvalid(options));
        Assert.Contains("Snapshot.MaxBytes", ex.Message, StringComparison.Ordinal);
        options.Snapshot.MaxBytes = Array.MaxLength;
        LeveeOptionsValidator.ThrowIfInvalid(options);
    }

    [Fact]
    public async Task Jitter_ExpirationsStayWithinConfiguredBounds()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = TestCache.Create(time, l2, o => o.JitterFraction = 0.2);
        await cache.RunMaintenanceAsync();
        var expiration = TimeSpan.FromSeconds(100);
        var options = new LeveeEntryOptions { Expiration = expiration, FailSafeMaxDuration = TimeSpan.Zero };
        for (var i = 0; i < 200; i++)
        {
            await cache.SetAsync("k" + i, i, options);
        }

        var ttls = l2.Redis.Ttls.Values.Select(t => t.TotalSeconds).ToArray();
        Assert.Equal(200, ttls.Length);
        Assert.All(ttls, t => Assert.InRange(t, 80, 100));
        Assert.True(ttls.Max() - ttls.Min() > 5, "jitter must spread expirations");
    }

    [Fact]
    public async Task EarlyRefresh_HitPastRatio_ReturnsCurrentValueAndRefreshesOnceInBackground()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o => o.EarlyRefreshRatio = 0.8);
        var version = 0;
        var calls = 0;
        var refreshGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Func<int, CancellationToken, ValueTask<int>> factory = async (_, _) =>
        {
            if (Interlocked.Increment(ref calls) > 1)
            {
                await refreshGate.Task; // the background refresh is held until the reads below are done
            }

            return Interlocked.Increment(ref version);
        };
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, factory, new LeveeEntryOptions { Expiration = TimeSpan.FromSeconds(100) }));
        time.Advance(TimeSpan.FromSeconds(85));
        var options = new LeveeEntryOptions { Expiration = TimeSpan.FromSeconds(100) };

        // past the ratio: every read while the refresh runs gets the current value at once, and only one refresh starts
        for (var i = 0; i < 5; i++)
        {
            Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, factory, options));
        }

        await WaitUntil(() => Task.FromResult(Volatile.Read(ref calls) == 2));
        refreshGate.SetResult();
        await WaitUntil(async () => await cache.GetOrCreateAsync("k", 0, factory, options) == 2);
        Assert.Equal(2, calls);
    }

    [Fact]
    public async Task RemoveByTag_EntryWithTagIsGone_UntaggedAndLaterEntriesStay()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        await cache.SetAsync("a", "A", OneMinute, ["products"]);
        await cache.SetAsync("b", "B", OneMinute, ["users"]);
        time.Advance(TimeSpan.FromMilliseconds(5));
        await cache.RemoveByTagAsync("products");
        time.Advance(TimeSpan.FromMilliseconds(5));
        Assert.False((await cache.TryGetAsync<string>("a")).Found);
        Assert.True((await cache.TryGetAsync<string>("b")).Found);
        await cache.SetAsync("c", "C", OneMinute, ["products"]);
        Assert.True((await cache.TryGetAsync<string>("c")).Found);
    }

    [Fact]
    public async Task RemoveByTag_DuringLoad_LoadedValueIsNotResurrected()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var load = cache.GetOrCreateAsync("k", gate, async (g, _) => { await g.Task; return "read-before-invalidation"; }, OneMinute, ["t"]).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(10));
        await cache.RemoveByTagAsync("t");
        gate.SetResult();
        Assert.Equal("read-before-invalidation", await load); // the caller gets what it asked for
        Assert.False((await cache.TryGetAsync<string>("k")).Found); // but it was not cached
    }

    [Fact]
    public async Task Remove_DuringLoad_LoadedValueIsNotCached()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var load = cache.GetOrCreateAsync("k", gate, async (g, _) => { await g.Task; return "old"; }, OneMinute).AsTask();
        await cache.RemoveAsync("k");
        gate.SetResult();
        await load;
        Assert.False((await cache.TryGetAsync<string>("k")).Found);
    }

    [Fact]
    public async Task RemoveByTagStar_RemovesEverything()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        await cache.SetAsync("a", 1, OneMinute);
        time.Advance(TimeSpan.FromMilliseconds(1));
        await cache.RemoveByTagAsync("*");
        Assert.False((await cache.TryGetAsync<int>("a")).Found);
    }

    [Fact]
    public void Options_Invalid_AllProblemsReportedInOneMessage()
    {
        var options = new LeveeOptions
        {
            L2Timeout = TimeSpan.FromSeconds(5),
            BreakerSamplingDuration = TimeSpan.FromSeconds(2),
            JitterFraction = 0.9,
            FactorySoftTimeout = TimeSpan.FromSeconds(10),
            FactoryHardTimeout = TimeSpan.FromSeconds(5),
            Redis = "127.0.0.1:6379,connectTimeout=notanumber",
        };
        var ex = Assert.Throws<OptionsValidationException>(() => LeveeOptionsValidator.ThrowIfInvalid(options));
        Assert.Contains("JitterFraction is 0.9", ex.Message, StringComparison.Ordinal);
        Assert.Contains("BreakerSamplingDuration", ex.Message, StringComparison.Ordinal);
        Assert.Contains("FactorySoftTimeout", ex.Message, StringComparison.Ordinal);
        Assert.Contains("LeveeOptions.Redis", ex.Message, StringComparison.Ordinal);
        Assert.True(ex.Failures.Count() >= 4);
    }

    [Fact]
    public async Task EntryOptions_OutOfRange_ThrowWhenSet_NamingTheProperty_AndTheHybridCachePathToo()
    {
        var ex = Assert.Throws<ArgumentOutOfRangeException>(() => new LeveeEntryOptions { FactorySoftTimeout = TimeSpan.FromSeconds(-1) });
        Assert.Contains("LeveeEntryOptions.FactorySoftTimeout is -00:00:01", ex.Message, StringComparison.Ordinal);
        Assert.Throws<ArgumentOutOfRangeException>(() => new LeveeEntryOptions { Expiration = TimeSpan.Zero });
        Assert.Throws<ArgumentOutOfRangeException>(() => new LeveeEntryOptions { FailSafeMaxDuration = TimeSpan.FromDays(31) });
        _ = new LeveeEntryOptions { FactoryHardTimeout = Timeout.InfiniteTimeSpan, FailSafeMaxDuration = TimeSpan.Zero };

        await using var cache = TestCache.Create(TestCache.NewTime());
        HybridCache hybrid = cache;
        var calls = 0;
        await Assert.ThrowsAsync<ArgumentOutOfRangeException>(async () => await hybrid.GetOrCreateAsync("k", 0,
            (_, _) => { calls++; return ValueTask.FromResult(1); }, new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(-5) }));
        Assert.Equal(0, calls);
    }

    [Fact]
    public void Options_Defaults_AreValid()
    {
        Assert.Empty(LeveeOptionsValidator.Collect(new LeveeOptions()));
    }

    [Fact]
    public async Task HybridCacheApi_GetOrCreateSetRemove_Work()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        HybridCache hybrid = cache;
        Assert.Equal("x", await hybrid.GetOrCreateAsync("k", _ => ValueTask.FromResult("x")));
        await hybrid.SetAsync("k", "y");
        Assert.Equal("y", await hybrid.GetOrCreateAsync("k", _ => ValueTask.FromResult("z")));
        await hybrid.RemoveAsync("k");
        Assert.Equal("z", await hybrid.GetOrCreateAsync("k", _ => ValueTask.FromResult("z")));
    }

    internal static async Task WaitUntil(Func<Task<bool>> condition)
    {
        // Background continuations run on the thread pool; poll (bounded) instead of sleeping a fixed time.
        for (var i = 0; i < 500; i++)
        {
            if (await condition())
            {
                return;
            }

            await Task.Delay(10);
        }

        Assert.Fail("condition not met within 5 s");
    }
}
