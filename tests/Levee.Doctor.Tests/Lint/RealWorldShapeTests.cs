namespace Levee.Doctor.Tests.Lint;

/// <summary>The false-alarm classes found by linting public configs (issue 22), each on a small config of that shape.</summary>
public sealed class RealWorldShapeTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("levee-doctor-shapes-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    private static string Describe(DoctorReport r) => RuleTests.Describe(r);

    [Fact]
    public void ScriptsInAConfigMap_AreNotLintedAsConfig_AndAMonitorLineWrittenAtStartup_IsNoP006()
    {
        // the chart's init.sh mentions 'sentinel monitor' (was linted: P002/P001 per script line); sentinel.conf has
        // per-master lines but no monitor line, which init.sh adds (was P006 per line)
        var report = DoctorLinter.LintTexts([("ha.yaml", StartupShapes.ChartLike(monitorInConfig: false))]);
        Assert.True(report.Findings.All(f => f.RuleId is "P009"), Describe(report));
        var p009 = Assert.Single(report.Findings);
        Assert.Equal(18, p009.Line); // the master's first line in sentinel.conf
        Assert.Empty(report.Masters); // address and quorum unknown: no arithmetic
        Assert.Equal(0, report.ExitCode(strict: true));
    }

    [Fact]
    public void AScriptKeyWithoutExtension_IsNotAConfig_ButAConfigWithoutExtensionIs()
    {
        const string yaml = """
            kind: ConfigMap
            metadata:
              name: m
            data:
              fix-split-brain: |
                #!/bin/sh
                redis-cli -p 26379 sentinel monitor mymaster "$MASTER" 6379 2
              sentinel: |
                port 26379
                sentinel monitor mymaster 10.0.0.1 6379 2
            """;
        var report = DoctorLinter.LintTexts([("m.yaml", yaml)]);
        Assert.Equal(["P007"], report.Findings.Select(f => f.RuleId));
    }

    [Fact]
    public void StatefulSetReplicas_CountAsReplicas_ForS006AndT011()
    {
        // 3 pods share redis.conf (replicaof added at start-up): 2 replicas. parallel-syncs 2 resyncs both at once
        var yaml = StartupShapes.ChartLike(monitorInConfig: true).Replace("parallel-syncs mymaster 1", "parallel-syncs mymaster 2", StringComparison.Ordinal);
        var report = DoctorLinter.LintTexts([("ha.yaml", yaml)]);
        var s006 = Assert.Single(report.Findings, f => f.RuleId == "S006");
        Assert.Equal(21, s006.Line);
        Assert.Contains("2 replicas", s006.Message, StringComparison.Ordinal);

        // one StatefulSet of 2: master + 1 replica, the only promotable one
        var two = DoctorLinter.LintTexts([("ha.yaml", StartupShapes.ChartLike(monitorInConfig: true).Replace("replicas: 3", "replicas: 2", StringComparison.Ordinal))]);
        Assert.Single(two.Findings, f => f.RuleId == "T011");
    }

    [Fact]
    public void S006_IsReportedOncePerMaster_NotOncePerSentinelFile()
    {
        var report = (Deployment.Clean with { Sentinel = Deployment.SentinelBody.Replace("parallel-syncs mymaster 1", "parallel-syncs mymaster 2", StringComparison.Ordinal) }).Lint();
        Assert.Single(report.Findings, f => f.RuleId == "S006");
    }

    [Fact]
    public void S003_FixText_AgreesWithItsBounds()
    {
        var report = (Deployment.Clean with { Sentinel = Deployment.SentinelBody.Replace("mymaster 5000", "mymaster 1000", StringComparison.Ordinal) }).Lint();
        Assert.DoesNotContain(report.Findings, f => f.RuleId == "S003");
        Assert.Contains("1000 to 60000", Rules.Get("S003").Fix, StringComparison.Ordinal);
    }

    [Fact]
    public void PasswordOnTheCommandLine_AndAConfigCopiedAtStartup_AreNotReportedMissing()
    {
        // redis gets --requirepass from a Secret in its args; no init container, but the Sentinel's start command copies its config
        var yaml = StartupShapes.ChartLike(monitorInConfig: true, redisArgs: "- /data/conf/redis.conf\n            - --requirepass\n            - $(REDIS_PASSWORD)", initContainer: false, auth: false)
            .Replace("      containers:\n        - name: redis", "      containers:\n        - name: copy\n          command: [sh, -c, \"cp /readonly-config/sentinel.conf /data/conf/sentinel.conf\"]\n        - name: redis", StringComparison.Ordinal)
            .Replace("sentinel failover-timeout", "sentinel auth-pass mymaster from-a-secret\n    sentinel failover-timeout", StringComparison.Ordinal)
            .Replace("    appendonly yes", "    masterauth from-a-secret\n    appendonly yes", StringComparison.Ordinal);
        var report = DoctorLinter.LintTexts([("ha.yaml", yaml)]);
        Assert.DoesNotContain(report.Findings, f => f.RuleId is "R005" or "R006" or "S009" or "S010");
        var p009 = Assert.Single(report.Findings, f => f.RuleId == "P009");
        Assert.Contains("requirepass", p009.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void ProtectedModeUnset_R006_SaysTheBuildDecides()
    {
        var report = (Deployment.Clean with { Master = Deployment.MasterBody.Replace("requirepass s3cret\n", string.Empty, StringComparison.Ordinal) }).Lint();
        var r006 = Assert.Single(report.Findings, f => f.RuleId == "R006");
        Assert.Contains("official Docker image", r006.Message, StringComparison.Ordinal);
        Assert.Equal(0, r006.Line);
    }

    [Fact]
    public void SentinelInProtectedMode_WithoutPassword_IsAnError()
    {
        var report = (Deployment.Clean with { Sentinel = "bind 0.0.0.0\nprotected-mode yes\n" + Deployment.SentinelBody }).Lint();
        var s015 = report.Findings.Where(f => f.RuleId == "S015").ToList();
        Assert.Equal(3, s015.Count); // each Sentinel refuses its peers
        Assert.All(s015, f => Assert.Equal((Severity.Error, 2), (f.Severity, f.Line)));

        // 6.2 applies protected mode only without a bind line
        var v62 = (Deployment.Clean with { Sentinel = "bind 0.0.0.0\nprotected-mode yes\n" + Deployment.SentinelBody }).Lint(new LintOptions { RedisVersion = "6.2" });
        Assert.DoesNotContain(v62.Findings, f => f.RuleId == "S015");
        // a test rig on loopback only
        var loopback = DoctorLinter.LintTexts([("sentinel.conf", "bind 127.0.0.1\nprotected-mode yes\nsentinel monitor m 127.0.0.1 6379 2\n")]);
        Assert.DoesNotContain(loopback.Findings, f => f.RuleId == "S015");
    }

    [Fact]
    public void UnrenderedTemplates_AreSkipped_AndExit2OnlyWhenNothingElseIsRead()
    {
        File.WriteAllText(Path.Combine(_dir, "configmap.yaml"), "apiVersion: v1\nkind: ConfigMap\ndata:\n  {{- if .Values.sentinel.enabled }}\n  sentinel.conf: |\n    port {{ .Values.port }}\n");
        File.WriteAllText(Path.Combine(_dir, "redis.conf.j2"), "port {{ redis_port }}\n{% if redis_password %}requirepass {{ redis_password }}{% endif %}\n");
        var onlyTemplates = DoctorLinter.Lint([_dir, Path.Combine(_dir, "redis.conf.j2")]);
        Assert.True(onlyTemplates.UnusableInput, Describe(onlyTemplates));
        Assert.Contains(onlyTemplates.Findings, f => f.RuleId == "P008" && f.File!.EndsWith("configmap.yaml", StringComparison.Ordinal));

        File.WriteAllText(Path.Combine(_dir, "sentinel.conf"), "port 26379\nsentinel monitor mymaster 10.0.0.1 6379 2\n");
        var mixed = DoctorLinter.Lint([_dir]);
        Assert.False(mixed.UnusableInput, Describe(mixed));
        Assert.Equal(0, mixed.ExitCode(strict: false));
        Assert.Equal(["P008", "P007"], mixed.Findings.Select(f => f.RuleId));
    }
    [Theory]
    [InlineData("sentinel monitor mymaster redis-master 6379 ${SENTINEL_QUORUM}\n")]
    [InlineData("port $SENTINEL_PORT\nsentinel monitor mymaster 10.0.0.1 6379 2\n")]
    [InlineData("sentinel monitor {REDIS_GROUP} {HOST_IP} 6380 1\n")]
    public void PlaceholderTemplates_AreSkipped(string text)
    {
        // envsubst/sed templates: Redis would read the placeholders literally (were S001/S002/T002 on the placeholders)
        var report = DoctorLinter.LintTexts([("sentinel.conf", text), ("redis.conf", "port 6379\n")]);
        Assert.Equal(["P008"], report.Findings.Select(f => f.RuleId));
        Assert.False(report.UnusableInput);

        // a password that merely starts with '$' is no placeholder
        Assert.Empty(DoctorLinter.LintTexts([("redis.conf", "requirepass $ecret-Pass\n")]).Findings);
    }

    [Fact]
    public void AWorkloadRunningSomethingElse_DoesNotCountAsRunningTheConfig()
    {
        // an HAProxy Deployment mounting the same ConfigMap (for its haproxy.cfg) is not 3 more Redis pods
        var haproxy = "\n---\napiVersion: apps/v1\nkind: Deployment\nmetadata:\n  name: haproxy\nspec:\n  replicas: 3\n  template:\n    spec:\n      containers:\n        - name: haproxy\n          image: haproxy:3.0\n      volumes:\n        - name: config\n          configMap:\n            name: ha-config\n";
        var report = DoctorLinter.LintTexts([("ha.yaml", StartupShapes.ChartLike(monitorInConfig: true) + haproxy)]);
        Assert.Equal(3, report.Masters.Single().Sentinels); // was 6: T005 (even) and a wrong tolerance
        Assert.Empty(report.Findings);
    }

    [Fact]
    public void AConfigSharedByAWorkload_IsJudgedAsAReplicatedNode()
    {
        // no replicaof in the file (added at start-up), 3 pods: persistence off is R004 (was not judged: "no replica")
        var yaml = StartupShapes.ChartLike(monitorInConfig: true).Replace("    appendonly yes\n", "    save \"\"\n", StringComparison.Ordinal);
        var report = DoctorLinter.LintTexts([("ha.yaml", yaml)]);
        Assert.Single(report.Findings, f => f.RuleId == "R004");
    }
    [Fact]
    public void Suppressions_InlineForALineOrAFile_AndFromOptions()
    {
        const string sentinel = """
            port 26379
            sentinel monitor mymaster 10.0.1.10 6379 2
            # levee-doctor: disable=S003
            sentinel down-after-milliseconds mymaster 500
            sentinel failover-timeout mymaster 5000
            """;
        var plain = (Deployment.Clean with { Sentinel = sentinel }).Lint();
        Assert.Equal(3, plain.Findings.Count(f => f.RuleId == "S004")); // one per Sentinel file
        Assert.DoesNotContain(plain.Findings, f => f.RuleId == "S003"); // silenced on the line after the comment

        var unsilenced = (Deployment.Clean with { Sentinel = sentinel.Replace("# levee-doctor: disable=S003\n", string.Empty, StringComparison.Ordinal) }).Lint();
        Assert.Equal(3, unsilenced.Findings.Count(f => f.RuleId == "S003"));

        // the comment silences only the next line: S004 one line further stays
        var wholeFile = (Deployment.Clean with { Sentinel = "# levee-doctor: disable-file=S003, S004\n" + sentinel }).Lint();
        Assert.DoesNotContain(wholeFile.Findings, f => f.RuleId is "S003" or "S004");

        var fromOptions = (Deployment.Clean with { Sentinel = sentinel }).Lint(new LintOptions { Disabled = ["s004"] });
        Assert.DoesNotContain(fromOptions.Findings, f => f.RuleId is "S003" or "S004");
        Assert.Throws<ArgumentOutOfRangeException>(() => Deployment.Clean.Lint(new LintOptions { Disabled = ["X999"] }));

        // in a ConfigMap, the comment's line maps to the YAML line like the config's
        var yaml = StartupShapes.ChartLike(monitorInConfig: true).Replace("    sentinel parallel-syncs mymaster 1", "    # levee-doctor: disable=S006\n    sentinel parallel-syncs mymaster 2", StringComparison.Ordinal);
        Assert.DoesNotContain(DoctorLinter.LintTexts([("ha.yaml", yaml)]).Findings, f => f.RuleId == "S006");
        Assert.Contains(DoctorLinter.LintTexts([("ha.yaml", yaml.Replace("# levee-doctor: disable=S006", "# a comment", StringComparison.Ordinal))]).Findings, f => f.RuleId == "S006");
    }
    [Fact]
    public void EmbeddedConfigWithPlaceholders_IsATemplate()
    {
        // a ConfigMap whose sentinel.conf envsubst fills at start-up (was S001 on ${HOST} and S002 on the quorum)
        const string yaml = """
            kind: ConfigMap
            metadata:
              name: sentinel
            data:
              sentinel.conf: |
                port 26379
                sentinel monitor mymaster ${REDIS_HOST} 6379 ${QUORUM}
            """;
        var report = DoctorLinter.LintTexts([("sentinel.yaml", yaml), ("redis.conf", "port 6379\n")]);
        var p008 = Assert.Single(report.Findings);
        Assert.Equal(("P008", "sentinel.yaml", 5), (p008.RuleId, p008.File, p008.Line));
        Assert.True(DoctorLinter.LintTexts([("sentinel.yaml", yaml)]).UnusableInput); // nothing else to lint
    }
}
