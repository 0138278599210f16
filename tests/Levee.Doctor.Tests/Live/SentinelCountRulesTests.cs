using Levee.Doctor.Live;

namespace Levee.Doctor.Tests.Live;

/// <summary>
/// T001–T006 are computed once (<see cref="SentinelCountRules"/>): the static lint and the live check report the
/// same rules with the same message for the same Sentinel count and quorum; only the fix says how to set the quorum
/// in its own terms (a 'sentinel monitor' line, SENTINEL SET).
/// </summary>
public class SentinelCountRulesTests
{
    [Theory]
    [InlineData(3, 2, "")]
    [InlineData(3, 3, "T002 T003")]
    [InlineData(3, 4, "T001")]
    [InlineData(3, 1, "T004")]
    [InlineData(4, 2, "T005")]
    [InlineData(2, 2, "T002 T005 T006")]
    [InlineData(1, 1, "T002 T006")]
    [InlineData(5, 5, "T002 T003")]
    public void LintAndLive_ReportTheSameRules_WithTheSameMessages(int sentinels, int quorum, string expected)
    {
        // the reports order findings by severity; compare by rule
        var lint = LintFindings(sentinels, quorum).OrderBy(f => f.RuleId, StringComparer.Ordinal).ToList();
        var live = LiveFindings(sentinels, quorum).OrderBy(f => f.RuleId, StringComparer.Ordinal).ToList();

        Assert.Equal(expected, string.Join(' ', lint.Select(f => f.RuleId)));
        Assert.Equal(lint.Select(f => (f.RuleId, f.Message)), live.Select(f => (f.RuleId, f.Message)));
    }

    [Fact]
    public void TheFix_SaysHowToSetTheQuorum_WhereTheFindingIsRead()
    {
        var lint = Assert.Single(LintFindings(3, 3), f => f.RuleId == "T002");
        var live = Assert.Single(LiveFindings(3, 3), f => f.RuleId == "T002");
        Assert.Equal("Set the quorum to 2 ('sentinel monitor mymaster 10.0.0.1 6379 2').", lint.Fix);
        Assert.Equal("Set the quorum to 2 (SENTINEL SET mymaster quorum 2 on every Sentinel, and the same in their config files).", live.Fix);
    }

    [Fact]
    public void AnAssumedCount_JudgesNothing()
    {
        var assumed = MasterTopology.Compute("m", 3, 3, 3) with { SentinelsAssumed = true };
        Assert.Empty(SentinelCountRules.Evaluate(assumed, q => q.ToString(System.Globalization.CultureInfo.InvariantCulture)));
    }

    private static List<Finding> LintFindings(int sentinels, int quorum)
    {
        var files = Enumerable.Range(1, sentinels)
            .Select(i => ($"sentinel-{i}.conf", $"port 26379\nsentinel monitor mymaster 10.0.0.1 6379 {quorum}\n"))
            .ToList();
        // one file alone could be shared by every Sentinel (P007, count assumed): say how many run
        var options = sentinels == 1 ? new LintOptions { Sentinels = 1 } : new LintOptions();
        return [.. DoctorLinter.LintTexts(files, options).Findings.Where(f => f.RuleId is "T001" or "T002" or "T003" or "T004" or "T005" or "T006")];
    }

    private static List<Finding> LiveFindings(int sentinels, int quorum)
    {
        var endpoints = Enumerable.Range(1, sentinels).Select(i => $"10.0.0.{10 + i}:26379").ToList();
        var snapshot = LiveRuleTests.HealthySentinel();
        snapshot.Endpoints.Clear();
        snapshot.Endpoints.AddRange(endpoints);
        var template = snapshot.Views[0];
        snapshot.Views.Clear();
        foreach (var ep in endpoints)
        {
            var master = new Dictionary<string, string>(template.Master!, StringComparer.Ordinal)
            {
                ["quorum"] = quorum.ToString(System.Globalization.CultureInfo.InvariantCulture),
                ["num-other-sentinels"] = (sentinels - 1).ToString(System.Globalization.CultureInfo.InvariantCulture),
            };
            snapshot.Views.Add(new SentinelView(ep)
            {
                Master = master,
                MasterAddress = template.MasterAddress,
                Replicas = template.Replicas,
                Peers = [.. endpoints.Where(p => p != ep).Select(p => (IReadOnlyDictionary<string, string>)new Dictionary<string, string>(StringComparer.Ordinal)
                {
                    ["ip"] = p.Split(':')[0], ["port"] = "26379", ["flags"] = "sentinel",
                })],
            });
        }

        return [.. SentinelLiveChecker.Evaluate(snapshot, new LiveCheckOptions()).Findings
            .Where(f => f.RuleId is "T001" or "T002" or "T003" or "T004" or "T005" or "T006")];
    }
}
