using Levee.Internal;

namespace Levee;

/// <summary>
/// L2's lifecycle: what the cache does when the store connects, loses its connection or follows a failover (the store
/// decides those; see src/Levee/Redis), and the maintenance loop (re-read the generation, replay the journal, confirm
/// removals, forget old change marks and tag records), and a new cache's bounded start-up with Redis.
/// </summary>
public sealed partial class LeveeCache
{
    private readonly ITimer? _maintenance;
    private int _maintenanceRunning;
    private int _l2WasLost;

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
        // With an invalidation channel that received everything meanwhile (ChannelCoveredTheGap), nothing was missed: the
        // entries stay (a failover used to cost every instance a reload of its hot keys, from the database for those
        // loaded during the outage: the drill's master-hang and cluster-master-crash, 3 s of p95 at one query).
        if (e.Kind == L2StoreEventKind.Failover || (e.Kind == L2StoreEventKind.Connected && Interlocked.Exchange(ref _l2WasLost, 0) == 1))
        {
            if (ChannelCoveredTheGap())
            {
                Log.L1KeptAtFailover(_logger, _name, e.Kind == L2StoreEventKind.Failover ? "a failover" : "a reconnect");
            }
            else
            {
                ClearLocal();
            }
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
            await ResendToChannelAsync().ConfigureAwait(false);
            if (_guard is not null)
            {
                await ProbeBreakersAsync().ConfigureAwait(false);
                await ResendThroughReplicasAsync().ConfigureAwait(false);
                NoteL2Usable(L2Recovered);
            }

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
            if (L2Recovered)
            {
                NoteChannelEpochWhileHealthy(); // the master answered (not a replica): its pub/sub reached this instance
            }

            if (!_journal.IsEmpty)
            {
                await ReplayJournalAsync().ConfigureAwait(false);
            }

            if (_journal.IsEmpty)
            {
                DropReplicaOutbox(); // the master answered (the generation was read) and took every journaled invalidation
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
    /// The breakers' probes (<see cref="L2Guard.ProbeAsync"/>): while a breaker is open, once its break duration has passed,
    /// one read of the generation key on the master (or a replica) closes it if it answers. Here, never on a caller's path.
    /// </summary>
    /// <remarks>Each breaker is probed when its own node is connected: the replicas' breaker matters most while the master
    /// is not (a replica breaker opened during a master outage, by a few replica timeouts on a starved machine, used to
    /// stay open until the master came back: the replicas' probe waited for the master's connection, and the instance
    /// read no replica and shared no value for the rest of the outage; measured in the 92-minute incident drill: two of
    /// eight instances loading every key themselves, the database at 2-3x).</remarks>
    private async ValueTask ProbeBreakersAsync()
    {
        var store = _guard!.Store;
        if (store.IsConnected)
        {
            _ = await _guard.ProbeAsync("probe", static (store, k) => store.GetNumbersAsync([k]), GenerationKey).ConfigureAwait(false);
        }

        if (_replicaGuard is not null && store.IsReplicaConnected)
        {
            _ = await _replicaGuard.ProbeAsync("probe-replica", static (store, k) => store.GetNumbersFromReplicaAsync([k]), GenerationKey).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Forgets what no read can need any more: change marks older than a minute (an L2 read lasts far less; a factory still
    /// running keeps the marks of changes that began after it started), tag
    /// records that only say "not invalidated" and are due to be read again anyway, and tag invalidations older than
    /// <see cref="TagRetention"/> (L2 forgets them too; an L1 entry with tags created before such an invalidation is
    /// treated as invalidated from then on, see <see cref="Coherence.IsTagInvalidated"/>).
    /// </summary>
    private void PruneLocalState()
    {
        // a factory still running (a slow one left behind by a soft timeout, one that ignores its hard timeout's token)
        // checks its value against the marks of changes that began after it started: those stay however old they are
        var oldestFactory = long.MaxValue;
        foreach (var (_, seq) in _runningFactories)
        {
            oldestFactory = Math.Min(oldestFactory, seq);
        }

        _coherence.Prune(oldestFactory, (long)_options.TagCheckInterval.TotalMilliseconds, _clock.WallMs - (long)TagRetention.TotalMilliseconds);
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
        var toCheck = _coherence.Unconfirmed(key => _journal.ContainsKey(key), RemovalsConfirmedPerRun);
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

            _coherence.ConfirmRemoval(key, wall);
        }
    }

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
            _coherence.ConfirmRemoval(entry.Key, long.MaxValue);
            var removedAt = _journal.WallOf(entry.Key); // sent with the removal's own time: a value loaded since stays
            await PublishAsync(BackplaneMessageKind.Remove, entry.Key, removedAt == long.MinValue ? null : removedAt).ConfigureAwait(false);
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
                await PublishAsync(BackplaneMessageKind.RemoveTag, tag.Key, tag.Value).ConfigureAwait(false);
            }
        }

        _journal.Complete([.. doneKeys], [.. doneTags], overflowVersionHandled: 0);
        if (doneKeys.Count + doneTags.Count > 0)
        {
            Log.JournalReplayed(_logger, _name, doneKeys.Count + doneTags.Count); // (not "0" at every maintenance while the master fails)
        }
    }

    /// <summary>Completes when this cache's start-up with Redis has ended: connected and ready, failed, or out of time.</summary>
    private readonly TaskCompletionSource _l2Started = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private ITimer? _l2StartupTimer;
    private int _l2StartupRunning;

    private bool IsL2StartupRunning => Volatile.Read(ref _l2StartupRunning) == 1;

    /// <summary>Starts the bounded wait for the first connection (<see cref="LeveeOptions.L2StartupWait"/>).</summary>
    private void BeginL2Startup(IL2Store l2)
    {
        if (_options.L2StartupWait <= TimeSpan.Zero)
        {
            _l2Started.TrySetResult();
            return;
        }

        _l2StartupTimer = NoFlow.Timer(_options.TimeProvider, static s => ((LeveeCache)s!).EndL2Startup(), this, _options.L2StartupWait, Timeout.InfiniteTimeSpan);
        if (l2.IsConnected)
        {
            RunL2Startup(); // connected before this cache listened to the store's events
        }
    }

    private void EndL2Startup()
    {
        _l2Started.TrySetResult();
        _l2StartupTimer?.Dispose();
    }

    /// <summary>The store (re)connected: if the start-up is still waiting, prepares Redis for the callers, then lets them in.</summary>
    private void RunL2Startup()
    {
        if (!_l2Started.Task.IsCompleted && Interlocked.Exchange(ref _l2StartupRunning, 1) == 0)
        {
            _ = RunL2StartupAsync();
        }
    }

    /// <summary>
    /// What a new cache does before its callers use Redis, with the whole start-up wait as its time limit, not the per-call
    /// budget: reads the shared generation (the first command on the new connection), then runs one read through the
    /// guarded path callers use (its first use costs more than the budget on a busy machine). Never throws.
    /// </summary>
    private async Task RunL2StartupAsync()
    {
        try
        {
            var numbers = await _guard!.Store.GetNumbersAsync([GenerationKey]).WaitAsync(_options.L2StartupWait, _clock.Provider).ConfigureAwait(false);
            if (!_coherence.GenerationKnown && !_l2Started.Task.IsCompleted)
            {
                ApplyGeneration(numbers[0] ?? 0); // not once the wait is over: a caller's read may have applied a newer one
            }

            for (var attempt = 0; attempt < 2; attempt++)
            {
                if (!_guard.TryStart("get", static (store, k) => store.GetAsync(k), DataKey("levee-startup"), out var pending, out var call))
                {
                    break;
                }

                try
                {
                    _ = await pending.ConfigureAwait(false);
                    _guard.Succeeded(call);
                    break;
                }
                catch (Exception ex)
                {
                    _guard.Failed(call, ex);
                }
            }
        }
        catch (Exception ex)
        {
            Log.L2CallFailed(_logger, _name, "startup", ex.GetType().Name, ex);
        }
        finally
        {
            Volatile.Write(ref _l2StartupRunning, 0);
            if (_guard!.Store.IsConnected)
            {
                EndL2Startup();
            }
        }
    }
}
