namespace Levee.Gate;

/// <summary>Who asks the gate for a slot. Interactive callers are always served before the others.</summary>
internal enum GatePriority
{
    /// <summary>A caller waiting for a value: waits in the bounded queue (unless it has a stale value to serve).</summary>
    Interactive,

    /// <summary>Early or degraded-mode refresh: takes a slot of the low-priority share if one is free, never waits.</summary>
    Refresh,

    /// <summary>Warm-up: waits for a slot of the low-priority share, behind every interactive caller.</summary>
    WarmUp,
}
