using System.Globalization;
using Levee.Drill.Catalog;
using Levee.Drill.Clients;
using Levee.Drill.Load;
using Levee.Drill.Measurement;
using Levee.Drill.Reporting;
using Levee.Drill.Running;
using Levee.Drill.Scenarios;

namespace Levee.Drill;

/// <summary>
/// Runs a drill: for each client in turn, a fresh Redis topology and database, the same seeded load and
/// the same faults; then writes <c>report.json</c>, <c>report.md</c>, <c>report.html</c> and PNG charts.
/// </summary>
public static class DrillRunner
{
    /// <summary>The scenarios, in <c>--list</c> order.</summary>
    public static IReadOnlyList<DrillScenarioInfo> Scenarios { get; } =
        ScenarioCatalog.All.Select(s => new DrillScenarioInfo(s.Name, s.Description, s.Implemented, s.NotImplementedReason)).ToList();

    /// <summary>
    /// Runs the drill described by <paramref name="options"/>. Throws <see cref="ArgumentException"/> for invalid
    /// options and <see cref="DrillException"/> when the drill cannot run (e.g. a missing binary); a drill that
    /// ran returns its result whatever it found.
    /// </summary>
    public static async Task<DrillResult> RunAsync(DrillOptions options, IProgress<DrillProgress>? progress = null, CancellationToken cancellationToken = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        var problems = options.Validate();
        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid drill options: " + string.Join("; ", problems));
        }

        var scenario = ScenarioCatalog.Find(options.Scenario)!;
        if (!scenario.Implemented)
        {
            throw new DrillException($"scenario '{scenario.Name}' is not implemented yet: {scenario.NotImplementedReason}");
        }

        var defaults = scenario.DefaultPhases;
        var plan = new PhasePlan(
            options.BaselineSeconds ?? defaults.BaselineSeconds,
            options.FaultSeconds ?? defaults.FaultSeconds,
            options.RecoverySeconds ?? defaults.RecoverySeconds);

        // many requests await Redis/PostgreSQL at once; StackExchange.Redis blocks a thread in a few paths
        ThreadPool.GetMinThreads(out var worker, out var io);
        ThreadPool.SetMinThreads(Math.Max(worker, 64), Math.Max(io, 64));

        var startedAt = TimeProvider.System.GetUtcNow(); // the report's wall-clock stamp
        var shape = new CatalogShape(options.Products, options.Categories, options.Users, options.Seed);
        var zipf = new ZipfSampler(shape.KeysByPopularity.Count, options.ZipfExponent);
        var runs = new List<ClientRun>();
        var pids = new HashSet<int>();

        var registered = options.ClientKinds.ToList();
        var kinds = options.Clients.Distinct(StringComparer.Ordinal).Select(name => ClientKinds.Create(name, registered)).ToList();
        var postgresVersion = "not started";
        if (kinds.Any(k => k.UnavailableReason is null))
        {
            progress?.Report(new DrillProgress("-", "starting", 0, plan.TotalSeconds, 0, 0, 0, 0, "starting PostgreSQL and seeding the catalog"));
            await using var postgres = await DrillPostgres.StartAsync(cancellationToken).ConfigureAwait(false);
            pids.UnionWith(postgres.ProcessIds);
            postgresVersion = postgres.Version;
            await CatalogDatabase.CreateTemplateAsync(postgres.AdminConnectionString, shape, options.Seed, cancellationToken).ConfigureAwait(false);
            foreach (var kind in kinds)
            {
                if (kind.UnavailableReason is null)
                {
                    var drill = new ClientDrill(scenario, plan, kind, options, shape, zipf, postgres.AdminConnectionString, progress);
                    try
                    {
                        var run = await drill.RunAsync(cancellationToken).ConfigureAwait(false);
                        if (options.Reference)
                        {
                            var healthy = new ClientDrill(scenario.Healthy(), plan, kind, options, shape, zipf, postgres.AdminConnectionString, progress, kind.Name + " (healthy reference)");
                            try
                            {
                                run = run with { Reference = ReferenceRun.Of(await healthy.RunAsync(cancellationToken).ConfigureAwait(false)) };
                            }
                            finally
                            {
                                pids.UnionWith(healthy.StartedProcessIds);
                            }
                        }

                        runs.Add(run);
                    }
#pragma warning disable CA1031 // one client's failure is reported in its row; the other clients still run
                    catch (Exception ex) when (ex is not OperationCanceledException)
#pragma warning restore CA1031
                    {
                        runs.Add(ClientRun.NotRun(kind.Name, kind.Description, "failed", ex.GetType().Name + ": " + ex.Message));
                        progress?.Report(new DrillProgress(kind.Name, "done", 0, plan.TotalSeconds, 0, 0, 0, 0, "failed: " + ex.Message));
                    }
                    finally
                    {
                        pids.UnionWith(drill.StartedProcessIds);
                    }

                    progress?.Report(new DrillProgress(kind.Name, "done", plan.TotalSeconds, plan.TotalSeconds, 0, 0, 0, 0, "done"));
                }
                else
                {
                    runs.Add(NotRun(kind, progress, plan));
                }
            }
        }
        else
        {
            runs.AddRange(kinds.Select(k => NotRun(k, progress, plan)));
        }

        if (runs.Count > 0 && runs.All(r => r.Status == "failed"))
        {
            throw new DrillException("every client run failed; the first: " + runs[0].Note);
        }

        var report = new DrillReport(
            scenario.Name,
            scenario.Description,
            options.Seed,
            startedAt,
            new MachineInfo(Environment.MachineName, Environment.ProcessorCount, System.Runtime.InteropServices.RuntimeInformation.OSDescription, "dotnet " + Environment.Version),
            new LoadSettings(
                options.Rate,
                options.Instances,
                options.InFlightLimit,
                options.DbPoolSize,
                options.DbQueryCostMs,
                options.DbQueryCostMs > 0 ? Math.Round(options.Instances * options.DbPoolSize * 1000 / options.DbQueryCostMs, 0) : double.PositiveInfinity,
                shape.KeysByPopularity.Count,
                options.ZipfExponent,
                options.WriteRatio,
                plan.BaselineSeconds,
                plan.FaultSeconds,
                plan.RecoverySeconds),
            new TopologyInfo(scenario.Topology.Kind, scenario.Topology.Kind == "cluster" ? 3 : 1, scenario.Topology.Replicas, scenario.Topology.Sentinels, scenario.Topology.Quorum, scenario.Topology.DownAfterMs, postgresVersion),
            [
                new FaultStep(plan.FaultStart, "fault: " + scenario.FaultSummary),
                new FaultStep(plan.RecoveryStart, "repair: " + scenario.RepairSummary),
            ],
            runs) { Tls = options.Tls, RedisConfig = [.. options.RedisConfig] };

        return ReportFiles.Write(report, options.OutputDirectory) with { StartedProcessIds = [.. pids] };
    }

    private static ClientRun NotRun(IDrillClientKind kind, IProgress<DrillProgress>? progress, PhasePlan plan)
    {
        progress?.Report(new DrillProgress(kind.Name, "done", 0, plan.TotalSeconds, 0, 0, 0, 0, "not run: " + kind.UnavailableReason));
        return ClientRun.NotRun(kind.Name, kind.Description, "not run", kind.UnavailableReason!);
    }
}

/// <summary>A scenario as <c>levee drill --list</c> shows it.</summary>
/// <param name="Name">The <c>--scenario</c> value.</param>
/// <param name="Description">What it does.</param>
/// <param name="Implemented">False for scenarios listed but not written yet.</param>
/// <param name="NotImplementedReason">Why not, when not.</param>
public sealed record DrillScenarioInfo(string Name, string Description, bool Implemented, string? NotImplementedReason);

/// <summary>A finished drill: where its files are and its summary.</summary>
/// <param name="OutputDirectory">The report folder (absolute).</param>
/// <param name="Files">Files written there (report.json, report.md, report.html, PNG charts).</param>
/// <param name="SummaryMarkdown">The summary table (also in report.md).</param>
/// <param name="Json">The content of report.json.</param>
public sealed record DrillResult(string OutputDirectory, IReadOnlyList<string> Files, string SummaryMarkdown, string Json)
{
    /// <summary>Every process the drill started (all stopped when it returns); lets a test check nothing was left behind.</summary>
    public IReadOnlyList<int> StartedProcessIds { get; init; } = [];
}

/// <summary>The drill could not run (a missing binary, a process that would not start); the message says what to do.</summary>
public sealed class DrillException : Exception
{
    /// <summary>Creates the exception.</summary>
    public DrillException()
    {
    }

    /// <summary>Creates the exception with a message.</summary>
    public DrillException(string message)
        : base(message)
    {
    }

    /// <summary>Creates the exception with a message and cause.</summary>
    public DrillException(string message, Exception innerException)
        : base(message, innerException)
    {
    }
}

/// <summary>Writes the report's files.</summary>
internal static class ReportFiles
{
    public static DrillResult Write(DrillReport report, string directory)
    {
        var full = Path.GetFullPath(directory);
        Directory.CreateDirectory(full);
        var json = report.ToJson();
        File.WriteAllText(Path.Combine(full, "report.json"), json);
        var markdown = SummaryWriter.Markdown(report);
        var charts = ChartRenderer.Render(report, full);
        var md = markdown + "\n" + string.Concat(charts.Select(c => string.Create(CultureInfo.InvariantCulture, $"![{c}]({c})\n")));
        File.WriteAllText(Path.Combine(full, "report.md"), md);
        File.WriteAllText(Path.Combine(full, "report.html"), SummaryWriter.Html(report, charts));
        return new DrillResult(full, ["report.json", "report.md", "report.html", .. charts], markdown, json);
    }
}
