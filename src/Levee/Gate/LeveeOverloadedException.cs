namespace Levee;

/// <summary>
/// Thrown by a cache call that needed the database (no fresh or stale value) when the admission gate protecting it was
/// full: the wait queue was full, the wait exceeded <see cref="LeveeGateOptions.QueueTimeout"/>, or the rate limit left
/// no token in time. The database was not called. Map it to HTTP 503 with a short Retry-After.
/// </summary>
public sealed class LeveeOverloadedException : Exception
{
    /// <summary>Creates the exception (for tests and wrappers; Levee throws it with gate details).</summary>
    public LeveeOverloadedException()
        : this("The admission gate is full.")
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public LeveeOverloadedException(string message)
        : base(message)
    {
        Gate = "";
        Reason = "";
    }

    /// <summary>Creates the exception with a message and an inner exception.</summary>
    public LeveeOverloadedException(string message, Exception innerException)
        : base(message, innerException)
    {
        Gate = "";
        Reason = "";
    }

    internal LeveeOverloadedException(string cache, string gate, string reason, int limit, int inFlight, int queued, TimeSpan queueTimeout)
        : base($"Levee cache '{cache}': admission gate '{gate}' is full ({reason}): limit {limit}, {inFlight} factory calls in flight, {queued} waiting, queue timeout {queueTimeout.TotalMilliseconds:0} ms. The database was not called.")
    {
        Gate = gate;
        Reason = reason;
        Limit = limit;
        InFlight = inFlight;
        Queued = queued;
    }

    /// <summary>Name of the gate that was full.</summary>
    public string Gate { get; }

    /// <summary>Why: <c>queue_full</c>, <c>queue_timeout</c> or <c>rate_limit</c>.</summary>
    public string Reason { get; }

    /// <summary>The gate's concurrency limit when the call was refused.</summary>
    public int Limit { get; }

    /// <summary>Factory calls in flight through the gate when the call was refused.</summary>
    public int InFlight { get; }

    /// <summary>Callers waiting in the gate's queue when the call was refused.</summary>
    public int Queued { get; }
}
