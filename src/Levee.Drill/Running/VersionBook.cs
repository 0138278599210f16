using System.Collections.Concurrent;

namespace Levee.Drill.Running;

/// <summary>
/// What the drill knows about row versions: the latest version committed by a write, and the latest
/// version whose write AND invalidation completed. A read that started after such a completed
/// invalidation and returned an older version is a stale-after-invalidation read. Every row starts at 1.
/// </summary>
internal sealed class VersionBook
{
    private readonly ConcurrentDictionary<string, long> _committed = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, Invalidation> _invalidated = new(StringComparer.Ordinal);

    public long Committed(string key) => _committed.TryGetValue(key, out var v) ? v : 1;

    /// <summary>The latest version whose invalidation completed, and when (since the start of the load).</summary>
    public (long Version, TimeSpan At) Invalidated(string key) => InvalidationOf(key) is var i ? (i.Version, i.At) : default;

    /// <summary>The latest completed invalidation of <paramref name="key"/> with who made it and when it began (version 1 at 0 when none).</summary>
    public Invalidation InvalidationOf(string key) => _invalidated.TryGetValue(key, out var v) ? v : new Invalidation(1, TimeSpan.Zero);

    public void RecordCommitted(string key, long version) => _committed.AddOrUpdate(key, version, (_, old) => Math.Max(old, version));

    /// <summary>Records that the invalidation of <paramref name="version"/> completed at <paramref name="at"/>; it was issued by
    /// instance <paramref name="writer"/> at <paramref name="startedAt"/> (the call to the client's invalidation).</summary>
    public void RecordInvalidated(string key, long version, TimeSpan at, int writer = -1, TimeSpan? startedAt = null)
    {
        var entry = new Invalidation(version, at, writer, startedAt ?? at);
        _invalidated.AddOrUpdate(key, entry, (_, old) => version > old.Version ? entry : old);
    }

    /// <summary>A completed invalidation: the version written, when the client's invalidation returned, the writing instance
    /// (-1 unknown) and when the invalidation call began.</summary>
    internal readonly record struct Invalidation(long Version, TimeSpan At, int Writer = -1, TimeSpan StartedAt = default);
}
