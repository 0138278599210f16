namespace Levee.Drill.Topology;

/// <summary>Shape and timing of a <see cref="ClusterTopology"/>. Defaults: 3 masters, 1 replica each.</summary>
public sealed class ClusterTopologyOptions
{
    /// <summary>Number of masters (each gets a third of the slots for 3). Default 3; 3 to 10 (redis-cli needs 3).</summary>
    public int Masters { get; set; } = 3;

    /// <summary>Replicas per master. Default 1; 0 to 3.</summary>
    public int ReplicasPerMaster { get; set; } = 1;

    /// <summary><c>cluster-node-timeout</c>. Default 2000 ms (tests); at least 100.</summary>
    public int NodeTimeoutMilliseconds { get; set; } = 2000;

    /// <summary>
    /// TLS only: every node listens on TLS (<c>port 0</c>, <c>tls-cluster yes</c>, <c>tls-replication yes</c>), with
    /// certificates made by openssl in the host's folder (<see cref="ProcessHost.UseTlsAsync"/>). Default false.
    /// </summary>
    public bool Tls { get; set; }

    /// <summary>Extra <c>redis.conf</c> lines for every node.</summary>
    public IList<string> RedisConfig { get; } = [];

    /// <summary>How long creation may take until every node reports <c>cluster_state:ok</c>. Default 60 s.</summary>
    public TimeSpan ReadyTimeout { get; set; } = TimeSpan.FromSeconds(60);

    internal void Validate()
    {
        var problems = new List<string>();
        if (Masters is < 3 or > 10)
        {
            problems.Add($"Masters={Masters} must be 3..10");
        }

        if (ReplicasPerMaster is < 0 or > 3)
        {
            problems.Add($"ReplicasPerMaster={ReplicasPerMaster} must be 0..3");
        }

        if (NodeTimeoutMilliseconds < 100)
        {
            problems.Add($"NodeTimeoutMilliseconds={NodeTimeoutMilliseconds} must be >= 100");
        }

        if (ReadyTimeout <= TimeSpan.Zero)
        {
            problems.Add($"ReadyTimeout={ReadyTimeout} must be positive");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid ClusterTopologyOptions: " + string.Join("; ", problems));
        }
    }
}
