namespace Levee.Doctor.Tests.Lint;

/// <summary>For every static rule: a deployment that triggers it and a close one that does not.</summary>
internal static class RuleCases
{
    private static readonly Deployment Clean = Deployment.Clean;
    private static readonly string S = Deployment.SentinelBody;
    private static readonly string M = Deployment.MasterBody;
    private static readonly string R1 = Deployment.ReplicaBody(1);
    private static readonly string R2 = Deployment.ReplicaBody(2);

    private static readonly string[] RunIds =
    [
        "1111111111111111111111111111111111111111", "2222222222222222222222222222222222222222",
        "3333333333333333333333333333333333333333", "4444444444444444444444444444444444444444",
    ];

    public static readonly Dictionary<string, (Func<DoctorReport> Bad, Func<DoctorReport> Good)> All = new(StringComparer.Ordinal)
    {
        ["P001"] = (() => (Clean with { Master = M + "\nlogfile \"unterminated" }).Lint(), () => Clean.Lint()),
        ["P002"] = (() => (Clean with { Master = M + "\nmax-memory 1gb" }).Lint(), () => (Clean with { Master = M + "\nmaxmemory 1gb" }).Lint()),
        ["P003"] = (() => (Clean with { Master = M + "\ninclude /etc/redis/common.conf" }).Lint(), () => Clean.Lint()),
        ["P004"] = (() => (Clean with { Master = M + "\nport 6379 6380" }).Lint(), () => Clean.Lint()),
        ["P006"] = (() => (Clean with { Sentinel = S + "\nsentinel down-after-milliseconds other 5000" }).Lint(), () => Clean.Lint()),
        ["P007"] = (() => (Clean with { Sentinels = 1 }).Lint(), () => (Clean with { Sentinels = 1 }).Lint(new LintOptions { Sentinels = 3 })),
        ["P008"] = (() => DoctorLinter.LintTexts([.. Clean.Files(), ("templates/redis.conf", "port {{ redis_port }}\n")]), () => Clean.Lint()),
        ["P009"] = (() => DoctorLinter.LintTexts([("ha.yaml", StartupShapes.ChartLike(monitorInConfig: false))]),
                    () => DoctorLinter.LintTexts([("ha.yaml", StartupShapes.ChartLike(monitorInConfig: true))])),
        ["T001"] = (() => (Clean with { Sentinel = S.Replace("6379 2", "6379 4", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["T002"] = (() => (Clean with { Sentinel = S.Replace("6379 2", "6379 3", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["T003"] = (() => (Clean with { Sentinels = 5, Sentinel = S.Replace("6379 2", "6379 4", StringComparison.Ordinal) }).Lint(),
                    () => (Clean with { Sentinels = 5, Sentinel = S.Replace("6379 2", "6379 3", StringComparison.Ordinal) }).Lint()),
        ["T004"] = (() => (Clean with { Sentinel = S.Replace("6379 2", "6379 1", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["T005"] = (() => (Clean with { Sentinels = 4, Sentinel = S.Replace("6379 2", "6379 3", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["T006"] = (() => (Clean with { Sentinels = 2 }).Lint(), () => Clean.Lint()),
        ["T007"] = (() => (Clean with { Overrides = new() { ["sentinel-1.conf"] = "bind 10.0.1.10\n" + S, ["sentinel-2.conf"] = "bind 10.0.1.10\n" + S, ["sentinel-3.conf"] = "bind 10.0.3.12\n" + S } }).Lint(),
                    () => (Clean with { Overrides = new() { ["sentinel-1.conf"] = "bind 10.0.1.10\n" + S, ["sentinel-2.conf"] = "bind 10.0.2.11\n" + S, ["sentinel-3.conf"] = "bind 10.0.3.12\n" + S } }).Lint()),
        ["T008"] = (() => (Clean with { Overrides = new() { ["sentinel-3.conf"] = S.Replace("milliseconds mymaster 5000", "milliseconds mymaster 10000", StringComparison.Ordinal) } }).Lint(), () => Clean.Lint()),
        ["T009"] = (() => (Clean with { Sentinel = S + "\nsentinel myid " + RunIds[0] }).Lint(),
                    () => (Clean with { Overrides = new() { ["sentinel-1.conf"] = S + "\nsentinel myid " + RunIds[0], ["sentinel-2.conf"] = S + "\nsentinel myid " + RunIds[1] } }).Lint()),
        ["T010"] = (() => (Clean with { Overrides = new() { ["sentinel-2.conf"] = S.Replace("10.0.1.10", "10.0.1.11", StringComparison.Ordinal) } }).Lint(), () => Clean.Lint()),
        ["T011"] = (() => (Clean with { Replicas = [R1, R2 + "\nreplica-priority 0"] }).Lint(), () => Clean.Lint()),
        ["S001"] = (() => (Clean with { Sentinel = S.Replace("10.0.1.10", "redis-master", StringComparison.Ordinal) }).Lint(),
                    () => (Clean with { Sentinel = "sentinel resolve-hostnames yes\n" + S.Replace("10.0.1.10", "redis-master", StringComparison.Ordinal) }).Lint()),
        ["S002"] = (() => (Clean with { Sentinel = S.Replace("6379 2", "6379 0", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["S003"] = (() => (Clean with { Sentinel = S.Replace("mymaster 5000", "mymaster 500", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["S004"] = (() => (Clean with { Sentinel = S.Replace("mymaster 60000", "mymaster 5000", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["S005"] = (() => (Clean with { Sentinel = S.Replace("parallel-syncs mymaster 1", "parallel-syncs mymaster 0", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["S006"] = (() => (Clean with { Sentinel = S.Replace("parallel-syncs mymaster 1", "parallel-syncs mymaster 2", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["S007"] = (() => (Clean with { Sentinel = S + "\nsentinel deny-scripts-reconfig no" }).Lint(), () => (Clean with { Sentinel = S + "\nsentinel deny-scripts-reconfig yes" }).Lint()),
        ["S009"] = (() => DoctorLinter.LintTexts([("sentinel.yaml", KubernetesConfigReaderTests.Manifest)]),
                    () => DoctorLinter.LintTexts([("sentinel.yaml", KubernetesConfigReaderTests.WithInitContainer)])),
        ["S010"] = (() => (Clean with { Sentinel = S.Replace("sentinel auth-pass mymaster s3cret\n", string.Empty, StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["S011"] = (() => (Clean with { Overrides = new() { ["sentinel-2.conf"] = "requirepass other\n" + S } }).Lint(), () => (Clean with { Sentinel = "requirepass same\n" + S }).Lint()),
        ["S013"] = (() => (Clean with { Master = M + "\nrename-command CONFIG hidden-config", Replicas = [R1 + "\nrename-command CONFIG hidden-config", R2 + "\nrename-command CONFIG hidden-config"] }).Lint(),
                    () => (Clean with
                    {
                        Sentinel = S + "\nsentinel rename-command mymaster CONFIG hidden-config",
                        Master = M + "\nrename-command CONFIG hidden-config",
                        Replicas = [R1 + "\nrename-command CONFIG hidden-config", R2 + "\nrename-command CONFIG hidden-config"],
                    }).Lint()),
        ["S015"] = (() => (Clean with { Sentinel = "protected-mode yes\n" + S }).Lint(), () => (Clean with { Sentinel = "protected-mode yes\nrequirepass s3cret\n" + S }).Lint()),
        ["S014"] = (() => (Clean with { Overrides = new() { ["sentinel-1.conf"] = S + string.Concat(RunIds.Select((id, i) => $"\nsentinel known-sentinel mymaster 10.0.9.{i} 26379 {id}")) } }).Lint(),
                    () => (Clean with { Overrides = new() { ["sentinel-1.conf"] = S + string.Concat(RunIds.Take(2).Select((id, i) => $"\nsentinel known-sentinel mymaster 10.0.9.{i} 26379 {id}")) } }).Lint()),
        ["R001"] = (() => (Clean with { Replicas = [R1 + "\nreplica-priority 0", R2 + "\nreplica-priority 0"] }).Lint(), () => Clean.Lint()),
        ["R003"] = (() => (Clean with { Master = M.Replace("min-replicas-to-write 1", string.Empty, StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["R004"] = (() => (Clean with { Master = M.Replace("appendonly yes", "save \"\"", StringComparison.Ordinal) }).Lint(),
                    () => (Clean with { Master = M.Replace("appendonly yes", "save \"\"", StringComparison.Ordinal), Sentinel = S + "\nsentinel master-reboot-down-after-period mymaster 30000" }).Lint()),
        ["R005"] = (() => (Clean with { Replicas = [R1.Replace("masterauth s3cret", string.Empty, StringComparison.Ordinal), R2] }).Lint(), () => Clean.Lint()),
        ["R006"] = (() => (Clean with { Master = M.Replace("bind 10.0.1.10", "bind 127.0.0.1", StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["R007"] = (() => (Clean with { Replicas = [R1 + "\nreplica-read-only no", R2] }).Lint(), () => (Clean with { Replicas = [R1 + "\nreplica-read-only yes", R2] }).Lint()),
        ["R009"] = (() => (Clean with { Master = M.Replace("repl-backlog-size 64mb", string.Empty, StringComparison.Ordinal) }).Lint(), () => Clean.Lint()),
        ["R011"] = (() => (Clean with { Replicas = [R1 + "\nreplica-announced no", R2] }).Lint(), () => (Clean with { Replicas = [R1 + "\nreplica-announced no\nreplica-priority 0", R2] }).Lint()),
        ["R012"] = (() => DoctorLinter.LintTexts([("standalone.conf", "protected-mode no\nbind 0.0.0.0\n")]),
                    () => DoctorLinter.LintTexts([("standalone.conf", "protected-mode no\nbind 0.0.0.0\nrequirepass s3cret\n")])),
        ["R013"] = (() => (Clean with { Replicas = [R1.Replace("replicaof 10.0.1.10", "replicaof 10.0.1.99", StringComparison.Ordinal), R2] }).Lint(), () => Clean.Lint()),
        ["K013"] = (() => DoctorLinter.LintTexts([("n1.conf", "cluster-enabled yes\ncluster-node-timeout 15000\n"), ("n2.conf", "cluster-enabled yes\ncluster-node-timeout 20000\n")]),
                    () => DoctorLinter.LintTexts([("n1.conf", "cluster-enabled yes\ncluster-node-timeout 15000\n"), ("n2.conf", "cluster-enabled yes\ncluster-node-timeout 15000\n")])),
        ["K014"] = (() => DoctorLinter.LintTexts([("n1.conf", "cluster-enabled yes\ncluster-node-timeout 2000\n")]),
                    () => DoctorLinter.LintTexts([("n1.conf", "cluster-enabled yes\ncluster-node-timeout 15000\n")])),
        ["K016"] = (() => DoctorLinter.LintTexts([("n1.conf", "cluster-enabled yes\ncluster-require-full-coverage no\n")]),
                    () => DoctorLinter.LintTexts([("n1.conf", "cluster-enabled yes\ncluster-require-full-coverage yes\n")])),
    };
}
