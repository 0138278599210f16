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
            if (_coherence.ChangedSince(key, joined.StartSeq))
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
        return WaitOwned(LoadAsync(Load<TState, T>.ForCallers(this, key, state, factory, options, tagArray, flight: null)), null, cancellationToken);

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
            var load = Load<TState, T>.ForCallers(this, key, state, factory, options, tags, flight);
            if (ReadsL2(options))
            {
                var l2 = await ReadL2Async<T>(key, options, load.Epoch).ConfigureAwait(false);
                value = l2.Fresh is { } fresh
                    ? TakeL2Hit<T>(key, fresh, options, load.ReadSeq, flight)
                    : await LoadAsync(load, l2).ConfigureAwait(false);
            }
            else
            {
                value = await LoadAsync(load).ConfigureAwait(false);
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

    private void StartEarlyRefresh<TState, T>(CacheEntry entry, string key, TState state, Func<TState, CancellationToken, ValueTask<T>> factory,
        LeveeEntryOptions options, IEnumerable<string>? tags)
    {
        if (Interlocked.CompareExchange(ref entry.RefreshStarted, 1, 0) == 0)
        {
            // L2 unusable (degraded mode): an early refresh takes a token of DegradedRefreshesPerSecond like the refresh of
            // an expired entry. Without one the entry is not refreshed early (and not tried again on every hit): it
            // expires, is served stale, and its refresh waits for a token then (measured: the early refreshes of a warm
            // cache, 4 minutes into the 5-minute incident drill, were outside the budget)
            if (_guard is not null && !_guard.IsUsable && _options.ServeStaleWhileL2Unavailable && !TryTakeDegradedRefresh())
            {
                return;
            }

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
        LeveeEntryOptions options, string[]? tags, TimeSpan delay = default, long replacedCreatedWall = long.MaxValue, bool readL2First = false)
    {
        Interlocked.Increment(ref _backgroundRefreshesStarted); // before the first await: counted when started
        await Task.Yield();
        var degraded = delay > TimeSpan.Zero || readL2First;
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

                var waited = Load<TState, T>.ForRefresh(this, key, state, factory, options, tags);
                // recovery: L2 is usable again, and another instance's refresh of the key went there
                var shared = readL2First ? await ReadL2Async<T>(key, options, waited.Epoch).ConfigureAwait(false) : await ReadSharedAsync<T>(key, options, waited.Epoch).ConfigureAwait(false);
                var fresh = shared.Fresh ?? await TryAwaitLoadElsewhereAsync<T>(key, options, waited.Epoch).ConfigureAwait(false); // one that is on its way
                if (fresh is not null && fresh.CreatedWall > replacedCreatedWall)
                {
                    _ = TakeL2Hit<T>(key, fresh, options, waited.ReadSeq, flight: null);
                    return;
                }

                _ = await LoadAsync(waited).ConfigureAwait(false);
                return;
            }

            _ = await LoadAsync(Load<TState, T>.ForRefresh(this, key, state, factory, options, tags)).ConfigureAwait(false);
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

            Interlocked.Increment(ref _backgroundRefreshesFinished);
        }
    }

    private int _backgroundRefreshesFinished;

    /// <summary>Background refreshes started and not finished: their value stored (or refused), or failed (for tests: the
    /// gate's slot is released when the factory ends, before the value is stored).</summary>
    internal int BackgroundRefreshesRunning => Volatile.Read(ref _backgroundRefreshesStarted) - Volatile.Read(ref _backgroundRefreshesFinished);

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
        if (_guard is not null)
        {
            // as RemoveAsync does: a load of the key whose value is on its way to Redis is waited for, so its SET can't
            // land after this one (other instances would then read the replaced value; found by the soak test)
            Interlocked.MemoryBarrier(); // pairs with StoreAsync: it sets Writing, then reads the marks (Coherence's remarks, pair 1)
            if (_flights.TryGetValue(key, out var flight) && Volatile.Read(ref flight.Writing) == 1)
            {
                await flight.Ended.ConfigureAwait(false); // bounded: the write runs under the L2 time budget
            }
        }

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
