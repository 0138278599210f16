using Microsoft.Extensions.Logging;

namespace Levee.Gate;

/// <summary>Log messages of the gate, warm-up and health (event ids 100-149; documented in docs/gate.md). Keys and values are never logged.</summary>
internal static partial class GateLog
{
    [LoggerMessage(LeveeEventIds.RefreshSkipped, LogLevel.Debug, "Levee cache '{Cache}': gate '{Gate}' had no low-priority slot; a background refresh was skipped (the current value stays).")]
    public static partial void RefreshSkipped(ILogger logger, string cache, string gate);

    [LoggerMessage(LeveeEventIds.WarmUpStarted, LogLevel.Information, "Levee cache '{Cache}': warm-up ({Trigger}) started for {Count} entries.")]
    public static partial void WarmUpStarted(ILogger logger, string cache, string trigger, int count);

    [LoggerMessage(LeveeEventIds.WarmUpDone, LogLevel.Information, "Levee cache '{Cache}': warm-up ({Trigger}) done: {FromL2} from L2, {FromFactory} from the factory, {Failed} failed, in {Seconds:0.000} s.")]
    public static partial void WarmUpDone(ILogger logger, string cache, string trigger, int fromL2, int fromFactory, int failed, double seconds);

    [LoggerMessage(LeveeEventIds.WarmUpEntryFailed, LogLevel.Warning, "Levee cache '{Cache}': warm-up entry failed; it is loaded on first use instead.")]
    public static partial void WarmUpEntryFailed(ILogger logger, string cache, Exception exception);

    [LoggerMessage(LeveeEventIds.WarmUpDeadlinePassed, LogLevel.Warning, "Levee cache '{Cache}': start-up warm-up not done within the readiness deadline ({Seconds} s); reporting ready anyway, warming continues.")]
    public static partial void WarmUpDeadlinePassed(ILogger logger, string cache, double seconds);

    [LoggerMessage(LeveeEventIds.L2FoundEmpty, LogLevel.Warning, "Levee cache '{Cache}': L2 lost the warm-up marker (Redis restarted empty, was flushed or the generation changed); warming up again.")]
    public static partial void L2FoundEmpty(ILogger logger, string cache);

    [LoggerMessage(LeveeEventIds.WarmUpSourceFailed, LogLevel.Error, "Levee cache '{Cache}': a warm-up source threw while enumerating entries.")]
    public static partial void WarmUpSourceFailed(ILogger logger, string cache, Exception exception);

    [LoggerMessage(LeveeEventIds.SnapshotWritten, LogLevel.Information, "Levee cache '{Cache}': L1 snapshot written: {Count} entries.")]
    public static partial void SnapshotWritten(ILogger logger, string cache, int count);

    [LoggerMessage(LeveeEventIds.SnapshotLoaded, LogLevel.Information, "Levee cache '{Cache}': L1 snapshot read at start-up: {Count} entries, served as stale values while L2 is unavailable.")]
    public static partial void SnapshotLoaded(ILogger logger, string cache, int count);

    [LoggerMessage(LeveeEventIds.SnapshotFailed, LogLevel.Warning, "Levee cache '{Cache}': L1 snapshot could not be {Operation}; continuing without it.")]
    public static partial void SnapshotFailed(ILogger logger, string cache, string operation, Exception exception);

    [LoggerMessage(LeveeEventIds.SnapshotEntryUnreadable, LogLevel.Warning, "Levee cache '{Cache}': an L1 snapshot entry did not deserialize as {Type}; ignored.")]
    public static partial void SnapshotEntryUnreadable(ILogger logger, string cache, string type, Exception exception);
}
