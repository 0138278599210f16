using System.Net;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// One generation of connections: the multiplexer to the data nodes (in Sentinel mode: to one master) and, in Sentinel
/// mode, the replicas' own multiplexer attached later. Replaced as a whole when the master changes
/// (<see cref="RedisConnection.InstallAsync"/>); <see cref="DisposeAsync"/> is the one place its multiplexers are closed.
/// </summary>
internal sealed class ConnectionGeneration(ConnectionMultiplexer primary, EndPoint? master)
{
    private volatile ConnectionMultiplexer? _replicas;
    private volatile IDatabase? _replicaDatabase;
    private readonly Lock _attachLock = new();
    private int _disposed;

    public ConnectionMultiplexer Primary { get; } = primary;

    public IDatabase PrimaryDatabase { get; } = primary.GetDatabase();

    /// <summary>The replicas' own multiplexer (Sentinel mode), attached in the background after the master is in use.</summary>
    public ConnectionMultiplexer? Replicas => _replicas;

    public IDatabase ReplicaDatabase => _replicaDatabase ?? PrimaryDatabase;

    /// <summary>The master this connection was built for (Sentinel mode), else null.</summary>
    public EndPoint? Master { get; } = master;

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
