namespace Levee.Internal;

/// <summary>
/// Creates timers that do not capture the current <see cref="ExecutionContext"/>. A timer captures it by default, and
/// Levee's timers are long-lived and often created lazily on a caller's path (the L2 budget's on the first Redis call):
/// captured, the first caller's AsyncLocal values (the request's Activity, logging scopes, the user) would run with every
/// tick and stay alive as long as the cache.
/// </summary>
internal static class NonCapturingTimer
{
    public static ITimer Create(TimeProvider time, TimerCallback callback, object? state, TimeSpan dueTime, TimeSpan period)
    {
        var restore = false;
        try
        {
            if (!ExecutionContext.IsFlowSuppressed())
            {
                ExecutionContext.SuppressFlow();
                restore = true;
            }

            return time.CreateTimer(callback, state, dueTime, period);
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
