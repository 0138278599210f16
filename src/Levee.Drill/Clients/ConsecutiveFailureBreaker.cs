namespace Levee.Drill.Clients;

/// <summary>
/// The breaker the postmortem proposed (pybreaker's model): opens after <c>failMax</c> consecutive
/// failures, stays open for <c>openFor</c>, then lets one trial call through (half-open); the trial's
/// success closes it, its failure opens it again.
/// </summary>
internal sealed class ConsecutiveFailureBreaker(int failMax, TimeSpan openFor, TimeProvider time)
{
    private readonly Lock gate = new();
    private int failures;
    private long openedAt;
    private bool open;
    private bool trialInFlight;

    public bool IsOpen
    {
        get
        {
            lock (gate)
            {
                return open;
            }
        }
    }

    /// <summary>True when the call may go to Redis (closed, or the single half-open trial).</summary>
    public bool TryEnter(out bool isTrial)
    {
        lock (gate)
        {
            isTrial = false;
            if (!open)
            {
                return true;
            }

            if (!trialInFlight && time.GetElapsedTime(openedAt) >= openFor)
            {
                trialInFlight = true;
                isTrial = true;
                return true;
            }

            return false;
        }
    }

    public void Success(bool isTrial)
    {
        lock (gate)
        {
            failures = 0;
            if (isTrial || !open)
            {
                open = false;
                trialInFlight = false;
            }
        }
    }

    public void Failure(bool isTrial)
    {
        lock (gate)
        {
            if (isTrial)
            {
                trialInFlight = false;
                openedAt = time.GetTimestamp();
                return;
            }

            if (open)
            {
                return;
            }

            if (++failures >= failMax)
            {
                open = true;
                openedAt = time.GetTimestamp();
            }
        }
    }
}
