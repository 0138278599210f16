namespace Levee.Gate;

/// <summary>
/// A token bucket refilled lazily from <see cref="TimeProvider"/> timestamps (no timer). System.Threading.RateLimiting's
/// TokenBucketRateLimiter replenishes from its own timer and stopwatch, which a FakeTimeProvider cannot drive, so the
/// gate keeps this small one. Not thread-safe: the gate calls it under its lock.
/// </summary>
internal sealed class TokenBucket
{
    private readonly double _rate;
    private readonly double _capacity;
    private readonly TimeProvider _time;
    private double _tokens;
    private long _last;

    public TokenBucket(double ratePerSecond, int burst, TimeProvider time)
    {
        _rate = ratePerSecond;
        _capacity = burst;
        _time = time;
        _tokens = burst;
        _last = time.GetTimestamp();
    }

    public bool TryTake()
    {
        Refill();
        if (_tokens >= 1)
        {
            _tokens -= 1;
            return true;
        }

        return false;
    }

    /// <summary>How long until one token is available.</summary>
    public TimeSpan UntilNext()
    {
        Refill();
        return _tokens >= 1 ? TimeSpan.Zero : TimeSpan.FromSeconds(Math.Max((1 - _tokens) / _rate, 0.001));
    }

    private void Refill()
    {
        var now = _time.GetTimestamp();
        var elapsed = (double)(now - _last) / _time.TimestampFrequency;
        if (elapsed > 0)
        {
            _tokens = Math.Min(_capacity, _tokens + (elapsed * _rate));
            _last = now;
        }
    }
}
