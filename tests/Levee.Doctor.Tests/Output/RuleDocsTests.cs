using System.Text.Json;
using System.Text.RegularExpressions;
using System.Xml.Linq;

namespace Levee.Doctor.Tests.Output;

/// <summary>
/// <c>levee doctor explain</c> and the findings' links: every rule has a section in docs/doctor.md (the one source of its
/// explanation, embedded in Levee.Doctor), and every link points at an anchor that exists there.
/// </summary>
public class RuleDocsTests
{
    public static TheoryData<string> RuleIds() => new(Rules.All.Select(r => r.Id));

    [Theory]
    [MemberData(nameof(RuleIds))]
    public void EveryRule_HasASectionInDocs_ThatExplainFinds(string id)
    {
        var rule = Rules.Get(id);
        Assert.True(RuleDocs.TryGetSection(id.ToLowerInvariant(), out var heading, out var markdown), $"docs/doctor.md has no section for {id} (<a id=\"{id.ToLowerInvariant()}\"></a> then its heading)");
        Assert.Equal($"{id} · {JsonReportWriter.SeverityName(rule.Severity)} · {rule.Title}", heading);

        var text = RuleDocs.PlainText(id)!;
        Assert.Contains("- Why: ", text, StringComparison.Ordinal);
        Assert.Contains("- Fix: ", text, StringComparison.Ordinal);
        Assert.True(text.Length >= 120, $"{id}'s section is too short to explain anything:\n{text}");
        Assert.DoesNotContain("<a id", text, StringComparison.Ordinal);
        Assert.DoesNotContain("**", text, StringComparison.Ordinal);
        // the section ends where the next rule begins
        Assert.DoesNotContain("<a id", markdown, StringComparison.Ordinal);
    }

    [Fact]
    public void Explain_S001_IsItsDocsSection_AsPlainText()
    {
        var text = RuleDocs.PlainText("s001")!;
        var flat = Regex.Replace(text, @"\s+", " "); // phrases may be wrapped
        Assert.Contains("Without 'sentinel resolve-hostnames yes' Sentinel only accepts IP addresses", flat, StringComparison.Ordinal);
        Assert.Contains("(\"Can't resolve instance hostname.\")", flat, StringComparison.Ordinal);
        Assert.Contains("- Fix: Use an IP address", flat, StringComparison.Ordinal);
        Assert.Contains("src/sentinel.c createSentinelAddr()", flat, StringComparison.Ordinal);
        // backticks dropped, their content kept
        Assert.Contains("with sentinel resolve-hostnames yes anywhere in the file", flat, StringComparison.Ordinal);
        Assert.DoesNotContain("`", text, StringComparison.Ordinal);
        Assert.All(text.Split('\n'), line => Assert.True(line.Length <= MarkdownText.DefaultWidth || !line.Contains(' ', StringComparison.Ordinal), $"not wrapped: {line}"));
    }

    [Fact]
    public void UnknownRule_HasNoSection()
    {
        Assert.False(RuleDocs.TryGetSection("X999", out _, out _));
        Assert.Null(RuleDocs.PlainText("X999"));
    }

    [Fact]
    public void HelpUri_IsTheAbsoluteUrlOfTheRulesAnchor_OnTheRepositoryOfDirectoryBuildProps()
    {
        var repository = XDocument.Load(Repo.Path("Directory.Build.props")).Descendants("RepositoryUrl").Single().Value.TrimEnd('/');
        Assert.Equal(repository + "/blob/main/docs/doctor.md", RuleDocs.DocumentUrl);
        var doc = File.ReadAllText(Repo.Path("docs", "doctor.md")).ReplaceLineEndings("\n");
        var lines = doc.Split('\n');
        var headingSlugs = lines.Where(l => Regex.IsMatch(l, "^#{1,6} ")).Select(GitHubSlug).ToList();
        foreach (var rule in Rules.All)
        {
            var uri = new Uri(rule.HelpUri);
            Assert.True(uri.IsAbsoluteUri && uri.Scheme == "https", rule.HelpUri);
            Assert.Equal(RuleDocs.DocumentUrl + "#" + rule.Id.ToLowerInvariant(), rule.HelpUri);

            // GitHub keeps <a id="s001"> (as user-content-s001, which #s001 scrolls to); the heading's own slug is
            // "s001--error--..." and must not take the anchor over
            var anchor = uri.Fragment.TrimStart('#');
            var at = Array.FindIndex(lines, l => l.Trim() == $"<a id=\"{anchor}\"></a>");
            Assert.True(at >= 0, $"docs/doctor.md has no <a id=\"{anchor}\"></a> for {rule.Id}");
            Assert.Single(lines, l => l.Contains($"id=\"{anchor}\"", StringComparison.Ordinal));
            Assert.StartsWith($"#### {rule.Id} · ", lines[at + 1], StringComparison.Ordinal);
            Assert.DoesNotContain(anchor, headingSlugs);
        }
    }

    [Fact]
    public void Sarif_HelpUriOfEveryRule_IsItsAbsoluteUrl()
    {
        using var sarif = JsonDocument.Parse(SarifReportWriter.Write(DoctorLinter.Lint([Repo.Path("tests", "Levee.Doctor.Tests", "Fixtures", "incident")], new LintOptions()), "test"));
        var driver = sarif.RootElement.GetProperty("runs")[0].GetProperty("tool").GetProperty("driver");
        Assert.Equal(RuleDocs.DocumentUrl, driver.GetProperty("informationUri").GetString());
        foreach (var r in driver.GetProperty("rules").EnumerateArray())
        {
            Assert.Equal(RuleDocs.Url(r.GetProperty("id").GetString()!), r.GetProperty("helpUri").GetString());
        }
    }

    [Fact]
    public void MarkdownText_KeepsCodeBlocks_AndDropsLinkAndEmphasisSyntax()
    {
        const string markdown = """
            - **Why:** a *quorum* above the [majority](#the-failover-arithmetic) (see [the engine](engine.md#failover) and
              [Redis](https://redis.io/docs/)); `sentinel monitor <name>` and \<master\> &amp; more.
            - **Example:**

              ```
              sentinel monitor mymaster 10.0.0.1 6379 2
                # indented kept
              ```

            Last paragraph.
            """;
        var text = MarkdownText.ToPlainText(markdown, "https://github.com/levee-cache/levee/blob/main/docs/doctor.md", width: 300);
        Assert.Equal(
            "- Why: a quorum above the majority (see the engine (https://github.com/levee-cache/levee/blob/main/docs/engine.md#failover) and " +
            "Redis (https://redis.io/docs/)); sentinel monitor <name> and <master> & more.\n" +
            "- Example:\n" +
            "\n" +
            "      sentinel monitor mymaster 10.0.0.1 6379 2\n" +
            "        # indented kept\n" +
            "\n" +
            "Last paragraph.\n",
            text);
    }

    [Fact]
    public void MarkdownText_WrapsWithAHangingIndent()
    {
        var text = MarkdownText.ToPlainText("- **Fix:** " + string.Join(' ', Enumerable.Repeat("word", 30)), "https://example.org/doc.md", width: 40);
        var lines = text.TrimEnd('\n').Split('\n');
        Assert.True(lines.Length > 3);
        Assert.StartsWith("- Fix: word", lines[0], StringComparison.Ordinal);
        Assert.All(lines.Skip(1), l => Assert.StartsWith("  word", l, StringComparison.Ordinal));
        Assert.All(lines, l => Assert.True(l.Length <= 40, l));
    }

    /// <summary>GitHub's id for a heading: lower case, punctuation (but - and _) removed, spaces to hyphens.</summary>
    private static string GitHubSlug(string heading)
    {
        var text = heading.TrimStart('#').Trim().ToLowerInvariant();
        return new string(text.Where(c => char.IsLetterOrDigit(c) || c is ' ' or '-' or '_').ToArray()).Replace(' ', '-');
    }
}
