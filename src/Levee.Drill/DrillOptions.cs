using System.Globalization;

namespace Levee.Drill;

/// <summary>What <see cref="DrillRunner"/> runs. Defaults make <c>levee drill</c> reproduce the reference incident in a few minutes on 2 cores.</summary>
public sealed class DrillOptions
{
    /// <summary>The longest fault phase accepted, in seconds (6 hours): long enough for the postmortem's 92-minute outage (5,520 s).</summary>
    public const int MaxFaultSeconds = 6 * 3600;

    /// <summary>Scenario name (see <see cref="DrillRunner.Scenarios"/>). Default <c>incident</c>.</summary>
    public string Scenario { get; set; } = "incident";

    /// <summary>
    /// Clients to compare, in order, by name: the built-in <c>naive</c>, <c>postmortem</c>, <c>levee</c>, or the
    /// <see cref="Clients.IDrillClientKind.Name"/> of a kind in <see cref="ClientKinds"/>. Default naive, postmortem, levee.
    /// </summary>
    public IList<string> Clients { get; } = ["naive", "postmortem", "levee"];

    /// <summary>
    /// Extra client kinds a host brings (e.g. a benchmark's peer caches, or your own cache wrapper), selectable by
    /// their <see cref="Clients.IDrillClientKind.Name"/> in <see cref="Clients"/>. Names must be unique and must not be
    /// a built-in one. Default empty.
    /// </summary>
    public IList<Clients.IDrillClientKind> ClientKinds { get; } = [];

    /// <summary>App instances, each with its own cache client and database pool. Default 8; 1 to 64.</summary>
    public int Instances { get; set; } = 8;

    /// <summary>Open-loop arrival rate over all instances, requests per second. Default 300; 1 to 5000.</summary>
    public double Rate { get; set; } = 300;

    /// <summary>Baseline phase length in seconds; null for the scenario's default (10).</summary>
    public int? BaselineSeconds { get; set; }

    /// <summary>Fault phase length in seconds (<c>--duration</c>); null for the scenario's default (30).</summary>
    public int? FaultSeconds { get; set; }

    /// <summary>Recovery phase length in seconds; null for the scenario's default (20).</summary>
    public int? RecoverySeconds { get; set; }

    /// <summary>Seed of the load (arrivals, keys, writes) and the catalog. Default 1.</summary>
    public ulong Seed { get; set; } = 1;

    /// <summary>
    /// Also run each client a second time on the same scenario, seed and phases with no fault injected (a healthy Redis
    /// throughout), and report the fault and recovery windows against that run: the load the same seconds cost without
    /// the fault. The baseline phase is short and comes right after the warm-up, when every entry is fresh; over a long
    /// fault this workload's entries reach their lifetime and a healthy Redis costs more too. Doubles the drill's time.
    /// Default false.
    /// </summary>
    public bool Reference { get; set; }

    /// <summary>Report folder. Default <c>drill-report</c> (relative to the working directory).</summary>
    public string OutputDirectory { get; set; } = "drill-report";

    /// <summary>Requests in flight per instance before new ones are refused (counted as errors). Default 128; 1 to 10000.</summary>
    public int InFlightLimit { get; set; } = 128;

    /// <summary>PostgreSQL connection pool per instance (<c>Maximum Pool Size</c>). Default 3; 1 to 50.</summary>
    public int DbPoolSize { get; set; } = 3;

    /// <summary>Cost of every database query (<c>pg_sleep</c>), milliseconds. Default 100; 0 to 5000.</summary>
    public double DbQueryCostMs { get; set; } = 100;

    /// <summary>Share of requests that are writes (UPDATE then invalidate). Default 0.02; 0 to 0.5.</summary>
    public double WriteRatio { get; set; } = 0.02;

    /// <summary>Zipf exponent of key popularity. Default 1.0; 0 to 3.</summary>
    public double ZipfExponent { get; set; } = 1.0;

    /// <summary>
    /// Every Redis and Sentinel process listens on TLS only (<c>--tls</c>): a private CA, server and client certificates
    /// made with openssl in the run's temp folder, client certificates required, replication and the Cluster bus over
    /// TLS; every client and the drill's own connections use TLS with the client certificate. Default false.
    /// </summary>
    public bool Tls { get; set; }

    /// <summary>
    /// Extra <c>redis.conf</c> lines for every Redis data node (not the Sentinels), after the scenario's own
    /// (<c>--redis-config</c>, repeatable): the deployment's own settings, for example
    /// <c>cluster-allow-reads-when-down yes</c>. Lines the drill sets itself (ports, folders, TLS, Cluster wiring) are
    /// refused. Default none.
    /// </summary>
    public IList<string> RedisConfig { get; } = [];

    /// <summary>The <c>redis.conf</c> directives the drill writes itself: a <see cref="RedisConfig"/> line may not set them.</summary>
    internal static readonly IReadOnlySet<string> DrillOwnedDirectives = new HashSet<string>(StringComparer.OrdinalIgnoreCase)
    {
        "port", "bind", "dir", "logfile", "pidfile", "daemonize", "include", "dbfilename", "replicaof", "slaveof",
        "cluster-enabled", "cluster-config-file", "cluster-port", "cluster-node-timeout",
        "tls-port", "tls-cert-file", "tls-key-file", "tls-ca-cert-file", "tls-cluster", "tls-replication", "tls-auth-clients",
    };

    /// <summary>Catalog size: products. Default 20000 (users 5000, categories 200, one settings row).</summary>
    public int Products { get; set; } = 20_000;

    /// <summary>Catalog size: users. Default 5000.</summary>
    public int Users { get; set; } = 5_000;

    /// <summary>Catalog size: categories. Default 200.</summary>
    public int Categories { get; set; } = 200;

    /// <summary>Every problem with the options, in one list (empty when valid).</summary>
    public IReadOnlyList<string> Validate()
    {
        var problems = new List<string>();
        void Check(bool ok, string message)
        {
            if (!ok)
            {
                problems.Add(message);
            }
        }

        foreach (var line in RedisConfig)
        {
            var directive = line.Trim().Split(' ', 2, StringSplitOptions.RemoveEmptyEntries).FirstOrDefault();
            Check(directive is not null && !directive.StartsWith('#'), $"--redis-config '{line}': a redis.conf line (directive and arguments) is expected");
            Check(line.IndexOfAny(['\r', '\n']) < 0, $"--redis-config '{line.ReplaceLineEndings(" ")}': one line each");
            Check(directive is null || !DrillOwnedDirectives.Contains(directive), $"--redis-config '{line}': {directive} is set by the drill itself");
        }

        var known = DrillRunner.Scenarios.Select(s => s.Name).ToList();
        Check(known.Contains(Scenario, StringComparer.OrdinalIgnoreCase), $"unknown scenario '{Scenario}' (known: {string.Join(", ", known)})");
        var knownClients = Levee.Drill.Clients.ClientKinds.Known(ClientKinds);
        Check(Clients.Count > 0, $"no client given (known: {string.Join(", ", knownClients)})");
        foreach (var client in Clients)
        {
            Check(knownClients.Contains(client, StringComparer.Ordinal), $"unknown client '{client}' (known: {string.Join(", ", knownClients)})");
        }

        foreach (var kind in ClientKinds)
        {
            if (Levee.Drill.Clients.ClientKinds.RegistrationProblem(kind) is { } problem)
            {
                problems.Add(problem);
            }
        }

        foreach (var duplicate in ClientKinds.Where(k => k is not null).GroupBy(k => k.Name, StringComparer.Ordinal).Where(g => g.Count() > 1))
        {
            problems.Add($"client kind '{duplicate.Key}' is registered {duplicate.Count()} times");
        }

        Check(Instances is >= 1 and <= 64, $"instances={Instances} must be 1..64");
        Check(Rate is >= 1 and <= 5000, string.Create(CultureInfo.InvariantCulture, $"rate={Rate} must be 1..5000 requests/s"));
        Check(BaselineSeconds is null or (>= 1 and <= 3600), $"baseline={BaselineSeconds} must be 1..3600 s");
        Check(FaultSeconds is null or (>= 1 and <= MaxFaultSeconds), $"duration (fault phase)={FaultSeconds} must be 1..{MaxFaultSeconds} s");
        Check(RecoverySeconds is null or (>= 1 and <= 3600), $"recovery={RecoverySeconds} must be 1..3600 s");
        Check(InFlightLimit is >= 1 and <= 10_000, $"in-flight limit={InFlightLimit} must be 1..10000");
        Check(DbPoolSize is >= 1 and <= 50, $"db pool={DbPoolSize} must be 1..50");
        Check(DbQueryCostMs is >= 0 and <= 5000, string.Create(CultureInfo.InvariantCulture, $"db query cost={DbQueryCostMs} ms must be 0..5000"));
        Check(WriteRatio is >= 0 and <= 0.5, string.Create(CultureInfo.InvariantCulture, $"write ratio={WriteRatio} must be 0..0.5"));
        Check(ZipfExponent is >= 0 and <= 3, string.Create(CultureInfo.InvariantCulture, $"zipf exponent={ZipfExponent} must be 0..3"));
        Check(Products >= 1 && Users >= 1 && Categories >= 1, "catalog sizes must be at least 1");
        Check(Instances * DbPoolSize <= 90, $"instances x db pool = {Instances * DbPoolSize} must stay under PostgreSQL's 100 connections (max 90)");
        Check(!string.IsNullOrWhiteSpace(OutputDirectory), "output directory must not be empty");
        return problems;
    }
}
