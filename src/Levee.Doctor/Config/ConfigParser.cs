namespace Levee.Doctor.Config;

/// <summary>
/// Parses config text the way redis-server does (<c>loadServerConfigFromString()</c> in src/config.c):
/// one directive per line, leading/trailing blanks trimmed, lines starting with <c>#</c> ignored,
/// arguments split by <see cref="ConfigTokenizer"/>, directive names compared case-insensitively.
/// </summary>
internal static partial class ConfigParser
{
    /// <summary>Parses <paramref name="text"/>. <paramref name="lineMap"/> maps the 1-based line in the text to the line reported (for embedded configs).</summary>
    public static ConfigDocument Parse(string file, string name, string text, List<Finding> findings, Func<int, int>? lineMap = null, int processes = 1, bool processesKnown = false)
    {
        lineMap ??= static l => l;
        var directives = new List<ConfigDirective>();
        var disabledInFile = new HashSet<string>(StringComparer.OrdinalIgnoreCase);
        var disabledOnLine = new Dictionary<int, HashSet<string>>();
        HashSet<string>? pending = null;
        var lines = text.Split('\n');
        for (var i = 0; i < lines.Length; i++)
        {
            var line = lines[i].Trim(' ', '\t', '\r', '\n');
            if (line.Length > 0 && line[0] == '#' && Suppression().Match(line) is { Success: true } m)
            {
                var ids = m.Groups[2].Value.Split([',', ' '], StringSplitOptions.RemoveEmptyEntries);
                if (m.Groups[1].Value.Equals("disable-file", StringComparison.OrdinalIgnoreCase))
                {
                    disabledInFile.UnionWith(ids);
                }
                else
                {
                    (pending ??= new HashSet<string>(StringComparer.OrdinalIgnoreCase)).UnionWith(ids);
                }

                continue;
            }

            if (line.Length == 0 || line[0] == '#')
            {
                continue;
            }

            var lineNo = lineMap(i + 1);
            if (pending is not null)
            {
                // '# levee-doctor: disable=ID' silences ID on the next config line (Redis has no end-of-line comments)
                disabledOnLine[lineNo] = pending;
                pending = null;
            }

            var args = ConfigTokenizer.Split(line, out var error);
            if (args is null)
            {
                findings.Add(new Finding("P001", Severity.Error, file, lineNo,
                    $"Redis cannot parse this line: {error}.", Rules.Get("P001").Fix));
                continue;
            }

            if (args.Count == 0)
            {
                continue;
            }

            directives.Add(new ConfigDirective(args[0].ToLowerInvariant(), args.Skip(1).ToArray(), lineNo));
        }

        var kind = directives.Exists(d => d.Name == "sentinel") ? ConfigKind.Sentinel : ConfigKind.Redis;
        var doc = new ConfigDocument(file, name, kind, directives, processes) { ProcessesKnown = processesKnown };
        doc.DisabledInFile.UnionWith(disabledInFile);
        foreach (var (line, ids) in disabledOnLine)
        {
            doc.DisabledOnLine[line] = ids;
        }

        return doc;
    }

    /// <summary><c># levee-doctor: disable=S003,T011</c> (next line) or <c># levee-doctor: disable-file=S003</c> (whole file).</summary>
    [System.Text.RegularExpressions.GeneratedRegex(@"^#\s*levee-doctor:\s*(disable-file|disable)\s*=\s*([A-Za-z0-9, ]+?)\s*$", System.Text.RegularExpressions.RegexOptions.IgnoreCase)]
    private static partial System.Text.RegularExpressions.Regex Suppression();
}
