using Levee.Drill.Clients;
using Levee.Drill.Reporting;
using Levee.Drill.Scenarios;
using Xunit.Abstractions;

namespace Levee.Drill.Tests.Scenarios;

/// <summary>
/// Each implemented scenario end to end against real redis-server / redis-sentinel / PostgreSQL processes,
/// with short phases and a low rate. Asserts the report's structure and the facts that must hold whatever
/// the machine's speed (failover or not, processes gone, the naive client's database amplification);
/// never timings.
/// </summary>
[Collection(DrillProcessesGroup.Name)]
public sealed partial class ScenarioEndToEndTests(ITestOutputHelper output) : IDisposable
{
    private readonly string outDir = Path.Combine(Path.GetTempPath(), "levee-drill-e2e-" + Guid.NewGuid().ToString("N")[..8]);

    [Fact]
    public async Task Incident_NaiveAndLevee_NoFailover_NaiveDatabaseAmplified_ProcessesGone()
    {
        var (result, report) = await RunAsync("incident", "naive", "levee");
        Assert.Equal(["naive", "levee"], report.Runs.Select(r => r.Client));
        Assert.Equal(3, report.Topology.Quorum);
        foreach (var run in report.Runs)
        {
            AssertStructure(report, run);
            Assert.False(run.Failover!.Happened, $"{run.Client}: quorum 3 with a Sentinel frozen must not fail over by itself");
            Assert.NotNull(run.Failover.ManualSwitchSeconds); // the repair promoted a replica by hand
        }

        var naive = report.Runs[0];
        Assert.Contains(naive.Events!, e => e.Action.Contains("rolling restart", StringComparison.Ordinal));
        Assert.True(naive.DbAmplification > 1, $"naive DB amplification {naive.DbAmplification} (baseline {naive.Baseline!.DbQueriesPerSec}/s, fault peak {naive.Fault!.PeakDbQueriesPerSec}/s)");
        Assert.True(naive.Fault!.Errors > 0 || naive.Fault.P95Ms > 1000, $"naive under the incident: {naive.Fault.Errors} errors, p95 {naive.Fault.P95Ms} ms");

        var levee = report.Runs[1];
        Assert.DoesNotContain(levee.Events!, e => e.Action.Contains("rolling restart", StringComparison.Ordinal)); // it follows Sentinel
        Assert.Contains(levee.Timeline!, p => p.L2 != "none"); // the library was given Redis and reports its L2 state

        // levee's PostgreSQL channel NOTIFYs in its own database: counted on their own, not as catalog queries (the run
        // database's count then matches what the clients counted; before, every removal added a transaction)
        // (the channel database's count has a few transactions of its own: the monitor's connection, statistics)
        Assert.True(naive.ChannelTransactions <= 10 && levee.ChannelTransactions > naive.ChannelTransactions + 20,
            $"channel transactions: levee {levee.ChannelTransactions}, naive (no channel) {naive.ChannelTransactions}");
        Assert.Null(levee.DbCountWarning);
        AssertProcessesGone(result);
    }

    [Fact]
    public async Task ClusterMasterCrash_Naive_ReplicaTakesOver_ProcessesGone()
    {
        var (result, report) = await RunAsync("cluster-master-crash", "naive");
        var run = Assert.Single(report.Runs);
        AssertStructure(report, run);
        Assert.Equal("cluster", report.Topology.Kind);
        Assert.True(run.Failover!.Happened, "the killed master's replica must take over");
        Assert.Contains(run.Events!, e => e.Action.Contains("promoted by the cluster", StringComparison.Ordinal));
        AssertProcessesGone(result);
    }

    [Fact]
    public async Task Chaos_SameSeed_SameFaultSequenceForEachClient_RepairsEverything_ProcessesGone()
    {
        // each client runs on its own fresh topology with the same seed: the faults (kinds, targets by role, times
        // within a tolerance) must be the same sequence, the one the seed's plan draws
        var (result, report) = await RunAsync("chaos", "naive", "postmortem");
        Assert.Equal(2, report.Runs.Count);
        var plan = ChaosScenario.Plan(report.Seed, TimeSpan.FromSeconds(report.Load.FaultSeconds));
        var sequences = new List<List<(double At, string Fault)>>();
        foreach (var run in report.Runs)
        {
            AssertStructure(report, run);
            var faults = run.Events!
                .Where(e => e.Action.StartsWith("chaos: ", StringComparison.Ordinal))
                .Select(e => (e.AtSecond, Fault: Endpoint().Replace(e.Action, "<node>")))
                .ToList();
            var breaks = faults.Where(f => !f.Fault.Contains("restarted", StringComparison.Ordinal) && !f.Fault.Contains("thawed", StringComparison.Ordinal)).ToList();
            Assert.Equal(plan.Select(s => s.Kind), breaks.Select(b => KindOf(b.Fault)));
            for (var i = 0; i < plan.Count; i++)
            {
                var planned = report.Load.BaselineSeconds + plan[i].At.TotalSeconds;
                Assert.InRange(breaks[i].AtSecond, planned - 0.1, planned + 4); // late only by the previous restart (a busy 2-core machine); the plan's faults are at least 4 s apart
            }

            sequences.Add(faults);
        }

        Assert.Equal(sequences[0].Select(f => f.Fault), sequences[1].Select(f => f.Fault));
        AssertProcessesGone(result);
    }

    private static string KindOf(string mark) => mark switch
    {
        _ when mark.StartsWith("chaos: master", StringComparison.Ordinal) && mark.EndsWith("killed", StringComparison.Ordinal) => "master-kill",
        _ when mark.StartsWith("chaos: master", StringComparison.Ordinal) && mark.EndsWith("frozen", StringComparison.Ordinal) => "master-freeze",
        _ when mark.StartsWith("chaos: replica", StringComparison.Ordinal) => "replica-kill",
        _ when mark.StartsWith("chaos: sentinel", StringComparison.Ordinal) => "sentinel-freeze",
        _ when mark.StartsWith("chaos: every Redis data node killed", StringComparison.Ordinal) => "all-down",
        _ => mark,
    };

    [System.Text.RegularExpressions.GeneratedRegex(@"127\.0\.0\.1:\d+")]
    private static partial System.Text.RegularExpressions.Regex Endpoint();

    [Fact]
    public async Task SlowRedis_Naive_NoFailover_MasterStalled_ProcessesGone()
    {
        var (result, report) = await RunAsync("slow-redis", "naive");
        var run = Assert.Single(report.Runs);
        AssertStructure(report, run);
        Assert.False(run.Failover!.Happened, "a slow master is not a dead one: Sentinel must not fail over");
        Assert.Contains(run.Events!, e => e.Action.Contains("stalled", StringComparison.Ordinal));
        Assert.True(run.Fault!.P95Ms > run.Baseline!.P95Ms, $"p95 baseline {run.Baseline.P95Ms} ms, fault {run.Fault.P95Ms} ms: naive waits for every stalled GET");
        AssertProcessesGone(result);
    }

    [Fact]
    public async Task MasterCrash_Postmortem_SentinelFailsOver_ProcessesGone()
    {
        var (result, report) = await RunAsync("master-crash", "postmortem");
        var run = Assert.Single(report.Runs);
        AssertStructure(report, run);
        Assert.True(run.Failover!.Happened, "quorum 2 of 3 must fail over after the master is killed");
        Assert.True(run.Failover.Seconds > 0);
        Assert.Null(run.Failover.ManualSwitchSeconds);
        Assert.Contains(run.Events!, e => e.Action.StartsWith("sentinel +switch-master", StringComparison.Ordinal));
        AssertProcessesGone(result);
    }

    [Fact]
    public async Task MasterHang_Naive_SentinelFailsOver_FixedEndpointClientIsRestarted()
    {
        var (result, report) = await RunAsync("master-hang", "naive");
        var run = Assert.Single(report.Runs);
        AssertStructure(report, run);
        Assert.True(run.Failover!.Happened, "quorum 2 of 3 must fail over after the master freezes");
        Assert.Contains(run.Events!, e => e.Action.Contains("rolling restart", StringComparison.Ordinal));
        AssertProcessesGone(result);
    }

    [Fact]
    public async Task RedisOutage_Postmortem_NoFailover_NodesComeBack()
    {
        var (result, report) = await RunAsync("redis-outage", "postmortem");
        var run = Assert.Single(report.Runs);
        AssertStructure(report, run);
        Assert.False(run.Failover!.Happened, "with every data node down there is nothing to fail over to");
        Assert.Contains(run.Events!, e => e.Action.Contains("restarted, empty", StringComparison.Ordinal));
        Assert.True(run.Fault!.DbQueriesPerSecClient > run.Baseline!.DbQueriesPerSecClient, "with Redis gone every read goes to the database");
        AssertProcessesGone(result);
    }

    [Fact]
    public async Task Tls_EveryBuiltInClient_GetsItsAnswersFromRedisOverTls()
    {
        // every Redis and Sentinel process listens on TLS only (port 0, client certificates required): a client that
        // did not connect with TLS and the run's client certificate would see no Redis at all (errors or every read
        // from the database), and the drill's own commands (readiness, faults, the Sentinels' events) would fail
        var options = Options("master-crash", [.. ClientKinds.BuiltIn]);
        options.Tls = true;
        var result = await DrillRunner.RunAsync(options);
        output.WriteLine(result.SummaryMarkdown);
        var report = DrillReport.FromJson(result.Json);
        Assert.True(report.Tls);
        Assert.Contains("--tls", result.SummaryMarkdown, StringComparison.Ordinal);
        Assert.Equal(ClientKinds.BuiltIn.Count, report.Runs.Count);
        foreach (var run in report.Runs)
        {
            AssertStructure(report, run);
            Assert.Equal(0, run.Baseline!.Errors);
            // the baseline's last sample is taken as the master is killed: the seconds before it
            Assert.All(run.Timeline!.Where(p => p.Second < report.Load.BaselineSeconds - 1), p => Assert.True(p.L2 == "up", $"{run.Client} at {p.Second} s: L2 {p.L2}"));

            // cache hits in the baseline: the warm cache (in Redis) answers most reads; the database sees the writes
            // (5 %) and the few misses, far fewer queries than requests
            var baselineDbQueries = run.Timeline!.Where(p => p.Phase == "baseline").Sum(p => p.DbQueriesClient);
            Assert.True(baselineDbQueries * 2 < run.Baseline.Requests, $"{run.Client}: {baselineDbQueries} database queries for {run.Baseline.Requests} baseline requests");
            Assert.True(run.Failover!.Happened, $"{run.Client}: the Sentinels (over TLS) must fail over after the master is killed");
        }

        AssertProcessesGone(result);
    }

    public void Dispose()
    {
        if (Directory.Exists(outDir))
        {
            Directory.Delete(outDir, recursive: true);
        }
    }

    [Fact]
    public async Task InterruptedInTheRecoveryPhase_TheRunThrows_InsteadOfReportingACutShortRunAsRan()
    {
        using var interrupt = new CancellationTokenSource();
        var options = Options("master-crash", "naive");
        options.RecoverySeconds = 8;
        var progress = new CancelAt("recovery", options.BaselineSeconds!.Value + options.FaultSeconds!.Value + 5, interrupt); // the repair is done by then

        // the scheduler stops quietly when cancelled; a cancel after the repair used to end in a report whose run said
        // "ran", its last seconds empty
        await Assert.ThrowsAnyAsync<OperationCanceledException>(() => DrillRunner.RunAsync(options, progress, interrupt.Token));
        Assert.True(progress.Cancelled, "the run never reached its recovery phase");
    }

    private sealed class CancelAt(string phase, int second, CancellationTokenSource cts) : IProgress<DrillProgress>
    {
        public bool Cancelled { get; private set; }

        public void Report(DrillProgress value)
        {
            if (value.Phase == phase && value.Second >= second && !Cancelled)
            {
                Cancelled = true;
                cts.Cancel();
            }
        }
    }

    private static void AssertStructure(DrillReport report, ClientRun run)
    {
        Assert.Equal("ran", run.Status);
        Assert.Null(run.Note);
        var seconds = report.Load.BaselineSeconds + report.Load.FaultSeconds + report.Load.RecoverySeconds;
        Assert.Equal(seconds, run.Timeline!.Count);
        Assert.Equal(Enumerable.Range(0, seconds), run.Timeline.Select(p => p.Second));
        Assert.Equal(run.Requests, run.Timeline.Sum(p => p.Requests));
        Assert.Equal(run.Requests, run.Baseline!.Requests + run.Fault!.Requests + run.Recovery!.Requests);
        Assert.True(run.Requests > 0);
        Assert.True(run.Baseline.P95Ms > 0);
        Assert.NotNull(run.Fault.PeakDbQueriesPerSec);
        Assert.True(run.Baseline.DbQueriesPerSecClient > 0, "writes alone reach the database in the baseline");
        Assert.Contains(run.Events!, e => e.Action == "repair starts");
    }

    private static void AssertProcessesGone(DrillResult result)
    {
        Assert.NotEmpty(result.StartedProcessIds);
        var alive = result.StartedProcessIds.Where(IsAlive).ToList();
        Assert.True(alive.Count == 0, $"processes still running after the drill: {string.Join(", ", alive)}");
    }

    private static bool IsAlive(int pid)
    {
        var status = $"/proc/{pid}/status";
        try
        {
            var state = File.ReadLines(status).FirstOrDefault(l => l.StartsWith("State:", StringComparison.Ordinal)) ?? string.Empty;
            return !state.Contains('Z', StringComparison.Ordinal) && !state.Contains('X', StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            return false;
        }
    }

    private DrillOptions Options(string scenario, params string[] clients)
    {
        var options = new DrillOptions
        {
            Scenario = scenario,
            Instances = 2,
            Rate = 60,
            BaselineSeconds = 3,
            FaultSeconds = 8,
            RecoverySeconds = 3,
            WriteRatio = 0.05,
            Products = 2000,
            Users = 500,
            Categories = 20,
            OutputDirectory = Path.Combine(outDir, scenario),
        };
        options.Clients.Clear();
        foreach (var client in clients)
        {
            options.Clients.Add(client);
        }

        return options;
    }

    private async Task<(DrillResult Result, DrillReport Report)> RunAsync(string scenario, params string[] clients)
    {
        var result = await DrillRunner.RunAsync(Options(scenario, clients));
        output.WriteLine(result.SummaryMarkdown);
        var report = DrillReport.FromJson(result.Json);
        foreach (var e in report.Runs.SelectMany(r => r.Events ?? []))
        {
            output.WriteLine($"t={e.AtSecond} s {e.Action}");
        }

        Assert.Equal(scenario, report.Scenario);
        foreach (var file in result.Files)
        {
            Assert.True(File.Exists(Path.Combine(result.OutputDirectory, file)), $"{file} missing in {result.OutputDirectory}");
        }

        return (result, report);
    }
}

[CollectionDefinition(Name)]
public sealed class DrillProcessesGroup
{
    public const string Name = "drill end to end (one at a time: each starts Redis and PostgreSQL)";
}
