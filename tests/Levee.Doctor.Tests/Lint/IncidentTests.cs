namespace Levee.Doctor.Tests.Lint;

public class IncidentTests
{
    [Fact]
    public void IncidentConfig_IsAnError_WithZeroToleratedSentinelFailures()
    {
        var report = DoctorLinter.Lint([Repo.Path("tests", "Levee.Doctor.Tests", "Fixtures", "incident")]);

        var master = Assert.Single(report.Masters);
        Assert.Equal(("mymaster", 3, 3, 2, 0), (master.Name, master.Sentinels, master.Quorum, master.Majority, master.ToleratedSentinelFailures));
        Assert.Equal(1, report.ExitCode(strict: false));
        var t002 = report.Findings.Where(f => f.RuleId == "T002").ToList();
        Assert.Single(t002);
        Assert.Equal(2, t002[0].Line);
        Assert.EndsWith("sentinel-1.conf", t002[0].File, StringComparison.Ordinal);
    }

    [Fact]
    public void PostmortemsCorrectedConfig_ToleratesOneSentinelFailure()
    {
        // "Corrected configuration" from the postmortem, on 3 Sentinels (with resolve-hostnames, which a hostname needs).
        const string corrected = """
            sentinel resolve-hostnames yes
            sentinel monitor mymaster redis-master 6379 2
            sentinel down-after-milliseconds mymaster 5000
            sentinel parallel-syncs mymaster 1
            sentinel failover-timeout mymaster 10000
            """;
        var report = DoctorLinter.LintTexts(Enumerable.Range(1, 3).Select(i => ($"sentinel-{i}.conf", corrected)));
        Assert.Equal(1, report.Masters.Single().ToleratedSentinelFailures);
        Assert.Equal(0, report.ExitCode(strict: true));
    }

    [Fact]
    public void ShippedExampleDeployment_LintsClean()
    {
        var report = DoctorLinter.Lint([Repo.Path("deploy", "sentinel")]);
        Assert.True(report.Findings.Count == 0, RuleTests.Describe(report));
        var master = Assert.Single(report.Masters);
        Assert.Equal((3, 2, 2, 1), (master.Sentinels, master.Quorum, master.Majority, master.ToleratedSentinelFailures));
        Assert.Equal(0, report.ExitCode(strict: true));
    }
}
