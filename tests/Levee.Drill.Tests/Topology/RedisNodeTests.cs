using Levee.Drill.Topology;

namespace Levee.Drill.Tests.Topology;

public sealed class RedisNodeTests
{
    private static readonly TimeSpan Short = TimeSpan.FromMilliseconds(300);

    [Fact]
    public async Task Freeze_NoPingWithinTimeout_Thaw_AnswersAgain()
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();

        redis.Freeze();
        Assert.True(redis.IsFrozen);
        Assert.False(await redis.PingAsync(Short));
        await Assert.ThrowsAsync<TimeoutException>(() => redis.ExecuteAsync(Short, ["PING"]));

        redis.Thaw();
        Assert.False(redis.IsFrozen);
        Assert.True(await redis.PingAsync());
    }

    [Fact]
    public async Task Kill_ProcessGone_PortRefuses_PidFileRemoved()
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();
        var pid = redis.Pid;

        redis.Kill();

        Assert.False(redis.IsRunning);
        Assert.False(Signals.IsAlive(pid));
        await Assert.ThrowsAsync<IOException>(() => redis.ExecuteAsync("PING"));
        Assert.False(File.Exists(redis.Process.PidFile));
    }

    [Fact]
    public async Task Restart_SamePort_NewProcess_ComesBackEmpty()
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();
        var port = redis.Port;
        var pid = redis.Pid;
        Assert.Equal("OK", (await redis.ExecuteAsync("SET", "k", "v")).Text);
        Assert.Equal("v", (await redis.ExecuteAsync("GET", "k")).Text);

        await redis.RestartAsync();

        Assert.Equal(port, redis.Port);
        Assert.NotEqual(pid, redis.Pid);
        Assert.False(Signals.IsAlive(pid));
        Assert.True((await redis.ExecuteAsync("GET", "k")).IsNull);
        Assert.Equal(0, (await redis.ExecuteAsync("DBSIZE")).Number);
    }

    [Fact]
    public async Task Restart_WhileFrozen_Works()
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();
        redis.Freeze();

        await redis.RestartAsync();

        Assert.False(redis.IsFrozen);
        Assert.True(await redis.PingAsync());
    }

    [Fact]
    public async Task Execute_ReturnsErrorsAndArrays()
    {
        await using var host = new ProcessHost();
        var redis = await host.StartRedisAsync();

        var error = await redis.ExecuteAsync("NOSUCHCOMMAND");
        Assert.True(error.IsError);
        await redis.ExecuteAsync("RPUSH", "l", "a", "b");
        var list = await redis.ExecuteAsync("LRANGE", "l", "0", "-1");
        Assert.Equal(["a", "b"], list.Items.Select(i => i.Text));
        Assert.Equal("master", await redis.RoleAsync());
        Assert.Equal("7", (await redis.InfoAsync("server"))["redis_version"][..1]);
    }
}
