using ScottPlot;

namespace Levee.Drill.Reporting;

/// <summary>
/// Renders the report's charts as PNG with ScottPlot (headless): p95 latency, PostgreSQL queries per
/// second, errors per second and stale-after-invalidation reads per second over time, one line per client, the fault window shaded.
/// </summary>
internal static class ChartRenderer
{
    private const int Width = 900;
    private const int Height = 380;

    /// <summary>Writes the charts into <paramref name="directory"/>; returns the file names written.</summary>
    public static IReadOnlyList<string> Render(DrillReport report, string directory)
    {
        var runs = report.Runs.Where(r => r.Timeline is { Count: > 0 }).ToList();
        if (runs.Count == 0)
        {
            return [];
        }

        var files = new List<string>
        {
            Chart(report, runs, directory, "latency-p95.png", "p95 latency (log scale, by scheduled start)", p => p.P95Ms, logScale: true),
            Chart(report, runs, directory, "db-queries.png", "PostgreSQL queries per second (pg_stat_database)", p => p.DbQueries, logScale: false),
            Chart(report, runs, directory, "errors.png", "errors per second (incl. refused)", p => p.Errors, logScale: false),
            Chart(report, runs, directory, "stale-after-invalidation.png", "stale-after-invalidation reads per second", p => p.StaleAfterInvalidation, logScale: false),
        };
        return files;
    }

    private static string Chart(DrillReport report, List<ClientRun> runs, string directory, string file, string title, Func<TimelinePoint, double> value, bool logScale)
    {
        var plot = new Plot();
        var load = report.Load;
        var faultStart = load.BaselineSeconds;
        var repair = load.BaselineSeconds + load.FaultSeconds;
        var span = plot.Add.HorizontalSpan(faultStart, repair);
        span.FillColor = Colors.Red.WithAlpha(0.10);
        span.LineColor = Colors.Red.WithAlpha(0.30);
        span.LegendText = "fault";
        var line = plot.Add.VerticalLine(repair);
        line.Color = Colors.Green.WithAlpha(0.6);
        line.LinePattern = LinePattern.Dashed;
        line.LegendText = "repair";

        Color[] palette = [Colors.Red, Colors.DarkOrange, Colors.Blue, Colors.Purple, Colors.Gray];
        var i = 0;
        foreach (var run in runs)
        {
            // a second whose requests were all refused has no latency: leave it out of the latency chart
            var points = logScale ? run.Timeline!.Where(p => p.Requests > p.Refused).ToList() : run.Timeline!.ToList();
            var xs = points.Select(p => (double)p.Second).ToArray();
            var ys = points.Select(p => logScale ? Math.Log10(Math.Max(value(p), 0.1)) : value(p)).ToArray();
            var scatter = plot.Add.ScatterLine(xs, ys);
            scatter.LegendText = run.Client;
            scatter.Color = palette[i++ % palette.Length];
            scatter.LineWidth = 2;
        }

        if (logScale)
        {
            var ticks = new ScottPlot.TickGenerators.NumericManual();
            double[] ms = [0.1, 1, 10, 100, 1000, 10000, 100000];
            string[] labels = ["0.1 ms", "1 ms", "10 ms", "100 ms", "1 s", "10 s", "100 s"];
            for (var k = 0; k < ms.Length; k++)
            {
                ticks.AddMajor(Math.Log10(ms[k]), labels[k]);
            }

            plot.Axes.Left.TickGenerator = ticks;
        }

        plot.Title($"{report.Scenario}: {title}");
        plot.XLabel("seconds since start of load");
        plot.ShowLegend(Alignment.UpperLeft);
        plot.Axes.AutoScale();
        var path = Path.Combine(directory, file);
        plot.SavePng(path, Width, Height);
        return file;
    }
}
