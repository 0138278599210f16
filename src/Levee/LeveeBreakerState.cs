namespace Levee;

/// <summary>The state of the circuit breaker in front of Redis (the values are those of the <c>levee.l2.breaker.state</c> gauge).</summary>
public enum LeveeBreakerState
{
    /// <summary>The cache has no L2 (no Redis configured).</summary>
    None = -1,

    /// <summary>Calls go to Redis.</summary>
    Closed = 0,

    /// <summary>The break is over: a probe call decides whether the breaker closes or opens again.</summary>
    HalfOpen = 1,

    /// <summary>Redis failed too often: calls skip it until the break ends.</summary>
    Open = 2,
}
