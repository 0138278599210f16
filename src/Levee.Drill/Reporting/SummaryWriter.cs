using System.Globalization;
using System.Net;
using System.Text;

namespace Levee.Drill.Reporting;

/// <summary>The human-readable forms of a report: a Markdown table (also printed by the CLI) and an HTML page with the charts.</summary>
internal static class SummaryWriter
{
    private static readonly string[] Headers =
    [
        "client", "requests", "errors", "p95 baseline", "p95 fault", "p99 fault", "p95 fault, failures counted", "DB q/s baseline", "DB q/s fault peak",
        "DB amplification", "failover", "stale after invalidation (fault / recovery)", "of which > 1 s late", "recovery",
    ];

    public static IReadOnlyList<string[]> Rows(DrillReport report)
    {
        var rows = new List<string[]>();
        foreach (var run in report.Runs)
        {
            if (run.Status != "ran")
            {
                rows.Add([run.Client, run.Status, "", "", "", "", "", "", "", "", "", "", "", run.Note ?? ""]);
                continue;
            }

            rows.Add(
            [
                run.Client,
                Count(run.Requests),
                $"{Count(run.Errors)} ({Percent(run.Errors, run.Requests)})",
                Ms(run.Baseline?.P95Ms),
                Ms(run.Fault?.P95Ms),
                Ms(run.Fault?.P99Ms),
                Ms(run.Fault?.P95MsFailuresCounted),
                Num(run.Baseline?.DbQueriesPerSec),
                Num(run.Fault?.PeakDbQueriesPerSec),
                run.DbAmplification is { } a ? a.ToString("0.0", CultureInfo.InvariantCulture) + "x" : "n/a",
                Failover(run.Failover),
                $"{Count(run.StaleAfterInvalidation)} ({Count(run.Fault?.StaleAfterInvalidation ?? 0)} / {Count(run.Recovery?.StaleAfterInvalidation ?? 0)})",
                $"{Count(run.StaleAfterInvalidationLate)} ({Count(run.Fault?.StaleAfterInvalidationLate ?? 0)} / {Count(run.Recovery?.StaleAfterInvalidationLate ?? 0)})",
                run.RecoverySeconds is { } r ? r.ToString("0", CultureInfo.InvariantCulture) + " s after repair" : "not within the run",
            ]);
        }

        return rows;
    }

    public static string Markdown(DrillReport report)
    {
        var sb = new StringBuilder();
        var l = report.Load;
        sb.Append(CultureInfo.InvariantCulture, $"### levee drill --scenario {report.Scenario}{(report.Tls ? " --tls" : string.Empty)}{string.Concat(report.RedisConfig.Select(l => $" --redis-config \"{l}\""))} (seed {report.Seed})\n\n");
        sb.Append(CultureInfo.InvariantCulture, $"{report.Description}\n\n");
        sb.Append(CultureInfo.InvariantCulture,
            $"{report.StartedAt:yyyy-MM-dd HH:mm} UTC on {report.Machine.Host} ({report.Machine.Cores} cores, {report.Machine.Os}, {report.Machine.Runtime}). ");
        sb.Append(CultureInfo.InvariantCulture,
            $"Load: {l.RatePerSecond:0} req/s open loop over {l.Instances} instances (in-flight limit {l.InFlightLimitPerInstance} each), Zipf {l.ZipfExponent} over {l.Keys} keys, {l.WriteRatio:P0} writes. ");
        sb.Append(CultureInfo.InvariantCulture,
            $"Database: pool {l.DbPoolPerInstance} per instance, {l.DbQueryCostMs:0} ms per query, capacity about {l.DbCapacityQueriesPerSec:0} queries/s. ");
        sb.Append(CultureInfo.InvariantCulture,
            $"Phases: baseline {l.BaselineSeconds} s, fault {l.FaultSeconds} s, recovery {l.RecoverySeconds} s. ");
        var t = report.Topology;
        sb.Append(t.Kind == "cluster"
            ? string.Create(CultureInfo.InvariantCulture, $"Topology: Redis Cluster, {t.Masters} masters, {t.Replicas} replicas, cluster-node-timeout {t.DownAfterMs} ms.\n\n")
            : string.Create(CultureInfo.InvariantCulture, $"Topology: {t.Kind}, {t.Masters} master, {t.Replicas} replicas, {t.Sentinels} Sentinels, quorum {t.Quorum}, down-after {t.DownAfterMs} ms.\n\n"));
        sb.Append("| ").Append(string.Join(" | ", Headers)).Append(" |\n");
        sb.Append('|').Append(string.Concat(Enumerable.Repeat("---|", Headers.Length))).Append('\n');
        foreach (var row in Rows(report))
        {
            sb.Append("| ").Append(string.Join(" | ", row.Select(c => c.Replace("|", "\\|", StringComparison.Ordinal)))).Append(" |\n");
        }

        var ran = report.Runs.Where(r => r.Status == "ran").ToList();
        sb.Append(ran.Count > 0 ? "\n" : string.Empty);
        foreach (var run in ran)
        {
            sb.Append(CultureInfo.InvariantCulture, $"DB count, {run.Client}: PostgreSQL {Count(run.DbQueriesServer)} transactions, the clients {Count(run.DbQueriesClient)} queries");
            sb.Append(run.FaultDbTransactions is { } inFault && run.FaultFloorTransactions is { } floor
                ? string.Create(CultureInfo.InvariantCulture, $"; in the fault {Count(inFault)} transactions, floor {Count(floor)} (the fault's writes and first reads of a key's version by any instance)")
                : string.Empty);
            sb.Append(run.ChannelTransactions is > 0 and var channel
                ? string.Create(CultureInfo.InvariantCulture, $"; the invalidation channel {Count(channel)} transactions in its own database (NOTIFY, not in the DB figures)")
                : string.Empty);
            sb.Append(run.DbCountWarning is { } warning ? ". WARNING: " + warning : string.Empty);
            sb.Append("  \n");
        }

        AppendQueriesByOrigin(sb, ran);
        AppendReference(sb, ran);

        foreach (var run in ran)
        {
            if (Measurement.StaleReadLog.Summary(run.Client, run.StaleAfterInvalidation, run.StaleReads) is { } stale)
            {
                sb.Append('\n').Append(stale).Append('\n');
            }
        }

        foreach (var run in ran.Where(r => r.ErrorsByCause is { Count: > 0 }))
        {
            sb.Append(CultureInfo.InvariantCulture, $"\nErrors by cause, {run.Client} ({Count(run.Errors)}):\n\n| cause | errors | seconds of the run |\n|---|---|---|\n");
            foreach (var cause in run.ErrorsByCause!)
            {
                sb.Append("| ").Append(cause.Cause.Replace("|", "\\|", StringComparison.Ordinal)).Append(" | ").Append(Count(cause.Count)).Append(" | ")
                  .Append(Seconds(cause)).Append(" |\n");
            }
        }

        sb.Append("\nFaults: ").Append(string.Join("; ", report.Faults.Select(f => string.Create(CultureInfo.InvariantCulture, $"t={f.AtSecond:0.#} s {f.Action}")))).Append('\n');
        return sb.ToString();
    }

    public static string Html(DrillReport report, IReadOnlyList<string> charts)
    {
        var sb = new StringBuilder();
        sb.Append("<!doctype html><html><head><meta charset=\"utf-8\"><title>levee drill: ")
          .Append(WebUtility.HtmlEncode(report.Scenario))
          .Append("</title><style>body{font-family:system-ui,sans-serif;max-width:1000px;margin:2em auto;padding:0 1em;color:#222}")
          .Append("table{border-collapse:collapse;font-size:14px}td,th{border:1px solid #ccc;padding:4px 8px;text-align:right}")
          .Append("td:first-child,th:first-child{text-align:left}img{max-width:100%;border:1px solid #eee;margin:8px 0}</style></head><body>");
        sb.Append("<h1>levee drill: ").Append(WebUtility.HtmlEncode(report.Scenario)).Append("</h1><p>")
          .Append(WebUtility.HtmlEncode(report.Description)).Append("</p>");
        sb.Append("<p>").Append(WebUtility.HtmlEncode(string.Create(CultureInfo.InvariantCulture,
            $"{report.StartedAt:yyyy-MM-dd HH:mm} UTC, {report.Machine.Host}, {report.Machine.Cores} cores, seed {report.Seed}"))).Append("</p>");
        sb.Append("<table><tr>");
        foreach (var h in Headers)
        {
            sb.Append("<th>").Append(WebUtility.HtmlEncode(h)).Append("</th>");
        }

        sb.Append("</tr>");
        foreach (var row in Rows(report))
        {
            sb.Append("<tr>");
            foreach (var cell in row)
            {
                sb.Append("<td>").Append(WebUtility.HtmlEncode(cell)).Append("</td>");
            }

            sb.Append("</tr>");
        }

        sb.Append("</table><h2>Timeline</h2><p>Fault window shaded red; the dashed green line is the repair.</p>");
        foreach (var chart in charts)
        {
            sb.Append("<img src=\"").Append(WebUtility.HtmlEncode(chart)).Append("\" alt=\"").Append(WebUtility.HtmlEncode(chart)).Append("\">");
        }

        foreach (var run in report.Runs.Where(r => r.ErrorsByCause is { Count: > 0 }))
        {
            sb.Append("<h2>Errors by cause: ").Append(WebUtility.HtmlEncode(run.Client)).Append("</h2><table><tr><th>cause</th><th>errors</th><th>seconds of the run</th></tr>");
            foreach (var cause in run.ErrorsByCause!)
            {
                sb.Append("<tr><td>").Append(WebUtility.HtmlEncode(cause.Cause)).Append("</td><td>").Append(Count(cause.Count)).Append("</td><td>")
                  .Append(WebUtility.HtmlEncode(Seconds(cause))).Append("</td></tr>");
            }

            sb.Append("</table>");
        }

        sb.Append("<h2>Faults</h2><ul>");
        foreach (var f in report.Faults)
        {
            sb.Append("<li>").Append(WebUtility.HtmlEncode(string.Create(CultureInfo.InvariantCulture, $"t={f.AtSecond:0.#} s: {f.Action}"))).Append("</li>");
        }

        sb.Append("</ul><p>Raw data: <a href=\"report.json\">report.json</a></p></body></html>\n");
        return sb.ToString();
    }

    /// <summary>
    /// What each phase's database load was made of (the clients' count): reads a request waited for, background reads
    /// (refreshes, recovery, loads past their caller's timeout), warm-up reads and writes, in queries per second.
    /// </summary>
    private static void AppendQueriesByOrigin(StringBuilder sb, IReadOnlyList<ClientRun> ran)
    {
        var withKinds = ran.Where(r => r.Fault?.DbQueriesByKind is not null).ToList();
        if (withKinds.Count == 0)
        {
            return;
        }

        sb.Append("\nDatabase queries by origin, queries/s (the clients' count; a read is *background* when no request waited for it: a refresh, a recovery refresh, a load past its caller's timeout):\n\n");
        sb.Append("| client | phase | requests waited | background | warm-up | writes | total |\n|---|---|---|---|---|---|---|\n");
        foreach (var run in withKinds)
        {
            foreach (var (phase, block) in new[] { ("baseline", run.Baseline), ("fault", run.Fault), ("recovery", run.Recovery) })
            {
                if (block?.DbQueriesByKind is not { } k || block.Seconds == 0)
                {
                    continue;
                }

                double PerSecond(long n) => (double)n / block.Seconds;
                sb.Append(CultureInfo.InvariantCulture,
                    $"| {run.Client} | {phase} | {Num(PerSecond(k.Request))} | {Num(PerSecond(k.Background))} | {Num(PerSecond(k.WarmUp))} | {Num(PerSecond(k.Write))} | {Num(PerSecond(k.Total))} |\n");
            }
        }
    }

    /// <summary>The fault and recovery windows against the healthy reference run (<c>--reference</c>), each as faulted / healthy (ratio).</summary>
    private static void AppendReference(StringBuilder sb, IReadOnlyList<ClientRun> ran)
    {
        var compared = ran.Where(r => r.Reference is not null).ToList();
        if (compared.Count == 0)
        {
            return;
        }

        sb.Append("\nAgainst a healthy Redis (`--reference`: the same client, seed and phases with no fault; each cell is faulted / healthy, ratio):\n\n");
        sb.Append("| client | DB q/s, fault | DB q/s, fault's last 60 s | p95, fault | DB q/s, recovery | p95, recovery | healthy run: errors, stale after invalidation |\n|---|---|---|---|---|---|---|\n");
        foreach (var run in compared)
        {
            var h = run.Reference!;
            sb.Append(CultureInfo.InvariantCulture,
                $"| {run.Client} | {Versus(run.Fault?.DbQueriesPerSec, h.FaultDbQueriesPerSec, Num)} | {Versus(run.FaultLastMinuteDbQueriesPerSec, h.FaultLastMinuteDbQueriesPerSec, Num)} | {Versus(run.Fault?.P95Ms, h.FaultP95Ms, Ms)} | {Versus(run.Recovery?.DbQueriesPerSec, h.RecoveryDbQueriesPerSec, Num)} | {Versus(run.Recovery?.P95Ms, h.RecoveryP95Ms, Ms)} | {Count(h.Errors)}, {Count(h.StaleAfterInvalidation)} |\n");
        }
    }

    private static string Versus(double? faulted, double healthy, Func<double?, string> format) =>
        faulted is { } f && healthy > 0 && !double.IsInfinity(f)
            ? string.Create(CultureInfo.InvariantCulture, $"{format(f)} / {format(healthy)} ({f / healthy:0.00}x)")
            : $"{format(faulted)} / {format(healthy)}";

    private static string Seconds(ErrorCause cause) => cause.FirstSecond == cause.LastSecond
        ? cause.FirstSecond.ToString(CultureInfo.InvariantCulture)
        : string.Create(CultureInfo.InvariantCulture, $"{cause.FirstSecond}-{cause.LastSecond}");

    private static string Count(long value) => value.ToString("N0", CultureInfo.InvariantCulture);

    private static string Percent(long part, long total) =>
        total == 0 ? "0%" : ((double)part / total).ToString("0.#%", CultureInfo.InvariantCulture);

    private static string Num(double? value) => value is { } v ? v.ToString("0.#", CultureInfo.InvariantCulture) : "n/a";

    private static string Ms(double? value) => value switch
    {
        null => "n/a",
        double.PositiveInfinity => "failed",
        >= 1000 => (value.Value / 1000).ToString("0.0", CultureInfo.InvariantCulture) + " s",
        _ => value.Value.ToString("0.#", CultureInfo.InvariantCulture) + " ms",
    };

    private static string Failover(FailoverInfo? f) => f switch
    {
        null => "n/a",
        { Happened: true, Seconds: { } s } => string.Create(CultureInfo.InvariantCulture, $"yes, {s:0.0} s"),
        { Happened: true } => "yes",
        { ManualSwitchSeconds: { } m } => string.Create(CultureInfo.InvariantCulture, $"no (manual: {m:0.0} s)"),
        _ => "no",
    };
}
