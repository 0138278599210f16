using System.Globalization;
using System.Net;
using System.Net.Security;
using System.Net.Sockets;
using System.Text;

namespace Levee.Drill.Topology;

/// <summary>
/// A minimal RESP2 client for the launcher's own readiness polls and fault checks: one short-lived
/// connection per command, a hard timeout on connect + write + read (and the TLS handshake), so a frozen node can never
/// hang it. With <see cref="TlsCertificates"/> it speaks TLS and presents the client certificate.
/// </summary>
internal static class RespClient
{
    public static async Task<RedisReply> ExecuteAsync(int port, TimeSpan timeout, IReadOnlyList<string> args, CancellationToken cancellationToken, TlsCertificates? tls = null)
    {
        var replies = await ExecuteBatchAsync(port, timeout, [args], cancellationToken, tls).ConfigureAwait(false);
        return replies[0];
    }

    /// <summary>Runs <paramref name="commands"/> in order on one connection (so WAIT, READONLY, MULTI apply).</summary>
    public static async Task<IReadOnlyList<RedisReply>> ExecuteBatchAsync(int port, TimeSpan timeout, IReadOnlyList<IReadOnlyList<string>> commands, CancellationToken cancellationToken, TlsCertificates? tls = null)
    {
        ArgumentOutOfRangeException.ThrowIfZero(commands.Count);
        foreach (var command in commands)
        {
            ArgumentOutOfRangeException.ThrowIfZero(command.Count);
        }

        using var cts = CancellationTokenSource.CreateLinkedTokenSource(cancellationToken);
        cts.CancelAfter(timeout);
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(new IPEndPoint(IPAddress.Loopback, port), cts.Token).ConfigureAwait(false);
            await using var network = new NetworkStream(socket, ownsSocket: false);
            Stream stream = network;
            await using var ssl = tls is null ? null : new SslStream(network, leaveInnerStreamOpen: true);
            if (ssl is not null)
            {
                await ssl.AuthenticateAsClientAsync(tls!.ClientAuthentication(), cts.Token).ConfigureAwait(false);
                stream = ssl;
            }

            var reader = new Reader(stream);
            var replies = new List<RedisReply>(commands.Count);
            foreach (var command in commands)
            {
                await stream.WriteAsync(Encode(command), cts.Token).ConfigureAwait(false);
                replies.Add(await reader.ReadAsync(cts.Token).ConfigureAwait(false));
            }

            return replies;
        }
        catch (System.Security.Authentication.AuthenticationException ex)
        {
            throw new IOException($"127.0.0.1:{port}: TLS handshake failed: {ex.Message}", ex); // callers treat it as a failed connection
        }
        catch (OperationCanceledException) when (!cancellationToken.IsCancellationRequested)
        {
            throw new TimeoutException($"127.0.0.1:{port} did not answer '{string.Join(' ', commands.Select(c => c[0]))}' within {timeout.TotalMilliseconds:0} ms");
        }
    }

    private static byte[] Encode(IReadOnlyList<string> args)
    {
        var sb = new StringBuilder();
        sb.Append('*').Append(args.Count).Append("\r\n");
        foreach (var arg in args)
        {
            sb.Append('$').Append(Encoding.UTF8.GetByteCount(arg)).Append("\r\n").Append(arg).Append("\r\n");
        }

        return Encoding.UTF8.GetBytes(sb.ToString());
    }

    private sealed class Reader(Stream stream)
    {
        private readonly byte[] _buffer = new byte[16 * 1024];
        private int _start;
        private int _end;

        public async Task<RedisReply> ReadAsync(CancellationToken ct)
        {
            var line = await ReadLineAsync(ct).ConfigureAwait(false);
            if (line.Length == 0)
            {
                throw new IOException("empty RESP line");
            }

            var body = line[1..];
            switch (line[0])
            {
                case '+':
                    return new RedisReply(RedisReplyKind.SimpleString, body);
                case '-':
                    return new RedisReply(RedisReplyKind.Error, body);
                case ':':
                    return RedisReply.FromInteger(long.Parse(body, CultureInfo.InvariantCulture));
                case '$':
                    {
                        var length = int.Parse(body, CultureInfo.InvariantCulture);
                        if (length < 0)
                        {
                            return new RedisReply(RedisReplyKind.Null);
                        }

                        var bytes = await ReadExactAsync(length + 2, ct).ConfigureAwait(false);
                        return new RedisReply(RedisReplyKind.BulkString, Encoding.UTF8.GetString(bytes, 0, length));
                    }

                case '*':
                    {
                        var count = int.Parse(body, CultureInfo.InvariantCulture);
                        if (count < 0)
                        {
                            return new RedisReply(RedisReplyKind.Null);
                        }

                        var items = new List<RedisReply>(count);
                        for (var i = 0; i < count; i++)
                        {
                            items.Add(await ReadAsync(ct).ConfigureAwait(false));
                        }

                        return new RedisReply(RedisReplyKind.Array, items: items);
                    }

                default:
                    throw new IOException($"unexpected RESP type byte '{line[0]}'");
            }
        }

        private async Task<string> ReadLineAsync(CancellationToken ct)
        {
            var sb = new StringBuilder();
            while (true)
            {
                for (var i = _start; i < _end; i++)
                {
                    if (_buffer[i] == (byte)'\n')
                    {
                        sb.Append(Encoding.UTF8.GetString(_buffer, _start, i - _start));
                        _start = i + 1;
                        return sb.ToString().TrimEnd('\r');
                    }
                }

                sb.Append(Encoding.UTF8.GetString(_buffer, _start, _end - _start));
                _start = _end = 0;
                await FillAsync(ct).ConfigureAwait(false);
            }
        }

        private async Task<byte[]> ReadExactAsync(int count, CancellationToken ct)
        {
            var result = new byte[count];
            var copied = 0;
            while (copied < count)
            {
                if (_start == _end)
                {
                    _start = _end = 0;
                    await FillAsync(ct).ConfigureAwait(false);
                }

                var n = Math.Min(count - copied, _end - _start);
                Buffer.BlockCopy(_buffer, _start, result, copied, n);
                _start += n;
                copied += n;
            }

            return result;
        }

        private async Task FillAsync(CancellationToken ct)
        {
            var n = await stream.ReadAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
            if (n == 0)
            {
                throw new IOException("connection closed by the server");
            }

            _end += n;
        }
    }
}
