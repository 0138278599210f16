using System.Globalization;

namespace Levee;

/// <summary>
/// The default, lowest and highest value of every bounded option, written once. The options' initializers take their
/// defaults from here, <see cref="LeveeOptionsValidator"/> and <see cref="LeveeEntryOptions"/> their bounds, and tests
/// check the XML docs and docs/engine.md's options table against it (<c>OptionBoundsTests</c>).
/// </summary>
internal static class LeveeOptionBounds
{
    private static readonly TimeSpan OneMs = TimeSpan.FromMilliseconds(1);

    // LeveeOptions (the time bounds also hold for the same LeveeEntryOptions and DefaultEntryOptions properties)
    public static readonly OptionBound<TimeSpan> DefaultExpiration = new("DefaultExpiration", TimeSpan.FromMinutes(5), OneMs, TimeSpan.FromDays(365));
    public static readonly OptionBound<TimeSpan> FailSafeMaxDuration = new("FailSafeMaxDuration", TimeSpan.FromHours(1), TimeSpan.Zero, TimeSpan.FromDays(30));
    public static readonly OptionBound<TimeSpan> FailSafeThrottleDuration = new("FailSafeThrottleDuration", TimeSpan.FromSeconds(5), OneMs, TimeSpan.FromHours(1));
    public static readonly OptionBound<TimeSpan> FactorySoftTimeout = new("FactorySoftTimeout", TimeSpan.FromSeconds(1), OneMs, TimeSpan.FromHours(1), InfiniteAllowed: true);
    public static readonly OptionBound<TimeSpan> FactoryHardTimeout = new("FactoryHardTimeout", TimeSpan.FromSeconds(30), OneMs, TimeSpan.FromHours(1), InfiniteAllowed: true);
    public static readonly OptionBound<double> JitterFraction = new("JitterFraction", 0.1, 0, 0.5);
    public static readonly OptionBound<double> EarlyRefreshRatio = new("EarlyRefreshRatio", 0.8, 0.1, 1);
    public static readonly OptionBound<int> L1MaxEntries = new("L1MaxEntries", 100_000, 16, 100_000_000);
    public static readonly OptionBound<int> MaximumKeyLength = new("MaximumKeyLength", 1024, 1, 64 * 1024);
    public static readonly OptionBound<int> MaximumPayloadBytes = new("MaximumPayloadBytes", 1024 * 1024, 1, 512 * 1024 * 1024);
    public static readonly OptionBound<TimeSpan> L2Timeout = new("L2Timeout", TimeSpan.FromMilliseconds(50), OneMs, TimeSpan.FromSeconds(10));
    public static readonly OptionBound<TimeSpan> L2StartupWait = new("L2StartupWait", TimeSpan.FromSeconds(3), TimeSpan.Zero, TimeSpan.FromMinutes(1));
    public static readonly OptionBound<double> BreakerFailureRatio = new("BreakerFailureRatio", 0.5, 0.01, 1);
    public static readonly OptionBound<int> BreakerMinimumThroughput = new("BreakerMinimumThroughput", 10, 2, 1_000_000);
    public static readonly OptionBound<TimeSpan> BreakerSamplingDuration = new("BreakerSamplingDuration", TimeSpan.FromSeconds(2), TimeSpan.FromMilliseconds(500), TimeSpan.FromDays(1));
    public static readonly OptionBound<int> BreakerConsecutiveFailures = new("BreakerConsecutiveFailures", 5, 0, 1_000_000);
    public static readonly OptionBound<TimeSpan> BreakerBreakDuration = new("BreakerBreakDuration", TimeSpan.FromSeconds(1), TimeSpan.FromMilliseconds(500), TimeSpan.FromDays(1));
    public static readonly OptionBound<double> DegradedRefreshesPerSecond = new("DegradedRefreshesPerSecond", 2, 0.01, 100_000);
    public static readonly OptionBound<TimeSpan> RecoveryDuration = new("RecoveryDuration", TimeSpan.FromMinutes(2), TimeSpan.Zero, TimeSpan.FromHours(1));
    public static readonly OptionBound<int> InvalidationJournalCapacity = new("InvalidationJournalCapacity", 10_000, 1, 10_000_000);
    public static readonly OptionBound<TimeSpan> MaintenanceInterval = new("MaintenanceInterval", TimeSpan.FromMilliseconds(500), TimeSpan.FromMilliseconds(10), TimeSpan.FromMinutes(1));
    public static readonly OptionBound<TimeSpan> TagCheckInterval = new("TagCheckInterval", TimeSpan.FromSeconds(1), TimeSpan.Zero, TimeSpan.FromHours(1));

    // LeveeGateOptions (Gate and every Gates[name])
    public static readonly OptionBound<int> GateInitialLimit = new("InitialLimit", 16, 1, 10_000);
    public static readonly OptionBound<int> GateMinLimit = new("MinLimit", 2, 1, 10_000);
    public static readonly OptionBound<int> GateMaxLimit = new("MaxLimit", 64, 1, 10_000);
    public static readonly OptionBound<int> GateQueueLimit = new("QueueLimit", 100, 0, 100_000);
    public static readonly OptionBound<TimeSpan> GateQueueTimeout = new("QueueTimeout", TimeSpan.FromSeconds(1), TimeSpan.Zero, TimeSpan.FromMinutes(5));
    public static readonly OptionBound<double> GateLowPriorityShare = new("LowPriorityShare", 0.25, 0.01, 1);
    public static readonly OptionBound<double> GateRatePerSecond = new("RatePerSecond", 0, 0.01, 1_000_000, NullByDefault: true);
    public static readonly OptionBound<int> GateRateBurst = new("RateBurst", 10, 1, 1_000_000);
    public static readonly OptionBound<TimeSpan> GateAdaptiveWindow = new("AdaptiveWindow", TimeSpan.FromSeconds(1), OneMs, TimeSpan.FromMinutes(1));
    public static readonly OptionBound<int> GateAdaptiveWindowMinSamples = new("AdaptiveWindowMinSamples", 10, 1, 10_000);
    public static readonly OptionBound<double> GateAdaptiveSmoothing = new("AdaptiveSmoothing", 0.2, 0.01, 1);

    // LeveeWarmUpOptions
    public static readonly OptionBound<TimeSpan> WarmUpReadinessDeadline = new("WarmUp.ReadinessDeadline", TimeSpan.FromSeconds(30), TimeSpan.Zero, TimeSpan.FromHours(1));
    public static readonly OptionBound<int> WarmUpMaxParallelism = new("WarmUp.MaxParallelism", 4, 1, 256);
    public static readonly OptionBound<TimeSpan> WarmUpEmptyL2CheckInterval = new("WarmUp.EmptyL2CheckInterval", TimeSpan.FromSeconds(5), TimeSpan.FromMilliseconds(100), TimeSpan.FromHours(1));
    public static readonly OptionBound<TimeSpan> WarmUpL2ConnectTimeout = new("WarmUp.L2ConnectTimeout", TimeSpan.FromSeconds(5), TimeSpan.Zero, TimeSpan.FromMinutes(5));

    // LeveeSnapshotOptions (checked only when Snapshot.Path is set)
    public static readonly OptionBound<int> SnapshotMaxEntries = new("Snapshot.MaxEntries", 10_000, 1, 10_000_000);
    public static readonly OptionBound<long> SnapshotMaxBytes = new("Snapshot.MaxBytes", 64L * 1024 * 1024, 1024, Array.MaxLength); // the file is read into one array at start-up
    public static readonly OptionBound<TimeSpan> SnapshotWriteInterval = new("Snapshot.WriteInterval", TimeSpan.FromMinutes(1), TimeSpan.FromSeconds(1), TimeSpan.FromDays(1));

    /// <summary>Every bound, in the order of docs/engine.md's options table; gate bounds are named <c>Gate.</c>+property there.</summary>
    public static IReadOnlyList<IOptionBound> All { get; } =
    [
        DefaultExpiration, FailSafeMaxDuration, FailSafeThrottleDuration, FactorySoftTimeout, FactoryHardTimeout, JitterFraction,
        EarlyRefreshRatio, L1MaxEntries, MaximumKeyLength, MaximumPayloadBytes, L2Timeout, L2StartupWait, BreakerFailureRatio,
        BreakerMinimumThroughput, BreakerConsecutiveFailures, BreakerSamplingDuration, BreakerBreakDuration, DegradedRefreshesPerSecond, RecoveryDuration,
        InvalidationJournalCapacity,
        MaintenanceInterval, TagCheckInterval,
        GateInitialLimit, GateMinLimit, GateMaxLimit, GateQueueLimit, GateQueueTimeout, GateLowPriorityShare, GateRatePerSecond,
        GateRateBurst, GateAdaptiveWindow, GateAdaptiveWindowMinSamples, GateAdaptiveSmoothing,
        WarmUpReadinessDeadline, WarmUpMaxParallelism, WarmUpEmptyL2CheckInterval, WarmUpL2ConnectTimeout,
        SnapshotMaxEntries, SnapshotMaxBytes, SnapshotWriteInterval,
    ];

    /// <summary>A value as the docs write it: <c>10,000</c>, <c>0.25</c>, <c>50 ms</c>, <c>5 seconds</c>, <c>1 hour</c>.</summary>
    public static string Describe<T>(T value) => value switch
    {
        TimeSpan t when t == TimeSpan.Zero => "0",
        TimeSpan t when t.Ticks % TimeSpan.TicksPerDay == 0 => Unit(t.Days, "day"),
        TimeSpan t when t.Ticks % TimeSpan.TicksPerHour == 0 => Unit((long)t.TotalHours, "hour"),
        TimeSpan t when t.Ticks % TimeSpan.TicksPerMinute == 0 => Unit((long)t.TotalMinutes, "minute"),
        TimeSpan t when t.Ticks % TimeSpan.TicksPerSecond == 0 => Unit((long)t.TotalSeconds, "second"),
        TimeSpan t => string.Create(CultureInfo.InvariantCulture, $"{t.TotalMilliseconds:#,0.###} ms"),
        IFormattable f => f.ToString("#,0.########", CultureInfo.InvariantCulture),
        _ => value?.ToString() ?? "",
    };

    private static string Unit(long count, string unit) =>
        string.Create(CultureInfo.InvariantCulture, $"{count:#,0} {unit}{(count == 1 ? "" : "s")}");
}

/// <summary>One option's bounds, untyped: for the docs.</summary>
internal interface IOptionBound
{
    string Name { get; }

    string DefaultText { get; }

    string MinText { get; }

    string MaxText { get; }

    bool InfiniteAllowed { get; }
}

/// <summary>
/// An option's default and inclusive bounds. <paramref name="InfiniteAllowed"/>: <see cref="Timeout.InfiniteTimeSpan"/> is
/// allowed too; <paramref name="NullByDefault"/>: the option is nullable and null by default (<paramref name="Default"/> is unused).
/// </summary>
internal sealed record OptionBound<T>(string Name, T Default, T Min, T Max, bool InfiniteAllowed = false, bool NullByDefault = false) : IOptionBound
    where T : struct, IComparable<T>, IFormattable
{
    /// <summary>True when <paramref name="value"/> is within the bounds (NaN never is).</summary>
    public bool Allows(T value) =>
        (InfiniteAllowed && value is TimeSpan t && t == Timeout.InfiniteTimeSpan)
        || (value is not double d || !double.IsNaN(d)) && value.CompareTo(Min) >= 0 && value.CompareTo(Max) <= 0;

    /// <summary>The problem with <paramref name="value"/>, naming the option (<paramref name="path"/>, e.g. <c>LeveeOptions.Gate.MinLimit</c>) and its bounds.</summary>
    public string Problem(string path, T value) => string.Create(CultureInfo.InvariantCulture,
        $"{path} is {value}; it must be between {Min} and {Max}{(InfiniteAllowed ? " (or Timeout.InfiniteTimeSpan)" : "")}.");

    public string DefaultText => NullByDefault ? "null" : LeveeOptionBounds.Describe(Default);

    public string MinText => LeveeOptionBounds.Describe(Min);

    public string MaxText => LeveeOptionBounds.Describe(Max);
}
