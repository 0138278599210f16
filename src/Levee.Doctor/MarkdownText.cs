using System.Net;
using System.Text;
using System.Text.RegularExpressions;

namespace Levee.Doctor;

/// <summary>
/// Renders the markdown of a <c>docs/doctor.md</c> section as plain text for a terminal: paragraphs and list items
/// wrapped (with a hanging indent), code blocks kept verbatim and indented, and the syntax that is noise in a terminal
/// dropped (emphasis marks, backticks, backslash escapes, HTML anchors, link brackets: a link to another page becomes
/// "text (absolute URL)", a link inside the same page just its text).
/// </summary>
internal static partial class MarkdownText
{
    /// <summary>Wrap column when the caller does not know the terminal's width.</summary>
    public const int DefaultWidth = 100;

    /// <summary>Renders <paramref name="markdown"/>; relative links are resolved against <paramref name="documentUrl"/>.</summary>
    public static string ToPlainText(string markdown, string documentUrl, int width = DefaultWidth)
    {
        ArgumentNullException.ThrowIfNull(markdown);
        width = Math.Max(width, 40);
        var output = new List<string>();
        var words = new List<string>();
        string firstPrefix = string.Empty, hangingPrefix = string.Empty;
        var blankBefore = false;
        string? fenceIndent = null;

        void Flush()
        {
            if (words.Count > 0)
            {
                Wrap(Inline(string.Join(' ', words), documentUrl), firstPrefix, hangingPrefix, width, output);
                words.Clear();
            }
        }

        void StartBlock()
        {
            Flush();
            if (blankBefore && output.Count > 0)
            {
                output.Add(string.Empty);
            }

            blankBefore = false;
        }

        foreach (var raw in markdown.ReplaceLineEndings("\n").Split('\n'))
        {
            var line = raw.TrimEnd();
            var indent = line.Length - line.TrimStart().Length;
            if (fenceIndent is not null)
            {
                if (RuleDocs.IsFence(line))
                {
                    fenceIndent = null;
                }
                else
                {
                    // code: verbatim, 4 columns right of the text it belongs to
                    var code = line.Length >= fenceIndent.Length && line.StartsWith(fenceIndent, StringComparison.Ordinal) ? line[fenceIndent.Length..] : line.TrimStart();
                    output.Add(code.Length == 0 ? string.Empty : fenceIndent + "    " + code);
                }

                continue;
            }

            if (line.Length == 0)
            {
                Flush();
                blankBefore = true;
            }
            else if (RuleDocs.IsFence(line))
            {
                StartBlock();
                fenceIndent = new string(' ', indent);
            }
            else if (AnchorTag().IsMatch(line.Trim()))
            {
                // an <a id> of its own: nothing to show
            }
            else if (line.TrimStart() is var item && indent < 2 && (item.StartsWith("- ", StringComparison.Ordinal) || item.StartsWith("* ", StringComparison.Ordinal)))
            {
                StartBlock();
                (firstPrefix, hangingPrefix) = ("- ", "  ");
                words.Add(item[2..].Trim());
            }
            else if (line.StartsWith('#'))
            {
                StartBlock();
                (firstPrefix, hangingPrefix) = (string.Empty, string.Empty);
                words.Add(line.TrimStart('#').Trim());
            }
            else if (words.Count > 0)
            {
                words.Add(line.Trim());
            }
            else
            {
                StartBlock();
                firstPrefix = hangingPrefix = new string(' ', indent >= 2 ? 2 : 0);
                words.Add(line.Trim());
            }
        }

        Flush();
        return string.Join('\n', output) + "\n";
    }

    /// <summary>Inline markdown to plain text; code spans are kept as they are, without their backticks.</summary>
    internal static string Inline(string text, string documentUrl)
    {
        var sb = new StringBuilder();
        var parts = text.Split('`');
        for (var i = 0; i < parts.Length; i++)
        {
            // odd parts are inside a code span (an unbalanced backtick leaves the rest as text)
            sb.Append(i % 2 == 1 && i < parts.Length - 1 ? parts[i] : Prose(parts[i], documentUrl));
        }

        return sb.ToString();
    }

    private static string Prose(string text, string documentUrl)
    {
        text = AnchorTag().Replace(text, string.Empty);
        text = Link().Replace(text, m =>
        {
            var label = m.Groups["text"].Value;
            var target = m.Groups["url"].Value;
            if (target.StartsWith('#'))
            {
                return label;
            }

            var absolute = Uri.TryCreate(new Uri(documentUrl), target, out var uri) ? uri.AbsoluteUri : target;
            return label == target || label == absolute ? absolute : $"{label} ({absolute})";
        });
        text = Bold().Replace(text, "${inner}");
        text = Italic().Replace(text, "${inner}");
        text = Escape().Replace(text, "${c}");
        return WebUtility.HtmlDecode(text);
    }

    private static void Wrap(string text, string firstPrefix, string hangingPrefix, int width, List<string> output)
    {
        var line = new StringBuilder(firstPrefix);
        var empty = true;
        foreach (var word in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            if (!empty && line.Length + 1 + word.Length > width)
            {
                output.Add(line.ToString());
                line.Clear().Append(hangingPrefix);
                empty = true;
            }

            if (!empty)
            {
                line.Append(' ');
            }

            line.Append(word);
            empty = false;
        }

        output.Add(line.ToString().TrimEnd());
    }

    [GeneratedRegex("""<a id="[^"]*"></a>""")]
    private static partial Regex AnchorTag();

    [GeneratedRegex(@"\[(?<text>[^\]]+)\]\((?<url>[^)\s]+)\)")]
    private static partial Regex Link();

    [GeneratedRegex(@"\*\*(?<inner>[^*]+)\*\*")]
    private static partial Regex Bold();

    [GeneratedRegex(@"(?<=^|[\s(])\*(?<inner>[^*\s][^*]*?)(?<=\S)\*(?=$|[\s.,;:!?)])")]
    private static partial Regex Italic();

    [GeneratedRegex(@"\\(?<c>[\\`*_{}\[\]()#+\-.!<>|])")]
    private static partial Regex Escape();
}
