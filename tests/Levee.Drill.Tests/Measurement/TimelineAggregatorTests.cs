using Levee.Drill.Catalog;
using Levee.Drill.Measurement;
using Levee.Drill.Reporting;
using Levee.Drill.Running;

namespace Levee.Drill.Tests.Measurement;

public sealed class TimelineAggregatorTests
{
    private static readonly PhasePlan Plan = new(2, 3, 1);

    [Fact]
    public void Recorder_BucketsByScheduledSecond_AndLeavesRefusedOutOfLatency()
    {
        var recorder = new RequestRecorder(Plan.TotalSeconds);
        recorder.Record(TimeSpan.FromSeconds(0.2), TimeSpan.FromMilliseconds(10), RequestOutcome.Ok);
        recorder.Record(TimeSpan.FromSeconds(0.9), TimeSpan.FromSeconds(30), RequestOutcome.Error, isWrite: true); // finished late: still second 0
        recorder.Record(TimeSpan.FromSeconds(0.95), TimeSpan.Zero, RequestOutcome.Refused);
        recorder.Record(TimeSpan.FromSeconds(99), TimeSpan.FromMilliseconds(1), RequestOutcome.Ok); // past the end: last second
        recorder.RecordStale(TimeSpan.FromSeconds(0.5), staleServed: true, staleAfterInvalidation: true);
        recorder.RecordStale(TimeSpan.FromSeconds(0.6), staleServed: true, staleAfterInvalidation: true, late: true);
        recorder.RecordStale(TimeSpan.FromSeconds(0.7), staleServed: true, staleAfterInvalidation: false, late: true); // late only counts stale-after-invalidation

        var s0 = recorder.Snapshot(0);
        Assert.Equal(3, s0.Requests);
        Assert.Equal(2, s0.Errors);
        Assert.Equal(1, s0.Refused);
        Assert.Equal(1, s0.Writes);
        Assert.Equal(2, s0.Latency.TotalCount);
        Assert.Equal(3, s0.StaleServed);
        Assert.Equal(2, s0.StaleAfterInvalidation);
        Assert.Equal(1, s0.StaleAfterInvalidationLate);
        Assert.Equal(1, recorder.Snapshot(Plan.TotalSeconds - 1).Requests);
    }

    [Fact]
    public void Timeline_TakesDbCountsFromSampleDifferences_AndPhasesFromThePlan()
    {
        var recorder = new RequestRecorder(Plan.TotalSeconds);
        var samples = new List<GaugeSample>();
        long server = 1000, client = 500;
        samples.Add(new GaugeSample(server, client, 0, 0, 0, 0, "up"));
        long[] perSecond = [10, 10, 100, 300, 200, 10];
        for (var s = 0; s < Plan.TotalSeconds; s++)
        {
            server += perSecond[s];
            client += perSecond[s];
            samples.Add(new GaugeSample(server, client, s, 0, s * 2, s >= 2 ? 8 : 0, s >= 2 ? "breaker-open" : "up"));
            for (var i = 0; i < 100; i++)
            {
                recorder.Record(TimeSpan.FromSeconds(s + (i / 100.0)), TimeSpan.FromMilliseconds(s >= 2 && s < 5 ? 1000 + i : 1 + (i / 10.0)), RequestOutcome.Ok);
            }
        }

        var timeline = TimelineAggregator.BuildTimeline(Plan, recorder, samples);
        Assert.Equal(perSecond, timeline.Select(p => p.DbQueries));
        Assert.Equal(["baseline", "baseline", "fault", "fault", "fault", "recovery"], timeline.Select(p => p.Phase));
        Assert.Equal(8, timeline[3].BreakerOpen);
        Assert.Equal("breaker-open", timeline[3].L2);

        var baseline = TimelineAggregator.Phase(recorder, timeline, 0, Plan.FaultStart, withPeak: false);
        var fault = TimelineAggregator.Phase(recorder, timeline, Plan.FaultStart, Plan.RecoveryStart, withPeak: true);
        Assert.Equal(200, baseline.Requests);
        Assert.Equal(10, baseline.DbQueriesPerSec);
        Assert.Null(baseline.PeakDbQueriesPerSec);
        Assert.InRange(baseline.P50Ms, 5, 6);
        Assert.InRange(fault.P95Ms, 1090, 1100);
        Assert.Equal(200, fault.DbQueriesPerSec);
        // peak is the highest 3-second centred average within the fault: (100+300+200)/3
        Assert.Equal(200, fault.PeakDbQueriesPerSec);
    }

    [Fact]
    public void FaultPeakDbRate_DoesNotReachIntoTheRecoveryPhase()
    {
        // fault seconds 2-4 at 5 queries/s, then a refill storm in the first recovery second: the fault's peak is 5, not
        // (5 + 5 + 300) / 3 (the 3-second window used to reach across the phase's end)
        long[] db = [5, 5, 5, 5, 5, 300, 0, 0];
        var timeline = db.Select((n, s) => new TimelinePoint(s, "x", 10, 0, 0, 1, 1, 1, n, n, 0, 0, 0, 0, "up", 0, 0)).ToList();
        Assert.Equal(5, TimelineAggregator.PeakDbRate(timeline, 2, 5));
        Assert.Equal(100, TimelineAggregator.PeakDbRate(timeline, 5, 8)); // (300 + 0) / 2 at the recovery's first second
    }

    [Fact]
    public void RecoverySeconds_IsTheStartOfThreeHealthySecondsAfterTheRepair()
    {
        TimelinePoint P(int s, long errors, double p95) => new(s, "x", 100, errors, 0, 1, p95, p95, 0, 0, 0, 0, 0, 0, "up", 0, 0);
        var timeline = new[] { P(0, 0, 5), P(1, 5, 5), P(2, 0, 5), P(3, 0, 500), P(4, 0, 8), P(5, 0, 9), P(6, 0, 7), P(7, 0, 5) };
        Assert.Equal(3, TimelineAggregator.RecoverySeconds(timeline, 1, baselineP95Ms: 5));
        Assert.Null(TimelineAggregator.RecoverySeconds(timeline[..4], 1, baselineP95Ms: 5));
    }

    [Fact]
    public async Task MonitorReadFailingOnce_SpreadsTheCountOverItsSeconds_NoFalsePeak()
    {
        // PostgreSQL's count read at the start of each second: 1000, 1010, 1020, (read fails), 1420, 1620, 1630. The
        // failed read used to be recorded as -1, so the next second's difference was the whole cumulative count
        // (1421) and became the fault's "peak" (540) and the DB amplification.
        var monitor = new ScriptedCountReader(1000, 1010, 1020, null, 1420, 1620, 1630);
        var samples = new List<GaugeSample>();
        for (var s = 0; s <= Plan.TotalSeconds; s++)
        {
            samples.Add(await ClientDrill.SampleAsync([], new DbCounters(), monitor, CancellationToken.None));
        }

        Assert.Null(samples[3].DbQueriesServer);
        var recorder = new RequestRecorder(Plan.TotalSeconds);
        var timeline = TimelineAggregator.BuildTimeline(Plan, recorder, samples);
        Assert.Equal([10, 10, 200, 200, 200, 10], timeline.Select(p => p.DbQueries));
        var fault = TimelineAggregator.Phase(recorder, timeline, Plan.FaultStart, Plan.RecoveryStart, withPeak: true);
        Assert.Equal(200, fault.PeakDbQueriesPerSec);
    }

    [Fact]
    public void PerSecond_SpreadsAGapEvenly_AndKeepsTheTotal()
    {
        Assert.Equal([3, 2, 2, 5], TimelineAggregator.PerSecond([0, null, null, 7, 12]));
        Assert.Equal([0, 0, 4], TimelineAggregator.PerSecond([null, null, 10, 14])); // nothing known before the first reading
        Assert.Equal([4, 0], TimelineAggregator.PerSecond([5, 9, null])); // nor after the last
    }

    [Fact]
    public void RefusedRequests_AreLeftOutOfTheLatency_ButCountAsNeverAnsweredInTheFailuresCountedPercentiles()
    {
        // a client that refuses 10 % at the door in no time and answers the rest in 10 ms: its p95 is 10 ms, but a
        // tenth of its users got nothing, so its p95 with failures counted is "no answer" (infinity)
        var recorder = new RequestRecorder(Plan.TotalSeconds);
        for (var i = 0; i < 100; i++)
        {
            var outcome = i % 10 == 0 ? RequestOutcome.Refused : RequestOutcome.Ok;
            recorder.Record(TimeSpan.FromSeconds(2.5), outcome == RequestOutcome.Refused ? TimeSpan.Zero : TimeSpan.FromMilliseconds(10), outcome);
            recorder.Record(TimeSpan.FromSeconds(0.5), TimeSpan.FromMilliseconds(10), i < 2 ? RequestOutcome.Error : RequestOutcome.Ok);
        }

        var timeline = TimelineAggregator.BuildTimeline(Plan, recorder, []);
        var fault = TimelineAggregator.Phase(recorder, timeline, Plan.FaultStart, Plan.RecoveryStart, withPeak: true);
        Assert.Equal(10, fault.P95Ms, 0);
        Assert.Equal(10, fault.P50MsFailuresCounted, 0);
        Assert.Equal(double.PositiveInfinity, fault.P95MsFailuresCounted);
        Assert.Equal(double.PositiveInfinity, fault.P99MsFailuresCounted);

        // 2 % failed: p95 is still an answer, p99 is not
        var baseline = TimelineAggregator.Phase(recorder, timeline, 0, Plan.FaultStart, withPeak: false);
        Assert.Equal(10, baseline.P95MsFailuresCounted, 0);
        Assert.Equal(double.PositiveInfinity, baseline.P99MsFailuresCounted);

        var json = new DrillReport("s", "d", 1, DateTimeOffset.UnixEpoch, new MachineInfo("h", 1, "o", "r"), new LoadSettings(1, 1, 1, 1, 1, 1, 1, 1, 0, 2, 3, 1), new TopologyInfo("sentinel", 1, 0, 0, 0, 0, "pg"), [], [
            new ClientRun("c", "d", "ran", null, 200, 12, 10, baseline, fault, baseline, null, null, 0, 0, null, [], timeline)]);
        Assert.Equal(double.PositiveInfinity, DrillReport.FromJson(json.ToJson()).Runs[0].Fault!.P95MsFailuresCounted);
        Assert.Contains("| failed |", SummaryWriter.Markdown(json), StringComparison.Ordinal);
    }

    [Fact]
    public void DbCounts_DisagreeingByMoreThanTenPercent_AreFlagged()
    {
        Assert.Null(TimelineAggregator.DbCountDisagreement(1000, 1000));
        Assert.Null(TimelineAggregator.DbCountDisagreement(1000, 950)); // PostgreSQL's last second can lag
        Assert.Null(TimelineAggregator.DbCountDisagreement(30, 0)); // a few queries are noise
        var warning = TimelineAggregator.DbCountDisagreement(1500, 1000);
        Assert.NotNull(warning);
        Assert.Contains("1500", warning, StringComparison.Ordinal);
        Assert.Contains("1000", warning, StringComparison.Ordinal);
        Assert.NotNull(TimelineAggregator.DbCountDisagreement(1000, 1500));

        // both counts and the warning reach the summary
        var run = new ClientRun("c", "d", "ran", null, 1, 0, 0, null, null, null, null, null, 0, 0, null, [], [])
        {
            DbQueriesServer = 1500,
            DbQueriesClient = 1000,
            DbCountWarning = warning,
        };
        var report = new DrillReport("s", "d", 1, DateTimeOffset.UnixEpoch, new MachineInfo("h", 1, "o", "r"), new LoadSettings(1, 1, 1, 1, 1, 1, 1, 1, 0, 2, 3, 1), new TopologyInfo("sentinel", 1, 0, 0, 0, 0, "pg"), [], [run]);
        Assert.Contains("DB count, c: PostgreSQL 1,500 transactions, the clients 1,000 queries. WARNING: DB counts disagree", SummaryWriter.Markdown(report), StringComparison.Ordinal);
        Assert.Equal(warning, DrillReport.FromJson(report.ToJson()).Runs[0].DbCountWarning);
    }

    private sealed class ScriptedCountReader(params long?[] readings) : IDbCountReader
    {
        private int next;

        public Task<long> ReadAsync(CancellationToken cancellationToken) =>
            readings[next++] is { } value ? Task.FromResult(value) : throw new Npgsql.NpgsqlException("monitor connection lost");
    }
}
