using Levee.Drill.Clients;
using Levee.Drill.Scenarios;
using Levee.Drill.Topology;

namespace Levee.Drill.Running;

/// <summary>
/// The Redis deployment of one client run: a <see cref="SentinelTopology"/> or a <see cref="ClusterTopology"/>
/// (from the launcher in <c>Topology/</c>), and the <see cref="RedisTarget"/> the clients connect to.
/// </summary>
internal sealed class DrillTopology : IAsyncDisposable
{
    private DrillTopology(SentinelTopology? sentinel, ClusterTopology? cluster)
    {
        Sentinel = sentinel;
        Cluster = cluster;
        if (sentinel is not null)
        {
            Target = new RedisTarget(
                "sentinel",
                sentinel.Master.Endpoint,
                sentinel.Sentinels.Select(s => s.Endpoint).ToList(),
                sentinel.ServiceName,
                sentinel.RedisNodes.Select(n => n.Endpoint).ToList()) { Tls = sentinel.Host.Tls };
        }
        else
        {
            Target = new RedisTarget("cluster", null, [], null, cluster!.Nodes.Select(n => n.Endpoint).ToList()) { Tls = cluster.Host.Tls };
        }
    }

    public SentinelTopology? Sentinel { get; }

    public ClusterTopology? Cluster { get; }

    public RedisTarget Target { get; }

    public ProcessHost Host => Sentinel?.Host ?? Cluster!.Host;

    /// <summary>
    /// Starts the deployment; with <paramref name="tls"/> every process listens on TLS only (certificates in the run's
    /// folder); <paramref name="redisConfig"/> (<c>--redis-config</c>) is added to every data node's <c>redis.conf</c>
    /// after the scenario's own lines.
    /// </summary>
    public static async Task<DrillTopology> StartAsync(ScenarioTopology spec, bool tls, IReadOnlyList<string> redisConfig, CancellationToken cancellationToken)
    {
        if (spec.Kind == "cluster")
        {
            var options = new ClusterTopologyOptions { Masters = 3, ReplicasPerMaster = 1, NodeTimeoutMilliseconds = spec.DownAfterMs, Tls = tls };
            foreach (var line in spec.RedisConfig.Concat(redisConfig))
            {
                options.RedisConfig.Add(line);
            }

            return new DrillTopology(null, await ClusterTopology.StartAsync(options, cancellationToken).ConfigureAwait(false));
        }

        var sentinel = spec.ToSentinelOptions();
        sentinel.Tls = tls;
        foreach (var line in redisConfig)
        {
            sentinel.RedisConfig.Add(line);
        }

        return new DrillTopology(await SentinelTopology.StartAsync(sentinel, cancellationToken).ConfigureAwait(false), null);
    }

    public async ValueTask DisposeAsync()
    {
        if (Sentinel is not null)
        {
            await Sentinel.DisposeAsync().ConfigureAwait(false);
        }

        if (Cluster is not null)
        {
            await Cluster.DisposeAsync().ConfigureAwait(false);
        }
    }
}
