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
    private readonly ConcurrentDictionary<string, (long Version, TimeSpan At)> _invalidated = new(StringComparer.Ordinal);

    public long Committed(string key) => _committed.TryGetValue(key, out var v) ? v : 1;

    /// <summary>The latest version whose invalidation completed, and when (since the start of the load).</summary>
    public (long Version, TimeSpan At) Invalidated(string key) => _invalidated.TryGetValue(key, out var v) ? v : (1, TimeSpan.Zero);

    public void RecordCommitted(string key, long version) => _committed.AddOrUpdate(key, version, (_, old) => Math.Max(old, version));

    public void RecordInvalidated(string key, long version, TimeSpan at) =>
        _invalidated.AddOrUpdate(key, (version, at), (_, old) => version > old.Version ? (version, at) : old);
}
