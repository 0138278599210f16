using System.Net;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// One generation of connections: the multiplexer to the data nodes (in Sentinel mode: to one master) and, in Sentinel
/// mode, the replicas' own multiplexer attached later. Replaced as a whole when the master changes
/// (<see cref="RedisConnection.InstallAsync"/>); <see cref="DisposeAsync"/> is the one place its multiplexers are closed.
/// </summary>
internal sealed class ConnectionGeneration
{
    private volatile ConnectionMultiplexer? _replicas;
    private volatile IDatabase? _replicaDatabase;
    private readonly Lock _attachLock = new();
    private int _disposed;

    public ConnectionGeneration(ConnectionMultiplexer primary, EndPoint? master)
    {
        Primary = primary;
        PrimaryDatabase = primary.GetDatabase();
        Master = master;
        primary.ConnectionFailed += (_, e) => TrackNode(e.EndPoint, e.ConnectionType, lost: true);
        primary.ConnectionRestored += (_, e) => TrackNode(e.EndPoint, e.ConnectionType, lost: false);
        primary.ConfigurationChanged += (_, _) => MapLostSlots();
    }

    public ConnectionMultiplexer Primary { get; }

    public IDatabase PrimaryDatabase { get; }

    // Cluster only. The masters whose interactive connection StackExchange.Redis reports lost (and not restored), and the
    // slots they serve by the last Cluster configuration it read: null when none. A command for such a slot is not refused
    // by StackExchange.Redis: it picks another (connected) node, is redirected (MOVED) to the lost one and waits there,
    // which cost every read of a killed master's keys the whole L2 budget until the Cluster failed it over (the drill's
    // cluster-master-crash: 236 reads waited 50 ms each in its first 3 s). Only this reference is read on the hot path.
    // Once the Cluster fails the master over, its slots are the new master's (LostMastersFailedOver).
    private readonly HashSet<string> _lostNodes = [];
    private string?[]? _lostSlots;

    /// <summary>
    /// The master database for a command on <paramref name="key"/>; throws <see cref="RedisConnectionException"/> at once
    /// (nothing is sent) when the key's slot is served by a Cluster master StackExchange.Redis has lost: the caller goes on
    /// as for any failed call (a read to the replicas, a removal to the journal) instead of waiting for it.
    /// </summary>
    public IDatabase PrimaryFor(string key)
    {
        if (Volatile.Read(ref _lostSlots) is { } lost && lost[Primary.HashSlot(key)] is { } node)
        {
#pragma warning disable CS0618 // the plain (failure type, message) constructor: see RedisL2Store.NotConnected
            throw new RedisConnectionException(ConnectionFailureType.UnableToConnect,
                $"The Redis Cluster master {node} that serves this key's slot is not connected; the command was not sent.");
#pragma warning restore CS0618
        }

        return PrimaryDatabase;
    }

    private void TrackNode(EndPoint? endpoint, ConnectionType type, bool lost)
    {
        if (type != ConnectionType.Interactive || endpoint is null)
        {
            return;
        }

        lock (_lostNodes)
        {
            _ = lost ? _lostNodes.Add(RedisNodes.Format(endpoint)) : _lostNodes.Remove(RedisNodes.Format(endpoint));
        }

        MapLostSlots();
    }

    /// <summary>
    /// The Cluster promoted a replica (<see cref="ClusterWatch"/>): the lost masters' slots are the new masters' now, and
    /// the configuration StackExchange.Redis holds may still name the lost ones (it is read again only when it
    /// reconfigures). The lost masters are forgotten: their slots' commands are sent again. A master lost later is
    /// tracked anew at its connection event.
    /// </summary>
    public void LostMastersFailedOver()
    {
        lock (_lostNodes)
        {
            _lostNodes.Clear();
            Volatile.Write(ref _lostSlots, null);
        }
    }

    /// <summary>Which slots the lost masters serve, by the Cluster configuration StackExchange.Redis holds (again at every
    /// connection event and configuration change).</summary>
    private void MapLostSlots()
    {
        lock (_lostNodes)
        {
            string?[]? slots = null;
            if (_lostNodes.Count > 0 && ConnectedClusterServer()?.ClusterConfiguration is { } configuration)
            {
                foreach (var node in configuration.Nodes)
                {
                    if (node.IsReplica || node.EndPoint is not { } endpoint || !_lostNodes.Contains(RedisNodes.Format(endpoint)))
                    {
                        continue;
                    }

                    foreach (var range in node.Slots)
                    {
                        slots ??= new string?[ClusterSlots];
                        for (var slot = range.From; slot <= range.To && slot < ClusterSlots; slot++)
                        {
                            slots[slot] = RedisNodes.Format(endpoint);
                        }
                    }
                }
            }

            Volatile.Write(ref _lostSlots, slots);
        }
    }

    private IServer? ConnectedClusterServer()
    {
        try
        {
            foreach (var server in Primary.GetServers())
            {
                if (server.IsConnected && server.ServerType == ServerType.Cluster && server.ClusterConfiguration is not null)
                {
                    return server;
                }
            }
        }
        catch (Exception ex) when (ex is RedisException or InvalidOperationException or ObjectDisposedException)
        {
            // closing: no map
        }

        return null;
    }

    private const int ClusterSlots = 16384;

    /// <summary>The replicas' own multiplexer (Sentinel mode), attached in the background after the master is in use.</summary>
    public ConnectionMultiplexer? Replicas => _replicas;

    public IDatabase ReplicaDatabase => _replicaDatabase ?? PrimaryDatabase;

    /// <summary>The master this connection was built for (Sentinel mode), else null.</summary>
    public EndPoint? Master { get; }

    /// <summary>The replicas the replicas' multiplexer was built for (empty before it is attached).</summary>
    public IReadOnlyList<EndPoint> ReplicaEndpoints { get; private set; } = [];

    /// <summary>
    /// Attaches the replicas' multiplexer, or with <paramref name="replacing"/> (the one attached now) replaces it;
    /// false (the caller disposes <paramref name="replicas"/>) when this connection was retired meanwhile or another
    /// attach won: never two replicas' connections, and none left behind by a dispose.
    /// </summary>
    public bool AttachReplicas(ConnectionMultiplexer replicas, IReadOnlyList<EndPoint> endpoints, ConnectionMultiplexer? replacing = null)
    {
        lock (_attachLock)
        {
            if (_disposed != 0 || !ReferenceEquals(_replicas, replacing))
            {
                return false;
            }

            _replicaDatabase = replicas.GetDatabase();
            _replicas = replicas;
            ReplicaEndpoints = endpoints;
            return true;
        }
    }

    public async Task DisposeAsync()
    {
        ConnectionMultiplexer? replicas;
        lock (_attachLock)
        {
            if (_disposed != 0)
            {
                return;
            }

            _disposed = 1;
            replicas = _replicas;
        }

        foreach (var multiplexer in new[] { Primary, replicas })
        {
            if (multiplexer is null)
            {
                continue;
            }

            await CloseAsync(multiplexer).ConfigureAwait(false);
        }
    }

    /// <summary>How long a close waits for QUIT before it drops the sockets.</summary>
    private static readonly TimeSpan CloseWait = TimeSpan.FromSeconds(2);

    /// <summary>Closes one multiplexer without waiting for a frozen node: QUIT for at most <see cref="CloseWait"/>, then dispose.</summary>
    internal static async Task CloseAsync(ConnectionMultiplexer multiplexer)
    {
        try
        {
            await multiplexer.CloseAsync(allowCommandsToComplete: false).WaitAsync(CloseWait).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
        {
            // a frozen node may not answer QUIT; disposing below drops the sockets anyway
        }

        await multiplexer.DisposeAsync().ConfigureAwait(false);
    }
}
