// What sharing a loaded value through the replicas' pub/sub costs with N listening instances (docs/scale.md):
// a throw-away loopback master + replica, the master frozen (degraded mode: Levee publishes on the replica),
// N subscribers on the replica, each its own ConnectionMultiplexer feeding its own LeveeCache.
// dotnet run -c Release --project benchmarks/Levee.NotifyCost -- pubsub-fanout
//   [--subscribers 1,8,16,32,64] [--sizes announce,200,1024,4096,16384] [--rate 200] [--seconds 6] [--no-levee-receiver]
//   [--stalled-seconds 30]   (0: skip the phase of a subscriber that stops reading until Redis drops it)
//   [--spread 16]            (0: skip the phase that checks which of two replicas the subscriptions land on)
using System.Diagnostics;
using System.Globalization;
using System.Net;
using System.Net.Sockets;
using System.Text;
using Levee.Drill.Topology;
using Levee.Internal;
using Levee.Serialization;
using StackExchange.Redis;

namespace Levee.NotifyCost;

internal static class PubSubFanout
{
    /// <summary>Keys the shared values cycle through ("product:00000".."product:00099").</summary>
    private const int Keys = 100;

    /// <summary>The announcement's size column ("L" message: no envelope).</summary>
    private const int Announce = 0;

    private static readonly TimeSpan DrainTimeout = TimeSpan.FromSeconds(5);

    private static readonly TimeSpan MonitorTimeout = TimeSpan.FromSeconds(10);

    public static async Task<int> RunAsync(string[] args)
    {
        int[] subscriberCounts = [1, 8, 16, 32, 64];
        int[] sizes = [Announce, 200, 1024, 4096, 16384];
        var rate = 200;
        var seconds = 6;
        var leveeReceiver = true;
        var stalledSeconds = 30;
        var spread = 16;
        for (var i = 0; i < args.Length; i++)
        {
            switch (args[i])
            {
                case "--subscribers":
                    subscriberCounts = [.. args[++i].Split(',').Select(int.Parse).Order()];
                    break;
                case "--sizes":
                    sizes = [.. args[++i].Split(',').Select(s => s == "announce" ? Announce : int.Parse(s))];
                    break;
                case "--rate":
                    rate = int.Parse(args[++i]);
                    break;
                case "--seconds":
                    seconds = int.Parse(args[++i]);
                    break;
                case "--no-levee-receiver":
                    leveeReceiver = false;
                    break;
                case "--stalled-seconds":
                    stalledSeconds = int.Parse(args[++i]);
                    break;
                case "--spread":
                    spread = int.Parse(args[++i]);
                    break;
                default:
                    Console.Error.WriteLine($"pubsub-fanout: unknown argument {args[i]}");
                    return 2;
            }
        }

        if (sizes.Any(s => s != Announce && (s < 30 || s > LeveeCache.SharedValueMaxBytes)))
        {
            Console.Error.WriteLine($"pubsub-fanout: a value size is an envelope of 30..{LeveeCache.SharedValueMaxBytes} bytes (Levee shares no larger one)");
            return 2;
        }

        var watch = Stopwatch.StartNew();
        var options = new LeveeOptions();
        var channel = options.KeyPrefix + "backplane:r"; // LeveeCache.ReplicaBackplaneChannel
        SelfCheck(options);

        await using var host = new ProcessHost();
        var master = await host.StartRedisAsync("master");
        var replica = await host.StartRedisAsync("replica", [$"replicaof 127.0.0.1 {master.Port}"]);
        await WaitForLinkAsync(replica);
        master.Freeze(); // degraded mode: the master answers nothing, Levee publishes on the replicas (and thaws it at the end)

        var version = (await replica.ExecuteAsync("INFO", "server")).Text!.Split('\n').First(l => l.StartsWith("redis_version:", StringComparison.Ordinal)).Trim();
        Console.WriteLine($"pubsub-fanout: master {master.Endpoint} (pid {master.Pid}, frozen), replica {replica.Endpoint} (pid {replica.Pid}), {version}; "
            + $"{Environment.ProcessorCount} cores; channel {channel}; {rate} messages/s for {seconds} s per row; receivers: {(leveeReceiver ? "LeveeCache.OnBackplaneMessage" : "count only")}");
        Console.WriteLine($"load average at start: {LoadAverage()}");

        var subscribers = new List<Subscriber>();
        var notes = new List<string>();
        try
        {
            var publisherMux = await ConnectionMultiplexer.ConnectAsync(Options(replica, "levee-fanout-publisher"));
            subscribers.Capacity = subscriberCounts.Max();
            Console.WriteLine();
            Console.WriteLine("| subscribers | message | bytes per delivery (RESP) | published | lost | delivery p50 / p99 / max (ms) | send lag p99 (ms) | redis CPU per 1,000 deliveries (ms) | redis CPU per message (µs) | redis CPU (%) | redis bytes out per delivery | PUBLISH in redis (µs) | PUBLISH round trip p50 / p99 (ms) | largest output buffer (KB) | harness CPU per 1,000 deliveries (ms) | load 1 min |");
            Console.WriteLine("|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|");
            foreach (var n in subscriberCounts)
            {
                while (subscribers.Count < n)
                {
                    subscribers.Add(await Subscriber.StartAsync(subscribers.Count, replica, channel, options, leveeReceiver));
                }

                // what the replica spends with n idle subscribers connected (included in every row's CPU figure)
                await Task.Delay(300);
                var (idleBefore, _) = await InfoAsync(replica);
                await Task.Delay(1000);
                var (idleAfter, _) = await InfoAsync(replica);
                notes.Add(string.Create(CultureInfo.InvariantCulture, $"{n} subscribers idle: redis CPU {(Cpu(idleAfter) - Cpu(idleBefore)) * 1000:F1} ms in 1 s"));

                if (n == subscriberCounts[0])
                {
                    await MeasureAsync(replica, publisherMux, channel, subscribers, sizes.Max(), rate, 2); // warm-up (JIT, connections), not shown
                }

                foreach (var size in sizes)
                {
                    var row = await MeasureAsync(replica, publisherMux, channel, subscribers, size, rate, seconds);
                    Console.WriteLine(row);
                }
            }

            foreach (var s in subscribers)
            {
                await s.DisposeAsync();
            }

            subscribers.Clear();
            if (stalledSeconds > 0)
            {
                notes.Add(await StalledAsync(replica, publisherMux, channel, sizes.Max(), rate, stalledSeconds));
            }

            await publisherMux.DisposeAsync();
            if (spread > 0)
            {
                notes.Add(await SpreadAsync(host, master, replica, channel, spread));
            }
        }
        finally
        {
            foreach (var s in subscribers)
            {
                await s.DisposeAsync();
            }

            master.Thaw();
        }

        Console.WriteLine();
        foreach (var note in notes)
        {
            Console.WriteLine(note);
        }

        Console.WriteLine($"load average at end: {LoadAverage()}; {watch.Elapsed.TotalSeconds:F0} s in all");
        return 0;
    }

    /// <summary>One row: <paramref name="rate"/> messages/s of one size for <paramref name="seconds"/>, open loop, to every subscriber.</summary>
    private static async Task<string> MeasureAsync(RedisNode replica, ConnectionMultiplexer publisherMux, string channel, List<Subscriber> subscribers,
        int size, int rate, int seconds)
    {
        var n = subscribers.Count;
        var count = rate * seconds;
        var nowWall = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        var messages = new Messages(size, nowWall);
        var period = Stopwatch.Frequency / (double)rate;
        var cell = new Cell(n, count, nowWall, period);
        var server = publisherMux.GetServers().Single(s => s.IsConnected);

        await Task.Delay(300); // the previous row's tail leaves the buffers and the CPU
        var monitorBytes = 0L;
        var (before, beforeBytes) = await InfoAsync(replica);
        monitorBytes += beforeBytes;
        var ticksBefore = ProcTicks(replica.Pid);
        var harnessBefore = HarnessCpu();
        foreach (var s in subscribers)
        {
            s.Cell = cell;
        }

        var publishes = new Task[count];
        var start = Stopwatch.GetTimestamp() + Stopwatch.Frequency / 20;
        cell.Start = start;
        using var sampling = new CancellationTokenSource();
        var sampler = SampleOutputBuffersAsync(replica, sampling.Token);
        var published = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var publisher = new Thread(() =>
        {
            for (var i = 0; i < count; i++)
            {
                var due = start + (long)(i * period);
                while (Stopwatch.GetTimestamp() < due)
                {
                    Thread.Sleep(1); // open loop: each message has its time; a late one is sent at once, and its lateness counts
                }

                var message = messages.For(i, nowWall + i);
                var sent = Stopwatch.GetTimestamp();
                cell.SendLag[i] = sent - due;
                publishes[i] = PublishAsync(server, channel, message, cell, i, sent);
            }

            published.SetResult();
        }) { IsBackground = true, Name = "fanout-publisher" };
        publisher.Start();
        await published.Task;
        await Task.WhenAll(publishes);
        await sampling.CancelAsync();
        var (peakOutput, samplerBytes) = await sampler;
        monitorBytes += samplerBytes;

        var expected = cell.Delivered();
        var drain = Stopwatch.StartNew();
        while (cell.ReceivedTotal() < expected && drain.Elapsed < DrainTimeout)
        {
            await Task.Delay(20);
        }

        var elapsed = Stopwatch.GetElapsedTime(start);
        var (after, _) = await InfoAsync(replica);
        var ticksAfter = ProcTicks(replica.Pid);
        var harnessAfter = HarnessCpu();
        foreach (var s in subscribers)
        {
            s.Cell = null;
        }

        var received = cell.ReceivedTotal();
        var lost = expected - received;
        var cpuMs = (Cpu(after) - Cpu(before)) * 1000;
        var procCpuMs = (ticksAfter - ticksBefore) * 10.0; // CLK_TCK 100
        var outBytes = Num(after, "total_net_output_bytes") - Num(before, "total_net_output_bytes") - monitorBytes;
        var (calls, usec) = (PublishStat(after).Calls - PublishStat(before).Calls, PublishStat(after).Usec - PublishStat(before).Usec);
        var latencies = cell.Latencies();
        var lags = cell.SendLag.Select(Ms).Order().ToArray();
        var rtts = cell.RoundTrips.Where(t => t > 0).Select(Ms).Order().ToArray();
        var delivered = Math.Max(1, received);
        var perDelivery = RespPushBytes(channel, messages.Length);
        var receiverNote = cell.MinReceivers == n && cell.MaxReceivers == n ? "" : $" (PUBLISH said {cell.MinReceivers}..{cell.MaxReceivers} receivers)";
        return string.Create(CultureInfo.InvariantCulture,
            $"| {n} | {messages.Name} ({messages.Length} B){receiverNote} | {perDelivery} | {cell.Published}{(cell.Failed > 0 ? $" ({cell.Failed} failed)" : "")} | {lost} | "
            + $"{P(latencies, 0.50):F2} / {P(latencies, 0.99):F2} / {(latencies.Length > 0 ? latencies[^1] : double.NaN):F1} | {P(lags, 0.99):F2} | "
            + $"{cpuMs * 1000 / delivered:F1} (/proc: {procCpuMs * 1000 / delivered:F0}) | {cpuMs * 1000 / Math.Max(1, cell.Published):F0} | {cpuMs / elapsed.TotalMilliseconds * 100:F1} | {outBytes / (double)delivered:F0} | "
            + $"{(calls > 0 ? usec / (double)calls : double.NaN):F1} | {P(rtts, 0.50):F2} / {P(rtts, 0.99):F2} | {peakOutput / 1024.0:F0} | "
            + $"{(harnessAfter - harnessBefore).TotalMilliseconds * 1000 / delivered:F0} | {LoadAverage().Split(' ')[0]} |");
    }

    /// <summary>
    /// A subscriber that stops reading (a frozen or CPU-starved instance): one raw connection SUBSCRIBEs and never reads
    /// again, alone on the channel. Messages are published as in a row until Redis drops it (PUBLISH answers 0 receivers)
    /// or <paramref name="seconds"/> pass; returns what happened (client-output-buffer-limit pubsub, default 32mb 8mb 60).
    /// </summary>
    private static async Task<string> StalledAsync(RedisNode replica, ConnectionMultiplexer publisherMux, string channel, int size, int rate, int seconds)
    {
        var limit = (await replica.ExecuteAsync("CONFIG", "GET", "client-output-buffer-limit")).Items.Select(i => i.Text).LastOrDefault() ?? "?";
        using var socket = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        await socket.ConnectAsync(IPAddress.Loopback, replica.Port);
        var name = "levee-fanout-stalled";
        await socket.SendAsync(Encoding.ASCII.GetBytes(
            $"*3\r\n$6\r\nCLIENT\r\n$7\r\nSETNAME\r\n${name.Length}\r\n{name}\r\n*2\r\n$9\r\nSUBSCRIBE\r\n${channel.Length}\r\n{channel}\r\n"));
        var reply = new byte[256];
        await socket.ReceiveAsync(reply); // +OK and the subscribe confirmation: the last read of this connection
        await Task.Delay(200);

        var nowWall = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        var messages = new Messages(size, nowWall);
        var server = publisherMux.GetServers().Single(s => s.IsConnected);
        var start = Stopwatch.GetTimestamp();
        long peak = 0;
        var sent = 0;
        double? droppedAfter = null;
        while (droppedAfter is null && Stopwatch.GetElapsedTime(start) < TimeSpan.FromSeconds(seconds))
        {
            var due = (long)(sent * Stopwatch.Frequency / (double)rate);
            var wait = due - (Stopwatch.GetTimestamp() - start);
            if (wait > 0)
            {
                await Task.Delay(TimeSpan.FromTicks(Math.Max(1, wait * TimeSpan.TicksPerSecond / Stopwatch.Frequency)));
                continue;
            }

            var receivers = (long)await server.ExecuteAsync("PUBLISH", channel, messages.For(sent, nowWall + sent));
            sent++;
            if (receivers == 0)
            {
                droppedAfter = Stopwatch.GetElapsedTime(start).TotalSeconds;
            }
            else if (sent % (rate / 4 + 1) == 0)
            {
                var list = (await replica.ExecuteAsync(MonitorTimeout, ["CLIENT", "LIST", "TYPE", "pubsub"])).Text ?? "";
                foreach (var field in list.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
                {
                    if (field.StartsWith("omem=", StringComparison.Ordinal))
                    {
                        peak = Math.Max(peak, long.Parse(field.AsSpan(5), CultureInfo.InvariantCulture));
                    }
                }
            }
        }

        var bytes = (double)sent * messages.Length / (1024 * 1024);
        var what = string.Create(CultureInfo.InvariantCulture, $"stalled subscriber ({messages.Name}, {rate}/s, limit '{limit}'): ");
        return droppedAfter is { } after
            ? what + string.Create(CultureInfo.InvariantCulture,
                $"disconnected by Redis after {after:F1} s and {sent} messages ({bytes:F1} MiB published to it; largest output buffer seen {peak / (1024.0 * 1024):F1} MiB, the rest in socket buffers)")
            : what + string.Create(CultureInfo.InvariantCulture,
                $"still connected after {seconds} s and {sent} messages ({bytes:F1} MiB published to it); largest output buffer seen {peak / (1024.0 * 1024):F1} MiB");
    }

    /// <summary>
    /// Where the instances' subscriptions land with two replicas: a second replica is started (the master thawed for its
    /// sync, then frozen again), <paramref name="count"/> multiplexers are given both replicas' endpoints (as Levee's
    /// replicas' connection is, SentinelWatch.DataOptions) and subscribe; PUBSUB NUMSUB on each replica says which one
    /// each subscription went to. Then one message is published on both (as RedisL2Store.PublishToReplicasAsync does).
    /// </summary>
    private static async Task<string> SpreadAsync(ProcessHost host, RedisNode master, RedisNode first, string channel, int count)
    {
        master.Thaw();
        var second = await host.StartRedisAsync("replica-2", [$"replicaof 127.0.0.1 {master.Port}"]);
        await WaitForLinkAsync(second);
        master.Freeze();
        var muxes = new List<ConnectionMultiplexer>();
        var received = 0;
        try
        {
            for (var i = 0; i < count; i++)
            {
                var options = new ConfigurationOptions
                {
                    EndPoints = { first.Endpoint, second.Endpoint }, AbortOnConnectFail = false, ClientName = "levee-fanout-spread-" + i.ToString(CultureInfo.InvariantCulture),
                };
                var mux = await ConnectionMultiplexer.ConnectAsync(options);
                muxes.Add(mux);
                await mux.GetSubscriber().SubscribeAsync(RedisChannel.Literal(channel), (_, _) => Interlocked.Increment(ref received));
            }

            var onFirst = await CountSubscribersAsync(first, channel);
            var onSecond = await CountSubscribersAsync(second, channel);
            var publisher = muxes[0];
            long answered = 0;
            foreach (var server in publisher.GetServers().Where(s => s.IsConnected))
            {
                answered += (long)await server.ExecuteAsync("PUBLISH", channel, "spread-check");
            }

            var deadline = Stopwatch.StartNew();
            while (Volatile.Read(ref received) < count && deadline.Elapsed < TimeSpan.FromSeconds(5))
            {
                await Task.Delay(20);
            }

            return string.Create(CultureInfo.InvariantCulture,
                $"two replicas, {count} multiplexers given both endpoints: {onFirst} subscriptions on {first.Name} ({first.Endpoint}), {onSecond} on {second.Name} ({second.Endpoint}); "
                + $"one message published on both reached {Volatile.Read(ref received)} of {count} subscribers (PUBLISH answered {answered} receivers in all)");
        }
        finally
        {
            foreach (var mux in muxes)
            {
                await mux.DisposeAsync();
            }
        }
    }

    /// <summary>Subscribers of <paramref name="channel"/> on one node (PUBSUB NUMSUB: every StackExchange.Redis connection
    /// is a pub/sub client anyway, subscribed to its own configuration channel).</summary>
    private static async Task<long> CountSubscribersAsync(RedisNode node, string channel)
    {
        var reply = await node.ExecuteAsync(MonitorTimeout, ["PUBSUB", "NUMSUB", channel], CancellationToken.None);
        return reply.Items.Count == 2 ? reply.Items[1].Number : -1;
    }

    private static async Task PublishAsync(IServer server, string channel, string message, Cell cell, int i, long sent)
    {
        try
        {
            // exactly Levee's call (RedisL2Store.PublishToReplicasAsync): PUBLISH on the replica's server
            var receivers = (long)await server.ExecuteAsync("PUBLISH", channel, message);
            cell.RoundTrips[i] = Stopwatch.GetTimestamp() - sent;
            cell.Published1((int)receivers);
        }
        catch (Exception ex) when (ex is RedisException or TimeoutException)
        {
            cell.Fail();
        }
    }

    /// <summary>
    /// Feeds Levee's own receiver one announcement and one value as the harness builds them: they must be kept, or the
    /// harness no longer sends what <c>LeveeCache.BackplaneMessage</c> sends.
    /// </summary>
    private static void SelfCheck(LeveeOptions options)
    {
        using var cache = NewReceiver(options);
        var wall = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
        cache.OnBackplaneMessage(new Messages(Announce, wall).For(7, wall));
        var announced = cache.PendingLoadsElsewhere;
        cache.OnBackplaneMessage(new Messages(1024, wall).For(7, wall));
        if (announced != 1 || cache.SharedCount != 1 || cache.PendingLoadsElsewhere != 0)
        {
            throw new InvalidOperationException($"Levee's receiver did not take the harness's messages (announced {announced}, kept {cache.SharedCount}): "
                + "the format drifted from LeveeCache.BackplaneMessage");
        }
    }

    private static LeveeCache NewReceiver(LeveeOptions options) =>
        new(options, null, new SerializerRegistry(null, null, options.JsonSerializerOptions), null, null);

    private static ConfigurationOptions Options(RedisNode node, string name) =>
        new() { EndPoints = { node.Endpoint }, AbortOnConnectFail = false, ClientName = name };

    private static async Task WaitForLinkAsync(RedisNode replica)
    {
        var deadline = Stopwatch.StartNew();
        while (!(await replica.ExecuteAsync("INFO", "replication")).Text!.Contains("master_link_status:up", StringComparison.Ordinal))
        {
            if (deadline.Elapsed > TimeSpan.FromSeconds(20))
            {
                throw new TimeoutException($"replica {replica.Endpoint} not linked to its master after 20 s (log {replica.LogFile})");
            }

            await Task.Delay(50);
        }
    }

    /// <summary>The INFO sections read per row, and the bytes its reply put on the wire (taken out of the replica's output count).</summary>
    private static async Task<(Dictionary<string, string> Info, long ReplyBytes)> InfoAsync(RedisNode node)
    {
        var text = (await node.ExecuteAsync(MonitorTimeout, ["INFO", "cpu", "stats", "commandstats"])).Text!;
        var info = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in text.Split('\n'))
        {
            var colon = line.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0)
            {
                info[line[..colon]] = line[(colon + 1)..].Trim();
            }
        }

        return (info, BulkBytes(text));
    }

    /// <summary>The largest output buffer of a pub/sub client (CLIENT LIST's omem), sampled 4 times a second.</summary>
    private static async Task<(long Peak, long ReplyBytes)> SampleOutputBuffersAsync(RedisNode node, CancellationToken stop)
    {
        long peak = 0, bytes = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(250, stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            string text;
            try
            {
                text = (await node.ExecuteAsync(MonitorTimeout, ["CLIENT", "LIST", "TYPE", "pubsub"], CancellationToken.None)).Text ?? "";
            }
            catch (Exception ex) when (ex is TimeoutException or IOException)
            {
                continue; // a busy server: this sample is missed, the row goes on
            }

            bytes += BulkBytes(text);
            foreach (var field in text.Split([' ', '\n'], StringSplitOptions.RemoveEmptyEntries))
            {
                if (field.StartsWith("omem=", StringComparison.Ordinal))
                {
                    peak = Math.Max(peak, long.Parse(field.AsSpan(5), CultureInfo.InvariantCulture));
                }
            }
        }

        return (peak, bytes);
    }

    private static long BulkBytes(string text)
    {
        var length = Encoding.UTF8.GetByteCount(text);
        return length + length.ToString(CultureInfo.InvariantCulture).Length + 5; // $len\r\n ... \r\n
    }

    /// <summary>What Redis writes to a subscriber per message: the RESP push <c>message</c>, channel, payload.</summary>
    private static int RespPushBytes(string channel, int messageBytes) =>
        4 + 13 + Bulk(Encoding.UTF8.GetByteCount(channel)) + Bulk(messageBytes);

    private static int Bulk(int length) => 1 + length.ToString(CultureInfo.InvariantCulture).Length + 2 + length + 2;

    private static double Cpu(Dictionary<string, string> info) =>
        double.Parse(info["used_cpu_sys"], CultureInfo.InvariantCulture) + double.Parse(info["used_cpu_user"], CultureInfo.InvariantCulture);

    private static long Num(Dictionary<string, string> info, string name) => long.Parse(info[name], CultureInfo.InvariantCulture);

    private static (long Calls, long Usec) PublishStat(Dictionary<string, string> info)
    {
        if (!info.TryGetValue("cmdstat_publish", out var stat))
        {
            return (0, 0);
        }

        long calls = 0, usec = 0;
        foreach (var part in stat.Split(','))
        {
            if (part.StartsWith("calls=", StringComparison.Ordinal))
            {
                calls = long.Parse(part.AsSpan(6), CultureInfo.InvariantCulture);
            }
            else if (part.StartsWith("usec=", StringComparison.Ordinal))
            {
                usec = long.Parse(part.AsSpan(5), CultureInfo.InvariantCulture);
            }
        }

        return (calls, usec);
    }

    /// <summary>utime + stime of a process, in clock ticks (/proc/PID/stat fields 14 and 15).</summary>
    private static long ProcTicks(int pid)
    {
        var stat = File.ReadAllText($"/proc/{pid}/stat");
        var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
        return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture);
    }

    private static TimeSpan HarnessCpu()
    {
        using var self = Process.GetCurrentProcess();
        return self.TotalProcessorTime;
    }

    private static string LoadAverage() => string.Join(' ', File.ReadAllText("/proc/loadavg").Split(' ').Take(3));

    private static double Ms(long ticks) => ticks * 1000.0 / Stopwatch.Frequency;

    private static double P(double[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

    /// <summary>
    /// Levee's two degraded-mode messages, byte for byte as <c>LeveeCache.BackplaneMessage</c> writes them:
    /// <c>&lt;instance&gt;|L|&lt;wall&gt;|&lt;key&gt;</c> (a load starts) and <c>&lt;instance&gt;|V|&lt;wall&gt;|&lt;base64 envelope&gt;|&lt;key&gt;</c>
    /// (its value, <see cref="Envelope"/> as it would have been written to Redis). The wall field carries the row's
    /// start plus the message's index (a wall time in ms like Levee's, 13 digits): the receiver finds when it was due.
    /// </summary>
    private sealed class Messages
    {
        private readonly string _sender = Guid.NewGuid().ToString("N");
        private readonly string[] _subjects = new string[Keys];
        private readonly char _kind;

        public Messages(int size, long createdWall)
        {
            _kind = size == Announce ? 'L' : 'V';
            Name = size == Announce ? "announce" : size.ToString(CultureInfo.InvariantCulture) + " B value";
            for (var k = 0; k < Keys; k++)
            {
                var key = WireKey.Encode("product:" + k.ToString("D5", CultureInfo.InvariantCulture));
                if (size == Announce)
                {
                    _subjects[k] = key;
                    continue;
                }

                // a JSON-like payload filling the envelope to `size` bytes (header 22 + payload length 4, no tags)
                var payload = new byte[size - 26];
                var json = Encoding.UTF8.GetBytes($"{{\"id\":{k},\"name\":\"product {k}\",\"description\":\"");
                payload.AsSpan().Fill((byte)'x');
                json.AsSpan(0, Math.Min(json.Length, payload.Length)).CopyTo(payload);
                payload[^2] = (byte)'"';
                payload[^1] = (byte)'}';
                var envelope = Envelope.Write(createdWall, createdWall + 300_000, null, payload);
                _subjects[k] = string.Concat(Convert.ToBase64String(envelope), "|", key);
            }

            Length = Encoding.UTF8.GetByteCount(For(0, createdWall));
        }

        public string Name { get; }

        /// <summary>Bytes of one message (the PUBLISH payload).</summary>
        public int Length { get; }

        public string For(int i, long wall) =>
            string.Create(CultureInfo.InvariantCulture, $"{_sender}|{_kind}|{wall}|{_subjects[i % Keys]}");

        /// <summary>The index a message carries in its wall field, or -1 when it is not one of this row's.</summary>
        public static int Index(string message, long rowWall, int count)
        {
            var first = message.IndexOf('|', StringComparison.Ordinal);
            var second = first < 0 ? -1 : message.IndexOf('|', first + 1);
            var third = second < 0 ? -1 : message.IndexOf('|', second + 1);
            if (third < 0 || !long.TryParse(message.AsSpan(second + 1, third - second - 1), NumberStyles.None, CultureInfo.InvariantCulture, out var wall))
            {
                return -1;
            }

            var i = wall - rowWall;
            return i >= 0 && i < count ? (int)i : -1;
        }
    }

    /// <summary>One row's records: when each message was due, what each subscriber received and when.</summary>
    private sealed class Cell
    {
        private readonly int _subscribers;
        private readonly int _count;
        private readonly long _wall;
        private readonly double _period;
        private readonly long[] _latencies;
        private readonly int[] _received;
        private int _next = -1;
        private int _published;
        private int _failed;
        private int _minReceivers = int.MaxValue;
        private int _maxReceivers = int.MinValue;

        public Cell(int subscribers, int count, long wall, double period)
        {
            _subscribers = subscribers;
            _count = count;
            _wall = wall;
            _period = period;
            _latencies = new long[(long)subscribers * count];
            _received = new int[subscribers];
            SendLag = new long[count];
            RoundTrips = new long[count];
        }

        public long Start { get; set; }

        public long[] SendLag { get; }

        public long[] RoundTrips { get; }

        public int Published => Volatile.Read(ref _published);

        public int Failed => Volatile.Read(ref _failed);

        public int MinReceivers => Volatile.Read(ref _minReceivers);

        public int MaxReceivers => Volatile.Read(ref _maxReceivers);

        public void Fail() => Interlocked.Increment(ref _failed);

        /// <summary>A PUBLISH answered: the number of subscribers Redis delivered it to.</summary>
        public void Published1(int receivers)
        {
            Interlocked.Increment(ref _published);
            int seen;
            while (receivers < (seen = Volatile.Read(ref _minReceivers)) && Interlocked.CompareExchange(ref _minReceivers, receivers, seen) != seen)
            {
            }

            while (receivers > (seen = Volatile.Read(ref _maxReceivers)) && Interlocked.CompareExchange(ref _maxReceivers, receivers, seen) != seen)
            {
            }
        }

        /// <summary>Deliveries expected: every published message to every subscriber.</summary>
        public long Delivered() => (long)Published * _subscribers;

        public long ReceivedTotal()
        {
            long total = 0;
            for (var s = 0; s < _received.Length; s++)
            {
                total += Volatile.Read(ref _received[s]);
            }

            return total;
        }

        public void Receive(int subscriber, string message, long at)
        {
            var i = Messages.Index(message, _wall, _count);
            if (i < 0)
            {
                return; // a late message of an earlier row
            }

            Interlocked.Increment(ref _received[subscriber]);
            var slot = Interlocked.Increment(ref _next);
            if (slot < _latencies.Length)
            {
                _latencies[slot] = at - (Start + (long)(i * _period));
            }
        }

        public double[] Latencies()
        {
            var filled = Math.Min(Volatile.Read(ref _next) + 1, _latencies.Length);
            return [.. _latencies.AsSpan(0, filled).ToArray().Select(Ms).Order()];
        }
    }

    /// <summary>One listening instance: its own multiplexer subscribed on the replica (as RedisConnection.SubscribeAsync does), feeding its own LeveeCache.</summary>
    private sealed class Subscriber : IAsyncDisposable
    {
        private readonly ConnectionMultiplexer _mux;
        private readonly LeveeCache? _cache;

        private Subscriber(ConnectionMultiplexer mux, LeveeCache? cache)
        {
            _mux = mux;
            _cache = cache;
        }

        private volatile Cell? _cell;

        public Cell? Cell
        {
            get => _cell;
            set => _cell = value;
        }

        public static async Task<Subscriber> StartAsync(int index, RedisNode replica, string channel, LeveeOptions options, bool leveeReceiver)
        {
            var mux = await ConnectionMultiplexer.ConnectAsync(Options(replica, "levee-fanout-" + index.ToString(CultureInfo.InvariantCulture)));
            var subscriber = new Subscriber(mux, leveeReceiver ? NewReceiver(options) : null);
            await mux.GetSubscriber().SubscribeAsync(RedisChannel.Literal(channel), (_, message) =>
            {
                if (message.HasValue)
                {
                    subscriber.OnMessage(index, message!);
                }
            });
            return subscriber;
        }

        private void OnMessage(int index, string message)
        {
            var at = Stopwatch.GetTimestamp();
            Cell?.Receive(index, message, at);
            _cache?.OnBackplaneMessage(message); // what an instance does with it: decode, check, keep (LeveeCache.Degraded.cs)
        }

        public async ValueTask DisposeAsync()
        {
            await _mux.DisposeAsync();
            if (_cache is not null)
            {
                await _cache.DisposeAsync();
            }
        }
    }
}
