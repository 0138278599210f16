namespace Levee;

/// <summary>How the registered warm-up entries are loaded (at start-up, after a failover, when L2 is back or found empty).</summary>
public sealed class LeveeWarmUpOptions
{
    /// <summary>
    /// Readiness waits at most this long for the start-up warm-up; past it the readiness check reports ready anyway
    /// (and logs it) while warming continues. Default: 30 seconds. Bounds: 0 to 1 hour.
    /// </summary>
    public TimeSpan ReadinessDeadline { get; set; } = LeveeOptionBounds.WarmUpReadinessDeadline.Default;

    /// <summary>
    /// Entries loaded at once. The gate's low-priority share bounds the database calls anyway; this bounds the waiters.
    /// Default: 4. Bounds: 1 to 256.
    /// </summary>
    public int MaxParallelism { get; set; } = LeveeOptionBounds.WarmUpMaxParallelism.Default;

    /// <summary>
    /// How often Levee checks that L2 still holds its warm-up marker key (written after each warm-up). A missing marker
    /// means Redis lost its data (restart without persistence, flush, failover to an empty node, generation bump) and
    /// triggers a new warm-up. Default: 5 seconds. Bounds: 100 ms to 1 hour.
    /// </summary>
    public TimeSpan EmptyL2CheckInterval { get; set; } = LeveeOptionBounds.WarmUpEmptyL2CheckInterval.Default;

    /// <summary>
    /// At start-up, how long warm-up waits for Redis to connect before it loads entries (so they reach L2 before
    /// readiness). Past it, entries go to L1 only and reach L2 at the re-warm when Redis connects. Default: 5 seconds.
    /// Bounds: 0 to 5 minutes.
    /// </summary>
    public TimeSpan L2ConnectTimeout { get; set; } = LeveeOptionBounds.WarmUpL2ConnectTimeout.Default;

    /// <summary>Warm up again when Redis reconnects or fails over. Default: true.</summary>
    public bool RewarmOnL2Recovery { get; set; } = true;
}
