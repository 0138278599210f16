using System.Diagnostics;
using Levee.Drill.Topology;
using Xunit.Abstractions;

namespace Levee.Drill.Tests.Topology;

public sealed class ProcessHostTests(ITestOutputHelper output)
{
    [Fact]
    public async Task StartRedis_AnswersPing_RecordsPidFile_InItsRoot()
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();

        output.WriteLine($"startup: standalone redis-server ready in {redis.StartupTime.TotalMilliseconds:0} ms");
        Assert.True(redis.StartupTime > TimeSpan.Zero);
        Assert.True(await redis.PingAsync());
        Assert.Equal($"127.0.0.1:{redis.Port}", redis.Endpoint);
        Assert.StartsWith(host.Root, redis.LogFile, StringComparison.Ordinal);
        Assert.Equal(redis.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), File.ReadAllText(Path.Combine(host.Root, redis.Name + ".pid")));
        var config = await redis.ExecuteAsync("CONFIG", "GET", "save");
        Assert.Equal(string.Empty, config.Items[1].Text);
        Assert.Equal("127.0.0.1", (await redis.ExecuteAsync("CONFIG", "GET", "bind")).Items[1].Text);
    }

    [Fact]
    public async Task Dispose_KillsEveryRecordedProcess_AndDeletesTheRoot()
    {
        var host = new ProcessHost();
        var a = await host.StartRedisAsync();
        var b = await host.StartRedisAsync();
        b.Freeze(); // a frozen process must be stopped too
        var pids = new[] { a.Pid, b.Pid, host.WatchdogPid };
        var pidFiles = Directory.GetFiles(host.Root, "*.pid").Length;

        await host.DisposeAsync();

        Assert.Equal(3, pidFiles);
        Assert.All(pids, pid => Assert.False(Signals.IsAlive(pid), $"pid {pid} still alive"));
        Assert.False(Directory.Exists(host.Root));
    }

    [Fact]
    public async Task OwnerDies_WatchdogKillsEveryChild()
    {
        // A stand-in owner process: the guard only depends on the owner PID disappearing, which is what
        // happens when a test host crashes or is SIGKILLed.
        using var owner = Process.Start(new ProcessStartInfo("/bin/sleep", "300") { UseShellExecute = false })!;
        await using var host = new ProcessHost(owner.Id);
        var r1 = await host.StartRedisAsync();
        var r2 = await host.StartRedisAsync();
        r2.Freeze();
        Assert.True(await r1.PingAsync());

        owner.Kill();
        await owner.WaitForExitAsync();

        Assert.True(await r1.Process.WaitForExitAsync(TimeSpan.FromSeconds(20)), "redis 1 survived its owner");
        Assert.True(await r2.Process.WaitForExitAsync(TimeSpan.FromSeconds(20)), "frozen redis 2 survived its owner");
        Assert.False(Signals.IsAlive(r1.Pid));
        Assert.False(Signals.IsAlive(r2.Pid));
    }

    [Fact]
    public async Task PortTakenByAnotherServer_StartRetriesOnAnotherPort_NotFooledByTheForeignPong()
    {
        await using var host = new ProcessHost();
        var first = await host.StartRedisAsync();
        PortAllocator.ForcedNext.Value = first.Port; // simulate losing the race for a port to another process

        var second = await host.StartRedisAsync();

        Assert.NotEqual(first.Port, second.Port);
        var info = await second.InfoAsync("server");
        Assert.Equal(second.Pid.ToString(System.Globalization.CultureInfo.InvariantCulture), info["process_id"]);
        Assert.Contains("Address already in use", File.ReadAllText(second.LogFile), StringComparison.Ordinal);
    }

    [Fact]
    public async Task BadConfig_FailsWithPortLogFileAndLogTail()
    {
        await using var host = new ProcessHost();
        var ex = await Assert.ThrowsAsync<TopologyException>(() => host.StartRedisAsync("bad", ["no-such-directive yes"]));

        Assert.Contains("127.0.0.1:", ex.Message, StringComparison.Ordinal);
        Assert.Contains(Path.Combine(host.Root, "bad", "bad.log"), ex.Message, StringComparison.Ordinal);
        Assert.Contains("no-such-directive", ex.Message, StringComparison.Ordinal);
    }

    [Fact]
    public void MissingBinary_MessageHasTheInstallCommand()
    {
        var ex = Assert.Throws<TopologyException>(() => Binaries.Require("redis-server-that-does-not-exist", "redis-server"));
        Assert.Contains("sudo apt-get install -y redis-server redis-sentinel redis-tools postgresql", ex.Message, StringComparison.Ordinal);
        var pg = Assert.Throws<TopologyException>(() => Binaries.Postgres("initdb-that-does-not-exist"));
        Assert.Contains("sudo apt-get install -y redis-server redis-sentinel redis-tools postgresql", pg.Message, StringComparison.Ordinal);
    }

    [Fact]
    public async Task Start_SameNameWhileRunning_Throws()
    {
        await using var host = new ProcessHost();
        var dir = host.CreateDirectory("s");
        host.Start("s", "/bin/sleep", ["30"], dir, Path.Combine(dir, "s.log"));
        Assert.Throws<InvalidOperationException>(() => host.Start("s", "/bin/sleep", ["30"], dir, Path.Combine(dir, "s.log")));
    }
}
