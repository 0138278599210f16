using Levee.Drill.Catalog;

namespace Levee.Drill.Clients;

/// <summary>
/// The cache as one app instance uses it: read through (cache, then the database loader) and invalidate
/// after a write. One object per app instance; the drill compares implementations side by side.
/// </summary>
internal interface IDrillClient : IAsyncDisposable
{
    /// <summary>Returns the value of <paramref name="key"/>, loading it from <paramref name="database"/> on a miss.</summary>
    ValueTask<CatalogEntry> GetAsync(string key, CatalogStore database, CancellationToken cancellationToken);

    /// <summary>Makes the cached value of <paramref name="key"/> invisible after the row was written.</summary>
    ValueTask InvalidateAsync(string key, CancellationToken cancellationToken);

    /// <summary>The client's own view of its state, for the per-second timeline.</summary>
    ClientSnapshot Snapshot();
}

/// <summary>What a client says about itself. <see cref="L2"/> is a short word: up, down, breaker-open, replica, unknown.</summary>
internal sealed record ClientSnapshot(string L2, bool BreakerOpen, long RedisErrors, long ReplicaReads);

/// <summary>Where the run's Redis is. Endpoints are <c>127.0.0.1:port</c>.</summary>
internal sealed record RedisTarget(
    string Kind,
    string? MasterEndpoint,
    IReadOnlyList<string> SentinelEndpoints,
    string? ServiceName,
    IReadOnlyList<string> DataEndpoints)
{
    public bool IsCluster => Kind == "cluster";
}

/// <summary>A kind of client (naive, postmortem, levee): creates one instance per app instance.</summary>
internal interface IDrillClientKind
{
    string Name { get; }

    string Description { get; }

    /// <summary>Null when the client can run; otherwise why not (the report shows it as not run).</summary>
    string? UnavailableReason { get; }

    /// <summary>
    /// False for clients configured with a fixed master endpoint: after the repair the drill restarts
    /// their instances pointed at the new master, as the incident's responders had to.
    /// </summary>
    bool FollowsFailover { get; }

    Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken);

    /// <summary>Fills the cache with <paramref name="entries"/> before the baseline (the steady state of a warm cache).</summary>
    Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken);
}
