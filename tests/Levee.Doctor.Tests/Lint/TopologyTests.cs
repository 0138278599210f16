namespace Levee.Doctor.Tests.Lint;

public class TopologyTests
{
    // The table of redis-ha.md §1.3: N, Q → majority, tolerated failures.
    [Theory]
    [InlineData(1, 1, 1, 0)]
    [InlineData(2, 1, 2, 0)]
    [InlineData(2, 2, 2, 0)]
    [InlineData(3, 1, 2, 1)]
    [InlineData(3, 2, 2, 1)]
    [InlineData(3, 3, 2, 0)]
    [InlineData(4, 2, 3, 1)]
    [InlineData(4, 3, 3, 1)]
    [InlineData(5, 2, 3, 2)]
    [InlineData(5, 3, 3, 2)]
    [InlineData(5, 5, 3, 0)]
    [InlineData(3, 4, 2, 0)]
    public void Compute_MatchesSentinelGetLeaderArithmetic(int n, int q, int majority, int tolerated)
    {
        var t = MasterTopology.Compute("m", n, n, q);
        Assert.Equal(majority, t.Majority);
        Assert.Equal(tolerated, t.ToleratedSentinelFailures);
        Assert.Equal(q > n, t.FailoverImpossible);
    }

    [Fact]
    public void Compute_PhantomVotersRaiseTheMajority()
    {
        // 3 real Sentinels that believe there are 5 (the GitLab incident): majority 3, nothing can be lost.
        var t = MasterTopology.Compute("m", 3, 5, 2);
        Assert.Equal((3, 0), (t.Majority, t.ToleratedSentinelFailures));
    }

    [Fact]
    public void OneSharedSentinelConf_CountUnknown_IsNoError_AndSaysWhatItAssumes()
    {
        // the stock sentinel.conf: every Sentinel runs the same file, so its count cannot be seen (was T001 + T006 errors)
        var report = DoctorLinter.LintTexts([("sentinel.conf", "port 26379\nsentinel monitor mymaster 127.0.0.1 6379 2\n")]);
        Assert.Equal(0, report.ExitCode(strict: true));
        var assumed = Assert.Single(report.Findings);
        Assert.Equal(("P007", Severity.Info, 2), (assumed.RuleId, assumed.Severity, assumed.Line));
        Assert.Contains("assuming 3", assumed.Message, StringComparison.Ordinal);
        Assert.True(report.Masters.Single().SentinelsAssumed);

        // told there is one Sentinel: T001, and its fix does not ask for the quorum it already has
        var one = DoctorLinter.LintTexts([("sentinel.conf", "port 26379\nsentinel monitor mymaster 127.0.0.1 6379 2\n")], new LintOptions { Sentinels = 1 });
        var t001 = Assert.Single(one.Findings, f => f.RuleId == "T001");
        Assert.DoesNotContain("quorum to 2", t001.Fix, StringComparison.Ordinal);
        Assert.Contains("at least 3 Sentinels", t001.Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void SentinelCount_ComesFromFiles_KnownSentinels_OrOption()
    {
        var three = Deployment.Clean.Lint().Masters.Single();
        Assert.Equal(3, three.Sentinels);

        var one = Deployment.Clean with { Sentinels = 1 };
        Assert.True(one.Lint().Masters.Single().SentinelsAssumed); // one shared file: quorum 2 taken as the majority of 3
        Assert.Equal(3, one.Lint().Masters.Single().Sentinels);
        Assert.Equal(5, one.Lint(new LintOptions { Sentinels = 5 }).Masters.Single().Sentinels);

        var known = Deployment.Clean with
        {
            Sentinels = 1,
            Sentinel = Deployment.SentinelBody
                + "\nsentinel known-sentinel mymaster 10.0.2.11 26379 2222222222222222222222222222222222222222"
                + "\nsentinel known-sentinel mymaster 10.0.3.12 26379 3333333333333333333333333333333333333333",
        };
        var fromKnown = known.Lint();
        Assert.Equal(3, fromKnown.Masters.Single().Sentinels);
        Assert.DoesNotContain(fromKnown.Findings, f => f.RuleId == "P007");
    }

    [Fact]
    public void KnownSentinelWithoutRunId_IsIgnoredAsSentinelDoes()
    {
        var d = Deployment.Clean with { Sentinels = 1, Sentinel = Deployment.SentinelBody + "\nsentinel known-sentinel mymaster 10.0.2.11 26379" };
        Assert.True(d.Lint().Masters.Single().SentinelsAssumed); // the line counts no Sentinel: the count stays unknown
    }
}
