using Levee.Drill.Topology;
using Xunit.Abstractions;

namespace Levee.Drill.Tests.Topology;

/// <summary>One shared topology for the tests that only read it.</summary>
public sealed class SentinelTopologyFixture : IAsyncLifetime
{
    public SentinelTopology Topology { get; private set; } = null!;

    public async Task InitializeAsync() => Topology = await SentinelTopology.StartAsync();

    public async Task DisposeAsync() => await Topology.DisposeAsync();
}

public sealed class SentinelTopologyTests(SentinelTopologyFixture fixture, ITestOutputHelper output) : IClassFixture<SentinelTopologyFixture>
{
    private SentinelTopology Topology => fixture.Topology;

    [Fact]
    public async Task Started_SentinelsReportMaster_ReplicasLinked()
    {
        output.WriteLine($"startup: sentinel topology (1 master, 2 replicas, 3 sentinels) ready in {Topology.StartupTime.TotalMilliseconds:0} ms");
        Assert.True(Topology.StartupTime > TimeSpan.Zero);
        Assert.Equal(2, Topology.Replicas.Count);
        Assert.Equal(3, Topology.Sentinels.Count);
        Assert.Equal(Topology.Master.Endpoint, await Topology.GetMasterEndpointAsync());
        var answers = await Topology.AskSentinelsAsync();
        Assert.All(answers.Values, a => Assert.Equal(Topology.Master.Endpoint, a));
        Assert.Same(Topology.Master, await Topology.FindCurrentMasterAsync());
        foreach (var replica in Topology.Replicas)
        {
            Assert.Equal("slave", await replica.RoleAsync());
            Assert.Equal("up", (await replica.InfoAsync("replication"))["master_link_status"]);
        }

        foreach (var sentinel in Topology.Sentinels)
        {
            var master = (await sentinel.ExecuteAsync("SENTINEL", "MASTER", "mymaster")).ToPairs();
            Assert.Equal("2", master["quorum"]);
            Assert.Equal("2000", master["down-after-milliseconds"]);
            Assert.Equal("2", master["num-other-sentinels"]);
            Assert.Equal("2", master["num-slaves"]);
        }
    }

    [Fact]
    public void ConnectionString_ListsSentinelsAndServiceName()
    {
        var expected = string.Join(',', Topology.Sentinels.Select(s => "127.0.0.1:" + s.Port)) + ",serviceName=mymaster";
        Assert.Equal(expected, Topology.ConnectionString);
        Assert.Same(Topology.Sentinels[1], Topology.NodeByEndpoint(Topology.Sentinels[1].Endpoint));
        Assert.Null(Topology.NodeByEndpoint("127.0.0.1:1"));
    }

    [Fact]
    public async Task StackExchangeRedis_SentinelMode_WritesToTheMaster()
    {
        await using var mux = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(Topology.ConnectionString + ",connectTimeout=5000");
        Assert.True(await mux.GetDatabase().StringSetAsync("via-se-redis", "1"));
        Assert.Equal("1", (await Topology.Master.ExecuteAsync("GET", "via-se-redis")).Text);
    }

    [Fact]
    public async Task WriteOnMaster_IsReadFromReplicas()
    {
        var written = await Topology.Master.ExecuteBatchAsync(TimeSpan.FromSeconds(5), [["SET", "replicated", "yes"], ["WAIT", "2", "4000"]]);
        Assert.Equal("OK", written[0].Text);
        Assert.Equal(2, written[1].Number);
        foreach (var replica in Topology.Replicas)
        {
            Assert.Equal("yes", (await replica.ExecuteAsync("GET", "replicated")).Text);
        }
    }

    [Fact]
    public async Task SentinelFaults_FrozenSilent_RestartedRejoinsKnowingTheMaster()
    {
        var frozen = Topology.Sentinels[1];
        frozen.Freeze();
        try
        {
            var answers = await Topology.AskSentinelsAsync();
            Assert.Null(answers[frozen]);
            Assert.Equal(2, answers.Values.Count(a => a == Topology.Master.Endpoint));
            Assert.False(await frozen.PingAsync(TimeSpan.FromMilliseconds(300)));
        }
        finally
        {
            frozen.Thaw();
        }

        var restarted = Topology.Sentinels[2];
        var oldPid = restarted.Pid;
        await restarted.RestartAsync();
        await Topology.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));

        Assert.NotEqual(oldPid, restarted.Pid);
        var master = await restarted.ExecuteAsync("SENTINEL", "GET-MASTER-ADDR-BY-NAME", "mymaster");
        Assert.Equal(Topology.Master.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), master.Items[1].Text);
    }

    [Fact]
    public async Task ReplicaRestart_NewProcess_ResyncsFromTheMaster()
    {
        var written = await Topology.Master.ExecuteBatchAsync(TimeSpan.FromSeconds(5), [["SET", "resync", "1"], ["WAIT", "2", "4000"]]);
        Assert.Equal(2, written[1].Number);
        var replica = Topology.Replicas[0];
        var oldPid = replica.Pid;

        await replica.RestartAsync();
        Assert.NotEqual(oldPid, replica.Pid);
        await Topology.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));

        Assert.Equal("slave", await replica.RoleAsync());
        Assert.Equal("1", (await replica.ExecuteAsync("GET", "resync")).Text);
    }

    [Fact]
    public async Task Options_Invalid_ReportsEveryProblem()
    {
        var ex = await Assert.ThrowsAsync<ArgumentException>(() =>
            SentinelTopology.StartAsync(new SentinelTopologyOptions { Sentinels = 3, Quorum = 4, DownAfterMilliseconds = 5 }));
        Assert.Contains("Quorum=4", ex.Message, StringComparison.Ordinal);
        Assert.Contains("DownAfterMilliseconds=5", ex.Message, StringComparison.Ordinal);
    }
}

public sealed class SentinelFailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task Quorum2_MasterKilled_FailsOverToAReplica_OldMasterRejoinsAsReplica()
    {
        await using var topology = await SentinelTopology.StartAsync();
        var old = topology.Master;
        var written = await old.ExecuteBatchAsync(TimeSpan.FromSeconds(5), [["SET", "before", "1"], ["WAIT", "2", "4000"]]);
        Assert.Equal(2, written[1].Number);

        var clock = System.Diagnostics.Stopwatch.StartNew();
        old.Kill();
        var promoted = await topology.WaitForFailoverAsync(old.Endpoint, TimeSpan.FromSeconds(60));
        output.WriteLine($"failover: quorum 2, down-after 2000 ms, master SIGKILL -> Sentinels report {promoted.Endpoint} after {clock.ElapsedMilliseconds} ms");

        Assert.Contains(promoted, topology.Replicas);
        Assert.Equal("master", await promoted.RoleAsync());
        Assert.Equal("1", (await promoted.ExecuteAsync("GET", "before")).Text);
        Assert.Same(promoted, await topology.FindCurrentMasterAsync());

        // the demoted master comes back empty and Sentinel turns it into a replica of the new master
        await old.RestartAsync();
        await topology.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        Assert.Equal("slave", await old.RoleAsync());
        Assert.Same(promoted, await topology.FindCurrentMasterAsync());

        // dispose stops every process of the topology, the restarted one included
        var pids = topology.RedisNodes.Concat(topology.Sentinels).Select(n => n.Pid).ToList();
        await topology.DisposeAsync();
        Assert.All(pids, pid => Assert.False(Signals.IsAlive(pid), $"pid {pid} alive after dispose"));
        Assert.False(Directory.Exists(topology.Host.Root));
    }
}

public sealed class SentinelNoFailoverTests
{
    [Fact]
    public async Task Quorum3_OneSentinelFrozen_MasterKilled_NoFailover()
    {
        await using var topology = await SentinelTopology.StartAsync(new SentinelTopologyOptions { Quorum = 3 });
        var frozen = topology.Sentinels[0];
        frozen.Freeze();
        Assert.False(await frozen.PingAsync(TimeSpan.FromMilliseconds(300)));

        topology.Master.Kill();
        var changed = await topology.WaitForMasterChangeAsync(topology.Master.Endpoint, TimeSpan.FromSeconds(15));

        Assert.Null(changed);
        // the live Sentinels did see the master down: the failover is blocked by the quorum, not by a broken setup
        foreach (var sentinel in topology.Sentinels.Skip(1))
        {
            var master = (await sentinel.ExecuteAsync("SENTINEL", "MASTER", "mymaster")).ToPairs();
            Assert.Contains("s_down", master["flags"], StringComparison.Ordinal);
            Assert.Equal(topology.Master.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), master["port"]);
        }

        Assert.All(topology.Replicas, r => Assert.True(r.IsRunning));
        Assert.Equal("slave", await topology.Replicas[0].RoleAsync());
        frozen.Thaw();
        Assert.True(await frozen.PingAsync());
    }
}
