using Levee.Internal;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// The Redis L2: the commands and Lua scripts the cache issues, on the current connection of a <see cref="RedisConnection"/>
/// (which connects, follows failovers and closes; see readme.md). Nothing here connects or decides a failover.
/// </summary>
internal sealed class RedisL2Store : IL2Store
{
    private const string RemoveAndPublishScript = "redis.call('DEL', KEYS[1]) redis.call('PUBLISH', ARGV[1], ARGV[2]) return 1";
    // ARGV[2] = 0: no expiry (the generation key)
    private const string SetMaxScript = "local c = tonumber(redis.call('GET', KEYS[1]) or '0') if tonumber(ARGV[1]) > c then if ARGV[2] == '0' then redis.call('SET', KEYS[1], ARGV[1]) else redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end end return 1";

    private readonly ILogger _logger;
    private readonly string _cache;
    private readonly RedisConnection _connection;
    private volatile bool _scriptingRefused;

    public RedisL2Store(string configuration, string cacheName, TimeProvider time, ILogger logger, Action<ConfigurationOptions>? configure = null)
    {
        _cache = cacheName;
        _logger = logger;
        _connection = new RedisConnection(RedisConfiguration.Create(configuration, configure), cacheName, time, logger);
    }

    /// <summary>The connection the commands go to (for tests and the benchmarks).</summary>
    internal RedisConnection Connection => _connection;

    /// <summary>The current connection generation, or null (for tests and the benchmarks).</summary>
    internal ConnectionGeneration? Current => _connection.Current;

    public event EventHandler<L2StoreEvent>? StateChanged
    {
        add => _connection.StateChanged += value;
        remove => _connection.StateChanged -= value;
    }

    public bool IsConnected => _connection.IsConnected;

    public bool IsReplicaConnected => _connection.IsReplicaConnected;

    private ConnectionGeneration Required => _connection.Current ?? throw NotConnected();

    private static RedisConnectionException NotConnected()
    {
#pragma warning disable CS0618 // this constructor is obsolete in StackExchange.Redis 3 (it wants a server endpoint too), but there is no server yet: it is the plain way to say "not connected yet", the type callers and the breaker already treat as a connection failure
        return new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Redis is not connected yet.");
#pragma warning restore CS0618
    }

    public Task<RedisValue> GetAsync(string key) => Required.PrimaryFor(key).StringGetAsync(key);

    public Task<RedisValue> GetFromReplicaAsync(string key) => Required.ReplicaDatabase.StringGetAsync(key, CommandFlags.DemandReplica);

    public Task<bool> SetAsync(string key, byte[] value, TimeSpan timeToLive) => Required.PrimaryFor(key).StringSetAsync(key, value, timeToLive);

    public Task<bool> SetIfAbsentAsync(string key, byte[] value, TimeSpan timeToLive) => Required.PrimaryFor(key).StringSetAsync(key, value, timeToLive, When.NotExists);

    public Task<bool> RemoveAsync(string key) => Required.PrimaryFor(key).KeyDeleteAsync(key);

    public async Task<bool> RemoveAndPublishAsync(string key, string channel, string message)
    {
        var database = Required.PrimaryFor(key);
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

    public Task<long?[]> GetNumbersAsync(string[] keys)
    {
        var current = Required;
        foreach (var key in keys)
        {
            _ = current.PrimaryFor(key); // a key on a lost master: none is sent (the read needs them all)
        }

        return GetNumbersAsync(current.PrimaryDatabase, keys, CommandFlags.None);
    }

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
        var database = Required.PrimaryFor(key);
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

    public Task<long> IncrementAsync(string key) => Required.PrimaryFor(key).StringIncrementAsync(key);

    public Task PublishAsync(string channel, string message) =>
        Required.Primary.GetSubscriber().PublishAsync(RedisChannel.Literal(channel), message);

    public void Subscribe(string channel, Action<string> handler) => _connection.Subscribe(channel, handler);

    public void SubscribeReplicas(string channel, Action<string> handler, Action? resubscribed = null) => _connection.SubscribeReplicas(channel, handler, resubscribed);

    /// <summary>
    /// PUBLISH on every connected replica of the current connection (Sentinel mode: the replicas' own multiplexer). A
    /// replica delivers it to its own subscribers only (a PUBLISH is not passed from replica to master), which is why it
    /// goes to each of them. True when every connected replica answered; false without replicas, or when one failed or
    /// timed out (a PUBLISH that timed out may never have been written: the caller sends it again).
    /// </summary>
    public async Task<bool> PublishToReplicasAsync(string channel, string message)
    {
        if (_connection.Current?.Replicas is not { } replicas)
        {
            return false;
        }

        var sends = new List<Task<RedisResult>>();
        var servers = replicas.GetServers();
        foreach (var server in servers)
        {
            if (server.IsConnected)
            {
                sends.Add(server.ExecuteAsync("PUBLISH", channel, message));
            }
        }

        var reached = 0;
        foreach (var send in sends)
        {
            try
            {
                await send.ConfigureAwait(false);
                reached++;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException)
            {
                // another replica may have taken it; none did: the caller's journal still has the invalidation
            }
        }

        if (reached < servers.Length)
        {
            Log.ReplicaPublishIncomplete(_logger, _cache, reached, servers.Length);
        }

        return reached > 0 && reached == sends.Count;
    }

    public ValueTask DisposeAsync() => _connection.DisposeAsync();
}
