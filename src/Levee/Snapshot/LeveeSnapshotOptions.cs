namespace Levee;

/// <summary>
/// Optional L1 snapshot on local disk, so an instance that restarts during a Redis outage starts warm: L1 is written to
/// <see cref="Path"/> periodically and at shutdown (values serialized, bounded), read back at start-up, and its entries
/// are served as stale values (never as fresh ones) while L2 is unavailable, within their fail-safe window.
/// </summary>
public sealed class LeveeSnapshotOptions
{
    /// <summary>File of the snapshot (written atomically: temp file + rename). Null or empty (default): no snapshot.</summary>
    public string? Path { get; set; }

    /// <summary>Most entries written. Default: 10,000. Bounds: 1 to 10,000,000.</summary>
    public int MaxEntries { get; set; } = LeveeOptionBounds.SnapshotMaxEntries.Default;

    /// <summary>Most bytes written (keys and serialized values). Default: 67,108,864 (64 MiB). Bounds: 1,024 to 2,147,483,591 (<see cref="Array.MaxLength"/>, just under 2 GiB: the file is read in one piece at start-up).</summary>
    public long MaxBytes { get; set; } = LeveeOptionBounds.SnapshotMaxBytes.Default;

    /// <summary>How often the snapshot is written (also at shutdown). Default: 1 minute. Bounds: 1 second to 1 day.</summary>
    public TimeSpan WriteInterval { get; set; } = LeveeOptionBounds.SnapshotWriteInterval.Default;
}
