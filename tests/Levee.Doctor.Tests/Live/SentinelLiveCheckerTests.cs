using Levee.Drill.Topology;

namespace Levee.Doctor.Tests.Live;

public sealed class SentinelLiveCheckerTests
{
    private static Task<DoctorReport> Check(SentinelTopology t) =>
        SentinelLiveChecker.CheckAsync(t.Sentinels.Select(s => s.Endpoint).ToList(), t.ServiceName, LivePolling.Options);

    private static IEnumerable<RedisNode> All(SentinelTopology t) => [.. t.RedisNodes, .. t.Sentinels];

    /// <summary>The launcher's defaults (no persistence, no write guard, 1mb backlog) are what R003/R004/R009 report; a healthy deployment sets them.</summary>
    private static SentinelTopologyOptions Healthy(int quorum = 2)
    {
        var options = new SentinelTopologyOptions { Quorum = quorum };
        options.RedisConfig.Add("appendonly yes");
        options.RedisConfig.Add("min-replicas-to-write 1");
        options.RedisConfig.Add("repl-backlog-size 16mb");
        return options;
    }

    [Fact]
    public async Task HealthyTopology_Passes_WithOneToleratedSentinelFailure()
    {
        await using var t = await SentinelTopology.StartAsync(Healthy());

        // Sentinels discover each other and the replicas through hello messages: wait until they agree.
        var report = await LivePolling.UntilAsync(() => Check(t), r => r.Findings.Count == 0, TimeSpan.FromSeconds(30));

        Assert.True(report.Findings.Count == 0, LivePolling.Describe(report, All(t)));
        var m = Assert.Single(report.Masters);
        Assert.Equal((3, 3, 2, 2, 1), (m.Sentinels, m.Voters, m.Quorum, m.Majority, m.ToleratedSentinelFailures));
        Assert.Equal(t.Master.Endpoint, m.MasterAddress);
        Assert.Equal(0, report.ExitCode(strict: true));
    }

    [Fact]
    public async Task Quorum3Of3_IsReportedWhileEverySentinelIsUp()
    {
        await using var t = await SentinelTopology.StartAsync(Healthy(quorum: 3));

        var report = await LivePolling.UntilAsync(() => Check(t), r => r.Masters.Count == 1 && r.Masters[0].Voters == 3, TimeSpan.FromSeconds(30));

        var t002 = Assert.Single(report.Findings, f => f.RuleId == "T002");
        Assert.Equal(Severity.Error, t002.Severity);
        Assert.Equal(0, report.Masters.Single().ToleratedSentinelFailures);
        Assert.DoesNotContain(report.Findings, f => f.RuleId == "L001"); // CKQUORUM says OK: that's why the doctor computes it
        Assert.Equal(1, report.ExitCode(strict: false));
    }

    [Fact]
    public async Task FrozenSentinel_IsReported_AndTheToleranceLeft()
    {
        await using var t = await SentinelTopology.StartAsync(Healthy());
        await LivePolling.UntilAsync(() => Check(t), r => r.Findings.Count == 0, TimeSpan.FromSeconds(30));
        var frozen = t.Sentinels[2];
        frozen.Freeze();
        try
        {
            var report = await Check(t);

            var l000 = Assert.Single(report.Findings, f => f.RuleId == "L000");
            Assert.Equal(frozen.Endpoint, l000.File);
            var l017 = Assert.Single(report.Findings, f => f.RuleId == "L017");
            Assert.Equal(Severity.Warning, l017.Severity); // 2 left, 2 needed: one more loss blocks failover
            Assert.Equal(1, report.ExitCode(strict: false));
        }
        finally
        {
            frozen.Thaw();
        }
    }

    [Fact]
    public async Task KilledReplica_IsReported()
    {
        await using var t = await SentinelTopology.StartAsync(Healthy());
        await LivePolling.UntilAsync(() => Check(t), r => r.Findings.Count == 0, TimeSpan.FromSeconds(30));
        var victim = t.Replicas[0];
        victim.Kill();

        var report = await LivePolling.UntilAsync(() => Check(t), r => r.Findings.Any(f => f.RuleId == "L018"), TimeSpan.FromSeconds(30));

        var l018 = Assert.Single(report.Findings, f => f.RuleId == "L018");
        Assert.Equal(victim.Endpoint, l018.File);
        Assert.DoesNotContain(report.Findings, f => f.RuleId == "L008"); // the other replica can still be promoted
        Assert.Equal(0, report.ExitCode(strict: false));
        Assert.Equal(1, report.ExitCode(strict: true));
    }

    [Fact]
    public async Task TheIncident_Quorum3_OneSentinelFrozen_MasterKilled_IsDiagnosed()
    {
        await using var t = await SentinelTopology.StartAsync(Healthy(quorum: 3));
        await LivePolling.UntilAsync(() => Check(t), r => r.Findings.All(f => f.RuleId is "T002" or "T003"), TimeSpan.FromSeconds(30));
        var partitioned = t.Sentinels[2];
        partitioned.Freeze();
        try
        {
            t.Master.Kill();

            // The two remaining Sentinels flag the master down after down-after-milliseconds (2 s in the test rig).
            var report = await LivePolling.UntilAsync(() => Check(t), r => r.Findings.Any(f => f.RuleId == "L005"), TimeSpan.FromSeconds(30));

            Assert.True(report.Findings.Any(f => f.RuleId == "L005"), LivePolling.Describe(report, All(t)));
            Assert.Contains(report.Findings, f => f.RuleId == "L000" && f.File == partitioned.Endpoint);   // the partitioned Sentinel
            Assert.Contains(report.Findings, f => f.RuleId == "L001");                                     // CKQUORUM: no quorum
            Assert.Contains(report.Findings, f => f.RuleId == "T002");                                     // why: quorum 3 of 3
            Assert.Contains(report.Findings, f => f.RuleId == "L004" && f.File == t.Master.Endpoint);      // the master does not answer
            Assert.Equal(0, report.Masters.Single().ToleratedSentinelFailures);
        }
        finally
        {
            partitioned.Thaw();
        }
    }

    [Fact]
    public async Task NothingReachable_IsUnusableInput_AndThePasswordIsNeverPrinted()
    {
        var (code, output, error) = await CliRunner.RunAsync(
            "check", "--sentinel", "127.0.0.1:1,127.0.0.1:2", "--service", "mymaster", "--password", "hunter2-secret", "--sentinel-password", "other-secret", "--timeout", "500", "--format", "json");

        Assert.Equal(2, code);
        Assert.Contains("\"L000\"", output, StringComparison.Ordinal);
        foreach (var text in new[] { output, error })
        {
            Assert.DoesNotContain("hunter2-secret", text, StringComparison.Ordinal);
            Assert.DoesNotContain("other-secret", text, StringComparison.Ordinal);
        }
    }

    [Fact]
    public async Task SentinelAclUser_PasswordFromEnvironmentOrFile_IsUsed_AndNeverPrinted()
    {
        await using var t = await SentinelTopology.StartAsync(Healthy());
        await LivePolling.UntilAsync(() => Check(t), r => r.Findings.Count == 0, TimeSpan.FromSeconds(30));

        // the Sentinels now know only an ACL user: the default user has a password nobody is given (their links to each
        // other, already authenticated, stay up)
        const string secret = "doctor-sentinel-pw-93f1";
        foreach (var s in t.Sentinels)
        {
            Assert.Equal("OK", (await s.ExecuteAsync("ACL", "SETUSER", "doctor", "on", ">" + secret, "allkeys", "allchannels", "+@all")).Text);
        }

        foreach (var s in t.Sentinels)
        {
            Assert.Equal("OK", (await s.ExecuteAsync("ACL", "SETUSER", "default", "resetpass", ">unknown-default-pw-77")).Text);
        }

        string[] Args(params string[] extra) =>
            ["check", "--sentinel", string.Join(',', t.Sentinels.Select(s => s.Endpoint)), "--service", t.ServiceName, "--timeout", "1000", "--format", "json", .. extra];

        // without the user the Sentinels refuse the check: it cannot be passing by accident
        var refused = await CliRunner.RunAsync(new Dictionary<string, string> { ["LEVEE_SENTINEL_PASSWORD"] = secret }, Args());
        Assert.Equal(2, refused.Code);

        var fromEnvironment = await CliRunner.RunAsync(new Dictionary<string, string> { ["LEVEE_SENTINEL_PASSWORD"] = secret }, Args("--sentinel-user", "doctor"));
        var file = Path.Combine(Path.GetTempPath(), "levee-doctor-secret-" + Guid.NewGuid().ToString("N")[..8]);
        await File.WriteAllTextAsync(file, secret + "\n");
        try
        {
            var fromFile = await CliRunner.RunAsync(new Dictionary<string, string> { ["LEVEE_SENTINEL_USER"] = "doctor" }, Args("--sentinel-password-file", file));
            foreach (var (code, output, error) in new[] { fromEnvironment, fromFile })
            {
                Assert.True(code is 0 or 1, $"exit {code}: {error}\n{output}");
                Assert.Contains(t.Master.Endpoint, output, StringComparison.Ordinal); // the master the Sentinels named
                Assert.DoesNotContain("L000", output, StringComparison.Ordinal);
                Assert.DoesNotContain(secret, output + error, StringComparison.Ordinal);
            }
        }
        finally
        {
            File.Delete(file);
        }

        var both = await CliRunner.RunAsync(Args("--sentinel-password", secret, "--sentinel-password-file", file));
        Assert.Equal(2, both.Code);
        Assert.DoesNotContain(secret, both.Out + both.Err, StringComparison.Ordinal);
    }

    [Fact]
    public async Task OverTls_WithAPrivateCaAndAClientCertificate_TheCheckReachesSentinelAndMaster()
    {
        await using var host = new ProcessHost();
        var certs = await TlsCertificates.CreateAsync(host.CreateDirectory("certs"));
        var masterTls = FreePort();
        await host.StartRedisAsync(extraConfig: certs.ServerConfig(masterTls));
        var sentinelTls = FreePort();
        await host.StartSentinelAsync("tlsmaster", masterTls, extraConfig: [.. certs.ServerConfig(sentinelTls), "tls-replication yes"]);
        string[] Args(int timeoutMs, params string[] extra) =>
            ["check", "--sentinel", $"127.0.0.1:{sentinelTls}", "--service", "tlsmaster", "--timeout", $"{timeoutMs}", "--format", "json", .. extra];

        // plain connections to a TLS port get nothing: the check cannot pass by accident (a short timeout: it waits it out)
        Assert.Equal(2, (await CliRunner.RunAsync(Args(1000))).Code);

        // over TLS: a generous timeout, this test is about reaching the nodes, not about how fast (the TLS handshakes took
        // more than 1 s on a machine at load average 16-22 and the check reported L000: not reached)
        var (code, output, error) = await CliRunner.RunAsync(Args(15000, "--tls-ca", certs.Ca, "--tls-cert", certs.ClientCert, "--tls-key", certs.ClientKey));
        Assert.True(code is 0 or 1, $"exit {code}: {error}\n{output}");
        Assert.DoesNotContain("L000", output, StringComparison.Ordinal);
        Assert.Contains($"Master 127.0.0.1:{masterTls}: min-replicas-to-write 0", output, StringComparison.Ordinal); // read from the master itself, over TLS
    }

    private static int FreePort()
    {
        using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        listener.Start();
        return ((System.Net.IPEndPoint)listener.LocalEndpoint).Port;
    }
}
