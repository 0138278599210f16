using Levee.Gate;
using Levee.Internal;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee;

public sealed partial class LeveeCache
{
    // A key in the data namespace (so a generation bump also makes it disappear) that warm-up writes when it is done.
    private const string WarmMarkerKey = "__levee_warm_marker";
    private static readonly byte[] WarmMarkerValue = "1"u8.ToArray();

    internal bool IsDisposed => Volatile.Read(ref _disposed) != 0;

    /// <summary>
    /// Loads one warm-up entry into L1 and L2: a fresh L2 value is copied to L1 (no database call); otherwise the factory
    /// runs through the entry's gate at warm-up priority (behind every interactive caller, within the low-priority share).
    /// </summary>
    internal async Task<WarmUpOutcome> WarmUpEntryAsync<T>(string key, Func<CancellationToken, ValueTask<T>> factory, LeveeEntryOptions options,
        string[]? tags, CancellationToken cancellationToken, bool fromL2Only = false)
    {
        if (!IsCacheable(key))
        {
            throw new ArgumentException("A warm-up key must be one the cache can keep: not white space, at most LeveeOptions.MaximumKeyLength characters, no control characters.", nameof(key));
        }

        tags = ToArray(tags); // checked as a read's tags are
        cancellationToken.ThrowIfCancellationRequested();
        var epoch = _coherence.Epoch;
        if (_guard is not null && (options.Flags & HybridCacheEntryFlags.DisableDistributedCacheRead) == 0)
        {
            var readSeq = CurrentSeq; // as on a read: a value a removal overlapped does not go into L1
            var l2 = await ReadL2Async<T>(key, options, epoch).ConfigureAwait(false);
            NoteL2Usable(!l2.Unavailable && L2Recovered); // a re-warm at the failover may read L2 before any caller did
            if (l2.Fresh is { } fresh)
            {
                if (!_coherence.ChangedDuring(key, readSeq))
                {
                    WriteL1(key, fresh, options);
                }

                return WarmUpOutcome.FromL2;
            }

            // a re-warm after an outage long enough for Redis to have lost its copy (the 92-minute incident: every copy's
            // lifetime ran out): an entry this instance still holds fresh (refreshed during the outage, or loaded since)
            // is written back, not loaded again. Every instance re-warming the same hot keys from the database was the
            // repair's load there (levee-warmup: 1,882 warm-up queries in the 20 s after the failover, 217 queries/s)
            if (!l2.Unavailable && TryGetFresh<T>(key, out var held, out var heldEntry))
            {
                _ = await WriteL2Async(key, held!, heldEntry, options).ConfigureAwait(false);
                return WarmUpOutcome.FromL1;
            }

            // a re-warm at the end of an outage (after the failover that repaired it): an entry that expired during the
            // outage is served stale by its reads and refreshed by them within the recovery budget; loading it here would
            // pay every such entry's refresh at the repair, at once (issue 19)
            if (l2.Stale is { } stale && _options.ServeStaleWhileL2Unavailable && ExpiredDuringOutage(stale))
            {
                return WarmUpOutcome.LeftToRecovery;
            }

            // L2 not usable in the middle of a re-warm (its breaker still open at the repair, or open again): an entry
            // this instance holds through the outage stays as it is. Its reads serve it and refresh it within the
            // degraded budget, and the next re-warm writes it to L2; loading it here only reloads L1 from the database,
            // on every instance at once
            if (l2.Unavailable && HeldThroughOutage(key))
            {
                return WarmUpOutcome.KeptInL1;
            }
        }

        if (fromL2Only)
        {
            return WarmUpOutcome.NeedsFactory;
        }

        _ = await LoadAsync(Load<Func<CancellationToken, ValueTask<T>>, T>.ForWarmUp(this, key, factory, static (f, ct) => f(ct), options, tags, cancellationToken)).ConfigureAwait(false);
        return WarmUpOutcome.FromFactory;
    }

    /// <summary>
    /// This instance, which has used L2 before (not a cold start), holds a valid entry of <paramref name="key"/> that is
    /// fresh, or that expired while L2 was unusable and is still inside the fail-safe window (what its reads serve).
    /// </summary>
    private bool HeldThroughOutage(string key)
    {
        if (Volatile.Read(ref _l2SeenUsable) == 0 || !_options.ServeStaleWhileL2Unavailable || !_l1.TryGet(key, out var entry) || !_coherence.IsValid(entry))
        {
            return false;
        }

        var nowMono = _clock.MonoMs;
        if (entry.FreshUntilMono > nowMono)
        {
            return true;
        }

        var unusableSince = Volatile.Read(ref _unusableSinceWall);
        return entry.StaleUntilMono > nowMono && ((unusableSince != 0 && entry.FreshUntilWall >= unusableSince) || ExpiredDuringOutage(entry));
    }

    /// <summary>True: L2 holds the warm-up marker; false: L2 answered and the marker is gone (L2 lost its data); null: L2 not usable.</summary>
    internal async ValueTask<bool?> HasWarmMarkerAsync()
    {
        if (_guard is null || !_guard.IsUsable)
        {
            return null;
        }

        if (!_coherence.GenerationKnown && !await RefreshGenerationAsync().ConfigureAwait(false))
        {
            return null;
        }

        var outcome = await _guard.TryAsync("get", static (store, k) => store.GetAsync(k), DataKey(WarmMarkerKey)).ConfigureAwait(false);
        return outcome.Success ? !outcome.Value.IsNull : null;
    }

    /// <summary>Writes the warm-up marker to L2; false when L2 is not usable.</summary>
    internal async ValueTask<bool> WriteWarmMarkerAsync()
    {
        if (_guard is null || !_guard.IsUsable)
        {
            return false;
        }

        if (!_coherence.GenerationKnown && !await RefreshGenerationAsync().ConfigureAwait(false))
        {
            return false;
        }

        var outcome = await _guard.TryAsync("set", static (store, k) => store.SetAsync(k, WarmMarkerValue, TimeSpan.FromDays(30)), DataKey(WarmMarkerKey)).ConfigureAwait(false);
        return outcome.Success;
    }
}

internal enum WarmUpOutcome
{
    FromL2,
    FromFactory,

    /// <summary>Not in L2 but fresh in this instance's L1: written back to L2, not loaded.</summary>
    FromL1,

    /// <summary>Expired during the outage that just ended: its reads serve it stale and refresh it (recovery), not the warm-up.</summary>
    LeftToRecovery,

    /// <summary>L2 not usable during a re-warm, and this instance holds the entry through the outage: kept, not loaded.</summary>
    KeptInL1,

    /// <summary>Asked for from L2 only (a run's first pass) and needing its factory: left for the second pass.</summary>
    NeedsFactory,
}
