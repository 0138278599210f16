using System.CommandLine;
using System.Globalization;
using System.Reflection;
using Levee.Doctor;

namespace Levee.Cli;

/// <summary>
/// <c>levee doctor lint FILE...</c> and <c>levee doctor check ...</c>: parse, call Levee.Doctor, print.
/// Exit codes: 0 no errors (warnings allowed unless --strict), 1 at least one error, 2 unusable input / nothing reachable / bad usage.
/// </summary>
internal static class DoctorCommand
{
    public const string PasswordEnvironmentVariable = "LEVEE_REDIS_PASSWORD";
    public const string UserEnvironmentVariable = "LEVEE_REDIS_USER";

    private static readonly System.Text.Json.JsonSerializerOptions IndentedJson = new() { WriteIndented = true };

    public static Command Create()
    {
        var command = new Command("doctor", "Find Redis Sentinel/Cluster misconfigurations in files and live deployments");
        command.Subcommands.Add(CreateLint());
        command.Subcommands.Add(CreateCheck());
        command.Subcommands.Add(CreateRules());
        return command;
    }

    /// <summary>Runs <c>levee doctor ARGS</c> in-process with the given writers; returns the exit code.</summary>
    public static async Task<int> RunAsync(string[] args, TextWriter output, TextWriter error, CancellationToken cancellationToken = default)
    {
        var root = new RootCommand("levee") { Create() };
        var parse = root.Parse(["doctor", .. args]);
        return await parse.InvokeAsync(new InvocationConfiguration { Output = output, Error = error }, cancellationToken).ConfigureAwait(false);
    }

    private static Option<string> FormatOption() => new("--format", "-f")
    {
        Description = "Output format: text (tables), json, or sarif (SARIF 2.1.0, for CI annotations)",
        DefaultValueFactory = _ => "text",
    };

    private static Option<bool> StrictOption() => new("--strict") { Description = "Exit 1 on warnings too" };

    private static Command CreateLint()
    {
        var files = new Argument<string[]>("files") { Description = "sentinel.conf / redis.conf files, Kubernetes YAML embedding them in ConfigMaps, or directories of those", Arity = ArgumentArity.ZeroOrMore };
        var format = FormatOption();
        var strict = StrictOption();
        var sentinels = new Option<string?>("--sentinels") { Description = "How many Sentinels run, when a single shared sentinel.conf is given" };
        var disable = new Option<string[]>("--disable") { Description = "Rule ids not to report (comma-separated or repeated), e.g. --disable S003,T011", AllowMultipleArgumentsPerToken = false };
        var redisVersion = new Option<string?>("--redis-version") { Description = $"The server version the configs are for ({string.Join(", ", LintOptions.RedisVersions)}); default: any of them" };
        var command = new Command("lint", "Lint Redis/Sentinel config files (one deployment) and compute how many Sentinel failures each master tolerates")
        {
            files, format, strict, sentinels, redisVersion, disable,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (!Usage(parse, error, out var fmt, format))
            {
                return 2;
            }

            var paths = parse.GetValue(files) ?? [];
            if (paths.FirstOrDefault(p => p.StartsWith('-') && !File.Exists(p) && !Directory.Exists(p)) is { } unknown)
            {
                error.WriteLine($"levee doctor lint: unknown option '{unknown}'. See 'levee doctor lint --help'.");
                return 2;
            }

            if (paths.Length == 0)
            {
                error.WriteLine("levee doctor lint: no files given. Usage: levee doctor lint FILE... [--format text|json|sarif] [--sentinels N] [--redis-version V] [--disable RULE,...] [--strict]");
                return 2;
            }

            int? count = null;
            if (parse.GetValue(sentinels) is { } text)
            {
                if (!int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out var n) || n < 1)
                {
                    error.WriteLine($"levee doctor lint: --sentinels must be a whole number ≥ 1, got '{text}'.");
                    return 2;
                }

                count = n;
            }

            var version = parse.GetValue(redisVersion);
            if (version is not null && !LintOptions.IsKnownRedisVersion(version))
            {
                error.WriteLine($"levee doctor lint: --redis-version must be one of {string.Join(", ", LintOptions.RedisVersions)} (or a full version of one), got '{version}'.");
                return 2;
            }

            var disabled = (parse.GetValue(disable) ?? []).SelectMany(d => d.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries)).ToList();
            if (disabled.FirstOrDefault(id => !Rules.All.Any(r => r.Id.Equals(id, StringComparison.OrdinalIgnoreCase))) is { } unknownRule)
            {
                error.WriteLine($"levee doctor lint: --disable: no rule '{unknownRule}'. See 'levee doctor rules'.");
                return 2;
            }

            var report = DoctorLinter.Lint(paths, new LintOptions { Sentinels = count, RedisVersion = version, Disabled = disabled });
            return Print(report, fmt, output, error, parse.GetValue(strict), $"{paths.Length} path{(paths.Length == 1 ? string.Empty : "s")} linted");
        });
        return command;
    }

    private static Command CreateCheck()
    {
        var sentinel = new Option<string?>("--sentinel") { Description = "Sentinel endpoints HOST:PORT[,HOST:PORT...]" };
        var service = new Option<string?>("--service") { Description = "The master (service) name the Sentinels monitor" };
        var cluster = new Option<string?>("--cluster") { Description = "A Redis Cluster node HOST:PORT (the others are discovered)" };
        var user = new Option<string?>("--user") { Description = $"ACL user for Redis nodes (or env {UserEnvironmentVariable})" };
        var password = new Option<string?>("--password") { Description = $"Password for Redis nodes (or env {PasswordEnvironmentVariable}); never printed" };
        var sentinelPassword = new Option<string?>("--sentinel-password") { Description = "Password for the Sentinels, when they have requirepass (default: none)" };
        var timeout = new Option<string?>("--timeout") { Description = "Per-call timeout in milliseconds (default 2000)" };
        var format = FormatOption();
        var strict = StrictOption();
        var command = new Command("check", "Check a live Sentinel deployment (--sentinel ... --service NAME) or a Redis Cluster (--cluster HOST:PORT)")
        {
            sentinel, service, cluster, user, password, sentinelPassword, timeout, format, strict,
        };
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction(async (parse, ct) =>
        {
            var output = parse.InvocationConfiguration.Output;
            var error = parse.InvocationConfiguration.Error;
            if (!Usage(parse, error, out var fmt, format))
            {
                return 2;
            }

            var timeoutMs = 2000;
            if (parse.GetValue(timeout) is { } t && (!int.TryParse(t, NumberStyles.None, CultureInfo.InvariantCulture, out timeoutMs) || timeoutMs < 1))
            {
                error.WriteLine($"levee doctor check: --timeout must be a number of milliseconds ≥ 1, got '{t}'.");
                return 2;
            }

            var options = new LiveCheckOptions
            {
                User = parse.GetValue(user) ?? Environment.GetEnvironmentVariable(UserEnvironmentVariable),
                Password = parse.GetValue(password) ?? Environment.GetEnvironmentVariable(PasswordEnvironmentVariable),
                SentinelPassword = parse.GetValue(sentinelPassword),
                Timeout = TimeSpan.FromMilliseconds(timeoutMs),
            };
            var sentinels = parse.GetValue(sentinel);
            var clusterNode = parse.GetValue(cluster);
            DoctorReport report;
            string subject;
            if (!string.IsNullOrWhiteSpace(sentinels) && string.IsNullOrWhiteSpace(clusterNode))
            {
                var name = parse.GetValue(service);
                if (string.IsNullOrWhiteSpace(name))
                {
                    error.WriteLine("levee doctor check: --sentinel needs --service NAME (the master name the Sentinels monitor).");
                    return 2;
                }

                var endpoints = sentinels.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
                report = await SentinelLiveChecker.CheckAsync(endpoints, name, options, ct).ConfigureAwait(false);
                subject = $"Sentinel service '{name}' via {endpoints.Length} Sentinel{(endpoints.Length == 1 ? string.Empty : "s")}";
            }
            else if (!string.IsNullOrWhiteSpace(clusterNode) && string.IsNullOrWhiteSpace(sentinels))
            {
                report = await ClusterLiveChecker.CheckAsync(clusterNode.Trim(), options, ct).ConfigureAwait(false);
                subject = $"Redis Cluster via {clusterNode.Trim()}";
            }
            else
            {
                error.WriteLine("levee doctor check: give either --sentinel HOST:PORT[,HOST:PORT...] --service NAME, or --cluster HOST:PORT.");
                return 2;
            }

            return Print(report, fmt, output, error, parse.GetValue(strict), subject);
        });
        return command;
    }

    private static Command CreateRules()
    {
        var format = FormatOption();
        var command = new Command("rules", "List every rule: id, default severity, title (details in docs/doctor.md)") { format };
        command.SetAction(parse =>
        {
            var output = parse.InvocationConfiguration.Output;
            var fmt = (parse.GetValue(format) ?? "text").ToLowerInvariant();
            if (fmt == "json")
            {
                output.Write(System.Text.Json.JsonSerializer.Serialize(
                    Rules.All.Select(r => new { id = r.Id, severity = JsonReportWriter.SeverityName(r.Severity), title = r.Title, why = r.Why, fix = r.Fix, source = r.Source, help = r.HelpUri }),
                    IndentedJson));
                output.WriteLine();
                return 0;
            }

            foreach (var r in Rules.All)
            {
                output.WriteLine($"{r.Id}  {JsonReportWriter.SeverityName(r.Severity),-7}  {r.Title}");
            }

            return 0;
        });
        return command;
    }

    private static bool Usage(ParseResult parse, TextWriter error, out string format, Option<string> formatOption)
    {
        format = (parse.GetValue(formatOption) ?? "text").ToLowerInvariant();
        if (parse.UnmatchedTokens.Count > 0 && parse.UnmatchedTokens.Any(t => t.StartsWith('-')))
        {
            error.WriteLine($"levee doctor: unknown option(s): {string.Join(' ', parse.UnmatchedTokens.Where(t => t.StartsWith('-')))}. See 'levee doctor --help'.");
            return false;
        }

        if (format is not ("text" or "json" or "sarif"))
        {
            error.WriteLine($"levee doctor: --format must be text, json or sarif, got '{format}'.");
            return false;
        }

        return true;
    }

    private static int Print(DoctorReport report, string format, TextWriter output, TextWriter error, bool strict, string subject)
    {
        switch (format)
        {
            case "json":
                output.Write(JsonReportWriter.Write(report));
                break;
            case "sarif":
                output.Write(SarifReportWriter.Write(report, Version()));
                break;
            default:
                DoctorTextWriter.Write(report, output, IsTerminal(output), subject);
                break;
        }

        if (report.UnusableInput && format != "text")
        {
            foreach (var f in report.Findings.Where(f => f.RuleId is "P005" or "L000"))
            {
                error.WriteLine($"levee doctor: {f.Message}");
            }
        }

        return report.ExitCode(strict);
    }

    private static bool IsTerminal(TextWriter output) =>
        ReferenceEquals(output, Console.Out) && !Console.IsOutputRedirected && Environment.GetEnvironmentVariable("NO_COLOR") is null;

    private static string Version() =>
        typeof(DoctorCommand).Assembly.GetCustomAttribute<AssemblyInformationalVersionAttribute>()?.InformationalVersion ?? "0.0.0";
}
