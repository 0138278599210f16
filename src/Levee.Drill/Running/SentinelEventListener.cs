using System.Collections.Concurrent;
using System.Diagnostics;
using StackExchange.Redis;

namespace Levee.Drill.Running;

/// <summary>
/// Subscribes to every Sentinel's pub/sub events (one connection per Sentinel, so a frozen one does not
/// hide the others) and records the failover-related ones with their time since the run's epoch.
/// The same event reported by several Sentinels is kept once (its first report).
/// </summary>
internal sealed class SentinelEventListener : IAsyncDisposable
{
    private static readonly string[] Interesting = ["+sdown", "-sdown", "+odown", "-odown", "+try-failover", "+elected-leader", "+failover-end", "+switch-master", "-failover-abort-no-good-slave", "+failover-state-select-slave"];
    private readonly List<ConnectionMultiplexer> _connections = [];
    private readonly ConcurrentDictionary<string, SentinelEvent> _seen = new(StringComparer.Ordinal);
    private readonly long _epoch;

    private SentinelEventListener(long epoch) => _epoch = epoch;

    public static async Task<SentinelEventListener> StartAsync(IEnumerable<string> sentinelEndpoints, long epochTimestamp, Topology.TlsCertificates? tls = null)
    {
        var listener = new SentinelEventListener(epochTimestamp);
        foreach (var endpoint in sentinelEndpoints)
        {
            var options = new ConfigurationOptions
            {
                CommandMap = CommandMap.Sentinel,
                AbortOnConnectFail = false,
                ConnectTimeout = 2000,
                SyncTimeout = 2000,
                AsyncTimeout = 2000,
                EndPoints = { endpoint },
            };
            tls?.Configure(options);
            var mux = await ConnectionMultiplexer.ConnectAsync(options).ConfigureAwait(false);
            listener._connections.Add(mux);
            var subscriber = mux.GetSubscriber();
            foreach (var channel in Interesting)
            {
                await subscriber.SubscribeAsync(RedisChannel.Literal(channel), (ch, message) => listener.OnEvent(ch.ToString(), message.ToString())).ConfigureAwait(false);
            }
        }

        return listener;
    }

    /// <summary>Events so far, in time order.</summary>
    public IReadOnlyList<SentinelEvent> Events => _seen.Values.OrderBy(e => e.At).ToList();

    /// <summary>The first <c>+switch-master</c> at or after <paramref name="since"/>, if any.</summary>
    public SentinelEvent? FirstSwitchAfter(TimeSpan since) =>
        Events.FirstOrDefault(e => e.Channel == "+switch-master" && e.At >= since);

    public async ValueTask DisposeAsync()
    {
        foreach (var mux in _connections)
        {
            await mux.DisposeAsync().ConfigureAwait(false);
        }
    }

    private void OnEvent(string channel, string message)
    {
        // "+sdown master mymaster 127.0.0.1 6379" vs "+sdown sentinel ..." : keep master/replica level events
        if (channel is "+sdown" or "-sdown" && !message.StartsWith("master", StringComparison.Ordinal))
        {
            return;
        }

        var at = Stopwatch.GetElapsedTime(_epoch);
        _seen.TryAdd(channel + " " + message, new SentinelEvent(at, channel, message));
    }
}

/// <summary>A Sentinel event and when it was first seen (since the run's epoch).</summary>
internal sealed record SentinelEvent(TimeSpan At, string Channel, string Message);
