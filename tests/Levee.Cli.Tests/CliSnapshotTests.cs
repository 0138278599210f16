using System.CommandLine;

// LeveeCommand runs in-process and the lint takes paths relative to the working directory, which these tests set
[assembly: CollectionBehavior(DisableTestParallelization = true)]

namespace Levee.Cli.Tests;

/// <summary>
/// The text the <c>levee</c> tool prints, pinned by snapshot files in <c>Snapshots/</c> (exit code, stdout and stderr
/// in one file): a change of wording, layout or exit code fails here. After a deliberate change, run once with
/// <c>LEVEE_UPDATE_SNAPSHOTS=1</c> and review the diff of the snapshot files.
/// </summary>
public sealed class CliSnapshotTests
{
    [Theory]
    [InlineData("doctor-lint-incident.txt", "doctor", "lint", "tests/Levee.Doctor.Tests/Fixtures/incident")]
    [InlineData("doctor-lint-krgko.txt", "doctor", "lint", "tests/Levee.Doctor.Tests/Corpus/krgko-redis-sentinel")]
    [InlineData("doctor-lint-bad-sentinels.txt", "doctor", "lint", "tests/Levee.Doctor.Tests/Fixtures/incident", "--sentinels", "zero")]
    [InlineData("doctor-lint-unknown-option.txt", "doctor", "lint", "tests/Levee.Doctor.Tests/Fixtures/incident", "--bogus")]
    [InlineData("doctor-explain-s001.txt", "doctor", "explain", "S001")]
    [InlineData("doctor-explain-unknown.txt", "doctor", "explain", "X999")]
    [InlineData("drill-list.txt", "drill", "--list")]
    [InlineData("drill-help.txt", "drill", "--help")]
    [InlineData("drill-bad-instances.txt", "drill", "--instances", "abc")]
    [InlineData("drill-instances-out-of-range.txt", "drill", "--instances", "0")]
    [InlineData("drill-bad-format.txt", "drill", "--format", "xml")]
    [InlineData("sandbox-help.txt", "sandbox", "--help")]
    [InlineData("sandbox-bad-quorum.txt", "sandbox", "--quorum", "4")]
    [InlineData("sandbox-missing-sql.txt", "sandbox", "--sql", "no/such/catalog.sql")]
    public async Task Output_MatchesSnapshot(string snapshot, params string[] args)
    {
        var (code, output, error) = await RunAsync(args);
        var actual = $"$ levee {string.Join(' ', args)}\nexit code {code}\n--- stdout\n{output}--- stderr\n{error}";

        var path = Path.Combine(Repo.Root, "tests", "Levee.Cli.Tests", "Snapshots", snapshot);
        if (Environment.GetEnvironmentVariable("LEVEE_UPDATE_SNAPSHOTS") == "1")
        {
            await File.WriteAllTextAsync(path, actual);
        }

        Assert.True(File.Exists(path), $"Snapshot {path} is missing; run the tests once with LEVEE_UPDATE_SNAPSHOTS=1 and review it.");
        Assert.Equal((await File.ReadAllTextAsync(path)).ReplaceLineEndings("\n"), actual);
    }

    [Theory]
    [InlineData(0, "drill", "--list")]
    [InlineData(1, "doctor", "lint", "tests/Levee.Doctor.Tests/Fixtures/incident")]
    [InlineData(2, "doctor", "lint", "tests/Levee.Doctor.Tests/Fixtures/incident", "--format", "xml")]
    [InlineData(2, "drill", "--instances", "abc")]
    [InlineData(2, "drill", "--rate", "0")]
    [InlineData(2, "nosuchcommand")]
    [InlineData(0, "doctor", "explain", "t002")]
    [InlineData(2, "doctor", "explain", "X999")]
    [InlineData(2, "doctor", "explain")]
    [InlineData(2, "doctor", "explain", "S001", "--format", "sarif")]
    [InlineData(2, "sandbox", "--sql", "no/such/catalog.sql")]
    [InlineData(2, "sandbox", "--sentinels", "0")]
    public async Task ExitCodes(int expected, params string[] args)
    {
        // 1 is the doctor's "errors found": bad usage must never look like a finding
        var (code, _, error) = await RunAsync(args);
        Assert.True(expected == code, $"levee {string.Join(' ', args)}: exit {code}, expected {expected}; stderr:\n{error}");
    }

    [Fact]
    public async Task Explain_EveryRuleThatRulesLists_PrintsItsDocsSection()
    {
        var (code, list, _) = await RunAsync(["doctor", "rules"]);
        Assert.Equal(0, code);
        var ids = list.Split('\n', StringSplitOptions.RemoveEmptyEntries).Select(l => l.Split(' ')[0]).ToList();
        Assert.True(ids.Count >= 70, list);
        foreach (var id in ids)
        {
            var (explainCode, text, error) = await RunAsync(["doctor", "explain", id.ToLowerInvariant()]);
            Assert.True(explainCode == 0, $"levee doctor explain {id}: exit {explainCode}\n{error}");
            var lines = text.Split('\n');
            Assert.StartsWith($"{id}: ", lines[0], StringComparison.Ordinal);
            Assert.StartsWith("Default severity: ", lines[1], StringComparison.Ordinal);
            Assert.Equal($"Online: https://github.com/levee-cache/levee/blob/main/docs/doctor.md#{id.ToLowerInvariant()}", lines[2]);
            Assert.Contains("\n- Why: ", text, StringComparison.Ordinal);
            Assert.Contains("\n- Fix: ", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task Explain_Json_HasTheRuleAndItsSection()
    {
        var (code, output, _) = await RunAsync(["doctor", "explain", "T002", "--format", "json"]);
        Assert.Equal(0, code);
        using var json = System.Text.Json.JsonDocument.Parse(output);
        var root = json.RootElement;
        Assert.Equal("T002", root.GetProperty("id").GetString());
        Assert.Equal("error", root.GetProperty("severity").GetString());
        Assert.Equal("Losing one Sentinel blocks failover", root.GetProperty("title").GetString());
        Assert.Equal("https://github.com/levee-cache/levee/blob/main/docs/doctor.md#t002", root.GetProperty("help").GetString());
        Assert.Contains("**Why:** A failover needs max(quorum", root.GetProperty("markdown").GetString(), StringComparison.Ordinal);
        Assert.StartsWith("- Why: A failover needs max(quorum", root.GetProperty("text").GetString(), StringComparison.Ordinal);
    }

    [Fact]
    public async Task Lint_PointsAtEachRuleOnce_OfflineAndOnline()
    {
        // the incident has S001 three times: one pointer for it
        var (_, output, _) = await RunAsync(["doctor", "lint", "tests/Levee.Doctor.Tests/Fixtures/incident"]);
        Assert.Equal(3, output.Split('\n').Count(l => l.Contains("S001", StringComparison.Ordinal) && l.Contains('│')));
        Assert.Single(output.Split('\n'), l => l.Contains("levee doctor explain S001", StringComparison.Ordinal));
        Assert.Contains("levee doctor explain S001   https://github.com/levee-cache/levee/blob/main/docs/doctor.md#s001", output, StringComparison.Ordinal);
        Assert.DoesNotContain(" docs/doctor.md#", output, StringComparison.Ordinal);
    }

    /// <summary>Runs <c>levee ARGS</c> in-process from the repository root; output with \n line ends.</summary>
    private static async Task<(int Code, string Output, string Error)> RunAsync(string[] args)
    {
        using var output = new StringWriter();
        using var error = new StringWriter();
        var previous = Environment.CurrentDirectory;
        Environment.CurrentDirectory = Repo.Root;
        try
        {
            var code = await LeveeCommand.RunAsync(args, new InvocationConfiguration { Output = output, Error = error });
            return (code, Normalize(output.ToString()), Normalize(error.ToString()));
        }
        finally
        {
            Environment.CurrentDirectory = previous;
        }
    }

    /// <summary>Line ends, and the root command's name: the executable's (testhost here, levee when installed).</summary>
    private static string Normalize(string text) =>
        text.ReplaceLineEndings("\n").Replace($"{RootCommand.ExecutableName} ", "levee ", StringComparison.Ordinal);
}
