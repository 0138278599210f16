namespace Levee.Doctor;

/// <summary>Connection settings for live checks. Secrets are used for AUTH only and never appear in findings or output.</summary>
public sealed class LiveCheckOptions
{
    /// <summary>ACL user for the Redis data nodes. Default: none (the default user).</summary>
    public string? User { get; init; }

    /// <summary>Password for the Redis data nodes (and Cluster nodes). Default: none.</summary>
    public string? Password { get; init; }

    /// <summary>ACL user for the Sentinels. Default: none (the default user).</summary>
    public string? SentinelUser { get; init; }

    /// <summary>Password for the Sentinels (their requirepass, or the <see cref="SentinelUser"/>'s). Default: none.</summary>
    public string? SentinelPassword { get; init; }

    /// <summary>Connect to every node and Sentinel over TLS. Default: false.</summary>
    public bool Tls { get; init; }

    /// <summary>PEM file of the CA that signed the servers' certificates (a private CA). Default: none (the system's trust store).</summary>
    public string? TlsCaFile { get; init; }

    /// <summary>PEM client certificate, for servers that require one (<c>tls-auth-clients yes</c>), with <see cref="TlsKeyFile"/>. Default: none.</summary>
    public string? TlsCertFile { get; init; }

    /// <summary>PEM private key of <see cref="TlsCertFile"/>. Default: none.</summary>
    public string? TlsKeyFile { get; init; }

    /// <summary>Connect and per-command timeout. Default 2 s; must be positive.</summary>
    public TimeSpan Timeout { get; init; } = TimeSpan.FromSeconds(2);

    /// <summary>Replication lag (bytes) above which a replica is reported (L011/K018). Default 1 MiB.</summary>
    public long MaxReplicationLagBytes { get; init; } = 1 << 20;

    /// <summary>Cluster slot count (16384), exposed for clarity.</summary>
    internal const int ClusterSlots = 16384;
}
