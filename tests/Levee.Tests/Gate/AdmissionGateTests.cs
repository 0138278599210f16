using System.Diagnostics.Metrics;
using Levee.Gate;
using Levee.Tests.Fakes;

namespace Levee.Tests.Gate;

public class AdmissionGateTests
{
    private static AdmissionGate NewGate(TimeProvider time, LeveeGateOptions options)
    {
        var meter = new Meter("Levee.Tests.Gate." + Guid.NewGuid().ToString("N"));
        AdmissionGate? gate = null;
        var telemetry = new GateTelemetry(meter, new("cache", "test"), () => gate is null ? [] : [gate]);
        gate = new AdmissionGate("test", "db", options, time, telemetry);
        return gate;
    }

    /// <summary>A gate with room for 100 calls whose only limit is a token bucket of 2 per second.</summary>
    private static AdmissionGate RateGate(TimeProvider time, int burst, TimeSpan queueTimeout) =>
        NewGate(time, new LeveeGateOptions { Adaptive = false, InitialLimit = 100, RatePerSecond = 2, RateBurst = burst, QueueTimeout = queueTimeout });

    [Fact]
    public async Task Release_GivesSlotToInteractiveWaiterBeforeEarlierWarmUpWaiter()
    {
        var time = TestCache.NewTime();
        var gate = NewGate(time, new LeveeGateOptions { Adaptive = false, InitialLimit = 2, QueueLimit = 10, LowPriorityShare = 0.5 });
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var a));
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var b));
        var warm = gate.EnterAsync(GatePriority.WarmUp, CancellationToken.None).AsTask();
        var interactive = gate.EnterAsync(GatePriority.Interactive, CancellationToken.None).AsTask();
        Assert.False(warm.IsCompleted);
        Assert.False(interactive.IsCompleted);
        Assert.Equal(2, gate.Queued);

        gate.Release(a, sample: false);
        var first = await interactive;
        Assert.Equal(GatePriority.Interactive, first.Priority);
        Assert.False(warm.IsCompleted);

        gate.Release(b, sample: false);
        var w = await warm;
        Assert.Equal(GatePriority.WarmUp, w.Priority);
        gate.Release(first, sample: false);
        gate.Release(w, sample: false);
        Assert.Equal(0, gate.InFlight);
    }

    [Fact]
    public async Task LowPriorityWork_NeverExceedsItsShare_EvenWhenSlotsAreFree()
    {
        var time = TestCache.NewTime();
        var gate = NewGate(time, new LeveeGateOptions { Adaptive = false, InitialLimit = 8, QueueLimit = 100, LowPriorityShare = 0.25 });
        var leases = new List<GateLease>();
        var waiters = new List<Task<GateLease>>();
        for (var i = 0; i < 10; i++)
        {
            waiters.Add(gate.EnterAsync(GatePriority.WarmUp, CancellationToken.None).AsTask());
        }

        Assert.Equal(2, waiters.Count(t => t.IsCompleted)); // 8 * 0.25
        Assert.False(gate.TryEnter(GatePriority.Refresh, out _));
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var interactive)); // interactive callers still get the other 6
        leases.Add(interactive);

        var done = 0;
        while (done < 10)
        {
            var finished = waiters.Where(t => t.IsCompleted).ToList();
            Assert.True(finished.Count - done <= 2, "more warm-up slots than the share");
            var lease = await finished[done];
            Assert.True(gate.InFlight <= 3);
            gate.Release(lease, sample: false);
            done++;
            await GateEngineTests.WaitUntil(() => waiters.Count(t => t.IsCompleted) >= Math.Min(10, done + 2));
        }

        Assert.Equal(3, gate.PeakInFlight);
        gate.Release(interactive, sample: false);
    }

    [Fact]
    public void Refresh_NeverQueues()
    {
        var time = TestCache.NewTime();
        var gate = NewGate(time, new LeveeGateOptions { Adaptive = false, InitialLimit = 1, QueueLimit = 10 });
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var a));
        var refused = Assert.Throws<LeveeOverloadedException>(() => gate.EnterAsync(GatePriority.Refresh, CancellationToken.None).AsTask().GetAwaiter().GetResult());
        Assert.Equal("queue_full", refused.Reason);
        Assert.Equal(0, gate.Queued);
        gate.Release(a, sample: false);
    }

    [Fact]
    public async Task InteractiveWaiter_TimesOutExactlyAtQueueTimeout()
    {
        var time = TestCache.NewTime();
        var gate = NewGate(time, new LeveeGateOptions { Adaptive = false, InitialLimit = 1, QueueLimit = 10, QueueTimeout = TimeSpan.FromMilliseconds(500) });
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var a));
        var waiter = gate.EnterAsync(GatePriority.Interactive, CancellationToken.None).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.False(waiter.IsCompleted);
        time.Advance(TimeSpan.FromMilliseconds(1));
        var ex = await Assert.ThrowsAsync<LeveeOverloadedException>(() => waiter);
        Assert.Equal("queue_timeout", ex.Reason);
        Assert.Equal(0, gate.Queued);
        gate.Release(a, sample: false);
        Assert.Equal(0, gate.InFlight);
    }

    [Fact]
    public async Task CancelledWarmUpWaiter_LeavesTheQueue()
    {
        var time = TestCache.NewTime();
        var gate = NewGate(time, new LeveeGateOptions { Adaptive = false, InitialLimit = 1, QueueLimit = 10 });
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var a));
        using var cts = new CancellationTokenSource();
        var waiter = gate.EnterAsync(GatePriority.WarmUp, cts.Token).AsTask();
        Assert.Equal(1, gate.Queued);
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => waiter);
        Assert.Equal(0, gate.Queued);
        gate.Release(a, sample: false);
        Assert.Equal(0, gate.InFlight);
    }

    [Fact]
    public async Task RateLimit_TokenBucketBoundsStartsPerSecond()
    {
        var time = TestCache.NewTime();
        var gate = RateGate(time, burst: 2, queueTimeout: TimeSpan.FromSeconds(1));
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var a));
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var b));
        Assert.False(gate.TryEnter(GatePriority.Interactive, out _)); // burst used up, although 98 slots are free

        // a waiter gets the next token (500 ms later), within its 1 s queue timeout
        var waiter = gate.EnterAsync(GatePriority.Interactive, CancellationToken.None).AsTask();
        Assert.False(waiter.IsCompleted);
        await GateEngineTests.WaitUntil(() =>
        {
            time.Advance(TimeSpan.FromMilliseconds(50));
            return waiter.IsCompleted;
        });
        var c = await waiter;
        Assert.InRange(time.GetUtcNow() - TestCache.NewTime().GetUtcNow(), TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(700));
        // its latency sample starts when it got the token (the 500 ms token wait is not database time; the fake clock may
        // have moved one more 50 ms step before the waiter's continuation ran)
        Assert.True(time.GetElapsedTime(c.Started) < TimeSpan.FromMilliseconds(400), $"sample started {time.GetElapsedTime(c.Started)} ago");
        foreach (var lease in new[] { a, b, c })
        {
            gate.Release(lease, sample: false);
        }
    }

    [Fact]
    public async Task RateLimit_NoTokenWithinQueueTimeout_RefusesWithRateLimit()
    {
        var time = TestCache.NewTime();
        var gate = RateGate(time, burst: 1, queueTimeout: TimeSpan.FromMilliseconds(150));
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var a));
        var ex = await Assert.ThrowsAsync<LeveeOverloadedException>(() => gate.EnterAsync(GatePriority.Interactive, CancellationToken.None).AsTask());
        Assert.Equal("rate_limit", ex.Reason);
        Assert.Equal(1, gate.InFlight); // the refused caller gave its slot back
        gate.Release(a, sample: false);
        time.Advance(TimeSpan.FromMilliseconds(500));
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var b));
        gate.Release(b, sample: false);
    }

    [Fact]
    public async Task RateLimit_TokensGoOutInOrder_CallersWhoseTokenComesTooLateAreRefusedAtOnce()
    {
        var time = TestCache.NewTime();
        var gate = RateGate(time, burst: 1, queueTimeout: TimeSpan.FromMilliseconds(700));
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var a)); // the burst token

        // the next token (500 ms) is the first waiter's; the one after (1 s) would come after a later caller's 700 ms
        // queue timeout: that caller is refused now, not after waiting, and so is the third
        var first = gate.EnterAsync(GatePriority.Interactive, CancellationToken.None).AsTask();
        var second = gate.EnterAsync(GatePriority.Interactive, CancellationToken.None).AsTask();
        var third = gate.EnterAsync(GatePriority.Interactive, CancellationToken.None).AsTask();
        Assert.False(first.IsCompleted);
        Assert.True(second.IsFaulted && third.IsFaulted, "refused at once, without waiting for the queue timeout");
        Assert.Equal("rate_limit", (await Assert.ThrowsAsync<LeveeOverloadedException>(() => second)).Reason);
        Assert.Equal("rate_limit", (await Assert.ThrowsAsync<LeveeOverloadedException>(() => third)).Reason);
        Assert.Equal(2, gate.InFlight); // a and the first waiter; the refused gave their slots back

        time.Advance(TimeSpan.FromMilliseconds(499));
        Assert.False(first.IsCompleted);
        Assert.False(gate.TryEnter(GatePriority.Interactive, out _));
        time.Advance(TimeSpan.FromMilliseconds(1));
        var b = await first.WaitAsync(TimeSpan.FromSeconds(10));

        // the token that arrived was the waiter's: a newcomer finds none
        Assert.False(gate.TryEnter(GatePriority.Interactive, out _));
        gate.Release(a, sample: false);
        gate.Release(b, sample: false);
    }

    [Fact]
    public async Task RateLimit_CancelledWaiterGivesItsTokenBack()
    {
        var time = TestCache.NewTime();
        var gate = RateGate(time, burst: 1, queueTimeout: TimeSpan.FromMilliseconds(1200));
        Assert.True(gate.TryEnter(GatePriority.Interactive, out var a));
        using var cts = new CancellationTokenSource();
        var cancelled = gate.EnterAsync(GatePriority.Interactive, cts.Token).AsTask(); // token at 500 ms
        var second = gate.EnterAsync(GatePriority.Interactive, CancellationToken.None).AsTask(); // token at 1 s
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => cancelled);

        // without the returned token the next one would come at 1.5 s, after this caller's 1.2 s queue timeout
        var third = gate.EnterAsync(GatePriority.Interactive, CancellationToken.None).AsTask();
        Assert.False(third.IsCompleted, third.IsFaulted ? third.Exception!.InnerException!.Message : "completed");
        time.Advance(TimeSpan.FromSeconds(1));
        var b = await second.WaitAsync(TimeSpan.FromSeconds(10));
        var c = await third.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.False(gate.TryEnter(GatePriority.Interactive, out _)); // three tokens in 1 s: the burst and two at 2/s
        foreach (var lease in new[] { a, b, c })
        {
            gate.Release(lease, sample: false);
        }
    }

    [Fact]
    public void AdaptiveLimit_ShrinksWhenLatencyRises_AndGrowsWhenItRecovers()
    {
        var time = TestCache.NewTime();
        var options = new LeveeGateOptions { InitialLimit = 20, MinLimit = 2, MaxLimit = 64, AdaptiveWindow = TimeSpan.FromMilliseconds(100), AdaptiveWindowMinSamples = 5 };
        var limit = new GradientLimit(options, time);

        void Run(int windows, double latencySeconds)
        {
            for (var w = 0; w < windows; w++)
            {
                for (var i = 0; i < 5; i++)
                {
                    time.Advance(TimeSpan.FromMilliseconds(25));
                    limit.OnSample(latencySeconds, limit.Limit); // saturated: every slot in use
                }
            }
        }

        Run(30, 0.002);
        var healthy = limit.Limit;
        Assert.True(healthy > 20, $"limit should grow while latency is steady and the gate saturated, was {healthy}");

        Run(15, 0.050); // the database slows down 25x
        var slow = limit.Limit;
        Assert.True(slow < healthy / 2, $"limit should shrink when latency rises: {healthy} -> {slow}");

        Run(30, 0.002); // and recovers
        var recovered = limit.Limit;
        Assert.True(recovered > slow * 1.5, $"limit should grow again after recovery: {slow} -> {recovered}");
    }

    [Fact]
    public void AdaptiveLimit_StaysWhenGateIsUnderUsed()
    {
        var time = TestCache.NewTime();
        var limit = new GradientLimit(new LeveeGateOptions { InitialLimit = 20, AdaptiveWindow = TimeSpan.FromMilliseconds(100), AdaptiveWindowMinSamples = 5 }, time);
        for (var i = 0; i < 500; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(25));
            limit.OnSample(i < 250 ? 0.002 : 0.2, inFlightAtStart: 3);
        }

        Assert.Equal(20, limit.Limit);
    }

    [Fact]
    public void Amplification_IsAboutOneAtSteadyLoad_AndTracksASurge()
    {
        var time = TestCache.NewTime();
        var meter = new AmplificationMeter(time);
        Assert.Equal(0, meter.Read());
        for (var s = 0; s < 20 * 60; s++)
        {
            for (var i = 0; i < 10; i++)
            {
                meter.Record();
            }

            time.Advance(TimeSpan.FromSeconds(1));
            meter.Read();
        }

        Assert.InRange(meter.Read(), 0.8, 1.2);
        for (var s = 0; s < 60; s++)
        {
            for (var i = 0; i < 100; i++)
            {
                meter.Record();
            }

            time.Advance(TimeSpan.FromSeconds(1));
            meter.Read();
        }

        Assert.InRange(meter.Read(), 7, 11); // 10x the usual database load
    }
}
