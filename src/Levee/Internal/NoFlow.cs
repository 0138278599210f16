namespace Levee.Internal;

/// <summary>
/// Starts Levee's long-lived background work (timers, the Sentinel monitor, the connect loop) without the current
/// <see cref="ExecutionContext"/>. Both a timer and an async loop capture it by default, and Levee often starts them on a
/// caller's path (the cache is built when first resolved, perhaps inside a request; the L2 budget's timer on the first
/// Redis call): captured, that caller's AsyncLocal values (its Activity, logging scopes, the user) would run with every
/// tick and iteration and stay alive as long as the cache.
/// </summary>
internal static class NoFlow
{
    /// <summary>A timer that does not capture the current ExecutionContext.</summary>
    public static ITimer Timer(TimeProvider time, TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        ITimer? timer = null;
        Start(() => timer = time.CreateTimer(callback, state, dueTime, period));
        return timer!;
    }

    /// <summary>Runs <paramref name="start"/> (which starts background work) with ExecutionContext flow suppressed.</summary>
    public static void Start(Action start)
    {
        var restore = false;
        try
        {
            if (!ExecutionContext.IsFlowSuppressed())
            {
                ExecutionContext.SuppressFlow();
                restore = true;
            }

            start();
        }
        finally
        {
            if (restore)
            {
                ExecutionContext.RestoreFlow();
            }
        }
    }
}
