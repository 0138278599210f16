namespace Levee.Doctor.Tests.Lint;

public sealed class InputTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("levee-doctor-input-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    [Fact]
    public void MissingFile_IsUnusableInput_NamingTheFile()
    {
        var path = Path.Combine(_dir, "nope.conf");
        var report = DoctorLinter.Lint([path]);
        var f = Assert.Single(report.Findings);
        Assert.Equal(("P005", path), (f.RuleId, f.File));
        Assert.Contains("does not exist", f.Message, StringComparison.Ordinal);
        Assert.Equal(2, report.ExitCode(strict: false));
    }

    [Fact]
    public void BinaryFile_IsUnusableInput()
    {
        var path = Path.Combine(_dir, "dump.rdb");
        File.WriteAllBytes(path, [0x52, 0x45, 0x44, 0x49, 0x53, 0x00, 0xFF, 0x01]);
        var report = DoctorLinter.Lint([path]);
        Assert.Equal("P005", Assert.Single(report.Findings).RuleId);
        Assert.Contains("binary", report.Findings[0].Message, StringComparison.Ordinal);
        Assert.Equal(2, report.ExitCode(strict: false));
    }

    [Fact]
    public void MalformedLine_IsAnErrorNamingFileAndLine_NotUnusable()
    {
        var path = Path.Combine(_dir, "redis.conf");
        File.WriteAllText(path, "port 6379\n# comment\n\nrequirepass \"oops\n");
        var report = DoctorLinter.Lint([path]);
        var f = Assert.Single(report.Findings);
        Assert.Equal(("P001", path, 4), (f.RuleId, f.File, f.Line));
        Assert.Equal($"{path}:4", f.Location);
        Assert.Equal(1, report.ExitCode(strict: false));
    }

    [Fact]
    public void KubernetesConfigMapVolume_EachFileCountsOnce_AndIsNamedByItsVisiblePath()
    {
        // how a ConfigMap volume looks in a pod: the file in a timestamped folder, "..data" linking to that folder, and
        // the visible name linking into "..data". Read three times, one Sentinel counted as three (no finding, exit 0);
        // counted once, it is one shared sentinel.conf whose Sentinel count is assumed (P007).
        var volume = Directory.CreateDirectory(Path.Combine(_dir, "volume")).FullName;
        var stamped = Directory.CreateDirectory(Path.Combine(volume, "..2026_11_27_05_00_00.123456789")).FullName;
        File.WriteAllText(Path.Combine(stamped, "sentinel.conf"), "sentinel monitor mymaster 10.0.0.1 6379 2\n");
        Directory.CreateSymbolicLink(Path.Combine(volume, "..data"), stamped);
        File.CreateSymbolicLink(Path.Combine(volume, "sentinel.conf"), Path.Combine(volume, "..data", "sentinel.conf"));

        var report = DoctorLinter.Lint([volume, Path.Combine(volume, "sentinel.conf")]); // the same file named again, too
        var master = Assert.Single(report.Masters);
        Assert.True(master.SentinelsAssumed);
        var assumed = Assert.Single(report.Findings, f => f.RuleId == "P007");
        Assert.Equal((Path.Combine(volume, "sentinel.conf"), 1), (assumed.File, assumed.Line));
    }

    [Fact]
    public void SymbolicLinkToAParentFolder_IsNotFollowed()
    {
        var root = Directory.CreateDirectory(Path.Combine(_dir, "loop")).FullName;
        File.WriteAllText(Path.Combine(root, "sentinel.conf"), "sentinel monitor mymaster 10.0.0.1 6379 2\n");
        Directory.CreateSymbolicLink(Path.Combine(root, "again"), root); // read 40 levels deep before: 41 Sentinels
        var report = DoctorLinter.Lint([root]);
        Assert.True(Assert.Single(report.Masters).SentinelsAssumed); // counted once: a shared file, its count assumed
    }

    [Fact]
    public void ConfFileStartingWithAByteOrderMark_IsAnErrorAtLine1()
    {
        var path = Path.Combine(_dir, "redis.conf");
        File.WriteAllBytes(path, [0xEF, 0xBB, 0xBF, .. "port 6379\n"u8.ToArray()]);
        var report = DoctorLinter.Lint([path]);
        var f = Assert.Single(report.Findings);
        Assert.Equal(("P001", path, 1), (f.RuleId, f.File, f.Line)); // redis-server refuses the file ("Bad directive")
        Assert.Contains("byte order mark", f.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void UnknownDirective_IsAWarning()
    {
        var report = DoctorLinter.LintTexts([("redis.conf", "port 6379\nfrobnicate yes\n")]);
        var f = Assert.Single(report.Findings);
        Assert.Equal(("P002", Severity.Warning, 2), (f.RuleId, f.Severity, f.Line));
        Assert.Equal(0, report.ExitCode(strict: false));
        Assert.Equal(1, report.ExitCode(strict: true));
    }

    [Fact]
    public void Directives_AreJudgedByVersion()
    {
        // 7.2+/valkey directives and 7.0's deprecated aliases: no finding without --redis-version (was P002 "redis 7.0 refuses to start")
        const string redis = "port 6379\nlocale-collate \"\"\nset-max-listpack-entries 128\nhide-user-data-from-log no\ndual-channel-replication-enabled no\nlist-max-ziplist-entries 512\nlua-replicate-commands yes\n";
        const string sentinel = "sentinel monitor mymaster 127.0.0.1 6379 2\nsentinel primary-reboot-down-after-period mymaster 0\nsentinel master-reboot-down-after-period mymaster 0\n";
        Assert.Empty(DoctorLinter.LintTexts([("redis.conf", redis)]).Findings);
        Assert.DoesNotContain(DoctorLinter.LintTexts([("sentinel.conf", sentinel)]).Findings, f => f.RuleId == "P002");

        // told the version: what that version lacks, said as what is known
        var v70 = DoctorLinter.LintTexts([("redis.conf", redis)], new LintOptions { RedisVersion = "7.0.15" });
        Assert.Equal([2, 3, 4, 5], v70.Findings.Where(f => f.RuleId == "P002").Select(f => f.Line));
        var collate = v70.Findings.Single(f => f.Line == 2);
        Assert.Equal("'locale-collate' is unknown to redis 7.0 (known to redis 7.2, redis 7.4, valkey 7.2, valkey 8.0): a server that does not know a directive refuses to start (\"Bad directive or wrong number of arguments\").", collate.Message);
        Assert.Empty(DoctorLinter.LintTexts([("redis.conf", redis)], new LintOptions { RedisVersion = "valkey-8.0" }).Findings);
        Assert.Equal([2], DoctorLinter.LintTexts([("sentinel.conf", sentinel)], new LintOptions { RedisVersion = "7.4" }).Findings.Where(f => f.RuleId == "P002").Select(f => f.Line));
        Assert.Equal([2, 3], DoctorLinter.LintTexts([("sentinel.conf", sentinel)], new LintOptions { RedisVersion = "6.2" }).Findings.Where(f => f.RuleId == "P002").Select(f => f.Line));
        Assert.Throws<ArgumentOutOfRangeException>(() => DoctorLinter.LintTexts([("redis.conf", redis)], new LintOptions { RedisVersion = "5.0" }));
    }

    [Fact]
    public void SentinelRewrittenLines_AreUnderstood()
    {
        // What redis-sentinel 7.0.15 writes back into its config file after running (copied from a real rewrite).
        const string rewritten = """
            port 26379
            sentinel myid 9f3c1e2a7b4d5c6e8f9a0b1c2d3e4f5a6b7c8d9e
            sentinel deny-scripts-reconfig yes
            sentinel monitor mymaster 127.0.0.1 6379 2
            sentinel config-epoch mymaster 3
            sentinel leader-epoch mymaster 3
            sentinel current-epoch 3
            sentinel known-replica mymaster 127.0.0.1 6380
            sentinel known-slave mymaster 127.0.0.1 6381
            sentinel known-sentinel mymaster 127.0.0.1 26380 1111111111111111111111111111111111111111
            sentinel known-sentinel mymaster 127.0.0.1 26381 2222222222222222222222222222222222222222

            # Generated by CONFIG REWRITE
            protected-mode no
            latency-tracking-info-percentiles 50 99 99.9
            user default on nopass ~* &* +@all
            """;
        var report = DoctorLinter.LintTexts([("sentinel.conf", rewritten)]);
        Assert.DoesNotContain(report.Findings, f => f.Severity != Severity.Info);
        Assert.Equal((3, 1), (report.Masters.Single().Sentinels, report.Masters.Single().ToleratedSentinelFailures));
    }

    [Fact]
    public void Include_IsReportedAsInfo()
    {
        var report = DoctorLinter.LintTexts([("redis.conf", "include /etc/redis/base.conf\n")]);
        var f = Assert.Single(report.Findings);
        Assert.Equal(("P003", Severity.Info, 1), (f.RuleId, f.Severity, f.Line));
    }

    [Fact]
    public void Directory_IsExpandedToItsConfigFiles()
    {
        File.WriteAllText(Path.Combine(_dir, "a.conf"), "port 6379\n");
        File.WriteAllText(Path.Combine(_dir, "notes.txt"), "not a config\n");
        var report = DoctorLinter.Lint([_dir]);
        Assert.Empty(report.Findings);
        Assert.False(report.UnusableInput);
    }

    [Fact]
    public void Directory_SkipsManifestsWithoutRedisConfigs_ButNeedsAtLeastOne()
    {
        File.WriteAllText(Path.Combine(_dir, "namespace.yaml"), "apiVersion: v1\nkind: Namespace\nmetadata:\n  name: cache\n");
        var empty = DoctorLinter.Lint([_dir]);
        Assert.True(empty.UnusableInput);
        Assert.Contains("holds no Redis or Sentinel config", Assert.Single(empty.Findings).Message, StringComparison.Ordinal);

        File.WriteAllText(Path.Combine(_dir, "redis.conf"), "port 6379\n");
        var report = DoctorLinter.Lint([_dir]);
        Assert.False(report.UnusableInput);
        Assert.Empty(report.Findings);
    }

    [Fact]
    public void KubernetesManifestsOfTheRepo_LintClean_AndTheIncidentCopyFails()
    {
        foreach (var folder in new[] { "redis-sentinel", "redis-cluster" })
        {
            var path = Repo.Path("deploy", "kubernetes", folder);
            Assert.True(Directory.Exists(path), $"{path} is missing");
            var clean = DoctorLinter.Lint([path]);
            Assert.True(clean.ExitCode(strict: true) == 0, $"{folder}: {RuleTests.Describe(clean)}");
        }

        var report = DoctorLinter.Lint([Repo.Path("deploy", "kubernetes", "incident")]);
        Assert.Equal(1, report.ExitCode(strict: false));
        Assert.Contains(report.Findings, f => f.RuleId == "T002");
        Assert.Equal(0, report.Masters.Single().ToleratedSentinelFailures);
    }
}
