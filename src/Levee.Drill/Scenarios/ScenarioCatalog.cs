using System.Diagnostics;
using System.Globalization;
using Levee.Drill.Measurement;
using Levee.Drill.Topology;

namespace Levee.Drill.Scenarios;

/// <summary>The drill's scenarios (<c>levee drill --list</c>).</summary>
internal static class ScenarioCatalog
{
    public const string DefaultName = "incident";

    private static readonly PhasePlan Standard = new(BaselineSeconds: 10, FaultSeconds: 30, RecoverySeconds: 20);

    /// <summary>The deploy scenario's cadence: one instance replaced every 3 s (8 instances: 24 s of the 30 s fault phase).</summary>
    private static readonly TimeSpan DeployInterval = TimeSpan.FromSeconds(3);

    public static IReadOnlyList<Scenario> All { get; } =
    [
        new(
            "incident",
            "The reference postmortem: 1 master, 2 replicas, 3 Sentinels with quorum 3. One Sentinel is partitioned (SIGSTOP), then the master host dies "
            + "(SIGSTOP: no TCP reset). Quorum 3 cannot be reached, so no failover happens. Repair as the responders did: SENTINEL FAILOVER by hand, then "
            + "clients with a fixed master endpoint get the new address and a rolling restart.",
            new ScenarioTopology("sentinel", Replicas: 2, Sentinels: 3, Quorum: 3, DownAfterMs: 2000),
            Standard,
            ExpectsAutomaticFailover: false,
            InjectAsync: static (ctx, ct) =>
            {
                PartitionSentinelAndFreezeMaster(ctx);
                return Task.CompletedTask;
            },
            RepairAsync: static (ctx, ct) => PromoteByHandAsync(ctx, thawSentinels: true, ct))
        {
            FaultSummary = "one Sentinel frozen (partition), then the master frozen (host dead, no TCP reset); quorum 3 unreachable",
            RepairSummary = "Sentinel thawed, SENTINEL FAILOVER by hand; fixed-endpoint clients re-pointed with a rolling restart",
        },
        new(
            "master-crash",
            "1 master, 2 replicas, 3 Sentinels with quorum 2; the master process is killed (SIGKILL: TCP reset). Sentinel fails over. "
            + "Repair: the old master is restarted (it rejoins as a replica); fixed-endpoint clients are pointed at the new master.",
            new ScenarioTopology("sentinel", Replicas: 2, Sentinels: 3, Quorum: 2, DownAfterMs: 2000),
            Standard,
            ExpectsAutomaticFailover: true,
            InjectAsync: static (ctx, ct) =>
            {
                ctx.Topology.Master.Kill();
                ctx.Mark($"master {ctx.Topology.Master.Endpoint} killed (SIGKILL)");
                return Task.CompletedTask;
            },
            RepairAsync: static async (ctx, ct) =>
            {
                await PromoteByHandAsync(ctx, thawSentinels: false, ct).ConfigureAwait(false);
                await ctx.Topology.Master.RestartAsync(ct).ConfigureAwait(false);
                ctx.Mark($"old master {ctx.Topology.Master.Endpoint} restarted (empty; Sentinel demotes it)");
            })
        {
            FaultSummary = "master killed (SIGKILL)",
            RepairSummary = "old master restarted; fixed-endpoint clients re-pointed with a rolling restart",
        },
        new(
            "master-hang",
            "1 master, 2 replicas, 3 Sentinels with quorum 2; the master freezes (SIGSTOP, like a kernel panic: no TCP reset). Sentinel fails over. "
            + "Repair: the old master is thawed (Sentinel demotes it); fixed-endpoint clients are pointed at the new master.",
            new ScenarioTopology("sentinel", Replicas: 2, Sentinels: 3, Quorum: 2, DownAfterMs: 2000),
            Standard,
            ExpectsAutomaticFailover: true,
            InjectAsync: static (ctx, ct) =>
            {
                ctx.Topology.Master.Freeze();
                ctx.Mark($"master {ctx.Topology.Master.Endpoint} frozen (SIGSTOP, no TCP reset)");
                return Task.CompletedTask;
            },
            RepairAsync: static async (ctx, ct) =>
            {
                await PromoteByHandAsync(ctx, thawSentinels: false, ct).ConfigureAwait(false);
                ctx.Topology.Master.Thaw();
                ctx.Mark($"old master {ctx.Topology.Master.Endpoint} thawed (Sentinel demotes it)");
            })
        {
            FaultSummary = "master frozen (SIGSTOP, no TCP reset)",
            RepairSummary = "old master thawed; fixed-endpoint clients re-pointed with a rolling restart",
        },
        new(
            "redis-outage",
            "1 master, 2 replicas, 3 Sentinels with quorum 2; every Redis data node is killed for the fault phase, then restarted empty "
            + "(no persistence) on the same ports.",
            new ScenarioTopology("sentinel", Replicas: 2, Sentinels: 3, Quorum: 2, DownAfterMs: 2000),
            Standard,
            ExpectsAutomaticFailover: false,
            InjectAsync: static (ctx, ct) =>
            {
                foreach (var node in ctx.Topology.RedisNodes)
                {
                    node.Kill();
                }

                ctx.Mark("every Redis data node killed (SIGKILL)");
                return Task.CompletedTask;
            },
            RepairAsync: static async (ctx, ct) =>
            {
                await ctx.Topology.Master.RestartAsync(ct).ConfigureAwait(false);
                foreach (var replica in ctx.Topology.Replicas)
                {
                    await replica.RestartAsync(ct).ConfigureAwait(false);
                }

                ctx.Mark("every Redis data node restarted, empty");
            })
        {
            FaultSummary = "every Redis data node killed",
            RepairSummary = "every Redis data node restarted, empty",
            LosesEveryRedisNode = true,
        },
        new(
            "slow-redis",
            "1 master, 2 replicas, 3 Sentinels with quorum 2; the master stays up but answers slowly: for the fault phase it is stalled with "
            + "DEBUG SLEEP 0.25 every 0.3 s (as a slow command, a fork or swapping would), so every command waits up to 250 ms. "
            + "Sentinel (down-after 2000 ms) does not fail over. Repair: the stalls stop.",
            new ScenarioTopology("sentinel", Replicas: 2, Sentinels: 3, Quorum: 2, DownAfterMs: 2000) { RedisConfig = ["enable-debug-command yes"] },
            Standard,
            ExpectsAutomaticFailover: false,
            InjectAsync: static (ctx, ct) =>
            {
                var master = ctx.Topology.Master;
                ctx.Mark($"master {master.Endpoint} stalled: DEBUG SLEEP 0.25 every 0.3 s");
                _ = StallAsync(ctx, master, ct);
                return Task.CompletedTask;
            },
            RepairAsync: static (ctx, ct) =>
            {
                ctx.Mark("stalls stop");
                return Task.CompletedTask;
            })
        {
            FaultSummary = "master answers slowly (stalled 250 ms of every 300 ms)",
            RepairSummary = "stalls stop",
        },
        new(
            "cluster-master-crash",
            "6-node Redis Cluster (3 masters, 3 replicas, cluster-node-timeout 2000 ms); one master is killed (SIGKILL) and its replica takes over. "
            + "Repair: the old master is restarted and rejoins as a replica.",
            new ScenarioTopology("cluster", Replicas: 3, Sentinels: 0, Quorum: 0, DownAfterMs: 2000),
            Standard,
            ExpectsAutomaticFailover: true,
            InjectAsync: static (ctx, ct) =>
            {
                var master = ctx.Cluster.Masters[0];
                master.Kill();
                ctx.Mark($"cluster master {master.Endpoint} killed (SIGKILL)");
                _ = WatchPromotionAsync(ctx, master, ct);
                return Task.CompletedTask;
            },
            RepairAsync: static async (ctx, ct) =>
            {
                var master = ctx.Cluster.Masters[0];
                if (ctx.AutomaticFailoverAt is null)
                {
                    var promoted = await ctx.Cluster.WaitForPromotionAsync(master, TimeSpan.FromSeconds(20), ct).ConfigureAwait(false);
                    ctx.Mark($"replica {promoted.Endpoint} is master (seen at the repair)");
                }

                await master.RestartAsync(ct).ConfigureAwait(false);
                ctx.Mark($"old master {master.Endpoint} restarted (rejoins as a replica)");
            })
        {
            FaultSummary = "one of the 3 cluster masters killed (SIGKILL)",
            RepairSummary = "old master restarted (rejoins as a replica)",
        },
        new(
            "chaos",
            "The postmortem's chaos testing: 1 master, 2 replicas, 3 Sentinels with quorum 2; for the whole fault phase (--duration), one random fault "
            + "after another from --seed (master killed, master frozen, a replica killed, a Sentinel frozen, every data node killed), each held 3 to 7 s "
            + "and undone. Repair: everything thawed or restarted; fixed-endpoint clients are pointed at the current master.",
            new ScenarioTopology("sentinel", Replicas: 2, Sentinels: 3, Quorum: 2, DownAfterMs: 2000),
            Standard,
            ExpectsAutomaticFailover: false,
            ChaosScenario.InjectAsync,
            ChaosScenario.RepairAsync)
        {
            FaultSummary = "random Redis faults from the seed, one after another, each held 3-7 s and undone",
            RepairSummary = "every node thawed or restarted; fixed-endpoint clients re-pointed with a rolling restart",
        },
        new(
            "deploy",
            "A deploy: 1 master, 2 replicas, 3 Sentinels with quorum 2, Redis healthy and the cache warm; during the fault phase the app "
            + "instances are replaced one by one, one every 3 s, as a rolling update replaces pods: each replacement is a new cache "
            + "client (empty L1, its own new Redis connections) that takes traffic once created (levee-warmup: once its readiness "
            + "check passes), and the old one is disposed when its requests have finished. Repair: none (the deploy is done).",
            new ScenarioTopology("sentinel", Replicas: 2, Sentinels: 3, Quorum: 2, DownAfterMs: 2000),
            Standard,
            ExpectsAutomaticFailover: false,
            InjectAsync: static (ctx, ct) =>
            {
                StartDeploy(ctx, ct);
                return Task.CompletedTask;
            },
            RepairAsync: static (ctx, ct) => FinishDeployAsync(ctx))
        {
            FaultSummary = "app instances replaced one by one (one every 3 s): each a new cache client with an empty L1 and new connections",
            RepairSummary = "none (the deploy is over; its last old clients are disposed)",
        },
        new(
            "incident-deploy",
            "The reference postmortem with a deploy in it: the incident's fault (quorum 3 of 3, one Sentinel partitioned, the master frozen, "
            + "no failover), and during it the app instances are replaced one by one, one every 3 s, as in the deploy scenario (a pod "
            + "restart, a scale-out or a release while Redis is down): each new client starts while its master does not answer. "
            + "Repair as in the incident.",
            new ScenarioTopology("sentinel", Replicas: 2, Sentinels: 3, Quorum: 3, DownAfterMs: 2000),
            Standard,
            ExpectsAutomaticFailover: false,
            InjectAsync: static (ctx, ct) =>
            {
                PartitionSentinelAndFreezeMaster(ctx);
                StartDeploy(ctx, ct);
                return Task.CompletedTask;
            },
            RepairAsync: static async (ctx, ct) =>
            {
                await FinishDeployAsync(ctx).ConfigureAwait(false);
                await PromoteByHandAsync(ctx, thawSentinels: true, ct).ConfigureAwait(false);
            })
        {
            FaultSummary = "one Sentinel frozen, the master frozen (no failover), and the app instances replaced one by one (one every 3 s) meanwhile",
            RepairSummary = "Sentinel thawed, SENTINEL FAILOVER by hand; fixed-endpoint clients re-pointed with a rolling restart",
        },
    ];

    /// <summary>The incident's fault: the last Sentinel partitioned, then the master host dead (both SIGSTOP).</summary>
    private static void PartitionSentinelAndFreezeMaster(ScenarioContext ctx)
    {
        ctx.Topology.Sentinels[^1].Freeze();
        ctx.Mark($"sentinel {ctx.Topology.Sentinels[^1].Endpoint} partitioned (SIGSTOP)");
        ctx.Topology.Master.Freeze();
        ctx.Mark($"master {ctx.Topology.Master.Endpoint} host dies (SIGSTOP, no TCP reset)");
    }

    /// <summary>Starts replacing the app instances one by one (<see cref="DeployInterval"/>) until the fault phase ends.</summary>
    private static void StartDeploy(ScenarioContext ctx, CancellationToken ct)
    {
        var deploy = ctx.Deploy ?? throw new InvalidOperationException("a deploy needs the run's app instances");
        ctx.Mark($"deploy starts: {deploy.Instances} instances, one replaced every {DeployInterval.TotalSeconds:0} s");
        deploy.Start(DeployInterval, ctx.FaultEnd, ct);
    }

    /// <summary>Waits for the deploy's last replacement and records what the new clients did in their first seconds.</summary>
    private static async Task FinishDeployAsync(ScenarioContext ctx)
    {
        var deploy = ctx.Deploy!;
        await deploy.FinishAsync().ConfigureAwait(false);
        var (reads, loads, p95, max) = deploy.NewClientsFirstSeconds;
        ctx.Mark(string.Create(CultureInfo.InvariantCulture,
            $"deploy done: {deploy.Replaced} of {deploy.Instances} instances replaced; in their first {DeployInterval.TotalSeconds:0} s the new clients served {reads} reads, {loads} of them loaded from the database; read p95 {p95} ms, max {max} ms"));
    }

    public static Scenario? Find(string name) =>
        All.FirstOrDefault(s => string.Equals(s.Name, name, StringComparison.OrdinalIgnoreCase));

    /// <summary>
    /// Makes sure a master other than the original one is serving: when Sentinel has not failed over, thaw
    /// the partitioned Sentinels (optionally) and force <c>SENTINEL FAILOVER</c> on an answering Sentinel,
    /// as the incident's responders did. Records how long the switch took.
    /// </summary>
    private static async Task PromoteByHandAsync(ScenarioContext ctx, bool thawSentinels, CancellationToken ct)
    {
        var topology = ctx.Topology;
        if (thawSentinels)
        {
            foreach (var sentinel in topology.Sentinels.Where(s => s.IsFrozen))
            {
                sentinel.Thaw();
                ctx.Mark($"sentinel {sentinel.Endpoint} partition healed (SIGCONT)");
            }
        }

        var current = await topology.GetMasterEndpointAsync(ct).ConfigureAwait(false);
        if (current is not null && current != ctx.OriginalMaster)
        {
            ctx.NewMaster = current; // Sentinel already failed over by itself
            return;
        }

        var started = Stopwatch.GetTimestamp();
        var sentinelNode = topology.Sentinels.First(s => s.IsRunning && !s.IsFrozen);

        // While the master is only subjectively down, Sentinel refreshes replica INFO every 10 s but
        // trusts it for 5 s, so SENTINEL FAILOVER answers NOGOODSLAVE about half the time: retry, as an
        // operator would, until it is accepted (or a failover is already in progress).
        RedisReply reply;
        var attempts = 0;
        do
        {
            attempts++;
            reply = await sentinelNode.ExecuteAsync(TimeSpan.FromSeconds(2), ["SENTINEL", "FAILOVER", topology.ServiceName], ct).ConfigureAwait(false);
            if (!reply.IsError || reply.Text?.StartsWith("INPROG", StringComparison.Ordinal) == true)
            {
                break;
            }

            await Task.Delay(TimeSpan.FromMilliseconds(500), TimeProvider.System, ct).ConfigureAwait(false);
        }
        while (Stopwatch.GetElapsedTime(started) < TimeSpan.FromSeconds(20));

        ctx.Mark($"SENTINEL FAILOVER {topology.ServiceName} on {sentinelNode.Endpoint}: {reply} (attempt {attempts})");
        var changed = await topology.WaitForMasterChangeAsync(ctx.OriginalMaster!, TimeSpan.FromSeconds(20), ct).ConfigureAwait(false);
        if (changed is null)
        {
            throw new TopologyException($"manual failover did not produce a new master within 20 s (Sentinel {sentinelNode}): {reply}");
        }

        ctx.ManualSwitchAfterRepair = Stopwatch.GetElapsedTime(started);
        ctx.NewMaster = changed;
        ctx.Mark($"new master {changed} (promoted by hand)");
    }

    /// <summary>Stalls <paramref name="master"/> until the fault phase ends.</summary>
    private static async Task StallAsync(ScenarioContext ctx, RedisNode master, CancellationToken ct)
    {
        try
        {
            while (ctx.Elapsed < ctx.FaultEnd && !ct.IsCancellationRequested)
            {
                var started = ctx.Elapsed;
                await master.ExecuteAsync(TimeSpan.FromSeconds(2), ["DEBUG", "SLEEP", "0.25"], ct).ConfigureAwait(false);
                var wait = TimeSpan.FromMilliseconds(300) - (ctx.Elapsed - started);
                if (wait > TimeSpan.Zero)
                {
                    await Task.Delay(wait, TimeProvider.System, ct).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is OperationCanceledException or IOException or TimeoutException or System.Net.Sockets.SocketException)
        {
            // the run is over or the node went away: stop stalling
        }
    }

    /// <summary>Records when the killed master's replica has taken over (the cluster's own failover).</summary>
    private static async Task WatchPromotionAsync(ScenarioContext ctx, RedisNode master, CancellationToken ct)
    {
        try
        {
            var promoted = await ctx.Cluster.WaitForPromotionAsync(master, TimeSpan.FromSeconds(60), ct).ConfigureAwait(false);
            ctx.AutomaticFailoverAt = ctx.Elapsed;
            ctx.Mark($"replica {promoted.Endpoint} promoted by the cluster");
        }
        catch (Exception ex) when (ex is TopologyException or OperationCanceledException or ObjectDisposedException or IOException or TimeoutException)
        {
            // no promotion while the run lasted: the report says failover did not happen
        }
    }
}
