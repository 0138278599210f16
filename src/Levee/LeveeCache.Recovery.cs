using System.Collections.Concurrent;
using Levee.Internal;

namespace Levee;

/// <summary>
/// Recovery after degraded mode (issue 19, at the repair): for <see cref="LeveeOptions.RecoveryDuration"/> after L2 is
/// usable again (breaker closed), an entry that expired while it was unusable is served stale at once and its refresh
/// queued; a pacer starts the queued refreshes in order within <see cref="LeveeOptions.DegradedRefreshesPerSecond"/>,
/// and each reads L2 first, so one instance's refresh serves the others. Removals hold by the degraded path's rules
/// (the same <c>ServeStale</c>, L2 values checked against every known removal). Tests: <c>Engine/RecoveryTests</c>.
/// </summary>
public sealed partial class LeveeCache
{
    // Recovery (issue 19, at the repair): the unusable period this instance saw last, and until when the entries that
    // expired during it are still served stale and refreshed in the background instead of being loaded by their caller.
    private readonly Lock _recoveryLock = new();
    private long _unusableSinceWall; // 0: L2 was usable when last seen
    private int _l2SeenUsable; // 1 once L2 was seen usable: later unusable periods are outages, not a cold start
    private long _recoveryFromWall;
    private long _recoveryToWall;
    private long _recoveryUntilMono = long.MinValue;
    private int _recoveryRefreshesStarted;

    /// <summary>Recovery refreshes started (for tests).</summary>
    internal int RecoveryRefreshesStarted => Volatile.Read(ref _recoveryRefreshesStarted);

    /// <summary>L2 usable with its breaker closed: a half-open breaker's probe (every break duration while the master is
    /// frozen) is not a repair, and must not end the unusable period.</summary>
    private bool L2Recovered => _guard is { IsUsable: true, BreakerState: LeveeBreakerState.Closed };

    /// <summary>
    /// What this instance saw of L2 (on each read that asked it, and at each maintenance): the start of an unusable
    /// period, or its end, which opens a recovery period of <see cref="LeveeOptions.RecoveryDuration"/>.
    /// </summary>
    private void NoteL2Usable(bool usable)
    {
        if (usable && _l2SeenUsable == 0)
        {
            Volatile.Write(ref _l2SeenUsable, 1);
        }

        if (!usable)
        {
            if (Volatile.Read(ref _unusableSinceWall) == 0)
            {
                Interlocked.CompareExchange(ref _unusableSinceWall, _clock.WallMs, 0);
            }

            return;
        }

        var since = Volatile.Read(ref _unusableSinceWall);
        if (since == 0 || Interlocked.CompareExchange(ref _unusableSinceWall, 0, since) != since)
        {
            return;
        }

        lock (_recoveryLock)
        {
            var nowMono = _clock.MonoMs;
            // a short flap during a recovery extends the period it belongs to, from that period's start
            _recoveryFromWall = _recoveryUntilMono > nowMono ? Math.Min(_recoveryFromWall, since) : since;
            _recoveryToWall = _clock.WallMs;
            _recoveryUntilMono = nowMono + (long)_options.RecoveryDuration.TotalMilliseconds;
        }
    }

    /// <summary>
    /// True during a recovery period for an entry whose lifetime ended while L2 was unusable: it is served stale and
    /// refreshed in the background (as in degraded mode), not loaded by its caller.
    /// </summary>
    private bool ExpiredDuringOutage(CacheEntry stale)
    {
        if (Volatile.Read(ref _recoveryUntilMono) <= _clock.MonoMs)
        {
            return false;
        }

        lock (_recoveryLock)
        {
            return _recoveryUntilMono > _clock.MonoMs && stale.FreshUntilWall >= _recoveryFromWall && stale.FreshUntilWall <= _recoveryToWall;
        }
    }

    /// <summary>Keys waiting for their recovery refresh, at most this many (past it, a key is served stale and queued
    /// again at its next read after the throttle).</summary>
    internal const int RecoveryBacklogMax = 100_000;

    // the recovery backlog: keys in the order they were first served stale, each with its refresh (not started)
    private readonly ConcurrentQueue<string> _recoveryQueue = new();
    private readonly ConcurrentDictionary<string, Func<Task>> _recoveryBacklog = new(StringComparer.Ordinal);
    private int _recoveryPacerRunning;

    /// <summary>Keys waiting for their recovery refresh (for tests).</summary>
    internal int RecoveryBacklog => _recoveryBacklog.Count;

    // until when the pacer waits for its next token (MonoMs; long.MinValue while it runs)
    private long _recoveryPacerWaitsUntilMono = long.MinValue;

    /// <summary>The pacer is not running, or waits for a time still to come (for tests on fake time: its wake-up after a
    /// clock advance runs on the thread pool, and a test that advances again before it has run makes the pacer skip a
    /// tick).</summary>
    internal bool RecoveryPacerAtRest =>
        Volatile.Read(ref _recoveryPacerRunning) == 0 || Volatile.Read(ref _recoveryPacerWaitsUntilMono) > _clock.MonoMs;

    /// <summary>
    /// Queues the background refresh of an entry that expired during the outage (once per key); a pacer starts them in
    /// order, within the budget of <see cref="LeveeOptions.DegradedRefreshesPerSecond"/>. Served stale without a queue,
    /// a key would come back only after the fail-safe throttle, when the budget of that moment is taken by every other
    /// key served stale at the same time: the backlog then drained at a few keys per throttle period.
    /// </summary>
    private void QueueRecoveryRefresh(string key, Func<Task> refresh)
    {
        if (_recoveryBacklog.Count >= RecoveryBacklogMax || !_recoveryBacklog.TryAdd(key, refresh))
        {
            return;
        }

        _recoveryQueue.Enqueue(key);
        if (Interlocked.CompareExchange(ref _recoveryPacerRunning, 1, 0) == 0)
        {
            _ = PaceRecoveryRefreshesAsync();
        }
    }

    private async Task PaceRecoveryRefreshesAsync()
    {
        var interval = TimeSpan.FromMilliseconds(Math.Max(1, 1000 / _options.DegradedRefreshesPerSecond));
        try
        {
            while (_disposed == 0)
            {
                while (!_recoveryQueue.IsEmpty && TryTakeDegradedRefresh())
                {
                    // one key per token (a key removed meanwhile is refreshed all the same: its refresh reads L2 and stores
                    // under the same removal rules as any load, and the factory reads the changed data)
                    if (_recoveryQueue.TryDequeue(out var key) && _recoveryBacklog.TryRemove(key, out var refresh))
                    {
                        Interlocked.Increment(ref _recoveryRefreshesStarted);
                        _ = refresh();
                    }
                }

                if (_recoveryQueue.IsEmpty)
                {
                    Volatile.Write(ref _recoveryPacerRunning, 0);
                    if (_recoveryQueue.IsEmpty || Interlocked.CompareExchange(ref _recoveryPacerRunning, 1, 0) != 0)
                    {
                        return; // nothing left, or a new key started another pacer
                    }

                    continue;
                }

                Volatile.Write(ref _recoveryPacerWaitsUntilMono, _clock.MonoMs + (long)interval.TotalMilliseconds);
                await Task.Delay(interval, _clock.Provider).ConfigureAwait(false);
                Volatile.Write(ref _recoveryPacerWaitsUntilMono, long.MinValue);
            }
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _recoveryPacerRunning, 0);
            Log.BackgroundRefreshFailed(_logger, _name, ex);
        }
    }
}
