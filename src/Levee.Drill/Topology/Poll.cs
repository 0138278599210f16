namespace Levee.Drill.Topology;

/// <summary>
/// One look at an awaited state, for <see cref="Poll"/>: ready (with a value), not yet (with why not),
/// or failed for good (stop polling, e.g. the process exited).
/// </summary>
internal readonly record struct Probe<T>(ProbeState State, T? Value, string Why)
{
    /// <summary>The awaited state holds.</summary>
    public static Probe<T> Ready(T value) => new(ProbeState.Ready, value, string.Empty);

    /// <summary>Not yet; <paramref name="why"/> is reported if the deadline passes.</summary>
    public static Probe<T> NotYet(string why) => new(ProbeState.NotYet, default, why);

    /// <summary>It will not become ready: stop polling now.</summary>
    public static Probe<T> Failed(string why) => new(ProbeState.Failed, default, why);
}

/// <summary>The state of one <see cref="Probe{T}"/>.</summary>
internal enum ProbeState
{
    /// <summary>The awaited state holds.</summary>
    Ready,

    /// <summary>Not yet: poll again until the deadline.</summary>
    NotYet,

    /// <summary>Will not become ready: stop polling.</summary>
    Failed,
}

/// <summary>
/// How a <see cref="Poll"/> waits between probes: <paramref name="First"/>, doubled after every probe up to
/// <paramref name="Max"/> (a fixed interval when both are equal).
/// </summary>
internal readonly record struct PollInterval(TimeSpan First, TimeSpan Max)
{
    /// <summary>Every 100 ms.</summary>
    public static PollInterval Default { get; } = Every(TimeSpan.FromMilliseconds(100));

    /// <summary>A fixed interval.</summary>
    public static PollInterval Every(TimeSpan interval) => new(interval, interval);

    /// <summary>The wait after <paramref name="current"/>: doubled, at most <see cref="Max"/>.</summary>
    public TimeSpan Next(TimeSpan current) => current * 2 < Max ? current * 2 : Max;
}

/// <summary>How a <see cref="Poll"/> ended.</summary>
internal readonly record struct PollResult<T>(bool IsReady, T? Value, string Failure);

/// <summary>
/// The drill's one poll-until-deadline loop (never a fixed sleep): probes, and between probes waits on the given
/// <see cref="TimeProvider"/> (so it is unit-tested with a fake clock). Always probes at least once, and once
/// more at the deadline.
/// </summary>
internal static class Poll
{
    /// <summary>
    /// Probes until the awaited state holds and returns its value; throws a <see cref="TopologyException"/>
    /// "gave up waiting for <paramref name="awaited"/> after N s (last: why)" at the deadline, or at once
    /// when a probe says it failed for good. <paramref name="details"/> (e.g. log tails) is appended to the message.
    /// </summary>
    public static async Task<T> UntilAsync<T>(string awaited, Func<CancellationToken, Task<Probe<T>>> probe,
        TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken,
        PollInterval? interval = null, Func<string>? details = null)
    {
        var result = await TryUntilAsync(awaited, probe, timeout, time, cancellationToken, interval).ConfigureAwait(false);
        if (result.IsReady)
        {
            return result.Value!;
        }

        var more = details?.Invoke();
        throw new TopologyException(string.IsNullOrEmpty(more) ? result.Failure : result.Failure + "\n" + more);
    }

    /// <summary>
    /// As <see cref="UntilAsync{T}"/> but returns the outcome instead of throwing: not ready, with the message
    /// <see cref="UntilAsync{T}"/> would throw.
    /// </summary>
    public static async Task<PollResult<T>> TryUntilAsync<T>(string awaited, Func<CancellationToken, Task<Probe<T>>> probe,
        TimeSpan timeout, TimeProvider time, CancellationToken cancellationToken, PollInterval? interval = null)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(time);
        var schedule = interval ?? PollInterval.Default;
        var wait = schedule.First;
        var started = time.GetTimestamp();
        while (true)
        {
            var look = await probe(cancellationToken).ConfigureAwait(false);
            switch (look.State)
            {
                case ProbeState.Ready:
                    return new PollResult<T>(true, look.Value, string.Empty);
                case ProbeState.Failed:
                    return new PollResult<T>(false, default, $"gave up waiting for {awaited}: {look.Why}");
            }

            var left = timeout - time.GetElapsedTime(started);
            if (left <= TimeSpan.Zero)
            {
                return new PollResult<T>(false, default,
                    $"gave up waiting for {awaited} after {timeout.TotalSeconds:0.#} s (last: {look.Why})");
            }

            await Task.Delay(wait < left ? wait : left, time, cancellationToken).ConfigureAwait(false);
            wait = schedule.Next(wait);
        }
    }
}
