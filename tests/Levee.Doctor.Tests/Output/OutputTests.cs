using System.Text.Json;

namespace Levee.Doctor.Tests.Output;

public class OutputTests
{
    // Run from the repository root with a relative path, as CI would: findings carry the path as given.
    private static async Task<string> Incident(string format) =>
        (await CliRunner.RunAsync("lint", "tests/Levee.Doctor.Tests/Fixtures/incident", "--format", format)).Out;

    [Fact]
    public async Task Json_HasTheDocumentedShape()
    {
        using var json = JsonDocument.Parse(await Incident("json"));
        var root = json.RootElement;

        var findings = root.GetProperty("findings").EnumerateArray().ToList();
        Assert.NotEmpty(findings);
        foreach (var f in findings)
        {
            foreach (var key in new[] { "id", "severity", "file", "line", "message", "fix" })
            {
                Assert.True(f.TryGetProperty(key, out _), $"finding without '{key}': {f}");
            }

            Assert.Contains(f.GetProperty("severity").GetString(), new[] { "error", "warning", "info" });
        }

        var t002 = findings.Single(f => f.GetProperty("id").GetString() == "T002");
        Assert.Equal(("tests/Levee.Doctor.Tests/Fixtures/incident/sentinel-1.conf", 2),
            (t002.GetProperty("file").GetString(), t002.GetProperty("line").GetInt32()));

        var master = root.GetProperty("topology").GetProperty("masters").EnumerateArray().Single();
        Assert.Equal("mymaster", master.GetProperty("name").GetString());
        Assert.Equal(3, master.GetProperty("sentinels").GetInt32());
        Assert.Equal(3, master.GetProperty("quorum").GetInt32());
        Assert.Equal(2, master.GetProperty("majority").GetInt32());
        Assert.Equal(0, master.GetProperty("toleratedSentinelFailures").GetInt32());
    }

    [Fact]
    public async Task Sarif_IsValid210Structure_WithRulesAndLocations()
    {
        using var sarif = JsonDocument.Parse(await Incident("sarif"));
        var root = sarif.RootElement;
        Assert.Equal("2.1.0", root.GetProperty("version").GetString());
        Assert.Equal(SarifReportWriter.SchemaUri, root.GetProperty("$schema").GetString());

        var run = root.GetProperty("runs").EnumerateArray().Single();
        var rules = run.GetProperty("tool").GetProperty("driver").GetProperty("rules").EnumerateArray().ToList();
        Assert.Equal(Rules.All.Count, rules.Count);
        Assert.All(rules, r => Assert.False(string.IsNullOrEmpty(r.GetProperty("shortDescription").GetProperty("text").GetString())));

        var results = run.GetProperty("results").EnumerateArray().ToList();
        Assert.NotEmpty(results);
        foreach (var r in results)
        {
            var id = r.GetProperty("ruleId").GetString();
            Assert.Equal(id, rules[r.GetProperty("ruleIndex").GetInt32()].GetProperty("id").GetString());
            Assert.Contains(r.GetProperty("level").GetString(), new[] { "error", "warning", "note" });
            var location = r.GetProperty("locations")[0].GetProperty("physicalLocation");
            Assert.StartsWith("tests/Levee.Doctor.Tests/Fixtures/incident/sentinel-", location.GetProperty("artifactLocation").GetProperty("uri").GetString(), StringComparison.Ordinal);
            Assert.Equal(2, location.GetProperty("region").GetProperty("startLine").GetInt32());
        }
    }

    [Fact]
    public void Sarif_AFileWhoseNameHoldsAColon_KeepsItsFileLocation()
    {
        var dir = Directory.CreateTempSubdirectory("levee-doctor-sarif-").FullName;
        try
        {
            var path = Path.Combine(dir, "sentinel-10.0.0.5:26379.conf");
            File.WriteAllText(path, "sentinel monitor mymaster 10.0.0.1 6379 2\n");
            using var sarif = JsonDocument.Parse(SarifReportWriter.Write(DoctorLinter.Lint([path], new LintOptions { Sentinels = 1 }), "test"));
            var result = sarif.RootElement.GetProperty("runs")[0].GetProperty("results").EnumerateArray().First(r => r.GetProperty("ruleId").GetString() == "T001");
            var location = result.GetProperty("locations")[0].GetProperty("physicalLocation"); // was a logical location only (taken for host:port)
            Assert.EndsWith("26379.conf", location.GetProperty("artifactLocation").GetProperty("uri").GetString(), StringComparison.Ordinal);
            Assert.Equal(1, location.GetProperty("region").GetProperty("startLine").GetInt32());
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }

    [Theory]
    [InlineData("incident-text.txt", "text")]
    [InlineData("incident-json.json", "json")]
    [InlineData("deploy-sentinel-text.txt", "text")]
    public async Task CliOutput_MatchesSnapshot(string snapshot, string format)
    {
        var target = snapshot.StartsWith("incident", StringComparison.Ordinal) ? "tests/Levee.Doctor.Tests/Fixtures/incident" : "deploy/sentinel";
        var (_, output, _) = await CliRunner.RunAsync("lint", target, "--format", format);

        var path = Repo.Path("tests", "Levee.Doctor.Tests", "Snapshots", snapshot);
        var actual = output.ReplaceLineEndings("\n");
        if (Environment.GetEnvironmentVariable("LEVEE_UPDATE_SNAPSHOTS") == "1")
        {
            File.WriteAllText(path, actual);
        }

        Assert.True(File.Exists(path), $"Snapshot {path} is missing; run the tests once with LEVEE_UPDATE_SNAPSHOTS=1 and review it.");

        Assert.Equal(File.ReadAllText(path).ReplaceLineEndings("\n"), actual);
    }
}
