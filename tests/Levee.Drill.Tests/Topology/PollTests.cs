using Levee.Drill.Topology;
using Microsoft.Extensions.Time.Testing;

namespace Levee.Drill.Tests.Topology;

/// <summary>
/// The drill's one poll-until-deadline loop, on a fake clock: each probe signals the test, which then moves the
/// clock; nothing here depends on real time (the 10 s waits only guard against a hang).
/// </summary>
public sealed class PollTests
{
    private static readonly TimeSpan HangGuard = TimeSpan.FromSeconds(10);

    [Fact]
    public async Task UntilAsync_ReturnsTheValue_OnceTheProbeSaysReady()
    {
        var time = new FakeTimeProvider();
        var probes = new SemaphoreSlim(0);
        var calls = 0;
        var poll = Poll.UntilAsync("the answer", _ =>
        {
            calls++;
            probes.Release();
            return Task.FromResult(calls < 3 ? Probe<int>.NotYet("thinking") : Probe<int>.Ready(42));
        }, TimeSpan.FromSeconds(5), time, CancellationToken.None);

        for (var i = 1; i < 3; i++)
        {
            Assert.True(await probes.WaitAsync(HangGuard));
            Assert.False(poll.IsCompleted, $"not ready after probe {i}");
            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        Assert.Equal(42, await poll.WaitAsync(HangGuard));
        Assert.Equal(3, calls);
    }

    [Fact]
    public async Task UntilAsync_AtTheDeadline_ThrowsNamingWhatWasAwaitedAndTheLastReason()
    {
        var time = new FakeTimeProvider();
        var probes = new SemaphoreSlim(0);
        var calls = 0;
        var poll = Poll.UntilAsync("the widget to be ready", _ =>
        {
            calls++;
            probes.Release();
            return Task.FromResult(Probe<bool>.NotYet($"still booting ({calls})"));
        }, TimeSpan.FromSeconds(1), time, CancellationToken.None, details: () => "log: nothing yet");

        // probes at 0, 100, ..., 900 ms poll on; the probe at 1 s is the last
        for (var i = 1; i <= 10; i++)
        {
            Assert.True(await probes.WaitAsync(HangGuard));
            Assert.False(poll.IsCompleted, $"gave up before the deadline (probe {i})");
            time.Advance(TimeSpan.FromMilliseconds(100));
        }

        var ex = await Assert.ThrowsAsync<TopologyException>(() => poll.WaitAsync(HangGuard));
        Assert.Equal("gave up waiting for the widget to be ready after 1 s (last: still booting (11))\nlog: nothing yet", ex.Message);
        Assert.Equal(11, calls);
    }

    [Fact]
    public async Task TryUntilAsync_StopsAtOnce_WhenAProbeFailsForGood()
    {
        var time = new FakeTimeProvider();
        var result = await Poll.TryUntilAsync("PONG", _ => Task.FromResult(Probe<bool>.Failed("the process exited")),
            TimeSpan.FromSeconds(5), time, CancellationToken.None).WaitAsync(HangGuard);

        Assert.False(result.IsReady);
        Assert.Equal("gave up waiting for PONG: the process exited", result.Failure);
    }

    [Fact]
    public async Task TryUntilAsync_NeverSleepsPastTheDeadline()
    {
        var time = new FakeTimeProvider();
        var start = time.GetTimestamp();
        var seen = new List<TimeSpan>();
        var probes = new SemaphoreSlim(0);
        var poll = Poll.TryUntilAsync("x", _ =>
        {
            seen.Add(time.GetElapsedTime(start));
            probes.Release();
            return Task.FromResult(Probe<bool>.NotYet("no"));
        }, TimeSpan.FromMilliseconds(250), time, CancellationToken.None);

        // probes at 0, 100, 200 and, cut short, at the deadline 250
        foreach (var step in new[] { 100, 100, 50 })
        {
            Assert.True(await probes.WaitAsync(HangGuard));
            time.Advance(TimeSpan.FromMilliseconds(step));
        }

        var result = await poll.WaitAsync(HangGuard);
        Assert.False(result.IsReady);
        Assert.Equal([0, 100, 200, 250], seen.Select(t => (int)t.TotalMilliseconds));
    }

    [Fact]
    public async Task TryUntilAsync_Cancelled_Throws()
    {
        var time = new FakeTimeProvider();
        using var cts = new CancellationTokenSource();
        var probes = new SemaphoreSlim(0);
        var poll = Poll.TryUntilAsync("x", _ =>
        {
            probes.Release();
            return Task.FromResult(Probe<bool>.NotYet("no"));
        }, TimeSpan.FromSeconds(5), time, cts.Token);

        Assert.True(await probes.WaitAsync(HangGuard));
        await cts.CancelAsync();
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => poll.WaitAsync(HangGuard));
    }

    [Fact]
    public void PollInterval_DoublesUpToItsMax()
    {
        var interval = new PollInterval(TimeSpan.FromMilliseconds(10), TimeSpan.FromMilliseconds(100));
        var waits = new List<int>();
        var wait = interval.First;
        for (var i = 0; i < 6; i++)
        {
            waits.Add((int)wait.TotalMilliseconds);
            wait = interval.Next(wait);
        }

        Assert.Equal([10, 20, 40, 80, 100, 100], waits);
        Assert.Equal(TimeSpan.FromMilliseconds(100), PollInterval.Default.Next(PollInterval.Default.First));
    }
}
