using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Polly;
using Polly.CircuitBreaker;

namespace Levee.Internal;

/// <summary>
/// Runs every L2 call under a time budget and a circuit breaker (Polly.Core). The budget is enforced by
/// <see cref="L2Budget"/> (or <see cref="Task.WaitAsync(TimeSpan, TimeProvider)"/> while the breaker is not closed), not
/// by cancellation, because a Redis client may not observe a token: the caller stops waiting at the budget whatever the
/// client does. An abandoned call is observed so its fault never surfaces as an unobserved task exception.
/// </summary>
internal sealed class L2Guard : IDisposable
{
    private readonly IL2Store _store;
    private readonly TimeSpan _budget;
    private readonly L2Budget _budgetWait;
    private readonly TimeProvider _time;
    private readonly ResiliencePipeline _pipeline;
    private readonly CircuitBreakerStateProvider _state = new();
    private readonly LeveeMetrics _metrics;
    private readonly ILogger _logger;
    private readonly string _cache;
    private readonly bool _replica;
    private readonly CircuitBreakerManualControl _control = new();
    private readonly int _tripAfter;
    private readonly TimeSpan _breakDuration;

    // failed calls in a row on the closed path (a success resets it); at _tripAfter, with no success for _tripQuiet, the
    // breaker is isolated at once
    private int _consecutiveFailures;
    private long _lastSuccessAt;
    private readonly TimeSpan _tripQuiet;

    // when the breaker last opened (Polly's or our trip), as a TimeProvider timestamp: the probe waits _breakDuration
    private long _openedAt;

    // 1 while the breaker is isolated by the consecutive-failures trip (only a successful probe closes it)
    private int _tripped;

    // Flap damping: the break in force (ticks), doubled (up to MaxBreakFactor x the option) when the breaker opens again
    // within FlapWindow of closing: a node that answers a probe and then fails again (a master stalled 250 ms of every
    // 300, the drill's slow-redis) is not handed back to callers every second. When it was last closed (timestamp; 0 none).
    private long _currentBreakTicks;
    private long _closedAt;

    // how long probation lasts after the maintenance's probe closed the breaker (see OnProbation)
    private readonly TimeSpan _probation;

    /// <summary>The breaker opening again this soon after closing doubles the break.</summary>
    internal static readonly TimeSpan FlapWindow = TimeSpan.FromSeconds(10);

    /// <summary>The longest break flap damping sets, in multiples of <see cref="LeveeOptions.BreakerBreakDuration"/>.</summary>
    internal const int MaxBreakFactor = 8;

    /// <summary>Creates a guard; with <paramref name="replica"/> true it guards replica reads (own breaker, own connectivity).</summary>
    /// <param name="store">The store whose calls are guarded.</param>
    /// <param name="options">Budget and breaker settings.</param>
    /// <param name="metrics">Where failures are counted.</param>
    /// <param name="logger">Where failures are logged.</param>
    /// <param name="replica">True for the guard of replica reads.</param>
    public L2Guard(IL2Store store, LeveeOptions options, LeveeMetrics metrics, ILogger logger, bool replica = false)
    {
        _store = store;
        _replica = replica;
        _budget = options.L2Timeout;
        _budgetWait = new L2Budget(options.L2Timeout, options.TimeProvider);
        _time = options.TimeProvider;
        _metrics = metrics;
        _logger = logger;
        _cache = options.Name;
        _tripAfter = options.BreakerConsecutiveFailures;
        _tripQuiet = options.L2Timeout * TripQuietBudgets;
        _breakDuration = options.BreakerBreakDuration;
        _probation = options.BreakerSamplingDuration;
        _currentBreakTicks = _breakDuration.Ticks;
        _pipeline = new ResiliencePipelineBuilder { TimeProvider = options.TimeProvider }
            .AddCircuitBreaker(new CircuitBreakerStrategyOptions
            {
                FailureRatio = options.BreakerFailureRatio,
                MinimumThroughput = options.BreakerMinimumThroughput,
                SamplingDuration = options.BreakerSamplingDuration,
                BreakDuration = options.BreakerBreakDuration,
                StateProvider = _state,
                ManualControl = _control,
                ShouldHandle = static args => new ValueTask<bool>(args.Outcome.Exception is not null and not OperationCanceledException),
                OnClosed = _ =>
                {
                    Log.BreakerClosed(_logger, _cache, _replica ? "replica" : "master");
                    return default;
                },
            })
            .Build();
    }

    public IL2Store Store => _store;

    /// <summary>Stops the budget's timer; calls still waiting give up.</summary>
    public void Dispose() => _budgetWait.Dispose();

    /// <summary>Breaker state (Polly's isolated state counts as open; Polly's numbering differs, this one is the metric's).</summary>
    public LeveeBreakerState BreakerState => _state.CircuitState switch
    {
        CircuitState.Closed => LeveeBreakerState.Closed,
        CircuitState.HalfOpen => LeveeBreakerState.HalfOpen,
        CircuitState.Isolated when Volatile.Read(ref _probing) == 1 => LeveeBreakerState.HalfOpen, // the trip's own probe is out
        _ => LeveeBreakerState.Open,
    };

    // 1 while the consecutive-failures trip's own probe is out (reported as half-open)
    private int _probing;

    private bool Connected => _replica ? _store.IsReplicaConnected : _store.IsConnected;

    public bool IsUsable => Connected && _state.CircuitState is not CircuitState.Open and not CircuitState.Isolated;

    /// <summary>Closes the breaker (a new master after a failover starts with a clean record).</summary>
    public async Task ResetAsync()
    {
        Volatile.Write(ref _consecutiveFailures, 0);
        Volatile.Write(ref _currentBreakTicks, _breakDuration.Ticks);
        Volatile.Write(ref _closedAt, 0);
        if (_state.CircuitState != CircuitState.Closed)
        {
            await _control.CloseAsync().ConfigureAwait(false);
        }

        Volatile.Write(ref _tripped, 0);
    }

    /// <summary>
    /// The breaker's probe, run by the cache's maintenance (never on a caller's path): while the breaker is open, once its
    /// break duration has passed, makes one call (<paramref name="call"/>) under the budget; a success closes the breaker,
    /// a failure keeps it open for another break. True when the breaker is closed afterwards. A caller's call never waits
    /// for a probe: while the breaker is not closed every call fails at once (<see cref="TryAsync"/>).
    /// </summary>
    public async ValueTask<bool> ProbeAsync<TArg, TResult>(string operation, Func<IL2Store, TArg, Task<TResult>> call, TArg arg)
    {
        var state = _state.CircuitState;
        if (state == CircuitState.Closed)
        {
            return true;
        }

        if (!Connected || _time.GetElapsedTime(Volatile.Read(ref _openedAt)) < CurrentBreak)
        {
            return false;
        }

        if (Volatile.Read(ref _tripped) == 0)
        {
            // opened by Polly's sampling: this execution is its half-open probe, and Polly closes or reopens it
            Volatile.Write(ref _probing, 1);
            L2Outcome<TResult> outcome;
            try
            {
                outcome = await TryThroughPipelineAsync(operation, call, arg).ConfigureAwait(false);
            }
            finally
            {
                Volatile.Write(ref _probing, 0);
            }

            if (outcome.Success)
            {
                Volatile.Write(ref _closedAt, _time.GetTimestamp());
                Volatile.Write(ref _lastSuccessAt, _time.GetTimestamp());
                Volatile.Write(ref _consecutiveFailures, 0);
            }
            else
            {
                Volatile.Write(ref _openedAt, _time.GetTimestamp());
            }

            return outcome.Success;
        }

        // isolated by the consecutive-failures trip: the probe is ours, and so is closing it
        var started = new L2Call(operation, Stopwatch.GetTimestamp(), StartActivity(operation));
        Volatile.Write(ref _probing, 1);
        try
        {
            _ = await Start(call, arg, started.Started).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            Volatile.Write(ref _openedAt, _time.GetTimestamp());
            _ = Failed<bool>(operation, ex, started.Activity);
            started.Activity?.Dispose();
            return false;
        }
        finally
        {
            Volatile.Write(ref _probing, 0);
        }

        started.Activity?.Dispose();
        Volatile.Write(ref _consecutiveFailures, 0);
        await _control.CloseAsync().ConfigureAwait(false);
        Volatile.Write(ref _closedAt, _time.GetTimestamp()); // (Polly's OnClosed is not told of a manual close)
        Volatile.Write(ref _lastSuccessAt, _time.GetTimestamp());
        Volatile.Write(ref _tripped, 0);
        Log.BreakerClosed(_logger, _cache, _replica ? "replica" : "master");
        return true;
    }

    /// <summary>Runs an L2 operation; never throws (but for the caller's own cancellation). A failure is counted and logged.</summary>
    /// <remarks>
    /// While the breaker is closed (the normal case) the call is awaited directly and its outcome is then reported to the
    /// breaker synchronously: one await per call, no Polly state machine suspended across the Redis round trip (that
    /// cost ~1.3 KB and a fifth of a round trip per call; docs/benchmarks.md, finding 3). In any other state (open,
    /// half-open, isolated) the call fails at once: the probe that closes the breaker is the maintenance's
    /// (<see cref="ProbeAsync"/>), so no caller waits an <see cref="LeveeOptions.L2Timeout"/> for a node that is still down
    /// (the drill's incident: one caller per instance per break duration did).
    /// </remarks>
    public ValueTask<L2Outcome<TResult>> TryAsync<TArg, TResult>(string operation, Func<IL2Store, TArg, Task<TResult>> call, TArg arg)
    {
        if (!Connected)
        {
            _metrics.L2Error("unavailable");
            return new ValueTask<L2Outcome<TResult>>(L2Outcome<TResult>.Failed(L2FailureKind.Unavailable));
        }

        if (_state.CircuitState != CircuitState.Closed)
        {
            // open (or half-open: the maintenance's probe is running): no caller waits for a probe (ProbeAsync)
            _metrics.L2Error("breaker_open");
            return new ValueTask<L2Outcome<TResult>>(L2Outcome<TResult>.Failed(L2FailureKind.BreakerOpen));
        }

        return TryClosedAsync(operation, call, arg);
    }

    /// <summary>
    /// A call that is made even while the breaker is open, whenever the store is connected: a removal's message through
    /// the replicas, which the other instances need (they serve the removed value until it arrives) whatever this
    /// instance's record of the replicas says. Under the budget; while the breaker is open its outcome is not reported
    /// to it (the maintenance's probe decides when it closes), while it is closed it is an ordinary call.
    /// </summary>
    /// <remarks>Measured without it (incident drill, machine loaded): the writers' replica breakers opened and closed
    /// in turn (1, 2, 4 s breaks), and while a writer's was open its removals waited, other instances reading the
    /// replicas' older entries: 409 reads of removed values in 25 s.</remarks>
    public async ValueTask<L2Outcome<TResult>> TryEvenIfOpenAsync<TArg, TResult>(string operation, Func<IL2Store, TArg, Task<TResult>> call, TArg arg)
    {
        if (!Connected || _state.CircuitState == CircuitState.Closed)
        {
            return await TryAsync(operation, call, arg).ConfigureAwait(false);
        }

        using var activity = StartActivity(operation);
        try
        {
            var result = await Start(call, arg, Stopwatch.GetTimestamp()).ConfigureAwait(false);
            return L2Outcome<TResult>.Ok(result);
        }
        catch (Exception ex)
        {
            return Failed<TResult>(operation, ex, activity);
        }
    }

    /// <summary>
    /// The guarded call without an async frame of the guard's own, for the L2 hit path: when the store is connected and the
    /// breaker closed (the normal case), starts the call under the budget and returns true; the caller awaits
    /// <paramref name="pending"/> and then reports its end with <see cref="Succeeded"/> or <see cref="Failed(in L2Call, Exception)"/>
    /// (exactly one of them). False: nothing was started; use <see cref="TryAsync"/>, which handles every other state.
    /// </summary>
    public bool TryStart<TArg, TResult>(string operation, Func<IL2Store, TArg, Task<TResult>> call, TArg arg, out ValueTask<TResult> pending, out L2Call started)
    {
        if (!Connected || _state.CircuitState != CircuitState.Closed)
        {
            pending = default;
            started = default;
            return false;
        }

        started = new L2Call(operation, Stopwatch.GetTimestamp(), StartActivity(operation));
        pending = Start(call, arg, started.Started);
        return true;
    }

    /// <summary>Reports the success of a call started by <see cref="TryStart"/> to the breaker, the metrics and the trace.</summary>
    public void Succeeded(in L2Call call)
    {
        Record(Outcome.FromResult(true));
        if (_metrics.L2DurationEnabled)
        {
            _metrics.L2Duration(Stopwatch.GetElapsedTime(call.Started).TotalSeconds);
        }

        call.Activity?.Dispose();
    }

    /// <summary>Reports the failure of a call started by <see cref="TryStart"/> (counted, logged, recorded by the breaker).</summary>
    public L2FailureKind Failed(in L2Call call, Exception exception)
    {
        Record(Outcome.FromException<bool>(exception)); // a task that outlives its budget is observed by L2Budget
        var kind = Failed<bool>(call.Operation, exception, call.Activity).Failure;
        call.Activity?.Dispose();
        return kind;
    }

    /// <summary>Calls the store; a synchronous throw becomes a faulted task, a pending call waits under the budget.</summary>
    private ValueTask<TResult> Start<TArg, TResult>(Func<IL2Store, TArg, Task<TResult>> call, TArg arg, long startedTimestamp)
    {
        Task<TResult> task;
        try
        {
            task = call(_store, arg);
        }
        catch (Exception ex)
        {
            return ValueTask.FromException<TResult>(ex);
        }

        return task.IsCompleted ? new ValueTask<TResult>(task) : _budgetWait.WaitAsync(task, startedTimestamp);
    }

    private async ValueTask<L2Outcome<TResult>> TryClosedAsync<TArg, TResult>(string operation, Func<IL2Store, TArg, Task<TResult>> call, TArg arg)
    {
        var started = new L2Call(operation, Stopwatch.GetTimestamp(), StartActivity(operation));
        TResult result;
        try
        {
            result = await Start(call, arg, started.Started).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            return L2Outcome<TResult>.Failed(Failed(started, ex));
        }

        Succeeded(started);
        return L2Outcome<TResult>.Ok(result);
    }

    private async ValueTask<L2Outcome<TResult>> TryThroughPipelineAsync<TArg, TResult>(string operation, Func<IL2Store, TArg, Task<TResult>> call, TArg arg)
    {
        var started = Stopwatch.GetTimestamp();
        using var activity = StartActivity(operation);
        try
        {
            var result = await _pipeline.ExecuteAsync(
                static async (s, _) =>
                {
                    var task = s.call(s.self._store, s.arg);
                    try
                    {
                        return await task.WaitAsync(s.self._budget, s.self._time, CancellationToken.None).ConfigureAwait(false);
                    }
                    catch (TimeoutException)
                    {
                        Faults.Observe(task);
                        throw;
                    }
                },
                (self: this, call, arg),
                CancellationToken.None).ConfigureAwait(false);
            _metrics.L2Duration(Stopwatch.GetElapsedTime(started).TotalSeconds);
            return L2Outcome<TResult>.Ok(result);
        }
        catch (Exception ex)
        {
            return Failed<TResult>(operation, ex, activity);
        }
    }

    /// <summary>
    /// The consecutive-failures trip also needs no success for this many <see cref="LeveeOptions.L2Timeout"/>s: calls
    /// made together (a burst queued behind one backlog: the drill's warm-up, 32 at a time on a busy machine) time out
    /// together while the node still answers the others; a node that stopped answering has no success at all.
    /// </summary>
    internal const int TripQuietBudgets = 5;

    /// <summary>
    /// Probation: for one <see cref="LeveeOptions.BreakerSamplingDuration"/> after the maintenance's probe closed the breaker,
    /// the first failed call opens it again (not the fifth in a row with no success for 5x the budget: the probe's own
    /// success is that success). A node that answers a probe between stalls (the drill's slow-redis: 250 ms stalled of
    /// every 300) otherwise cost ~5 callers per instance a whole <see cref="LeveeOptions.L2Timeout"/> each time it was
    /// handed back. Not after a failover (<see cref="ResetAsync"/>): a new master starts with a clean record.
    /// </summary>
    private bool OnProbation()
    {
        var closedAt = Volatile.Read(ref _closedAt);
        return closedAt != 0 && _time.GetElapsedTime(closedAt) < _probation; // (only a probe sets _closedAt; a failover clears it)
    }

    /// <summary>The break in force (flap damping: see <see cref="FlapWindow"/>).</summary>
    internal TimeSpan CurrentBreak => TimeSpan.FromTicks(Volatile.Read(ref _currentBreakTicks));

    /// <summary>The breaker opened from closed: the break is doubled if it closed less than <see cref="FlapWindow"/> ago
    /// (up to <see cref="MaxBreakFactor"/> x the option), else back to the option's.</summary>
    private TimeSpan OpenedFromClosed()
    {
        var closedAt = Volatile.Read(ref _closedAt);
        var flapped = closedAt != 0 && _time.GetElapsedTime(closedAt) < FlapWindow;
        var next = flapped ? Math.Min(Volatile.Read(ref _currentBreakTicks) * 2, _breakDuration.Ticks * MaxBreakFactor) : _breakDuration.Ticks;
        Volatile.Write(ref _currentBreakTicks, next);
        return TimeSpan.FromTicks(next);
    }

    /// <summary>Reports an outcome the guard already has to the breaker (synchronously: the callback returns it at once).</summary>
    private void Record(Outcome<bool> outcome)
    {
        if (outcome.Exception is null)
        {
            Volatile.Write(ref _consecutiveFailures, 0);
            Volatile.Write(ref _lastSuccessAt, _time.GetTimestamp());
        }
        else if (outcome.Exception is not OperationCanceledException && _tripAfter > 0
            && (Interlocked.Increment(ref _consecutiveFailures) >= _tripAfter && _time.GetElapsedTime(Volatile.Read(ref _lastSuccessAt)) >= _tripQuiet
                || OnProbation())
            && Interlocked.CompareExchange(ref _tripped, 1, 0) == 0)
        {
            // failures in a row: the node stopped answering; a sampling window full of earlier successes would keep the
            // breaker closed for half its calls, each a caller waiting the whole budget. Or the first failure on
            // probation: the node failed again right after its probe handed it back to the callers.
            var breakFor = OpenedFromClosed();
            Volatile.Write(ref _openedAt, _time.GetTimestamp());
            _ = _control.IsolateAsync();
            Log.BreakerOpened(_logger, _cache, _replica ? "replica" : "master", breakFor.TotalSeconds);
            return;
        }

        var wasClosed = _state.CircuitState == CircuitState.Closed;
        var context = ResilienceContextPool.Shared.Get(CancellationToken.None);
        try
        {
            var pending = _pipeline.ExecuteOutcomeAsync(static (_, o) => new ValueTask<Outcome<bool>>(o), context, outcome);
            if (wasClosed && _state.CircuitState == CircuitState.Open)
            {
                // opened by the failure ratio, now (Polly's OnOpened callback may run later: not used for the time)
                var breakFor = OpenedFromClosed();
                Volatile.Write(ref _openedAt, _time.GetTimestamp());
                Log.BreakerOpened(_logger, _cache, _replica ? "replica" : "master", breakFor.TotalSeconds);
            }

            if (!pending.IsCompleted)
            {
                // not expected (the breaker's callbacks here are synchronous); never block on it
                _ = pending.AsTask();
                return;
            }

            _ = pending.Result; // an open breaker answers BrokenCircuitException as an outcome: nothing to do
        }
        finally
        {
            ResilienceContextPool.Shared.Return(context);
        }
    }

    private Activity? StartActivity(string operation)
    {
        var activity = LeveeTelemetry.ActivitySource.StartActivity(_replica ? "levee.l2.replica" : "levee.l2", ActivityKind.Client);
        activity?.SetTag("db.system", "redis");
        activity?.SetTag("levee.operation", operation);
        return activity;
    }

    private L2Outcome<TResult> Failed<TResult>(string operation, Exception ex, Activity? activity)
    {
        switch (ex)
        {
            case BrokenCircuitException:
                activity?.SetStatus(ActivityStatusCode.Error, "breaker open");
                _metrics.L2Error("breaker_open");
                return L2Outcome<TResult>.Failed(L2FailureKind.BreakerOpen);
            case TimeoutException:
                activity?.SetStatus(ActivityStatusCode.Error, "timeout");
                _metrics.L2Error("timeout");
                Log.L2CallFailed(_logger, _cache, operation, "timeout", ex);
                return L2Outcome<TResult>.Failed(L2FailureKind.Timeout);
            default:
                activity?.SetStatus(ActivityStatusCode.Error, ex.GetType().Name);
                _metrics.L2Error("error");
                Log.L2CallFailed(_logger, _cache, operation, "error", ex);
                return L2Outcome<TResult>.Failed(L2FailureKind.Error);
        }
    }
}

/// <summary>A call started by <see cref="L2Guard.TryStart"/>: what reporting its end needs.</summary>
internal readonly struct L2Call(string operation, long started, Activity? activity)
{
    public string Operation { get; } = operation;

    /// <summary><see cref="Stopwatch.GetTimestamp"/> when the call started.</summary>
    public long Started { get; } = started;

    public Activity? Activity { get; } = activity;
}

internal enum L2FailureKind
{
    None,
    Unavailable,
    BreakerOpen,
    Timeout,
    Error,
}

internal readonly struct L2Outcome<T>
{
    private L2Outcome(bool success, T value, L2FailureKind failure)
    {
        Success = success;
        Value = value;
        Failure = failure;
    }

    public bool Success { get; }

    public T Value { get; }

    public L2FailureKind Failure { get; }

    public static L2Outcome<T> Ok(T value) => new(true, value, L2FailureKind.None);

    public static L2Outcome<T> Failed(L2FailureKind kind) => new(false, default!, kind);
}
