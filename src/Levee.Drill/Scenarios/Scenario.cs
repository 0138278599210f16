using Levee.Drill.Measurement;
using Levee.Drill.Topology;

namespace Levee.Drill.Scenarios;

/// <summary>
/// A drill scenario: the topology it needs, its default phase lengths, the fault injected at the start
/// of the fault phase and the repair done at its end (the way responders would), and what must hold
/// (an automatic failover or not).
/// </summary>
internal sealed record Scenario(
    string Name,
    string Description,
    ScenarioTopology Topology,
    PhasePlan DefaultPhases,
    bool ExpectsAutomaticFailover,
    Func<ScenarioContext, CancellationToken, Task> InjectAsync,
    Func<ScenarioContext, CancellationToken, Task> RepairAsync)
{
    /// <summary>One line for the report's fault list: what the fault does.</summary>
    public string FaultSummary { get; init; } = "fault";

    /// <summary>One line for the report's fault list: what the repair does.</summary>
    public string RepairSummary { get; init; } = "repair";

    /// <summary>False for scenarios listed but not implemented yet; <see cref="NotImplementedReason"/> says why.</summary>
    public bool Implemented => NotImplementedReason is null;

    public string? NotImplementedReason { get; init; }

    /// <summary>
    /// True where the fault takes every Redis data node away (redis-outage): only there is the fault floor
    /// (<see cref="FaultFloor"/>: the fault's writes and first reads of each key's version) a lower bound a cache can be
    /// compared with; where replicas still answer, a cache can go below it, and the report leaves it out.
    /// </summary>
    public bool LosesEveryRedisNode { get; init; }

    /// <summary>The same scenario with nothing injected and nothing repaired: the healthy reference (<see cref="DrillOptions.Reference"/>).</summary>
    public Scenario Healthy() => this with
    {
        ExpectsAutomaticFailover = false,
        InjectAsync = static (_, _) => Task.CompletedTask,
        RepairAsync = static (_, _) => Task.CompletedTask,
        FaultSummary = "none (healthy reference)",
        RepairSummary = "none",
        LosesEveryRedisNode = false,
    };
}

/// <summary>The Redis deployment a scenario runs on: <c>sentinel</c> (1 master, replicas, Sentinels) or <c>cluster</c> (3 masters, 3 replicas).</summary>
internal sealed record ScenarioTopology(string Kind, int Replicas, int Sentinels, int Quorum, int DownAfterMs)
{
    /// <summary>Extra redis.conf lines for the data nodes (e.g. <c>enable-debug-command yes</c> for slow-redis).</summary>
    public IReadOnlyList<string> RedisConfig { get; init; } = [];

    public SentinelTopologyOptions ToSentinelOptions()
    {
        var options = new SentinelTopologyOptions
        {
            Replicas = Replicas,
            Sentinels = Sentinels,
            Quorum = Quorum,
            DownAfterMilliseconds = DownAfterMs,
            FailoverTimeoutMilliseconds = 4_000, // scaled with down-after (postmortem: 5000 / 10000); a no-good-replica abort retries after 2x this
        };
        foreach (var line in RedisConfig)
        {
            options.RedisConfig.Add(line);
        }

        return options;
    }
}

/// <summary>What a scenario's fault and repair act on, and where they record what they did.</summary>
internal sealed class ScenarioContext(Running.DrillTopology topology, Action<string> mark, Func<TimeSpan> elapsed)
{
    /// <summary>The Sentinel deployment (Sentinel scenarios).</summary>
    public SentinelTopology Topology => topology.Sentinel ?? throw new InvalidOperationException("not a Sentinel scenario");

    /// <summary>The Cluster (cluster scenarios).</summary>
    public ClusterTopology Cluster => topology.Cluster ?? throw new InvalidOperationException("not a cluster scenario");

    /// <summary>The master when the load started (Sentinel scenarios).</summary>
    public string? OriginalMaster { get; } = topology.Sentinel?.Master.Endpoint;

    /// <summary>When a failover the system did by itself was observed (cluster scenarios; Sentinel ones use its events).</summary>
    public TimeSpan? AutomaticFailoverAt { get; set; }

    /// <summary>Time since the start of the load.</summary>
    public TimeSpan Elapsed => elapsed();

    /// <summary>The drill's seed (for scenarios that draw random faults).</summary>
    public ulong Seed { get; init; }

    /// <summary>When the fault phase starts (since the start of the load).</summary>
    public TimeSpan FaultStart { get; init; }

    /// <summary>When the fault phase ends (since the start of the load).</summary>
    public TimeSpan FaultEnd { get; init; }

    /// <summary>Set by the repair when it had to promote a replica by hand: the moment the new master was reported.</summary>
    public TimeSpan? ManualSwitchAfterRepair { get; set; }

    /// <summary>Replaces the app instances one by one (the <c>deploy</c> scenario).</summary>
    public Running.RollingDeploy? Deploy { get; init; }

    /// <summary>The master after the repair (set by the repair), or null when it did not change.</summary>
    public string? NewMaster { get; set; }

    /// <summary>Records an action on the run's timeline (at the current second).</summary>
    public void Mark(string action) => mark(action);
}
