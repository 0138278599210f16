using System.Net;
using System.Text.RegularExpressions;
using Levee.Internal;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Levee.Redis;

#pragma warning disable CS0618 // RedisConnectionException(ConnectionFailureType, string) is the plain way to say "not connected yet"

/// <summary>
/// The Redis L2 over StackExchange.Redis, connected in the background (an app that starts while Redis or Sentinel is
/// down still starts), with defaults that assume Redis will fail: fail-fast backlog, short connect/command timeouts.
/// <list type="bullet">
/// <item>Standalone and Cluster: one multiplexer; StackExchange.Redis follows Cluster slot moves and replica promotions.</item>
/// <item>Sentinel (<c>serviceName=</c>): Levee follows the master itself (<see cref="SentinelMonitor"/>): it listens to
/// <c>+switch-master</c> on every Sentinel, asks all of them and takes the address with the highest config epoch, checks
/// <c>ROLE</c> on it, and swaps in a connection to the new master. Replicas get their own connection, for reads while
/// the master is unreachable.</item>
/// </list>
/// </summary>
internal sealed partial class RedisL2Store : IL2Store
{
    private const string RemoveAndPublishScript = "redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return 1";
    // ARGV[2] = 0: no expiry (the generation key)
    private const string SetMaxScript = "local c = tonumber(redis.call('GET', KEYS[1]) or '0') if tonumber(ARGV[1]) > c then if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end end return 1";

    private readonly ConfigurationOptions _configuration;
    private readonly ILogger _logger;
    private volatile bool _scriptingRefused;
    private readonly string _cache;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private readonly List<(string Channel, Action<string> Handler)> _subscriptions = [];
    private readonly List<(string Channel, Action<string> Handler)> _replicaSubscriptions = [];
    private readonly SentinelMonitor? _sentinel;
    private volatile Connection? _connection;

    public RedisL2Store(string configuration, string cacheName, TimeProvider time, ILogger logger, Action<ConfigurationOptions>? configure = null)
    {
        _configuration = CreateConfiguration(configuration, configure);
        _cache = cacheName;
        _time = time;
        _logger = logger;
        // the monitor and the connect loop live as long as the cache: they must not carry the ExecutionContext of
        // whoever first resolved it (NoFlow)
        if (!string.IsNullOrEmpty(_configuration.ServiceName))
        {
            var sentinel = new SentinelMonitor(_configuration, this, time, logger, cacheName);
            _sentinel = sentinel;
            NoFlow.Start(sentinel.Start);
        }
        else
        {
            NoFlow.Start(() => _ = ConnectDirectLoopAsync());
        }
    }

    /// <summary>One generation of connections; replaced as a whole when the master changes.</summary>
    internal sealed class Connection(ConnectionMultiplexer primary, EndPoint? master)
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

                try
                {
                    await multiplexer.CloseAsync(allowCommandsToComplete: false).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
                {
                    // a frozen node may not answer QUIT; disposing below drops the sockets anyway
                }

                await multiplexer.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    public event EventHandler<L2StoreEvent>? StateChanged;

    public bool IsConnected => _connection is { } c && c.Primary.IsConnected;

    public bool IsReplicaConnected => _connection is { } c && (c.Replicas is { } replicas ? replicas.IsConnected : HasConnectedReplica(c.Primary));

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

    internal Connection? Current => _connection;

    internal CancellationToken Stopping => _stopping.Token;

    /// <summary>Levee's defaults for every option the configuration string does not set itself.</summary>
    internal static ConfigurationOptions CreateConfiguration(string configuration, Action<ConfigurationOptions>? configure = null)
    {
        var options = ConfigurationOptions.Parse(configuration);
        bool Has(string key) => Regex.IsMatch(configuration, $@"(^|,)\s*{key}\s*=", RegexOptions.IgnoreCase | RegexOptions.CultureInvariant);
        options.AbortOnConnectFail = false;
        if (!Has("connectTimeout"))
        {
            options.ConnectTimeout = 2000;
        }

        if (!Has("syncTimeout"))
        {
            options.SyncTimeout = 1000;
        }

        if (!Has("asyncTimeout"))
        {
            options.AsyncTimeout = 1000;
        }

        if (!Has("keepAlive"))
        {
            options.KeepAlive = 5;
        }

        if (!Has("connectRetry"))
        {
            options.ConnectRetry = 1;
        }

        if (!Has("name"))
        {
            options.ClientName = "levee";
        }

        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ReconnectRetryPolicy = new LinearRetry(500);
        configure?.Invoke(options); // what a string cannot say (TLS callbacks, a private CA, a client certificate)
        options.IncludeDetailInExceptions = false; // its messages would name the command and the key, and Levee logs them
        return options;
    }

    private async Task ConnectDirectLoopAsync()
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var multiplexer = await ConnectionMultiplexer.ConnectAsync(_configuration.Clone()).ConfigureAwait(false);

                // Cluster: a failover is told by what the nodes say of themselves (ClusterFailoverDetector), not by which
                // nodes StackExchange.Redis sees as masters, which changes too when a master only reconnects. Whether this is
                // a Cluster is known only once a node answered: with every node down at start it is decided at the first
                // configuration change that sees one (the rule for a single master must never be applied to a Cluster).
                var cluster = new ClusterWatch(new ClusterFailoverDetector());
                if (IsCluster(multiplexer))
                {
                    await StartClusterWatchAsync(multiplexer, cluster).ConfigureAwait(false);
                }

                var masters = CurrentMasters(multiplexer);
                multiplexer.ConfigurationChanged += (_, e) =>
                {
                    if (cluster.Started || IsCluster(multiplexer))
                    {
                        _ = cluster.Started
                            ? ObserveClusterAsync(ConnectedServers(multiplexer), cluster.Detector, $"configuration changed at {SentinelMonitor.Format(e.EndPoint)}")
                            : StartClusterWatchAsync(multiplexer, cluster);
                        return;
                    }

                    // A configuration change is a failover only when a node that was not a master now is one. A server
                    // that just died also changes the configuration; treating that as a failover would drop L1, the
                    // values the outage needs most.
                    var now = CurrentMasters(multiplexer);
                    var before = Volatile.Read(ref masters);
                    var promoted = now.Except(before, StringComparer.Ordinal).ToArray();
                    if (promoted.Length > 0 && before.Count > 0)
                    {
                        Raise(L2StoreEventKind.Failover, $"new master {string.Join(", ", promoted)} (configuration changed at {e.EndPoint})");
                    }

                    if (now.Count > 0)
                    {
                        Volatile.Write(ref masters, now);
                    }
                };

                await InstallAsync(new Connection(multiplexer, null), "initial connection").ConfigureAwait(false);
                return;
            }
            catch (Exception ex) when (IsConnectFailure(ex))
            {
                Log.L2ConnectFailed(_logger, _cache, ex);
            }

            if (!await DelayAsync(delay).ConfigureAwait(false))
            {
                return;
            }

            delay = TimeSpan.FromMilliseconds(Math.Min(5000, delay.TotalMilliseconds * 2));
        }
    }

    private static bool IsCluster(ConnectionMultiplexer multiplexer) =>
        multiplexer.GetServers().Any(static s => s.ServerType == ServerType.Cluster);

    /// <summary>A direct connection's Cluster failover check, started once the connection is known to be to a Cluster.</summary>
    private sealed class ClusterWatch(ClusterFailoverDetector detector)
    {
        private int _started;

        public ClusterFailoverDetector Detector { get; } = detector;

        public bool Started => Volatile.Read(ref _started) == 1;

        public bool TryStart() => Interlocked.CompareExchange(ref _started, 1, 0) == 0;
    }

    /// <summary>Records what each node is now (no failover is told from a first look), then checks every <see cref="ClusterCheckInterval"/>.</summary>
    private async Task StartClusterWatchAsync(ConnectionMultiplexer multiplexer, ClusterWatch cluster)
    {
        if (!cluster.TryStart())
        {
            return;
        }

        await ObserveClusterAsync(ConnectedServers(multiplexer), cluster.Detector, "initial").ConfigureAwait(false);
        _ = WatchClusterAsync(multiplexer, cluster.Detector);
    }

    /// <summary>How often a Cluster connection asks its nodes for their <c>ROLE</c> (a failover need not change anything StackExchange.Redis sees).</summary>
    internal static readonly TimeSpan ClusterCheckInterval = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Asks <paramref name="servers"/> for their <c>ROLE</c> and raises <see cref="L2StoreEventKind.Failover"/> for replicas
    /// that are masters now (<see cref="ClusterFailoverDetector"/>). Never throws: a node that does not answer in time,
    /// or answers garbage, tells nothing.
    /// </summary>
    private async Task ObserveClusterAsync(IServer[] servers, ClusterFailoverDetector detector, string trigger)
    {
        // one check at a time: an answer given before a promotion must not be recorded after one given after it
        await detector.Turn.WaitAsync().ConfigureAwait(false);
        try
        {
            await ObserveClusterOnceAsync(servers, detector, trigger).ConfigureAwait(false);
        }
        finally
        {
            detector.Turn.Release();
        }
    }

    private async Task ObserveClusterOnceAsync(IServer[] servers, ClusterFailoverDetector detector, string trigger)
    {
        var answers = await Task.WhenAll(servers.Select(async server =>
        {
            var endpoint = SentinelMonitor.Format(server.EndPoint);
            try
            {
                return (endpoint, await SentinelMonitor.RoleAsync(server, ClusterCheckInterval, _time).ConfigureAwait(false));
            }
            catch (Exception)
            {
                return (endpoint, (string?)null);
            }
        })).ConfigureAwait(false);
        var promoted = detector.Observe(answers);
        if (promoted.Count > 0)
        {
            Raise(L2StoreEventKind.Failover, $"new master {string.Join(", ", promoted)} (was a replica; {trigger})");
        }
    }

    private static IServer[] ConnectedServers(ConnectionMultiplexer multiplexer)
    {
        try
        {
            return [.. multiplexer.GetServers().Where(static s => s.IsConnected)];
        }
        catch (ObjectDisposedException)
        {
            return [];
        }
    }

    /// <summary>Asks every connected node for its role every <see cref="ClusterCheckInterval"/> until the store stops.</summary>
    private async Task WatchClusterAsync(ConnectionMultiplexer multiplexer, ClusterFailoverDetector detector)
    {
        while (await DelayAsync(ClusterCheckInterval).ConfigureAwait(false))
        {
            await ObserveClusterAsync(ConnectedServers(multiplexer), detector, "periodic check").ConfigureAwait(false);
        }
    }

    private static HashSet<string> CurrentMasters(ConnectionMultiplexer multiplexer)
    {
        var masters = new HashSet<string>(StringComparer.Ordinal);
        foreach (var server in multiplexer.GetServers())
        {
            if (server.IsConnected && !server.IsReplica)
            {
                masters.Add(SentinelMonitor.Format(server.EndPoint));
            }
        }

        return masters;
    }

    internal static bool IsConnectFailure(Exception ex) =>
        ex is RedisException or TimeoutException or InvalidOperationException or ArgumentException or System.Net.Sockets.SocketException;

    internal async Task<bool> DelayAsync(TimeSpan delay)
    {
        try
        {
            await Task.Delay(delay, _time, _stopping.Token).ConfigureAwait(false);
            return true;
        }
        catch (Exception ex) when (ex is OperationCanceledException or ObjectDisposedException)
        {
            return false; // stopping (or stopped: the token's source is disposed)
        }
    }

    /// <summary>Makes <paramref name="connection"/> the current one, subscribes the backplane on it, and retires the previous one.</summary>
    internal async Task InstallAsync(Connection connection, string reason)
    {
        if (_stopping.IsCancellationRequested)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            return;
        }

        connection.Primary.ConnectionFailed += (_, e) => Raise(L2StoreEventKind.ConnectionLost, $"{e.EndPoint} {e.FailureType}");
        connection.Primary.ConnectionRestored += (_, e) => Raise(L2StoreEventKind.Connected, $"{e.EndPoint} restored");
        (string Channel, Action<string> Handler)[] subscriptions;
        lock (_subscriptions)
        {
            subscriptions = [.. _subscriptions];
        }

        foreach (var (channel, handler) in subscriptions)
        {
            await SubscribeAsync(connection.Primary, channel, handler).ConfigureAwait(false);
        }

        var previous = Interlocked.Exchange(ref _connection, connection);
        if (_stopping.IsCancellationRequested)
        {
            // disposed while the subscriptions above ran: neither this connection nor the one it replaced (which the store's
            // DisposeAsync, finding no current connection, would never close) may outlive the store
            Interlocked.CompareExchange(ref _connection, null, connection);
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

    private Connection Required => _connection ?? throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Redis is not connected yet.");

    public Task<RedisValue> GetAsync(string key) => Required.PrimaryDatabase.StringGetAsync(key);

    public Task<RedisValue> GetFromReplicaAsync(string key) => Required.ReplicaDatabase.StringGetAsync(key, CommandFlags.DemandReplica);

    public Task<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive) => Required.PrimaryDatabase.StringSetAsync(key, value, timeToLive);

    public Task<bool> RemoveAsync(string key) => Required.PrimaryDatabase.KeyDeleteAsync(key);

    public async Task<bool> RemoveAndPublishAsync(string key, string channel, string message)
    {
        var database = Required.PrimaryDatabase;
        if (!_scriptingRefused)
        {
            // One script, one command, one reply (sent as EVALSHA once StackExchange.Redis knows the server has it):
            // measured cheaper than DEL and PUBLISH as two commands, batched or not (docs/benchmarks.md). In Cluster the
            // script runs on the key's node; PUBLISH reaches every node.
            try
            {
                await database.ScriptEvaluateAsync(RemoveAndPublishScript, [key], [channel, message]).ConfigureAwait(false);
                return true;
            }
            catch (RedisServerException ex) when (IsScriptingRefused(ex))
            {
                // scripting disabled or not allowed for this user: a removal must still work; fall back for good
                _scriptingRefused = true;
                Log.ScriptingRefused(_logger, _cache, ex.Message);
            }
        }

        var removing = database.KeyDeleteAsync(key);
        var publishing = database.PublishAsync(RedisChannel.Literal(channel), message);
        try
        {
            await removing.ConfigureAwait(false);
        }
        finally
        {
            await publishing.ConfigureAwait(false);
        }

        return true;
    }

    /// <summary>A refusal that will not go away by retrying: ACL (NOPERM), scripting disabled or unknown to the server.</summary>
    private static bool IsScriptingRefused(RedisServerException ex) =>
        ex.Message.StartsWith("NOPERM", StringComparison.Ordinal)
        || ex.Message.Contains("unknown command", StringComparison.OrdinalIgnoreCase)
        || ex.Message.Contains("scripting is disabled", StringComparison.OrdinalIgnoreCase);

    public Task<long?[]> GetNumbersAsync(string[] keys) => GetNumbersAsync(Required.PrimaryDatabase, keys, CommandFlags.None);

    public Task<long?[]> GetNumbersFromReplicaAsync(string[] keys) => GetNumbersAsync(Required.ReplicaDatabase, keys, CommandFlags.DemandReplica);

    private static async Task<long?[]> GetNumbersAsync(IDatabase db, string[] keys, CommandFlags flags)
    {
        // one GET per key (not MGET): keys may live in different Cluster slots
        var tasks = new Task<RedisValue>[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            tasks[i] = db.StringGetAsync(keys[i], flags);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
        var result = new long?[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            var value = tasks[i].Result;
            result[i] = value.IsNull ? null : value.TryParse(out long parsed) ? parsed : null;
        }

        return result;
    }

    public async Task SetMaxAsync(string key, long value, TimeSpan timeToLive)
    {
        var database = Required.PrimaryDatabase;
        if (!_scriptingRefused)
        {
            try
            {
                await database.ScriptEvaluateAsync(SetMaxScript, [key], [value, (long)timeToLive.TotalMilliseconds]).ConfigureAwait(false);
                return;
            }
            catch (RedisServerException ex) when (IsScriptingRefused(ex))
            {
                _scriptingRefused = true; // as for removals: a refusal that retrying won't change
                Log.ScriptingRefused(_logger, _cache, ex.Message);
            }
        }

        // Without scripting: SET ... GET returns the time it replaced; a higher one (another instance's later
        // invalidation) is put back, and so on, so the time ends where it only moved forward. Between the two SETs a
        // reader can see the lower time for one round trip. Bounded: each round can only raise the time written.
        TimeSpan? expiry = timeToLive > TimeSpan.Zero ? timeToLive : null;
        var target = value;
        for (var round = 0; round < 8; round++)
        {
            var replaced = await database.StringSetAndGetAsync(key, target, expiry).ConfigureAwait(false);
            if (replaced.IsNull || !replaced.TryParse(out long previous) || previous <= target)
            {
                return;
            }

            target = previous;
        }
    }

    public Task<long> IncrementAsync(string key) => Required.PrimaryDatabase.StringIncrementAsync(key);

    public Task PublishAsync(string channel, string message) =>
        Required.Primary.GetSubscriber().PublishAsync(RedisChannel.Literal(channel), message);

    public void Subscribe(string channel, Action<string> handler)
    {
        lock (_subscriptions)
        {
            _subscriptions.Add((channel, handler));
        }

        if (_connection is { } connection)
        {
            _ = SubscribeAsync(connection.Primary, channel, handler);
        }
    }

    public void SubscribeReplicas(string channel, Action<string> handler)
    {
        lock (_replicaSubscriptions)
        {
            _replicaSubscriptions.Add((channel, handler));
        }

        if (_connection?.Replicas is { } replicas)
        {
            _ = SubscribeAsync(replicas, channel, handler);
        }
    }

    /// <summary>
    /// Attaches a replicas' multiplexer (Sentinel mode) to <paramref name="connection"/>, its replica handlers subscribed
    /// first, so that an attached replicas' connection is a listening one. It subscribes on one replica;
    /// <see cref="PublishToReplicasAsync"/> publishes on all of them, so every instance hears every message. False (the
    /// caller disposes the multiplexer) when the connection was retired meanwhile.
    /// </summary>
    internal async Task<bool> AttachReplicasAsync(Connection connection, ConnectionMultiplexer replicas, IReadOnlyList<EndPoint> endpoints,
        ConnectionMultiplexer? replacing = null)
    {
        var subscribed = await SubscribeReplicasFromAsync(replicas, 0).ConfigureAwait(false);
        if (!connection.AttachReplicas(replicas, endpoints, replacing))
        {
            return false;
        }

        if (replacing is not null)
        {
            // the replaced one is retired off the caller's path; its subscriptions go with it
            _ = Task.Run(async () =>
            {
                try
                {
                    await replacing.CloseAsync(allowCommandsToComplete: false).WaitAsync(TimeSpan.FromSeconds(2)).ConfigureAwait(false);
                }
                catch (Exception ex) when (ex is RedisException or TimeoutException or ObjectDisposedException)
                {
                    // a frozen replica may not answer QUIT; disposing drops the sockets anyway
                }

                await replacing.DisposeAsync().ConfigureAwait(false);
            });
        }

        // a handler registered while this ran saw no replicas' connection yet: subscribe it here
        await SubscribeReplicasFromAsync(replicas, subscribed).ConfigureAwait(false);
        return true;
    }

    /// <summary>Subscribes the replica handlers registered from index <paramref name="from"/> on; returns how many there are.</summary>
    private async Task<int> SubscribeReplicasFromAsync(ConnectionMultiplexer replicas, int from)
    {
        (string Channel, Action<string> Handler)[] subscriptions;
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

    /// <summary>
    /// PUBLISH on every connected replica of the current connection (Sentinel mode: the replicas' own multiplexer). A
    /// replica delivers it to its own subscribers only (a PUBLISH is not passed from replica to master), which is why it
    /// goes to each of them. False without replicas.
    /// </summary>
    public async Task<bool> PublishToReplicasAsync(string channel, string message)
    {
        if (_connection?.Replicas is not { } replicas)
        {
            return false;
        }

        var sends = new List<Task<RedisResult>>();
        foreach (var server in replicas.GetServers())
        {
            if (server.IsConnected)
            {
                sends.Add(server.ExecuteAsync("PUBLISH", channel, message));
            }
        }

        var sent = false;
        foreach (var send in sends)
        {
            try
            {
                await send.ConfigureAwait(false);
                sent = true;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // another replica may have taken it; none did: the caller's journal still has the invalidation
            }
        }

        return sent;
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

    public async ValueTask DisposeAsync()
    {
        await _stopping.CancelAsync().ConfigureAwait(false);
        if (_sentinel is not null)
        {
            await _sentinel.DisposeAsync().ConfigureAwait(false);
        }

        if (Interlocked.Exchange(ref _connection, null) is { } connection)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }
}
