using System.Collections.Concurrent;
using Levee.Internal;

namespace Levee;

public sealed partial class LeveeCache
{
    private static readonly TimeSpan TagRetention = TimeSpan.FromDays(7);
    private readonly InvalidationJournal _journal;
    private readonly ConcurrentDictionary<string, ChangeMark> _removals = new(StringComparer.Ordinal); // key -> its last removal or write
    private long _invalidationSeq;
    private long _factoryRuns;
    private readonly ConcurrentDictionary<long, long> _runningFactories = new(); // factory run -> the sequence position it started at

    /// <summary>
    /// The last removal (or SetAsync write) of a key, as positions in this instance's sequence of changes: when it began
    /// and when it ended (<see cref="InProgress"/> while a removal runs), plus when (monotonic ms, only to forget old
    /// marks). Sequence numbers are exact where a millisecond clock (4 ms coarse on Linux) would make every load that
    /// starts in the same tick as a removal look like it overlapped it.
    /// </summary>
    /// <summary>
    /// A key's changes as far as reads and loads care: when the latest one began (<see cref="BeginSeq"/>), when the last one
    /// ended (<see cref="EndSeq"/>, <see cref="InProgress"/> while any is still running: <see cref="Pending"/> of them), the
    /// latest wall time of a removal (<see cref="Wall"/>) and when the mark last changed (<see cref="Mono"/>, for pruning).
    /// Changes of one key overlap (a removal whose DEL is slow, then a SetAsync): every update merges, so a change that ends
    /// last never hides one that began after it.
    /// </summary>
    /// <remarks>
    /// <see cref="Unconfirmed"/>: the removal is not known to have reached the master (it was journaled here, or learnt
    /// through the replicas from an instance that journaled it). While it is, Redis may still hold the removed value (the
    /// replicas do, and so does the master once it is back until the DEL is replayed), so the mark is kept however long
    /// the fault lasts; it is confirmed by the DEL (here, by the replay, or by another instance telling it through the
    /// master), by an L2 write of a newer value, or by a read of the master that finds no older entry.
    /// </remarks>
    private readonly record struct ChangeMark(long BeginSeq, long EndSeq, long Mono, long Wall, int Pending, bool Unconfirmed = false)
    {
        public const long InProgress = long.MaxValue;
    }

    private long CurrentSeq => Volatile.Read(ref _invalidationSeq);

    /// <summary>
    /// For a value read from L2 by a read that started at <paramref name="readSeq"/>: true when a change of the key
    /// overlapped or followed the read (the value may be the one the change removed; it must not go into L1).
    /// </summary>
    private bool ChangedDuring(string key, long readSeq) => _removals.TryGetValue(key, out var mark) && mark.EndSeq > readSeq;

    /// <summary>
    /// For a value a factory loaded, the factory having started at <paramref name="factorySeq"/>: true when a change of the
    /// key began after that (the source may have changed after the factory read it; the value must not be stored). A
    /// change that began before the factory ran is already in what it read (the data is written before the cache is told).
    /// </summary>
    private bool ChangedAfter(string key, long factorySeq) => _removals.TryGetValue(key, out var mark) && mark.BeginSeq > factorySeq;

    /// <summary>
    /// Records a change of <paramref name="key"/> made at <paramref name="wall"/> (Unix ms; here or, from the backplane, by
    /// another instance). <paramref name="removal"/> says what it tells of the key's L2 entry: nothing (a set), a removal
    /// the master has seen (its DEL ran before it was told), or one that was journaled (<see cref="ChangeMark.Unconfirmed"/>).
    /// </summary>
    private void MarkChanged(string key, long wall, RemovalState removal = RemovalState.None)
    {
        var seq = Interlocked.Increment(ref _invalidationSeq);
        _removals.AddOrUpdate(key,
            static (_, a) => new ChangeMark(a.seq, a.seq, a.mono, a.wall, 0, a.removal == RemovalState.Journaled),
            static (_, old, a) => new ChangeMark(a.seq, old.Pending > 0 ? ChangeMark.InProgress : a.seq, a.mono, Math.Max(old.Wall, a.wall), old.Pending,
                a.removal == RemovalState.Journaled || (old.Unconfirmed && !(a.removal == RemovalState.Done && a.wall >= old.Wall))),
            (seq, mono: _clock.MonoMs, wall, removal));
        ForgetSnapshotEntry(key);
        ForgetShared(key);
    }

    private enum RemovalState
    {
        None,
        Done,
        Journaled,
    }

    /// <summary>
    /// Redis no longer holds an entry of <paramref name="key"/> created before <paramref name="wall"/> (its DEL ran on the
    /// master, or a newer value was written or found there): a journaled removal up to then is confirmed, and its mark
    /// may be forgotten like any other (a minute from now).
    /// </summary>
    private void ConfirmRemoval(string key, long wall)
    {
        while (_removals.TryGetValue(key, out var mark) && mark.Unconfirmed && mark.Wall <= wall)
        {
            if (_removals.TryUpdate(key, mark with { Unconfirmed = false, Mono = _clock.MonoMs }, mark))
            {
                return;
            }
        }
    }

    /// <summary>A removal of <paramref name="key"/> did not reach the master (journaled): its mark is kept until it has.</summary>
    private void MarkUnconfirmed(string key)
    {
        while (_removals.TryGetValue(key, out var mark) && !mark.Unconfirmed)
        {
            if (_removals.TryUpdate(key, mark with { Unconfirmed = true }, mark))
            {
                return;
            }
        }
    }

    /// <summary>A change of <paramref name="key"/> that takes time (a removal) begins; <see cref="EndChange"/> ends it.</summary>
    private void BeginChange(string key, long wall)
    {
        var seq = Interlocked.Increment(ref _invalidationSeq);
        _removals.AddOrUpdate(key,
            static (_, a) => new ChangeMark(a.seq, ChangeMark.InProgress, a.mono, a.wall, 1),
            static (_, old, a) => new ChangeMark(a.seq, ChangeMark.InProgress, a.mono, Math.Max(old.Wall, a.wall), old.Pending + 1, old.Unconfirmed),
            (seq, mono: _clock.MonoMs, wall));
        ForgetSnapshotEntry(key);
        ForgetShared(key);
    }

    private void EndChange(string key)
    {
        var seq = Interlocked.Increment(ref _invalidationSeq);
        _removals.AddOrUpdate(key,
            static (_, a) => new ChangeMark(a.seq, a.seq, a.mono, long.MinValue, 0), // not expected: a mark with a change running is never pruned
            static (_, old, a) => old.Pending > 1
                ? old with { Pending = old.Pending - 1, Mono = a.mono }
                : new ChangeMark(old.BeginSeq, a.seq, a.mono, old.Wall, 0, old.Unconfirmed),
            (seq, mono: _clock.MonoMs));
    }

    /// <summary>A restored snapshot entry of a key that changed since is never served (it would be the removed value).</summary>
    private void ForgetSnapshotEntry(string key) => Volatile.Read(ref _snapshot)?.TryRemove(key, out _);

    /// <summary>
    /// True when an L2 entry of <paramref name="key"/> created at <paramref name="createdWall"/> predates a removal this
    /// instance knows of. Such an entry was written by a load that started before the removal and whose SET reached Redis
    /// after the removal's DEL (a race between instances the backplane can't order); it is treated as a miss, and the
    /// load that follows overwrites it.
    /// </summary>
    private bool PredatesKnownRemoval(string key, long createdWall) => _removals.TryGetValue(key, out var mark) && createdWall < mark.Wall;

    private readonly ITimer? _maintenance;
    private int _maintenanceRunning;
    private int _l2WasLost;

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

        BeginChange(key, _clock.WallMs);
        Interlocked.MemoryBarrier(); // pairs with StoreAsync: it sets Writing, then reads _removals
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
            EndChange(key);
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
        if (_options.Backplane)
        {
            // one guarded call, one Redis command: DEL and PUBLISH in one script
            var message = BackplaneMessage(BackplaneMessageKind.Remove, key, wall);
            var sent = await _guard!.TryAsync("remove", static (store, a) => store.RemoveAndPublishAsync(a.key, a.channel, a.message),
                (key: DataKey(key), channel: BackplaneChannel, message)).ConfigureAwait(false);
            removed = sent.Success;
            if (removed)
            {
                _metrics.Backplane("sent");
            }
            else
            {
                await PublishThroughReplicasAsync(message).ConfigureAwait(false);
            }
        }
        else
        {
            removed = (await _guard!.TryAsync("remove", static (store, k) => store.RemoveAsync(k), DataKey(key)).ConfigureAwait(false)).Success;
        }

        if (removed && _generationKnown)
        {
            ConfirmRemoval(key, long.MaxValue); // the DEL ran on the master (an unconfirmed earlier removal of the key too)
        }
        else
        {
            // the DEL or its backplane message may not have gone out: the replay after recovery sends both again
            MarkUnconfirmed(key);
            if (!_journal.AddKey(key))
            {
                OnJournalOverflow();
            }

            Log.InvalidationJournaled(_logger, _name, _journal.Count);
        }

        // the second channel (if any) too, at once: other instances drop their L1 copy even when no Redis node answers
        await PublishToChannelAsync(LeveeInvalidationKind.Remove, key, wall, appliedToRedis: removed && _generationKnown).ConfigureAwait(false);
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

        RecordTagInvalidation(tag, nowWall, checkedNow: false);
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
        Atomic.Max(ref _allInvalidatedWall, wall);
        ForgetAllShared();
    }

    private void OnJournalOverflow()
    {
        _metrics.JournalOverflow();
        Log.JournalOverflow(_logger, _name, _options.InvalidationJournalCapacity);
    }

    /// <summary>
    /// Raised when the Redis connection is lost, restored, or follows a master switch. Raised on a background thread;
    /// a handler that throws is logged and never breaks the cache.
    /// </summary>
    public event EventHandler<LeveeL2EventArgs>? RedisStateChanged;

    private void OnL2StateChanged(object? sender, L2StoreEvent e)
    {
        Log.L2StateChanged(_logger, _name, e.Kind.ToString(), e.Detail);
        if (RedisStateChanged is { } handlers)
        {
            var args = new LeveeL2EventArgs(e.Kind switch
            {
                L2StoreEventKind.Connected => LeveeL2EventKind.Connected,
                L2StoreEventKind.ConnectionLost => LeveeL2EventKind.ConnectionLost,
                _ => LeveeL2EventKind.MasterSwitched,
            }, e.Detail);
            foreach (var handler in handlers.GetInvocationList())
            {
                try
                {
                    ((EventHandler<LeveeL2EventArgs>)handler)(this, args);
                }
                catch (Exception ex)
                {
                    Log.L2CallFailed(_logger, _name, "event handler", ex.GetType().Name, ex);
                }
            }
        }

        if (e.Kind == L2StoreEventKind.Failover)
        {
            _metrics.Failover();
            Log.FailoverFollowed(_logger, _name, e.Detail ?? "");
            _ = _guard!.ResetAsync(); // the new master starts with a clean record: no waiting for the break to end
        }

        if (e.Kind == L2StoreEventKind.ConnectionLost)
        {
            Volatile.Write(ref _l2WasLost, 1);
            if (!IsL2StartupRunning)
            {
                EndL2Startup(); // the first attempt failed (Redis down at start): the callers waiting for it go on without it
            }
        }
        else
        {
            RunL2Startup();
        }

        // After a master switch or a reconnect, other instances' invalidations may have been lost with the old
        // connection (pub/sub keeps no history), and values read from replicas during the outage may be stale: drop
        // this instance's L1 and read again from the (now reachable) L2.
        if (e.Kind == L2StoreEventKind.Failover || (e.Kind == L2StoreEventKind.Connected && Interlocked.Exchange(ref _l2WasLost, 0) == 1))
        {
            ClearLocal();
        }

        if (e.Kind is L2StoreEventKind.Connected or L2StoreEventKind.Failover)
        {
            RunMaintenance();
        }
    }

    private void RunMaintenance()
    {
        if (_disposed != 0 || Interlocked.Exchange(ref _maintenanceRunning, 1) != 0)
        {
            return;
        }

        _ = RunMaintenanceAsync();
    }

    /// <summary>
    /// Periodic work while L2 is configured: re-read the shared generation (another instance may have bumped it), replay
    /// journaled invalidations once Redis answers, forget old removal marks.
    /// </summary>
    internal async Task RunMaintenanceAsync()
    {
        try
        {
            PruneLocalState();
            PruneShared();
            if (_guard is null || !_guard.Store.IsConnected)
            {
                return;
            }

            await ForgetSharedIfTheMasterAnswersAsync().ConfigureAwait(false);

            if (!await RefreshGenerationAsync().ConfigureAwait(false))
            {
                return;
            }

            // Redis answers: the L1 snapshot restored from disk (only ever served while L2 is unavailable) is released
            Volatile.Write(ref _snapshot, null);
            if (!_journal.IsEmpty)
            {
                await ReplayJournalAsync().ConfigureAwait(false);
            }

            await ConfirmRemovalsAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.L2CallFailed(_logger, _name, "maintenance", "error", ex);
        }
        finally
        {
            Volatile.Write(ref _maintenanceRunning, 0);
        }
    }

    /// <summary>
    /// Forgets what no read can need any more: change marks older than a minute (an L2 read lasts far less; a factory still
    /// running keeps the marks of changes that began after it started), tag
    /// records that only say "not invalidated" and are due to be read again anyway, and tag invalidations older than
    /// <see cref="TagRetention"/> (L2 forgets them too; an L1 entry with tags created before such an invalidation is
    /// treated as invalidated from then on, see <see cref="IsTagInvalidated"/>).
    /// </summary>
    private void PruneLocalState()
    {
        var nowMono = _clock.MonoMs;
        var horizon = nowMono - 60_000;

        // a factory still running (a slow one left behind by a soft timeout, one that ignores its hard timeout's token)
        // checks its value against the marks of changes that began after it started: those stay however old they are
        var oldestFactory = long.MaxValue;
        foreach (var (_, seq) in _runningFactories)
        {
            oldestFactory = Math.Min(oldestFactory, seq);
        }

        foreach (var (key, mark) in _removals)
        {
            if (mark.Mono < horizon && mark.EndSeq != ChangeMark.InProgress && mark.BeginSeq <= oldestFactory && !mark.Unconfirmed)
            {
                _removals.TryRemove(new KeyValuePair<string, ChangeMark>(key, mark));
            }
        }

        var checkInterval = (long)_options.TagCheckInterval.TotalMilliseconds;
        var oldestKeptWall = _clock.WallMs - (long)TagRetention.TotalMilliseconds;
        foreach (var (tag, state) in _tags)
        {
            if (state.InvalidatedWall > 0 && state.InvalidatedWall < oldestKeptWall)
            {
                RaiseTagHorizon(state.InvalidatedWall);
                _tags.TryRemove(new KeyValuePair<string, TagState>(tag, state));
            }
            else if (state.InvalidatedWall <= 0 && (state.CheckedMono == long.MinValue || nowMono - state.CheckedMono >= checkInterval))
            {
                _tags.TryRemove(new KeyValuePair<string, TagState>(tag, state));
            }
        }
    }

    /// <summary>Unconfirmed removals checked against the master per maintenance run (a GET each, a DEL where needed).</summary>
    private const int RemovalsConfirmedPerRun = 256;

    /// <summary>
    /// The master answers: each removal this instance knows of that is not confirmed yet (learnt through the replicas from
    /// an instance that may since have stopped, its journal with it) is checked there. No entry, or one created after the
    /// removal: confirmed. An entry older than the removal: deleted here (what the issuer's replay would have done; a DEL
    /// that races a newer write costs a miss, never a stale read), then confirmed.
    /// </summary>
    private async Task ConfirmRemovalsAsync()
    {
        List<(string Key, long Wall)>? toCheck = null;
        foreach (var (key, mark) in _removals)
        {
            if (mark.Unconfirmed && mark.EndSeq != ChangeMark.InProgress && !_journal.ContainsKey(key))
            {
                (toCheck ??= []).Add((key, mark.Wall));
                if (toCheck.Count == RemovalsConfirmedPerRun)
                {
                    break;
                }
            }
        }

        if (toCheck is null)
        {
            return;
        }

        foreach (var (key, wall) in toCheck)
        {
            var read = await _guard!.TryAsync("get", static (store, k) => store.GetAsync(k), DataKey(key)).ConfigureAwait(false);
            if (!read.Success)
            {
                return;
            }

            if (!read.Value.IsNull && (!Envelope.TryRead((ReadOnlyMemory<byte>)read.Value, out var envelope) || envelope.CreatedWall < wall))
            {
                var removed = await _guard.TryAsync("remove", static (store, k) => store.RemoveAsync(k), DataKey(key)).ConfigureAwait(false);
                if (!removed.Success)
                {
                    return;
                }
            }

            ConfirmRemoval(key, wall);
        }
    }

    private void RaiseTagHorizon(long wall) => Atomic.Max(ref _tagHorizonWall, wall);

    private async Task ReplayJournalAsync()
    {
        var (keys, tags, overflowVersion) = _journal.Snapshot();
        if (overflowVersion != 0)
        {
            var bumped = await _guard!.TryAsync("generation", static (store, k) => store.IncrementAsync(k), GenerationKey).ConfigureAwait(false);
            if (!bumped.Success)
            {
                return;
            }

            ApplyGeneration(bumped.Value);
            _journal.Complete(keys, tags, overflowVersion);
            Log.JournalReplayed(_logger, _name, 0);
            await PublishAsync(BackplaneMessageKind.Clear, null).ConfigureAwait(false);
            return;
        }

        var doneKeys = new List<KeyValuePair<string, long>>(keys.Length);
        foreach (var entry in keys)
        {
            var removed = await _guard!.TryAsync("remove", static (store, k) => store.RemoveAsync(k), DataKey(entry.Key)).ConfigureAwait(false);
            if (!removed.Success)
            {
                break;
            }

            doneKeys.Add(entry);
            ConfirmRemoval(entry.Key, long.MaxValue);
            await PublishAsync(BackplaneMessageKind.Remove, entry.Key).ConfigureAwait(false);
        }

        var doneTags = new List<KeyValuePair<string, long>>(tags.Length);
        if (doneKeys.Count == keys.Length)
        {
            foreach (var tag in tags)
            {
                var written = await _guard!.TryAsync("tag", static async (store, a) =>
                {
                    await store.SetMaxAsync(a.key, a.time, a.ttl).ConfigureAwait(false);
                    return true;
                }, (key: TagKey(tag.Key), time: tag.Value, ttl: TagRetention + _options.FailSafeMaxDuration)).ConfigureAwait(false);
                if (!written.Success)
                {
                    break;
                }

                doneTags.Add(tag);
                await PublishAsync(BackplaneMessageKind.RemoveTag, tag.Key).ConfigureAwait(false);
            }
        }

        _journal.Complete([.. doneKeys], [.. doneTags], overflowVersionHandled: 0);
        Log.JournalReplayed(_logger, _name, doneKeys.Count + doneTags.Count);
    }
}
