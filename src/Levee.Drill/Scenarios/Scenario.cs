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
}

/// <summary>The Redis deployment a scenario runs on.</summary>
internal sealed record ScenarioTopology(string Kind, int Replicas, int Sentinels, int Quorum, int DownAfterMs)
{
    public SentinelTopologyOptions ToSentinelOptions() => new()
    {
        Replicas = Replicas,
        Sentinels = Sentinels,
        Quorum = Quorum,
        DownAfterMilliseconds = DownAfterMs,
        FailoverTimeoutMilliseconds = 4_000, // scaled with down-after (postmortem: 5000 / 10000); a no-good-replica abort retries after 2x this
    };
}

/// <summary>What a scenario's fault and repair act on, and where they record what they did.</summary>
internal sealed class ScenarioContext(SentinelTopology topology, Action<string> mark)
{
    public SentinelTopology Topology { get; } = topology;

    /// <summary>The master when the load started.</summary>
    public string OriginalMaster { get; } = topology.Master.Endpoint;

    /// <summary>Set by the repair when it had to promote a replica by hand: the moment the new master was reported.</summary>
    public TimeSpan? ManualSwitchAfterRepair { get; set; }

    /// <summary>The master after the repair (set by the repair), or null when it did not change.</summary>
    public string? NewMaster { get; set; }

    /// <summary>Records an action on the run's timeline (at the current second).</summary>
    public void Mark(string action) => mark(action);
}
