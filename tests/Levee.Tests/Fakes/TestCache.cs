using Levee.Internal;
using Levee.Serialization;
using Microsoft.Extensions.Time.Testing;

namespace Levee.Tests.Fakes;

internal static class TestCache
{
    public static FakeTimeProvider NewTime() => new(new DateTimeOffset(2026, 11, 26, 12, 0, 0, TimeSpan.Zero));

    /// <summary>Runs the cache's maintenance once (it reads the shared generation) and returns the cache.</summary>
    public static async Task<LeveeCache> Ready(LeveeCache cache)
    {
        await cache.RunMaintenanceAsync();
        return cache;
    }

    /// <summary>Awaits <paramref name="task"/>, failing the test if it has not completed within 20 s: a guard against a hang
    /// (the test fails instead of blocking the run), not a timing assertion.</summary>
    public static async Task<T> Bounded<T>(Task<T> task, string what)
    {
        var done = await Task.WhenAny(task, Task.Delay(TimeSpan.FromSeconds(20)));
        Assert.True(done == task, what + " did not complete");
        return await task;
    }

    /// <summary>
    /// Advances <paramref name="time"/> by <paramref name="step"/> until <paramref name="task"/> completes (at most 200
    /// steps, else the test fails). For a call that waits on a timer the test cannot see being set: an L2 call's time
    /// budget is registered just after the call has started, so a single advance right after the test saw the call
    /// start can come before it, and the call then waits for ever on fake time.
    /// </summary>
    /// <summary>Polls <paramref name="condition"/> (1 ms apart, about 2 s of real time at most) until it holds; its last value.</summary>
    public static async Task<bool> Until(Func<bool> condition)
    {
        for (var i = 0; i < 2000 && !condition(); i++)
        {
            await Task.Delay(1);
        }

        return condition();
    }

    public static async Task<T> AdvanceUntilDone<T>(FakeTimeProvider time, Task<T> task, TimeSpan step, string what)
    {
        for (var i = 0; i < 200 && !task.IsCompleted; i++)
        {
            time.Advance(step);
            await Task.WhenAny(task, Task.Delay(10));
        }

        return await Bounded(task, what);
    }

    /// <summary>
    /// A ready cache whose breaker opens after 5 failed calls and breaks for 1 s, and <paramref name="l2"/> throwing:
    /// 10 reads open the breaker (asserted). The L2 stays in <see cref="FakeL2Mode.Throw"/>.
    /// </summary>
    public static async Task<LeveeCache> WithOpenBreaker(FakeTimeProvider time, FakeL2Store l2, Action<LeveeOptions>? configure = null)
    {
        var cache = await Ready(Create(time, l2, o =>
        {
            o.BreakerMinimumThroughput = 5;
            o.BreakerBreakDuration = TimeSpan.FromSeconds(1);
            configure?.Invoke(o);
        }));
        l2.Mode = FakeL2Mode.Throw;
        var entry = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) };
        for (var i = 0; i < 10; i++)
        {
            await cache.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult(i), entry);
        }

        Assert.Equal(LeveeBreakerState.Open, cache.L2BreakerState);
        return cache;
    }

    public static LeveeCache Create(FakeTimeProvider time, FakeL2Store? l2 = null, Action<LeveeOptions>? configure = null, CollectingLogger? logger = null)
    {
        var options = new LeveeOptions
        {
            TimeProvider = time,
            JitterFraction = 0,
            EarlyRefreshRatio = 1,
            MaintenanceInterval = TimeSpan.FromMinutes(1),
            L2StartupWait = TimeSpan.Zero, // a fake store is there from the start (and fake time would never end the wait); StartupTests cover it
        };
        configure?.Invoke(options);
        LeveeOptionsValidator.ThrowIfInvalid(options); // as the DI registration's validator would at start
        return new LeveeCache(options, l2, new SerializerRegistry(null, null, options.JsonSerializerOptions), logger, null);
    }
}
