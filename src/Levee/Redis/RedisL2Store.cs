using System.Text.RegularExpressions;
using Levee.Internal;
using Microsoft.Extensions.Logging;
using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// The Redis L2 over StackExchange.Redis: one multiplexer per cache, connected in the background (an app that starts
/// while Redis or Sentinel is down still starts), with defaults that assume Redis will fail: fail-fast backlog, short
/// connect/command timeouts. Reads prefer the master and fall back to a replica while the master is unreachable.
/// </summary>
#pragma warning disable CS0618 // RedisConnectionException(ConnectionFailureType, string) is the plain way to say "not connected yet"
internal sealed partial class RedisL2Store : IL2Store
{
    private const string SetMaxScript = "local c = tonumber(redis.call('GET', KEYS[1]) or '0') if tonumber(ARGV[1]) > c then redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2]) end return 1";

    private readonly ConfigurationOptions _configuration;
    private readonly ILogger _logger;
    private readonly string _cache;
    private readonly TimeProvider _time;
    private readonly CancellationTokenSource _stopping = new();
    private volatile ConnectionMultiplexer? _multiplexer;
    private volatile IDatabase? _database;

    public RedisL2Store(string configuration, string cacheName, TimeProvider time, ILogger logger)
    {
        _configuration = CreateConfiguration(configuration);
        _cache = cacheName;
        _time = time;
        _logger = logger;
        _ = ConnectLoopAsync();
    }

    public event EventHandler<L2StoreEvent>? StateChanged;

    public bool IsConnected => _multiplexer is { IsConnected: true };

    /// <summary>The multiplexer once connected (for the backplane and failover following); null before.</summary>
    public ConnectionMultiplexer? Multiplexer => _multiplexer;

    /// <summary>Levee's defaults for every option the configuration string does not set itself.</summary>
    internal static ConfigurationOptions CreateConfiguration(string configuration)
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
        return options;
    }

    private async Task ConnectLoopAsync()
    {
        var delay = TimeSpan.FromMilliseconds(250);
        while (!_stopping.IsCancellationRequested)
        {
            try
            {
                var multiplexer = await ConnectionMultiplexer.ConnectAsync(_configuration.Clone()).ConfigureAwait(false);
                multiplexer.ConnectionFailed += (_, e) => Raise(L2StoreEventKind.ConnectionLost, $"{e.EndPoint} {e.FailureType}");
                multiplexer.ConnectionRestored += (_, e) => Raise(L2StoreEventKind.Connected, $"{e.EndPoint} restored");
                multiplexer.ConfigurationChanged += (_, e) => Raise(L2StoreEventKind.Failover, $"configuration changed, blamed {e.EndPoint}");
                if (_stopping.IsCancellationRequested)
                {
                    await multiplexer.DisposeAsync().ConfigureAwait(false);
                    return;
                }

                _database = multiplexer.GetDatabase();
                _multiplexer = multiplexer;
                (string Channel, Action<string> Handler)[] subscriptions;
                lock (_subscriptions)
                {
                    subscriptions = [.. _subscriptions];
                }

                foreach (var (channel, handler) in subscriptions)
                {
                    await SubscribeAsync(multiplexer, channel, handler).ConfigureAwait(false);
                }

                Raise(L2StoreEventKind.Connected, "initial connection");
                return;
            }
            catch (Exception ex) when (ex is RedisException or TimeoutException or InvalidOperationException or ArgumentException or System.Net.Sockets.SocketException)
            {
                // StackExchange.Redis does not honour abortConnect=false on the Sentinel path; this loop is Levee's own retry.
                Log.L2ConnectFailed(_logger, _cache, ex);
            }

            try
            {
                await Task.Delay(delay, _time, _stopping.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }

            delay = TimeSpan.FromMilliseconds(Math.Min(5000, delay.TotalMilliseconds * 2));
        }
    }

    private void Raise(L2StoreEventKind kind, string detail)
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

    private IDatabase Database => _database ?? throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Redis is not connected yet.");

    public async Task<byte[]?> GetAsync(string key) => await Database.StringGetAsync(key, CommandFlags.PreferMaster).ConfigureAwait(false);

    public Task SetAsync(string key, byte[] value, TimeSpan timeToLive) => Database.StringSetAsync(key, value, timeToLive);

    public Task RemoveAsync(string key) => Database.KeyDeleteAsync(key);

    public async Task<long?[]> GetNumbersAsync(string[] keys)
    {
        // one GET per key (not MGET): keys may live in different Cluster slots
        var db = Database;
        var tasks = new Task<RedisValue>[keys.Length];
        for (var i = 0; i < keys.Length; i++)
        {
            tasks[i] = db.StringGetAsync(keys[i], CommandFlags.PreferMaster);
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

    public Task SetMaxAsync(string key, long value, TimeSpan timeToLive) =>
        Database.ScriptEvaluateAsync(SetMaxScript, [key], [value, (long)timeToLive.TotalMilliseconds]);

    public Task<long> IncrementAsync(string key) => Database.StringIncrementAsync(key);

    public Task PublishAsync(string channel, string message) =>
        (_multiplexer ?? throw new RedisConnectionException(ConnectionFailureType.UnableToConnect, "Redis is not connected yet."))
            .GetSubscriber().PublishAsync(RedisChannel.Literal(channel), message);

    public void Subscribe(string channel, Action<string> handler)
    {
        lock (_subscriptions)
        {
            _subscriptions.Add((channel, handler));
        }

        if (_multiplexer is { } multiplexer)
        {
            _ = SubscribeAsync(multiplexer, channel, handler);
        }
    }

    private readonly List<(string Channel, Action<string> Handler)> _subscriptions = [];

    private async Task SubscribeAsync(ConnectionMultiplexer multiplexer, string channel, Action<string> handler)
    {
        try
        {
            // StackExchange.Redis re-subscribes by itself after a reconnect or a failover.
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
        if (_multiplexer is { } multiplexer)
        {
            await multiplexer.CloseAsync(allowCommandsToComplete: false).ConfigureAwait(false);
            await multiplexer.DisposeAsync().ConfigureAwait(false);
        }

        _stopping.Dispose();
    }
}
