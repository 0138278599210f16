using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// Levee's connections to the Sentinels, for <see cref="SentinelWatch"/>: one multiplexer per Sentinel, each subscribed to
/// <c>+switch-master</c> (the first Sentinel that adopts a new configuration reports it, the failover leader publishes
/// only at the end), the survey of the master and its epoch, and the list of replicas. I/O only; what the answers mean is
/// <see cref="SentinelElection"/>'s.
/// </summary>
internal sealed class SentinelClients(ConfigurationOptions configuration, TimeProvider time, Action<EndPoint> switchMaster, CancellationToken stopping)
    : IAsyncDisposable
{
    /// <summary>How long a Sentinel has to answer a question before the others decide without it.</summary>
    private static readonly TimeSpan SentinelTimeout = TimeSpan.FromMilliseconds(750);

    /// <summary>How long a check waits for Sentinels still connecting (see <see cref="ConnectAsync"/>).</summary>
    private static readonly TimeSpan SentinelConnectWait = TimeSpan.FromMilliseconds(250);

    private readonly ConfigurationOptions _configuration = configuration;
    private readonly TimeProvider _time = time;
    private readonly CancellationToken _stopping = stopping;
    private readonly string _service = configuration.ServiceName!;
    private readonly EndPoint[] _sentinelEndpoints = [.. configuration.EndPoints];
    private readonly ConnectionMultiplexer?[] _sentinels = new ConnectionMultiplexer?[configuration.EndPoints.Count];
    private readonly Task?[] _connecting = new Task?[configuration.EndPoints.Count];

    /// <summary>
    /// Starts a connect to every Sentinel not connected yet (each in the background, one at a time per Sentinel) and waits
    /// for them for at most <see cref="SentinelConnectWait"/>: a Sentinel that accepts the connection and never answers (a
    /// frozen one) takes its full connect timeout to fail, and must not hold up the check of the master, or the reaction to a
    /// switch, every time round. The check uses the Sentinels connected by then; the others join when their connect ends.
    /// </summary>
    public async Task ConnectAsync()
    {
        List<Task>? pending = null;
        for (var i = 0; i < _sentinels.Length; i++)
        {
            if (Volatile.Read(ref _sentinels[i]) is not null)
            {
                continue;
            }

            if (_connecting[i] is not { IsCompleted: false })
            {
                _connecting[i] = ConnectSentinelAsync(i);
            }

            (pending ??= []).Add(_connecting[i]!);
        }

        if (pending is not null)
        {
            await Task.WhenAny(Task.WhenAll(pending), Task.Delay(SentinelConnectWait, _time, _stopping)).ConfigureAwait(false);
        }
    }

    private async Task ConnectSentinelAsync(int i)
    {
        var options = SentinelOptions(_configuration);
        options.EndPoints.Add(_sentinelEndpoints[i]);
        ConnectionMultiplexer? sentinel = null;
        try
        {
            sentinel = await ConnectionMultiplexer.SentinelConnectAsync(options).ConfigureAwait(false);
            await sentinel.GetSubscriber().SubscribeAsync(RedisChannel.Literal("+switch-master"), (_, message) =>
            {
                // "<master-name> <old-ip> <old-port> <new-ip> <new-port>": a Sentinel adopted a newer configuration.
                // The new address is only a hint: it is used at once, but only after ROLE on it says "master".
                var parts = ((string?)message)?.Split(' ');
                if (parts is { Length: 5 } && parts[0] == _service
                    && int.TryParse(parts[4], NumberStyles.Integer, CultureInfo.InvariantCulture, out var newPort))
                {
                    switchMaster(RedisNodes.ToEndPoint(parts[3], newPort));
                }
            }).ConfigureAwait(false);
            if (_stopping.IsCancellationRequested)
            {
                return; // stopping: closed below (DisposeAsync waits for this connect before it closes the others)
            }

            Volatile.Write(ref _sentinels[i], sentinel);
            sentinel = null;
        }
        catch (Exception ex) when (RedisNodes.IsConnectFailure(ex))
        {
            // that Sentinel is down; the others may answer, and this one is tried again at the next check
        }
        finally
        {
            if (sentinel is not null)
            {
                // built (AbortOnConnectFail = false hands back a multiplexer for an unreachable Sentinel) but not
                // subscribed: closed, or every check would leave one more connection reconnecting in the background
                await CloseQuietlyAsync(sentinel).ConfigureAwait(false);
            }
        }
    }

    private static async Task CloseQuietlyAsync(ConnectionMultiplexer connection)
    {
        try
        {
            await connection.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is RedisException or ObjectDisposedException or InvalidOperationException or TimeoutException)
        {
            // closing a connection to an unreachable Sentinel: nothing to do about it
        }
        finally
        {
            connection.Dispose();
        }
    }

    /// <summary>
    /// The options of a connection to one Sentinel: a copy of the data nodes' configuration, so that TLS comes as it was
    /// configured (Ssl, SslHost, protocols, the private CA, the certificate validation and selection callbacks, the
    /// client certificate), with the Sentinel's own credentials, command map and Levee's short timeouts.
    /// </summary>
    internal static ConfigurationOptions SentinelOptions(ConfigurationOptions data)
    {
        var options = data.Clone();
        options.EndPoints.Clear();
        options.ServiceName = null;
        options.CommandMap = CommandMap.Sentinel;
        options.AbortOnConnectFail = false;
        options.ConnectTimeout = 1000;
        options.SyncTimeout = 1000;
        options.AsyncTimeout = 1000;
        options.ConnectRetry = 1;
        options.KeepAlive = 5;
        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ReconnectRetryPolicy = new LinearRetry(500);
        options.ClientName = "levee-sentinel";
        options.IncludeDetailInExceptions = false;
        options.User = data.SentinelUser ?? data.User;
        options.Password = data.SentinelPassword ?? data.Password;
        options.DefaultDatabase = null;
        options.ChannelPrefix = default;
        return options;
    }

    /// <summary>
    /// Asks every reachable Sentinel for the master (<c>GET-MASTER-ADDR-BY-NAME</c>, which names the promoted replica as
    /// soon as a failover reaches its reconfiguration phase, while <c>SENTINEL MASTER</c> keeps the old address until the
    /// very end) and for its config epoch (<c>SENTINEL MASTER</c>), all at once; a Sentinel that does not answer in time
    /// is left out. Replicas are asked for separately, after a switch.
    /// </summary>
    public async Task<List<SentinelAnswer>> SurveyAsync()
    {
        var asks = new List<(Task<EndPoint?> Address, Task<KeyValuePair<string, string>[]> Master)>();
        foreach (var sentinel in _sentinels)
        {
            if (sentinel is { IsConnected: true })
            {
                var server = sentinel.GetServer(sentinel.GetEndPoints()[0]);
                asks.Add((
                    server.SentinelGetMasterAddressByNameAsync(_service).WaitAsync(SentinelTimeout, _time),
                    server.SentinelMasterAsync(_service).WaitAsync(SentinelTimeout, _time)));
            }
        }

        var answers = new List<SentinelAnswer>();
        foreach (var (addressTask, masterTask) in asks)
        {
            try
            {
                var address = await addressTask.ConfigureAwait(false);
                var fields = (await masterTask.ConfigureAwait(false)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
                if (address is not null)
                {
                    var epoch = fields.TryGetValue("config-epoch", out var e) && long.TryParse(e, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
                    answers.Add(new SentinelAnswer(address, epoch));
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // a frozen or partitioned Sentinel: the others decide
            }
        }

        return answers;
    }

    /// <summary>The replicas (not down) of the master, from the first Sentinel that answers; never the master itself.</summary>
    public async Task<List<EndPoint>> GetReplicasAsync(EndPoint master)
    {
        foreach (var sentinel in _sentinels)
        {
            if (sentinel is not { IsConnected: true })
            {
                continue;
            }

            var replicas = new List<EndPoint>();
            try
            {
                var server = sentinel.GetServer(sentinel.GetEndPoints()[0]);
                foreach (var replica in await server.SentinelReplicasAsync(_service).WaitAsync(SentinelTimeout, _time).ConfigureAwait(false))
                {
                    var fields = replica.ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
                    var flags = fields.GetValueOrDefault("flags") ?? "";
                    if (flags.Contains("s_down", StringComparison.Ordinal) || flags.Contains("o_down", StringComparison.Ordinal) || flags.Contains("disconnected", StringComparison.Ordinal))
                    {
                        continue;
                    }

                    if (fields.TryGetValue("ip", out var ip) && int.TryParse(fields.GetValueOrDefault("port"), NumberStyles.Integer, CultureInfo.InvariantCulture, out var port))
                    {
                        var endpoint = RedisNodes.ToEndPoint(ip, port);
                        if (!endpoint.Equals(master))
                        {
                            replicas.Add(endpoint); // during a failover the promoted node is still listed as a replica
                        }
                    }
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                continue; // ask the next Sentinel
            }

            if (replicas.Count > 0)
            {
                return replicas;
            }
        }

        return [];
    }

    /// <summary>Waits for the connects under way (a connect that ends after the stop closes its own), then closes every Sentinel connection.</summary>
    public async ValueTask DisposeAsync()
    {
        foreach (var connecting in _connecting)
        {
            if (connecting is not null)
            {
                await connecting.ConfigureAwait(false); // never throws: a failed connect is caught where it runs
            }
        }

        foreach (var sentinel in _sentinels)
        {
            if (sentinel is not null)
            {
                await CloseQuietlyAsync(sentinel).ConfigureAwait(false); // no waiting for QUIT on a frozen Sentinel
            }
        }
    }
}
