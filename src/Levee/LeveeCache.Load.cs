// Over ~400 lines on purpose: a load's steps (build, read L2, gate, factory with timeouts, store, fail-safe) read top to
// bottom in one file; split, a reader would follow one load across files again (issue 18).
using System.Diagnostics;
using Levee.Gate;
using Levee.Internal;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee;

public sealed partial class LeveeCache
{
    /// <summary>
    /// One load of one key through the factory, as one object its steps share (the idea of HybridCache's
    /// <c>StampedeState&lt;TState,T&gt;</c>): what was asked (key, state, factory, options, tags), who it is for (a caller,
    /// a refresh, a warm-up: which factory method built it), where it started (<see cref="Epoch"/>, <see cref="StartedWall"/>,
    /// <see cref="ReadSeq"/>, then <see cref="FactorySeq"/>), the stale value it may fall back on, and the entry it writes.
    /// Its steps are <see cref="LoadAsync"/>'s: read L2 → enter the gate → run the factory → store (<see cref="StoreAsync"/>).
    /// </summary>
    private sealed class Load<TState, T>
    {
        private readonly CancellationToken _gateToken;

        private Load(LeveeCache cache, string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory, LeveeEntryOptions options,
            string[]? tags, GatePriority priority, Flight<T>? flight, CancellationToken gateToken)
        {
            Key = key;
            State = state;
            Factory = factory;
            Options = options;
            Tags = tags;
            Priority = priority;
            Flight = flight;
            _gateToken = gateToken;

            // before L1 or L2 is read: a value read from L2 (also a stale one the fail-safe serves) goes into L1 only if
            // the key did not change since; a loaded value is stored only if no clear-all came since
            var start = cache._coherence.Start();
            ReadSeq = start.Seq;
            Epoch = start.Epoch;
            StartedWall = start.Wall;
        }

        /// <summary>A load for callers (the first of a key's flight, or one that could not share it): it reads L2 first
        /// and may serve a stale value in place of the factory's.</summary>
        public static Load<TState, T> ForCallers(LeveeCache cache, string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            LeveeEntryOptions options, string[]? tags, Flight<T>? flight) =>
            new(cache, key, state, factory, options, tags, GatePriority.Interactive, flight, CancellationToken.None);

        /// <summary>An early or degraded-mode refresh: L2 is not read (the caller just did), and the gate never queues it.</summary>
        public static Load<TState, T> ForRefresh(LeveeCache cache, string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            LeveeEntryOptions options, string[]? tags) =>
            new(cache, key, state, factory, options, tags, GatePriority.Refresh, null, CancellationToken.None);

        /// <summary>A warm-up entry (its L2 was read by the warm-up): waits behind interactive callers;
        /// <paramref name="cancellationToken"/> cancels its wait for a gate slot.</summary>
        public static Load<TState, T> ForWarmUp(LeveeCache cache, string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
            LeveeEntryOptions options, string[]? tags, CancellationToken cancellationToken) =>
            new(cache, key, state, factory, options, tags, GatePriority.WarmUp, null, cancellationToken);

        public string Key { get; }

        public TState State { get; }

        public Func<TState, CancellationToken, ValueTask<T>> Factory { get; }

        public LeveeEntryOptions Options { get; }

        public string[]? Tags { get; }

        public GatePriority Priority { get; }

        /// <summary>The flight whose callers wait for this load; null for a load nobody shares (refresh, warm-up, an unshared read).</summary>
        public Flight<T>? Flight { get; }

        /// <summary>For the cache, not for a caller waiting (refresh, warm-up): L2 is not read first and no stale value is served in its place.</summary>
        public bool Background => Priority != GatePriority.Interactive;

        /// <summary>A queued load nobody waits for any more leaves the gate's queue.</summary>
        public CancellationToken GateToken => Flight?.Abandon?.Token ?? _gateToken;

        /// <summary>The instance's L1 epoch when the load started: a clear-all or failover since discards its value.</summary>
        public long Epoch { get; }

        /// <summary>When the load started (Unix ms): the value's creation time, so a change during the load makes it invisible.</summary>
        public long StartedWall { get; }

        /// <summary>The position in the sequence of changes before L1 or L2 was read.</summary>
        public long ReadSeq { get; }

        /// <summary>The position when the factory started: what it reads includes every change that began before.</summary>
        public long FactorySeq { get; private set; } = -1;

        /// <summary>The value to fall back on (L1's, the snapshot's or L2's stale value), if any.</summary>
        public CacheEntry? Stale { get; set; }

        /// <summary>The entry <see cref="StoreAsync"/> wrote to L1 (and is writing to L2); null until then.</summary>
        public CacheEntry? Written { get; set; }

        public void FactoryStarts(long seq) => FactorySeq = seq;
    }

    /// <summary>
    /// A load's steps: what L2 says (<paramref name="read"/>: already read by <see cref="RunFlightAsync"/>), the degraded
    /// mode's shortcuts, the admission gate, the factory with fail-safe and timeouts, and on success the store (L1 and L2).
    /// </summary>
    private async Task<T> LoadAsync<TState, T>(Load<TState, T> load, L2Read? read = null)
    {
        var key = load.Key;
        var options = load.Options;
        var stale = GetStale(key);
        if (stale is not null && !Holds<T>(stale.Value))
        {
            stale = null;
        }

        // an instance restarted during a Redis outage: its L1 snapshot from disk serves as stale values (never as fresh)
        load.Stale = stale ?? TakeSnapshotEntry<T>(key, options);

        var l2Down = false;
        if (ReadsL2(options) && !load.Background)
        {
            var l2 = read ?? await ReadL2Async<T>(key, options, load.Epoch).ConfigureAwait(false);
            if (l2.Fresh is { } fresh)
            {
                return TakeL2Hit<T>(key, fresh, options, load.ReadSeq, load.Flight);
            }

            l2Down = l2.Unavailable;
            NoteL2Usable(!l2Down && L2Recovered);
            if (!l2Down)
            {
                _metrics.Miss("l2");
            }

            if (l2.Stale is { } l2Stale && (load.Stale is null || l2Stale.CreatedWall > load.Stale.CreatedWall))
            {
                load.Stale = l2Stale;
            }
        }

        if ((options.Flags & HybridCacheEntryFlags.DisableUnderlyingData) != 0)
        {
            return default!;
        }

        // Degraded mode: L2 is unavailable and a stale value exists. Serve it now and refresh in the background,
        // at most once per key per FailSafeThrottleDuration, so a Redis outage doesn't turn every expiry into a query.
        if (load.Stale is { } fallback && !load.Background && _options.ServeStaleWhileL2Unavailable && (l2Down || (_guard is not null && !_guard.IsUsable)))
        {
            var result = ServeStale(load, "l2_unavailable", null);
            if (TryTakeDegradedRefresh())
            {
                _ = RefreshInBackgroundAsync(key, load.State, load.Factory, options, load.Tags, DegradedRefreshDelay(), fallback.CreatedWall);
            }

            return result;
        }

        // Recovery: L2 is usable again after an unusable period, and this entry expired during it. Its refresh was
        // deferred during the outage (served stale, refreshed within DegradedRefreshesPerSecond); loading it now, with
        // every other such entry, would pay the deferred refreshes all at once. It is served stale and refreshed in the
        // background within the same budget; the refresh reads L2 first (another instance may have refreshed it).
        if (load.Stale is { } expired && !load.Background && _options.ServeStaleWhileL2Unavailable && ReadsL2(options) && ExpiredDuringOutage(expired))
        {
            var result = ServeStale(load, "l2_recovery", null);
            var (state, factory, tags, replaced) = (load.State, load.Factory, load.Tags, expired.CreatedWall);
            QueueRecoveryRefresh(key, () => RefreshInBackgroundAsync(key, state, factory, options, tags, DegradedRefreshDelay(), replaced, readL2First: true));
            return result;
        }

        // Degraded mode: another instance announced it is loading this key (through the replicas): its value is awaited,
        // for a short while, instead of a query of this instance's own.
        if (!load.Background && await TryAwaitLoadElsewhereAsync<T>(key, options, load.Epoch).ConfigureAwait(false) is { } elsewhere)
        {
            return TakeL2Hit<T>(key, elsewhere, options, load.ReadSeq, load.Flight);
        }

        // Admission gate: every factory call takes a slot. When the gate is full, an interactive caller with a stale value
        // gets it at once (reason "gate"); without one it waits in the bounded queue or fails with LeveeOverloadedException.
        // A refresh never waits (the current value stays); warm-up waits behind interactive callers, within its share.
        var gate = ResolveGate(options);
        if (!gate.TryEnter(load.Priority, out var lease))
        {
            if (load.Priority == GatePriority.Refresh)
            {
                GateLog.RefreshSkipped(_logger, _name, gate.Name);
                return load.Stale is { } current ? Take<T>(current.Value)
                    : throw new LeveeOverloadedException(_name, gate.Name, "refresh_skipped", gate.Limit, gate.InFlight, gate.Queued, TimeSpan.Zero);
            }

            if (load.Stale is not null && load.Priority == GatePriority.Interactive)
            {
                gate.RecordServedStale();
                return ServeStale(load, "gate", null);
            }

            lease = await gate.EnterAsync(load.Priority, load.GateToken).ConfigureAwait(false);
        }

        return await RunFactoryStepAsync(load, lease).ConfigureAwait(false);
    }

    /// <summary>
    /// The factory step, holding a gate slot: soft timeout (with a stale value: serve it, finish in the background), hard
    /// timeout, fail-safe on error; then the store.
    /// </summary>
    private async Task<T> RunFactoryStepAsync<TState, T>(Load<TState, T> load, GateLease lease)
    {
        var options = load.Options;
        var flight = load.Flight;
        var soft = options.FactorySoftTimeout ?? _options.FactorySoftTimeout;
        var hard = options.FactoryHardTimeout ?? _options.FactoryHardTimeout;
        load.FactoryStarts(CurrentSeq); // what the factory reads includes every change that began before this point
        var hardCts = hard == Timeout.InfiniteTimeSpan ? new CancellationTokenSource() : new CancellationTokenSource(hard, _clock.Provider);
        AnnounceLoad(load.Key, refresh: load.Priority == GatePriority.Refresh);
        // every caller gone (each cancelled by its own token): the factory's token is cancelled, as HybridCache does
        var abandoned = flight?.Abandon is { } abandon ? abandon.Token.UnsafeRegister(static c => CancelQuietly((CancellationTokenSource)c!), hardCts) : default;
        var factoryTask = RunFactoryAsync(lease, load, hardCts.Token);
        var ownsCts = true;
        try
        {
            T value;
            try
            {
                if (load.Stale is not null && soft != Timeout.InfiniteTimeSpan && (hard == Timeout.InfiniteTimeSpan || soft < hard))
                {
                    try
                    {
                        value = await factoryTask.WaitAsync(soft, _clock.Provider, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (TimeoutException) when (factoryTask.IsCompletedSuccessfully)
                    {
                        // the factory completed as the soft timeout fired: its value is taken, not dropped for the stale
                        // one (found by RecoveryTests: a refresh's value was lost, and the key refreshed again)
                        value = await factoryTask.ConfigureAwait(false);
                    }
                    catch (TimeoutException) when (!factoryTask.IsCompleted)
                    {
                        // Soft timeout: the caller gets the stale value; the factory finishes in the background and updates the cache.
                        ownsCts = false;
                        abandoned.Dispose(); // the background completion owns the load now: nobody's leaving cancels it
                        _ = CompleteInBackgroundAsync(load, factoryTask, hardCts);
                        return ServeStale(load, "factory_timeout", null);
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
                if (load.Stale is not null)
                {
                    return ServeStale(load, "factory_timeout", ex);
                }

                throw new TimeoutException($"The factory did not complete within the hard timeout ({hard.TotalMilliseconds:0} ms) and no stale value exists.", ex);
            }
            catch (OperationCanceledException) when (flight?.Abandon?.IsCancellationRequested == true)
            {
                throw; // nobody waits for this load any more: no stale value to serve, no timeout to report
            }
            catch (OperationCanceledException ex) when (hardCts.IsCancellationRequested)
            {
                if (load.Stale is not null)
                {
                    return ServeStale(load, "factory_timeout", ex);
                }

                throw new TimeoutException($"The factory did not complete within the hard timeout ({hard.TotalMilliseconds:0} ms) and no stale value exists.", ex);
            }
            catch (Exception ex) when (load.Stale is not null)
            {
                return ServeStale(load, "factory_error", ex);
            }

            await StoreAsync(load, value).ConfigureAwait(false);
            return value;
        }
        finally
        {
            EndAnnouncedLoad(load.Key); // announced and nothing shared (failed, not stored, not shareable): the others stop waiting
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
        if (_coherence.MayCache(key, readSeq))
        {
            WriteL1(key, fresh, options);
        }

        return Take<T>(fresh.Value);
    }

    /// <summary>Runs the factory holding a gate slot; the slot is given back when the factory really ends (also after a soft timeout).</summary>
    private async Task<T> RunFactoryAsync<TState, T>(GateLease lease, Load<TState, T> load, CancellationToken cancellationToken)
    {
        var run = Interlocked.Increment(ref _factoryRuns);
        _runningFactories[run] = load.FactorySeq; // the change marks its value is checked against are kept while it runs
        _metrics.FactoryCall();
        lease.Gate.Amplification.Record();
        var started = Stopwatch.GetTimestamp();
        var sample = false;
        try
        {
            var value = await load.Factory(load.State, cancellationToken).ConfigureAwait(false);
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

    /// <summary>The factory outlived its soft timeout (its caller got the stale value): its value is stored when it comes.</summary>
    private async Task CompleteInBackgroundAsync<TState, T>(Load<TState, T> load, Task<T> factoryTask, CancellationTokenSource hardCts)
    {
        try
        {
            var value = await factoryTask.ConfigureAwait(false);
            await StoreAsync(load, value, background: true).ConfigureAwait(false);
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
    /// Serves the load's stale value (the load failed, timed out or was refused) and keeps it in L1 for the throttle
    /// duration, so the failing backend is asked again at most once per key per interval. A value that is still fresh (a
    /// failed early refresh) keeps its lifetime; only its next refresh waits for the throttle. Nothing goes back into L1
    /// if the key changed since the load started: the value may be the one the change removed (the caller, whose request
    /// began before the change, still gets it).
    /// </summary>
    private T ServeStale<TState, T>(Load<TState, T> load, string reason, Exception? exception)
    {
        var key = load.Key;
        var stale = load.Stale!;
        var nowMono = _clock.MonoMs;
        var throttle = (long)_options.FailSafeThrottleDuration.TotalMilliseconds;
        var throttled = stale.FreshUntilMono > nowMono
            ? new CacheEntry(stale.Value, stale.CreatedWall, stale.FreshUntilMono, stale.StaleUntilMono,
                nowMono + throttle < stale.FreshUntilMono ? nowMono + throttle : long.MaxValue, stale.FreshUntilWall, stale.Tags, stale.Epoch, stale.CreatedSeq)
            : new CacheEntry(stale.Value, stale.CreatedWall, Math.Min(nowMono + throttle, Math.Max(stale.StaleUntilMono, nowMono + 1)),
                stale.StaleUntilMono, long.MaxValue, stale.FreshUntilWall, stale.Tags, stale.Epoch, stale.CreatedSeq);
        if (stale.Epoch == _coherence.Epoch && _coherence.MayCache(key, load.ReadSeq))
        {
            _l1.AddOrUpdate(key, throttled);
            Interlocked.MemoryBarrier(); // pairs with RemoveAsync: it marks the change, then empties L1 (Coherence's remarks, pair 2)
            if (_coherence.ChangedDuring(key, load.ReadSeq))
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
    /// started does not discard it: the factory read the changed data. <paramref name="background"/>: the value of a
    /// factory that outlived its soft timeout (its flight has ended: no joiner takes a copy, no removal waits for it).
    /// </remarks>
    private async Task StoreAsync<TState, T>(Load<TState, T> load, T value, bool background = false)
    {
        var key = load.Key;
        var options = load.Options;
        var flight = background ? null : load.Flight;
        if (!_coherence.MayStore(key, load.FactorySeq, load.Epoch, load.StartedWall))
        {
            return;
        }

        var freshUntilWall = ComputeFreshUntilWall(options, load.StartedWall);
        var entry = CreateEntry(Hold(value), options, load.Tags, load.StartedWall, freshUntilWall, load.Epoch, createdSeq: load.FactorySeq);
        load.Written = entry;
        flight?.Copy = entry.Value as MutableCopy<T>;
        WriteL1(key, entry, options);
        if (flight is not null)
        {
            Interlocked.Exchange(ref flight.Writing, 1); // a full fence: pairs with RemoveAsync's BeginChange (Coherence's remarks, pair 1)
        }

        if (_coherence.ChangedAfter(key, load.FactorySeq))
        {
            _l1.TryRemove(key); // removed while this value was being written to L1
            return;
        }

        if (_guard is not null && (options.Flags & HybridCacheEntryFlags.DisableDistributedCacheWrite) == 0 && !_coherence.ClearedSince(load.Epoch, load.StartedWall))
        {
            // awaited: when the load returns, its value is in Redis (or the write failed: counted, logged, and L2 keeps
            // what it had, which every reader checks against the key's removals; the next miss anywhere loads it again)
            await WriteL2Async(key, value, entry, options, shareIfUnreachable: true).ConfigureAwait(false);
        }
    }
}
