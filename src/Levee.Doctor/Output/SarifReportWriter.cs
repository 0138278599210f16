using System.Text;
using System.Text.Json;

namespace Levee.Doctor;

/// <summary>Writes a <see cref="DoctorReport"/> as SARIF 2.1.0 (one run, every rule in the driver, one result per finding).</summary>
public static class SarifReportWriter
{
    /// <summary>The SARIF schema URI written in <c>$schema</c>.</summary>
    public const string SchemaUri = "https://json.schemastore.org/sarif-2.1.0.json";

    /// <summary>Serializes <paramref name="report"/> as SARIF 2.1.0.</summary>
    /// <param name="report">The report.</param>
    /// <param name="toolVersion">Version written as <c>tool.driver.version</c>.</param>
    /// <returns>Indented JSON text ending with a newline.</returns>
    public static string Write(DoctorReport report, string toolVersion)
    {
        ArgumentNullException.ThrowIfNull(report);
        var index = new Dictionary<string, int>(StringComparer.Ordinal);
        for (var i = 0; i < Rules.All.Count; i++)
        {
            index[Rules.All[i].Id] = i;
        }

        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteString("$schema", SchemaUri);
            w.WriteString("version", "2.1.0");
            w.WriteStartArray("runs");
            w.WriteStartObject();
            w.WriteStartObject("tool");
            w.WriteStartObject("driver");
            w.WriteString("name", "levee-doctor");
            w.WriteString("version", toolVersion);
            w.WriteString("informationUri", RuleDocs.DocumentUrl);
            w.WriteStartArray("rules");
            foreach (var rule in Rules.All)
            {
                w.WriteStartObject();
                w.WriteString("id", rule.Id);
                w.WriteString("name", PascalName(rule.Title));
                w.WriteStartObject("shortDescription");
                w.WriteString("text", rule.Title);
                w.WriteEndObject();
                w.WriteStartObject("fullDescription");
                w.WriteString("text", rule.Why);
                w.WriteEndObject();
                w.WriteStartObject("help");
                w.WriteString("text", $"{rule.Fix} Source: {rule.Source}.");
                w.WriteEndObject();
                w.WriteString("helpUri", rule.HelpUri);
                w.WriteStartObject("defaultConfiguration");
                w.WriteString("level", Level(rule.Severity));
                w.WriteEndObject();
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndObject();
            w.WriteStartArray("results");
            foreach (var f in report.Findings)
            {
                w.WriteStartObject();
                w.WriteString("ruleId", f.RuleId);
                w.WriteNumber("ruleIndex", index[f.RuleId]);
                w.WriteString("level", Level(f.Severity));
                w.WriteStartObject("message");
                w.WriteString("text", $"{f.Message} Fix: {f.Fix}");
                w.WriteEndObject();
                if (f.File is not null && !IsLiveEndpoint(f.File))
                {
                    w.WriteStartArray("locations");
                    w.WriteStartObject();
                    w.WriteStartObject("physicalLocation");
                    w.WriteStartObject("artifactLocation");
                    w.WriteString("uri", ToUri(f.File));
                    w.WriteEndObject();
                    if (f.Line > 0)
                    {
                        w.WriteStartObject("region");
                        w.WriteNumber("startLine", f.Line);
                        w.WriteEndObject();
                    }

                    w.WriteEndObject();
                    w.WriteEndObject();
                    w.WriteEndArray();
                }
                else if (f.File is not null)
                {
                    // A live endpoint (host:port): no file to annotate, keep it as a logical location.
                    w.WriteStartArray("locations");
                    w.WriteStartObject();
                    w.WriteStartArray("logicalLocations");
                    w.WriteStartObject();
                    w.WriteString("name", f.File);
                    w.WriteString("kind", "resource");
                    w.WriteEndObject();
                    w.WriteEndArray();
                    w.WriteEndObject();
                    w.WriteEndArray();
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteEndArray();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    private static string Level(Severity s) => s switch
    {
        Severity.Error => "error",
        Severity.Warning => "warning",
        _ => "note",
    };

    private static string ToUri(string file)
    {
        var path = file.Replace('\\', '/');
        if (Path.IsPathRooted(file))
        {
            return new Uri(Path.GetFullPath(file)).AbsoluteUri;
        }

        if (path.StartsWith("./", StringComparison.Ordinal))
        {
            path = path[2..];
        }

        return Uri.EscapeDataString(path).Replace("%2F", "/", StringComparison.Ordinal);
    }

    private static string PascalName(string title)
    {
        var sb = new StringBuilder();
        foreach (var word in title.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            var letters = new string(word.Where(char.IsLetterOrDigit).ToArray());
            if (letters.Length > 0)
            {
                sb.Append(char.ToUpperInvariant(letters[0])).Append(letters.AsSpan(1));
            }
        }

        return sb.ToString();
    }

    /// <summary>
    /// A live check's finding names its endpoint (<c>host:port</c>), a lint finding its file. Decided on the shape, not on
    /// a colon alone: a file name may hold one (<c>sentinel-10.0.0.5:26379.conf</c>, <c>C:\deploy\sentinel.conf</c>).
    /// </summary>
    private static bool IsLiveEndpoint(string file) =>
        !System.IO.File.Exists(file) && System.Text.RegularExpressions.Regex.IsMatch(file, @"^[^/\\]+:\d+$");
}
