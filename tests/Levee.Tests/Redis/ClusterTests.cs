using Levee.Drill.Topology;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.Tests.Redis;

/// <summary>Levee against a real 6-node Redis Cluster (3 masters, 3 replicas).</summary>
[Collection(RealProcesses.Name)]
public sealed class ClusterTests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task AMasterThatReconnects_IsNotReportedAsAFailover()
    {
        await using var cluster = await ClusterTopology.StartAsync();
        var services = new ServiceCollection();
        services.AddLevee(o => o.Redis = cluster.ConnectionString);
        await using var app = services.BuildServiceProvider();
        var cache = await RealRedisTests.ConnectedCache(app);
        var switches = new System.Collections.Concurrent.ConcurrentQueue<LeveeL2EventArgs>();
        cache.RedisStateChanged += (_, e) => switches.Enqueue(e);
        Assert.Equal(1, await cache.GetOrCreateAsync("kept", 0, (_, _) => ValueTask.FromResult(1), OneMinute));

        // a master restarted before the cluster fails it over (node timeout 2 s): it comes back as the same master
        var node = cluster.Masters[0];
        node.Kill();
        await node.RestartAsync();
        for (var i = 0; i < 100 && !switches.Any(e => e.Kind == LeveeL2EventKind.Connected); i++)
        {
            await Task.Delay(50); // bounded: StackExchange.Redis reconnects within its 500 ms retry
        }

        Assert.Contains(switches, e => e.Kind == LeveeL2EventKind.Connected); // else the check below could not fail
        await RoleChecksAsync(node, 2); // the configuration checks that follow a reconnect, and their second look
        Assert.Equal("master", await node.RoleAsync()); // not failed over meanwhile: still the same master
        Assert.DoesNotContain(switches, e => e.Kind == LeveeL2EventKind.MasterSwitched);
    }

    [Fact]
    public async Task StartedWhileTheClusterIsDown_AMasterThatReconnectsLater_IsNotReportedAsAFailover()
    {
        await using var cluster = await ClusterTopology.StartAsync();
        foreach (var node in cluster.Nodes)
        {
            node.Kill();
        }

        var services = new ServiceCollection();
        services.AddLevee(o => o.Redis = cluster.ConnectionString);
        await using var app = services.BuildServiceProvider();
        var store = (Levee.Redis.RedisL2Store)app.GetRequiredService<LeveeCache>().L2Store!;
        for (var i = 0; i < 500 && store.Current is null; i++)
        {
            await Task.Delay(10); // the connect returns (abortConnect=false) with no node reachable: no way to tell a Cluster yet
        }

        Assert.NotNull(store.Current);
        foreach (var node in cluster.Nodes)
        {
            await node.RestartAsync();
        }

        await cluster.WaitUntilReadyAsync(TimeSpan.FromSeconds(30));
        var cache = await RealRedisTests.ConnectedCache(app);
        foreach (var node in cluster.Nodes)
        {
            await RoleChecksAsync(node, 1); // StackExchange.Redis connected every node and Levee's check has seen each
        }

        var switches = new System.Collections.Concurrent.ConcurrentQueue<LeveeL2EventArgs>();
        cache.RedisStateChanged += (_, e) => switches.Enqueue(e);
        Assert.Equal(1, await cache.GetOrCreateAsync("kept", 0, (_, _) => ValueTask.FromResult(1), OneMinute));

        // it used to take the single-master rule for good ("a node that was not a master now is one"), which a master
        // that only reconnects satisfies in a Cluster: L1 dropped at every blip
        for (var attempt = 1; ; attempt++)
        {
            var master = await AnyMasterAsync(cluster);
            master.Kill();
            await Eventually.TrueAsync(() => ((Levee.Redis.RedisL2Store)cache.L2Store!).Current!.Primary.GetServers()
                .Where(x => Levee.Redis.RedisNodes.Format(x.EndPoint) == master.Endpoint).All(x => !x.IsConnected),
                TimeSpan.FromSeconds(10), "StackExchange.Redis never saw the killed master gone"); // inside the 2 s node timeout: no failover
            await master.RestartAsync();
            for (var i = 0; i < 100 && !switches.Any(e => e.Kind == LeveeL2EventKind.Connected); i++)
            {
                await Task.Delay(50);
            }

            Assert.Contains(switches, e => e.Kind == LeveeL2EventKind.Connected);
            await RoleChecksAsync(master, 2); // the configuration checks that follow a reconnect
            if (await master.RoleAsync() == "master")
            {
                Assert.DoesNotContain(switches, e => e.Kind == LeveeL2EventKind.MasterSwitched);
                return;
            }

            // the restart outlasted the node timeout on a busy machine: a real failover, rightly reported; not the case
            // under test, so again with the Cluster settled
            Assert.True(attempt < 3, "three restarts in a row outlasted the Cluster's node timeout");
            await cluster.WaitUntilReadyAsync(TimeSpan.FromSeconds(30));
            await RoleChecksAsync(master, 4); // Levee's checks have seen the settled Cluster (2 were counted above, plus this test's own ROLE)
            switches.Clear();
        }
    }

    /// <summary>
    /// Waits until <paramref name="node"/> has answered at least <paramref name="calls"/> ROLE commands since it (re)started:
    /// Levee's Cluster check asks every connected node for its ROLE, so this is "the check ran", observed, not slept for.
    /// </summary>
    private static Task RoleChecksAsync(Levee.Drill.Topology.RedisNode node, int calls) =>
        Eventually.TrueAsync(
            async () =>
            {
                var stats = (await node.ExecuteAsync("INFO", "commandstats")).Text ?? string.Empty;
                var line = stats.Split('\n').FirstOrDefault(l => l.StartsWith("cmdstat_role:calls=", StringComparison.Ordinal));
                return line is not null && int.Parse(line["cmdstat_role:calls=".Length..line.IndexOf(',', StringComparison.Ordinal)], System.Globalization.CultureInfo.InvariantCulture) >= calls;
            },
            TimeSpan.FromSeconds(15),
            $"{node.Endpoint} was not asked for its ROLE {calls} times");

    private static async Task<Levee.Drill.Topology.RedisNode> AnyMasterAsync(ClusterTopology cluster)
    {
        foreach (var node in cluster.Nodes)
        {
            try
            {
                if (await node.RoleAsync() == "master")
                {
                    return node;
                }
            }
            catch (Exception ex) when (ex is IOException or System.Net.Sockets.SocketException or TimeoutException or InvalidOperationException)
            {
                // not answering: not this one
            }
        }

        throw new InvalidOperationException("no Cluster node answers ROLE master");
    }

    [Fact]
    public async Task AKilledMastersKeys_AreNotSentToIt_AndAreReadFromItsReplica()
    {
        // node timeout 60 s: the Cluster neither fails the killed master over nor goes CLUSTERDOWN while this test runs,
        // so what is tested is the client's side only: the other masters and the victim's replica still answer
        await using var cluster = await ClusterTopology.StartAsync(new ClusterTopologyOptions { NodeTimeoutMilliseconds = 60_000 });
        static ServiceProvider Instance(ClusterTopology cluster)
        {
            var services = new ServiceCollection();
            services.AddLevee(o =>
            {
                o.Redis = cluster.ConnectionString;
                o.L2Timeout = TimeSpan.FromSeconds(1); // a healthy call never times out on a busy machine
            });
            return services.BuildServiceProvider();
        }

        await using var writerApp = Instance(cluster);
        await using var readerApp = Instance(cluster);
        var writer = await RealRedisTests.ConnectedCache(writerApp);
        var reader = await RealRedisTests.ConnectedCache(readerApp);
        for (var i = 0; i < 30; i++)
        {
            await writer.SetAsync("k" + i, i, OneMinute);
        }

        var victim = cluster.Masters[0];
        var replica = cluster.ReplicaOf.Single(kv => kv.Value == victim).Key;
        var onVictim = (await victim.ExecuteAsync("KEYS", "*d:*:k*")).Items.Select(i => i.Text!).ToList();
        Assert.NotEmpty(onVictim); // 30 keys over 3 masters
        var elsewhere = Enumerable.Range(0, 30).Select(i => "k" + i).First(k => !onVictim.Any(d => d.EndsWith(":" + k, StringComparison.Ordinal)));
        var masterOffset = (await victim.InfoAsync("replication"))["master_repl_offset"];
        await Eventually.TrueAsync(async () => long.Parse((await replica.InfoAsync("replication"))["slave_repl_offset"], System.Globalization.CultureInfo.InvariantCulture)
            >= long.Parse(masterOffset, System.Globalization.CultureInfo.InvariantCulture), TimeSpan.FromSeconds(10), "the victim's replica never caught up");

        var lost = new System.Collections.Concurrent.ConcurrentQueue<LeveeL2EventArgs>();
        reader.RedisStateChanged += (_, e) => lost.Enqueue(e);
        victim.Kill();
        // the interactive connection's loss: its subscription connection's loss (reported first now and then on a busy
        // machine) is not what the slot tracking follows (a first version of this test waited for either, and failed
        // when the subscription's came first)
        await Eventually.TrueAsync(() => lost.Any(e => e.Kind == LeveeL2EventKind.ConnectionLost && e.Detail!.Contains(victim.Endpoint, StringComparison.Ordinal)
            && e.Detail.Contains(nameof(StackExchange.Redis.ConnectionType.Interactive), StringComparison.Ordinal)),
            TimeSpan.FromSeconds(10), "StackExchange.Redis never reported the killed master's interactive connection lost");

        // the victim's keys: not sent (the call fails at once, naming the node), and read from its replica instead
        var store = (Levee.Redis.RedisL2Store)reader.L2Store!;
        // (thrown by the call itself, before any task exists: nothing was handed to StackExchange.Redis to wait on)
        var refused = Assert.Throws<StackExchange.Redis.RedisConnectionException>(() => { _ = store.GetAsync(onVictim[0]); });
        Assert.Contains(victim.Endpoint, refused.Message, StringComparison.Ordinal);
        Assert.Throws<StackExchange.Redis.RedisConnectionException>(() => { _ = store.RemoveAsync(onVictim[0]); });
        var loads = 0;
        foreach (var dataKey in onVictim)
        {
            var key = dataKey[(dataKey.LastIndexOf(':') + 1)..];
            Assert.Equal(int.Parse(key[1..], System.Globalization.CultureInfo.InvariantCulture),
                await reader.GetOrCreateAsync(key, 0, (_, _) => { Interlocked.Increment(ref loads); return ValueTask.FromResult(-1); }, OneMinute));
        }

        Assert.Equal(0, loads); // every one from the replica

        // the other masters' keys are sent as before
        var prefix = onVictim[0][..(onVictim[0].LastIndexOf(':') + 1)];
        Assert.False((await store.GetAsync(prefix + elsewhere)).IsNull);
    }

    [Fact]
    public async Task MasterKilled_ReplicaTakesOver_LeveeKeepsWorkingOnAllSlots()
    {
        await using var cluster = await ClusterTopology.StartAsync();
        var services = new ServiceCollection();
        services.AddLevee(o =>
        {
            o.Redis = cluster.ConnectionString;
            o.L2Timeout = TimeSpan.FromSeconds(1); // the removals below must not time out on a busy machine (they would be journaled)
        });
        await using var app = services.BuildServiceProvider();
        var cache = await RealRedisTests.ConnectedCache(app);
        for (var i = 0; i < 100; i++)
        {
            await cache.SetAsync("key" + i, i, OneMinute);
        }

        // removals reach another instance through the backplane from every master (the keys are spread over the slots)
        var peerServices = new ServiceCollection();
        peerServices.AddLevee(o => o.Redis = cluster.ConnectionString);
        await using var peerApp = peerServices.BuildServiceProvider();
        var peer = await RealRedisTests.ConnectedCache(peerApp);
        for (var i = 0; i < 10; i++)
        {
            Assert.Equal(i, await peer.GetOrCreateAsync("key" + i, 0, (_, _) => ValueTask.FromResult(-1), OneMinute)); // L2 -> peer's L1
            await cache.RemoveAsync("key" + i);
        }

        Assert.Equal(0, cache.PendingInvalidations);
        for (var i = 0; i < 10; i++)
        {
            var seen = 0;
            for (var round = 0; round < 250 && seen != -1; round++)
            {
                seen = await peer.GetOrCreateAsync("key" + i, 0, (_, _) => ValueTask.FromResult(-1), OneMinute);
                if (seen != -1)
                {
                    await Task.Delay(20);
                }
            }

            Assert.Equal(-1, seen); // removed everywhere: the peer loaded it again
        }

        var switches = new System.Collections.Concurrent.ConcurrentQueue<LeveeL2EventArgs>();
        cache.RedisStateChanged += (_, e) => switches.Enqueue(e);
        var victim = cluster.Masters[0];
        victim.Kill();
        var promoted = await cluster.WaitForPromotionAsync(victim, TimeSpan.FromSeconds(30));

        // the promotion is a failover for the cache (a replica became a master): bounded wait for the configuration check
        for (var i = 0; i < 200 && !switches.Any(e => e.Kind == LeveeL2EventKind.MasterSwitched); i++)
        {
            await Task.Delay(50);
        }

        Assert.True(switches.Any(e => e.Kind == LeveeL2EventKind.MasterSwitched && e.Detail!.Contains(promoted.Endpoint, StringComparison.Ordinal)),
            $"the promotion of {promoted.Endpoint} was not reported; events: " + string.Join(" | ", switches.Select(e => $"{e.Kind} {e.Detail}"))
            + "\nCLUSTER NODES on the promoted node:\n" + (await promoted.ExecuteAsync("CLUSTER", "NODES")).Text);

        var services2 = new ServiceCollection();
        services2.AddLevee(o => o.Redis = string.Join(',', cluster.Nodes.Where(n => n != victim).Select(n => n.Endpoint)));
        await using var other = services2.BuildServiceProvider();
        var reader = await RealRedisTests.ConnectedCache(other);

        // writes and reads on every slot work again through the same cache instance (bounded wait for slot refresh)
        var ok = 0;
        for (var round = 0; round < 60 && ok < 100; round++)
        {
            ok = 0;
            for (var i = 0; i < 100; i++)
            {
                await cache.SetAsync("after" + i, i, OneMinute);
                var (found, value) = await reader.TryGetAsync<int>("after" + i);
                ok += found && value == i ? 1 : 0;
            }

            if (ok < 100)
            {
                await Task.Delay(250);
            }
        }

        Assert.Equal(100, ok);
        Assert.Equal(99, await cache.GetOrCreateAsync("after99", 0, (_, _) => ValueTask.FromResult(-1), OneMinute));
    }
}
