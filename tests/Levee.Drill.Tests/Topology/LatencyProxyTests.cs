using System.Net;
using System.Net.Sockets;
using Levee.Drill.Topology;

namespace Levee.Drill.Tests.Topology;

public sealed class RedisFixture : IAsyncLifetime
{
    public ProcessHost Host { get; } = new();

    public RedisNode Redis { get; private set; } = null!;

    public async Task InitializeAsync() => Redis = await Host.StartRedisAsync();

    public async Task DisposeAsync() => await Host.DisposeAsync();
}

public sealed class LatencyProxyTests(RedisFixture fixture) : IClassFixture<RedisFixture>
{
    private static Task<RedisReply> Ping(LatencyProxy proxy, TimeSpan timeout) =>
        RespClient.ExecuteAsync(proxy.Port, timeout, ["PING"], CancellationToken.None);

    [Fact]
    public async Task Forwards_BothWays()
    {
        await using var proxy = LatencyProxy.Start(fixture.Redis);
        Assert.Equal("PONG", (await Ping(proxy, TimeSpan.FromSeconds(2))).Text);
        var replies = await RespClient.ExecuteBatchAsync(proxy.Port, TimeSpan.FromSeconds(2), [["SET", "via-proxy", new string('x', 100_000)], ["STRLEN", "via-proxy"]], CancellationToken.None);
        Assert.Equal(100_000, replies[1].Number);
        Assert.Equal(fixture.Redis.Port, proxy.TargetPort);
        Assert.Equal(2, proxy.AcceptedConnections);
    }

    [Fact]
    public async Task Delay_AnswerNeverComesBeforeIt_ButComes()
    {
        await using var proxy = LatencyProxy.Start(fixture.Redis);
        proxy.UpstreamDelay = TimeSpan.FromMilliseconds(200);
        proxy.DownstreamDelay = TimeSpan.FromMilliseconds(200);

        await Assert.ThrowsAsync<TimeoutException>(() => Ping(proxy, TimeSpan.FromMilliseconds(150)));
        Assert.Equal("PONG", (await Ping(proxy, TimeSpan.FromSeconds(10))).Text);

        proxy.UpstreamDelay = TimeSpan.Zero;
        proxy.DownstreamDelay = TimeSpan.Zero;
        Assert.Equal("PONG", (await Ping(proxy, TimeSpan.FromSeconds(2))).Text);
        Assert.Throws<ArgumentOutOfRangeException>(() => proxy.UpstreamDelay = TimeSpan.FromMilliseconds(-1));
    }

    [Fact]
    public async Task Blackhole_AcceptsButAnswersNothing_HeldRequestFlowsWhenLifted()
    {
        await using var proxy = LatencyProxy.Start(fixture.Redis);
        proxy.Blackhole = true;
        Assert.True(proxy.Blackhole);

        await Assert.ThrowsAsync<TimeoutException>(() => Ping(proxy, TimeSpan.FromMilliseconds(300)));
        var held = Ping(proxy, TimeSpan.FromSeconds(20));
        await Task.Delay(300);
        Assert.False(held.IsCompleted);

        proxy.Blackhole = false;
        Assert.Equal("PONG", (await held).Text);
        Assert.Equal(2, proxy.AcceptedConnections);
    }

    [Fact]
    public async Task MaxConnections_RefusesBeyond_Dispose_StopsListening()
    {
        var proxy = LatencyProxy.Start(fixture.Redis, maxConnections: 1);
        using var idle = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await idle.ConnectAsync(IPAddress.Loopback, proxy.Port);
        await WaitUntil(() => proxy.ActiveConnections == 1);

        await Assert.ThrowsAnyAsync<IOException>(() => Ping(proxy, TimeSpan.FromSeconds(2)));
        Assert.Equal(1, proxy.RefusedConnections);

        var port = proxy.Port;
        await proxy.DisposeAsync();
        Assert.Equal(0, proxy.ActiveConnections);
        using var after = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await Assert.ThrowsAsync<SocketException>(() => after.ConnectAsync(IPAddress.Loopback, port));
    }

    [Fact]
    public async Task DropConnections_ClosesOpenOnes_NewOnesWork()
    {
        await using var proxy = LatencyProxy.Start(fixture.Redis);
        using var client = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await client.ConnectAsync(IPAddress.Loopback, proxy.Port);
        await WaitUntil(() => proxy.ActiveConnections == 1);

        proxy.DropConnections();

        var buffer = new byte[16];
        using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(10));
        var closed = false;
        try
        {
            closed = await client.ReceiveAsync(buffer, SocketFlags.None, cts.Token) == 0;
        }
        catch (SocketException)
        {
            closed = true;
        }

        Assert.True(closed);
        Assert.Equal("PONG", (await Ping(proxy, TimeSpan.FromSeconds(2))).Text);
    }

    private static async Task WaitUntil(Func<bool> condition)
    {
        for (var i = 0; i < 200 && !condition(); i++)
        {
            await Task.Delay(25);
        }

        Assert.True(condition());
    }
}
