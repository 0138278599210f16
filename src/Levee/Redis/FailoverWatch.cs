using System.Net;

namespace Levee.Redis;

/// <summary>
/// Watches one topology for a failover. Each implementation does the I/O (asks the nodes or the Sentinels) and hands what
/// it saw to a pure type that decides; a decided failover is reported to <see cref="RedisConnection"/>, which raises
/// <see cref="Internal.L2StoreEventKind.Failover"/> for the cache to react to.
/// <list type="bullet">
/// <item><see cref="SentinelWatch"/> (<c>serviceName=</c>): <see cref="SentinelElection"/> decides; it also makes the
/// connection to the master it follows and installs it.</item>
/// <item><see cref="ClusterWatch"/>: <see cref="ClusterFailoverDetector"/> decides, from every node's <c>ROLE</c>.</item>
/// <item><see cref="StandaloneWatch"/>: <see cref="StandalonePromotion"/> decides, from the masters StackExchange.Redis sees.</item>
/// </list>
/// </summary>
internal abstract class FailoverWatch : IAsyncDisposable
{
    /// <summary>Starts watching; returns once a first look is recorded, where there is one to wait for.</summary>
    public abstract Task StartAsync();

    /// <summary>StackExchange.Redis reports a configuration change at <paramref name="endpoint"/> (direct connections).</summary>
    public virtual void OnConfigurationChanged(EndPoint? endpoint)
    {
    }

    /// <summary>Stops watching; the connection's stopping token is cancelled before.</summary>
    public abstract ValueTask DisposeAsync();
}
