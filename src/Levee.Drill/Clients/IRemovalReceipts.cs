namespace Levee.Drill.Clients;

/// <summary>
/// A client that can tell when it received other instances' removals of a key through a second invalidation channel
/// (<c>levee</c>, <c>levee-no-share</c>: PostgreSQL). The drill asks it about each stale-after-invalidation read, after the
/// run, to tell a removal that had not yet arrived at the reading instance from one that had (the report's
/// <c>staleReads</c>).
/// </summary>
internal interface IRemovalReceipts
{
    /// <summary>The <see cref="TimeProvider.System"/> timestamp at which the first removal of <paramref name="key"/> received
    /// at or after <paramref name="sinceTimestamp"/> arrived and was applied here; null when none did (or it is no longer
    /// remembered: the last <see cref="ReceiptsKept"/> per key are).</summary>
    long? RemovalReceivedSince(string key, long sinceTimestamp);

    /// <summary>Receipts remembered per key.</summary>
    const int ReceiptsKept = 64;
}
