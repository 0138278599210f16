// NOTIFY's cost with N listening instances, on a throw-away loopback PostgreSQL (docs/scale.md).
// dotnet run -c Release --project benchmarks/Levee.NotifyCost -- [listeners...]   (default: 8 64)
// dotnet run -c Release --project benchmarks/Levee.NotifyCost -- pubsub-fanout [...]   the replicas' pub/sub instead (PubSubFanout.cs)
using System.Diagnostics;
using Levee;
using Levee.Drill.Topology;
using Levee.NotifyCost;
using Levee.PostgreSql;

if (args.Length > 0 && args[0] == "pubsub-fanout")
{
    return await PubSubFanout.RunAsync(args[1..]);
}

var listenerCounts = args.Length > 0 ? args.Select(int.Parse).ToArray() : [8, 64];
const int Sequential = 3000;
const int Concurrent = 20000;
const int Parallelism = 8;

await using var server = await PostgresServer.StartAsync(new PostgresOptions { MaxConnections = 200, PgStatStatements = false });
Console.WriteLine($"PostgreSQL {server.Endpoint}, {Environment.ProcessorCount} cores; payload: a 'product:NNNNN' removal ({NotifyBytes()} bytes)");
Console.WriteLine("listeners | sequential NOTIFY p50 / p99 (ms) | concurrent NOTIFY/s (8 senders) | delivered (all listeners) | delivery lag p99 (ms)");
foreach (var n in listenerCounts)
{
    var channel = "cost_" + n;
    var listeners = new List<PostgreSqlInvalidationChannel>();
    var received = 0L;
    var sentAt = new long[Sequential + Concurrent];
    var lags = new List<double>();
    var lagLock = new object();
    for (var i = 0; i < n; i++)
    {
        var l = new PostgreSqlInvalidationChannel(new LeveePostgreSqlOptions { ConnectionString = server.ConnectionString, Channel = channel });
        var first = i == 0;
        l.Subscribe(inv =>
        {
            Interlocked.Increment(ref received);
            if (first && inv.WallMs is { } id && id < sentAt.Length)
            {
                var lag = Stopwatch.GetElapsedTime(Volatile.Read(ref sentAt[id])).TotalMilliseconds;
                lock (lagLock) { lags.Add(lag); }
            }
        });
        listeners.Add(l);
    }

    while (listeners.Any(l => !l.IsListening))
    {
        await Task.Delay(20);
    }

    await using var sender = new PostgreSqlInvalidationChannel(new LeveePostgreSqlOptions { ConnectionString = server.ConnectionString, Channel = channel });
    var latencies = new double[Sequential];
    for (var i = 0; i < Sequential; i++)
    {
        var start = Stopwatch.GetTimestamp();
        Volatile.Write(ref sentAt[i], start);
        await sender.PublishAsync(Message(i));
        latencies[i] = Stopwatch.GetElapsedTime(start).TotalMilliseconds;
    }

    Array.Sort(latencies);
    var next = Sequential - 1;
    var watch = Stopwatch.StartNew();
    await Task.WhenAll(Enumerable.Range(0, Parallelism).Select(async _ =>
    {
        int i;
        while ((i = Interlocked.Increment(ref next)) < Sequential + Concurrent)
        {
            Volatile.Write(ref sentAt[i], Stopwatch.GetTimestamp());
            await sender.PublishAsync(Message(i));
        }
    }));
    var rate = Concurrent / watch.Elapsed.TotalSeconds;
    var expected = (long)n * (Sequential + Concurrent);
    var deadline = Stopwatch.StartNew();
    while (Interlocked.Read(ref received) < expected && deadline.Elapsed < TimeSpan.FromSeconds(60))
    {
        await Task.Delay(50);
    }

    double[] sortedLags;
    lock (lagLock) { sortedLags = [.. lags.Order()]; }
    Console.WriteLine($"{n,9} | {P(latencies, 0.50):F3} / {P(latencies, 0.99):F3} | {rate,10:F0} | {Interlocked.Read(ref received)} of {expected} | {P(sortedLags, 0.99):F1}");
    foreach (var l in listeners)
    {
        await l.DisposeAsync();
    }
}

return 0;

static double P(double[] sorted, double q) => sorted.Length == 0 ? double.NaN : sorted[Math.Min(sorted.Length - 1, (int)(q * sorted.Length))];

// the message's WallMs carries its index, to measure the delivery lag at one listener
static LeveeInvalidation Message(int i) => new()
{
    Kind = LeveeInvalidationKind.Remove, Subject = "product:" + (i % 100000).ToString("D5"), Sender = "0123456789abcdef0123456789abcdef", WallMs = i,
};

static int NotifyBytes() => System.Text.Encoding.UTF8.GetByteCount("1|R|0|12345|0123456789abcdef0123456789abcdef|product:12345");
