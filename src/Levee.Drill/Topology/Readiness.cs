namespace Levee.Drill.Topology;

/// <summary>Readiness by polling (never a fixed sleep): shared by the Sentinel and Cluster topologies.</summary>
internal static class Readiness
{
    /// <summary>
    /// Polls <paramref name="notReadyReason"/> every 100 ms until it returns null or empty; past
    /// <paramref name="timeout"/> throws a <see cref="TopologyException"/> built from the last reason.
    /// </summary>
    public static async Task WaitAsync(Func<CancellationToken, Task<string?>> notReadyReason, TimeSpan timeout,
        Func<string, string> failureMessage, CancellationToken cancellationToken)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var why = await notReadyReason(cancellationToken).ConfigureAwait(false) ?? string.Empty;
            if (why.Length == 0)
            {
                return;
            }

            if (DateTime.UtcNow >= deadline)
            {
                throw new TopologyException(failureMessage(why));
            }

            await Task.Delay(100, cancellationToken).ConfigureAwait(false);
        }
    }
}
