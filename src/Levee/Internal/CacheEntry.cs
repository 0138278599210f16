namespace Levee.Internal;

/// <summary>
/// One L1 entry. Immutable but for the early-refresh flag. Times ending in <c>Mono</c> are on the monotonic clock,
/// times ending in <c>Wall</c> are Unix milliseconds (shared with other instances through Redis).
/// </summary>
internal sealed class CacheEntry
{
    public CacheEntry(object? value, long createdWall, long freshUntilMono, long staleUntilMono, long refreshAtMono,
        long freshUntilWall, string[]? tags, long epoch, long createdSeq = -1)
    {
        CreatedSeq = createdSeq;
        HoldsCopy = value is MutableCopy;
        Value = value;
        CreatedWall = createdWall;
        FreshUntilMono = freshUntilMono;
        StaleUntilMono = staleUntilMono;
        RefreshAtMono = refreshAtMono;
        FreshUntilWall = freshUntilWall;
        Tags = tags;
        Epoch = epoch;
    }

    public readonly object? Value;

    /// <summary><see cref="Value"/> is a mutable type's <see cref="MutableCopy"/>: each read deserializes its own instance.
    /// A field, so the hit path tests it without a type check.</summary>
    public readonly bool HoldsCopy;
    public readonly long CreatedWall;

    /// <summary>
    /// For a value this instance loaded or set: its position in the instance's sequence of changes when its factory started
    /// (or when it was set). An invalidation in the same millisecond as <see cref="CreatedWall"/> is ordered by it: the value
    /// is valid if the invalidation came first. -1 for values from elsewhere (Redis, the snapshot): a tie counts as invalidated.
    /// </summary>
    public readonly long CreatedSeq;
    public readonly long FreshUntilMono;
    public readonly long StaleUntilMono;
    public readonly long RefreshAtMono;
    public readonly long FreshUntilWall;
    public readonly string[]? Tags;
    /// <summary>The L1 epoch the entry belongs to; bumping the cache's epoch drops every older entry at once.</summary>
    public readonly long Epoch;

    /// <summary>1 while a background (early) refresh of this entry runs.</summary>
    public int RefreshStarted;
}
