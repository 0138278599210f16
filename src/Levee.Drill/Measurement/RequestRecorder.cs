using HdrHistogram;

namespace Levee.Drill.Measurement;

/// <summary>How a request ended.</summary>
internal enum RequestOutcome
{
    Ok,
    Error,
    Refused,
}

/// <summary>
/// Records every request into the one-second bucket of its SCHEDULED start: latency (from the scheduled
/// start, HdrHistogram in microseconds), outcome and staleness. Thread-safe; one lock per second.
/// Two latency histograms: <see cref="SecondStats.Latency"/> (answered requests, failed ones at the time they
/// failed; refused ones left out) and <see cref="SecondStats.LatencyFailuresCounted"/> (every request; an error or a
/// refusal counts as never answered, at <see cref="NeverAnsweredMicros"/>), so a client that refuses fast can't look fast.
/// </summary>
internal sealed class RequestRecorder
{
    /// <summary>Highest latency tracked: 10 minutes, in microseconds.</summary>
    internal const long HighestTrackableMicros = 600L * 1000 * 1000;

    /// <summary>Where <see cref="SecondStats.LatencyFailuresCounted"/> puts a request that got no answer (an error or a refusal).</summary>
    internal const long NeverAnsweredMicros = HighestTrackableMicros;

    private readonly SecondBucket[] _buckets;
    private readonly ErrorCauses _causes = new();

    public RequestRecorder(int seconds)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(seconds, 1);
        _buckets = new SecondBucket[seconds];
        for (var i = 0; i < seconds; i++)
        {
            _buckets[i] = new SecondBucket();
        }
    }

    public int Seconds => _buckets.Length;

    /// <summary>The stale-after-invalidation reads one by one (the drill adds them; <see cref="RecordStale"/> counts them).</summary>
    public StaleReadLog StaleReads { get; } = new();

    /// <summary>The failed requests so far by cause (<see cref="Record"/>'s <c>cause</c>).</summary>
    public IReadOnlyList<Reporting.ErrorCause> ErrorsByCause() => _causes.Snapshot();

    /// <summary>
    /// Records one request. <paramref name="cause"/> says why an <see cref="RequestOutcome.Error"/> failed
    /// (<see cref="ErrorCauses.Describe"/>); a refusal's is <see cref="ErrorCauses.RefusedCause"/>; ignored for a success.
    /// </summary>
    public void Record(TimeSpan scheduled, TimeSpan latency, RequestOutcome outcome, bool isWrite = false, string? cause = null)
    {
        var bucket = BucketOf(scheduled);
        if (outcome != RequestOutcome.Ok)
        {
            _causes.Add(outcome == RequestOutcome.Refused ? ErrorCauses.RefusedCause : cause ?? "unknown", Math.Clamp((int)Math.Floor(scheduled.TotalSeconds), 0, _buckets.Length - 1));
        }

        lock (bucket.Gate)
        {
            bucket.Requests++;
            if (isWrite)
            {
                bucket.Writes++;
            }

            switch (outcome)
            {
                case RequestOutcome.Error:
                    bucket.Errors++;
                    break;
                case RequestOutcome.Refused:
                    bucket.Errors++;
                    bucket.Refused++;
                    bucket.LatencyFailuresCounted.RecordValue(NeverAnsweredMicros);
                    return; // refused at the door: no latency to speak of
            }

            var micros = Math.Clamp((long)latency.TotalMicroseconds, 1, HighestTrackableMicros);
            bucket.Latency.RecordValue(micros);
            bucket.LatencyFailuresCounted.RecordValue(outcome == RequestOutcome.Ok ? micros : NeverAnsweredMicros);
        }
    }

    public void RecordStale(TimeSpan scheduled, bool staleServed, bool staleAfterInvalidation, bool late = false)
    {
        if (!staleServed && !staleAfterInvalidation)
        {
            return;
        }

        var bucket = BucketOf(scheduled);
        lock (bucket.Gate)
        {
            if (staleServed)
            {
                bucket.StaleServed++;
            }

            if (staleAfterInvalidation)
            {
                bucket.StaleAfterInvalidation++;
            }

            if (staleAfterInvalidation && late)
            {
                bucket.StaleAfterInvalidationLate++;
            }
        }
    }

    /// <summary>A copy of one second's counts and latency histogram.</summary>
    public SecondStats Snapshot(int second)
    {
        var bucket = _buckets[second];
        lock (bucket.Gate)
        {
            return new SecondStats(
                bucket.Requests,
                bucket.Errors,
                bucket.Refused,
                bucket.Writes,
                bucket.StaleServed,
                bucket.StaleAfterInvalidation,
                bucket.Latency.Copy(),
                bucket.StaleAfterInvalidationLate)
            {
                LatencyFailuresCounted = bucket.LatencyFailuresCounted.Copy(),
            };
        }
    }

    private SecondBucket BucketOf(TimeSpan scheduled)
    {
        var index = Math.Clamp((int)Math.Floor(scheduled.TotalSeconds), 0, _buckets.Length - 1);
        return _buckets[index];
    }

    internal static LongHistogram NewHistogram() => new(HighestTrackableMicros, 2);

    private sealed class SecondBucket
    {
        public readonly Lock Gate = new();
        public readonly LongHistogram Latency = NewHistogram();
        public readonly LongHistogram LatencyFailuresCounted = NewHistogram();
        public long Requests;
        public long Errors;
        public long Refused;
        public long Writes;
        public long StaleServed;
        public long StaleAfterInvalidation;
        public long StaleAfterInvalidationLate;
    }
}

/// <summary>One second of requests (by scheduled start).</summary>
internal sealed record SecondStats(
    long Requests,
    long Errors,
    long Refused,
    long Writes,
    long StaleServed,
    long StaleAfterInvalidation,
    HistogramBase Latency,
    long StaleAfterInvalidationLate = 0)
{
    /// <summary>Every request of the second; errors and refusals at <see cref="RequestRecorder.NeverAnsweredMicros"/>.</summary>
    public HistogramBase LatencyFailuresCounted { get; init; } = RequestRecorder.NewHistogram();
}
