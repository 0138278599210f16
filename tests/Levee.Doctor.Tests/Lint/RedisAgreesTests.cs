using System.Diagnostics;
using Levee.Drill.Topology;

namespace Levee.Doctor.Tests.Lint;

/// <summary>
/// Checks the doctor's claims against the real redis-server / redis-sentinel 7.0 binaries: a config the doctor
/// says Redis refuses is refused (with the message the rule quotes), and one it says Redis accepts starts.
/// The binaries run with <c>port 0</c>, so they load the config and exit ("Configured to not listen anywhere").
/// </summary>
public sealed class RedisAgreesTests : IDisposable
{
    private readonly string _dir = Directory.CreateTempSubdirectory("levee-doctor-redis-").FullName;

    public void Dispose() => Directory.Delete(_dir, recursive: true);

    public static TheoryData<string, string, string, string> Refused() => new()
    {
        { "P001", "server", "requirepass \"unterminated", "Unbalanced quotes in configuration line" },
        { "P002", "server", "frobnicate yes", "Bad directive or wrong number of arguments" },
        { "P002", "sentinel", "sentinel monitor m 127.0.0.1 6379 2\nsentinel frobnicate m 1", "Unrecognized sentinel configuration statement" },
        { "P004", "server", "replicaof 10.0.0.1", "wrong number of arguments" },
        { "P004", "server", "loglevel notice # quieter", "wrong number of arguments" }, // a mid-line '#' is no comment
        { "P004", "server", "maxmemory 1gb # cap", "wrong number of arguments" },
        { "P004", "sentinel", "sentinel monitor m 127.0.0.1 6379", "Unrecognized sentinel configuration statement" },
        { "P006", "sentinel", "sentinel monitor m 127.0.0.1 6379 2\nsentinel down-after-milliseconds other 5000", "No such master with specified name." },
        { "S001", "sentinel", "sentinel monitor m redis-master 6379 2", "Can't resolve instance hostname." },
        { "S002", "sentinel", "sentinel monitor m 127.0.0.1 6379 0", "Quorum must be 1 or greater." },
        { "S002", "sentinel", "sentinel monitor m 127.0.0.1 99999 2", "Invalid port number" },
        { "S002", "sentinel", "sentinel monitor m 127.0.0.1 6379 2\nsentinel monitor m 127.0.0.1 6380 2", "Duplicate master name." },
        { "S002", "sentinel", "sentinel monitor m 127.0.0.1 6379 2\nsentinel down-after-milliseconds m 0", "negative or zero time parameter." },
        { "S002", "sentinel", "sentinel monitor m 127.0.0.1 6379 2\nsentinel myid abc", "Malformed Sentinel id in myid option." },
    };

    public static TheoryData<string, string, string, bool> Accepted() => new()
    {
        // rule, binary, config, whether the doctor reports the rule (it still matters even though Redis starts)
        { "S005", "sentinel", "sentinel monitor m 127.0.0.1 6379 2\nsentinel parallel-syncs m 0", true },
        { "P004", "server", "save 900 1 300 10\nbind 127.0.0.1 ::1\nclient-output-buffer-limit replica 256mb 64mb 60\noom-score-adj-values 0 200 800\nlatency-tracking-info-percentiles 50 99 99.9\nshutdown-on-sigterm nosave force", false },
        { "T001", "sentinel", "sentinel monitor m 127.0.0.1 6379 5\nsentinel known-sentinel m 127.0.0.1 26380 1111111111111111111111111111111111111111\nsentinel known-sentinel m 127.0.0.1 26381 3333333333333333333333333333333333333333", true },
        { "S007", "sentinel", "sentinel monitor m 127.0.0.1 6379 2\nsentinel deny-scripts-reconfig no", true },
        { "P006", "sentinel", "sentinel down-after-milliseconds m 5000\nsentinel monitor m 127.0.0.1 6379 2", false },
        { "S001", "sentinel", "sentinel monitor m localhost 6379 2\nsentinel resolve-hostnames yes", false },
        { "P002", "sentinel", "sentinel monitor m 127.0.0.1 6379 2\nsentinel known-sentinel m 127.0.0.1 26380 1111111111111111111111111111111111111111\nsentinel known-replica m 127.0.0.1 6380\nsentinel config-epoch m 1\nsentinel leader-epoch m 1\nsentinel current-epoch 1\nsentinel myid 2222222222222222222222222222222222222222", false },
    };

    [Theory]
    [MemberData(nameof(Refused))]
    public async Task RuleSaysRefused_ConfigIsRefusedByRedis(string ruleId, string binary, string config, string redisMessage)
    {
        Assert.Contains(DoctorLinter.LintTexts([(binary + ".conf", config)]).Findings, f => f.RuleId == ruleId && f.Severity == Rules.Get(ruleId).Severity);
        var (accepted, output) = await StartAsync(binary, config);
        Assert.False(accepted, $"{binary} accepted a config the doctor reports as {ruleId}:\n{output}");
        Assert.Contains(redisMessage, output, StringComparison.Ordinal);
    }

    [Theory]
    [MemberData(nameof(Accepted))]
    public async Task ConfigIsAcceptedByRedis_AsTheRuleSays(string ruleId, string binary, string config, bool reported)
    {
        var findings = DoctorLinter.LintTexts([(binary + ".conf", config)]).Findings;
        Assert.Equal(reported, findings.Any(f => f.RuleId == ruleId));
        var (accepted, output) = await StartAsync(binary, config);
        Assert.True(accepted, $"{binary} refused the config:\n{output}");
    }

    [Theory]
    [InlineData("sentinel-1.conf")]
    [InlineData("sentinel-2.conf")]
    [InlineData("sentinel-3.conf")]
    [InlineData("redis-master.conf")]
    [InlineData("redis-replica-1.conf")]
    [InlineData("redis-replica-2.conf")]
    public async Task ShippedExample_EveryFileLoadsInRedis(string file)
    {
        // The example's hosts (10.0.x.x), data dir and log file do not exist here: port 0, a temp dir and no log
        // file are appended after the example's own lines, so every other directive is loaded as written.
        var lines = await File.ReadAllLinesAsync(Repo.Path("deploy", "sentinel", file));
        var text = string.Join('\n', lines.Where(l => !l.StartsWith("dir ", StringComparison.Ordinal))); // Redis chdirs while loading
        var (accepted, output) = await StartAsync(file.StartsWith("sentinel", StringComparison.Ordinal) ? "sentinel" : "server", text + "\nlogfile \"\"\n", append: true);
        Assert.True(accepted, $"deploy/sentinel/{file} is refused:\n{output}");
    }

    private async Task<(bool Accepted, string Output)> StartAsync(string binary, string config, bool append = false)
    {
        var path = Path.Combine(_dir, Guid.NewGuid().ToString("N") + ".conf");
        var local = "port 0\ndir " + _dir + "\n";
        await File.WriteAllTextAsync(path, append ? config + "\n" + local : local + config + "\n");
        var psi = new ProcessStartInfo(binary == "sentinel" ? Binaries.RedisSentinel : Binaries.RedisServer)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add(path);
        using var process = Process.Start(psi)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill();
            Assert.Fail($"{psi.FileName} {path} did not exit within 20 s (it should load the config and exit: port 0)");
        }

        var output = await stdout + await stderr;
        return (output.Contains("Configured to not listen anywhere", StringComparison.Ordinal), output);
    }
}
