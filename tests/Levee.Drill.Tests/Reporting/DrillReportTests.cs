using System.Text.Json;
using Levee.Drill.Reporting;

namespace Levee.Drill.Tests.Reporting;

public sealed class DrillReportTests
{
    internal static DrillReport Sample()
    {
        var block = new PhaseBlock(10, 3000, 0, 0, 2.5, 8, 12, 80, 9, 9, null, 3, 0);
        var fault = block with { Errors = 900, ErrorRate = 0.3, P95Ms = 12_900, PeakDbQueriesPerSec = 240 };
        var timeline = new List<TimelinePoint> { new(0, "baseline", 300, 0, 0, 2.5, 8, 12, 9, 9, 1, 0, 2, 0, "up", 0, 0) };
        return new DrillReport(
            "incident",
            "desc",
            1,
            new DateTimeOffset(2026, 11, 26, 6, 0, 0, TimeSpan.Zero),
            new MachineInfo("vm", 2, "Linux", "dotnet 10"),
            new LoadSettings(300, 8, 128, 3, 100, 240, 25201, 1, 0.02, 10, 30, 20),
            new TopologyInfo("sentinel", 1, 2, 3, 3, 2000, "PostgreSQL 15"),
            [new FaultStep(10, "fault: x"), new FaultStep(40, "repair: y")],
            [
                new ClientRun("naive", "d", "ran", null, 18000, 900, 800, block, fault, block, 26.7, new FailoverInfo(false, null, 1.1), 3, 2, null, [], timeline),
                ClientRun.NotRun("levee", "d", "not run", "pending"),
            ]);
    }

    [Fact]
    public void Json_HasTheDocumentedShape()
    {
        using var doc = JsonDocument.Parse(Sample().ToJson());
        var root = doc.RootElement;
        Assert.Equal("incident", root.GetProperty("scenario").GetString());
        Assert.Equal(1UL, root.GetProperty("seed").GetUInt64());
        Assert.Equal("sentinel", root.GetProperty("topology").GetProperty("kind").GetString());
        Assert.Equal(3, root.GetProperty("topology").GetProperty("quorum").GetInt32());
        var run = root.GetProperty("runs")[0];
        foreach (var name in new[] { "client", "requests", "errors", "baseline", "fault", "dbAmplification", "failover", "staleAfterInvalidation", "timeline" })
        {
            Assert.True(run.TryGetProperty(name, out _), $"runs[0].{name} missing");
        }

        foreach (var phase in new[] { "baseline", "fault" })
        {
            foreach (var name in new[] { "dbQueriesPerSec", "p50Ms", "p95Ms", "p99Ms", "errors" })
            {
                Assert.True(run.GetProperty(phase).TryGetProperty(name, out _), $"runs[0].{phase}.{name} missing");
            }
        }

        Assert.Equal(240, run.GetProperty("fault").GetProperty("peakDbQueriesPerSec").GetDouble());
        Assert.False(run.GetProperty("failover").GetProperty("happened").GetBoolean());
        Assert.Equal(300, run.GetProperty("timeline")[0].GetProperty("requests").GetInt64());
        Assert.Equal("not run", root.GetProperty("runs")[1].GetProperty("status").GetString());
        Assert.Equal(Sample().Runs[0].Errors, DrillReport.FromJson(Sample().ToJson()).Runs[0].Errors);
    }

    [Fact]
    public void Markdown_HasOneRowPerClient_AndSaysWhatWasNotRun()
    {
        var markdown = SummaryWriter.Markdown(Sample());
        var rows = markdown.Split('\n').Where(l => l.StartsWith("| ", StringComparison.Ordinal)).ToList();
        Assert.Equal(3, rows.Count); // header + 2 clients
        Assert.StartsWith("| naive | 18,000 | 900 (5%) | 8 ms | 12.9 s |", rows[1], StringComparison.Ordinal);
        Assert.Contains("26.7x", rows[1], StringComparison.Ordinal);
        Assert.Contains("no (manual: 1.1 s)", rows[1], StringComparison.Ordinal);
        Assert.Contains("| levee | not run |", rows[2], StringComparison.Ordinal);
        Assert.Contains("pending", rows[2], StringComparison.Ordinal);
    }

    [Fact]
    public void ErrorsByCauseAndStaleReads_AreInTheJson_AndPrintedOnlyForClientsThatHadThem()
    {
        var sample = Sample();
        var naive = sample.Runs[0] with
        {
            ErrorsByCause = [new ErrorCause("refused: the instance had --in-flight-limit requests in flight", 800, 12, 39), new ErrorCause("TimeoutException: a | b", 100, 11, 40)],
            StaleReads = [new StaleRead(12, "product:7", 5, 2, 3, 4, 1000, 1004, 1010, 1011, 1030)],
        };
        var report = sample with { Runs = [naive, sample.Runs[0] with { Client = "quiet", Errors = 0, StaleAfterInvalidation = 0 }] };

        var markdown = SummaryWriter.Markdown(report);
        Assert.Contains("Errors by cause, naive (900):\n\n| cause | errors | seconds of the run |\n|---|---|---|\n"
            + "| refused: the instance had --in-flight-limit requests in flight | 800 | 12-39 |\n| TimeoutException: a \\| b | 100 | 11-40 |\n", markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("Errors by cause, quiet", markdown, StringComparison.Ordinal);
        Assert.Contains("Stale after invalidation, naive: 2 reads (the first 1 kept in report.json's staleReads)", markdown, StringComparison.Ordinal);
        Assert.Contains("1 began before the removal reached the reading instance", markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("Stale after invalidation, quiet", markdown, StringComparison.Ordinal);
        Assert.Contains("<h2>Errors by cause: naive</h2>", SummaryWriter.Html(report, []), StringComparison.Ordinal);

        using var doc = JsonDocument.Parse(report.ToJson());
        var run = doc.RootElement.GetProperty("runs")[0];
        Assert.Equal(800, run.GetProperty("errorsByCause")[0].GetProperty("count").GetInt64());
        Assert.Equal(12, run.GetProperty("errorsByCause")[0].GetProperty("firstSecond").GetInt32());
        Assert.Equal("before-arrival", run.GetProperty("staleReads")[0].GetProperty("arrival").GetString());
        Assert.False(doc.RootElement.GetProperty("runs")[1].TryGetProperty("errorsByCause", out _)); // none: left out
        Assert.Equal(naive.ErrorsByCause, DrillReport.FromJson(report.ToJson()).Runs[0].ErrorsByCause);
        Assert.Equal(naive.StaleReads, DrillReport.FromJson(report.ToJson()).Runs[0].StaleReads);
    }

    [Fact]
    public void AHealthyReference_IsPrintedAsFaultedOverHealthy_AndKeptInTheJson()
    {
        var sample = Sample();
        var levee = sample.Runs[0] with
        {
            Client = "levee",
            Fault = sample.Runs[0].Fault! with { DbQueriesPerSec = 12, P95Ms = 53, DbQueriesByKind = new(90, 30, 0, 60) },
            FaultLastMinuteDbQueriesPerSec = 15,
            Reference = new ReferenceRun(10, 20, 50, 9, 6, 0, 1),
        };
        var report = sample with { Runs = [levee, sample.Runs[0] with { Client = "plain" }] };

        var markdown = SummaryWriter.Markdown(report);
        Assert.Contains("| levee | 12 / 10 (1.20x) | 15 / 20 (0.75x) | 53 ms / 50 ms (1.06x) | 9 / 9 (1.00x) | 8 ms / 6 ms (1.33x) | 0, 1 |", markdown, StringComparison.Ordinal);
        Assert.DoesNotContain("| plain | 9 / ", markdown, StringComparison.Ordinal); // no reference run: no row
        Assert.Contains("| levee | fault | 9 | 3 | 0 | 6 | 18 |", markdown, StringComparison.Ordinal); // by origin, per second of the 10-s phase

        var back = DrillReport.FromJson(report.ToJson()).Runs[0];
        Assert.Equal(levee.Reference, back.Reference);
        Assert.Equal(15, back.FaultLastMinuteDbQueriesPerSec);
        Assert.Equal(levee.Fault!.DbQueriesByKind, back.Fault!.DbQueriesByKind);
    }

    [Fact]
    public void ReportFiles_WritesJsonMarkdownHtmlAndCharts()
    {
        var dir = Path.Combine(Path.GetTempPath(), "levee-drill-report-" + Guid.NewGuid().ToString("N")[..8]);
        try
        {
            var result = ReportFiles.Write(Sample(), dir);
            Assert.Equal(["report.json", "report.md", "report.html", "latency-p95.png", "db-queries.png", "errors.png", "stale-after-invalidation.png"], result.Files);
            foreach (var file in result.Files)
            {
                Assert.True(new FileInfo(Path.Combine(dir, file)).Length > 100, $"{file} is empty");
            }

            var png = File.ReadAllBytes(Path.Combine(dir, "db-queries.png"));
            Assert.Equal([0x89, (byte)'P', (byte)'N', (byte)'G'], png[..4]);
            Assert.Contains("<img src=\"latency-p95.png\"", File.ReadAllText(Path.Combine(dir, "report.html")), StringComparison.Ordinal);
        }
        finally
        {
            Directory.Delete(dir, recursive: true);
        }
    }
}
