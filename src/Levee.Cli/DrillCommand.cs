using System.CommandLine;
using System.Globalization;
using Levee.Drill;
using Levee.Drill.Topology;

namespace Levee.Cli;

/// <summary>
/// <c>levee drill</c>: parses options, runs <see cref="DrillRunner"/>, prints progress and the summary.
/// Exit codes: 0 the drill ran (whatever it found); 1 it could not run (message says why and what to install);
/// 2 invalid options; 130 interrupted.
/// </summary>
internal static class DrillCommand
{
    public static Command Create()
    {
        var scenario = new Option<string>("--scenario") { Description = "Scenario to run (see --list)", DefaultValueFactory = _ => "incident" };
        var list = new Option<bool>("--list") { Description = "List the scenarios and exit" };
        var clients = new Option<string>("--clients") { Description = "Clients to compare, comma-separated: naive,postmortem,levee (with the PostgreSQL invalidation channel),levee-no-share (the channel without value sharing),levee-redis-only,levee-warmup (levee-redis-only with warm-up + readiness)", DefaultValueFactory = _ => "naive,postmortem,levee" };
        var instances = new Option<int>("--instances") { Description = "App instances, each with its own cache client and DB pool", DefaultValueFactory = _ => 8 };
        var rate = new Option<double>("--rate") { Description = "Open-loop arrival rate over all instances, requests/s", DefaultValueFactory = _ => 300 };
        var users = new Option<double?>("--users") { Description = "Alias of --rate (virtual users arriving per second)" };
        var duration = new Option<int?>("--duration") { Description = "Fault phase length, seconds (scenario default 30)" };
        var baseline = new Option<int?>("--baseline") { Description = "Baseline phase length, seconds (scenario default 10)" };
        var recovery = new Option<int?>("--recovery") { Description = "Recovery phase length, seconds (scenario default 20)" };
        var seed = new Option<ulong>("--seed") { Description = "Seed of load and catalog", DefaultValueFactory = _ => 1UL };
        var output = new Option<string>("--out") { Description = "Report folder", DefaultValueFactory = _ => "drill-report" };
        var format = new Option<string>("--format") { Description = "Summary on stdout: text or json", DefaultValueFactory = _ => "text" };
        format.AcceptOnlyFromAmong("text", "json");
        var inFlight = new Option<int>("--in-flight-limit") { Description = "Requests in flight per instance before refusing", DefaultValueFactory = _ => 128 };
        var dbPool = new Option<int>("--db-pool") { Description = "PostgreSQL pool size per instance", DefaultValueFactory = _ => 3 };
        var dbCost = new Option<double>("--db-cost-ms") { Description = "Cost of every DB query (pg_sleep), ms", DefaultValueFactory = _ => 100 };
        var reference = new Option<bool>("--reference") { Description = "Also run each client with no fault (same scenario, seed and phases) and report the fault and recovery windows against it: what the same seconds cost with a healthy Redis. Doubles the time" };
        var tls = new Option<bool>("--tls") { Description = "Redis and Sentinel listen on TLS only (certificates made with openssl in the run's temp folder, client certificates required); every client connects with TLS" };
        var redisConfig = new Option<string[]>("--redis-config") { Description = "An extra redis.conf line for every Redis data node, e.g. \"cluster-allow-reads-when-down yes\" (repeatable; not the ports, folders, TLS or Cluster wiring the drill sets)", AllowMultipleArgumentsPerToken = false };

        var command = new Command("drill", "Reproduce Redis failures against real processes and measure what users and the database saw")
        {
            scenario, list, clients, instances, rate, users, duration, baseline, recovery, seed, output, format, inFlight, dbPool, dbCost, tls, redisConfig, reference,
        };

        command.SetAction(async (parse, cancellationToken) =>
        {
            if (parse.GetValue(list))
            {
                foreach (var s in DrillRunner.Scenarios)
                {
                    var note = s.Implemented ? string.Empty : $" [not implemented yet: {s.NotImplementedReason}]";
                    parse.InvocationConfiguration.Output.WriteLine($"{s.Name,-22} {s.Description}{note}");
                }

                return 0;
            }

            var options = new DrillOptions
            {
                Scenario = parse.GetValue(scenario)!,
                Instances = parse.GetValue(instances),
                Rate = parse.GetValue(users) ?? parse.GetValue(rate),
                FaultSeconds = parse.GetValue(duration),
                BaselineSeconds = parse.GetValue(baseline),
                RecoverySeconds = parse.GetValue(recovery),
                Seed = parse.GetValue(seed),
                OutputDirectory = parse.GetValue(output)!,
                InFlightLimit = parse.GetValue(inFlight),
                DbPoolSize = parse.GetValue(dbPool),
                DbQueryCostMs = parse.GetValue(dbCost),
                Tls = parse.GetValue(tls),
                Reference = parse.GetValue(reference),
            };
            foreach (var line in parse.GetValue(redisConfig) ?? [])
            {
                options.RedisConfig.Add(line);
            }

            options.Clients.Clear();
            foreach (var c in parse.GetValue(clients)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
            {
                options.Clients.Add(c);
            }

            var problems = options.Validate();
            if (problems.Count > 0)
            {
                await parse.InvocationConfiguration.Error.WriteLineAsync("levee drill: " + string.Join("; ", problems)).ConfigureAwait(false);
                return 2;
            }

            var json = parse.GetValue(format) == "json";
            try
            {
                var result = await DrillRunner.RunAsync(options, new DrillProgressPrinter(Console.Error), cancellationToken).ConfigureAwait(false);
                if (json)
                {
                    await Console.Out.WriteLineAsync(result.Json).ConfigureAwait(false);
                }
                else
                {
                    await Console.Out.WriteLineAsync(result.SummaryMarkdown).ConfigureAwait(false);
                    await Console.Out.WriteLineAsync(string.Create(CultureInfo.InvariantCulture, $"report: {result.OutputDirectory} ({string.Join(", ", result.Files)})")).ConfigureAwait(false);
                }

                return 0;
            }
            catch (OperationCanceledException) when (cancellationToken.IsCancellationRequested)
            {
                await Console.Error.WriteLineAsync("levee drill: interrupted; every process it started was stopped").ConfigureAwait(false);
                return 130;
            }
            catch (Exception ex) when (ex is DrillException or TopologyException or Npgsql.NpgsqlException or StackExchange.Redis.RedisException)
            {
                await Console.Error.WriteLineAsync("levee drill: could not run: " + ex.Message).ConfigureAwait(false);
                return 1;
            }
        });
        return command;
    }
}
