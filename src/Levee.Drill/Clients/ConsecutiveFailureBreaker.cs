namespace Levee.Drill.Clients;

/// <summary>
/// The breaker the postmortem proposed (pybreaker's model): opens after <c>failMax</c> consecutive
/// failures, stays open for <c>openFor</c>, then lets one trial call through (half-open); the trial's
/// success closes it, its failure opens it again.
/// </summary>
internal sealed class ConsecutiveFailureBreaker(int failMax, TimeSpan openFor, TimeProvider time)
{
    private readonly Lock _gate = new();
    private int _failures;
    private long _openedAt;
    private bool _open;
    private bool _trialInFlight;

    public bool IsOpen
    {
        get
        {
            lock (_gate)
            {
                return _open;
            }
        }
    }

    /// <summary>True when the call may go to Redis (closed, or the single half-open trial).</summary>
    public bool TryEnter(out bool isTrial)
    {
        lock (_gate)
        {
            isTrial = false;
            if (!_open)
            {
                return true;
            }

            if (!_trialInFlight && time.GetElapsedTime(_openedAt) >= openFor)
            {
                _trialInFlight = true;
                isTrial = true;
                return true;
            }

            return false;
        }
    }

    public void Success(bool isTrial)
    {
        lock (_gate)
        {
            _failures = 0;
            if (isTrial || !_open)
            {
                _open = false;
                _trialInFlight = false;
            }
        }
    }

    public void Failure(bool isTrial)
    {
        lock (_gate)
        {
            if (isTrial)
            {
                _trialInFlight = false;
                _openedAt = time.GetTimestamp();
                return;
            }

            if (_open)
            {
                return;
            }

            if (++_failures >= failMax)
            {
                _open = true;
                _openedAt = time.GetTimestamp();
            }
        }
    }
}
