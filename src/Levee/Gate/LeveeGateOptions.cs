namespace Levee;

/// <summary>
/// Settings of one admission gate: the gate every factory (database) call passes. A gate limits how many factory calls
/// run at once (adaptive by default), optionally how many start per second, and what happens when it is full: a caller
/// with a stale value gets it at once, others wait in a bounded queue for a bounded time and then fail fast with
/// <see cref="LeveeOverloadedException"/>. See <see href="https://github.com/levee-cache/levee/blob/main/docs/gate.md"/>.
/// </summary>
public sealed class LeveeGateOptions
{
    /// <summary>
    /// True (default): the concurrency limit adapts to the factory's latency (Gradient2-like, as in Netflix
    /// concurrency-limits): it shrinks when latency rises above its long-term baseline and grows while latency stays low,
    /// within [<see cref="MinLimit"/>, <see cref="MaxLimit"/>]. False: the limit is fixed at <see cref="InitialLimit"/>.
    /// </summary>
    public bool Adaptive { get; set; } = true;

    /// <summary>The concurrency limit at start (and the fixed limit when <see cref="Adaptive"/> is false). Default: 16. Bounds: 1 to 10,000.</summary>
    public int InitialLimit { get; set; } = LeveeOptionBounds.GateInitialLimit.Default;

    /// <summary>Lowest adaptive limit. Default: 2. Bounds: 1 to 10,000, and at most <see cref="MaxLimit"/>.</summary>
    public int MinLimit { get; set; } = LeveeOptionBounds.GateMinLimit.Default;

    /// <summary>Highest adaptive limit. Default: 64. Bounds: 1 to 10,000, and at least <see cref="MinLimit"/>.</summary>
    public int MaxLimit { get; set; } = LeveeOptionBounds.GateMaxLimit.Default;

    /// <summary>
    /// Most callers that may wait for a slot (interactive callers without a stale value; warm-up has its own share).
    /// A caller arriving when the queue is full fails at once. Default: 100. Bounds: 0 to 100,000 (0: never wait).
    /// </summary>
    public int QueueLimit { get; set; } = LeveeOptionBounds.GateQueueLimit.Default;

    /// <summary>Longest time an interactive caller waits for a slot before it fails with <see cref="LeveeOverloadedException"/>. Default: 1 second. Bounds: 0 to 5 minutes.</summary>
    public TimeSpan QueueTimeout { get; set; } = LeveeOptionBounds.GateQueueTimeout.Default;

    /// <summary>
    /// Share of the limit that low-priority work (warm-up, early and background refresh) may use at most; interactive
    /// callers are always served first. At least one slot. Default: 0.25. Bounds: 0.01 to 1.
    /// </summary>
    public double LowPriorityShare { get; set; } = LeveeOptionBounds.GateLowPriorityShare.Default;

    /// <summary>
    /// Optional rate limit: factory calls started per second (token bucket). Default: null (no rate limit).
    /// Bounds: 0.01 to 1,000,000.
    /// </summary>
    public double? RatePerSecond { get; set; }

    /// <summary>Token bucket size (burst) when <see cref="RatePerSecond"/> is set. Default: 10. Bounds: 1 to 1,000,000.</summary>
    public int RateBurst { get; set; } = LeveeOptionBounds.GateRateBurst.Default;

    /// <summary>
    /// Adaptive limit: latency samples are averaged over a window of at least this duration (and
    /// <see cref="AdaptiveWindowMinSamples"/> samples) before the limit moves. Default: 1 second. Bounds: 1 ms to 1 minute.
    /// </summary>
    public TimeSpan AdaptiveWindow { get; set; } = LeveeOptionBounds.GateAdaptiveWindow.Default;

    /// <summary>Adaptive limit: fewest samples in a window. Default: 10. Bounds: 1 to 10,000.</summary>
    public int AdaptiveWindowMinSamples { get; set; } = LeveeOptionBounds.GateAdaptiveWindowMinSamples.Default;

    /// <summary>
    /// Adaptive limit: how much of each new estimate is taken (0.2 = the limit moves a fifth of the way per window, as
    /// Netflix' Gradient2 default). Default: 0.2. Bounds: 0.01 to 1.
    /// </summary>
    public double AdaptiveSmoothing { get; set; } = LeveeOptionBounds.GateAdaptiveSmoothing.Default;

    internal LeveeGateOptions Clone() => (LeveeGateOptions)MemberwiseClone();
}
