using Levee.Drill.Catalog;

namespace Levee.Drill.Clients;

/// <summary>
/// The cache as one app instance uses it: read through (cache, then the database loader) and invalidate
/// after a write. One object per app instance; the drill compares implementations side by side.
/// Implement it (with an <see cref="IDrillClientKind"/>) to drill your own cache wrapper: register the kind in
/// <see cref="DrillOptions.ClientKinds"/> and name it in <see cref="DrillOptions.Clients"/>.
/// </summary>
/// <remarks>
/// The drill calls it from many threads at once. An exception from <see cref="GetAsync"/> or
/// <see cref="InvalidateAsync"/> is an error the user saw (counted in the report's errors), so a client that
/// tolerates Redis failures catches them itself.
/// </remarks>
public interface IDrillClient : IAsyncDisposable
{
    /// <summary>
    /// Returns the value of <paramref name="key"/>, loading it with <paramref name="database"/> on a miss
    /// (the drill counts every load as a database query).
    /// </summary>
    /// <param name="key">The cache key, e.g. <c>product:42</c>.</param>
    /// <param name="database">This app instance's database; <see cref="ICatalogLoader.LoadAsync"/> is the factory.</param>
    /// <param name="cancellationToken">Cancelled when the run ends.</param>
    ValueTask<CatalogEntry> GetAsync(string key, ICatalogLoader database, CancellationToken cancellationToken);

    /// <summary>Makes the cached value of <paramref name="key"/> invisible after the row was written (the drill has committed the write).</summary>
    /// <param name="key">The key of the written row.</param>
    /// <param name="cancellationToken">Cancelled when the run ends.</param>
    ValueTask InvalidateAsync(string key, CancellationToken cancellationToken);

    /// <summary>The client's own view of its state, sampled once per second for the timeline. Must not block.</summary>
    ClientSnapshot Snapshot();
}

/// <summary>What a client says about itself, once per second (the report's timeline).</summary>
/// <param name="L2">A short word for its Redis state: <c>up</c>, <c>down</c>, <c>breaker-open</c>, <c>half-open</c>, <c>replica</c>, <c>none</c> or <c>unknown</c>.</param>
/// <param name="BreakerOpen">True while the client's circuit breaker around Redis is open (the timeline counts instances).</param>
/// <param name="RedisErrors">Redis errors the client saw so far (0 when it does not count them).</param>
/// <param name="ReplicaReads">Reads served from a replica so far (0 when it does not read replicas).</param>
public sealed record ClientSnapshot(string L2, bool BreakerOpen, long RedisErrors, long ReplicaReads);

/// <summary>Where a run's Redis is. Endpoints are <c>127.0.0.1:port</c>; every client run gets a fresh deployment.</summary>
/// <param name="Kind"><c>sentinel</c> (a master, replicas and Sentinels) or <c>cluster</c> (Redis Cluster).</param>
/// <param name="MasterEndpoint">The master at start-up (Sentinel deployments; null for a cluster). A client that keeps this fixed address cannot follow a failover.</param>
/// <param name="SentinelEndpoints">The Sentinels (empty for a cluster).</param>
/// <param name="ServiceName">The Sentinel service name of the master (null for a cluster).</param>
/// <param name="DataEndpoints">Every data node (master and replicas, or every cluster node).</param>
public sealed record RedisTarget(
    string Kind,
    string? MasterEndpoint,
    IReadOnlyList<string> SentinelEndpoints,
    string? ServiceName,
    IReadOnlyList<string> DataEndpoints)
{
    /// <summary>True for a Redis Cluster deployment.</summary>
    public bool IsCluster => Kind == "cluster";

    /// <summary>
    /// The StackExchange.Redis configuration string of a client that follows failovers: the Sentinels with
    /// <c>serviceName=...</c> (StackExchange.Redis then connects to the master Sentinel reports and follows
    /// <c>+switch-master</c>), or every node of a cluster. Pass it to anything that takes a StackExchange.Redis
    /// configuration (e.g. <c>RedisCacheOptions.Configuration</c>).
    /// </summary>
    /// <remarks>
    /// With <see cref="Tls"/> it ends in <c>ssl=true</c>, which is not enough: the servers' certificates come from a
    /// private CA and the servers require a client certificate; apply <see cref="ConfigureTls"/> to the parsed options.
    /// </remarks>
    public string Configuration => (IsCluster
        ? string.Join(',', DataEndpoints)
        : string.Join(',', SentinelEndpoints) + ",serviceName=" + ServiceName) + (Tls is null ? string.Empty : ",ssl=true");

    /// <summary>
    /// The certificates when every Redis and Sentinel process of the run listens on TLS only (<c>levee drill --tls</c>):
    /// a private CA, and a client certificate the servers require. Null: plain TCP.
    /// </summary>
    public Topology.TlsCertificates? Tls { get; init; }

    /// <summary>
    /// Sets <paramref name="options"/> up for the run's TLS (on, the private CA trusted, the client certificate
    /// presented) when <see cref="Tls"/> is set; does nothing otherwise. Every client's connections need it under
    /// <c>--tls</c>: the servers have no plain port.
    /// </summary>
    public StackExchange.Redis.ConfigurationOptions ConfigureTls(StackExchange.Redis.ConfigurationOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        Tls?.Configure(options);
        return options;
    }

    /// <summary>
    /// The connection string of the run's database (the app's own PostgreSQL, which stays up when Redis fails): a
    /// client may use it as a second invalidation channel. Null outside a run.
    /// </summary>
    public string? Database { get; init; }

    /// <summary>
    /// The connection string of a second database on the same PostgreSQL server, for a client's invalidation channel
    /// (LISTEN/NOTIFY): its transactions then stay out of <see cref="Database"/>'s count, which the drill reports as the
    /// database's load (a NOTIFY costs far less than a catalog query; the report counts the channel's transactions on their
    /// own). Null outside a run.
    /// </summary>
    public string? ChannelDatabase { get; init; }
}

/// <summary>
/// A kind of client (<c>naive</c>, <c>postmortem</c>, <c>levee</c>, or one a host registers in
/// <see cref="DrillOptions.ClientKinds"/>): creates one <see cref="IDrillClient"/> per app instance.
/// </summary>
public interface IDrillClientKind
{
    /// <summary>
    /// The name used in <see cref="DrillOptions.Clients"/> and in the report: lower-case letters, digits,
    /// <c>-</c> or <c>_</c>, starting with a letter, at most 32 characters (it also names the run's database).
    /// </summary>
    string Name { get; }

    /// <summary>One line for the report: what the client is and how it is configured.</summary>
    string Description { get; }

    /// <summary>Null when the client can run; otherwise why not (the report shows it as not run).</summary>
    string? UnavailableReason { get; }

    /// <summary>
    /// False for clients configured with a fixed master endpoint: after the repair the drill restarts
    /// their instances pointed at the new master, as the incident's responders had to.
    /// </summary>
    bool FollowsFailover { get; }

    /// <summary>Creates the client of app instance <paramref name="instance"/> (0-based), connected to <paramref name="target"/>.</summary>
    /// <param name="target">The run's Redis (after a repair that moved the master, a copy with the new <see cref="RedisTarget.MasterEndpoint"/>).</param>
    /// <param name="instance">The app instance's index.</param>
    /// <param name="cancellationToken">Cancels the set-up.</param>
    Task<IDrillClient> CreateAsync(RedisTarget target, int instance, CancellationToken cancellationToken);

    /// <summary>
    /// Fills the cache with <paramref name="entries"/> before the baseline (the steady state of a warm cache),
    /// without database queries: e.g. through <paramref name="firstInstance"/> or straight into Redis.
    /// </summary>
    /// <param name="target">The run's Redis.</param>
    /// <param name="firstInstance">The client of app instance 0, as <see cref="CreateAsync"/> returned it.</param>
    /// <param name="entries">Every catalog row.</param>
    /// <param name="cancellationToken">Cancels the warm-up.</param>
    Task WarmAsync(RedisTarget target, IDrillClient firstInstance, IReadOnlyList<CatalogEntry> entries, CancellationToken cancellationToken);
}
