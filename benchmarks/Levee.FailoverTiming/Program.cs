// Measures, on real processes, how long after a Redis master fault each client's writes land on the new master.
// Topology: 1 master + 2 replicas + 3 Sentinels, quorum 2, down-after-milliseconds 2000 (loopback).
// Each client writes a new key every 20 ms through its normal API; a write "lands" when the key is readable
// directly on the node the Sentinels promoted. Reported per client: seconds from the fault to the first landed
// write, and from the Sentinels' switch (first Sentinel answering the new address) to that write.
// A write counts when the caller saw it succeed (its completion time), so a write parked in a client's backlog
// and replayed on the new master counts when it completed, not when it started.
// Usage: dotnet run -c Release --project benchmarks/Levee.FailoverTiming [-- --rounds N]
//
// With --measure new-instance-read (issue 17): the same topology and faults, but what is measured is whether a NEW
// instance reads a value an OLD one wrote. Before the fault, 5 times: the old instance (built and warmed before the
// fault) writes a key with SetAsync, then a newly built instance (its own cache, empty L1, new connections) reads it
// with GetOrCreateAsync (a factory call is a miss). After the Sentinels name the new master: the old instance writes
// a new key every 100 ms and after each write a newly built instance reads it; reported is the first read that returned
// the written value, in seconds after the fault and after the switch, and how many new instances missed before it.
// Usage: dotnet run -c Release --project benchmarks/Levee.FailoverTiming -- --rounds 3 --measure new-instance-read
using System.Collections.Concurrent;
using System.Diagnostics;
using Levee;
using Levee.Drill.Topology;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;

string? Arg(string name) => Array.IndexOf(args, name) is var i and >= 0 && i + 1 < args.Length ? args[i + 1] : null;
var scenarios = new[] { "master-killed", "master-frozen" };
var clientNames = new[] { "levee", "hybridcache", "fusioncache" };

var newInstanceRead = Arg("--measure") == "new-instance-read";
if (Arg("--client") is { } onlyClient && Arg("--scenario") is { } onlyScenario)
{
    // child process: one client, one scenario, one fresh topology (clients never share a process: one client's
    // blocking calls must not starve another's thread pool)
    if (newInstanceRead)
    {
        var n = await NewInstanceRead.RunAsync(onlyScenario, onlyClient);
        Console.WriteLine(FormattableString.Invariant($"RESULT\t{onlyScenario}\t{onlyClient}\t{n.FromFault}\t{n.FromSwitch}\t{n.MissesAfterSwitch}\t{n.BeforeFaultHits}/{n.BeforeFaultTries}"));
        return;
    }

    var r = await RunAsync(onlyScenario, onlyClient);
    Console.WriteLine(FormattableString.Invariant($"RESULT\t{onlyScenario}\t{r.Client}\t{r.FromFault}\t{r.FromSwitch}"));
    return;
}

var rounds = int.Parse(Arg("--rounds") ?? "1", System.Globalization.CultureInfo.InvariantCulture);
var results = new List<(string Scenario, string Client, double? FromFault, double? FromSwitch, string Misses, string BeforeFault)>();
foreach (var scenario in scenarios)
{
    for (var round = 0; round < rounds; round++)
    {
        foreach (var client in clientNames)
        {
            var psi = new ProcessStartInfo(Environment.ProcessPath!) { RedirectStandardOutput = true };
            psi.ArgumentList.Add(typeof(StderrLoggerFactory).Assembly.Location);
            foreach (var a in new[] { "--client", client, "--scenario", scenario })
            {
                psi.ArgumentList.Add(a);
            }

            if (newInstanceRead)
            {
                psi.ArgumentList.Add("--measure");
                psi.ArgumentList.Add("new-instance-read");
            }

            using var child = Process.Start(psi)!;
            var output = await child.StandardOutput.ReadToEndAsync();
            await child.WaitForExitAsync();
            var line = output.Split('\n').FirstOrDefault(l => l.StartsWith("RESULT\t", StringComparison.Ordinal));
            if (line is null)
            {
                Console.Error.WriteLine($"{scenario}/{client}: no result (exit {child.ExitCode})");
                continue;
            }

            var f = line.Trim().Split('\t');
            double? Parse(string v) => double.TryParse(v, System.Globalization.NumberStyles.Float, System.Globalization.CultureInfo.InvariantCulture, out var d) ? d : null;
            results.Add((f[1], f[2], Parse(f[3]), Parse(f[4]), f.Length > 5 ? f[5] : "", f.Length > 6 ? f[6] : ""));
            Console.Error.WriteLine(line.Trim());
        }
    }
}

Console.WriteLine();
if (newInstanceRead)
{
    Console.WriteLine("| scenario | client | before the fault: new instances that read the old one's value | fault → first read by a new instance of a value written by an old one (s) | Sentinel switch → that read (s) | new instances that missed after the switch, before it |");
    Console.WriteLine("|---|---|---|---|---|---|");
    foreach (var group in results.GroupBy(r => (r.Scenario, r.Client)))
    {
        static string F(double? v) => v is null ? "none in 30 s" : v.Value.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture);
        Console.WriteLine($"| {group.Key.Scenario} | {group.Key.Client} | {string.Join(" / ", group.Select(g => g.BeforeFault))} | {string.Join(" / ", group.Select(g => F(g.FromFault)))} | {string.Join(" / ", group.Select(g => F(g.FromSwitch)))} | {string.Join(" / ", group.Select(g => g.Misses))} |");
    }

    return;
}

Console.WriteLine("| scenario | client | fault → first write on new master (s) | Sentinel switch → first write (s) |");
Console.WriteLine("|---|---|---|---|");
foreach (var group in results.GroupBy(r => (r.Scenario, r.Client)))
{
    string Fmt(IEnumerable<double?> values)
    {
        var list = values.ToList();
        return string.Join(" / ", list.Select(v => v is null ? "none in 30 s" : v.Value.ToString("0.00", System.Globalization.CultureInfo.InvariantCulture)));
    }

    Console.WriteLine($"| {group.Key.Scenario} | {group.Key.Client} | {Fmt(group.Select(g => g.FromFault))} | {Fmt(group.Select(g => g.FromSwitch))} |");
}

static async Task<(string Client, double? FromFault, double? FromSwitch)> RunAsync(string scenario, string only)
{
    await using var topology = await SentinelTopology.StartAsync();
    var cs = topology.ConnectionString;
    var clients = new List<(string Name, Func<string, Task> Write, IAsyncDisposable Owner)>();

    // Only the measured client is built: a client that is built and disposed can leave connections behind (the
    // FusionCache backplane's Sentinel-mode multiplexer did, and its synchronous failover handling then blocked a
    // thread-pool thread of this process for seconds, which showed as a stall of the measured client).
    if (only == "levee")
    {
        var leveeCollection = new ServiceCollection().AddLevee(o => o.Redis = cs);
        if (Environment.GetEnvironmentVariable("LEVEE_DEBUG") == "1")
        {
            leveeCollection.AddSingleton<Microsoft.Extensions.Logging.ILoggerFactory>(new StderrLoggerFactory());
        }

        var leveeServices = leveeCollection.BuildServiceProvider();
        var levee = leveeServices.GetRequiredService<LeveeCache>();
        clients.Add(("levee", k => levee.SetAsync(k, 1, new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(5) }).AsTask(), leveeServices));
    }
    else if (only == "hybridcache")
    {
        var hybridServices = new ServiceCollection();
        hybridServices.AddStackExchangeRedisCache(o => o.Configuration = cs);
        hybridServices.AddHybridCache();
        var hybridProvider = hybridServices.BuildServiceProvider();
        var hybrid = hybridProvider.GetRequiredService<HybridCache>();
        clients.Add(("hybridcache", k => hybrid.SetAsync(k, 1).AsTask(), hybridProvider));
    }
    else if (only == "fusioncache")
    {
        var fusionServices = NewInstanceRead.AddResilientFusionCache(new ServiceCollection(), cs);
        var fusionProvider = fusionServices.BuildServiceProvider();
        var fusion = fusionProvider.GetRequiredService<IFusionCache>();
        clients.Add(("fusioncache", k => fusion.SetAsync(k, 1).AsTask(), fusionProvider));
    }
    else
    {
        throw new ArgumentException($"unknown client '{only}' (levee, hybridcache, fusioncache)");
    }

    // warm up: the client writes successfully before the fault
    foreach (var (name, write, _) in clients)
    {
        var ok = false;
        for (var i = 0; i < 200 && !ok; i++)
        {
            try
            {
                var key = $"warm:{Guid.NewGuid():N}";
                await write(key);
                ok = (await topology.Master.ExecuteAsync("KEYS", "*" + key + "*")).Items.Count > 0;
            }
            catch
            {
            }

            if (!ok)
            {
                await Task.Delay(50);
            }
        }

        Console.Error.WriteLine($"{scenario}: {name} warm: {ok}");
    }

    var clock = Stopwatch.StartNew();
    var faultAt = clock.Elapsed.TotalSeconds;
    StderrLoggerFactory.Mark("fault");
    var oldMaster = topology.Master.Endpoint;
    if (scenario == "master-killed")
    {
        topology.Master.Kill();
    }
    else
    {
        topology.Master.Freeze();
    }

    double? switchAt = null;
    RedisNode? promoted = null;
    var writes = new ConcurrentDictionary<string, ConcurrentQueue<(string Key, double At)>>();
    using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(30));
    var writers = clients.Select(c => Task.Run(async () =>
    {
        var queue = writes.GetOrAdd(c.Name, _ => new());
        var n = 0;
        while (!stop.IsCancellationRequested)
        {
            var key = $"probe:{c.Name.GetHashCode():x}:{n++}";
            try
            {
                await c.Write(key).WaitAsync(TimeSpan.FromSeconds(10));
                queue.Enqueue((key, clock.Elapsed.TotalSeconds)); // completion time: when the caller saw its write succeed
            }
            catch
            {
            }

            await Task.Delay(20);
        }
    })).ToArray();

    var landed = new Dictionary<string, double>();
    while (!stop.IsCancellationRequested && landed.Count < clients.Count)
    {
        if (promoted is null)
        {
            var endpoint = await topology.WaitForMasterChangeAsync(oldMaster, TimeSpan.FromMilliseconds(100));
            if (endpoint is not null)
            {
                switchAt = clock.Elapsed.TotalSeconds;
                StderrLoggerFactory.Mark("a Sentinel names " + endpoint);
                promoted = topology.NodeByEndpoint(endpoint);
            }
        }

        if (promoted is not null)
        {
            foreach (var c in clients)
            {
                if (landed.ContainsKey(c.Name) || !writes.TryGetValue(c.Name, out var queue))
                {
                    continue;
                }

                foreach (var (key, at) in queue.ToArray())
                {
                    bool found;
                    try
                    {
                        found = (await promoted.ExecuteAsync("KEYS", "*" + key)).Items.Count > 0;
                    }
                    catch (TimeoutException)
                    {
                        break; // the promoted node is busy (promotion, a loaded machine): look again at the next round
                    }

                    if (found)
                    {
                        landed[c.Name] = at;
                        StderrLoggerFactory.Mark($"write landed (completed at {at - faultAt:0.000} s after the fault)");
                        break;
                    }
                }
            }
        }

        await Task.Delay(100);
    }

    await stop.CancelAsync();
    await Task.WhenAll(writers);
    if (scenario == "master-frozen")
    {
        topology.Master.Thaw();
    }

    foreach (var c in clients)
    {
        await c.Owner.DisposeAsync();
    }

    var measured = clients[0].Name;
    return (measured,
        landed.TryGetValue(measured, out var l) ? l - faultAt : null,
        landed.TryGetValue(measured, out var l2) && switchAt is { } s ? l2 - s : null);
}

internal sealed class StderrLoggerFactory : Microsoft.Extensions.Logging.ILoggerFactory, Microsoft.Extensions.Logging.ILogger
{
    private static readonly Stopwatch Clock = Stopwatch.StartNew();

    public static void Mark(string what)
    {
        if (Environment.GetEnvironmentVariable("LEVEE_DEBUG") == "1")
        {
            Console.Error.WriteLine($"{Clock.Elapsed.TotalSeconds,8:0.000} TOOL {what}");
        }
    }

    public void AddProvider(Microsoft.Extensions.Logging.ILoggerProvider provider) { }

    public Microsoft.Extensions.Logging.ILogger CreateLogger(string categoryName) => this;

    public void Dispose() { }

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(Microsoft.Extensions.Logging.LogLevel logLevel) => true;

    public void Log<TState>(Microsoft.Extensions.Logging.LogLevel logLevel, Microsoft.Extensions.Logging.EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
        Console.Error.WriteLine($"{Clock.Elapsed.TotalSeconds,8:0.000} [{eventId.Id}] {formatter(state, exception)} {exception?.GetType().Name} {exception?.Message}");
}
