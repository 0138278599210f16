using System.Text;
using System.Text.Json;

namespace Levee.Doctor;

/// <summary>Writes a <see cref="DoctorReport"/> as the documented JSON shape.</summary>
public static class JsonReportWriter
{
    /// <summary>Serializes <paramref name="report"/>:
    /// <c>{"findings":[{"id","severity","file","line","message","fix",...}],"topology":{"masters":[{"name","sentinels","quorum","majority","toleratedSentinelFailures",...}]},"summary":{...}}</c>.</summary>
    /// <param name="report">The report.</param>
    /// <returns>Indented JSON text ending with a newline.</returns>
    public static string Write(DoctorReport report)
    {
        ArgumentNullException.ThrowIfNull(report);
        using var stream = new MemoryStream();
        using (var w = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = System.Text.Encodings.Web.JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            w.WriteStartObject();
            w.WriteStartArray("findings");
            foreach (var f in report.Findings)
            {
                w.WriteStartObject();
                w.WriteString("id", f.RuleId);
                w.WriteString("severity", SeverityName(f.Severity));
                if (f.File is null)
                {
                    w.WriteNull("file");
                }
                else
                {
                    w.WriteString("file", f.File);
                }

                w.WriteNumber("line", f.Line);
                w.WriteString("message", f.Message);
                w.WriteString("fix", f.Fix);
                w.WriteString("title", f.Title);
                w.WriteString("why", f.Why);
                w.WriteString("help", f.HelpUri);
                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteStartObject("topology");
            w.WriteStartArray("masters");
            foreach (var m in report.Masters)
            {
                w.WriteStartObject();
                w.WriteString("name", m.Name);
                w.WriteNumber("sentinels", m.Sentinels);
                if (m.SentinelsAssumed)
                {
                    w.WriteBoolean("sentinelsAssumed", true);
                }

                w.WriteNumber("quorum", m.Quorum);
                w.WriteNumber("majority", m.Majority);
                w.WriteNumber("toleratedSentinelFailures", m.ToleratedSentinelFailures);
                w.WriteNumber("voters", m.Voters);
                w.WriteNumber("toleratedFailuresForDetection", m.ToleratedFailuresForDetection);
                w.WriteNumber("toleratedFailuresForAuthorization", m.ToleratedFailuresForAuthorization);
                w.WriteBoolean("failoverImpossible", m.FailoverImpossible);
                if (m.MasterAddress is null)
                {
                    w.WriteNull("address");
                }
                else
                {
                    w.WriteString("address", m.MasterAddress);
                }

                w.WriteEndObject();
            }

            w.WriteEndArray();
            w.WriteEndObject();
            w.WriteStartObject("summary");
            w.WriteNumber("errors", report.Count(Severity.Error));
            w.WriteNumber("warnings", report.Count(Severity.Warning));
            w.WriteNumber("info", report.Count(Severity.Info));
            w.WriteBoolean("unusableInput", report.UnusableInput);
            w.WriteEndObject();
            w.WriteEndObject();
        }

        return Encoding.UTF8.GetString(stream.ToArray()) + "\n";
    }

    /// <summary>The lower-case name used in JSON: error, warning or info.</summary>
    /// <param name="severity">Severity.</param>
    /// <returns>The name.</returns>
    public static string SeverityName(Severity severity) => severity switch
    {
        Severity.Error => "error",
        Severity.Warning => "warning",
        _ => "info",
    };
}
