namespace Levee;

/// <summary>
/// One critical entry to load before the service reports ready (and again whenever Redis lost it): a key, the factory
/// that loads its value, and its entry options. Create with <see cref="Create{T}"/>.
/// </summary>
public abstract class LeveeWarmUpEntry
{
    private protected LeveeWarmUpEntry(string key)
    {
        ArgumentException.ThrowIfNullOrEmpty(key);
        Key = key;
    }

    /// <summary>The cache key.</summary>
    public string Key { get; }

    /// <summary>Creates an entry.</summary>
    /// <param name="key">The cache key (the same key the application reads with GetOrCreate).</param>
    /// <param name="factory">Loads the value (a database query). It runs through the entry's admission gate at warm-up priority.</param>
    /// <param name="options">Entry options (expiration, gate); null for the cache's defaults.</param>
    /// <param name="tags">Tags of the entry.</param>
    public static LeveeWarmUpEntry Create<T>(string key, Func<CancellationToken, ValueTask<T>> factory, LeveeEntryOptions? options = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(factory);
        return new Typed<T>(key, factory, options ?? LeveeEntryOptions.Default, tags is null ? null : [.. tags]);
    }

    /// <summary>Warms the entry; with <paramref name="fromL2Only"/>, one that would need its factory is left for later
    /// (<see cref="WarmUpOutcome.NeedsFactory"/>) instead of loaded.</summary>
    internal abstract Task<WarmUpOutcome> RunAsync(LeveeCache cache, bool fromL2Only, CancellationToken cancellationToken);

    private sealed class Typed<T>(string key, Func<CancellationToken, ValueTask<T>> factory, LeveeEntryOptions options, string[]? tags) : LeveeWarmUpEntry(key)
    {
        internal override Task<WarmUpOutcome> RunAsync(LeveeCache cache, bool fromL2Only, CancellationToken cancellationToken) =>
            cache.WarmUpEntryAsync(Key, factory, options, tags is { Length: > 0 } ? tags : null, cancellationToken, fromL2Only);
    }
}

/// <summary>
/// Enumerates warm-up entries when a warm-up runs (e.g. "featured products", "active categories": a query that lists the
/// keys that matter now). Register with <c>services.AddLeveeWarmUpSource&lt;T&gt;()</c>; resolved as a singleton.
/// </summary>
public interface ILeveeWarmUpSource
{
    /// <summary>The entries to load now. Called at start-up and at every re-warm (after a failover, an outage, an empty L2).</summary>
    IAsyncEnumerable<LeveeWarmUpEntry> GetEntriesAsync(CancellationToken cancellationToken);
}

/// <summary>Where the warm-up stands (see <see cref="LeveeWarmUp.State"/>).</summary>
public enum LeveeWarmUpState
{
    /// <summary>The hosted service has not started yet.</summary>
    NotStarted,

    /// <summary>The start-up warm-up runs; readiness reports "warming".</summary>
    Warming,

    /// <summary>The start-up warm-up is done; readiness reports ready.</summary>
    Ready,

    /// <summary>The start-up warm-up passed <see cref="LeveeWarmUpOptions.ReadinessDeadline"/>; readiness reports ready, warming goes on.</summary>
    ReadyPastDeadline,
}

/// <summary>The outcome of one warm-up run.</summary>
/// <param name="Trigger">Why it ran: <c>startup</c>, <c>l2_connected</c>, <c>failover</c>, <c>l2_empty</c> or <c>manual</c>.</param>
/// <param name="Entries">Entries enumerated.</param>
/// <param name="FromL2">Entries found fresh in L2 (copied to L1, no database call).</param>
/// <param name="FromFactory">Entries loaded through the factory (and written to L1 and L2).</param>
/// <param name="Failed">Entries whose load failed (logged; loaded on first use instead).</param>
/// <param name="Duration">How long the run took.</param>
public sealed record LeveeWarmUpResult(string Trigger, int Entries, int FromL2, int FromFactory, int Failed, TimeSpan Duration);
