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
    /// at or after <paramref name="sinceTimestamp"/> arrived and was applied here; null when none did (or none was recorded:
    /// the first <see cref="ReceiptsKept"/> per key are).</summary>
    long? RemovalReceivedSince(string key, long sinceTimestamp);

    /// <summary>Receipts recorded per key, from the first: every one of a run (the hottest key of a 92-minute drill is
    /// removed a few thousand times). Not a ring: a ring of the last few made a stale read's lookup after the run find a
    /// receipt minutes later for a key written often (the 5-minute run showed 62 and 156 s).</summary>
    const int ReceiptsKept = 100_000;
}
