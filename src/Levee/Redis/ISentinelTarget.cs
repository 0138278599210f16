using System.Net;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// What a <see cref="SentinelWatch"/> needs of the connection it serves, and nothing more: the generation in use, the
/// stopping token, and the two ways it changes the connection (install a generation to the master it follows, attach the
/// master's replicas). <see cref="RedisConnection"/> implements it; the watch does not know the rest of the connection.
/// </summary>
internal interface ISentinelTarget
{
    /// <summary>The generation in use, if any.</summary>
    ConnectionGeneration? Current { get; }

    /// <summary>Cancelled when the connection closes.</summary>
    CancellationToken Stopping { get; }

    /// <summary>Makes <paramref name="connection"/> the one in use (a failover when it replaces another master).</summary>
    Task InstallAsync(ConnectionGeneration connection, string reason);

    /// <summary>Attaches the master's replicas to <paramref name="connection"/>; false when it was retired meanwhile.</summary>
    Task<bool> AttachReplicasAsync(ConnectionGeneration connection, ConnectionMultiplexer replicas, IReadOnlyList<EndPoint> endpoints,
        ConnectionMultiplexer? replacing = null);
}
