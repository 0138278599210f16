using HdrHistogram;
using Levee.Drill.Reporting;
using Levee.Drill.Catalog;

namespace Levee.Drill.Measurement;

/// <summary>
/// What the per-second sampler saw at the end of a second (counters are cumulative). <see cref="DbQueriesServer"/> is
/// null when PostgreSQL's count could not be read that second.
/// </summary>
internal sealed record GaugeSample(long? DbQueriesServer, long DbQueriesClient, int DbPoolInUse, int DbPoolWaiting, int InFlight, int BreakerOpen, string L2, QueryKindCounts? DbByKind = null);

/// <summary>The run's phases in whole seconds: baseline [0, B), fault [B, B+F), recovery [B+F, B+F+R).</summary>
internal sealed record PhasePlan(int BaselineSeconds, int FaultSeconds, int RecoverySeconds)
{
    public int TotalSeconds => BaselineSeconds + FaultSeconds + RecoverySeconds;

    public int FaultStart => BaselineSeconds;

    public int RecoveryStart => BaselineSeconds + FaultSeconds;

    public string PhaseOf(int second) =>
        second < BaselineSeconds ? "baseline" : second < RecoveryStart ? "fault" : "recovery";
}

/// <summary>
/// Turns the recorder's per-second buckets and the sampler's gauges into the report's timeline and
/// phase blocks. Pure: no clock, no I/O.
/// </summary>
internal static class TimelineAggregator
{
    /// <summary>One point per second; samples[0] is taken at second 0 (the start), samples[s] at the end of second s-1.</summary>
    public static IReadOnlyList<TimelinePoint> BuildTimeline(PhasePlan plan, RequestRecorder recorder, IReadOnlyList<GaugeSample> samples)
    {
        var points = new List<TimelinePoint>(plan.TotalSeconds);
        var serverPerSecond = PerSecond(samples.Select(x => x.DbQueriesServer).ToList());
        for (var s = 0; s < plan.TotalSeconds && s < recorder.Seconds; s++)
        {
            var stats = recorder.Snapshot(s);
            var before = s < samples.Count ? samples[s] : null;
            var after = s + 1 < samples.Count ? samples[s + 1] : null;
            var gauge = after ?? before;
            points.Add(new TimelinePoint(
                s,
                plan.PhaseOf(s),
                stats.Requests,
                stats.Errors,
                stats.Refused,
                Millis(stats.Latency, 50),
                Millis(stats.Latency, 95),
                Millis(stats.Latency, 99),
                s < serverPerSecond.Count ? serverPerSecond[s] : 0,
                before is not null && after is not null ? Math.Max(0, after.DbQueriesClient - before.DbQueriesClient) : 0,
                gauge?.DbPoolInUse ?? 0,
                gauge?.DbPoolWaiting ?? 0,
                gauge?.InFlight ?? 0,
                gauge?.BreakerOpen ?? 0,
                gauge?.L2 ?? "unknown",
                stats.StaleServed,
                stats.StaleAfterInvalidation,
                stats.StaleAfterInvalidationLate,
                before?.DbByKind is { } kindBefore && after?.DbByKind is { } kindAfter ? kindAfter - kindBefore : null));
        }

        return points;
    }

    /// <summary>
    /// Per-second differences of a cumulative count read once a second (<paramref name="cumulative"/>[s] at the start of
    /// second s). A read that failed (null) has no value of its own: the difference between the readings either side of
    /// it is spread evenly over the seconds in between, so one failed read neither loses the queries nor piles the
    /// whole cumulative count into one second. Seconds with no reading before or after them count 0.
    /// </summary>
    public static IReadOnlyList<long> PerSecond(IReadOnlyList<long?> cumulative)
    {
        var result = new long[Math.Max(0, cumulative.Count - 1)];
        var from = -1;
        for (var i = 0; i < cumulative.Count; i++)
        {
            if (cumulative[i] is not { } value)
            {
                continue;
            }

            if (from >= 0)
            {
                var span = i - from;
                var total = Math.Max(0, value - cumulative[from]!.Value);
                for (var s = from; s < i; s++)
                {
                    // an even share each; the remainder goes to the first seconds, so the seconds add up to the total
                    result[s] = (total / span) + (s - from < total % span ? 1 : 0);
                }
            }

            from = i;
        }

        return result;
    }

    /// <summary>The figures of seconds [from, to). <paramref name="withPeak"/> adds the peak DB rate (3-second moving average of PostgreSQL's count).</summary>
    public static PhaseBlock Phase(RequestRecorder recorder, IReadOnlyList<TimelinePoint> timeline, int from, int to, bool withPeak)
    {
        to = Math.Min(to, timeline.Count);
        var seconds = Math.Max(0, to - from);
        var merged = RequestRecorder.NewHistogram();
        var mergedAll = RequestRecorder.NewHistogram();
        long requests = 0, errors = 0, dbServer = 0, dbClient = 0, stale = 0, late = 0;
        var peakPool = 0;
        QueryKindCounts? byKind = null;
        for (var s = from; s < to; s++)
        {
            var stats = recorder.Snapshot(s);
            merged.Add(stats.Latency);
            mergedAll.Add(stats.LatencyFailuresCounted);
            requests += stats.Requests;
            errors += stats.Errors;
            stale += stats.StaleAfterInvalidation;
            late += stats.StaleAfterInvalidationLate;
            dbServer += timeline[s].DbQueries;
            dbClient += timeline[s].DbQueriesClient;
            peakPool = Math.Max(peakPool, timeline[s].DbPoolInUse);
            if (timeline[s].DbByKind is { } kinds)
            {
                byKind = (byKind ?? QueryKindCounts.Zero) + kinds;
            }
        }

        double? peak = withPeak ? PeakDbRate(timeline, from, to) : null;
        return new PhaseBlock(
            seconds,
            requests,
            errors,
            requests == 0 ? 0 : Math.Round((double)errors / requests, 4),
            Millis(merged, 50),
            Millis(merged, 95),
            Millis(merged, 99),
            merged.TotalCount == 0 ? 0 : Math.Round(merged.GetMaxValue() / 1000.0, 1),
            seconds == 0 ? 0 : Math.Round((double)dbServer / seconds, 1),
            seconds == 0 ? 0 : Math.Round((double)dbClient / seconds, 1),
            peak,
            peakPool,
            stale,
            late)
        {
            DbQueriesByKind = byKind,
            P50MsFailuresCounted = MillisOrNever(mergedAll, 50),
            P95MsFailuresCounted = MillisOrNever(mergedAll, 95),
            P99MsFailuresCounted = MillisOrNever(mergedAll, 99),
        };
    }

    /// <summary>
    /// A percentile of a histogram where failed requests stand at <see cref="RequestRecorder.NeverAnsweredMicros"/>:
    /// positive infinity when the percentile falls among them (that share of users got no answer at all).
    /// </summary>
    public static double MillisOrNever(HistogramBase histogram, double percentile)
    {
        if (histogram.TotalCount == 0)
        {
            return 0;
        }

        var value = histogram.GetValueAtPercentile(percentile);
        return histogram.LowestEquivalentValue(value) >= histogram.LowestEquivalentValue(RequestRecorder.NeverAnsweredMicros)
            ? double.PositiveInfinity
            : Math.Round(value / 1000.0, 1);
    }

    /// <summary>PostgreSQL's mean per-second count over the last <paramref name="seconds"/> seconds before <paramref name="to"/>
    /// (no earlier than <paramref name="from"/>): the fault's last minute, where a long fault's cost shows.</summary>
    public static double MeanDbRateOfLast(IReadOnlyList<TimelinePoint> timeline, int from, int to, int seconds)
    {
        to = Math.Min(to, timeline.Count);
        var start = Math.Max(from, to - seconds);
        return to <= start ? 0 : Math.Round(Enumerable.Range(start, to - start).Average(s => (double)timeline[s].DbQueries), 1);
    }

    /// <summary>
    /// Highest 3-second centred moving average of PostgreSQL's per-second count within [from, to): only windows that lie
    /// wholly inside the phase (the first recovery second, a refill storm after the repair, is not the fault's peak); a
    /// phase shorter than 3 seconds has one window, itself.
    /// </summary>
    public static double PeakDbRate(IReadOnlyList<TimelinePoint> timeline, int from, int to)
    {
        var last = Math.Min(timeline.Count, to) - 1;
        if (last < from)
        {
            return 0;
        }

        if (last - from < 2)
        {
            return Math.Round(Enumerable.Range(from, last - from + 1).Average(s => (double)timeline[s].DbQueries), 1);
        }

        var peak = 0.0;
        for (var s = from + 1; s <= last - 1; s++)
        {
            peak = Math.Max(peak, (timeline[s - 1].DbQueries + timeline[s].DbQueries + timeline[s + 1].DbQueries) / 3.0);
        }

        return Math.Round(peak, 1);
    }

    /// <summary>Differences up to this share of the larger count (or <see cref="DbCountSlack"/> queries) are agreement.</summary>
    internal const double DbCountTolerance = 0.10;

    /// <summary>PostgreSQL publishes its counters up to about a second late: a few queries of difference are noise.</summary>
    internal const long DbCountSlack = 50;

    /// <summary>
    /// Compares PostgreSQL's count (transactions of the run database, writes included) with the clients' own count of
    /// their queries over the same run: null when they agree, otherwise a sentence for the report. A large difference
    /// means the DB figures of the report should not be trusted (the monitor missed reads, something else used the
    /// database, or the clients miscounted).
    /// </summary>
    public static string? DbCountDisagreement(long server, long client)
    {
        var difference = Math.Abs(server - client);
        if (difference <= DbCountSlack || difference <= DbCountTolerance * Math.Max(server, client))
        {
            return null;
        }

        return string.Create(
            System.Globalization.CultureInfo.InvariantCulture,
            $"DB counts disagree: PostgreSQL counted {server} transactions, the clients {client} queries ({(double)difference / Math.Max(1, Math.Max(server, client)):0%} apart); the DB figures are PostgreSQL's");
    }

    /// <summary>
    /// Seconds from <paramref name="repairSecond"/> to the first of 3 consecutive seconds with no errors and
    /// p95 within twice the baseline p95 (at least baseline + 20 ms); null when that never happens.
    /// </summary>
    public static double? RecoverySeconds(IReadOnlyList<TimelinePoint> timeline, int repairSecond, double baselineP95Ms)
    {
        var limit = Math.Max(2 * baselineP95Ms, baselineP95Ms + 20);
        var run = 0;
        for (var s = repairSecond; s < timeline.Count; s++)
        {
            var p = timeline[s];
            run = p.Errors == 0 && p.Requests > 0 && p.P95Ms <= limit ? run + 1 : 0;
            if (run == 3)
            {
                return s - 2 - repairSecond;
            }
        }

        return null;
    }

    public static double Millis(HistogramBase histogram, double percentile) =>
        histogram.TotalCount == 0 ? 0 : Math.Round(histogram.GetValueAtPercentile(percentile) / 1000.0, 1);
}
