namespace Levee.Gate;

/// <summary>
/// A token bucket refilled lazily from <see cref="TimeProvider"/> timestamps (no timer). System.Threading.RateLimiting's
/// TokenBucketRateLimiter replenishes from its own timer and stopwatch, which a FakeTimeProvider cannot drive, so the
/// gate keeps this small one. Not thread-safe: the gate calls it under its lock.
/// </summary>
/// <remarks>
/// Callers that must wait for a token reserve it (<see cref="Reserve"/>): the bucket goes into debt and each reservation
/// is told when its token will have arrived, so tokens go out in the order they were asked for. <see cref="TryTake"/>
/// succeeds only with a whole token in the bucket, which means nobody is waiting: a newcomer cannot take the token a
/// waiter was promised.
/// </remarks>
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

    /// <summary>Takes a token if one is in the bucket now (never when a reservation is still waiting for its token).</summary>
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

    /// <summary>How long a reservation made now would wait for its token.</summary>
    public TimeSpan UntilNext()
    {
        Refill();
        return _tokens >= 1 ? TimeSpan.Zero : TimeSpan.FromSeconds((1 - _tokens) / _rate);
    }

    /// <summary>Reserves the next token; returns how long until it is the caller's (zero: now).</summary>
    public TimeSpan Reserve()
    {
        var wait = UntilNext();
        _tokens -= 1;
        return wait;
    }

    /// <summary>Takes a token spent elsewhere (another instance's use of a shared budget): the bucket may go into debt,
    /// down to <paramref name="floor"/> tokens.</summary>
    public void Spend(double floor)
    {
        Refill();
        _tokens = Math.Max(floor, _tokens - 1);
    }

    /// <summary>Gives back a reservation whose caller stopped waiting: its token goes to whoever asks next.</summary>
    public void Return()
    {
        Refill();
        _tokens = Math.Min(_capacity, _tokens + 1);
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
