namespace Levee.Drill.Catalog;

/// <summary>
/// One app instance's database, as a cache client sees it: the loader (factory) of a cache miss. Every call is
/// one query against the run's PostgreSQL, through the instance's bounded pool, at the drill's per-query cost.
/// </summary>
public interface ICatalogLoader
{
    /// <summary>Reads the row of <paramref name="key"/> (e.g. <c>product:42</c>) with its current version.</summary>
    /// <param name="key">The cache key.</param>
    /// <param name="cancellationToken">Cancels the query.</param>
    ValueTask<CatalogEntry> LoadAsync(string key, CancellationToken cancellationToken);
}
