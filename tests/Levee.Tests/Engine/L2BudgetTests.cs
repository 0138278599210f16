using Levee.Internal;
using Levee.Tests.Fakes;
using Microsoft.Extensions.Time.Testing;
using Xunit;

namespace Levee.Tests.Engine;

/// <summary>
/// The L2 time budget (one timer per guard instead of one per call), on a fake clock: what a caller gets, when it gives
/// up, and that reusing pooled waits never mixes two calls up.
/// </summary>
public sealed class L2BudgetTests
{
    private static readonly TimeSpan Budget = TimeSpan.FromMilliseconds(50);

    [Fact]
    public async Task ACallThatAnswersInTime_GetsItsValue_AndNoTimeoutFollows()
    {
        var time = new FakeTimeProvider();
        using var budget = new L2Budget(Budget, time);
        var redis = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = budget.WaitAsync(redis.Task).AsTask();
        time.Advance(TimeSpan.FromMilliseconds(30));
        redis.SetResult("v");
        Assert.Equal("v", await wait);
        time.Advance(TimeSpan.FromSeconds(1)); // the deadline passes afterwards: nothing happens to the finished call
        Assert.Equal("v", await wait);
    }

    [Fact]
    public async Task AHangingCall_GivesUpAtTheFirstTickAfterItsBudget_NotBefore()
    {
        var time = new FakeTimeProvider();
        using var budget = new L2Budget(Budget, time);
        var earlier = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = budget.WaitAsync(earlier.Task).AsTask(); // starts the budget's timer: it ticks at 10, 20, 30 ... ms
        time.Advance(TimeSpan.FromMilliseconds(5));
        var hanging = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = budget.WaitAsync(hanging.Task).AsTask(); // started at 5 ms: its deadline is 55 ms

        time.Advance(TimeSpan.FromMilliseconds(40)); // 45 ms: before the budget, still waiting
        await Task.Delay(50);
        Assert.False(wait.IsCompleted);

        for (var i = 0; i < 20; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(1)); // 1 ms steps (a fake timer sees the clock of the step): to 65 ms, the tick at 60 ms has seen it
        }

        await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(wait.IsFaulted, "the call should have given up at the tick of 60 ms");
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => wait);
        Assert.Contains("within its budget (50 ms)", ex.Message, StringComparison.Ordinal);
        await GaveUpAsync(first); // its timeout is queued to the thread pool separately: wait for it, don't peek
    }

    [Fact]
    public async Task AFailedCall_FailsWithItsOwnException()
    {
        var time = new FakeTimeProvider();
        using var budget = new L2Budget(Budget, time);
        var redis = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = budget.WaitAsync(redis.Task).AsTask();
        redis.SetException(new InvalidOperationException("connection reset"));
        var ex = await Assert.ThrowsAsync<InvalidOperationException>(() => wait);
        Assert.Equal("connection reset", ex.Message);
    }

    [Fact]
    public async Task PooledWaits_AreNeverMixedUp_AcrossAnswersTimeoutsAndLateAnswers()
    {
        var time = new FakeTimeProvider();
        using var budget = new L2Budget(Budget, time);
        var late = new List<TaskCompletionSource<int>>();
        for (var round = 0; round < 200; round++)
        {
            // one call answered at once, one answered in time, one that times out and is answered late (its wait is
            // pooled again only after that late answer)
            var quick = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var inTime = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var hangs = new TaskCompletionSource<int>(TaskCreationOptions.RunContinuationsAsynchronously);
            var a = budget.WaitAsync(quick.Task).AsTask();
            var b = budget.WaitAsync(hangs.Task).AsTask();
            var c = budget.WaitAsync(inTime.Task).AsTask();
            quick.SetResult(round);
            Assert.Equal(round, await a);
            time.Advance(TimeSpan.FromMilliseconds(20));
            inTime.SetResult(-round);
            Assert.Equal(-round, await c);
            time.Advance(TimeSpan.FromMilliseconds(40));
            await GaveUpAsync(b);
            late.Add(hangs);
            if (round % 3 == 0)
            {
                // answer some of the timed-out calls late, faults included: their waits go back to the pool now
                foreach (var l in late)
                {
                    if (round % 2 == 0)
                    {
                        l.SetResult(999);
                    }
                    else
                    {
                        l.SetException(new InvalidOperationException("late fault"));
                    }
                }

                late.Clear();
                await Task.Delay(1);
            }
        }
    }

    [Fact]
    public async Task ALateFault_AfterTheCallTimedOut_IsObserved()
    {
        var unobserved = await UnobservedFaults.CountAsync(async marker =>
        {
            var time = new FakeTimeProvider();
            using var budget = new L2Budget(Budget, time);
            await TimeOutThenFaultAsync(budget, time, marker);
        });
        Assert.Equal(0, unobserved);

        static async Task TimeOutThenFaultAsync(L2Budget budget, FakeTimeProvider time, string marker)
        {
            for (var i = 0; i < 10; i++)
            {
                var redis = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
                var wait = budget.WaitAsync(redis.Task).AsTask();
                time.Advance(TimeSpan.FromMilliseconds(70));
                await GaveUpAsync(wait);
                redis.SetException(new InvalidOperationException(marker));
            }
        }
    }

    [Fact]
    public async Task Dispose_GivesUpThePendingCalls()
    {
        var time = new FakeTimeProvider();
        var budget = new L2Budget(Budget, time);
        var hanging = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var wait = budget.WaitAsync(hanging.Task).AsTask();
        budget.Dispose();
        await GaveUpAsync(wait);
    }

    /// <summary>Asserts that the budget (not the test's own patience) ended the wait.</summary>
    private static async Task GaveUpAsync(Task wait)
    {
        await Task.WhenAny(wait, Task.Delay(TimeSpan.FromSeconds(10)));
        Assert.True(wait.IsFaulted, "the budget should have ended the wait");
        var ex = await Assert.ThrowsAsync<TimeoutException>(() => wait);
        Assert.Contains("within its budget", ex.Message, StringComparison.Ordinal);
    }
}

/// <summary>Levee's timers run without the ExecutionContext of whoever happened to create them.</summary>
public sealed class NoFlowTests
{
    private static readonly AsyncLocal<string?> Caller = new();

    [Fact]
    public async Task ATimerCreatedOnACallersPath_DoesNotCarryItsAsyncLocals_AndTheCallerKeepsThem()
    {
        Caller.Value = "request-42";
        var seen = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var timer = NoFlow.Timer(TimeProvider.System, _ => seen.TrySetResult(Caller.Value), null, TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
        Assert.Null(await seen.Task.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("request-42", Caller.Value);
        Assert.False(ExecutionContext.IsFlowSuppressed());
    }

    [Fact]
    public async Task BackgroundWorkStartedWithoutFlow_DoesNotCarryTheCallersAsyncLocals()
    {
        Caller.Value = "request-44";
        Task<string?>? loop = null;
        NoFlow.Start(() => loop = LoopAsync());
        Assert.Null(await loop!.WaitAsync(TimeSpan.FromSeconds(10)));
        Assert.Equal("request-44", Caller.Value);

        static async Task<string?> LoopAsync()
        {
            await Task.Yield(); // a background loop's later iterations
            return Caller.Value;
        }
    }

    [Fact]
    public async Task APlainTimer_WouldHaveCarriedThem()
    {
        // the control: shows the test above can fail
        Caller.Value = "request-43";
        var seen = new TaskCompletionSource<string?>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var timer = TimeProvider.System.CreateTimer(_ => seen.TrySetResult(Caller.Value), null, TimeSpan.FromMilliseconds(1), Timeout.InfiniteTimeSpan);
        Assert.Equal("request-43", await seen.Task.WaitAsync(TimeSpan.FromSeconds(10)));
    }
}
