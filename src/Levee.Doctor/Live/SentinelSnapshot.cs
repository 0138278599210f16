namespace Levee.Doctor.Live;

/// <summary>What one Sentinel answered (or why it did not).</summary>
internal sealed class SentinelView(string endpoint)
{
    public string Endpoint { get; } = endpoint;

    /// <summary>Why the Sentinel could not be asked at all (connection, timeout); null when it answered.</summary>
    public string? Error { get; set; }

    /// <summary>SENTINEL MASTER fields; null when it does not monitor the service.</summary>
    public Dictionary<string, string>? Master { get; set; }

    public string? MasterError { get; set; }

    /// <summary>SENTINEL GET-MASTER-ADDR-BY-NAME as <c>ip:port</c>.</summary>
    public string? MasterAddress { get; set; }

    /// <summary>SENTINEL CKQUORUM error reply; null when it answered OK.</summary>
    public string? CkQuorumError { get; set; }

    /// <summary>INFO sentinel: sentinel_tilt:1.</summary>
    public bool Tilt { get; set; }

    /// <summary>SENTINEL REPLICAS, one field map per replica.</summary>
    public List<IReadOnlyDictionary<string, string>> Replicas { get; set; } = [];

    /// <summary>SENTINEL SENTINELS, one field map per other Sentinel.</summary>
    public List<IReadOnlyDictionary<string, string>> Peers { get; set; } = [];
}

/// <summary>What a data node answered: INFO replication / persistence, or why it did not.</summary>
internal sealed class NodeReply
{
    public Dictionary<string, string>? Replication { get; init; }

    public Dictionary<string, string>? Persistence { get; init; }

    /// <summary>CONFIG GET of the settings the doctor judges; null when CONFIG is not allowed. Holds secrets (requirepass, masterauth): compared, never printed.</summary>
    public Dictionary<string, string>? Config { get; init; }

    public string? Error { get; init; }
}

/// <summary>Everything the live Sentinel check gathered; <see cref="SentinelLiveChecker.Evaluate"/> turns it into findings without I/O.</summary>
internal sealed class SentinelSnapshot
{
    public required string Service { get; init; }

    /// <summary>The Sentinel endpoints given (valid HOST:PORT only).</summary>
    public required List<string> Endpoints { get; init; }

    /// <summary>Endpoints given that are not HOST:PORT.</summary>
    public List<string> InvalidEndpoints { get; init; } = [];

    public List<SentinelView> Views { get; init; } = [];

    /// <summary>The master address most Sentinels report.</summary>
    public string? MasterAddress { get; set; }

    public NodeReply? Master { get; set; }

    /// <summary>Replicas by <c>ip:port</c> (as the first monitoring Sentinel lists them).</summary>
    public Dictionary<string, NodeReply> Replicas { get; } = new(StringComparer.Ordinal);
}
