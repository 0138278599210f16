namespace Levee.Tests.Fakes;

/// <summary>Counts <see cref="TaskScheduler.UnobservedTaskException"/> events for faults carrying one marker message.</summary>
internal static class UnobservedFaults
{
    /// <summary>
    /// Runs <paramref name="body"/> with a fresh marker (faults it provokes should carry it as their message), then
    /// collects garbage so unobserved faulted tasks are finalized, and returns how many faults with the marker went
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
            for (var i = 0; i < 3; i++)
            {
                GC.Collect();
                GC.WaitForPendingFinalizers();
            }

            return Volatile.Read(ref seen);
        }
        finally
        {
            TaskScheduler.UnobservedTaskException -= handler;
        }
    }
}
