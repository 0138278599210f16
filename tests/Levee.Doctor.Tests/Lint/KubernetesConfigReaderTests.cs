namespace Levee.Doctor.Tests.Lint;

public class KubernetesConfigReaderTests
{
    internal const string Manifest = """
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: redis-sentinel-config
        data:
          sentinel.conf: |
            port 26379
            sentinel resolve-hostnames yes
            sentinel monitor mymaster redis-0.redis 6379 3
            sentinel down-after-milliseconds mymaster 5000
          other: "not a config"
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata:
          name: redis-sentinel
        spec:
          replicas: 3
          template:
            spec:
              containers:
                - name: sentinel
                  image: redis:7.0
              volumes:
                - name: config
                  configMap:
                    name: redis-sentinel-config
        """;

    [Fact]
    public void EmbeddedSentinelConf_IsLinted_WithYamlLineNumbers_AndWorkloadReplicas()
    {
        var report = DoctorLinter.LintTexts([("sentinel.yaml", Manifest)]);

        var master = Assert.Single(report.Masters);
        Assert.Equal((3, 3, 0), (master.Sentinels, master.Quorum, master.ToleratedSentinelFailures));
        var t002 = Assert.Single(report.Findings, f => f.RuleId == "T002");
        Assert.Equal(("sentinel.yaml", 9), (t002.File, t002.Line)); // the monitor line inside the block scalar
        Assert.DoesNotContain(report.Findings, f => f.RuleId == "P007");
    }

    [Fact]
    public void OneConfigMapForRedisAndSentinel_EachWorkloadCountsForTheKeysItMounts()
    {
        // the incident's shape in one ConfigMap: 3 Sentinels with quorum 3 (0 failures tolerated); the Redis StatefulSet
        // mounts only redis.conf, so its 3 pods are not Sentinels
        var yaml = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: redis-config
            data:
              redis.conf: |
                port 6379
              sentinel.conf: |
                port 26379
                sentinel resolve-hostnames yes
                sentinel monitor mymaster redis-0.redis 6379 3
            ---
            apiVersion: apps/v1
            kind: StatefulSet
            metadata:
              name: redis
            spec:
              replicas: 3
              template:
                spec:
                  initContainers:
                    - name: copy
                      image: busybox
                  containers:
                    - name: redis
                      image: redis:7.0
                  volumes:
                    - name: config
                      configMap:
                        name: redis-config
                        items:
                          - key: redis.conf
                            path: redis.conf
            ---
            apiVersion: apps/v1
            kind: StatefulSet
            metadata:
              name: sentinel
            spec:
              replicas: 3
              template:
                spec:
                  initContainers:
                    - name: copy
                      image: busybox
                  containers:
                    - name: sentinel
                      image: redis:7.0
                  volumes:
                    - name: config
                      configMap:
                        name: redis-config
                        items:
                          - key: sentinel.conf
                            path: sentinel.conf
                    - name: config-again
                      configMap:
                        name: redis-config
            """;
        var report = DoctorLinter.LintTexts([("redis.yaml", yaml)]);

        var master = Assert.Single(report.Masters);
        Assert.Equal((3, 3, 0), (master.Sentinels, master.Quorum, master.ToleratedSentinelFailures));
        Assert.Contains(report.Findings, f => f.RuleId == "T002");
    }

    [Fact]
    public void ConfigMapMountedWithoutInitContainer_IsS009_WithInitContainer_IsNot()
    {
        var bad = DoctorLinter.LintTexts([("sentinel.yaml", Manifest)]);
        var s009 = Assert.Single(bad.Findings, f => f.RuleId == "S009");
        Assert.Equal(6, s009.Line); // the data key 'sentinel.conf: |'

        var withInit = WithInitContainer;
        Assert.DoesNotContain(DoctorLinter.LintTexts([("sentinel.yaml", withInit)]).Findings, f => f.RuleId == "S009");
    }

    internal static string WithInitContainer => Manifest.Replace("      containers:", "      initContainers:\n        - name: copy\n          image: busybox\n      containers:", StringComparison.Ordinal);

    [Fact]
    public void MalformedEmbeddedLine_PointsAtTheYamlLine()
    {
        var yaml = """
            kind: ConfigMap
            metadata:
              name: redis
            data:
              redis.conf: |
                port 6379

                requirepass "broken
            """;
        var report = DoctorLinter.LintTexts([("redis.yaml", yaml)]);
        var f = Assert.Single(report.Findings);
        Assert.Equal(("P001", "redis.yaml", 8), (f.RuleId, f.File, f.Line));
    }

    [Fact]
    public void FoldedBlock_FindingsPointAtTheKeyLine_NotAtShiftedLines()
    {
        // folding (>) joins lines: the config's line numbers no longer match the YAML's (they pointed 1-2 lines too high)
        var yaml = """
            kind: ConfigMap
            metadata:
              name: sentinel
            data:
              sentinel.conf: >
                port 26379

                sentinel monitor m 10.0.0.1 6379 2

                sentinel down-after-milliseconds m 500
            """;
        var report = DoctorLinter.LintTexts([("fold.yaml", yaml)]);
        Assert.NotEmpty(report.Findings);
        Assert.All(report.Findings.Where(f => f.Line > 0), f => Assert.Equal(5, f.Line));
    }

    [Fact]
    public void KubectlList_ItsConfigMapsAreLinted()
    {
        // what `kubectl get configmap -o yaml` prints for several objects
        var yaml = """
            apiVersion: v1
            kind: List
            items:
              - apiVersion: v1
                kind: ConfigMap
                metadata:
                  name: sentinel
                data:
                  sentinel.conf: |
                    sentinel monitor m 10.0.0.1 6379 2
            """;
        var report = DoctorLinter.LintTexts([("list.yaml", yaml)]);
        Assert.False(report.UnusableInput); // it used to be P005: "holds no ConfigMap"
        var assumed = Assert.Single(report.Findings, f => f.RuleId == "P007"); // one shared config, nothing mounts it
        Assert.Equal(10, assumed.Line);
    }

    [Fact]
    public void YamlWithoutConfigs_OrInvalidYaml_IsUnusable()
    {
        Assert.True(DoctorLinter.LintTexts([("x.yaml", "kind: Service\nmetadata:\n  name: x\n")]).UnusableInput);
        var bad = DoctorLinter.LintTexts([("x.yaml", "kind: ConfigMap\ndata: [unclosed\n")]);
        Assert.True(bad.UnusableInput);
        Assert.Equal("P005", Assert.Single(bad.Findings).RuleId);
    }
}
