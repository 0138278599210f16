using System.Net;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// The failover watch of a Redis Cluster connection: a failover is told by what the nodes say of themselves
/// (<see cref="ClusterFailoverDetector"/>), not by which nodes StackExchange.Redis sees as masters, which changes too when a
/// master only reconnects. It asks every connected node for its <c>ROLE</c> every <see cref="CheckInterval"/> (a failover
/// need not change anything StackExchange.Redis sees) and at every configuration change.
/// </summary>
internal sealed class ClusterWatch(ConnectionMultiplexer multiplexer, TimeProvider time, Action<string> failover, CancellationToken stopping)
    : FailoverWatch
{
    /// <summary>How often the nodes are asked for their <c>ROLE</c>.</summary>
    internal static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);

    private readonly ClusterFailoverDetector _detector = new();
    private int _started;

    /// <summary>Whether the watch runs: whether this connection is known to be to a Cluster.</summary>
    public bool Started => Volatile.Read(ref _started) == 1;

    /// <summary>
    /// Whether a node of the connection answered as a Cluster node. With every node down at start it is known only at the
    /// first configuration change that sees one (the rule for a single master must never be applied to a Cluster).
    /// </summary>
    public static bool IsCluster(ConnectionMultiplexer multiplexer) =>
        multiplexer.GetServers().Any(static s => s.ServerType == ServerType.Cluster);

    /// <summary>Records what each node is now (no failover is told from a first look), then checks every <see cref="CheckInterval"/>.</summary>
    public override async Task StartAsync()
    {
        if (Interlocked.CompareExchange(ref _started, 1, 0) != 0)
        {
            return;
        }

        await ObserveAsync("initial").ConfigureAwait(false);
        _ = WatchAsync();
    }

    public override void OnConfigurationChanged(EndPoint? endpoint) =>
        _ = Started ? ObserveAsync($"configuration changed at {(endpoint is null ? "?" : RedisNodes.Format(endpoint))}") : StartAsync();

    /// <summary>Asks every connected node for its role every <see cref="CheckInterval"/> until the connection stops.</summary>
    private async Task WatchAsync()
    {
        while (await RedisNodes.DelayAsync(CheckInterval, time, stopping).ConfigureAwait(false))
        {
            await ObserveAsync("periodic check").ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Asks the connected nodes for their <c>ROLE</c> and reports replicas that are masters now. Never throws: a node that
    /// does not answer in time, or answers garbage, tells nothing.
    /// </summary>
    private async Task ObserveAsync(string trigger)
    {
        // one check at a time: an answer given before a promotion must not be recorded after one given after it
        await _detector.Turn.WaitAsync().ConfigureAwait(false);
        try
        {
            var answers = await Task.WhenAll(ConnectedServers().Select(async server =>
            {
                var endpoint = RedisNodes.Format(server.EndPoint);
                try
                {
                    return (endpoint, await RedisNodes.RoleAsync(server, CheckInterval, time).ConfigureAwait(false));
                }
                catch (Exception)
                {
                    return (endpoint, (string?)null);
                }
            })).ConfigureAwait(false);
            var promoted = _detector.Observe(answers);
            if (promoted.Count > 0)
            {
                failover($"new master {string.Join(", ", promoted)} (was a replica; {trigger})");
            }
        }
        finally
        {
            _detector.Turn.Release();
        }
    }

    private IServer[] ConnectedServers()
    {
        try
        {
            return [.. multiplexer.GetServers().Where(static s => s.IsConnected)];
        }
        catch (ObjectDisposedException)
        {
            return [];
        }
    }

    /// <summary>Nothing to stop: the checks end with the connection's stopping token and the multiplexer.</summary>
    public override ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
