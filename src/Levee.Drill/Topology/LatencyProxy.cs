using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Threading.Channels;

namespace Levee.Drill.Topology;

/// <summary>
/// An in-process loopback TCP proxy in front of a node (for the <c>slow-redis</c> fault): adds a settable
/// latency per direction without limiting throughput (each chunk is delayed, order kept), and a blackhole
/// mode that accepts and keeps connections but forwards nothing (like a silent host; the held bytes flow
/// again when it is switched off, as retransmitted packets would). Bounded in connections and buffered
/// chunks; disposing closes everything.
/// </summary>
public sealed class LatencyProxy : IAsyncDisposable
{
    private const int ChunkSize = 16 * 1024;
    private const int MaxQueuedChunks = 256;
    private readonly Socket _listener;
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stopping = new();
    private readonly ConcurrentDictionary<int, Connection> _connections = new();
    private readonly Task _acceptLoop;
    private readonly int _maxConnections;
    private long _upstreamTicks;
    private long _downstreamTicks;
    private volatile TaskCompletionSource _open = NewOpenGate(opened: true);
    private int _nextId;
    private long _accepted;
    private long _refused;

    private LatencyProxy(int targetPort, int maxConnections)
    {
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        _maxConnections = maxConnections;
        _listener = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        _listener.Bind(new IPEndPoint(IPAddress.Loopback, 0));
        _listener.Listen(512);
        Port = ((IPEndPoint)_listener.LocalEndPoint!).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    /// <summary>The proxy's loopback port (connect clients here).</summary>
    public int Port { get; }

    /// <summary><c>127.0.0.1:Port</c>.</summary>
    public string Endpoint => "127.0.0.1:" + Port.ToString(CultureInfo.InvariantCulture);

    /// <summary>The port the proxy forwards to.</summary>
    public int TargetPort => _target.Port;

    /// <summary>Delay added to bytes going client → target. Default zero; settable at any time.</summary>
    public TimeSpan UpstreamDelay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _upstreamTicks));
        set => Interlocked.Exchange(ref _upstreamTicks, CheckDelay(value).Ticks);
    }

    /// <summary>Delay added to bytes going target → client. Default zero; settable at any time.</summary>
    public TimeSpan DownstreamDelay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _downstreamTicks));
        set => Interlocked.Exchange(ref _downstreamTicks, CheckDelay(value).Ticks);
    }

    /// <summary>
    /// When true, connections are accepted and kept but no byte is forwarded either way (a silent host);
    /// when set back to false, the held bytes are forwarded.
    /// </summary>
    public bool Blackhole
    {
        get => !_open.Task.IsCompleted;
        set
        {
            if (value && _open.Task.IsCompleted)
            {
                _open = NewOpenGate(opened: false);
            }
            else if (!value)
            {
                _open.TrySetResult();
            }
        }
    }

    /// <summary>Connections accepted so far.</summary>
    public long AcceptedConnections => Interlocked.Read(ref _accepted);

    /// <summary>Connections refused because <c>maxConnections</c> were open.</summary>
    public long RefusedConnections => Interlocked.Read(ref _refused);

    /// <summary>Connections open now.</summary>
    public int ActiveConnections => _connections.Count;

    /// <summary>Starts a proxy on a free loopback port forwarding to <c>127.0.0.1:targetPort</c>.</summary>
    /// <param name="targetPort">The port to forward to.</param>
    /// <param name="maxConnections">Open connections beyond this are refused (closed at once). Default 1000.</param>
    public static LatencyProxy Start(int targetPort, int maxConnections = 1000)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(targetPort, 1);
        ArgumentOutOfRangeException.ThrowIfGreaterThan(targetPort, 65535);
        ArgumentOutOfRangeException.ThrowIfLessThan(maxConnections, 1);
        return new LatencyProxy(targetPort, maxConnections);
    }

    /// <summary>Starts a proxy in front of <paramref name="node"/>.</summary>
    public static LatencyProxy Start(RedisNode node, int maxConnections = 1000)
    {
        ArgumentNullException.ThrowIfNull(node);
        return Start(node.Port, maxConnections);
    }

    /// <summary>Closes every open connection (clients see a reset), keeps listening.</summary>
    public void DropConnections()
    {
        foreach (var connection in _connections.Values)
        {
            connection.Abort();
        }
    }

    /// <summary>Stops listening and closes every connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_stopping.IsCancellationRequested)
        {
            return;
        }

        await _stopping.CancelAsync().ConfigureAwait(false);
        _listener.Dispose();
        _open.TrySetResult();
        DropConnections();
        try
        {
            await _acceptLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await Task.WhenAll(_connections.Values.Select(c => c.Completion)).ConfigureAwait(false);
        _stopping.Dispose();
    }

    private static TimeSpan CheckDelay(TimeSpan value) =>
        value < TimeSpan.Zero || value > TimeSpan.FromMinutes(5)
            ? throw new ArgumentOutOfRangeException(nameof(value), value, "delay must be 0..5 min")
            : value;

    private static TaskCompletionSource NewOpenGate(bool opened)
    {
        var tcs = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        if (opened)
        {
            tcs.SetResult();
        }

        return tcs;
    }

    private async Task AcceptLoopAsync()
    {
        while (!_stopping.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptAsync(_stopping.Token).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException or SocketException)
            {
                return;
            }

            if (_connections.Count >= _maxConnections)
            {
                Interlocked.Increment(ref _refused);
                client.Dispose();
                continue;
            }

            Interlocked.Increment(ref _accepted);
            var id = Interlocked.Increment(ref _nextId);
            var connection = new Connection(this, client);
            _connections[id] = connection;
            connection.Completion = RunAsync(id, connection);
        }
    }

    private async Task RunAsync(int id, Connection connection)
    {
        try
        {
            await connection.RunAsync().ConfigureAwait(false);
        }
        finally
        {
            _connections.TryRemove(id, out _);
        }
    }

    private sealed class Connection(LatencyProxy proxy, Socket client) : IDisposable
    {
        private readonly Socket _upstream = new(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        private readonly CancellationTokenSource _cts = CancellationTokenSource.CreateLinkedTokenSource(proxy._stopping.Token);

        public Task Completion { get; set; } = Task.CompletedTask;

        public void Abort()
        {
            try
            {
                client.LingerState = new LingerOption(true, 0);
            }
            catch (Exception ex) when (ex is SocketException or ObjectDisposedException)
            {
            }

            try
            {
                _cts.Cancel();
            }
            catch (ObjectDisposedException)
            {
            }
        }

        public async Task RunAsync()
        {
            client.NoDelay = true;
            try
            {
                await _upstream.ConnectAsync(proxy._target, _cts.Token).ConfigureAwait(false);
                var up = PumpAsync(client, _upstream, () => proxy.UpstreamDelay);
                var down = PumpAsync(_upstream, client, () => proxy.DownstreamDelay);
                await Task.WhenAny(up, down).ConfigureAwait(false);
                await _cts.CancelAsync().ConfigureAwait(false);
                await Task.WhenAll(up, down).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or IOException or ChannelClosedException)
            {
                // the connection ends: either side closed, the proxy stopped or was told to drop it
            }
            finally
            {
                Dispose();
            }
        }

        public void Dispose()
        {
            client.Dispose();
            _upstream.Dispose();
            _cts.Dispose();
        }

        private async Task PumpAsync(Socket from, Socket to, Func<TimeSpan> delay)
        {
            var queue = Channel.CreateBounded<(long Due, byte[] Data, int Length)>(new BoundedChannelOptions(MaxQueuedChunks) { SingleReader = true, SingleWriter = true });
            var token = _cts.Token;
            var reader = Task.Run(
                async () =>
                {
                    try
                    {
                        while (true)
                        {
                            var buffer = new byte[ChunkSize];
                            var n = await from.ReceiveAsync(buffer, SocketFlags.None, token).ConfigureAwait(false);
                            if (n == 0)
                            {
                                break;
                            }

                            var due = Stopwatch.GetTimestamp() + (long)(delay().TotalSeconds * Stopwatch.Frequency);
                            await queue.Writer.WriteAsync((due, buffer, n), token).ConfigureAwait(false);
                        }
                    }
                    finally
                    {
                        queue.Writer.TryComplete();
                    }
                },
                token);

            try
            {
                await foreach (var (due, data, length) in queue.Reader.ReadAllAsync(token).ConfigureAwait(false))
                {
                    var wait = Stopwatch.GetElapsedTime(Stopwatch.GetTimestamp(), due);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait, token).ConfigureAwait(false);
                    }

                    await proxy._open.Task.WaitAsync(token).ConfigureAwait(false);
                    var sent = 0;
                    while (sent < length)
                    {
                        sent += await to.SendAsync(data.AsMemory(sent, length - sent), SocketFlags.None, token).ConfigureAwait(false);
                    }
                }

                to.Shutdown(SocketShutdown.Send);
            }
            catch
            {
                await _cts.CancelAsync().ConfigureAwait(false);
                throw;
            }
            finally
            {
                try
                {
                    await reader.ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is OperationCanceledException or SocketException or ObjectDisposedException or ChannelClosedException)
                {
                    // the reading side ended with the connection
                }
            }
        }
    }
}
