namespace Levee.Gate;

/// <summary>
/// One admission gate: a concurrency limit (fixed or <see cref="GradientLimit"/>), an optional <see cref="TokenBucket"/>,
/// and two bounded FIFO queues (interactive first, then low priority within its share of the limit). All state changes
/// happen under one lock; waiters are completed outside it (their continuations run asynchronously).
/// </summary>
internal sealed class AdmissionGate
{
    private readonly Lock _lock = new();
    private readonly LinkedList<Waiter> _interactive = new();
    private readonly LinkedList<Waiter> _low = new();
    private readonly GradientLimit? _adaptive;
    private readonly TokenBucket? _rate;
    private readonly TimeProvider _time;
    private readonly GateTelemetry _telemetry;
    private readonly string _cache;
    private readonly int _fixedLimit;
    private int _inFlight;
    private int _lowInFlight;
    private int _peakInFlight;
    private long _shed;
    private long _admitted;
    private long _refused;
    private long _lastShedTimestamp = long.MinValue;

    public AdmissionGate(string cache, string name, LeveeGateOptions options, TimeProvider time, GateTelemetry telemetry)
    {
        _cache = cache;
        Name = name;
        Options = options;
        _time = time;
        _telemetry = telemetry;
        _fixedLimit = options.InitialLimit;
        if (options.Adaptive)
        {
            _adaptive = new GradientLimit(options, time);
        }

        if (options.RatePerSecond is { } rate)
        {
            _rate = new TokenBucket(rate, options.RateBurst, time);
        }

        Amplification = new AmplificationMeter(time);
    }

    public string Name { get; }

    public LeveeGateOptions Options { get; }

    public AmplificationMeter Amplification { get; }

    public int Limit => _adaptive?.Limit ?? _fixedLimit;

    public int InFlight => Volatile.Read(ref _inFlight);

    public int Queued
    {
        get
        {
            lock (_lock)
            {
                return _interactive.Count + _low.Count;
            }
        }
    }

    /// <summary>Highest number of factory calls in flight at once since the gate was created (for tests and docs).</summary>
    public int PeakInFlight => Volatile.Read(ref _peakInFlight);

    /// <summary>Callers refused (served stale or failed) since the gate was created.</summary>
    public long Shed => Interlocked.Read(ref _shed);

    /// <summary>Callers let through to the database since the gate was created (a slot and, with a rate limit, a token).</summary>
    public long Admitted => Interlocked.Read(ref _admitted);

    /// <summary>Callers refused with <see cref="LeveeOverloadedException"/> since the gate was created (served-stale callers not included).</summary>
    public long Refused => Interlocked.Read(ref _refused);

    /// <summary>True when the gate refused a caller within <paramref name="window"/> before now.</summary>
    public bool ShedWithin(TimeSpan window)
    {
        var last = Interlocked.Read(ref _lastShedTimestamp);
        return last != long.MinValue && _time.GetElapsedTime(last) <= window;
    }

    /// <summary>Baseline and recent latency of the adaptive limit (seconds), for docs and diagnostics.</summary>
    public (double Short, double Long) Latency => _adaptive is null ? (0, 0) : (_adaptive.ShortRtt, _adaptive.LongRtt);

    private int LowCap(int limit) => Math.Max(1, (int)(limit * Options.LowPriorityShare));

    /// <summary>Takes a slot now if one is free for this priority (and a rate token); never waits.</summary>
    public bool TryEnter(GatePriority priority, out GateLease lease)
    {
        lock (_lock)
        {
            if (CanEnterLocked(priority, queued: false) && TakeTokenLocked())
            {
                lease = EnterLocked(priority);
                _telemetry.Wait(this, 0);
                return true;
            }
        }

        lease = default;
        return false;
    }

    /// <summary>
    /// Waits for a slot: interactive callers up to <see cref="LeveeGateOptions.QueueTimeout"/> in a queue of at most
    /// <see cref="LeveeGateOptions.QueueLimit"/>; warm-up until <paramref name="cancellationToken"/> (its queue holds at most
    /// max(QueueLimit, 256)). Refresh never waits. Throws <see cref="LeveeOverloadedException"/> when refused.
    /// </summary>
    public async ValueTask<GateLease> EnterAsync(GatePriority priority, CancellationToken cancellationToken)
    {
        var started = _time.GetTimestamp();
        Waiter? waiter = null;
        GateLease lease = default;
        lock (_lock)
        {
            if (CanEnterLocked(priority, queued: false))
            {
                lease = EnterLocked(priority); // a rate token, if one is needed, is awaited below holding the slot
            }
            else
            {
                // warm-up may queue even with QueueLimit 0: its own parallelism (WarmUp.MaxParallelism, at most 256) bounds it
                var queue = priority == GatePriority.Interactive ? _interactive : _low;
                var bound = priority == GatePriority.Interactive ? Options.QueueLimit : Math.Max(Options.QueueLimit, 256);
                if (priority == GatePriority.Refresh || queue.Count >= bound)
                {
                    throw RefuseLocked("queue_full");
                }

                waiter = new Waiter(priority);
                waiter.Node = queue.AddLast(waiter);
            }
        }

        var timeout = priority == GatePriority.Interactive ? Options.QueueTimeout : Timeout.InfiniteTimeSpan;
        try
        {
            if (waiter is not null)
            {
                lease = await WaitForSlotAsync(waiter, timeout, cancellationToken).ConfigureAwait(false);
            }

            bool token;
            try
            {
                token = await WaitForTokenAsync(started, timeout, cancellationToken).ConfigureAwait(false);
            }
            catch
            {
                Release(lease, sample: false);
                lock (_lock)
                {
                    _admitted--; // it had a slot, but never reached the database
                }

                throw;
            }

            if (!token)
            {
                Release(lease, sample: false);
                lock (_lock)
                {
                    _admitted--; // refused for the rate limit: not admitted (the health check compares the two counts)
                    throw RefuseLocked("rate_limit");
                }
            }

            _telemetry.Wait(this, _time.GetElapsedTime(started).TotalSeconds);

            // the call's latency (the adaptive limit's sample) counts from here: a wait for a rate token is not database time
            return _rate is null ? lease : lease with { Started = _time.GetTimestamp() };
        }
        catch (TimeoutException)
        {
            _telemetry.Wait(this, _time.GetElapsedTime(started).TotalSeconds);
            lock (_lock)
            {
                throw RefuseLocked("queue_timeout");
            }
        }
    }

    private async Task<GateLease> WaitForSlotAsync(Waiter waiter, TimeSpan timeout, CancellationToken cancellationToken)
    {
        try
        {
            return await waiter.Source.Task.WaitAsync(timeout, _time, cancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is TimeoutException or OperationCanceledException)
        {
            lock (_lock)
            {
                if (waiter.Node?.List is { } list)
                {
                    list.Remove(waiter.Node);
                    throw;
                }
            }

            // granted while timing out: the slot is ours; give it back if the caller is gone
            var lease = await waiter.Source.Task.ConfigureAwait(false);
            if (ex is OperationCanceledException)
            {
                Release(lease, sample: false);
                throw;
            }

            return lease;
        }
    }

    /// <summary>
    /// Reserves the next rate token and waits for it; false (nothing reserved) when it would come after
    /// <paramref name="timeout"/>. Reservations are served in order (<see cref="TokenBucket.Reserve"/>); a caller that
    /// stops waiting gives its token back.
    /// </summary>
    private async ValueTask<bool> WaitForTokenAsync(long started, TimeSpan timeout, CancellationToken cancellationToken)
    {
        if (_rate is null)
        {
            return true;
        }

        TimeSpan wait;
        lock (_lock)
        {
            if (timeout != Timeout.InfiniteTimeSpan && _time.GetElapsedTime(started) + _rate.UntilNext() > timeout)
            {
                return false;
            }

            wait = _rate.Reserve();
        }

        if (wait > TimeSpan.Zero)
        {
            try
            {
                await Task.Delay(wait, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                lock (_lock)
                {
                    _rate.Return();
                }

                throw;
            }
        }

        return true;
    }

    /// <summary>Counts a caller that was served a stale value because the gate was full.</summary>
    public void RecordServedStale()
    {
        Interlocked.Increment(ref _shed);
        Interlocked.Exchange(ref _lastShedTimestamp, _time.GetTimestamp());
        _telemetry.Shed(this, "stale");
    }

    /// <summary>Gives the slot back; with <paramref name="sample"/>, the call's latency feeds the adaptive limit.</summary>
    public void Release(GateLease lease, bool sample)
    {
        List<(Waiter, GateLease)>? granted = null;
        var elapsed = _time.GetElapsedTime(lease.Started).TotalSeconds;
        lock (_lock)
        {
            _inFlight--;
            if (lease.Priority != GatePriority.Interactive)
            {
                _lowInFlight--;
            }

            if (sample && _adaptive is not null)
            {
                _adaptive.OnSample(elapsed, lease.InFlightAtStart);
            }

            PumpLocked(ref granted);
        }

        if (granted is not null)
        {
            foreach (var (waiter, l) in granted)
            {
                waiter.Source.TrySetResult(l);
            }
        }
    }

    private bool CanEnterLocked(GatePriority priority, bool queued)
    {
        var limit = Limit;
        if (_inFlight >= limit)
        {
            return false;
        }

        if (priority == GatePriority.Interactive)
        {
            return queued || _interactive.Count == 0;
        }

        return _lowInFlight < LowCap(limit) && _interactive.Count == 0 && (queued || _low.Count == 0);
    }

    private bool TakeTokenLocked() => _rate is null || _rate.TryTake();

    private GateLease EnterLocked(GatePriority priority)
    {
        _admitted++;
        _inFlight++;
        if (priority != GatePriority.Interactive)
        {
            _lowInFlight++;
        }

        if (_inFlight > _peakInFlight)
        {
            _peakInFlight = _inFlight;
        }

        return new GateLease(this, priority, _time.GetTimestamp(), _inFlight);
    }

    /// <summary>Hands free slots to waiters: interactive first, then low priority within its share. A woken waiter then reserves its rate token.</summary>
    private void PumpLocked(ref List<(Waiter, GateLease)>? granted)
    {
        while (_interactive.First is { } first && CanEnterLocked(GatePriority.Interactive, queued: true))
        {
            _interactive.RemoveFirst();
            (granted ??= []).Add((first.Value, EnterLocked(GatePriority.Interactive)));
        }

        while (_low.First is { } first && CanEnterLocked(first.Value.Priority, queued: true))
        {
            _low.RemoveFirst();
            (granted ??= []).Add((first.Value, EnterLocked(first.Value.Priority)));
        }
    }

    private LeveeOverloadedException RefuseLocked(string reason)
    {
        _refused++;
        Interlocked.Increment(ref _shed);
        Interlocked.Exchange(ref _lastShedTimestamp, _time.GetTimestamp());
        _telemetry.Shed(this, reason);
        return new LeveeOverloadedException(_cache, Name, reason, Limit, _inFlight, _interactive.Count + _low.Count, Options.QueueTimeout);
    }

    private sealed class Waiter(GatePriority priority)
    {
        public readonly TaskCompletionSource<GateLease> Source = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public GatePriority Priority { get; } = priority;

        public LinkedListNode<Waiter>? Node { get; set; }
    }
}

/// <summary>A slot of an <see cref="AdmissionGate"/>; give it back with <see cref="AdmissionGate.Release"/> exactly once.</summary>
internal readonly record struct GateLease(AdmissionGate Gate, GatePriority Priority, long Started, int InFlightAtStart)
{
    public bool IsValid => Gate is not null;
}
