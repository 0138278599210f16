using System.Collections.Concurrent;
using Levee.Internal;

namespace Levee;

public sealed partial class LeveeCache
{
    private static readonly TimeSpan TagRetention = TimeSpan.FromDays(7);
    private readonly InvalidationJournal _journal;
    private long _factoryRuns;
    private readonly ConcurrentDictionary<long, long> _runningFactories = new(); // factory run -> the sequence position it started at

    private long CurrentSeq => _coherence.CurrentSeq;

    /// <summary>Records a change of <paramref name="key"/> (<see cref="Coherence.MarkChanged"/>); a restored snapshot entry
    /// or a value shared by another instance of the key is forgotten.</summary>
    private void MarkChanged(string key, long wall, Coherence.RemovalState removal = Coherence.RemovalState.None)
    {
        _coherence.MarkChanged(key, wall, removal);
        ForgetSnapshotEntry(key);
        ForgetShared(key);
    }

    /// <summary>A removal of <paramref name="key"/> begins (<see cref="Coherence.BeginChange"/>, a full fence included).</summary>
    private void BeginChange(string key, long wall)
    {
        _coherence.BeginChange(key, wall);
        ForgetSnapshotEntry(key);
        ForgetShared(key);
    }

    /// <summary>A restored snapshot entry of a key that changed since is never served (it would be the removed value).</summary>
    private void ForgetSnapshotEntry(string key) => Volatile.Read(ref _snapshot)?.TryRemove(key, out _);

    /// <summary>Invalidations waiting for Redis (journaled while it was unreachable).</summary>
    public int PendingInvalidations => _journal.Count + (_journal.Overflowed ? 1 : 0);

    /// <inheritdoc />
    /// <remarks>
    /// L1 at once; in Redis DEL and the backplane PUBLISH are sent together (one script: one command, one round trip, one
    /// time budget; the DEL runs first). A load of the key in this process that is writing its value to Redis
    /// is waited for first, so its SET can't land after the DEL. If Redis can't be reached the removal is journaled
    /// and replayed when it is back.
    /// </remarks>
    public override async ValueTask RemoveAsync(string key, CancellationToken cancellationToken = default)
    {
        if (!IsCacheable(key))
        {
            return; // nothing can be cached under it
        }

        BeginChange(key, _clock.WallMs); // a full fence: pairs with StoreAsync and ServeStale (Coherence's remarks, pair 1)
        try
        {
            _l1.TryRemove(key);
            if (_guard is null)
            {
                await PublishToChannelAsync(LeveeInvalidationKind.Remove, key, _clock.WallMs, appliedToRedis: false).ConfigureAwait(false);
                return;
            }

            if (_flights.TryGetValue(key, out var flight) && Volatile.Read(ref flight.Writing) == 1)
            {
                await flight.Ended.ConfigureAwait(false); // bounded: the write runs under the L2 time budget
            }

            await RemoveFromL2Async(key).ConfigureAwait(false);
        }
        finally
        {
            _coherence.EndChange(key);
        }
    }

    /// <summary>
    /// The key's L2 entry deleted and every instance told (one script with the backplane: DEL, then PUBLISH); when Redis
    /// can't be reached, the removal is journaled (replayed when it is back) and its message sent through the replicas.
    /// </summary>
    private async ValueTask RemoveFromL2Async(string key)
    {
        var wall = _clock.WallMs; // one time for both channels' messages: a receiver recognizes the second copy
        bool removed;

        // A new instance whose first command has not been answered yet reads the generation first (as a read does): its
        // DEL names the right key, and the removal is not journaled and replayed for nothing. When Redis does not answer,
        // the removal is journaled below (replayed once the generation is known) and told through the replicas.
        var generationKnown = _coherence.GenerationKnown || await RefreshGenerationAsync().ConfigureAwait(false);
        if (_options.Backplane)
        {
            // one guarded call, one Redis command: DEL and PUBLISH in one script
            var message = BackplaneMessage(BackplaneMessageKind.Remove, key, wall);
            var sent = generationKnown
                ? await _guard!.TryAsync("remove", static (store, a) => store.RemoveAndPublishAsync(a.key, a.channel, a.message),
                    (key: DataKey(key), channel: BackplaneChannel, message)).ConfigureAwait(false)
                : default;
            removed = sent.Success;
            if (removed)
            {
                _metrics.Backplane("sent");
            }
            else
            {
                await PublishThroughReplicasAsync(message, mustArrive: true).ConfigureAwait(false);
            }
        }
        else
        {
            removed = generationKnown && (await _guard!.TryAsync("remove", static (store, k) => store.RemoveAsync(k), DataKey(key)).ConfigureAwait(false)).Success;
        }

        if (removed && _coherence.GenerationKnown)
        {
            _coherence.ConfirmRemoval(key, long.MaxValue); // the DEL ran on the master (an unconfirmed earlier removal of the key too)
        }
        else
        {
            // the DEL or its backplane message may not have gone out: the replay after recovery sends both again
            _coherence.MarkUnconfirmed(key);
            if (!_journal.AddKey(key, wall))
            {
                OnJournalOverflow();
            }

            Log.InvalidationJournaled(_logger, _name, _journal.Count);
        }

        // the second channel (if any) too, at once: other instances drop their L1 copy even when no Redis node answers
        await PublishToChannelAsync(LeveeInvalidationKind.Remove, key, wall, appliedToRedis: removed && _coherence.GenerationKnown).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public override async ValueTask RemoveByTagAsync(string tag, CancellationToken cancellationToken = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(tag);
        var nowWall = _clock.WallMs;
        if (tag == "*")
        {
            // Everything: locally at once; in L2 by a generation bump (every instance re-reads the generation).
            RaiseAllInvalidated(nowWall);
            ClearLocal();
            if (_guard is not null)
            {
                var bumped = await _guard.TryAsync("generation", static (store, k) => store.IncrementAsync(k), GenerationKey).ConfigureAwait(false);
                if (bumped.Success)
                {
                    ApplyGeneration(bumped.Value);
                }
                else
                {
                    // journaled as "everything": the replay bumps the generation when Redis is back (as after an overflow)
                    _journal.AddEverything();
                    Log.InvalidationJournaled(_logger, _name, _journal.Count);
                }
            }

            await PublishAsync(BackplaneMessageKind.Clear, null).ConfigureAwait(false);
            await PublishToChannelAsync(LeveeInvalidationKind.Clear, null, nowWall, appliedToRedis: false).ConfigureAwait(false);
            return;
        }

        _coherence.RecordTagInvalidation(tag, nowWall, checkedNow: false);
        var tagWritten = false;
        if (_guard is not null)
        {
            var written = await _guard.TryAsync("tag", static async (store, a) =>
            {
                await store.SetMaxAsync(a.key, a.time, a.ttl).ConfigureAwait(false);
                return true;
            }, (key: TagKey(tag), time: nowWall, ttl: TagRetention + _options.FailSafeMaxDuration)).ConfigureAwait(false);
            tagWritten = written.Success;
            if (!written.Success)
            {
                if (!_journal.AddTag(tag, nowWall))
                {
                    OnJournalOverflow();
                }

                Log.InvalidationJournaled(_logger, _name, _journal.Count);
            }
        }

        await PublishAsync(BackplaneMessageKind.RemoveTag, tag).ConfigureAwait(false);
        await PublishToChannelAsync(LeveeInvalidationKind.RemoveTag, tag, nowWall, tagWritten).ConfigureAwait(false);
    }

    /// <summary>Everything created up to <paramref name="wall"/> (Unix ms) is invalidated: L1, restored snapshot and L2 entries read from now on.</summary>
    private void RaiseAllInvalidated(long wall)
    {
        _coherence.RaiseAllInvalidated(wall);
        ForgetAllShared();
    }

    private void OnJournalOverflow()
    {
        _metrics.JournalOverflow();
        Log.JournalOverflow(_logger, _name, _options.InvalidationJournalCapacity);
    }
}
