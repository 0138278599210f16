using System.Globalization;
using System.Text;
using System.Text.Json;

namespace Levee.Benchmarks;

/// <summary>
/// Turns BenchmarkDotNet's <c>*-report-full.json</c> files into markdown tables (median and mean ns/op, allocated
/// bytes/op, ratio to the floor, and Levee's time divided by each line's) and writes them between marker comments in
/// docs/benchmarks.md and docs/l1-store.md, leaving the hand-written text around them untouched.
/// </summary>
internal static class Report
{
    private sealed record Row(string Method, string Title, double Min, double Median, double Mean, long Allocated);

    private sealed record Section(string Type, string Heading, string? Floor, string Levee, string Note);

    private static readonly Section[] Sections =
    [
        new("L1HitBenchmarks", "L1 hit (GetOrCreateAsync on a warm key, 1,000-key working set)", "Floor_FastConcurrentLru", "Levee_AsHybridCache",
            "One operation = one lookup. Floor = BitFaster FastConcurrentLru.TryGet, the store under Levee's L1."),
        new("L2HitBenchmarks", "L2 hit (L1 skipped, value in a loopback redis-server)", "Floor_StringGetAsync", "Levee_AsHybridCache",
            "One operation = one call. Floor = one raw StackExchange.Redis StringGetAsync of the same bytes."),
        new("StampedeBenchmarks", "Cold-key stampede (1,000 concurrent callers of one key, 1 ms factory)", null, "Levee",
            "One operation = the whole stampede (all 1,000 callers answered). Factory calls: see the next table."),
        new("ThroughputBenchmarks", "Throughput (2 threads, Zipf over 10,000 keys, 99% GetOrCreate / 1% Remove, Redis L2)", "Floor_FastConcurrentLru", "Levee",
            "One operation = one call; ops/s of the two threads together = 1e9 / ns per op. Floor = FastConcurrentLru GetOrAdd/TryRemove without L2."),
    ];

    /// <summary>
    /// report &lt;artifacts dir&gt; &lt;header.md&gt; &lt;docs/benchmarks.md&gt; &lt;docs/l1-store.md&gt;; also reads
    /// stampede-calls.md, stampede-anatomy.md, paired-*.md, remove-anatomy.md and throughput-breakdown.txt from the artifacts dir when present.
    /// </summary>
    public static int Run(string[] args)
    {
        if (args.Length != 4)
        {
            Console.Error.WriteLine("usage: report <artifacts dir> <header.md> <docs/benchmarks.md> <docs/l1-store.md>");
            return 2;
        }

        var (artifacts, header, benchmarksDoc, l1Doc) = (args[0], args[1], args[2], args[3]);
        var stampedeCalls = Path.Combine(artifacts, "stampede-calls.md");
        string? Paired(string name)
        {
            var path = Path.Combine(artifacts, $"paired-{name}.md");
            return File.Exists(path) ? File.ReadAllText(path).TrimEnd() : null;
        }

        var all = new StringBuilder();
        all.AppendLine(File.ReadAllText(header).TrimEnd()).AppendLine();
        string? l1Table = null;
        foreach (var section in Sections)
        {
            var file = Directory.GetFiles(artifacts, $"*.{section.Type}-report-full.json", SearchOption.AllDirectories)
                .OrderByDescending(File.GetLastWriteTimeUtc).FirstOrDefault();
            all.AppendLine(CultureInfo.InvariantCulture, $"### {section.Heading}").AppendLine();
            if (file is null)
            {
                all.AppendLine("Not run (no results found).").AppendLine();
                continue;
            }

            var table = Table(Read(file), section);
            all.AppendLine(section.Note).AppendLine().Append(table).AppendLine();
            if (section.Type == "StampedeBenchmarks" && File.Exists(stampedeCalls))
            {
                all.AppendLine("Factory calls per stampede (`Levee.Benchmarks stampede-calls`):").AppendLine();
                all.AppendLine(File.ReadAllText(stampedeCalls).TrimEnd()).AppendLine();
            }

            var stampedeAnatomy = Path.Combine(artifacts, "stampede-anatomy.md");
            if (section.Type == "StampedeBenchmarks" && File.Exists(stampedeAnatomy))
            {
                all.AppendLine("A stampede by phase (`Levee.Benchmarks stampede-anatomy 40`):").AppendLine();
                all.AppendLine(File.ReadAllText(stampedeAnatomy).TrimEnd()).AppendLine();
            }

            if (section.Type == "L1HitBenchmarks")
            {
                l1Table = table;
            }
        }

        if (Paired("l1") is { } pl1)
        {
            all.AppendLine("### Cross-check: the same contenders interleaved in one process (`Levee.Benchmarks paired`)").AppendLine();
            all.AppendLine(pl1).AppendLine();
            all.AppendLine(Paired("l2") ?? "").AppendLine();
            all.AppendLine(Paired("stampede") ?? "").AppendLine();
            all.AppendLine("### Anatomy of an L1 hit (`Levee.Benchmarks paired`, evidence for the engine notes)").AppendLine();
            all.AppendLine(Paired("anatomy") ?? "").AppendLine();
        }

        var removeAnatomy = Path.Combine(artifacts, "remove-anatomy.md");
        if (File.Exists(removeAnatomy))
        {
            all.AppendLine("### Anatomy of a removal (`Levee.Benchmarks remove-anatomy`, evidence for the engine notes)").AppendLine();
            all.AppendLine(File.ReadAllText(removeAnatomy).TrimEnd()).AppendLine();
        }

        var breakdown = Path.Combine(artifacts, "throughput-breakdown.txt");
        if (File.Exists(breakdown))
        {
            all.AppendLine("### The throughput workload by kind of call (`Levee.Benchmarks throughput-breakdown 4 100000`)").AppendLine();
            all.AppendLine("Round 0 includes JIT warm-up. CPU = this process' CPU time per operation (all its threads; Redis not included).").AppendLine();
            all.AppendLine("```").AppendLine(File.ReadAllText(breakdown).TrimEnd()).AppendLine("```").AppendLine();
        }

        Replace(benchmarksDoc, "results", all.ToString());
        if (l1Table is not null)
        {
            var l1 = File.ReadAllText(header).TrimEnd() + "\n\nBenchmarkDotNet (`--filter '*L1Hit*'`), one process per line:\n\n" + l1Table;
            if (Paired("l1") is { } p)
            {
                l1 += "\nCross-check, all lines interleaved in one process (`Levee.Benchmarks paired`):\n\n" + p + "\n";
            }

            Replace(l1Doc, "l1", l1);
        }

        Console.WriteLine(all);
        return 0;
    }

    /// <summary>
    /// report-outage &lt;outage.md&gt; &lt;docs/benchmarks.md&gt;: writes the table of <c>Levee.Benchmarks outage</c> between the
    /// <c>bench:outage</c> markers (the text around them, including the interpretation, is left alone), and copies each
    /// scenario's p95 and database charts from the drill reports next to outage.md into <c>docs/outage/</c>.
    /// </summary>
    public static int RunOutage(string[] args)
    {
        if (args.Length != 2)
        {
            Console.Error.WriteLine("usage: report-outage <outage.md> <docs/benchmarks.md>");
            return 2;
        }

        var (outageMd, doc) = (args[0], args[1]);
        if (!File.Exists(outageMd))
        {
            Console.Error.WriteLine($"report-outage: {outageMd} not found (run `Levee.Benchmarks outage DIR` first)");
            return 1;
        }

        var content = new StringBuilder(File.ReadAllText(outageMd).TrimEnd()).AppendLine().AppendLine();
        var charts = Path.Combine(Path.GetDirectoryName(Path.GetFullPath(doc))!, "outage");
        foreach (var report in Directory.GetFiles(Path.GetDirectoryName(Path.GetFullPath(outageMd))!, "report.json", SearchOption.AllDirectories).Order(StringComparer.Ordinal))
        {
            var dir = Path.GetDirectoryName(report)!;
            var scenario = Path.GetFileName(dir);
            foreach (var (png, title) in new[] { ("latency-p95.png", "p95 latency"), ("db-queries.png", "PostgreSQL queries per second") })
            {
                if (File.Exists(Path.Combine(dir, png)))
                {
                    Directory.CreateDirectory(charts);
                    File.Copy(Path.Combine(dir, png), Path.Combine(charts, $"{scenario}-{png}"), overwrite: true);
                    content.AppendLine(CultureInfo.InvariantCulture, $"![{scenario}: {title}](outage/{scenario}-{png})");
                }
            }
        }

        Replace(doc, "outage", content.ToString());
        return 0;
    }

    private static List<Row> Read(string file)
    {
        using var doc = JsonDocument.Parse(File.ReadAllText(file));
        var rows = new List<Row>();
        foreach (var b in doc.RootElement.GetProperty("Benchmarks").EnumerateArray())
        {
            if (!b.TryGetProperty("Statistics", out var stats) || stats.ValueKind != JsonValueKind.Object)
            {
                rows.Add(new Row(b.GetProperty("Method").GetString()!, Title(b), double.NaN, double.NaN, double.NaN, -1));
                continue;
            }

            var allocated = b.TryGetProperty("Memory", out var mem) && mem.ValueKind == JsonValueKind.Object
                ? mem.GetProperty("BytesAllocatedPerOperation").GetInt64()
                : -1;
            rows.Add(new Row(b.GetProperty("Method").GetString()!, Title(b), stats.GetProperty("Min").GetDouble(),
                stats.GetProperty("Median").GetDouble(), stats.GetProperty("Mean").GetDouble(), allocated));
        }

        return rows;
    }

    private static string Title(JsonElement b) => b.GetProperty("MethodTitle").GetString()!.Trim('\'');

    private static string Table(List<Row> rows, Section section)
    {
        var floor = rows.FirstOrDefault(r => r.Method == section.Floor);
        var levee = rows.FirstOrDefault(r => r.Method == section.Levee);
        var sb = new StringBuilder();
        sb.AppendLine("| Benchmark | Min ns/op | Median ns/op | Mean ns/op | Allocated B/op | ÷ floor (min) | Levee ÷ this (min) |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|");
        foreach (var r in rows)
        {
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {r.Title} | {N(r.Min)} | {N(r.Median)} | {N(r.Mean)} | {(r.Allocated < 0 ? "?" : r.Allocated.ToString("N0", CultureInfo.InvariantCulture))} | {Ratio(r.Min, floor?.Min)} | {Ratio(levee?.Min, r.Min)} |");
        }

        return sb.ToString();
    }

    private static string N(double v) => double.IsNaN(v) ? "failed" : v.ToString(v < 100 ? "N2" : "N0", CultureInfo.InvariantCulture);

    private static string Ratio(double? a, double? b) =>
        a is { } x && b is { } y && !double.IsNaN(x) && !double.IsNaN(y) && y > 0 ? (x / y).ToString("0.00", CultureInfo.InvariantCulture) : "";

    private static void Replace(string path, string marker, string content)
    {
        var begin = $"<!-- bench:{marker}:begin (written by benchmarks/run.sh) -->";
        var end = $"<!-- bench:{marker}:end -->";
        var text = File.Exists(path) ? File.ReadAllText(path) : "";
        var i = text.IndexOf(begin, StringComparison.Ordinal);
        var j = text.IndexOf(end, StringComparison.Ordinal);
        var block = begin + "\n" + content.TrimEnd() + "\n" + end;
        text = i >= 0 && j > i ? string.Concat(text.AsSpan(0, i), block, text.AsSpan(j + end.Length)) : text.TrimEnd() + "\n\n" + block + "\n";
        File.WriteAllText(path, text);
    }
}
