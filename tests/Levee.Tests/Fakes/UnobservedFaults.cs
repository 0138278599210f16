namespace Levee.Tests.Fakes;

/// <summary>Counts <see cref="TaskScheduler.UnobservedTaskException"/> events for faults carrying one marker message.</summary>
internal static class UnobservedFaults
{
    /// <summary>How long faults that happen after <see cref="CountAsync"/>'s body returned (continuations on the thread pool) are looked for.</summary>
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(2);

    /// <summary>
    /// Runs <paramref name="body"/> with a fresh marker (faults it provokes should carry it as their message), then
    /// collects garbage so unobserved faulted tasks are finalized, again and again for <see cref="Window"/> (the tasks
    /// may fault a moment after the body returned, on the thread pool: one collection right away could come before
    /// them and pass a broken cache), stopping at the first one seen; returns how many faults with the marker went
    /// unobserved.
    /// </summary>
    public static async Task<int> CountAsync(Func<string, Task> body)
    {
        var marker = "unobserved-check-" + Guid.NewGuid().ToString("N");
        var seen = 0;
        EventHandler<UnobservedTaskExceptionEventArgs> handler = (_, e) =>
        {
            if (e.Exception.Flatten().InnerExceptions.Any(x => x.Message == marker))
            {
                Interlocked.Increment(ref seen);
            }
        };
        TaskScheduler.UnobservedTaskException += handler;
        try
        {
            await body(marker);
            var watch = System.Diagnostics.Stopwatch.StartNew();
            do
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
                GC.Collect();
                await Task.Delay(50);
            }
            while (Volatile.Read(ref seen) == 0 && watch.Elapsed < Window);

            return Volatile.Read(ref seen);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= handler;
        }
    }
}

public sealed class UnobservedFaultsTests
{
    [Fact]
    public async Task AFaultThatHappensAMomentAfterTheBodyReturned_IsCounted()
    {
        // the case the unobserved-fault tests are about: the body returns, the cache's task faults a little later on
        // the thread pool (one collection right after the body used to come before it, and count 0)
        var unobserved = await UnobservedFaults.CountAsync(marker =>
        {
            StartLateFault(marker);
            return Task.CompletedTask;
        });
        Assert.Equal(1, unobserved);

        static void StartLateFault(string marker) =>
            _ = Task.Run(async () =>
            {
                await Task.Delay(300);
                throw new InvalidOperationException(marker);
            });
    }
}
