using System.Globalization;
using System.Text;
using System.Text.Json;
using Levee.Drill;

namespace Levee.Benchmarks;

/// <summary>
/// <c>Levee.Benchmarks outage OUTDIR [--seed N] [--scenarios a,b] [--clients a,b] [--duration S] [--min-threads N]</c>: the drill's
/// <c>redis-outage</c> and <c>master-hang</c> scenarios with <c>naive</c>, <c>levee</c> and the peers
/// (<see cref="DrillPeers"/>) on one seed, through <see cref="DrillRunner.RunAsync"/>. Writes each scenario's drill
/// report to <c>OUTDIR/SCENARIO/</c> and one markdown table per scenario, read from the drill's report.json, to
/// <c>OUTDIR/outage.md</c>. <c>--min-threads N</c> (a diagnostic) raises the thread pool's minimum worker threads
/// before the drill (which itself raises it to 64): all 8 app instances share one process and one pool, so a
/// client that blocks pool threads stalls every instance at once.
/// </summary>
internal static class Outage
{
    public static readonly string[] DefaultScenarios = ["redis-outage", "master-hang"];
    public static readonly string[] DefaultClients = ["naive", "levee", "fusioncache", "hybridcache"];

    public static async Task<int> RunAsync(string[] args)
    {
        if (args.Length < 1 || args[0].StartsWith('-'))
        {
            Console.Error.WriteLine("usage: outage OUTDIR [--seed N] [--scenarios redis-outage,master-hang] [--clients naive,levee,fusioncache,hybridcache] [--duration S] [--min-threads N]");
            return 2;
        }

        var outDir = Path.GetFullPath(args[0]);
        ulong seed = 1;
        var scenarios = DefaultScenarios;
        var clients = DefaultClients;
        int? duration = null;
        for (var i = 1; i < args.Length; i++)
        {
            var value = i + 1 < args.Length ? args[i + 1] : throw new ArgumentException($"outage: {args[i]} needs a value");
            switch (args[i])
            {
                case "--seed": seed = ulong.Parse(value, CultureInfo.InvariantCulture); break;
                case "--scenarios": scenarios = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--clients": clients = value.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries); break;
                case "--duration": duration = int.Parse(value, CultureInfo.InvariantCulture); break;
                case "--min-threads":
                    var min = int.Parse(value, CultureInfo.InvariantCulture);
                    ThreadPool.GetMinThreads(out _, out var io);
                    ThreadPool.SetMinThreads(min, Math.Max(io, min));
                    break;
                default: throw new ArgumentException($"outage: unknown option {args[i]}");
            }

            i++;
        }

        Directory.CreateDirectory(outDir);
        var started = DateTimeOffset.UtcNow;
        var loadBefore = LoadAverage();
        var pool = new System.Collections.Concurrent.ConcurrentDictionary<string, (int Threads, long Queued)>(StringComparer.Ordinal);
        var progress = new Progress<DrillProgress>(p =>
        {
            var (threads, queued) = (ThreadPool.ThreadCount, ThreadPool.PendingWorkItemCount);
            if (p.Phase is "baseline" or "fault" or "recovery")
            {
                pool.AddOrUpdate(p.Client, (threads, queued), (_, old) => (Math.Max(old.Threads, threads), Math.Max(old.Queued, queued)));
            }

            if (p.Message is not null || p.Second % 10 == 0 || p.Phase == "fault")
            {
                Console.Error.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"outage: {p.Client} {p.Phase} {p.Second}/{p.TotalSeconds} s, {p.RequestsPerSec} req/s, {p.ErrorsPerSec} err/s, p95 {p.P95Ms:0.#} ms, db {p.DbQueriesPerSec}/s, in flight {p.InFlight}, pool threads {threads} (queued {queued}) {p.Message}"));
            }
        });

        var sections = new List<string>();
        foreach (var scenario in scenarios)
        {
            var options = new DrillOptions { Scenario = scenario, Seed = seed, FaultSeconds = duration, OutputDirectory = Path.Combine(outDir, scenario) };
            options.Clients.Clear();
            foreach (var client in clients)
            {
                options.Clients.Add(client);
            }

            foreach (var kind in DrillPeers.All)
            {
                options.ClientKinds.Add(kind);
            }

            pool.Clear();
            var result = await DrillRunner.RunAsync(options, progress).ConfigureAwait(false);
            var section = Section(result.Json, Path.GetRelativePath(outDir, Path.Combine(result.OutputDirectory, "report.json")));
            section += "\nThread pool of the drill process (all 8 instances share it), highest values seen once per second during the load (threads, queued work items): "
                + string.Join("; ", clients.Where(pool.ContainsKey).Select(c => string.Create(CultureInfo.InvariantCulture, $"{c} {pool[c].Threads} threads, {pool[c].Queued:N0} queued"))) + ".\n";
            sections.Add(section);
            Console.Error.WriteLine("outage: " + scenario + " done, report in " + result.OutputDirectory);
        }

        var command = "dotnet benchmarks/Levee.Benchmarks/bin/Release/net10.0/Levee.Benchmarks.dll outage " + string.Join(' ', args);
        var md = new StringBuilder();
        md.AppendLine(CultureInfo.InvariantCulture, $"Run: `{command}` on {started:yyyy-MM-dd HH:mm} UTC, {(DateTimeOffset.UtcNow - started).TotalMinutes:0.0} min (commit {Commit()}).");
        md.AppendLine(CultureInfo.InvariantCulture, $"Machine: {Environment.ProcessorCount} cores, {System.Runtime.InteropServices.RuntimeInformation.OSDescription}, .NET {Environment.Version}. Load average (1/5/15 min) before: {loadBefore}; after: {LoadAverage()}.");
        md.AppendLine();
        foreach (var section in sections)
        {
            md.AppendLine(section);
        }

        var path = Path.Combine(outDir, "outage.md");
        await File.WriteAllTextAsync(path, md.ToString()).ConfigureAwait(false);
        Console.WriteLine(md);
        Console.Error.WriteLine("outage: table written to " + path);
        return 0;
    }

    /// <summary>One scenario's table, read from the drill's report.json (numbers as the drill computed them).</summary>
    internal static string Section(string reportJson, string reportPath)
    {
        using var doc = JsonDocument.Parse(reportJson);
        var root = doc.RootElement;
        var load = root.GetProperty("load");
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"#### {root.GetProperty("scenario").GetString()} (seed {root.GetProperty("seed").GetUInt64()})").AppendLine();
        sb.AppendLine(CultureInfo.InvariantCulture,
            $"{load.GetProperty("ratePerSecond").GetDouble()} req/s open loop over {load.GetProperty("instances").GetInt32()} instances, Zipf {load.GetProperty("zipfExponent").GetDouble()} over {load.GetProperty("keys").GetInt32():N0} keys, {load.GetProperty("writeRatio").GetDouble() * 100} % writes; database capacity about {load.GetProperty("dbCapacityQueriesPerSec").GetDouble()} queries/s; phases {load.GetProperty("baselineSeconds").GetInt32()} / {load.GetProperty("faultSeconds").GetInt32()} / {load.GetProperty("recoverySeconds").GetInt32()} s. Faults: {string.Join("; ", root.GetProperty("faults").EnumerateArray().Select(f => $"t={f.GetProperty("atSecond").GetDouble()} s {f.GetProperty("action").GetString()}"))}. Drill report: `{reportPath}`.");
        sb.AppendLine();
        sb.AppendLine("| client | DB q/s baseline | DB q/s fault peak | DB amplification | p95 baseline | p95 fault | p99 fault | errors in the fault | errors, whole run | stale after invalidation (fault / recovery) | of which > 1 s late | recovery | failover |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|---:|---:|---:|---|---|---|---|");
        foreach (var run in root.GetProperty("runs").EnumerateArray())
        {
            var name = run.GetProperty("client").GetString();
            var status = run.GetProperty("status").GetString();
            if (status != "ran")
            {
                sb.AppendLine(CultureInfo.InvariantCulture, $"| {name} | {status}: {Str(run, "note")} |||||||||||");
                continue;
            }

            var baseline = run.GetProperty("baseline");
            var fault = run.GetProperty("fault");
            var recovery = run.GetProperty("recovery");
            var requests = run.GetProperty("requests").GetInt64();
            var errors = run.GetProperty("errors").GetInt64();
            var faultErrors = fault.GetProperty("errors").GetInt64();
            var failover = run.TryGetProperty("failover", out var f) && f.ValueKind == JsonValueKind.Object
                ? (f.GetProperty("happened").GetBoolean() ? $"yes, {Num(f, "seconds")} s" : "no")
                : "";
            var recoverySeconds = Num(run, "recoverySeconds");
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {name} | {Num(baseline, "dbQueriesPerSec")} | {Num(fault, "peakDbQueriesPerSec")} | {Num(run, "dbAmplification")}x | {Ms(baseline, "p95Ms")} | {Ms(fault, "p95Ms")} | {Ms(fault, "p99Ms")} | {faultErrors:N0} of {fault.GetProperty("requests").GetInt64():N0} | {errors:N0} of {requests:N0} ({(requests > 0 ? 100.0 * errors / requests : 0):0.#}%) | {run.GetProperty("staleAfterInvalidation").GetInt64():N0} ({fault.GetProperty("staleAfterInvalidation").GetInt64():N0} / {recovery.GetProperty("staleAfterInvalidation").GetInt64():N0}) | {Long(run, "staleAfterInvalidationLate"):N0} ({Long(fault, "staleAfterInvalidationLate"):N0} / {Long(recovery, "staleAfterInvalidationLate"):N0}) | {(recoverySeconds == "" ? "not within the run" : recoverySeconds + " s after repair")} | {failover} |");
        }

        sb.AppendLine();
        sb.AppendLine("Clients: " + string.Join("; ", root.GetProperty("runs").EnumerateArray().Select(r => $"`{r.GetProperty("client").GetString()}` = {r.GetProperty("description").GetString()}")) + ".");
        return sb.ToString();
    }

    private static string Str(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.String ? v.GetString()! : "";

    private static long Long(JsonElement e, string name) => e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetInt64() : 0;

    private static string Num(JsonElement e, string name) =>
        e.TryGetProperty(name, out var v) && v.ValueKind == JsonValueKind.Number ? v.GetDouble().ToString("0.#", CultureInfo.InvariantCulture) : "";

    private static string Ms(JsonElement e, string name)
    {
        if (!e.TryGetProperty(name, out var v) || v.ValueKind != JsonValueKind.Number)
        {
            return "";
        }

        var ms = v.GetDouble();
        return ms >= 1000 ? (ms / 1000).ToString("0.0", CultureInfo.InvariantCulture) + " s" : ms.ToString("0.#", CultureInfo.InvariantCulture) + " ms";
    }

    private static string LoadAverage()
    {
        try
        {
            return string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));
        }
        catch (IOException)
        {
            return "unknown";
        }
    }

    private static string Commit()
    {
        try
        {
            using var git = System.Diagnostics.Process.Start(new System.Diagnostics.ProcessStartInfo("git", "rev-parse --short HEAD") { RedirectStandardOutput = true, RedirectStandardError = true });
            var sha = git!.StandardOutput.ReadToEnd().Trim();
            git.WaitForExit();
            return git.ExitCode == 0 ? sha : "unknown";
        }
        catch (System.ComponentModel.Win32Exception)
        {
            return "unknown";
        }
    }
}
