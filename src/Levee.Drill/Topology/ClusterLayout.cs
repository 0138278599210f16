namespace Levee.Drill.Topology;

/// <summary>Who is master and who replicates whom, as a live cluster node reports it (<c>CLUSTER NODES</c>).</summary>
public sealed class ClusterLayout
{
    internal ClusterLayout(IReadOnlyList<RedisNode> masters, IReadOnlyDictionary<RedisNode, RedisNode> replicaOf, IReadOnlyList<RedisNode> failed)
    {
        Masters = masters;
        ReplicaOf = replicaOf;
        Failed = failed;
    }

    /// <summary>Nodes flagged master and serving slots, not flagged failed.</summary>
    public IReadOnlyList<RedisNode> Masters { get; }

    /// <summary>Replica to its master.</summary>
    public IReadOnlyDictionary<RedisNode, RedisNode> ReplicaOf { get; }

    /// <summary>Nodes flagged <c>fail</c> or <c>fail?</c>.</summary>
    public IReadOnlyList<RedisNode> Failed { get; }
}
