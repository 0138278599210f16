namespace Levee.Internal;

/// <summary>
/// One L1 entry. Immutable but for the early-refresh flag. Times ending in <c>Mono</c> are on the monotonic clock,
/// times ending in <c>Wall</c> are Unix milliseconds (shared with other instances through Redis).
/// </summary>
internal sealed class CacheEntry
{
    public CacheEntry(object? value, long createdWall, long freshUntilMono, long staleUntilMono, long refreshAtMono,
        long freshUntilWall, string[]? tags, long epoch)
    {
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
    public readonly long CreatedWall;
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
