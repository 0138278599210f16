using System.Globalization;
using System.Net;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// Follows the master of a Sentinel-managed Redis without a restart. Levee does this itself rather than rely on
/// StackExchange.Redis' Sentinel mode, which takes the first Sentinel's answer, listens on one Sentinel only and does
/// not honour abortConnect=false (see docs/failover.md):
/// <list type="number">
/// <item>It keeps a connection to every Sentinel and subscribes to <c>+switch-master</c> on each, so the first Sentinel
/// that adopts the new configuration wakes it up (the failover leader publishes only at the end).</item>
/// <item>Every check (on a message, else once per second) asks every reachable Sentinel for the master and takes the
/// address with the highest config epoch, so a stale minority Sentinel cannot win.</item>
/// <item>Before using a new master it checks <c>ROLE</c> on it; a demoted master that comes back still saying "master"
/// loses against the higher epoch.</item>
/// </list>
/// </summary>
internal sealed class SentinelMonitor : IAsyncDisposable
{
    private static readonly TimeSpan CheckInterval = TimeSpan.FromSeconds(1);
    private static readonly TimeSpan RetryInterval = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan RoleTimeout = TimeSpan.FromMilliseconds(300);
    private static readonly TimeSpan SentinelTimeout = TimeSpan.FromMilliseconds(750);
    private static readonly TimeSpan SentinelConnectWait = TimeSpan.FromMilliseconds(250);
    private readonly ConfigurationOptions _configuration;
    private readonly RedisL2Store _store;
    private readonly TimeProvider _time;
    private readonly ILogger _logger;
    private readonly string _cache;
    private readonly string _service;
    private readonly EndPoint[] _sentinelEndpoints;
    private readonly ConnectionMultiplexer?[] _sentinels;
    private readonly Task?[] _connecting;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private Task? _loop;
    private volatile EndPoint? _hint;
    private int _attaching;
    private int _checksSinceReplicaRefresh;

    /// <summary>Settled checks between two comparisons of the attached replicas with the Sentinels' list (~10 s).</summary>
    private const int ReplicaRefreshChecks = 10;

    public SentinelMonitor(ConfigurationOptions configuration, RedisL2Store store, TimeProvider time, ILogger logger, string cache)
    {
        _configuration = configuration;
        _store = store;
        _time = time;
        _logger = logger;
        _cache = cache;
        _service = configuration.ServiceName!;
        _sentinelEndpoints = [.. configuration.EndPoints];
        _sentinels = new ConnectionMultiplexer?[_sentinelEndpoints.Length];
        _connecting = new Task?[_sentinelEndpoints.Length];
    }

    public void Start() => _loop = RunAsync();

    private void Wake()
    {
        try
        {
            _wake.Release();
        }
        catch (SemaphoreFullException)
        {
            // already awake
        }
        catch (ObjectDisposedException)
        {
            // stopping
        }
    }

    private async Task RunAsync()
    {
        var stopping = _store.Stopping;
        while (!stopping.IsCancellationRequested)
        {
            var settled = false;
            try
            {
                await ConnectSentinelsAsync().ConfigureAwait(false);
                settled = await CheckAsync().ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is not OperationCanceledException)
            {
                Log.L2ConnectFailed(_logger, _cache, ex);
            }

            try
            {
                // not settled (no master yet, or a new master not ready yet): look again soon
                await _wake.WaitAsync(settled ? CheckInterval : RetryInterval, stopping).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    /// <summary>
    /// Starts a connect to every Sentinel not connected yet (each in the background, one at a time per Sentinel) and waits
    /// for them for at most <see cref="SentinelConnectWait"/>: a Sentinel that accepts the connection and never answers (a
    /// frozen one) takes its full connect timeout to fail, and must not hold up the check of the master, or the reaction to a
    /// switch, every time round. The check uses the Sentinels connected by then; the others join when their connect ends.
    /// </summary>
    private async Task ConnectSentinelsAsync()
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
            await Task.WhenAny(Task.WhenAll(pending), Task.Delay(SentinelConnectWait, _time, _store.Stopping)).ConfigureAwait(false);
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
                    _hint = ToEndPoint(parts[3], newPort);
                    Wake();
                }
            }).ConfigureAwait(false);
            if (_store.Stopping.IsCancellationRequested)
            {
                return; // stopping: closed below (DisposeAsync waits for this connect before it closes the others)
            }

            Volatile.Write(ref _sentinels[i], sentinel);
            sentinel = null;
        }
        catch (Exception ex) when (RedisL2Store.IsConnectFailure(ex))
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
    /// Decides which node is the master and switches to it when it changed. The Sentinels name candidates; ROLE on the
    /// node decides. False when it should be tried again soon.
    /// <list type="bullet">
    /// <item>A <c>+switch-master</c> hint is tried first.</item>
    /// <item>Otherwise the survey's top answer (highest config epoch, then most Sentinels) is tried when it is not the
    /// current master.</item>
    /// <item>When the top answer is the current master but that master is not working (disconnected, or ROLE does not
    /// answer "master" in time), every other address a Sentinel names with the same epoch is tried: during a failover the
    /// leader names the promoted replica before the others and before its epoch shows in every answer. An address named
    /// with an older epoch is never tried (a Sentinel that missed the latest failover may name a demoted node).</item>
    /// </list>
    /// </summary>
    private async Task<bool> CheckAsync()
    {
        var hint = Interlocked.Exchange(ref _hint, null);
        var current = _store.Current;
        var candidates = await ResolveAsync().ConfigureAwait(false);
        var toTry = new List<EndPoint>();
        if (hint is not null && !(current?.Master?.Equals(hint) ?? false))
        {
            toTry.Add(hint);
        }

        if (candidates.Count == 0 && toTry.Count == 0)
        {
            Log.SentinelCheck(_logger, _cache, "no Sentinel named a master");
            return current is not null;
        }

        // A candidate named with an older configuration epoch than the top answer is never tried: that is a Sentinel that
        // has not seen the latest failover, and its master may be a demoted node still answering ROLE "master" (split brain).
        var top = candidates.Count > 0 ? candidates[0].Address : null;
        var topEpoch = candidates.Count > 0 ? candidates[0].Epoch : 0;
        var upToDate = candidates.Where(c => c.Epoch >= topEpoch).Select(c => c.Address).ToList();
        if (current?.Master is { } known && known.Equals(top) && toTry.Count == 0)
        {
            var working = await IsWorkingMasterAsync(current).ConfigureAwait(false);
            if (_logger.IsEnabled(LogLevel.Trace))
            {
                Log.SentinelCheck(_logger, _cache, $"current master {Format(known)} working: {working}");
            }

            if (working)
            {
                if (current.Replicas is null && Interlocked.Exchange(ref _attaching, 1) == 0)
                {
                    _ = AttachReplicasAsync(current); // the first attempt found no replica (or failed): try again
                }
                else if (++_checksSinceReplicaRefresh >= ReplicaRefreshChecks && Interlocked.Exchange(ref _attaching, 1) == 0)
                {
                    // the replica set changes after the attach (a demoted master rejoins as a replica, a replica is added
                    // or removed): every instance must publish on and listen to the same replicas
                    _checksSinceReplicaRefresh = 0;
                    _ = AttachReplicasAsync(current, refresh: true);
                }

                return true;
            }

            toTry.AddRange(upToDate.Where(c => !c.Equals(known)));
            if (toTry.Count == 0)
            {
                return true; // the master is not answering, and no Sentinel names another one (yet): nothing to switch to
            }
        }
        else
        {
            toTry.AddRange(upToDate.Where(c => !toTry.Contains(c) && !(current?.Master?.Equals(c) ?? false)));
        }

        foreach (var candidate in toTry)
        {
            if (await TrySwitchAsync(current, candidate).ConfigureAwait(false))
            {
                return true;
            }
        }

        return false;
    }

    /// <summary>True when the current master's connection is up and ROLE answers "master" quickly.</summary>
    private async Task<bool> IsWorkingMasterAsync(RedisL2Store.Connection current)
    {
        if (!current.Primary.IsConnected)
        {
            return false;
        }

        try
        {
            var role = await RoleAsync(current.Primary.GetServer(current.Master!), RoleTimeout, _time).ConfigureAwait(false);
            return string.Equals(role, "master", StringComparison.Ordinal);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            return false;
        }
    }

    /// <summary>Connects to <paramref name="master"/>, checks ROLE and makes it the current master. False when it isn't one (yet).</summary>
    private async Task<bool> TrySwitchAsync(RedisL2Store.Connection? current, EndPoint master)
    {
        Log.SentinelCheck(_logger, _cache, $"trying {Format(master)} as master");
        var primaryOptions = DataOptions([master]);
        primaryOptions.AbortOnConnectFail = true; // one known endpoint: fail fast and retry here, rather than hold a half-connected multiplexer
        primaryOptions.ConnectTimeout = Math.Min(primaryOptions.ConnectTimeout, 1000);
        ConnectionMultiplexer? primary = null;
        try
        {
            var started = System.Diagnostics.Stopwatch.GetTimestamp();
            using var connectLog = new StringWriter(CultureInfo.InvariantCulture);
            primary = await ConnectionMultiplexer.ConnectAsync(primaryOptions, _logger.IsEnabled(LogLevel.Trace) ? connectLog : null).ConfigureAwait(false);
            var connected = System.Diagnostics.Stopwatch.GetElapsedTime(started);
            if (connected > TimeSpan.FromMilliseconds(300) && _logger.IsEnabled(LogLevel.Trace))
            {
                Log.SentinelCheck(_logger, _cache, "slow connect:\n" + connectLog);
            }
            var roleName = await RoleAsync(primary.GetServer(master), TimeSpan.FromSeconds(1), _time).ConfigureAwait(false);
            Log.SentinelCheck(_logger, _cache, string.Create(CultureInfo.InvariantCulture,
                $"connected to {Format(master)} in {connected.TotalMilliseconds:0} ms, ROLE after {System.Diagnostics.Stopwatch.GetElapsedTime(started).TotalMilliseconds:0} ms"));
            if (!string.Equals(roleName, "master", StringComparison.Ordinal))
            {
                Log.SentinelCheck(_logger, _cache, $"not switching: a Sentinel names {Format(master)} as master but it reports ROLE {roleName}");
                await primary.DisposeAsync().ConfigureAwait(false);
                return false;
            }
        }
        catch (Exception ex) when (RedisL2Store.IsConnectFailure(ex))
        {
            if (primary is not null)
            {
                await primary.DisposeAsync().ConfigureAwait(false);
            }

            Log.L2ConnectFailed(_logger, _cache, ex);
            return false;
        }

        var reason = current?.Master is { } old
            ? string.Create(CultureInfo.InvariantCulture, $"master of '{_service}' switched from {Format(old)} to {Format(master)}")
            : $"connected to master {Format(master)} of '{_service}'";
        var connection = new RedisL2Store.Connection(primary, master);
        await _store.InstallAsync(connection, reason).ConfigureAwait(false);

        // Replicas come second and off the switch path: a just-demoted (maybe frozen) master can still be listed as a
        // replica, and connecting to it must not delay writes to the new master.
        Interlocked.Exchange(ref _attaching, 1);
        _ = AttachReplicasAsync(connection);
        return true;
    }

    /// <summary>
    /// Connects to the master's replicas and attaches them to <paramref name="connection"/>; with <paramref name="refresh"/>,
    /// only when the set the Sentinels report differs from the attached one, which the new multiplexer then replaces.
    /// </summary>
    private async Task AttachReplicasAsync(RedisL2Store.Connection connection, bool refresh = false)
    {
        var replicas = await GetReplicasAsync(connection.Master!).ConfigureAwait(false);
        var attached = connection.Replicas;
        if (replicas.Count == 0
            || (refresh && (attached is null || new HashSet<EndPoint>(replicas).SetEquals(connection.ReplicaEndpoints))))
        {
            Volatile.Write(ref _attaching, 0);
            return;
        }

        try
        {
            var multiplexer = await ConnectionMultiplexer.ConnectAsync(DataOptions(replicas)).ConfigureAwait(false);
            if (!await _store.AttachReplicasAsync(connection, multiplexer, replicas, refresh ? attached : null).ConfigureAwait(false))
            {
                await multiplexer.DisposeAsync().ConfigureAwait(false);
            }
            else if (refresh)
            {
                Log.SentinelCheck(_logger, _cache, string.Create(CultureInfo.InvariantCulture,
                    $"replicas of {Format(connection.Master!)} are now {string.Join(", ", replicas.Select(Format))}"));
            }
        }
        catch (Exception ex) when (RedisL2Store.IsConnectFailure(ex))
        {
            Log.L2ConnectFailed(_logger, _cache, ex);
        }
        finally
        {
            Volatile.Write(ref _attaching, 0);
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

    private ConfigurationOptions DataOptions(IEnumerable<EndPoint> endpoints)
    {
        var options = _configuration.Clone();
        options.ServiceName = null;
        options.EndPoints.Clear();
        foreach (var endpoint in endpoints)
        {
            options.EndPoints.Add(endpoint);
        }

        return options;
    }

    /// <summary>
    /// Asks every reachable Sentinel for the master (<c>GET-MASTER-ADDR-BY-NAME</c>, which names the promoted replica as
    /// soon as a failover reaches its reconfiguration phase, while <c>SENTINEL MASTER</c> keeps the old address until the
    /// very end) and for its config epoch (<c>SENTINEL MASTER</c>); the answer with the highest epoch wins, so a stale
    /// minority cannot. Replicas are asked for separately, after a switch.
    /// </summary>
    private async Task<List<(EndPoint Address, long Epoch)>> ResolveAsync()
    {
        var asks = new List<(ConnectionMultiplexer Sentinel, Task<EndPoint?> Address, Task<KeyValuePair<string, string>[]> Master)>();
        foreach (var sentinel in _sentinels)
        {
            if (sentinel is { IsConnected: true })
            {
                var server = sentinel.GetServer(sentinel.GetEndPoints()[0]);
                asks.Add((sentinel,
                    server.SentinelGetMasterAddressByNameAsync(_service).WaitAsync(SentinelTimeout, _time),
                    server.SentinelMasterAsync(_service).WaitAsync(SentinelTimeout, _time)));
            }
        }

        var answers = new List<(EndPoint Address, long Epoch, ConnectionMultiplexer Sentinel)>();
        foreach (var (sentinel, addressTask, masterTask) in asks)
        {
            try
            {
                var address = await addressTask.ConfigureAwait(false);
                var fields = (await masterTask.ConfigureAwait(false)).ToDictionary(p => p.Key, p => p.Value, StringComparer.Ordinal);
                if (address is not null)
                {
                    var epoch = fields.TryGetValue("config-epoch", out var e) && long.TryParse(e, NumberStyles.Integer, CultureInfo.InvariantCulture, out var parsed) ? parsed : 0;
                    answers.Add((address, epoch, sentinel));
                }
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // a frozen or partitioned Sentinel: the others decide
            }
        }

        // distinct addresses, highest epoch first, then named by the most Sentinels
        var ranked = answers
            .GroupBy(a => a.Address)
            .Select(g => (Address: g.Key, Epoch: g.Max(a => a.Epoch), Votes: g.Count(), Sentinel: g.First().Sentinel))
            .OrderByDescending(c => c.Epoch).ThenByDescending(c => c.Votes)
            .ToList();
        var candidates = ranked.Select(c => (c.Address, c.Epoch)).ToList();
        if (_logger.IsEnabled(LogLevel.Trace))
        {
            Log.SentinelCheck(_logger, _cache, string.Create(CultureInfo.InvariantCulture,
                $"{asks.Count} Sentinels asked, {answers.Count} answered: {string.Join(", ", ranked.Select(c => $"{Format(c.Address)} epoch {c.Epoch} x{c.Votes}"))}"));
        }


        return candidates;
    }

    /// <summary>The replicas (not down) of the master, from the first Sentinel that answers; never the master itself.</summary>
    private async Task<List<EndPoint>> GetReplicasAsync(EndPoint master)
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
                        var endpoint = ToEndPoint(ip, port);
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

    private static EndPoint ToEndPoint(string host, int port) =>
        IPAddress.TryParse(host, out var address) ? new IPEndPoint(address, port) : new DnsEndPoint(host, port);

    /// <summary>What a node says it is (<c>ROLE</c>'s first field: "master", "slave", "sentinel"), waiting at most <paramref name="timeout"/>; null for an empty reply. Throws what the call throws.</summary>
    internal static async Task<string?> RoleAsync(IServer server, TimeSpan timeout, TimeProvider time)
    {
        var role = await server.ExecuteAsync("ROLE").WaitAsync(timeout, time).ConfigureAwait(false);
        return role.Length > 0 ? (string?)role[0] : null;
    }

    internal static string Format(EndPoint endpoint) => endpoint switch
    {
        IPEndPoint ip => ip.ToString(),
        DnsEndPoint dns => string.Create(CultureInfo.InvariantCulture, $"{dns.Host}:{dns.Port}"),
        _ => endpoint.ToString() ?? "?",
    };

    public async ValueTask DisposeAsync()
    {
        if (_loop is not null)
        {
            try
            {
                await _loop.ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
            }
        }

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

        _wake.Dispose();
    }
}
