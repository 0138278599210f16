using Levee.Drill.Topology;
using Xunit.Abstractions;

namespace Levee.Drill.Tests.Topology;

public sealed class ClusterTopologyFixture : IAsyncLifetime
{
    public ClusterTopology Cluster { get; private set; } = null!;

    public async Task InitializeAsync() => Cluster = await ClusterTopology.StartAsync();

    public async Task DisposeAsync() => await Cluster.DisposeAsync();
}

public sealed class ClusterTopologyTests(ClusterTopologyFixture fixture, ITestOutputHelper output) : IClassFixture<ClusterTopologyFixture>
{
    private ClusterTopology Cluster => fixture.Cluster;

    [Fact]
    public async Task Started_ThreeMastersEachWithOneLinkedReplica_AllSlotsOk()
    {
        output.WriteLine($"startup: cluster (3 masters, 3 replicas) ready in {Cluster.StartupTime.TotalMilliseconds:0} ms");
        Assert.True(Cluster.StartupTime > TimeSpan.Zero);
        Assert.Equal(6, Cluster.Nodes.Count);
        Assert.Equal(3, Cluster.Masters.Count);
        Assert.Equal(3, Cluster.ReplicaOf.Count);
        Assert.Equal(3, Cluster.ReplicaOf.Values.Distinct().Count());
        Assert.All(Cluster.ReplicaOf.Values, m => Assert.Contains(m, Cluster.Masters));
        foreach (var node in Cluster.Nodes)
        {
            var info = RedisNode.ParseInfo(await node.ExecuteAsync("CLUSTER", "INFO"));
            Assert.Equal("ok", info["cluster_state"]);
            Assert.Equal("16384", info["cluster_slots_assigned"]);
            Assert.Equal("2000", (await node.ExecuteAsync("CONFIG", "GET", "cluster-node-timeout")).Items[1].Text);
        }

        foreach (var (replica, master) in Cluster.ReplicaOf)
        {
            Assert.Equal("slave", await replica.RoleAsync());
            var repl = await replica.InfoAsync("replication");
            Assert.Equal(master.Port.ToString(System.Globalization.CultureInfo.InvariantCulture), repl["master_port"]);
            Assert.Equal("up", repl["master_link_status"]);
        }

        Assert.Equal(string.Join(',', Cluster.Nodes.Select(n => n.Endpoint)), Cluster.ConnectionString);
        Assert.Same(Cluster.Nodes[2], Cluster.NodeById(Cluster.NodeId(Cluster.Nodes[2])));
    }

    [Fact]
    public async Task StackExchangeRedis_ClusterMode_WritesAcrossAllMasters()
    {
        await using var mux = await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(Cluster.ConnectionString + ",connectTimeout=5000");
        var db = mux.GetDatabase();
        for (var i = 0; i < 60; i++)
        {
            Assert.True(await db.StringSetAsync("se:" + i, i));
        }

        var perMaster = new List<long>();
        foreach (var master in Cluster.Masters)
        {
            var keys = await master.ExecuteAsync("KEYS", "se:*");
            perMaster.Add(keys.Items.Count);
        }

        Assert.Equal(60, perMaster.Sum());
        Assert.All(perMaster, n => Assert.True(n > 0));
    }

    [Fact]
    public async Task Write_IsRedirectedToTheSlotOwner_AndReplicated()
    {
        // a key whose slot the first node may not own: follow the MOVED redirect as a cluster client would
        var first = await Cluster.Nodes[0].ExecuteAsync("SET", "{user}:1", "v");
        var owner = Cluster.Nodes[0];
        if (first.IsError)
        {
            Assert.StartsWith("MOVED ", first.Text, StringComparison.Ordinal);
            owner = Cluster.NodeByEndpoint(first.Text!.Split(' ')[2])!;
            if (Cluster.ReplicaOf.ContainsKey(owner))
            {
                Assert.Fail("MOVED pointed at a replica");
            }

        }

        Assert.Contains(owner, Cluster.Masters);
        var written = await owner.ExecuteBatchAsync(TimeSpan.FromSeconds(5), [["SET", "{user}:1", "v"], ["WAIT", "1", "4000"]]);
        Assert.Equal("OK", written[0].Text);
        Assert.Equal(1, written[1].Number);
        var replica = Cluster.ReplicaOf.Single(kv => kv.Value == owner).Key;
        var read = await replica.ExecuteBatchAsync(TimeSpan.FromSeconds(2), [["READONLY"], ["GET", "{user}:1"]]);
        Assert.Equal("v", read[1].Text);
    }
}

public sealed class ClusterFailoverTests(ITestOutputHelper output)
{
    [Fact]
    public async Task MasterKilled_ItsReplicaIsPromoted_ClusterOkAgain()
    {
        await using var cluster = await ClusterTopology.StartAsync();
        var victim = cluster.Masters[0];
        var replica = cluster.ReplicaOf.Single(kv => kv.Value == victim).Key;

        var clock = System.Diagnostics.Stopwatch.StartNew();
        victim.Kill();
        var promoted = await cluster.WaitForPromotionAsync(victim, TimeSpan.FromSeconds(60));
        output.WriteLine($"failover: cluster-node-timeout 2000 ms, master SIGKILL -> {promoted.Endpoint} promoted, cluster_state ok after {clock.ElapsedMilliseconds} ms");

        Assert.Same(replica, promoted);
        Assert.Equal("master", await promoted.RoleAsync());
        var layout = await cluster.GetLayoutAsync();
        Assert.Contains(promoted, layout.Masters);
        Assert.DoesNotContain(victim, layout.Masters);
        Assert.Contains(victim, layout.Failed);
        Assert.Equal(3, layout.Masters.Count);

        // the old master comes back empty and rejoins as a replica of the promoted node
        await victim.RestartAsync();
        await cluster.WaitUntilReadyAsync(TimeSpan.FromSeconds(60));
        var after = await cluster.GetLayoutAsync();
        Assert.Same(promoted, after.ReplicaOf[victim]);
        Assert.Equal("slave", await victim.RoleAsync());

        var pids = cluster.Nodes.Select(n => n.Pid).ToList();
        await cluster.DisposeAsync();
        Assert.All(pids, pid => Assert.False(Signals.IsAlive(pid), $"pid {pid} alive after dispose"));
    }
}
