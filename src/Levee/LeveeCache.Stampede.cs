using System.Buffers;
using System.Diagnostics;
using Levee.Gate;
using Levee.Internal;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee;

public sealed partial class LeveeCache
{
    private abstract class Flight
    {
        private TaskCompletionSource? _ended;
        private int _done;

        /// <summary>1 once the load has its value in L1 and is about to write L2: a removal of the key waits for <see cref="Ended"/>.</summary>
        public int Writing;

        /// <summary>The position in the sequence of changes when the flight started: a change of the key that began after it
        /// may not be in the flight's value, so callers that come later do not join it (<see cref="JoinAfterChangeAsync"/>).</summary>
        public long StartSeq;

        /// <summary>
        /// Cancelled when every caller of the load has left (each cancelled by its own token), as HybridCache cancels the
        /// shared factory's token then. Null when the caller that started the load can't leave (its token can't be
        /// cancelled): the load always has a caller.
        /// </summary>
        public CancellationTokenSource? Abandon;

        /// <summary>Callers still waiting for the load (counted only with <see cref="Abandon"/>).</summary>
        private int _waiters = 1;

        /// <summary>One more caller waits for the load; false when every caller has already left (it must not join).</summary>
        public bool TryJoin()
        {
            if (Abandon is null)
            {
                return true;
            }

            var waiters = Volatile.Read(ref _waiters);
            while (waiters > 0)
            {
                var seen = Interlocked.CompareExchange(ref _waiters, waiters + 1, waiters);
                if (seen == waiters)
                {
                    return true;
                }

                waiters = seen;
            }

            return false;
        }

        /// <summary>A caller's token was cancelled: it stops waiting. The last one to leave cancels the load.</summary>
        public void Leave()
        {
            if (Interlocked.Decrement(ref _waiters) == 0)
            {
                try
                {
                    Abandon!.Cancel();
                }
                catch (AggregateException)
                {
                    // a callback of the factory's token threw: the factory's own business
                }
            }
        }

        /// <summary>Completes when the flight has ended, L2 write included.</summary>
        public Task Ended
        {
            get
            {
                if (Volatile.Read(ref _done) == 1)
                {
                    return Task.CompletedTask;
                }

                var created = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                var ended = Interlocked.CompareExchange(ref _ended, created, null) ?? created;
                if (Volatile.Read(ref _done) == 1)
                {
                    ended.TrySetResult();
                }

                return ended.Task;
            }
        }

        public void Done()
        {
            // Interlocked (a full fence), not a volatile write: the read of _ended below must not be done before the write of
            // _done is visible, or Ended (CompareExchange, then a read of _done) and Done could each miss the other's write
            // and the source would never complete (a removal awaiting Ended would hang)
            Interlocked.Exchange(ref _done, 1);
            Volatile.Read(ref _ended)?.TrySetResult();
        }
    }

    /// <summary>One load of one key in this process; every concurrent caller of the key awaits the same task.</summary>
    private sealed class Flight<T> : Flight
    {
        public readonly TaskCompletionSource<T> Source = new(TaskCreationOptions.RunContinuationsAsynchronously);

        /// <summary>The value's bytes, for a mutable type: each joiner gets its own instance (set before <see cref="Source"/> completes).</summary>
        public MutableCopy<T>? Copy;
    }

    /// <summary>
    /// The L1 miss: joins the load of <paramref name="key"/> in flight, or starts it. Not an async method: a joiner
    /// allocates nothing but (with a cancelable token) its WaitAsync; only the caller that starts the load allocates a flight.
    /// </summary>
    private ValueTask<T> GetOrCreateSlowAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        LeveeEntryOptions options, IEnumerable<string>? tags, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(factory);
        if (cancellationToken.IsCancellationRequested)
        {
            return ValueTask.FromCanceled<T>(cancellationToken);
        }

        if ((options.Flags & HybridCacheEntryFlags.DisableLocalCacheRead) == 0)
        {
            _metrics.Miss("l1");
        }

        string[]? tagArray;
        try
        {
            tagArray = ToArray(tags);
        }
        catch (ArgumentException ex)
        {
            return ValueTask.FromException<T>(ex);
        }

        if (!_flights.TryGetValue(key, out var existing))
        {
            var mine = new Flight<T> { StartSeq = CurrentSeq, Abandon = cancellationToken.CanBeCanceled ? new CancellationTokenSource() : null };
            existing = _flights.GetOrAdd(key, mine);
            if (ReferenceEquals(existing, mine))
            {
                // The caller that starts the load awaits it directly (no hand-off through the flight's source: one
                // thread-pool hop less on the uncontended miss); joiners wait on the source.
                return WaitOwned(RunFlightAsync(key, mine, state, factory, options, tagArray), mine, cancellationToken);
            }
        }

        if (existing is Flight<T> joined)
        {
            if ((_removals.TryGetValue(key, out var change) && change.BeginSeq > joined.StartSeq) || Volatile.Read(ref _broadInvalidationSeq) > joined.StartSeq)
            {
                // The key changed (removed, set, or told by the backplane), or a tag or everything was invalidated, after this
                // load started: its value may predate the change, and a caller that comes after the change must not get it.
                // Wait for the load to end (it keeps its value out of the cache if so), then read again: L1, or a new load.
                return new ValueTask<T>(JoinAfterChangeAsync(joined, key, state, factory, options, tags, cancellationToken));
            }

            if (joined.TryJoin())
            {
                _metrics.Join();
                return Copies<T>() ? new ValueTask<T>(JoinCopyAsync(joined, cancellationToken)) : Wait(joined.Source.Task, joined, cancellationToken);
            }

            // every caller of that load has left and it is being cancelled: this caller loads on its own
        }

        // A load of the same key with another value type is in flight (or one nobody waits for): load without sharing.
        return WaitOwned(LoadAsync(key, state, factory, options, tagArray, background: false, gateToken: CancellationToken.None), null, cancellationToken);

        static ValueTask<T> Wait(Task<T> task, Flight? flight, CancellationToken cancellationToken) =>
            task.IsCompletedSuccessfully ? new ValueTask<T>(task.Result)
            : new ValueTask<T>(!cancellationToken.CanBeCanceled ? task
                : flight?.Abandon is null ? task.WaitAsync(cancellationToken)
                : WaitOrLeaveAsync(task, flight, cancellationToken));

        // A load this caller started: if the caller's token lets it stop waiting, nobody else awaits the load's task, and a
        // failure after that must still be observed (joiners wait on the flight's source, which RunFlightAsync observes).
        static ValueTask<T> WaitOwned(Task<T> task, Flight? flight, CancellationToken cancellationToken)
        {
            if (cancellationToken.CanBeCanceled && !task.IsCompleted)
            {
                Faults.Observe(task);
            }

            return Wait(task, flight, cancellationToken);
        }
    }

    /// <summary>Waits for a shared load with a token that can be cancelled: a cancelled caller leaves the load (<see cref="Flight.Leave"/>).</summary>
    private static async Task<T> WaitOrLeaveAsync<T>(Task<T> task, Flight flight, CancellationToken cancellationToken)
    {
        var leave = cancellationToken.UnsafeRegister(static f => ((Flight)f!).Leave(), flight);
        try
        {
            return await task.WaitAsync(cancellationToken).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
        {
            // WaitAsync's own callback can end this wait before the leave callback has run: leave here instead, once
            if (leave.Unregister())
            {
                flight.Leave();
            }

            throw;
        }
        finally
        {
            leave.Dispose();
        }
    }

    /// <summary>A joiner of a load of a mutable type: its own instance, never the one the load's starter got.</summary>
    private static async Task<T> JoinCopyAsync<T>(Flight<T> flight, CancellationToken cancellationToken)
    {
        var value = cancellationToken.CanBeCanceled && flight.Abandon is not null
            ? await WaitOrLeaveAsync(flight.Source.Task, flight, cancellationToken).ConfigureAwait(false)
            : await flight.Source.Task.WaitAsync(cancellationToken).ConfigureAwait(false);
        return flight.Copy is { } copy ? copy.Read() : value;
    }

    private async Task<T> JoinAfterChangeAsync<TState, T>(Flight flight, string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        LeveeEntryOptions options, IEnumerable<string>? tags, CancellationToken cancellationToken)
    {
        await flight.Ended.WaitAsync(cancellationToken).ConfigureAwait(false); // the flight leaves _flights before Ended completes
        return await GetOrCreateAsync(key, state, factory, options, tags, cancellationToken).ConfigureAwait(false);
    }

    /// <summary>
    /// Runs the shared load. It is not tied to any caller's token: one caller giving up doesn't cancel the others.
    /// Completes, for every caller, once the value is in L1 and Redis has answered its write (<see cref="StoreAsync"/>); the
    /// flight stays registered until then, so a removal of the key in this process waits for the write.
    /// </summary>
    private async Task<T> RunFlightAsync<TState, T>(string key, Flight<T> flight, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        LeveeEntryOptions options, string[]? tags)
    {
        T value;
        try
        {
            // An L2 hit is answered here, before the load's (much larger) state machine is entered: one async frame and
            // its allocation less on the L2 hit path. Anything else goes to LoadAsync with what L2 said.
            if (ReadsL2(options))
            {
                var readSeq = CurrentSeq; // before L2 is read: its value goes into L1 only if the key did not change since
                var epoch = Volatile.Read(ref _epoch);
                var l2 = await ReadL2Async<T>(key, options, epoch).ConfigureAwait(false);
                value = l2.Fresh is { } fresh
                    ? TakeL2Hit<T>(key, fresh, options, readSeq, flight)
                    : await LoadAsync(key, state, factory, options, tags, background: false, flight: flight, preRead: l2, preReadSeq: readSeq).ConfigureAwait(false);
            }
            else
            {
                value = await LoadAsync(key, state, factory, options, tags, background: false, flight: flight).ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            flight.Source.TrySetException(ex);
            _ = flight.Source.Task.Exception; // observed: without joiners nobody awaits the source (the starter awaits this method)
            EndFlight(key, flight);
            throw;
        }

        if (flight.Copy is null && value is not null && Copies<T>())
        {
            flight.Copy = Hold(value) as MutableCopy<T>; // not through L1 (a stale value, DisableLocalCacheWrite): copied here
        }

        flight.Source.TrySetResult(value);
        EndFlight(key, flight);
        return value;
    }

    /// <summary>
    /// True when this instance dropped its L1 (a clear-all here or on another instance, a failover) or everything was
    /// invalidated since a load began: its value may predate that, and must go neither into L1 nor into L2, where it would
    /// land in the new generation and other instances would take it.
    /// </summary>
    private bool ClearedSince(long epoch, long startedWall) =>
        epoch != Volatile.Read(ref _epoch) || startedWall < Volatile.Read(ref _allInvalidatedWall); // same ms: the epoch orders them

    /// <summary>Factory calls running in this process (for tests).</summary>
    internal int RunningFactories => _runningFactories.Count;

    /// <summary>Loads in flight in this process (for tests).</summary>
    internal int FlightCount => _flights.Count;

    private void EndFlight(string key, Flight flight)
    {
        // L1 is written before the flight is removed: a later caller finds either the flight or the value.
        _flights.TryRemove(new KeyValuePair<string, Flight>(key, flight));
        flight.Done();
    }

    /// <summary>
    /// L2, then the factory through the admission gate, with fail-safe and timeouts. Writes L1 (and L2) on success.
    /// <paramref name="priority"/> defaults to Refresh for background loads and Interactive otherwise;
    /// <paramref name="gateToken"/> cancels a warm-up's wait for a gate slot.
    /// </summary>
    private async Task<T> LoadAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        LeveeEntryOptions options, string[]? tags, bool background, GatePriority? priority = null, Flight<T>? flight = null,
        L2Read? preRead = null, long preReadSeq = -1, CancellationToken gateToken = default)
    {
        var epoch = Volatile.Read(ref _epoch);
        var startedWall = _clock.WallMs;

        // before L1 or L2 is read (with preRead: when RunFlightAsync began its read): a value read from L2 goes into L1,
        // also as a stale value served by the fail-safe, only if the key did not change since
        var readSeq = preRead is null ? CurrentSeq : preReadSeq;
        var stale = GetStale(key);
        var staleOk = stale is not null && Holds<T>(stale.Value);
        if (!staleOk)
        {
            stale = null;
        }

        // an instance restarted during a Redis outage: its L1 snapshot from disk serves as stale values (never as fresh)
        stale ??= TakeSnapshotEntry<T>(key, options);

        var l2Down = false;
        if (ReadsL2(options) && !background)
        {
            var l2 = preRead ?? await ReadL2Async<T>(key, options, epoch).ConfigureAwait(false); // preRead: RunFlightAsync read it (not a hit)
            if (l2.Fresh is { } fresh)
            {
                return TakeL2Hit<T>(key, fresh, options, readSeq, flight);
            }

            l2Down = l2.Unavailable;
            if (!l2Down)
            {
                _metrics.Miss("l2");
            }

            if (l2.Stale is { } l2Stale && (stale is null || l2Stale.CreatedWall > stale.CreatedWall))
            {
                stale = l2Stale;
            }
        }

        if ((options.Flags & HybridCacheEntryFlags.DisableUnderlyingData) != 0)
        {
            return default!;
        }

        // Degraded mode: L2 is unavailable and a stale value exists. Serve it now and refresh in the background,
        // at most once per key per FailSafeThrottleDuration, so a Redis outage doesn't turn every expiry into a query.
        if (stale is not null && !background && _options.ServeStaleWhileL2Unavailable && (l2Down || (_guard is not null && !_guard.IsUsable)))
        {
            var result = ServeStale<T>(key, stale, readSeq, "l2_unavailable", null);
            if (TryTakeDegradedRefresh())
            {
                _ = RefreshInBackgroundAsync(key, state, factory, options, tags, DegradedRefreshDelay(), stale.CreatedWall);
            }

            return result;
        }

        // Degraded mode: another instance announced it is loading this key (through the replicas): its value is awaited,
        // for a short while, instead of a query of this instance's own.
        if (!background && await TryAwaitLoadElsewhereAsync<T>(key, options, epoch).ConfigureAwait(false) is { } elsewhere)
        {
            return TakeL2Hit<T>(key, elsewhere, options, readSeq, flight);
        }

        // Admission gate: every factory call takes a slot. When the gate is full, an interactive caller with a stale value
        // gets it at once (reason "gate"); without one it waits in the bounded queue or fails with LeveeOverloadedException.
        // A refresh never waits (the current value stays); warm-up waits behind interactive callers, within its share.
        var gate = ResolveGate(options);
        var effective = priority ?? (background ? GatePriority.Refresh : GatePriority.Interactive);
        if (!gate.TryEnter(effective, out var lease))
        {
            if (effective == GatePriority.Refresh)
            {
                GateLog.RefreshSkipped(_logger, _name, gate.Name);
                return stale is not null ? Take<T>(stale.Value) : throw new LeveeOverloadedException(_name, gate.Name, "refresh_skipped", gate.Limit, gate.InFlight, gate.Queued, TimeSpan.Zero);
            }

            if (stale is not null && effective == GatePriority.Interactive)
            {
                gate.RecordServedStale();
                return ServeStale<T>(key, stale, readSeq, "gate", null);
            }

            lease = await gate.EnterAsync(effective, flight?.Abandon?.Token ?? gateToken).ConfigureAwait(false); // a queued load nobody waits for leaves the queue
        }

        var soft = options.FactorySoftTimeout ?? _options.FactorySoftTimeout;
        var hard = options.FactoryHardTimeout ?? _options.FactoryHardTimeout;
        var factorySeq = CurrentSeq; // what the factory reads includes every change that began before this point
        var hardCts = hard == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(hard, _clock.Provider);
        AnnounceLoad(key);
        // every caller gone (each cancelled by its own token): the factory's token is cancelled, as HybridCache does
        var abandoned = flight?.Abandon is { } abandon ? abandon.Token.UnsafeRegister(static c => CancelQuietly((CancellationTokenSource)c!), hardCts) : default;
        var factoryTask = RunFactoryAsync(lease, state, factory, factorySeq, hardCts.Token);
        var ownsCts = true;
        try
        {
            T value;
            try
            {
                if (stale is not null && soft != Timeout.InfiniteTimeSpan && (hard == Timeout.InfiniteTimeSpan || soft < hard))
                {
                    try
                    {
                        value = await factoryTask.WaitAsync(soft, _clock.Provider, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (TimeoutException) when (!factoryTask.IsCompleted)
                    {
                        // Soft timeout: the caller gets the stale value; the factory finishes in the background and updates the cache.
                        ownsCts = false;
                        abandoned.Dispose(); // the background completion owns the load now: nobody's leaving cancels it
                        _ = CompleteInBackgroundAsync(factoryTask, hardCts, key, options, tags, epoch, startedWall, factorySeq);
                        return ServeStale<T>(key, stale, readSeq, "factory_timeout", null);
                    }
                }
                else if (hard != Timeout.InfiniteTimeSpan)
                {
                    value = await factoryTask.WaitAsync(hard, _clock.Provider, CancellationToken.None).ConfigureAwait(false);
                }
                else
                {
                    value = await factoryTask.ConfigureAwait(false);
                }
            }
            catch (TimeoutException ex) when (!factoryTask.IsCompleted || hardCts.IsCancellationRequested)
            {
                Faults.Observe(factoryTask); // abandoned: a factory that ignores its token may still fail later
                await hardCts.CancelAsync().ConfigureAwait(false);
                if (stale is not null)
                {
                    return ServeStale<T>(key, stale, readSeq, "factory_timeout", ex);
                }

                throw new TimeoutException($"The factory did not complete within the hard timeout ({hard.TotalMilliseconds:0} ms) and no stale value exists.", ex);
            }
            catch (OperationCanceledException) when (flight?.Abandon?.IsCancellationRequested == true)
            {
                throw; // nobody waits for this load any more: no stale value to serve, no timeout to report
            }
            catch (OperationCanceledException ex) when (hardCts.IsCancellationRequested)
            {
                if (stale is not null)
                {
                    return ServeStale<T>(key, stale, readSeq, "factory_timeout", ex);
                }

                throw new TimeoutException($"The factory did not complete within the hard timeout ({hard.TotalMilliseconds:0} ms) and no stale value exists.", ex);
            }
            catch (Exception ex) when (stale is not null)
            {
                return ServeStale<T>(key, stale, readSeq, "factory_error", ex);
            }

            await StoreAsync(key, value, options, tags, epoch, startedWall, factorySeq, flight).ConfigureAwait(false);
            return value;
        }
        finally
        {
            EndAnnouncedLoad(key); // announced and nothing shared (failed, not stored, not shareable): the others stop waiting
            abandoned.Dispose();
            if (ownsCts)
            {
                hardCts.Dispose();
            }
        }
    }

    private static void CancelQuietly(CancellationTokenSource source)
    {
        try
        {
            source.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // the load has ended meanwhile
        }
        catch (AggregateException)
        {
            // a callback of the factory's token threw: the factory's own business
        }
    }

    private bool ReadsL2(LeveeEntryOptions options) => _guard is not null && (options.Flags & HybridCacheEntryFlags.DisableDistributedCacheRead) == 0;

    /// <summary>A fresh L2 value: counted, kept in L1 unless the key changed since <paramref name="readSeq"/> (the read may have overlapped a removal).</summary>
    private T TakeL2Hit<T>(string key, CacheEntry fresh, LeveeEntryOptions options, long readSeq, Flight<T>? flight)
    {
        flight?.Copy = fresh.Value as MutableCopy<T>;
        _metrics.HitL2();
        if (!ChangedDuring(key, readSeq))
        {
            WriteL1(key, fresh, options);
        }

        return Take<T>(fresh.Value);
    }

    /// <summary>Runs the factory holding a gate slot; the slot is given back when the factory really ends (also after a soft timeout).</summary>
    private async Task<T> RunFactoryAsync<TState, T>(GateLease lease, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, long factorySeq,
        CancellationToken cancellationToken)
    {
        var run = Interlocked.Increment(ref _factoryRuns);
        _runningFactories[run] = factorySeq; // the change marks its value is checked against are kept while it runs
        _metrics.FactoryCall();
        lease.Gate.Amplification.Record();
        var started = Stopwatch.GetTimestamp();
        var sample = false;
        try
        {
            var value = await factory(state, cancellationToken).ConfigureAwait(false);
            sample = true;
            return value;
        }
        catch (Exception ex)
        {
            // a timed-out call is a latency signal for the adaptive limit; a fast failure (e.g. connection refused) is not
            sample = ex is TimeoutException || (ex is OperationCanceledException && cancellationToken.IsCancellationRequested);
            _metrics.FactoryError();
            throw;
        }
        finally
        {
            _metrics.FactoryDuration(Stopwatch.GetElapsedTime(started).TotalSeconds);
            lease.Gate.Release(lease, sample);
            _runningFactories.TryRemove(run, out _);
        }
    }

    private async Task CompleteInBackgroundAsync<T>(Task<T> factoryTask, CancellationTokenSource hardCts, string key, LeveeEntryOptions options,
        string[]? tags, long epoch, long startedWall, long factorySeq)
    {
        try
        {
            var value = await factoryTask.ConfigureAwait(false);
            await StoreAsync(key, value, options, tags, epoch, startedWall, factorySeq).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Log.BackgroundRefreshFailed(_logger, _name, ex);
        }
        finally
        {
            hardCts.Dispose();
        }
    }

    /// <summary>
    /// Serves <paramref name="stale"/> (the load that started at <paramref name="readSeq"/> failed, timed out or was
    /// refused) and keeps it in L1 for the throttle duration, so the failing backend is asked again at most once per key
    /// per interval. A value that is still fresh (a failed early refresh) keeps its lifetime; only its next refresh waits
    /// for the throttle. Nothing goes back into L1 if the key changed since the load started: the value may be the one
    /// the change removed (the caller, whose request began before the change, still gets it).
    /// </summary>
    private T ServeStale<T>(string key, CacheEntry stale, long readSeq, string reason, Exception? exception)
    {
        var nowMono = _clock.MonoMs;
        var throttle = (long)_options.FailSafeThrottleDuration.TotalMilliseconds;
        var throttled = stale.FreshUntilMono > nowMono
            ? new CacheEntry(stale.Value, stale.CreatedWall, stale.FreshUntilMono, stale.StaleUntilMono,
                nowMono + throttle < stale.FreshUntilMono ? nowMono + throttle : long.MaxValue, stale.FreshUntilWall, stale.Tags, stale.Epoch, stale.CreatedSeq)
            : new CacheEntry(stale.Value, stale.CreatedWall, Math.Min(nowMono + throttle, Math.Max(stale.StaleUntilMono, nowMono + 1)),
                stale.StaleUntilMono, long.MaxValue, stale.FreshUntilWall, stale.Tags, stale.Epoch, stale.CreatedSeq);
        if (stale.Epoch == Volatile.Read(ref _epoch) && !ChangedDuring(key, readSeq))
        {
            _l1.AddOrUpdate(key, throttled);
            Interlocked.MemoryBarrier(); // pairs with RemoveAsync: it marks the change, then empties L1
            if (ChangedDuring(key, readSeq))
            {
                _l1.TryRemove(key); // the key changed while the value was being put back
            }
        }

        _metrics.StaleServed(reason);
        if (exception is not null)
        {
            Log.StaleServed(_logger, _name, reason, exception);
        }

        return Take<T>(stale.Value);
    }

    private void StartEarlyRefresh<TState, T>(CacheEntry entry, string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        LeveeEntryOptions options, IEnumerable<string>? tags)
    {
        if (Interlocked.CompareExchange(ref entry.RefreshStarted, 1, 0) == 0)
        {
            // while values are shared (the master unreachable), every instance reaches the refresh point of the same entry
            // (and again each time it re-reads the entry from a replica): the refresh waits its turn and takes another
            // instance's newer value if one came meanwhile (measured: a wave of early refreshes from every instance at 80%
            // of the warm entries' lifetime, 4 minutes into the 5-minute incident drill)
            _ = SharingValues
                ? RefreshInBackgroundAsync(key, state, factory, options, ToArray(tags), DegradedRefreshDelay(), entry.CreatedWall)
                : RefreshInBackgroundAsync(key, state, factory, options, ToArray(tags));
        }
    }

    /// <summary>A background load through the factory (early refresh, degraded-mode refresh). Failures are logged, never thrown.</summary>
    /// <remarks>
    /// With a <paramref name="delay"/> (degraded mode, <see cref="DegradedRefreshDelay"/>) it waits first, then takes a
    /// value another instance shared meanwhile, newer than the one being refreshed (created at
    /// <paramref name="replacedCreatedWall"/>), instead of querying the database.
    /// </remarks>
    private async Task RefreshInBackgroundAsync<TState, T>(string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        LeveeEntryOptions options, string[]? tags, TimeSpan delay = default, long replacedCreatedWall = long.MaxValue)
    {
        Interlocked.Increment(ref _backgroundRefreshesStarted); // before the first await: counted when started
        await Task.Yield();
        var degraded = delay > TimeSpan.Zero;
        try
        {
            if (degraded)
            {
                var waiting = Task.Delay(delay, _clock.Provider);
                Interlocked.Increment(ref _degradedRefreshesActive);
                Interlocked.Increment(ref _degradedRefreshesWaiting);
                try
                {
                    await waiting.ConfigureAwait(false);
                }
                finally
                {
                    Interlocked.Decrement(ref _degradedRefreshesWaiting);
                }

                var readSeq = CurrentSeq;
                var epoch = Volatile.Read(ref _epoch);
                var shared = await ReadSharedAsync<T>(key, options, epoch).ConfigureAwait(false);
                var fresh = shared.Fresh ?? await TryAwaitLoadElsewhereAsync<T>(key, options, epoch).ConfigureAwait(false); // one that is on its way
                if (fresh is not null && fresh.CreatedWall > replacedCreatedWall)
                {
                    _ = TakeL2Hit<T>(key, fresh, options, readSeq, flight: null);
                    return;
                }
            }

            _ = await LoadAsync(key, state, factory, options, tags, background: true).ConfigureAwait(false);
        }
        catch (LeveeOverloadedException)
        {
            // the gate had no low-priority slot: the current value stays (logged by the gate path)
        }
        catch (Exception ex)
        {
            Log.BackgroundRefreshFailed(_logger, _name, ex);
        }
        finally
        {
            if (degraded)
            {
                Interlocked.Decrement(ref _degradedRefreshesActive);
            }
        }
    }

    /// <summary>
    /// Writes a loaded value to L1 and L2. Its creation time is when the load STARTED, so an invalidation (of the key or
    /// of a tag) issued while the load ran makes it invisible: a load never resurrects data invalidated under it.
    /// </summary>
    /// <remarks>
    /// The L2 write is awaited (under the L2 budget): when a load returns, its value is in Redis, so another instance
    /// that reads the key after that finds it (issue 17; a write left running was not there yet, or was skipped when the
    /// cache's L1 was dropped meanwhile). A removal of the key in this process that began after the factory started discards the
    /// value (checked before and after the L1 write); one that comes after the write was decided waits for it
    /// (<see cref="Flight.Writing"/>), so its DEL is never overtaken by this SET. A removal that began before the factory
    /// started does not discard it: the factory read the changed data.
    /// </remarks>
    private async Task StoreAsync<T>(string key, T value, LeveeEntryOptions options, string[]? tags, long epoch, long startedWall, long factorySeq,
        Flight<T>? flight = null)
    {
        if (ChangedAfter(key, factorySeq) || ClearedSince(epoch, startedWall))
        {
            return;
        }

        var freshUntilWall = ComputeFreshUntilWall(options, startedWall);
        var entry = CreateEntry(Hold(value), options, tags, startedWall, freshUntilWall, epoch, createdSeq: factorySeq);
        flight?.Copy = entry.Value as MutableCopy<T>;
        WriteL1(key, entry, options);
        if (flight is not null)
        {
            Interlocked.Exchange(ref flight.Writing, 1);
        }

        if (ChangedAfter(key, factorySeq))
        {
            _l1.TryRemove(key); // removed while this value was being written to L1
            return;
        }

        if (_guard is not null && (options.Flags & HybridCacheEntryFlags.DisableDistributedCacheWrite) == 0 && !ClearedSince(epoch, startedWall))
        {
            // awaited: when the load returns, its value is in Redis (or the write failed: counted, logged, and L2 keeps
            // what it had, which every reader checks against the key's removals; the next miss anywhere loads it again)
            await WriteL2Async(key, value, entry, options, shareIfUnreachable: true).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// SetAsync: L1, L2 and the backplane. When the value cannot be written to L2 (unreachable, too large, not
    /// serializable), the key's older L2 entry is removed instead, or the removal journaled: other instances must never
    /// go on reading the value this write replaced.
    /// </summary>
    private async ValueTask SetCoreAsync<T>(string key, T value, LeveeEntryOptions options, string[]? tags, long epoch, CancellationToken cancellationToken)
    {
        cancellationToken.ThrowIfCancellationRequested();
        var createdWall = _clock.WallMs;
        MarkChanged(key, createdWall); // a load that started before this write must not overwrite it
        var entry = CreateEntry(Hold(value), options, tags, createdWall, ComputeFreshUntilWall(options, createdWall), epoch, createdSeq: CurrentSeq);
        WriteL1(key, entry, options);
        if (_guard is not null && (options.Flags & HybridCacheEntryFlags.DisableDistributedCacheWrite) == 0
            && !await WriteL2Async(key, value, entry, options).ConfigureAwait(false))
        {
            await RemoveFromL2Async(key).ConfigureAwait(false);
            return;
        }

        await PublishAsync(BackplaneMessageKind.Set, key).ConfigureAwait(false);
        await PublishToChannelAsync(LeveeInvalidationKind.Set, key, createdWall, appliedToRedis: true).ConfigureAwait(false);
    }
}
