using System.Reflection;

namespace Levee.Doctor;

/// <summary>
/// Where a rule is explained: the stable URL of its section in <c>docs/doctor.md</c> on the repository's main branch,
/// and the section itself, read from the copy of <c>docs/doctor.md</c> embedded in this assembly (so an installed
/// <c>levee</c> tool can print it offline). <c>docs/doctor.md</c> is the one source of every rule's explanation.
/// </summary>
public static class RuleDocs
{
    /// <summary>The name of the embedded copy of <c>docs/doctor.md</c> (see <c>Levee.Doctor.csproj</c>).</summary>
    internal const string ResourceName = "Levee.Doctor.docs.doctor.md";

    private static readonly Lazy<string> Document = new(ReadDocument);

    /// <summary>
    /// The repository, from the assembly's <c>RepositoryUrl</c> metadata: the SDK writes <c>$(RepositoryUrl)</c> of
    /// <c>Directory.Build.props</c> there, so the URL has one source.
    /// </summary>
    public static string RepositoryUrl { get; } =
        typeof(RuleDocs).Assembly.GetCustomAttributes<AssemblyMetadataAttribute>().FirstOrDefault(a => a.Key == "RepositoryUrl")?.Value?.TrimEnd('/')
        ?? throw new InvalidOperationException("Levee.Doctor was built without RepositoryUrl (set in Directory.Build.props).");

    /// <summary><c>docs/doctor.md</c> on the main branch, for example <c>https://github.com/levee-cache/levee/blob/main/docs/doctor.md</c>.</summary>
    public static string DocumentUrl { get; } = RepositoryUrl + "/blob/main/docs/doctor.md";

    /// <summary>The rule's anchor in <c>docs/doctor.md</c> (its <c>&lt;a id&gt;</c>): the id in lower case, for example <c>s001</c>.</summary>
    /// <param name="ruleId">A rule id, for example <c>S001</c>.</param>
    /// <returns>The anchor, without <c>#</c>.</returns>
    public static string Anchor(string ruleId)
    {
        ArgumentNullException.ThrowIfNull(ruleId);
        return ruleId.ToLowerInvariant();
    }

    /// <summary>The rule's section on the web, for example <c>https://github.com/levee-cache/levee/blob/main/docs/doctor.md#s001</c>.</summary>
    /// <param name="ruleId">A rule id, for example <c>S001</c>.</param>
    /// <returns>An absolute URL.</returns>
    public static string Url(string ruleId) => DocumentUrl + "#" + Anchor(ruleId);

    /// <summary>
    /// The rule's section of the embedded <c>docs/doctor.md</c> as markdown: the lines after its heading
    /// (<c>&lt;a id="s001"&gt;&lt;/a&gt;</c>, then <c>#### S001 · error · Title</c>) up to the next anchor or heading.
    /// </summary>
    /// <param name="ruleId">A rule id in any case, for example <c>s001</c>.</param>
    /// <param name="heading">The section's heading text, without the <c>#</c> marks.</param>
    /// <param name="markdown">The section's body, without the heading.</param>
    /// <returns>Whether the document has a section for the rule.</returns>
    public static bool TryGetSection(string ruleId, out string heading, out string markdown) =>
        TryGetSection(Document.Value, ruleId, out heading, out markdown);

    /// <summary>The rule's section rendered as plain text (see <see cref="TryGetSection(string, out string, out string)"/>).</summary>
    /// <param name="ruleId">A rule id in any case.</param>
    /// <param name="width">Column at which paragraphs are wrapped (code blocks are not).</param>
    /// <returns>The text, or <c>null</c> when the document has no section for the rule.</returns>
    public static string? PlainText(string ruleId, int width = MarkdownText.DefaultWidth) =>
        TryGetSection(ruleId, out _, out var markdown) ? MarkdownText.ToPlainText(markdown, DocumentUrl, width) : null;

    /// <summary>The section of <paramref name="document"/> for <paramref name="ruleId"/>; see <see cref="TryGetSection(string, out string, out string)"/>.</summary>
    internal static bool TryGetSection(string document, string ruleId, out string heading, out string markdown)
    {
        heading = string.Empty;
        markdown = string.Empty;
        var lines = document.ReplaceLineEndings("\n").Split('\n');
        var anchorLine = $"<a id=\"{Anchor(ruleId)}\"></a>";
        var inFence = false;
        var start = -1;
        for (var i = 0; i < lines.Length && start < 0; i++)
        {
            inFence ^= IsFence(lines[i]);
            if (!inFence && lines[i].Trim() == anchorLine)
            {
                start = i + 1;
            }
        }

        while (start >= 0 && start < lines.Length && string.IsNullOrWhiteSpace(lines[start]))
        {
            start++;
        }

        if (start < 0 || start >= lines.Length || !lines[start].StartsWith('#'))
        {
            return false;
        }

        heading = lines[start].TrimStart('#').Trim();
        var body = new List<string>();
        inFence = false;
        for (var i = start + 1; i < lines.Length; i++)
        {
            var line = lines[i];
            if (!inFence && (line.StartsWith('#') || line.TrimStart().StartsWith("<a id=", StringComparison.Ordinal)))
            {
                break;
            }

            inFence ^= IsFence(line);
            body.Add(line);
        }

        markdown = string.Join('\n', body).Trim('\n');
        return true;
    }

    internal static bool IsFence(string line) => line.TrimStart().StartsWith("```", StringComparison.Ordinal);

    private static string ReadDocument()
    {
        using var stream = typeof(RuleDocs).Assembly.GetManifestResourceStream(ResourceName)
            ?? throw new InvalidOperationException($"The embedded resource {ResourceName} (docs/doctor.md) is missing.");
        using var reader = new StreamReader(stream);
        return reader.ReadToEnd();
    }
}
