namespace Levee.Drill.Load;

/// <summary>
/// Open-loop arrivals: requests are dispatched at times drawn from a Poisson process of the given rate,
/// whatever the latency of earlier requests (no coordinated omission). The dispatch callback must not
/// block; it hands the request to the thread pool and returns. Each request carries its scheduled offset
/// so latency is measured from when it should have started, not from when it did.
/// </summary>
internal sealed class OpenLoopScheduler
{
    private static readonly TimeSpan MinimumWait = TimeSpan.FromMilliseconds(1);
    private readonly double _ratePerSecond;
    private readonly ulong _seed;
    private readonly TimeProvider _time;

    public OpenLoopScheduler(double ratePerSecond, ulong seed, TimeProvider time)
    {
        ArgumentOutOfRangeException.ThrowIfNegativeOrZero(ratePerSecond);
        ArgumentNullException.ThrowIfNull(time);
        _ratePerSecond = ratePerSecond;
        _seed = seed;
        _time = time;
    }

    /// <summary>The scheduled offsets of every arrival before <paramref name="duration"/>; depends only on rate and seed.</summary>
    public IEnumerable<TimeSpan> Arrivals(TimeSpan duration)
    {
        var offset = 0.0;
        for (ulong i = 0; ; i++)
        {
            offset += Gap(i);
            if (offset >= duration.TotalSeconds)
            {
                yield break;
            }

            yield return TimeSpan.FromSeconds(offset);
        }
    }

    /// <summary>
    /// Dispatches every arrival in [0, duration) measured from <paramref name="epochTimestamp"/>
    /// (a <see cref="TimeProvider.GetTimestamp"/> value). Returns the number of requests dispatched.
    /// </summary>
    public async Task<long> RunAsync(long epochTimestamp, TimeSpan duration, Action<long, TimeSpan> dispatch, CancellationToken cancellationToken)
    {
        ArgumentNullException.ThrowIfNull(dispatch);
        var end = duration.TotalSeconds;
        ulong index = 0;
        var next = Gap(0);
        while (next < end && !cancellationToken.IsCancellationRequested)
        {
            var elapsed = _time.GetElapsedTime(epochTimestamp).TotalSeconds;
            while (next <= elapsed && next < end)
            {
                dispatch((long)index, TimeSpan.FromSeconds(next));
                index++;
                next += Gap(index);
            }

            if (next >= end)
            {
                break;
            }

            var wait = TimeSpan.FromSeconds(next - elapsed);
            try
            {
                await Task.Delay(wait < MinimumWait ? MinimumWait : wait, _time, cancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        return (long)index;
    }

    private double Gap(ulong index)
    {
        // exponential inter-arrival time with mean 1/rate
        var u = DeterministicRandom.Uniform(_seed, 0xA771, index);
        return -Math.Log(1.0 - u) / _ratePerSecond;
    }
}
