using System.Net;
using System.Net.Sockets;

namespace Levee.Drill.Topology;

/// <summary>
/// Hands out loopback ports below the kernel's ephemeral range (so an outgoing connection cannot take
/// one between allocation and the server's bind), never the same port twice in this process, each
/// checked free by binding it. Cross-process races remain possible; starters retry on "address in use".
/// </summary>
internal static class PortAllocator
{
    private const int First = 20000;
    private const int Last = 32000;
    private static readonly Lock Gate = new();
    private static readonly HashSet<int> Handed = [];

    /// <summary>Test seam: the next <see cref="Next"/> in this async flow returns this port, unchecked.</summary>
    internal static readonly AsyncLocal<int?> ForcedNext = new();

    public static int Next()
    {
        if (ForcedNext.Value is int forced)
        {
            ForcedNext.Value = null;
            return forced;
        }

        lock (Gate)
        {
            if (Handed.Count > (Last - First) / 2)
            {
                Handed.Clear();
            }

            for (var attempt = 0; attempt < 2000; attempt++)
            {
#pragma warning disable CA5394 // not security relevant
                var port = Random.Shared.Next(First, Last);
#pragma warning restore CA5394
                if (Handed.Contains(port) || !IsFree(port))
                {
                    continue;
                }

                Handed.Add(port);
                return port;
            }
        }

        throw new TopologyException($"no free loopback port found in {First}-{Last}");
    }

    public static bool IsFree(int port)
    {
        try
        {
            using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            socket.Bind(new IPEndPoint(IPAddress.Loopback, port));
            socket.Listen(1);
            return true;
        }
        catch (SocketException)
        {
            return false;
        }
    }
}
