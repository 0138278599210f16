namespace Levee.Internal;

/// <summary>Helpers for tasks nobody may await any more.</summary>
internal static class Faults
{
    /// <summary>
    /// Observes <paramref name="task"/>'s fault, if it ever has one: for a task its awaiter stopped waiting for (a timeout,
    /// a caller's cancellation), so its exception never surfaces as an unobserved task exception.
    /// </summary>
    public static void Observe(Task task)
    {
        if (task.IsCompleted)
        {
            _ = task.Exception;
            return;
        }

        task.ContinueWith(static t => _ = t.Exception, CancellationToken.None,
            TaskContinuationOptions.OnlyOnFaulted | TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
    }
}
