namespace Levee;

/// <summary>What happened to a cache's Redis connection.</summary>
public enum LeveeL2EventKind
{
    /// <summary>Connected (first time, or again after a loss).</summary>
    Connected,

    /// <summary>A connection to Redis was lost; L2 is skipped while it is away.</summary>
    ConnectionLost,

    /// <summary>The cache followed a master switch (Sentinel failover or Cluster reconfiguration) without a restart.</summary>
    MasterSwitched,
}

/// <summary>Arguments of <see cref="LeveeCache.RedisStateChanged"/>.</summary>
public sealed class LeveeL2EventArgs(LeveeL2EventKind kind, string? detail) : EventArgs
{
    /// <summary>What happened.</summary>
    public LeveeL2EventKind Kind { get; } = kind;

    /// <summary>Endpoints and reason, for logs (never a password).</summary>
    public string? Detail { get; } = detail;
}
