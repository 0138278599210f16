using Levee.Internal;
using Levee.Gate;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Levee;

/// <summary>
/// Loads the registered warm-up entries: at start-up (readiness waits for it, up to
/// <see cref="LeveeWarmUpOptions.ReadinessDeadline"/>), again when Redis reconnects or fails over, and when L2 is found
/// empty (the marker key Levee writes after each warm-up is gone). Every database call goes through the entry's admission
/// gate at warm-up priority: behind interactive callers, within the gate's low-priority share. Runs never overlap; a
/// trigger during a run causes one more run after it. Resolve it from DI to await <see cref="Ready"/> or read <see cref="LastResult"/>.
/// </summary>
public sealed class LeveeWarmUp : IAsyncDisposable
{
    private readonly LeveeCache _cache;
    private readonly IReadOnlyList<ILeveeWarmUpSource> _sources;
    private readonly LeveeWarmUpOptions _options;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _runLock = new(1, 1);
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly CancellationTokenSource _stopping = new();
    private readonly string _name;
    private int _state;
    private int _requested;
    private string _nextTrigger = "startup";
    private bool _markerWritten;
    private int _l2ChangedDuringRun; // 1: Redis connected or switched master while a run was loading (its entries may not be in L2)
    private bool _rewarmAfterStartup;
    private int _progressDone;
    private int _progressTotal;
    private Task? _loop;
    private ITimer? _deadline;
    private LeveeWarmUpResult? _last;

    internal LeveeWarmUp(LeveeCache cache, IEnumerable<ILeveeWarmUpSource> sources, ILogger? logger)
    {
        _cache = cache;
        _sources = [.. sources];
        _options = cache.Options.WarmUp;
        _time = cache.Options.TimeProvider;
        _logger = logger ?? NullLogger.Instance;
        _name = cache.Options.Name;
    }

    /// <summary>Where the start-up warm-up stands.</summary>
    public LeveeWarmUpState State => (LeveeWarmUpState)Volatile.Read(ref _state);

    /// <summary>Completes when the start-up warm-up is done or its readiness deadline passed.</summary>
    public Task Ready => _ready.Task;

    /// <summary>True while any warm-up run (start-up or re-warm) is in progress.</summary>
    public bool IsRunning => _runLock.CurrentCount == 0;

    /// <summary>The last completed run, or null.</summary>
    public LeveeWarmUpResult? LastResult => Volatile.Read(ref _last);

    /// <summary>Entries done and enumerated so far in the current (or last) run.</summary>
    public (int Done, int Total) Progress => (Volatile.Read(ref _progressDone), Volatile.Read(ref _progressTotal));

    /// <summary>Runs a warm-up now (waits for a run in progress first) and returns its result.</summary>
    public async Task<LeveeWarmUpResult> RunAsync(CancellationToken cancellationToken = default)
    {
        await _runLock.WaitAsync(cancellationToken).ConfigureAwait(false);
        try
        {
            return await RunOnceAsync("manual", cancellationToken).ConfigureAwait(false);
        }
        finally
        {
            _runLock.Release();
        }
    }

    /// <summary>Starts the start-up warm-up and the watchers (called by the hosted service).</summary>
    internal void Start()
    {
        if (Interlocked.CompareExchange(ref _state, (int)LeveeWarmUpState.Warming, (int)LeveeWarmUpState.NotStarted) != (int)LeveeWarmUpState.NotStarted)
        {
            return;
        }

        _deadline = NoFlow.Timer(_time, static s => ((LeveeWarmUp)s!).OnDeadline(), this, _options.ReadinessDeadline, Timeout.InfiniteTimeSpan);
        _cache.RedisStateChanged += OnRedisStateChanged;
        _loop = RunLoopAsync(_stopping.Token);
    }

    /// <summary>Stops watching and cancels a run in progress.</summary>
    internal async Task StopAsync()
    {
        _cache.RedisStateChanged -= OnRedisStateChanged;
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_deadline is not null)
        {
            await _deadline.DisposeAsync().ConfigureAwait(false);
        }

        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // stopping
            }
        }
    }

    /// <inheritdoc />
    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        _stopping.Dispose();
        _runLock.Dispose();
    }

    private async Task RunLoopAsync(CancellationToken stopping)
    {
        await Task.Yield();
        await WaitForL2Async(stopping).ConfigureAwait(false);
        await _runLock.WaitAsync(stopping).ConfigureAwait(false);
        try
        {
            await RunOnceAsync("startup", stopping).ConfigureAwait(false);
        }
        finally
        {
            _runLock.Release();
        }

        Interlocked.CompareExchange(ref _state, (int)LeveeWarmUpState.Ready, (int)LeveeWarmUpState.Warming);
        _ready.TrySetResult();
        if (_rewarmAfterStartup)
        {
            Request("l2_connected"); // Redis came while the start-up run loaded into L1 only: now into L2
        }

        if (!_cache.HasL2)
        {
            return;
        }

        // empty-L2 detection: the marker written after each warm-up must stay; if L2 answers without it, L2 lost its data
        while (!stopping.IsCancellationRequested)
        {
            await Task.Delay(_options.EmptyL2CheckInterval, _time, stopping).ConfigureAwait(false);
            if (await _cache.HasWarmMarkerAsync().ConfigureAwait(false) != false)
            {
                continue;
            }

            // every instance sees the marker vanish at about the same time: wait a random part of the interval and look
            // again, so that usually one instance refills L2 (and rewrites the marker) and the others find it done
            await Task.Delay(TimeSpan.FromMilliseconds(Random.Shared.NextDouble() * _options.EmptyL2CheckInterval.TotalMilliseconds), _time, stopping).ConfigureAwait(false);
            if (await _cache.HasWarmMarkerAsync().ConfigureAwait(false) == false)
            {
                if (_markerWritten)
                {
                    GateLog.L2FoundEmpty(_logger, _name);
                }

                Request("l2_empty");
            }
        }
    }

    /// <summary>At start-up Redis may still be connecting: wait for it (bounded) so the entries reach L2 before readiness.</summary>
    private async Task WaitForL2Async(CancellationToken stopping)
    {
        if (!_cache.HasL2)
        {
            return;
        }

        var started = _time.GetTimestamp();
        while (!_cache.IsL2Available && _time.GetElapsedTime(started) < _options.L2ConnectTimeout)
        {
            await Task.Delay(TimeSpan.FromMilliseconds(20), _time, stopping).ConfigureAwait(false);
        }
    }

    private void OnRedisStateChanged(object? sender, LeveeL2EventArgs e)
    {
        if (!_options.RewarmOnL2Recovery || State == LeveeWarmUpState.NotStarted)
        {
            return;
        }

        if (State == LeveeWarmUpState.Warming)
        {
            if (e.Kind is LeveeL2EventKind.Connected or LeveeL2EventKind.MasterSwitched)
            {
                Volatile.Write(ref _l2ChangedDuringRun, 1); // the start-up run asks for a re-warm when it ends
            }

            return;
        }

        if (e.Kind == LeveeL2EventKind.Connected)
        {
            Request("l2_connected");
        }
        else if (e.Kind == LeveeL2EventKind.MasterSwitched)
        {
            Request("failover");
        }
    }

    private void Request(string trigger)
    {
        Volatile.Write(ref _nextTrigger, trigger);
        if (Interlocked.Exchange(ref _requested, 1) == 0)
        {
            _ = DrainAsync();
        }
    }

    private async Task DrainAsync()
    {
        var stopping = _stopping.Token;
        try
        {
            await _runLock.WaitAsync(stopping).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            return;
        }

        try
        {
            while (Interlocked.Exchange(ref _requested, 0) == 1 && !stopping.IsCancellationRequested)
            {
                // a re-warm is for L2: while L2 is not usable it would only reload L1 from the database. Wait for it a
                // little (a breaker still open after a failover); past that, the next reconnect event or marker check asks again
                await WaitForL2Async(stopping).ConfigureAwait(false);
                if (_cache.IsL2Available)
                {
                    await RunOnceAsync(Volatile.Read(ref _nextTrigger), stopping).ConfigureAwait(false);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // stopping
        }
        finally
        {
            _runLock.Release();
        }
    }

    private async Task<LeveeWarmUpResult> RunOnceAsync(string trigger, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        Volatile.Write(ref _l2ChangedDuringRun, 0);
        var l2AtStart = _cache.IsL2Available;
        var entries = new List<LeveeWarmUpEntry>();
        foreach (var source in _sources)
        {
            try
            {
                await foreach (var entry in source.GetEntriesAsync(cancellationToken).ConfigureAwait(false))
                {
                    entries.Add(entry);
                }
            }
            catch (Exception ex) when (ex is not OperationCanceledException || !cancellationToken.IsCancellationRequested)
            {
                GateLog.WarmUpSourceFailed(_logger, _name, ex);
            }
        }

        Volatile.Write(ref _progressDone, 0);
        Volatile.Write(ref _progressTotal, entries.Count);
        GateLog.WarmUpStarted(_logger, _name, trigger, entries.Count);
        int fromL2 = 0, fromFactory = 0, failed = 0;

        // Two passes when there is an L2. The first takes what L2 (or this instance's L1) has and loads nothing; the second
        // loads the rest in an order of this instance's own, each entry reading L2 once more just before its query. Every
        // instance re-warms at the same moment after a failover: walking the same list in the same order, they reached
        // each missing key together and all loaded it (the 5-minute incident drill: ~240 keys removed during the outage,
        // loaded by each of the 8 instances, 1,900 warm-up queries in 10 s with the database at capacity). In orders of
        // their own, the first instance to reach a key shares it through L2 with those that come later.
        var needFactory = new System.Collections.Concurrent.ConcurrentBag<LeveeWarmUpEntry>();
        await RunPassAsync(entries, fromL2Only: _cache.HasL2).ConfigureAwait(false);
        if (!needFactory.IsEmpty)
        {
            var rest = needFactory.ToArray();
            Random.Shared.Shuffle(rest);
            needFactory.Clear();
            await RunPassAsync(rest, fromL2Only: false).ConfigureAwait(false);
        }

        Task RunPassAsync(IEnumerable<LeveeWarmUpEntry> pass, bool fromL2Only) =>
            Parallel.ForEachAsync(pass, new ParallelOptions { MaxDegreeOfParallelism = _options.MaxParallelism, CancellationToken = cancellationToken }, async (entry, ct) =>
            {
                var done = true;
                try
                {
                    var outcome = await entry.RunAsync(_cache, fromL2Only, ct).ConfigureAwait(false);
                    if (outcome == WarmUpOutcome.NeedsFactory)
                    {
                        needFactory.Add(entry);
                        done = false;
                        return;
                    }

                    Interlocked.Increment(ref outcome == WarmUpOutcome.FromFactory ? ref fromFactory : ref fromL2); // left to recovery (its L2 copy stays, stale, refreshed by its reads), written back from L1 or kept in L1 (L2 unusable mid-run): no query
                }
                catch (Exception ex) when (ex is not OperationCanceledException || !ct.IsCancellationRequested)
                {
                    Interlocked.Increment(ref failed);
                    GateLog.WarmUpEntryFailed(_logger, _name, ex);
                }
                finally
                {
                    if (done)
                    {
                        Interlocked.Increment(ref _progressDone);
                    }
                }
            });

        // The marker says "L2 holds the warm set": not when L2 was away when the run began or came back (or switched
        // master) during it. Entries loaded then are in L1 only; the marker would keep the empty-L2 check from ever
        // refilling L2, so a re-warm is asked for instead.
        var missedL2 = _cache.HasL2 && (!l2AtStart || Interlocked.Exchange(ref _l2ChangedDuringRun, 0) == 1);
        if (missedL2)
        {
            _rewarmAfterStartup = _options.RewarmOnL2Recovery && trigger == "startup"; // later runs: the event itself asks again
        }
        else if (await _cache.WriteWarmMarkerAsync().ConfigureAwait(false))
        {
            _markerWritten = true;
        }

        var result = new LeveeWarmUpResult(trigger, entries.Count, fromL2, fromFactory, failed, _time.GetElapsedTime(started));
        Volatile.Write(ref _last, result);
        GateLog.WarmUpDone(_logger, _name, trigger, fromL2, fromFactory, failed, result.Duration.TotalSeconds);
        return result;
    }

    private void OnDeadline()
    {
        if (Interlocked.CompareExchange(ref _state, (int)LeveeWarmUpState.ReadyPastDeadline, (int)LeveeWarmUpState.Warming) == (int)LeveeWarmUpState.Warming)
        {
            GateLog.WarmUpDeadlinePassed(_logger, _name, _options.ReadinessDeadline.TotalSeconds);
            _ready.TrySetResult();
        }
    }
}
