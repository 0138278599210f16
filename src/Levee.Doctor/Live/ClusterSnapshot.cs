namespace Levee.Doctor.Live;

/// <summary>One line of <c>CLUSTER NODES</c>.</summary>
internal sealed record ClusterNode(string Id, string Endpoint, string Host, HashSet<string> Flags, string? MasterId, string LinkState, List<string> Slots)
{
    public bool IsMaster => Flags.Contains("master");

    public bool IsFailed => Flags.Contains("fail") || Flags.Contains("fail?");

    public string Role => IsMaster ? "master" : "replica";

    /// <summary>Parses <c>&lt;id&gt; &lt;ip:port@cport[,hostname]&gt; &lt;flags&gt; &lt;master|-&gt; &lt;ping-sent&gt; &lt;pong-recv&gt; &lt;config-epoch&gt; &lt;link-state&gt; &lt;slot&gt;...</c> lines.</summary>
    public static List<ClusterNode> ParseAll(string? text)
    {
        var list = new List<ClusterNode>();
        foreach (var line in (text ?? string.Empty).Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (parts.Length < 8)
            {
                continue;
            }

            var address = parts[1].Split(',')[0].Split('@')[0];
            var colon = address.LastIndexOf(':');
            var host = colon > 0 ? address[..colon] : address;
            list.Add(new ClusterNode(
                parts[0],
                address,
                host,
                parts[2].Split(',').ToHashSet(StringComparer.Ordinal),
                parts[3] == "-" ? null : parts[3],
                parts[7],
                [.. parts.Skip(8)]));
        }

        return list;
    }
}

/// <summary>What one cluster node answered (CLUSTER INFO, CLUSTER NODES, CONFIG GET cluster-*), or why it did not.</summary>
internal sealed class ClusterNodeReply
{
    public Dictionary<string, string>? Info { get; init; }

    public List<ClusterNode>? View { get; init; }

    /// <summary>CONFIG GET cluster-*; null when CONFIG is not allowed.</summary>
    public Dictionary<string, string>? Config { get; init; }

    public string? Error { get; init; }
}

/// <summary>One replica as CLUSTER SHARDS reports it, with its primary's offset.</summary>
internal sealed record ShardReplica(string Endpoint, string Health, long Offset, long PrimaryOffset);

/// <summary>Everything the live Cluster check gathered; <see cref="ClusterLiveChecker.Evaluate"/> turns it into findings without I/O.</summary>
internal sealed class ClusterSnapshot
{
    public required string Seed { get; init; }

    /// <summary>Why the seed could not be read (not HOST:PORT, unreachable); null when it answered.</summary>
    public string? SeedError { get; set; }

    /// <summary>The seed's CLUSTER NODES.</summary>
    public List<ClusterNode> Nodes { get; set; } = [];

    /// <summary>Answers by node endpoint (nodes flagged noaddr/handshake are not asked).</summary>
    public Dictionary<string, ClusterNodeReply> Replies { get; } = new(StringComparer.Ordinal);

    /// <summary>CLUSTER SHARDS replicas (Redis 7.0+); empty when unavailable.</summary>
    public List<ShardReplica> Shards { get; } = [];
}
