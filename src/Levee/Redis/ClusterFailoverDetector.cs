namespace Levee.Redis;

/// <summary>
/// Tells a Redis Cluster failover from a master that only reconnected, from what each node says of itself
/// (<c>ROLE</c>): a failover is a node that said <c>slave</c> when last asked and now says <c>master</c>. A master that
/// restarts or reconnects said <c>master</c> before and after. Which nodes StackExchange.Redis reports connected, or as
/// replicas, changes while a node reconnects and is no evidence either way. Thread-safe.
/// </summary>
internal sealed class ClusterFailoverDetector
{
    private readonly Lock _lock = new();
    private readonly Dictionary<string, bool> _isMaster = new(StringComparer.Ordinal);

    /// <summary>Held by whoever asks the nodes and records their answers, so that answers are recorded in the order they were asked for.</summary>
    public SemaphoreSlim Turn { get; } = new(1, 1);

    /// <summary>
    /// Records what nodes said of themselves (role null: no answer, which changes nothing) and returns the nodes that were
    /// replicas when last asked and are masters now: the promoted ones.
    /// </summary>
    public IReadOnlyList<string> Observe(IEnumerable<(string Endpoint, string? Role)> answers)
    {
        List<string>? promoted = null;
        lock (_lock)
        {
            foreach (var (endpoint, role) in answers)
            {
                bool master;
                if (string.Equals(role, "master", StringComparison.OrdinalIgnoreCase))
                {
                    master = true;
                }
                else if (string.Equals(role, "slave", StringComparison.OrdinalIgnoreCase) || string.Equals(role, "replica", StringComparison.OrdinalIgnoreCase))
                {
                    master = false;
                }
                else
                {
                    continue; // no answer, or one that is not a role
                }

                if (master && _isMaster.TryGetValue(endpoint, out var before) && !before)
                {
                    (promoted ??= []).Add(endpoint);
                }

                _isMaster[endpoint] = master;
            }
        }

        return promoted ?? (IReadOnlyList<string>)[];
    }
}
