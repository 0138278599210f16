namespace Levee.Doctor.Tests.Lint;

public class RuleTests
{
    public static TheoryData<string> StaticRuleIds() => new(RuleCases.All.Keys.Order(StringComparer.Ordinal));

    [Theory]
    [MemberData(nameof(StaticRuleIds))]
    public void Rule_TriggersOnBadConfig(string ruleId)
    {
        var report = RuleCases.All[ruleId].Bad();
        var hits = report.Findings.Where(f => f.RuleId == ruleId).ToList();
        Assert.True(hits.Count > 0, $"{ruleId} not reported; got: {Describe(report)}");
        Assert.All(hits, f => Assert.Equal(Rules.Get(ruleId).Severity, f.Severity));
        Assert.All(hits, f => Assert.False(string.IsNullOrWhiteSpace(f.Message)));
        Assert.All(hits, f => Assert.False(string.IsNullOrWhiteSpace(f.Fix)));
        Assert.All(hits, f => Assert.NotNull(f.File));
    }

    [Theory]
    [MemberData(nameof(StaticRuleIds))]
    public void Rule_SilentOnFixedConfig(string ruleId)
    {
        var report = RuleCases.All[ruleId].Good();
        Assert.True(report.Findings.All(f => f.RuleId != ruleId), $"{ruleId} reported on the fixed config: {Describe(report)}");
    }

    [Fact]
    public void CleanDeployment_HasNoFindings()
    {
        var report = Deployment.Clean.Lint();
        Assert.True(report.Findings.Count == 0, Describe(report));
        var master = Assert.Single(report.Masters);
        Assert.Equal((3, 2, 2, 1), (master.Sentinels, master.Quorum, master.Majority, master.ToleratedSentinelFailures));
    }

    [Fact]
    public void EveryCatalogueRuleIsDocumentedAndStaticRulesAreTested()
    {
        var doc = File.ReadAllText(Repo.Path("docs", "doctor.md"));
        foreach (var rule in Rules.All)
        {
            Assert.Contains($"<a id=\"{rule.Id.ToLowerInvariant()}\"></a>", doc, StringComparison.Ordinal);
        }

        var staticRules = Rules.All.Select(r => r.Id).Where(id => id[0] is 'T' or 'S' or 'R' or 'P' && id != "P005").ToList();
        Assert.Empty(staticRules.Except(RuleCases.All.Keys));
    }

    internal static string Describe(DoctorReport report) =>
        report.Findings.Count == 0 ? "(no findings)" : string.Join("; ", report.Findings.Select(f => $"{f.RuleId} {f.Location} {f.Message}"));
}
