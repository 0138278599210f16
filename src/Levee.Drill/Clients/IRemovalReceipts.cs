namespace Levee.Drill.Clients;

/// <summary>
/// A client that can tell when it last received another instance's removal of a key through a second invalidation channel
/// (<c>levee</c>, <c>levee-no-share</c>: PostgreSQL). The drill asks it about each stale-after-invalidation read, to tell
/// a removal that had not yet arrived at the reading instance from one that had (the report's <c>staleReads</c>).
/// </summary>
internal interface IRemovalReceipts
{
    /// <summary>The <see cref="TimeProvider.System"/> timestamp at which the latest removal of <paramref name="key"/> was
    /// received and applied here; null when none was.</summary>
    long? LastRemovalReceived(string key);
}
