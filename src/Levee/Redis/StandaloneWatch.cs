using System.Net;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// The failover watch of a direct connection that is not to a Cluster (one master, maybe with replicas listed in the
/// string): at each configuration change StackExchange.Redis reports, <see cref="StandalonePromotion"/> decides from the
/// masters it sees now whether a node was promoted.
/// </summary>
internal sealed class StandaloneWatch(ConnectionMultiplexer multiplexer, Action<string> failover) : FailoverWatch
{
    private readonly StandalonePromotion _promotion = new(Masters(multiplexer));

    /// <summary>Nothing to start: the masters seen at connect are recorded when the watch is made.</summary>
    public override Task StartAsync() => Task.CompletedTask;

    public override void OnConfigurationChanged(EndPoint? endpoint)
    {
        var promoted = _promotion.Observe(Masters(multiplexer));
        if (promoted.Count > 0)
        {
            failover($"new master {string.Join(", ", promoted)} (configuration changed at {endpoint})");
        }
    }

    private static List<string> Masters(ConnectionMultiplexer multiplexer)
    {
        var masters = new List<string>();
        foreach (var server in multiplexer.GetServers())
        {
            if (server.IsConnected && !server.IsReplica)
            {
                masters.Add(RedisNodes.Format(server.EndPoint));
            }
        }

        return masters;
    }

    /// <summary>Nothing to stop: the checks end with the connection's stopping token and the multiplexer.</summary>
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
