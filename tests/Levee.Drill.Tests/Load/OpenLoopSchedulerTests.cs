using Levee.Drill.Load;
using Microsoft.Extensions.Time.Testing;

namespace Levee.Drill.Tests.Load;

public sealed class OpenLoopSchedulerTests
{
    [Fact]
    public void Arrivals_DependOnlyOnRateAndSeed()
    {
        var a = new OpenLoopScheduler(200, 42, TimeProvider.System).Arrivals(TimeSpan.FromSeconds(5)).ToList();
        var b = new OpenLoopScheduler(200, 42, new FakeTimeProvider()).Arrivals(TimeSpan.FromSeconds(5)).ToList();
        var c = new OpenLoopScheduler(200, 43, TimeProvider.System).Arrivals(TimeSpan.FromSeconds(5)).ToList();
        Assert.Equal(a, b);
        Assert.NotEqual(a, c);
        Assert.InRange(a.Count, 900, 1100); // Poisson, mean 1000
        Assert.True(a.Zip(a.Skip(1)).All(p => p.First <= p.Second), "arrivals are in time order");
        Assert.True(a[^1] < TimeSpan.FromSeconds(5));
    }

    [Fact]
    public async Task RunAsync_DispatchesEveryArrivalOnSchedule_EvenWhenNoRequestEverCompletes()
    {
        var time = new FakeTimeProvider();
        var scheduler = new OpenLoopScheduler(100, 9, time);
        var duration = TimeSpan.FromSeconds(3);
        var expected = scheduler.Arrivals(duration).ToList();
        var dispatched = new List<(long Index, TimeSpan Scheduled, TimeSpan Now)>();
        var epoch = time.GetTimestamp();
        var never = new TaskCompletionSource();
        var hung = new List<Task>();

        var run = scheduler.RunAsync(epoch, duration, (index, scheduled) =>
        {
            dispatched.Add((index, scheduled, time.GetElapsedTime(epoch)));
            hung.Add(never.Task); // a request that hangs forever: a closed loop would stop here
        }, CancellationToken.None);

        while (!run.IsCompleted)
        {
            time.Advance(TimeSpan.FromMilliseconds(5));
            await Task.Delay(1);
        }

        Assert.Equal(expected.Count, await run);
        Assert.Equal(expected, dispatched.Select(d => d.Scheduled).ToList());
        Assert.Equal(Enumerable.Range(0, expected.Count).Select(i => (long)i), dispatched.Select(d => d.Index));
        // never dispatched before its scheduled time (latency is measured from the schedule)
        Assert.All(dispatched, d => Assert.True(d.Now >= d.Scheduled, $"request {d.Index} dispatched at {d.Now} before {d.Scheduled}"));
        Assert.All(hung, t => Assert.False(t.IsCompleted));
    }

    [Fact]
    public async Task RunAsync_StopsWhenCancelled()
    {
        var time = new FakeTimeProvider();
        var scheduler = new OpenLoopScheduler(100, 1, time);
        using var cts = new CancellationTokenSource();
        var firstSecond = scheduler.Arrivals(TimeSpan.FromSeconds(1)).Count(); // Poisson: about 100
        var count = 0;
        var run = scheduler.RunAsync(time.GetTimestamp(), TimeSpan.FromSeconds(100), (_, _) => Interlocked.Increment(ref count), cts.Token);
        time.Advance(TimeSpan.FromSeconds(1));

        // the first second's requests dispatched (a state, polled with a deadline; a nap used to stand for it)
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(20);
        while (Volatile.Read(ref count) < firstSecond)
        {
            Assert.True(DateTime.UtcNow < deadline, $"only {Volatile.Read(ref count)} of the first second's {firstSecond} requests were dispatched");
            await Task.Delay(1);
        }

        await cts.CancelAsync();
        var stopped = await Task.WhenAny(run, Task.Delay(TimeSpan.FromSeconds(20))); // a guard against a hang, not a timing assertion
        Assert.True(stopped == run, "the run did not stop when cancelled");
        var dispatched = await run;
        Assert.Equal(Volatile.Read(ref count), dispatched);
        time.Advance(TimeSpan.FromSeconds(10)); // after the cancellation, the clock moving on dispatches nothing
        Assert.Equal(dispatched, Volatile.Read(ref count));
        Assert.Equal(firstSecond, dispatched); // the first second's requests, not the 100 s run's 10,000
    }
}
