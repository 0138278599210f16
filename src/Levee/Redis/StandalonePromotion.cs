namespace Levee.Redis;

/// <summary>
/// Tells a failover of a direct (non-Sentinel, non-Cluster) connection from a node that only went away, from which nodes
/// StackExchange.Redis sees as connected masters after each configuration change: a failover is a node that was not a
/// master when last looked at and is one now, seen while a master was known before. A server that just died also changes
/// the configuration; treating that as a failover would drop L1, the values the outage needs most. No I/O; thread-safe.
/// </summary>
internal sealed class StandalonePromotion
{
    private readonly Lock _lock = new();
    private HashSet<string> _masters;

    /// <param name="masters">The masters seen when the connection was made (may be empty: every node down at start).</param>
    public StandalonePromotion(IEnumerable<string> masters) => _masters = new HashSet<string>(masters, StringComparer.Ordinal);

    /// <summary>
    /// Records the masters seen now and returns those that are new: the promoted ones. None when no master was known before
    /// (a first connection is no failover). A look that sees no master at all (every node down) is not recorded, so the
    /// master that comes back is compared with the masters known before it went away.
    /// </summary>
    public IReadOnlyList<string> Observe(IEnumerable<string> mastersNow)
    {
        var now = new HashSet<string>(mastersNow, StringComparer.Ordinal);
        lock (_lock)
        {
            var before = _masters;
            if (now.Count > 0)
            {
                _masters = now;
            }

            if (before.Count == 0)
            {
                return [];
            }

            return [.. now.Where(m => !before.Contains(m)).Order(StringComparer.Ordinal)];
        }
    }
}
