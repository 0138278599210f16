using System.Net;
using Levee.Internal;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// Where Levee's connections to the Redis data nodes live: the current <see cref="ConnectionGeneration"/>, made in the
/// background (an app that starts while Redis or Sentinel is down still starts), the backplane's subscriptions that every
/// new generation gets, the <see cref="FailoverWatch"/> of the topology, and one close path (<see cref="DisposeAsync"/>).
/// <list type="bullet">
/// <item>Standalone and Cluster: one multiplexer, made by the connect loop here; StackExchange.Redis follows Cluster slot
/// moves and replica promotions, a <see cref="ClusterWatch"/> or <see cref="StandaloneWatch"/> tells a failover.</item>
/// <item>Sentinel (<c>serviceName=</c>): <see cref="SentinelWatch"/> follows the master, makes a connection to each new
/// one and installs it here (<see cref="InstallAsync"/>). Replicas get their own multiplexer, for reads while the master
/// is unreachable.</item>
/// </list>
/// </summary>
internal sealed class RedisConnection : IAsyncDisposable, ISentinelTarget
{
    /// <summary>The first delay of the direct connect loop; doubled after each failure up to <see cref="MaxConnectDelay"/>.</summary>
    private static readonly TimeSpan FirstConnectDelay = TimeSpan.FromMilliseconds(250);

    private static readonly TimeSpan MaxConnectDelay = TimeSpan.FromSeconds(5);

    private readonly ConfigurationOptions _configuration;
    private readonly ILogger _logger;
    private readonly string _cache;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();

    /// <summary>
    /// <see cref="_stopping"/>'s token, taken once: the connect loop and the watches still read it after
    /// <see cref="DisposeAsync"/> disposed the source (a connect that ends after the dispose must still see it cancelled
    /// and close what it made), and a disposed source's <c>Token</c> throws.
    /// </summary>
    private readonly CancellationToken _stoppingToken;
    private readonly List<(string Channel, Action<string> Handler)> _subscriptions = [];
    private readonly List<(string Channel, Action<string> Handler, Action? Resubscribed)> _replicaSubscriptions = [];
    private readonly SentinelWatch? _sentinel;
    private volatile ConnectionGeneration? _current;

    public RedisConnection(ConfigurationOptions configuration, string cacheName, TimeProvider time, ILogger logger)
    {
        _configuration = configuration;
        _cache = cacheName;
        _time = time;
        _logger = logger;
        _stoppingToken = _stopping.Token;
        // the watch and the connect loop live as long as the cache: they must not carry the ExecutionContext of
        // whoever first resolved it (NoFlow)
        if (!string.IsNullOrEmpty(_configuration.ServiceName))
        {
            var sentinel = new SentinelWatch(_configuration, this, time, logger, cacheName);
            _sentinel = sentinel;
            NoFlow.Start(() => _ = sentinel.StartAsync());
        }
        else
        {
            NoFlow.Start(() => _ = ConnectDirectLoopAsync());
        }
    }

    /// <summary>Connected, lost, failover: raised here, consumed by the cache through <see cref="IL2Store.StateChanged"/>.</summary>
    public event EventHandler<L2StoreEvent>? StateChanged;

    /// <summary>The current generation; null before the first connection and after dispose.</summary>
    public ConnectionGeneration? Current => _current;

    /// <summary>Cancelled when the store is disposed: every loop (connect, watch) ends on it.</summary>
    public CancellationToken Stopping => _stoppingToken;

    public bool IsConnected => _current is { } c && c.Primary.IsConnected;

    public bool IsReplicaConnected => _current is { } c && (c.Replicas is { } replicas ? replicas.IsConnected : HasConnectedReplica(c.Primary));

    private static bool HasConnectedReplica(ConnectionMultiplexer multiplexer)
    {
        foreach (var server in multiplexer.GetServers())
        {
            if (server.IsReplica && server.IsConnected)
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>Connects to the configured nodes (standalone or Cluster), retrying with a growing delay, then installs the connection.</summary>
    private async Task ConnectDirectLoopAsync()
    {
        var delay = FirstConnectDelay;
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var multiplexer = await ConnectionMultiplexer.ConnectAsync(_configuration.Clone()).ConfigureAwait(false);

                // Whether this is a Cluster is known only once a node answered: with every node down at start it is decided
                // at the first configuration change that sees one (the rule for a single master must never be applied to a
                // Cluster). The watches end with the multiplexer and the stopping token.
                var cluster = new ClusterWatch(multiplexer, _time, Failover, Stopping);
                if (ClusterWatch.IsCluster(multiplexer))
                {
                    await cluster.StartAsync().ConfigureAwait(false);
                }

                var standalone = new StandaloneWatch(multiplexer, Failover);
                multiplexer.ConfigurationChanged += (_, e) =>
                    (cluster.Started || ClusterWatch.IsCluster(multiplexer) ? cluster : (FailoverWatch)standalone).OnConfigurationChanged(e.EndPoint);

                await InstallAsync(new ConnectionGeneration(multiplexer, null), "initial connection").ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (RedisNodes.IsConnectFailure(ex))
            {
                Log.L2ConnectFailed(_logger, _cache, ex);
            }

            if (!await RedisNodes.DelayAsync(delay, _time, Stopping).ConfigureAwait(false))
            {
                return;
            }

            delay = TimeSpan.FromMilliseconds(Math.Min(MaxConnectDelay.TotalMilliseconds, delay.TotalMilliseconds * 2));
        }
    }

    private void Failover(string detail)
    {
        _current?.LostMastersFailedOver(); // a Cluster failover: the lost masters' slots are served again
        Raise(L2StoreEventKind.Failover, detail);
    }

    /// <summary>Makes <paramref name="connection"/> the current one, subscribes the backplane on it, and retires the previous one.</summary>
    public async Task InstallAsync(ConnectionGeneration connection, string reason)
    {
        if (_stopping.IsCancellationRequested)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            return;
        }

        connection.Primary.ConnectionFailed += (_, e) => Raise(L2StoreEventKind.ConnectionLost, $"{e.EndPoint} {e.ConnectionType} {e.FailureType}");
        connection.Primary.ConnectionRestored += (_, e) => Raise(L2StoreEventKind.Connected, $"{e.EndPoint} {e.ConnectionType} restored");
        (string Channel, Action<string> Handler)[] subscriptions;
        lock (_subscriptions)
        {
            subscriptions = [.. _subscriptions];
        }

        foreach (var (channel, handler) in subscriptions)
        {
            await SubscribeAsync(connection.Primary, channel, handler).ConfigureAwait(false);
        }

        var previous = Interlocked.Exchange(ref _current, connection);
        if (_stopping.IsCancellationRequested)
        {
            // disposed while the subscriptions above ran: neither this connection nor the one it replaced (which
            // DisposeAsync, finding no current connection, would never close) may outlive the store
            Interlocked.CompareExchange(ref _current, null, connection);
            await connection.DisposeAsync().ConfigureAwait(false);
            if (previous is not null)
            {
                await previous.DisposeAsync().ConfigureAwait(false);
            }

            return;
        }

        // a handler registered while the subscriptions above ran saw no connection (or the one being replaced)
        (string Channel, Action<string> Handler)[] late;
        lock (_subscriptions)
        {
            late = [.. _subscriptions.Skip(subscriptions.Length)];
        }

        foreach (var (channel, handler) in late)
        {
            await SubscribeAsync(connection.Primary, channel, handler).ConfigureAwait(false);
        }

        if (previous is null && !connection.Primary.IsConnected)
        {
            // abortConnect=false hands back a multiplexer that keeps trying (wrong password, Redis still starting)
            Raise(L2StoreEventKind.ConnectionLost, "not connected yet; StackExchange.Redis keeps retrying in the background");
        }
        else
        {
            Raise(previous is null ? L2StoreEventKind.Connected : L2StoreEventKind.Failover, reason);
        }

        if (previous is not null)
        {
            // retire the old connection off the caller's path: closing sockets to a frozen node must not hold anyone
            _ = Task.Run(previous.DisposeAsync);
        }
    }

    internal void Raise(L2StoreEventKind kind, string detail)
    {
        try
        {
            StateChanged?.Invoke(this, new L2StoreEvent(kind, detail));
        }
        catch (Exception ex)
        {
            Log.L2CallFailed(_logger, _cache, "event", "handler", ex);
        }
    }

    /// <summary>Subscribes <paramref name="handler"/> on the master's connection, now and on every later generation.</summary>
    public void Subscribe(string channel, Action<string> handler)
    {
        lock (_subscriptions)
        {
            _subscriptions.Add((channel, handler));
        }

        if (_current is { } connection)
        {
            _ = SubscribeAsync(connection.Primary, channel, handler);
        }
    }

    /// <summary>Subscribes <paramref name="handler"/> on the replicas' connection (Sentinel mode), now and on every later
    /// one; <paramref name="resubscribed"/> is called when a replicas' connection is attached (the first, or one replacing
    /// another) and when its subscription was lost and is back (see <see cref="Levee.Internal.IL2Store.SubscribeReplicas"/>).
    /// It may run before the channels are subscribed again: the cache checks that it hears its own message before it
    /// relies on the subscription.</summary>
    public void SubscribeReplicas(string channel, Action<string> handler, Action? resubscribed = null)
    {
        lock (_replicaSubscriptions)
        {
            _replicaSubscriptions.Add((channel, handler, resubscribed));
        }

        if (_current?.Replicas is { } replicas)
        {
            _ = SubscribeAsync(replicas, channel, handler);
        }
    }

    /// <summary>
    /// Attaches a replicas' multiplexer (Sentinel mode) to <paramref name="connection"/>, its replica handlers subscribed
    /// first, so that an attached replicas' connection is a listening one. It subscribes on one replica;
    /// <see cref="RedisL2Store.PublishToReplicasAsync"/> publishes on all of them, so every instance hears every message.
    /// False (the caller disposes the multiplexer) when the connection was retired meanwhile.
    /// </summary>
    public async Task<bool> AttachReplicasAsync(ConnectionGeneration connection, ConnectionMultiplexer replicas, IReadOnlyList<EndPoint> endpoints,
        ConnectionMultiplexer? replacing = null)
    {
        replicas.ConnectionFailed += (_, e) => Log.ReplicaConnectionChanged(_logger, _cache, $"{e.EndPoint}", $"{e.ConnectionType}", $"lost ({e.FailureType})");
        replicas.ConnectionRestored += (_, e) =>
        {
            Log.ReplicaConnectionChanged(_logger, _cache, $"{e.EndPoint}", $"{e.ConnectionType}", "restored");
            if (e.ConnectionType == ConnectionType.Subscription)
            {
                ReplicasResubscribed(); // StackExchange.Redis subscribes again by itself; what was published meanwhile is gone
            }
        };
        var subscribed = await SubscribeReplicasFromAsync(replicas, 0).ConfigureAwait(false);
        if (!connection.AttachReplicas(replicas, endpoints, replacing))
        {
            return false;
        }

        if (replacing is not null)
        {
            // the replaced one is retired off the caller's path; its subscriptions go with it (and what reached it last)
            _ = Task.Run(() => ConnectionGeneration.CloseAsync(replacing));
        }

        // what was published on the replicas before this connection listened never reached it: a new instance started
        // during an outage, or a replaced replicas' connection, asks the others (they answer while they hold journaled
        // invalidations)
        ReplicasResubscribed();

        // a handler registered while this ran saw no replicas' connection yet: subscribe it here
        await SubscribeReplicasFromAsync(replicas, subscribed).ConfigureAwait(false);
        return true;
    }

    /// <summary>Tells the replica handlers that messages published on the replicas may have been missed.</summary>
    private void ReplicasResubscribed()
    {
        (string Channel, Action<string> Handler, Action? Resubscribed)[] subscriptions;
        lock (_replicaSubscriptions)
        {
            subscriptions = [.. _replicaSubscriptions];
        }

        foreach (var subscription in subscriptions)
        {
            try
            {
                subscription.Resubscribed?.Invoke();
            }
            catch (Exception ex)
            {
                Log.L2CallFailed(_logger, _cache, "event", "handler", ex);
            }
        }
    }

    /// <summary>Subscribes the replica handlers registered from index <paramref name="from"/> on; returns how many there are.</summary>
    private async Task<int> SubscribeReplicasFromAsync(ConnectionMultiplexer replicas, int from)
    {
        (string Channel, Action<string> Handler, Action? Resubscribed)[] subscriptions;
        lock (_replicaSubscriptions)
        {
            subscriptions = [.. _replicaSubscriptions];
        }

        for (var i = from; i < subscriptions.Length; i++)
        {
            await SubscribeAsync(replicas, subscriptions[i].Channel, subscriptions[i].Handler).ConfigureAwait(false);
        }

        return subscriptions.Length;
    }

    private async Task SubscribeAsync(ConnectionMultiplexer multiplexer, string channel, Action<string> handler)
    {
        try
        {
            // StackExchange.Redis re-subscribes by itself after a reconnect; a new master gets a new multiplexer (InstallAsync).
            await multiplexer.GetSubscriber().SubscribeAsync(RedisChannel.Literal(channel), (_, message) =>
            {
                if (message.HasValue)
                {
                    handler(message!);
                }
            }).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            Log.L2CallFailed(_logger, _cache, "subscribe", "error", ex);
        }
    }

    /// <summary>
    /// The one close path: stops every loop, waits for the Sentinel watch (and a switch it is making), then closes the
    /// current generation.
    /// </summary>
    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_sentinel is not null)
        {
            await _sentinel.DisposeAsync().ConfigureAwait(false);
        }

        if (Interlocked.Exchange(ref _current, null) is { } connection)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }
}
