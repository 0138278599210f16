namespace Levee.Drill.Topology;

/// <summary>Shape and timing of a <see cref="SentinelTopology"/>. Defaults suit tests.</summary>
public sealed class SentinelTopologyOptions
{
    /// <summary>Number of replicas of the master. Default 2; 0 to 10.</summary>
    public int Replicas { get; set; } = 2;

    /// <summary>Number of Sentinels. Default 3; 1 to 9.</summary>
    public int Sentinels { get; set; } = 3;

    /// <summary>Sentinel quorum (Sentinels that must agree the master is down). Default 2; 1 to <see cref="Sentinels"/>.</summary>
    public int Quorum { get; set; } = 2;

    /// <summary>Sentinel <c>down-after-milliseconds</c>. Default 2000 (tests); at least 100.</summary>
    public int DownAfterMilliseconds { get; set; } = 2000;

    /// <summary>Sentinel <c>failover-timeout</c>. Default 10000; at least 1000.</summary>
    public int FailoverTimeoutMilliseconds { get; set; } = 10_000;

    /// <summary>The monitored service name. Default <c>mymaster</c>.</summary>
    public string ServiceName { get; set; } = "mymaster";

    /// <summary>
    /// TLS only: master, replicas and Sentinels listen on TLS (<c>port 0</c>, <c>tls-replication yes</c>), with
    /// certificates made by openssl in the host's folder (<see cref="ProcessHost.UseTlsAsync"/>). Default false.
    /// </summary>
    public bool Tls { get; set; }

    /// <summary>Extra <c>redis.conf</c> lines for master and replicas (e.g. <c>maxmemory 64mb</c>).</summary>
    public IList<string> RedisConfig { get; } = [];

    /// <summary>How long start-up may take until every node reports ready. Default 60 s.</summary>
    public TimeSpan ReadyTimeout { get; set; } = TimeSpan.FromSeconds(60);

    internal void Validate()
    {
        var problems = new List<string>();
        if (Replicas is < 0 or > 10)
        {
            problems.Add($"Replicas={Replicas} must be 0..10");
        }

        if (Sentinels is < 1 or > 9)
        {
            problems.Add($"Sentinels={Sentinels} must be 1..9");
        }

        if (Quorum < 1 || Quorum > Sentinels)
        {
            problems.Add($"Quorum={Quorum} must be 1..Sentinels ({Sentinels})");
        }

        if (DownAfterMilliseconds < 100)
        {
            problems.Add($"DownAfterMilliseconds={DownAfterMilliseconds} must be >= 100");
        }

        if (FailoverTimeoutMilliseconds < 1000)
        {
            problems.Add($"FailoverTimeoutMilliseconds={FailoverTimeoutMilliseconds} must be >= 1000");
        }

        if (string.IsNullOrWhiteSpace(ServiceName) || ServiceName.Any(char.IsWhiteSpace))
        {
            problems.Add($"ServiceName='{ServiceName}' must be a non-empty word");
        }

        if (ReadyTimeout <= TimeSpan.Zero)
        {
            problems.Add($"ReadyTimeout={ReadyTimeout} must be positive");
        }

        if (problems.Count > 0)
        {
            throw new ArgumentException("invalid SentinelTopologyOptions: " + string.Join("; ", problems));
        }
    }
}
