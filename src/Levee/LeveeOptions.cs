using System.Text.Json;

namespace Levee;

/// <summary>
/// Options of a <see cref="LeveeCache"/>. Every property has a default that assumes Redis will fail;
/// the options are validated once, at start-up, and every problem is reported in one message.
/// </summary>
public sealed class LeveeOptions
{
    /// <summary>
    /// StackExchange.Redis configuration string for the L2 (standalone <c>host:port</c>, Sentinel
    /// <c>s1:26379,s2:26379,serviceName=mymaster</c> or Cluster endpoints). Null or empty: L1 only.
    /// Default: null.
    /// </summary>
    public string? Redis { get; set; }

    /// <summary>
    /// Adjusts the StackExchange.Redis configuration parsed from <see cref="Redis"/> after Levee's defaults, for what a
    /// string cannot say: a private CA (<c>o.TrustIssuer("ca.crt")</c>), a certificate validation callback
    /// (<c>CertificateValidation</c>), a client certificate for mutual TLS (<c>SetUserPemCertificate</c>,
    /// <c>CertificateSelection</c>). Applied to every connection Levee makes: the master, the replicas, the
    /// Sentinels and the Cluster nodes. <c>IncludeDetailInExceptions</c> stays off (keys are never logged).
    /// Default: null.
    /// </summary>
    public Action<StackExchange.Redis.ConfigurationOptions>? ConfigureRedis { get; set; }

    /// <summary>
    /// Name of a connection string in the application's configuration (<c>ConnectionStrings:&lt;name&gt;</c>, as .NET's hosting
    /// conventions name them) to use as <see cref="Redis"/> when <see cref="Redis"/> is not set. Default: null.
    /// </summary>
    public string? ConnectionName { get; set; }

    /// <summary>Prefix of every key Levee writes to Redis, so several applications can share one Redis. Default: <c>levee:</c>.</summary>
    public string KeyPrefix { get; set; } = "levee:";

    /// <summary>Logical expiration of an entry when the call gives none (fresh until then). Default: 5 minutes. Bounds: 1 ms to 365 days.</summary>
    public TimeSpan DefaultExpiration { get; set; } = LeveeOptionBounds.DefaultExpiration.Default;

    /// <summary>
    /// Fail-safe window: how long after its logical expiration an entry may still be served as stale when the
    /// factory fails, times out, or the database is shed. The physical TTL in Redis is expiration + this window.
    /// Default: 1 hour. Bounds: 0 to 30 days (0: fail-safe off).
    /// </summary>
    public TimeSpan FailSafeMaxDuration { get; set; } = LeveeOptionBounds.FailSafeMaxDuration.Default;

    /// <summary>
    /// After a stale value was served because the factory failed, the stale value is treated as fresh for this
    /// long, so a failing database is asked again at most once per key per interval; values read from a replica while
    /// the master is unreachable stay in L1 no longer than this. Default: 5 seconds. Bounds: 1 ms to 1 hour.
    /// </summary>
    public TimeSpan FailSafeThrottleDuration { get; set; } = LeveeOptionBounds.FailSafeThrottleDuration.Default;

    /// <summary>
    /// Soft factory timeout: when a stale value exists and the factory has not answered within this time, the stale
    /// value is returned and the factory completes in the background (and updates the cache). Default: 1 second.
    /// Bounds: 1 ms to 1 hour, or <see cref="Timeout.InfiniteTimeSpan"/> (disables it).
    /// </summary>
    public TimeSpan FactorySoftTimeout { get; set; } = LeveeOptionBounds.FactorySoftTimeout.Default;

    /// <summary>
    /// Hard factory timeout: the factory is cancelled after this time; the caller gets a stale value if one exists,
    /// otherwise a <see cref="TimeoutException"/>. Default: 30 seconds.
    /// Bounds: 1 ms to 1 hour, or <see cref="Timeout.InfiniteTimeSpan"/> (disables it).
    /// </summary>
    public TimeSpan FactoryHardTimeout { get; set; } = LeveeOptionBounds.FactoryHardTimeout.Default;

    /// <summary>
    /// Expiration jitter: each entry's expiration is shortened by a random fraction in [0, JitterFraction) so hot keys
    /// written together don't expire together. Default: 0.1. Bounds: 0 to 0.5.
    /// </summary>
    public double JitterFraction { get; set; } = LeveeOptionBounds.JitterFraction.Default;

    /// <summary>
    /// Early refresh: once an entry has lived this fraction of its expiration, the next hit returns it and refreshes it
    /// in the background (one refresh per key). Default: 0.8. Bounds: 0.1 to 1 (1 disables it).
    /// </summary>
    public double EarlyRefreshRatio { get; set; } = LeveeOptionBounds.EarlyRefreshRatio.Default;

    /// <summary>
    /// Whether a value of a mutable type is copied for each read, as Microsoft's HybridCache does: L1 keeps its serialized
    /// bytes and every read gets its own instance, so a caller that edits what it got changes nothing for the others. Types
    /// HybridCache treats as immutable are shared and a hit allocates nothing: <c>string</c>, value types without references,
    /// and value types or sealed classes marked <c>[System.ComponentModel.ImmutableObject(true)]</c> (mark your sealed DTOs
    /// so). Default: true. False shares every instance (a caller must then never edit a cached object).
    /// </summary>
    public bool CopyMutableValues { get; set; } = true;

    /// <summary>
    /// Entry options of a <c>HybridCache</c> call that passes none, as <c>HybridCacheOptions.DefaultEntryOptions</c>: its
    /// <c>Flags</c> also apply to a call whose options leave <c>Flags</c> null, its <c>LocalCacheExpiration</c> to a call whose
    /// options set neither expiration, and its <c>Expiration</c> replaces <see cref="DefaultExpiration"/>. Default: null.
    /// <c>AddHybridCache(o =&gt; ...)</c>'s <c>DefaultEntryOptions</c>, <c>MaximumKeyLength</c> and <c>MaximumPayloadBytes</c> are
    /// taken by the cache of <c>AddLevee</c> where these options keep their defaults.
    /// </summary>
    public Microsoft.Extensions.Caching.Hybrid.HybridCacheEntryOptions? DefaultEntryOptions { get; set; }

    /// <summary>Maximum number of entries in the in-process L1. Default: 100,000. Bounds: 16 to 100,000,000.</summary>
    public int L1MaxEntries { get; set; } = LeveeOptionBounds.L1MaxEntries.Default;

    /// <summary>Maximum key length in characters; longer keys are rejected with an <see cref="ArgumentException"/>. Default: 1,024. Bounds: 1 to 65,536.</summary>
    public int MaximumKeyLength { get; set; } = LeveeOptionBounds.MaximumKeyLength.Default;

    /// <summary>Maximum serialized value size written to Redis; larger values stay in L1 only (logged). Default: 1,048,576 (1 MiB). Bounds: 1 to 536,870,912 (512 MiB).</summary>
    public int MaximumPayloadBytes { get; set; } = LeveeOptionBounds.MaximumPayloadBytes.Default;

    /// <summary>
    /// Time budget of every L2 (Redis) call. A call that takes longer is abandoned and counted as a failure: callers never
    /// wait on a sick Redis for StackExchange.Redis' own multi-second timeouts. The budget is checked every fifth of it, so
    /// a call gives up between 1.0x and 1.2x this value. Default: 50 ms. Bounds: 1 ms to 10 seconds.
    /// </summary>
    public TimeSpan L2Timeout { get; set; } = LeveeOptionBounds.L2Timeout.Default;

    /// <summary>
    /// How long the calls that reach a new cache before its first Redis connection wait for it: once, not per call. A new
    /// instance connects (Sentinel discovery included), reads the shared generation and runs one read through the
    /// guarded path before its callers use Redis, so start-up costs (connect, handshake, first use of the read path) are
    /// never paid against <see cref="L2Timeout"/> and never turn an L2 hit into a factory call. If Redis is down at start,
    /// those calls wait until the first connection attempt has failed (the connect timeout, 2 s by default) or this long,
    /// whichever comes first, then go on without Redis while the cache keeps connecting in the background.
    /// Default: 3 seconds. Bounds: 0 to 1 minute (0: never wait).
    /// </summary>
    public TimeSpan L2StartupWait { get; set; } = LeveeOptionBounds.L2StartupWait.Default;

    /// <summary>Circuit breaker around L2: failure ratio over <see cref="BreakerSamplingDuration"/> that opens it. Default: 0.5. Bounds: 0.01 to 1.</summary>
    public double BreakerFailureRatio { get; set; } = LeveeOptionBounds.BreakerFailureRatio.Default;

    /// <summary>Minimum number of L2 calls in the sampling window before the breaker may open. Default: 10. Bounds: 2 to 1,000,000.</summary>
    public int BreakerMinimumThroughput { get; set; } = LeveeOptionBounds.BreakerMinimumThroughput.Default;

    /// <summary>
    /// Failed L2 calls in a row (timeouts or errors, no success between them, and none for 5 x <see cref="L2Timeout"/>) that
    /// open the breaker at once, whatever the sampling window holds: a master that stops answering is skipped after this
    /// many calls instead of after half the window's calls (a window full of successes from just before). 0 turns it off.
    /// Default: 5. Bounds: 0 to 1,000,000.
    /// </summary>
    public int BreakerConsecutiveFailures { get; set; } = LeveeOptionBounds.BreakerConsecutiveFailures.Default;

    /// <summary>Sampling window of the breaker. Default: 2 seconds. Bounds: 500 ms to 1 day, and more than <see cref="L2Timeout"/>.</summary>
    public TimeSpan BreakerSamplingDuration { get; set; } = LeveeOptionBounds.BreakerSamplingDuration.Default;

    /// <summary>How long the breaker stays open (L2 skipped entirely) before the cache probes L2 again (in the background: no
    /// caller's call is the probe). Doubled, up to 8 times this, each time the breaker opens again within 10 s of closing
    /// (flap damping; docs/engine.md). Default: 1 second. Bounds: 500 ms to 1 day.</summary>
    public TimeSpan BreakerBreakDuration { get; set; } = LeveeOptionBounds.BreakerBreakDuration.Default;

    /// <summary>
    /// Degraded mode: while L2 is unavailable, an entry past its expiration (inside the fail-safe window) is served stale
    /// at once and refreshed in the background, at most once per key per <see cref="FailSafeThrottleDuration"/>, so a
    /// Redis outage does not turn every expiry into a database query. Default: true.
    /// </summary>
    public bool ServeStaleWhileL2Unavailable { get; set; } = true;

    /// <summary>
    /// Degraded mode: how many expired entries are refreshed from the factory per second while L2 is unavailable (the
    /// others are served stale, within their fail-safe window, and tried again after <see cref="FailSafeThrottleDuration"/>);
    /// early refreshes take from the same budget then. Every entry of a warm cache expires during a long enough outage;
    /// without a bound, their refreshes all reach the database in the same minute. While values are shared (through the
    /// replicas, or the invalidation channel when no Redis node answers) a refresh made on one instance serves every
    /// instance, and each instance counts the refreshes the others announce against its own budget: the instances
    /// together refresh about this many per second. Otherwise (no channel carries values, and during
    /// <see cref="RecoveryDuration"/>) it is this instance's rate. Default: 2 per second (bursts of 2). Bounds: 0.01 to 100,000.
    /// </summary>
    public double DegradedRefreshesPerSecond { get; set; } = LeveeOptionBounds.DegradedRefreshesPerSecond.Default;

    /// <summary>
    /// Recovery after degraded mode: for this long after L2 becomes usable again, an entry that expired while it was
    /// unusable (and is still inside its fail-safe window) is served stale at once and refreshed in the background within
    /// the same budget, <see cref="DegradedRefreshesPerSecond"/>, each refresh reading L2 first (another instance may have
    /// refreshed it), instead of being loaded by the caller: the refreshes deferred during the outage are not all paid at
    /// the repair. A key removed (or tag-removed, or cleared) is never served stale. After it, such an entry is loaded as
    /// any expired entry is. Requires <see cref="ServeStaleWhileL2Unavailable"/>. Default: 2 minutes. Bounds: 0 to 1 hour (0 turns it off).
    /// </summary>
    public TimeSpan RecoveryDuration { get; set; } = LeveeOptionBounds.RecoveryDuration.Default;

    /// <summary>
    /// Whether removals and writes are published to the other instances (Redis pub/sub on <c>{KeyPrefix}backplane</c>) so
    /// they drop their L1 copy. Default: true. Turn it off only when a single instance uses the cache (each removal then
    /// costs one Redis command less); with several instances and no backplane, a removal on one leaves the others serving
    /// the removed value from L1 until it expires.
    /// </summary>
    public bool Backplane { get; set; } = true;

    /// <summary>Maximum invalidations kept while Redis is unreachable; past it, recovery bumps the generation (every older L2 entry becomes invisible). Default: 10,000. Bounds: 1 to 10,000,000.</summary>
    public int InvalidationJournalCapacity { get; set; } = LeveeOptionBounds.InvalidationJournalCapacity.Default;

    /// <summary>How often the cache re-reads the shared generation and replays journaled invalidations. Default: 500 ms. Bounds: 10 ms to 1 minute.</summary>
    public TimeSpan MaintenanceInterval { get; set; } = LeveeOptionBounds.MaintenanceInterval.Default;

    /// <summary>How long a tag's invalidation time read from Redis is trusted before it is read again for an L2 entry. Default: 1 second. Bounds: 0 to 1 hour.</summary>
    public TimeSpan TagCheckInterval { get; set; } = LeveeOptionBounds.TagCheckInterval.Default;

    private JsonSerializerOptions _jsonSerializerOptions = new(JsonSerializerDefaults.Web);

    /// <summary>
    /// JSON options of the default serializer (set a source-generated <c>TypeInfoResolver</c> here). Default: web defaults,
    /// or, when this property is not set, the <see cref="JsonSerializerOptions"/> registered in DI keyed by
    /// <c>typeof(IHybridCacheSerializer&lt;&gt;)</c> (what <c>AddHybridCache().WithJsonSerializerOptions(...)</c> registers), as
    /// Microsoft's HybridCache reads it. A registration keyed by a closed <c>IHybridCacheSerializer&lt;T&gt;</c> is used for that T.
    /// </summary>
    public JsonSerializerOptions JsonSerializerOptions
    {
        get => _jsonSerializerOptions;
        set
        {
            _jsonSerializerOptions = value;
            JsonSerializerOptionsSet = true;
        }
    }

    /// <summary>True once <see cref="JsonSerializerOptions"/> was set: it then wins over a DI registration.</summary>
    internal bool JsonSerializerOptionsSet { get; private set; }

    /// <summary>Time source; tests pass a fake. Default: the <see cref="System.TimeProvider"/> registered in the service
    /// container by <c>AddLevee</c> callers (e.g. a FakeTimeProvider), else <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Name of this cache in logs and metrics (the <c>cache</c> tag). <c>AddKeyedLevee(name, ...)</c> registers
    /// more caches in one container, each named by its key. Default: <c>default</c>.</summary>
    public string Name { get; set; } = "default";

    /// <summary>Name of the gate configured by <see cref="Gate"/>: <c>default</c>.</summary>
    public const string DefaultGateName = "default";

    /// <summary>
    /// The cache's default admission gate (named <c>default</c>): every factory call of an entry that names no other gate
    /// passes it. Defaults: adaptive limit 16 (2 to 64), queue of 100 for at most 1 second, a quarter of the limit for
    /// warm-up and background refresh. See <see href="https://github.com/levee-cache/levee/blob/main/docs/gate.md"/>.
    /// </summary>
    public LeveeGateOptions Gate { get; set; } = new();

    /// <summary>
    /// More named gates, one per backend (e.g. <c>"postgres"</c>, <c>"search"</c>); an entry picks one with
    /// <see cref="LeveeEntryOptions.Gate"/>. Gates belong to one cache instance. Default: none.
    /// </summary>
    public IDictionary<string, LeveeGateOptions> Gates { get; } = new Dictionary<string, LeveeGateOptions>(StringComparer.Ordinal);

    /// <summary>Warm-up of the entries registered with <c>services.AddLeveeWarmUp(...)</c>: deadline, parallelism, empty-L2 detection.</summary>
    public LeveeWarmUpOptions WarmUp { get; set; } = new();

    /// <summary>Optional L1 snapshot on local disk for restarts during a Redis outage. Default: off (no path).</summary>
    public LeveeSnapshotOptions Snapshot { get; set; } = new();
}
