namespace Levee.Doctor.Config;

/// <summary>What a config file configures.</summary>
internal enum ConfigKind
{
    /// <summary>A redis-server (data node).</summary>
    Redis,

    /// <summary>A redis-sentinel.</summary>
    Sentinel,
}
