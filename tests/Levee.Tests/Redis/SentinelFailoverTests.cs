using System.Diagnostics;
using Levee.Drill.Topology;
using Microsoft.Extensions.DependencyInjection;
using StackExchange.Redis;
using Xunit.Abstractions;

namespace Levee.Tests.Redis;

/// <summary>
/// Levee against real Sentinel topologies (1 master + 2 replicas + 3 Sentinels on loopback, down-after 2000 ms),
/// each test with a fresh topology because each breaks it. Assertions are on behaviour and counts, not timings.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class SentinelFailoverTests(ITestOutputHelper output)
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    private static ServiceProvider NewApp(SentinelTopology topology, Action<LeveeOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLevee(o =>
        {
            o.Redis = topology.ConnectionString;
            configure?.Invoke(o);
        });
        return services.BuildServiceProvider();
    }

    /// <summary>Writes until a value written through the cache is readable directly on <paramref name="node"/> (bounded).</summary>
    private static async Task<int> WriteUntilVisibleOn(LeveeCache cache, RedisNode node, TimeSpan timeout)
    {
        var attempts = 0;
        var deadline = Stopwatch.StartNew();
        while (deadline.Elapsed < timeout)
        {
            attempts++;
            var key = "probe-" + attempts;
            await cache.SetAsync(key, attempts, OneMinute); // never throws, whatever Redis does
            var reply = await node.ExecuteAsync("GET", "levee:d:0:" + key);
            if (!reply.IsNull && !reply.IsError)
            {
                return attempts;
            }

            await Task.Delay(50);
        }

        return -1;
    }

    [Fact]
    public async Task ASentinelDownWhileLeveeRuns_LeavesNoConnectionsBehind_WhenItComesBack()
    {
        await using var topology = await SentinelTopology.StartAsync();
        var down = topology.Sentinels[2];
        down.Kill(); // the incident's partitioned Sentinel
        await using var app = NewApp(topology);
        var cache = await RealRedisTests.ConnectedCache(app);
        await cache.SetAsync("k", "v", OneMinute);

        // several of the monitor's checks (every second once settled) run while that Sentinel is down (an exposure window,
        // not a wait for a state: a Sentinel's INFO has no commandstats to count the checks by)
        await Task.Delay(TimeSpan.FromSeconds(4));
        await down.RestartAsync();

        // StackExchange.Redis names no connection to a Sentinel, and speaks RESP3 (the drill's own client and the other
        // Sentinels speak RESP2): its connections are the resp=3 ones. Levee's one multiplexer for that Sentinel
        // reconnects (its interactive and its subscription connection); a leaked one would reconnect too, within 500 ms
        // (its retry policy), so the count is read once Levee's is back and again after more than that.
        var clients = string.Empty;
        async Task<int> LeveeConnections()
        {
            clients = (await down.ExecuteAsync("CLIENT", "LIST")).Text ?? "";
            return clients.Split('\n').Count(line => line.Contains("resp=3", StringComparison.Ordinal));
        }

        await Eventually.TrueAsync(async () => await LeveeConnections() >= 2, TimeSpan.FromSeconds(15), "Levee never reconnected to the restarted Sentinel");
        await Task.Delay(TimeSpan.FromSeconds(2)); // a window for a leaked multiplexer to show itself (it reconnects within 500 ms)
        var levee = await LeveeConnections();
        output.WriteLine($"StackExchange.Redis connections on the restarted Sentinel: {levee}\n{clients}");
        Assert.Equal(2, levee); // exactly one multiplexer: its interactive and its subscription connection
    }

    /// <summary>
    /// Issue 17: right after a failover (once the Sentinels report the new master), a newly built instance's first read
    /// of a key an old instance wrote to the new master returns that value, without a factory call, 20 times in a row.
    /// </summary>
    [Theory]
    [InlineData(false)]
    [InlineData(true)]
    public async Task AfterAFailover_ANewInstancesFirstRead_ReturnsWhatAnOldInstanceWrote(bool freeze)
    {
        await using var topology = await SentinelTopology.StartAsync();
        await using var oldApp = NewApp(topology);
        var old = await RealRedisTests.ConnectedCache(oldApp);
        var oldMaster = topology.Master.Endpoint;
        if (freeze)
        {
            topology.Master.Freeze();
        }
        else
        {
            topology.Master.Kill();
        }

        try
        {
            var promoted = await topology.WaitForFailoverAsync(oldMaster, TimeSpan.FromSeconds(30));
            var attempts = await WriteUntilVisibleOn(old, promoted, TimeSpan.FromSeconds(15));
            Assert.True(attempts > 0, $"no write of the old instance reached the promoted master {promoted.Endpoint}");
            var key = "probe-" + attempts;
            for (var round = 0; round < 20; round++)
            {
                await using var app = NewApp(topology);
                var cache = app.GetRequiredService<LeveeCache>();
                var factoryCalls = 0;
                var read = await cache.GetOrCreateAsync(key, 0, (_, _) => { factoryCalls++; return ValueTask.FromResult(-1); }, OneMinute);
                Assert.True(read == attempts && factoryCalls == 0, $"round {round}: the new instance read {read} with {factoryCalls} factory call(s)");
            }
        }
        finally
        {
            if (freeze)
            {
                topology.Master.Thaw();
            }
        }
    }

    [Fact]
    public async Task MasterKilled_Quorum2_SameCacheWritesToPromotedReplica_WithoutRestart()
    {
        await using var topology = await SentinelTopology.StartAsync();
        await using var app = NewApp(topology);
        var cache = await RealRedisTests.ConnectedCache(app);
        var events = new System.Collections.Concurrent.ConcurrentQueue<LeveeL2EventArgs>();
        cache.RedisStateChanged += (_, e) => throw new InvalidOperationException("a broken handler never breaks the cache");
        cache.RedisStateChanged += (_, e) => events.Enqueue(e);
        await cache.SetAsync("before", "v", OneMinute);
        Assert.False((await topology.Master.ExecuteAsync("GET", "levee:d:0:before")).IsNull);

        var oldMaster = topology.Master.Endpoint;
        topology.Master.Kill();
        var promoted = await topology.WaitForFailoverAsync(oldMaster, TimeSpan.FromSeconds(30));
        var attempts = await WriteUntilVisibleOn(cache, promoted, TimeSpan.FromSeconds(15));
        Assert.True(attempts > 0, $"no write reached the promoted master {promoted}");
        Assert.Equal("master", await promoted.RoleAsync());
        var switched = events.FirstOrDefault(e => e.Kind == LeveeL2EventKind.MasterSwitched);
        Assert.NotNull(switched);
        Assert.Contains(promoted.Endpoint, switched.Detail, StringComparison.Ordinal);
        output.WriteLine($"writes before one was visible on {promoted.Endpoint}: {attempts}");
    }

    [Fact]
    public async Task MasterFrozen_Quorum2_CallersKeepGettingValues_BreakerOpens_ThenClosesAfterFailover()
    {
        await using var topology = await SentinelTopology.StartAsync();
        await using var writerApp = NewApp(topology);
        var writer = await RealRedisTests.ConnectedCache(writerApp);
        for (var i = 0; i < 20; i++)
        {
            await writer.SetAsync("k" + i, i, OneMinute); // in Redis (and its replicas), not in the reader's L1
        }

        await using var app = NewApp(topology, o => o.BreakerMinimumThroughput = 5);
        var cache = await RealRedisTests.ConnectedCache(app);
        await Eventually.TrueAsync(async () => !(await topology.Replicas[0].ExecuteAsync("GET", "levee:d:0:k19")).IsNull,
            TimeSpan.FromSeconds(10), "the writes never reached the replica"); // else the replica reads below could not be tested

        var oldMaster = topology.Master.Endpoint;
        topology.Master.Freeze(); // a silent host: no TCP reset
        var slowest = TimeSpan.Zero;
        var slowestAt = 0;
        var factoryCalls = 0;
        var breakerOpened = false;
        var failover = topology.WaitForFailoverAsync(oldMaster, TimeSpan.FromSeconds(30));
        var calls = 0;
        while (!failover.IsCompleted)
        {
            var key = "k" + (calls++ % 20);
            var started = Stopwatch.StartNew();
            var value = await cache.GetOrCreateAsync(key, 0, (_, _) => { factoryCalls++; return ValueTask.FromResult(-1); },
                new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), LocalCacheExpiration = TimeSpan.FromMilliseconds(100) });
            if (started.Elapsed > slowest)
            {
                slowest = started.Elapsed;
                slowestAt = calls;
            }

            Assert.True(value == -1 || value == int.Parse(key[1..], System.Globalization.CultureInfo.InvariantCulture));
            breakerOpened |= cache.L2BreakerState == LeveeBreakerState.Open;
            await Task.Delay(20);
        }

        var promoted = await failover;
        Assert.True(breakerOpened, "the breaker never opened while the master was frozen");
        // StackExchange.Redis alone would hold callers for its 1-5 s timeouts; Levee's budget is 50 ms. Generous margin for a noisy machine:
        Assert.True(slowest < TimeSpan.FromSeconds(1), $"a caller waited {slowest.TotalMilliseconds:0} ms on the frozen master");
        Assert.True(factoryCalls < calls / 2, $"{factoryCalls} factory calls for {calls} requests: replicas should have served");

        Assert.True(await WriteUntilVisibleOn(cache, promoted, TimeSpan.FromSeconds(15)) > 0);
        Assert.Equal(LeveeBreakerState.Closed, cache.L2BreakerState);
        topology.Master.Thaw();
        output.WriteLine($"{calls} requests during the freeze, {factoryCalls} factory calls, slowest {slowest.TotalMilliseconds:0} ms (request #{slowestAt})");
    }

    [Fact]
    public async Task Quorum3OneSentinelFrozen_MasterKilled_NoFailover_LeveeKeepsServingFromReplicas()
    {
        await using var topology = await SentinelTopology.StartAsync(new SentinelTopologyOptions { Quorum = 3 });
        await using (var writerApp = NewApp(topology))
        {
            var writer = await RealRedisTests.ConnectedCache(writerApp);
            for (var i = 0; i < 50; i++)
            {
                await writer.SetAsync("item" + i, i, OneMinute); // in Redis and its replicas; never in the reader's L1
            }
        }

        // values reached both replicas before the fault
        foreach (var replica in topology.Replicas)
        {
            await Eventually.TrueAsync(async () => !(await replica.ExecuteAsync("GET", "levee:d:0:item49")).IsNull, TimeSpan.FromSeconds(10), $"item49 never reached {replica.Name}");
        }

        // the reader has never seen the keys: every value it serves comes from Redis, and after the kill only a replica has them
        await using var app = NewApp(topology, o => o.BreakerMinimumThroughput = 5);
        var cache = await RealRedisTests.ConnectedCache(app);
        var store = (Levee.Redis.RedisL2Store)cache.L2Store!;
        await Eventually.TrueAsync(() => store.Current?.Replicas is not null, TimeSpan.FromSeconds(10), "the replicas' connection was never attached");

        topology.Sentinels[2].Freeze(); // partitioned Sentinel
        var oldMaster = topology.Master.Endpoint;
        topology.Master.Kill();

        var factoryCalls = 0;
        var requests = 0;
        var watch = Stopwatch.StartNew();
        while (watch.Elapsed < TimeSpan.FromSeconds(8)) // down-after is 2 s: a failover would have happened by now with quorum 2
        {
            for (var i = 0; i < 50; i++)
            {
                requests++;
                var value = await cache.GetOrCreateAsync("item" + i, -1, (_, _) => { factoryCalls++; return ValueTask.FromResult(-1); },
                    new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), LocalCacheExpiration = TimeSpan.FromMilliseconds(200) });
                Assert.True(value == i || value == -1, $"item{i}: {value}");
            }

            await Task.Delay(100);
        }

        Assert.Equal(oldMaster, await topology.GetMasterEndpointAsync()); // no failover, as in the incident
        var replicaReads = requests - factoryCalls;
        output.WriteLine($"{requests} requests, {factoryCalls} factory calls while no failover could happen");
        // the factory answers -1 (not the stored value): a read the replicas did not serve is visible. A few may miss
        // while the kill is noticed; the rest (the L1 expires every 200 ms) must come from a replica.
        Assert.True(factoryCalls <= 50, $"{factoryCalls} factory calls for {requests} requests: the replicas hold the cache");
        Assert.True(replicaReads >= requests - 50, $"{replicaReads} of {requests} requests served from Redis");
        topology.Sentinels[2].Thaw();
    }

    [Fact]
    public async Task DemotedMasterComesBack_CacheStaysOnTheNewMaster()
    {
        await using var topology = await SentinelTopology.StartAsync();
        await using var app = NewApp(topology);
        var cache = await RealRedisTests.ConnectedCache(app);
        var oldMaster = topology.Master;
        oldMaster.Freeze();
        var promoted = await topology.WaitForFailoverAsync(oldMaster.Endpoint, TimeSpan.FromSeconds(30));
        Assert.True(await WriteUntilVisibleOn(cache, promoted, TimeSpan.FromSeconds(15)) > 0);

        oldMaster.Thaw(); // comes back still believing it is master until Sentinel demotes it
        for (var i = 0; i < 20; i++)
        {
            await cache.SetAsync("after-return-" + i, i, OneMinute);
            await Task.Delay(100);
        }

        Assert.False((await promoted.ExecuteAsync("GET", "levee:d:0:after-return-19")).IsNull);
        Assert.Equal("master", await promoted.RoleAsync());

        // the demoted master rejoins as a replica: Levee's replicas' connection follows (it was attached without it),
        // so that replica reads and the replicas' backplane use it too. Bounded: Sentinel must see it up again, then
        // Levee compares its replicas with the Sentinels' list every ~10 s.
        var store = (Levee.Redis.RedisL2Store)cache.L2Store!;
        var attached = false;
        for (var i = 0; i < 400 && !attached; i++)
        {
            attached = store.Current?.ReplicaEndpoints.Any(e => Levee.Redis.RedisNodes.Format(e) == oldMaster.Endpoint) ?? false;
            if (!attached)
            {
                await Task.Delay(100);
            }
        }

        Assert.True(attached, $"{oldMaster.Endpoint} (demoted, now a replica) never joined Levee's replicas' connection: "
            + string.Join(", ", store.Current?.ReplicaEndpoints.Select(Levee.Redis.RedisNodes.Format) ?? []));
    }

    [Fact]
    public async Task StaleSentinelsOutvoteTheUpToDateOne_LeveeFollowsTheHigherEpoch_AndNeverSwitchesToTheStaleMaster()
    {
        // The up-to-date side: a failover (config epoch 1), then only one of its Sentinels left, so no further failover.
        await using var real = await SentinelTopology.StartAsync();
        var first = real.Master;
        Assert.Equal("OK", (await real.Sentinels[0].ExecuteAsync("SENTINEL", "FAILOVER", real.ServiceName)).Text);
        var promoted = await real.WaitForFailoverAsync(first.Endpoint, TimeSpan.FromSeconds(30));
        await Eventually.TrueAsync(
            async () => await real.Sentinels[0].ExecuteAsync("SENTINEL", "GET-MASTER-ADDR-BY-NAME", real.ServiceName) is var addr
                && addr.Items.Count == 2 && $"{addr.Items[0].Text}:{addr.Items[1].Text}" == promoted.Endpoint,
            TimeSpan.FromSeconds(10), "the remaining Sentinel never named the promoted master"); // the up-to-date side must know it

        real.Sentinels[1].Kill();
        real.Sentinels[2].Kill();

        // The stale side: two Sentinels that never saw that failover (epoch 0) name, under the same service name, a
        // standalone node that answers ROLE "master", as a demoted master cut off from the others would.
        await using var stale = await SentinelTopology.StartAsync(new SentinelTopologyOptions { Replicas = 0, Sentinels = 2, Quorum = 1 });
        var connection = string.Join(',', new[] { real.Sentinels[0], stale.Sentinels[0], stale.Sentinels[1] }.Select(n => n.Endpoint))
            + ",serviceName=" + real.ServiceName;
        var services = new ServiceCollection();
        services.AddLevee(o => o.Redis = connection);
        await using var app = services.BuildServiceProvider();
        var cache = await RealRedisTests.ConnectedCache(app);
        var switches = new System.Collections.Concurrent.ConcurrentQueue<string?>();
        cache.RedisStateChanged += (_, e) =>
        {
            if (e.Kind == LeveeL2EventKind.MasterSwitched)
            {
                switches.Enqueue(e.Detail);
            }
        };

        // two Sentinels against one, but the one has the higher epoch: Levee writes to the promoted master
        Assert.True(await WriteUntilVisibleOn(cache, promoted, TimeSpan.FromSeconds(15)) > 0, "Levee never wrote to the master the up-to-date Sentinel names");

        // The master stops answering and no failover can come: the stale master is the only other address named, with
        // an older epoch. Levee must not switch to it (a split brain: writes there would be lost).
        promoted.Freeze();
        try
        {
            for (var i = 0; i < 40; i++)
            {
                await cache.SetAsync("while-frozen-" + i, i, OneMinute); // never throws
                await Task.Delay(150);
            }
        }
        finally
        {
            promoted.Thaw();
        }

        var keys = await stale.Master.ExecuteAsync("DBSIZE");
        output.WriteLine($"stale master DBSIZE {keys.Number}; switches: {string.Join(" | ", switches)}");
        Assert.Equal(0, keys.Number);
        Assert.Empty(switches);
    }

    [Fact]
    public async Task SyncDispose_WhileTheSentinelMonitorRuns_ReturnsOnAnUnpumpedContext_AndLeavesNoConnection()
    {
        await using var topology = await SentinelTopology.StartAsync(new SentinelTopologyOptions { Replicas = 1 });
        var app = NewApp(topology);
        var cache = await RealRedisTests.ConnectedCache(app);
        await cache.SetAsync("k", "v", OneMinute);
        // the monitor has switched to the master and attached the replicas: it is now between checks (an awaited delay)
        // or in one, and Dispose must wait for it
        var store = (Levee.Redis.RedisL2Store)cache.L2Store!;
        await Eventually.TrueAsync(() => store.Current?.Replicas is not null, TimeSpan.FromSeconds(10), "the replicas' connection was never attached");
        Assert.NotEmpty(await LeveeConnections()); // else the check below could not fail

        RealRedisTests.DisposeOnUnpumpedContext(app); // the LeveeCache singleton, synchronously

        var left = await LeveeConnections();
        for (var i = 0; i < 50 && left.Count > 0; i++)
        {
            await Task.Delay(100);
            left = await LeveeConnections();
        }

        Assert.True(left.Count == 0, "connections left after Dispose():\n" + string.Join("\n", left));

        // StackExchange.Redis speaks RESP3 (the Sentinels among themselves and the topology's client speak RESP2)
        async Task<List<string>> LeveeConnections()
        {
            var found = new List<string>();
            foreach (var node in topology.Sentinels.Concat(topology.RedisNodes))
            {
                var clients = (await node.ExecuteAsync("CLIENT", "LIST")).Text ?? "";
                found.AddRange(clients.Split('\n').Where(l => l.Contains("resp=3", StringComparison.Ordinal)).Select(l => node.Name + ": " + l));
            }

            return found;
        }
    }

    [Fact]
    public async Task AppStartedWhileSentinelsAndRedisAreDown_Starts_ThenConnects()
    {
        await using var topology = await SentinelTopology.StartAsync(new SentinelTopologyOptions { Replicas = 1 });
        foreach (var s in topology.Sentinels)
        {
            s.Freeze();
        }

        await using var app = NewApp(topology);
        var cache = app.GetRequiredService<LeveeCache>();
        Assert.Equal("db", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
        Assert.False(cache.IsL2Available);
        foreach (var s in topology.Sentinels)
        {
            s.Thaw();
        }

        await RealRedisTests.ConnectedCache(app);
        await cache.SetAsync("k2", "v", OneMinute);
        Assert.False((await topology.Master.ExecuteAsync("GET", "levee:d:0:k2")).IsNull);
    }

    /// <summary>
    /// A Sentinel topology that does not fail over during a test (down-after 60 s: a frozen master stays frozen, the
    /// replicas answer, as in the incident) and two connected instances with their replicas' connections attached.
    /// </summary>
    private static async Task<IncidentPair> IncidentPairAsync(Action<LeveeOptions>? configureA = null)
    {
        var topology = await SentinelTopology.StartAsync(new SentinelTopologyOptions { DownAfterMilliseconds = 60_000 });
        var appA = NewApp(topology, configureA);
        var appB = NewApp(topology);
        var pair = new IncidentPair(topology, appA, appB, await RealRedisTests.ConnectedCache(appA), await RealRedisTests.ConnectedCache(appB));
        await ReplicasAttachedAsync(pair.A, pair.B);
        return pair;
    }

    private sealed record IncidentPair(SentinelTopology Topology, ServiceProvider AppA, ServiceProvider AppB, LeveeCache A, LeveeCache B) : IAsyncDisposable
    {
        public async ValueTask DisposeAsync()
        {
            await AppA.DisposeAsync();
            await AppB.DisposeAsync();
            await Topology.DisposeAsync();
        }
    }

    /// <summary>Waits (bounded) until each cache has its replicas' connection, attached after the master's in the background.</summary>
    private static async Task ReplicasAttachedAsync(params LeveeCache[] caches)
    {
        foreach (var cache in caches)
        {
            var store = (Levee.Redis.RedisL2Store)cache.L2Store!;
            for (var i = 0; i < 200 && store.Current?.Replicas is null; i++)
            {
                await Task.Delay(25);
            }

            Assert.NotNull(store.Current?.Replicas);
        }
    }

    [Fact]
    public async Task TwoInstances_MasterFrozenNoFailover_RemovalReachesTheOtherThroughTheReplicas()
    {
        // no failover during the test (down-after 60 s): the master stays frozen, the replicas answer (the incident)
        await using var incident = await IncidentPairAsync();
        var (topology, a, b) = (incident.Topology, incident.A, incident.B);

        await a.SetAsync("price", 10, OneMinute);
        await Eventually.TrueAsync(async () => !(await topology.Replicas[0].ExecuteAsync("GET", "levee:d:0:price")).IsNull,
            TimeSpan.FromSeconds(10), "the value never reached the replica");

        Assert.Equal(10, await b.GetOrCreateAsync("price", 0, (_, _) => ValueTask.FromResult(-1), OneMinute)); // in B's L1 now

        topology.Master.Freeze();
        await a.RemoveAsync("price"); // the database changed; the master is silent, no failover can happen
        Assert.True(a.PendingInvalidations >= 1); // journaled for the master all the same

        // B hears of it through a replica: it drops its L1 copy and does not take the replica's older entry either
        var served = await b.GetOrCreateAsync("price", 0, (_, _) => ValueTask.FromResult(11), OneMinute);
        for (var i = 0; i < 60 && served == 10; i++)
        {
            await Task.Delay(50);
            served = await b.GetOrCreateAsync("price", 0, (_, _) => ValueTask.FromResult(11), OneMinute);
        }

        Assert.Equal(11, served);
        Assert.Equal(topology.Master.Endpoint, await topology.GetMasterEndpointAsync()); // still the frozen master: no failover helped
        topology.Master.Thaw();
    }

    /// <summary>
    /// Issue 19: while the master is frozen, the instances' subscriptions on the replicas are cut (CLIENT KILL TYPE pubsub
    /// on each replica); once StackExchange.Redis has subscribed again, an instance asks the others for what it may have
    /// missed, and the instance holding a journaled removal sends it through the replicas again. The wiring of the
    /// replicas' "subscription restored" to the resend, with real processes (the engine's side: NothingForgottenTests).
    /// </summary>
    [Fact]
    public async Task TwoInstances_MasterFrozen_SubscriptionsOnTheReplicasCut_TheJournaledRemovalIsSentAgain()
    {
        await using var incident = await IncidentPairAsync();
        var (topology, a) = (incident.Topology, incident.A);

        await a.SetAsync("price", 10, OneMinute);
        topology.Master.Freeze();
        try
        {
            await a.RemoveAsync("price"); // journaled; told to B through the replicas
            Assert.True(a.PendingInvalidations >= 1);
            Assert.Equal(0, a.ResentThroughReplicas);

            foreach (var replica in topology.Replicas)
            {
                await replica.ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub");
            }

            await Eventually.TrueAsync(() => a.ResentThroughReplicas >= 1, TimeSpan.FromSeconds(30),
                "A never sent its journaled removal again after the subscriptions on the replicas came back");
            // (B may answer A's request too: it received the removal, which the master has not confirmed)
        }
        finally
        {
            topology.Master.Thaw();
        }
    }

    /// <summary>
    /// Issue 19: an instance whose journal overflowed (it no longer lists its keys), asked again for it through the
    /// replicas, sends the removals it still knows, not a clear-all: the other instance keeps serving what was not
    /// removed without a query. Real processes for the engine test
    /// NothingForgottenTests.MasterUnreachable_AskedAgain_AnOverflowedJournalSendsTheRemovalsItStillKnows_NotAClearAll.
    /// </summary>
    [Fact]
    public async Task TwoInstances_MasterFrozen_AskedAgain_AnOverflowedJournalSendsItsRemovals_NotAClearAll()
    {
        await using var incident = await IncidentPairAsync(o => o.InvalidationJournalCapacity = 2);
        var (topology, a, b) = (incident.Topology, incident.A, incident.B);
        string[] removed = ["k1", "k2", "k3"];
        foreach (var key in removed.Append("other"))
        {
            await a.SetAsync(key, 10, OneMinute);
        }

        foreach (var replica in topology.Replicas)
        {
            await Eventually.TrueAsync(async () => !(await replica.ExecuteAsync("GET", "levee:d:0:other")).IsNull,
                TimeSpan.FromSeconds(10), "the values never reached the replicas");
        }

        var queries = 0;
        Func<int, CancellationToken, ValueTask<int>> load = (_, _) => { Interlocked.Increment(ref queries); return ValueTask.FromResult(11); };
        Assert.Equal(10, await b.GetOrCreateAsync("other", 0, load, OneMinute)); // in B's L1
        topology.Master.Freeze();
        try
        {
            foreach (var key in removed)
            {
                await a.RemoveAsync(key); // the third overflows A's journal
            }

            foreach (var replica in topology.Replicas)
            {
                await replica.ExecuteAsync("CLIENT", "KILL", "TYPE", "pubsub"); // B asks again once it listens
            }

            await Eventually.TrueAsync(() => a.ResentThroughReplicas >= removed.Length, TimeSpan.FromSeconds(30),
                "A never sent the removals it knows again");
            await Task.Delay(200); // their delivery
            Assert.Equal(10, await b.GetOrCreateAsync("other", 0, load, OneMinute)); // no clear-all came: still held
            Assert.Equal(0, queries);
            foreach (var key in removed)
            {
                Assert.Equal(11, await b.GetOrCreateAsync(key, 0, load, OneMinute)); // never the replicas' 10
            }

            Assert.Equal(removed.Length, queries);
        }
        finally
        {
            topology.Master.Thaw();
        }
    }

    /// <summary>
    /// Issue 19: an instance started while the master is frozen (a deploy, a restart or a scale-out during the outage)
    /// uses the replicas from its first reads (it installs the master the Sentinels name, unverified, and attaches its
    /// replicas); it asks the others for their journals once it hears itself there, and then does not serve the
    /// replicas' entry of a key removed before it started. Once the master answers it is the instance's master, its
    /// channel included.
    /// </summary>
    [Fact]
    public async Task MasterFrozen_AnInstanceStartedDuringTheOutage_ReadsTheReplicas_AndLearnsOfTheRemovalsBeforeIt()
    {
        await using var incident = await IncidentPairAsync();
        var (topology, a) = (incident.Topology, incident.A);
        await a.SetAsync("price", 10, OneMinute);
        await a.SetAsync("other", 20, OneMinute);
        foreach (var replica in topology.Replicas)
        {
            await Eventually.TrueAsync(async () => !(await replica.ExecuteAsync("GET", "levee:d:0:other")).IsNull,
                TimeSpan.FromSeconds(10), "the values never reached the replicas");
        }

        // what the replicas carry on the instances' own channels (the journals sent to an instance that asked)
        var answered = new System.Collections.Concurrent.ConcurrentQueue<(string Channel, string Message)>();
        await using var listener = await ConnectionMultiplexer.ConnectAsync(string.Join(",", topology.Replicas.Select(r => r.Endpoint)));
        await listener.GetSubscriber().SubscribeAsync(RedisChannel.Pattern("levee:backplane:r:*"), (ch, m) => answered.Enqueue((ch!, m!))); // on one replica: A publishes on each

        topology.Master.Freeze();
        try
        {
            await a.RemoveAsync("price");
            await using var appC = NewApp(topology);
            var c = appC.GetRequiredService<LeveeCache>();
            var queries = 0;
            Func<int, CancellationToken, ValueTask<int>> load = (_, _) => { Interlocked.Increment(ref queries); return ValueTask.FromResult(11); };
            var store = (Levee.Redis.RedisL2Store)c.L2Store!;
            await Eventually.TrueAsync(() => store.Current?.Replicas is not null, TimeSpan.FromSeconds(15), "C never attached the frozen master's replicas");
            await Eventually.TrueAsync(() => answered.Any(a => a.Channel == "levee:backplane:r:" + c.InstanceId && a.Message.Contains("|R|", StringComparison.Ordinal)), TimeSpan.FromSeconds(15),
                "A never sent C its journaled removal");
            Assert.Equal(20, await c.GetOrCreateAsync("other", 0, load, OneMinute)); // from a replica, no query
            Assert.Equal(0, queries);

            // the listener got the answer from one replica; C gets it from its own (a read before that may still take the
            // replicas' 10, which the answer drops): then the removed value is a miss
            var price = await c.GetOrCreateAsync("price", 0, load, OneMinute);
            for (var i = 0; i < 100 && price == 10; i++)
            {
                await Task.Delay(50);
                price = await c.GetOrCreateAsync("price", 0, load, OneMinute);
            }

            Assert.Equal(11, price);
            Assert.Equal(1, queries);

            topology.Master.Thaw();
            await Eventually.TrueAsync(() => c.IsL2Available, TimeSpan.FromSeconds(20), "C never used the master once it answered");
            await a.RemoveAsync("other"); // through the master's channel now
            var served = 20;
            for (var i = 0; i < 100 && served == 20; i++)
            {
                await Task.Delay(50);
                served = await c.GetOrCreateAsync("other", 0, load, OneMinute);
            }

            Assert.Equal(11, served);
        }
        finally
        {
            topology.Master.Thaw();
        }
    }

    /// <summary>Issue 19: while the master is frozen and no failover comes, a value one instance loads reaches the other
    /// through the replicas, which serves it without a database query.</summary>
    [Fact]
    public async Task TwoInstances_MasterFrozenNoFailover_AValueOneLoadsIsServedByTheOtherWithoutAQuery()
    {
        await using var incident = await IncidentPairAsync();
        var (topology, a, b) = (incident.Topology, incident.A, incident.B);

        await a.SetAsync("price", 10, OneMinute);
        topology.Master.Freeze();
        try
        {
            await a.RemoveAsync("price"); // the row changed; journaled, and told to B through the replicas
            var queries = 0;
            Func<int, CancellationToken, ValueTask<int>> load = (_, _) => { Interlocked.Increment(ref queries); return ValueTask.FromResult(11); };
            Assert.Equal(11, await a.GetOrCreateAsync("price", 0, load, OneMinute));
            for (var i = 0; i < 200 && b.SharedCount == 0; i++)
            {
                await Task.Delay(25);
            }

            Assert.Equal(1, b.SharedCount);
            Assert.Equal(11, await b.GetOrCreateAsync("price", 0, load, OneMinute));
            Assert.Equal(1, queries);
        }
        finally
        {
            topology.Master.Thaw();
        }
    }

    [Fact]
    public async Task TwoInstances_RemoveWhileMasterFrozen_OtherNeverServesRemovedValueAfterRecovery()
    {
        await using var topology = await SentinelTopology.StartAsync(new SentinelTopologyOptions { Replicas = 1, DownAfterMilliseconds = 60_000 });
        await using var appA = NewApp(topology);
        await using var appB = NewApp(topology);
        var a = await RealRedisTests.ConnectedCache(appA);
        var b = await RealRedisTests.ConnectedCache(appB);
        await a.SetAsync("price", 10, OneMinute);
        Assert.Equal(10, await b.GetOrCreateAsync("price", 0, (_, _) => ValueTask.FromResult(-1), OneMinute)); // in B's L1 now

        topology.Master.Freeze();
        await a.RemoveAsync("price"); // the database changed; Redis is silent
        Assert.True(a.PendingInvalidations >= 1);
        topology.Master.Thaw();

        // after recovery (bounded wait for A's journal replay and its backplane message), B must not serve 10 again
        for (var i = 0; i < 100 && a.PendingInvalidations > 0; i++)
        {
            await Task.Delay(50);
        }

        Assert.Equal(0, a.PendingInvalidations);
        var served = await b.GetOrCreateAsync("price", 0, (_, _) => ValueTask.FromResult(11), OneMinute);
        for (var i = 0; i < 40 && served == 10; i++)
        {
            await Task.Delay(50); // the backplane delay
            served = await b.GetOrCreateAsync("price", 0, (_, _) => ValueTask.FromResult(11), OneMinute);
        }

        Assert.Equal(11, served);

        // and Redis does not hold the removed value either: a third instance that never saw the key does not get 10
        await using var appC = NewApp(topology);
        var c = await RealRedisTests.ConnectedCache(appC);
        Assert.NotEqual(10, await c.GetOrCreateAsync("price", -1, (_, _) => ValueTask.FromResult(-1), OneMinute));
    }
}
