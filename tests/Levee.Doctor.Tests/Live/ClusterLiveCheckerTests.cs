using Levee.Drill.Topology;

namespace Levee.Doctor.Tests.Live;

public sealed class ClusterLiveCheckerTests
{
    [Fact]
    public async Task HealthyCluster_Passes_ThenKilledMaster_IsReported()
    {
        await using var c = await ClusterTopology.StartAsync();
        var seed = c.Replicas[0].Endpoint;

        // Every node runs on 127.0.0.1, so master and replicas share a host: K007 warnings are expected and correct,
        // and the test rig's cluster-node-timeout of 2000 ms gives K014. Gossip needs a moment after creation
        // before every node knows every replica: poll until only those remain.
        static bool OnlyExpected(DoctorReport r) => r.Findings.All(f => f.RuleId is "K007" or "K014");
        var healthy = await LivePolling.UntilAsync(() => ClusterLiveChecker.CheckAsync(seed, LivePolling.Options), OnlyExpected, TimeSpan.FromSeconds(30));
        Assert.True(OnlyExpected(healthy), LivePolling.Describe(healthy, c.Nodes));
        Assert.Equal(0, healthy.ExitCode(strict: false));

        var victim = c.Masters[0];
        victim.Kill();
        var report = await LivePolling.UntilAsync(
            () => ClusterLiveChecker.CheckAsync(seed, LivePolling.Options),
            r => r.Findings.Any(f => f.RuleId == "K008" && f.File == victim.Endpoint),
            TimeSpan.FromSeconds(30));

        Assert.Contains(report.Findings, f => f.RuleId == "K008" && f.File == victim.Endpoint && f.Severity == Severity.Error);
        Assert.Equal(1, report.ExitCode(strict: false));
    }

    [Fact]
    public async Task UnreachableSeed_IsUnusableInput()
    {
        var report = await ClusterLiveChecker.CheckAsync("127.0.0.1:1", LivePolling.Options);
        Assert.True(report.UnusableInput);
        Assert.Equal("L000", Assert.Single(report.Findings).RuleId);
        Assert.Equal(2, report.ExitCode(strict: false));
    }
}
