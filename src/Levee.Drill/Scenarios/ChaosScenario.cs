using Levee.Drill.Load;
using Levee.Drill.Topology;

namespace Levee.Drill.Scenarios;

/// <summary>
/// The postmortem's "chaos testing: random Redis failures": during the fault phase, one random fault after
/// another (drawn from the seed), each held for 3 to 7 s and then undone: the master killed (and
/// restarted), the master frozen (and thawed), a replica killed, a Sentinel frozen, every data node killed
/// (and restarted empty). The repair undoes whatever is still broken.
/// </summary>
internal static class ChaosScenario
{
    private static readonly string[] Faults = ["master-kill", "master-freeze", "replica-kill", "sentinel-freeze", "all-down"];

    /// <summary>How long the system is left to settle between one fault's undo and the next fault.</summary>
    internal static readonly TimeSpan Settle = TimeSpan.FromSeconds(1);

    /// <summary>
    /// The faults a seed draws for a fault phase of <paramref name="length"/>: kind, start (from the start of the
    /// fault phase) and hold, on nominal times (each fault starts when the previous one's hold and a settle second are
    /// over). Pure: the same seed and length give the same sequence; the run follows it, late only by the time its
    /// kills and restarts take.
    /// </summary>
    public static IReadOnlyList<ChaosStep> Plan(ulong seed, TimeSpan length)
    {
        var steps = new List<ChaosStep>();
        var at = TimeSpan.Zero;
        for (ulong step = 0; at + TimeSpan.FromSeconds(3) < length; step++)
        {
            var fault = Faults[(int)(DeterministicRandom.Hash(seed, 0xC4A05, step) % (ulong)Faults.Length)];
            var hold = TimeSpan.FromSeconds(3 + (4 * DeterministicRandom.Uniform(seed, 0xC4A06, step)));
            hold = hold < length - at ? hold : length - at;
            steps.Add(new ChaosStep(at, fault, hold));
            at += hold + Settle;
        }

        return steps;
    }

    public static async Task InjectAsync(ScenarioContext ctx, CancellationToken ct)
    {
        var start = ctx.FaultStart;
        foreach (var step in Plan(ctx.Seed, ctx.FaultEnd - start))
        {
            await DelayUntilAsync(ctx, start + step.At, ct).ConfigureAwait(false);
            var undo = await BreakAsync(ctx, step.Kind, ct).ConfigureAwait(false);
            var end = start + step.At + step.Hold;
            await DelayUntilAsync(ctx, end < ctx.FaultEnd ? end : ctx.FaultEnd, ct).ConfigureAwait(false);
            await undo().ConfigureAwait(false);
        }
    }

    /// <summary>Thaws every frozen node and restarts every dead one; records the master the Sentinels then report.</summary>
    public static async Task RepairAsync(ScenarioContext ctx, CancellationToken ct)
    {
        var topology = ctx.Topology;
        foreach (var node in topology.RedisNodes.Concat(topology.Sentinels))
        {
            if (node.IsFrozen)
            {
                node.Thaw();
                ctx.Mark($"{node.Name} {node.Endpoint} thawed");
            }
            else if (!node.IsRunning)
            {
                await node.RestartAsync(ct).ConfigureAwait(false);
                ctx.Mark($"{node.Name} {node.Endpoint} restarted");
            }
        }

        var master = await topology.GetMasterEndpointAsync(ct).ConfigureAwait(false);
        if (master is not null && master != ctx.OriginalMaster)
        {
            ctx.NewMaster = master;
        }
    }

    private static async Task<Func<Task>> BreakAsync(ScenarioContext ctx, string fault, CancellationToken ct)
    {
        var topology = ctx.Topology;
        switch (fault)
        {
            case "master-kill":
                {
                    var master = await CurrentMasterAsync(topology, ct).ConfigureAwait(false);
                    master.Kill();
                    ctx.Mark($"chaos: master {master.Endpoint} killed");
                    return async () =>
                    {
                        await master.RestartAsync(ct).ConfigureAwait(false);
                        ctx.Mark($"chaos: {master.Endpoint} restarted");
                    };
                }

            case "master-freeze":
                {
                    var master = await CurrentMasterAsync(topology, ct).ConfigureAwait(false);
                    master.Freeze();
                    ctx.Mark($"chaos: master {master.Endpoint} frozen");
                    return () =>
                    {
                        master.Thaw();
                        ctx.Mark($"chaos: {master.Endpoint} thawed");
                        return Task.CompletedTask;
                    };
                }

            case "replica-kill":
                {
                    var master = await CurrentMasterAsync(topology, ct).ConfigureAwait(false);
                    var replica = topology.RedisNodes.First(n => n != master && n.IsRunning && !n.IsFrozen);
                    replica.Kill();
                    ctx.Mark($"chaos: replica {replica.Endpoint} killed");
                    return async () =>
                    {
                        await replica.RestartAsync(ct).ConfigureAwait(false);
                        ctx.Mark($"chaos: {replica.Endpoint} restarted");
                    };
                }

            case "sentinel-freeze":
                {
                    var sentinel = topology.Sentinels.First(s => s.IsRunning && !s.IsFrozen);
                    sentinel.Freeze();
                    ctx.Mark($"chaos: sentinel {sentinel.Endpoint} frozen");
                    return () =>
                    {
                        sentinel.Thaw();
                        ctx.Mark($"chaos: sentinel {sentinel.Endpoint} thawed");
                        return Task.CompletedTask;
                    };
                }

            default:
                {
                    var nodes = topology.RedisNodes.Where(n => n.IsRunning).ToList();
                    foreach (var node in nodes)
                    {
                        node.Kill();
                    }

                    ctx.Mark("chaos: every Redis data node killed");
                    return async () =>
                    {
                        foreach (var node in nodes)
                        {
                            await node.RestartAsync(ct).ConfigureAwait(false);
                        }

                        ctx.Mark("chaos: every data node restarted, empty");
                    };
                }
        }
    }

    private static async Task DelayUntilAsync(ScenarioContext ctx, TimeSpan at, CancellationToken ct)
    {
        var wait = at - ctx.Elapsed;
        if (wait > TimeSpan.Zero)
        {
            await Task.Delay(wait, TimeProvider.System, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The node answering as master (what Sentinel reports, else the original one).</summary>
    private static async Task<RedisNode> CurrentMasterAsync(SentinelTopology topology, CancellationToken ct) =>
        await topology.FindCurrentMasterAsync(ct).ConfigureAwait(false) ?? topology.Master;
}

/// <summary>One fault of a chaos run: its kind, when it starts (from the start of the fault phase) and how long it is held.</summary>
internal sealed record ChaosStep(TimeSpan At, string Kind, TimeSpan Hold);
