using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>Small helpers about nodes shared by the connection and the failover watches: addresses, <c>ROLE</c>, which failures are a connect failure.</summary>
internal static class RedisNodes
{
    /// <summary>An address as "host:port", for logs and event details.</summary>
    public static string Format(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => ip.ToString(),
        DnsEndPoint dns => string.Create(CultureInfo.InvariantCulture, $"{dns.Host}:{dns.Port}"),
        _ => endpoint.ToString() ?? "?",
    };

    /// <summary>An address as Redis names it (an IP or a host name).</summary>
    public static EndPoint ToEndPoint(string host, int port) =>
        IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, port) : new DnsEndPoint(host, port);

    /// <summary>What a node says it is (<c>ROLE</c>'s first field: "master", "slave", "sentinel"), waiting at most <paramref name="timeout"/>; null for an empty reply. Throws what the call throws.</summary>
    public static async Task<string?> RoleAsync(IServer server, TimeSpan timeout, TimeProvider time)
    {
        var role = await server.ExecuteAsync("ROLE").WaitAsync(timeout, time).ConfigureAwait(false);
        return role.Length > 0 ? (string?)role[0] : null;
    }

    /// <summary>The failures of a connect (or of a first command on a new connection) that a retry may cure.</summary>
    public static bool IsConnectFailure(Exception ex) =>
        ex is RedisException or TimeoutException or InvalidOperationException or ArgumentException or System.Net.Sockets.SocketException;

    /// <summary>Waits <paramref name="delay"/>; false when <paramref name="stopping"/> was cancelled (or its source disposed).</summary>
    public static async Task<bool> DelayAsync(TimeSpan delay, TimeProvider time, CancellationToken stopping)
    {
        try
        {
            await Task.Delay(delay, time, stopping).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            return false; // stopping (or stopped: the token's source is disposed)
        }
    }
}
