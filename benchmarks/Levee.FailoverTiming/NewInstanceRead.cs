using System.Diagnostics;
using Levee;
using Levee.Drill.Topology;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using ZiggyCreatures.Caching.Fusion;
using ZiggyCreatures.Caching.Fusion.Backplane.StackExchangeRedis;
using ZiggyCreatures.Caching.Fusion.Serialization.SystemTextJson;

/// <summary>
/// <c>--measure new-instance-read</c>: does a NEW instance (a cache built just now: empty L1, new connections) read a
/// value an OLD instance (built and warmed before the fault) wrote? Before the fault 5 tries; after the Sentinels name
/// the new master, one try every 100 ms until the first success or 30 s. A try: the old instance writes a new key with
/// SetAsync (awaited), then a new instance reads it with GetOrCreateAsync; the read succeeds when it returns the written
/// value (a factory call, or any other value, is a miss). The new instance is disposed after its read.
/// </summary>
internal static class NewInstanceRead
{
    private const int TriesBeforeFault = 5;
    private static readonly TimeSpan Period = TimeSpan.FromMilliseconds(100);
    private static readonly TimeSpan Window = TimeSpan.FromSeconds(30);
    private static readonly TimeSpan CallTimeout = TimeSpan.FromSeconds(10);

    public static async Task<(double? FromFault, double? FromSwitch, string MissesAfterSwitch, int BeforeFaultHits, int BeforeFaultTries)> RunAsync(string scenario, string client)
    {
        await using var topology = await SentinelTopology.StartAsync();
        var cs = topology.ConnectionString;
        await using var old = Instance.Build(client, cs);

        // the old instance works before the fault (its writes reach the master)
        var warm = false;
        for (var i = 0; i < 200 && !warm; i++)
        {
            try
            {
                var key = $"warm:{Guid.NewGuid():N}";
                await old.SetAsync(key, "warm").WaitAsync(CallTimeout);
                warm = (await topology.Master.ExecuteAsync("KEYS", "*" + key + "*")).Items.Count > 0;
            }
            catch (Exception ex) when (ex is not OutOfMemoryException)
            {
            }

            if (!warm)
            {
                await Task.Delay(50);
            }
        }

        Console.Error.WriteLine($"{scenario}: {client} old instance warm: {warm}");
        var beforeHits = 0;
        for (var i = 0; i < TriesBeforeFault; i++)
        {
            if (await TryAsync(client, cs, old, $"before:{i}:{Guid.NewGuid():N}") == Outcome.Read)
            {
                beforeHits++;
            }

            await Task.Delay(Period);
        }

        Console.Error.WriteLine($"{scenario}: {client} before the fault: {beforeHits} of {TriesBeforeFault} new instances read the old one's value");
        var clock = Stopwatch.StartNew();
        var oldMaster = topology.Master.Endpoint;
        if (scenario == "master-killed")
        {
            topology.Master.Kill();
        }
        else
        {
            topology.Master.Freeze();
        }

        double? switchAt = null, successAt = null;
        int misses = 0, inRedis = 0;
        try
        {
            var endpoint = await topology.WaitForMasterChangeAsync(oldMaster, Window);
            if (endpoint is not null)
            {
                switchAt = clock.Elapsed.TotalSeconds;
                Console.Error.WriteLine($"{scenario}: {client} a Sentinel names {endpoint} at {switchAt:0.00} s after the fault");
                var n = 0;
                while (clock.Elapsed.TotalSeconds - switchAt < Window.TotalSeconds)
                {
                    var started = clock.Elapsed;
                    var key = $"after:{n++}:{Guid.NewGuid():N}";
                    var outcome = await TryAsync(client, cs, old, key);
                    Console.Error.WriteLine($"{scenario}: {client} try {n} at {started.TotalSeconds - switchAt:0.00} s after the switch: {outcome}, {(clock.Elapsed - started).TotalSeconds:0.00} s");
                    if (outcome == Outcome.Read)
                    {
                        successAt = clock.Elapsed.TotalSeconds;
                        break;
                    }

                    misses++;
                    inRedis += await OnMasterAsync(topology, key) ? 1 : 0;
                    var wait = Period - (clock.Elapsed - started);
                    if (wait > TimeSpan.Zero)
                    {
                        await Task.Delay(wait);
                    }
                }
            }
        }
        finally
        {
            if (scenario == "master-frozen")
            {
                topology.Master.Thaw();
            }
        }

        return (successAt, successAt is { } s && switchAt is { } w ? s - w : null, $"{misses} ({inRedis} in Redis)", beforeHits, TriesBeforeFault);
    }

    /// <summary>Whether the master the Sentinels name holds a key whose value contains <paramref name="key"/> (a missed read of a value that was written).</summary>
    private static async Task<bool> OnMasterAsync(SentinelTopology topology, string key)
    {
        try
        {
            var master = await topology.GetMasterEndpointAsync() is { } endpoint ? topology.NodeByEndpoint(endpoint) : null;
            return master is not null && (await master.ExecuteAsync("KEYS", "*" + key + "*")).Items.Count > 0;
        }
        catch (Exception ex) when (ex is TimeoutException or IOException or System.Net.Sockets.SocketException)
        {
            return false;
        }
    }

    /// <summary>
    /// The tool's FusionCache: fail-safe, factory and distributed-cache timeouts, the distributed-cache circuit breaker (2 s),
    /// System.Text.Json, a Redis L2 and the Redis backplane, both on <paramref name="cs"/>.
    /// </summary>
    public static IServiceCollection AddResilientFusionCache(IServiceCollection services, string cs)
    {
        services.AddFusionCache()
            .WithOptions(o => o.DistributedCacheCircuitBreakerDuration = TimeSpan.FromSeconds(2))
            .WithDefaultEntryOptions(new FusionCacheEntryOptions
            {
                Duration = TimeSpan.FromMinutes(5),
                IsFailSafeEnabled = true,
                FailSafeMaxDuration = TimeSpan.FromHours(1),
                FactorySoftTimeout = TimeSpan.FromMilliseconds(100),
                DistributedCacheSoftTimeout = TimeSpan.FromMilliseconds(100),
                DistributedCacheHardTimeout = TimeSpan.FromSeconds(2),
            })
            .WithSerializer(new FusionCacheSystemTextJsonSerializer())
            .WithDistributedCache(new Microsoft.Extensions.Caching.StackExchangeRedis.RedisCache(new Microsoft.Extensions.Caching.StackExchangeRedis.RedisCacheOptions { Configuration = cs }))
            .WithBackplane(new RedisBackplane(new RedisBackplaneOptions { Configuration = cs }));
        return services;
    }

    private enum Outcome
    {
        Read,
        Missed,
        WriteFailed,
    }

    /// <summary>The old instance writes <paramref name="key"/>; a new instance reads it.</summary>
    private static async Task<Outcome> TryAsync(string client, string cs, Instance old, string key)
    {
        var value = "v-" + key;
        try
        {
            await old.SetAsync(key, value).WaitAsync(CallTimeout);
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return Outcome.WriteFailed; // nothing to read
        }

        var fresh = Instance.Build(client, cs);
        try
        {
            return await fresh.ReadAsync(key).WaitAsync(CallTimeout) == value ? Outcome.Read : Outcome.Missed;
        }
        catch (Exception ex) when (ex is not OutOfMemoryException)
        {
            return Outcome.Missed;
        }
        finally
        {
            await fresh.DisposeAsync();
        }
    }

    /// <summary>One app instance of a client: its own service provider and cache, as a new pod has.</summary>
    private sealed class Instance(Func<string, string, Task> set, Func<string, Task<string>> read, IAsyncDisposable owner) : IAsyncDisposable
    {
        public Task SetAsync(string key, string value) => set(key, value);

        public Task<string> ReadAsync(string key) => read(key);

        public ValueTask DisposeAsync() => owner.DisposeAsync();

        public static Instance Build(string client, string cs)
        {
            const string Miss = "factory";
            switch (client)
            {
                case "levee":
                {
                    var services = new ServiceCollection().AddLevee(o => o.Redis = cs).BuildServiceProvider();
                    var cache = services.GetRequiredService<LeveeCache>();
                    var options = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(5) };
                    return new Instance(
                        (k, v) => cache.SetAsync(k, v, options).AsTask(),
                        k => cache.GetOrCreateAsync(k, _ => ValueTask.FromResult(Miss)).AsTask(),
                        services);
                }

                case "hybridcache":
                {
                    var collection = new ServiceCollection();
                    collection.AddStackExchangeRedisCache(o => o.Configuration = cs);
                    collection.AddHybridCache();
                    var services = collection.BuildServiceProvider();
                    var cache = services.GetRequiredService<HybridCache>();
                    return new Instance(
                        (k, v) => cache.SetAsync(k, v).AsTask(),
                        k => cache.GetOrCreateAsync(k, _ => ValueTask.FromResult(Miss)).AsTask(),
                        services);
                }

                case "fusioncache":
                {
                    var collection = AddResilientFusionCache(new ServiceCollection(), cs);
                    var services = collection.BuildServiceProvider();
                    var cache = services.GetRequiredService<IFusionCache>();
                    return new Instance(
                        (k, v) => cache.SetAsync(k, v).AsTask(),
                        k => cache.GetOrSetAsync(k, _ => Task.FromResult(Miss)).AsTask(),
                        services);
                }

                default:
                    throw new ArgumentException($"unknown client '{client}' (levee, hybridcache, fusioncache)");
            }
        }
    }
}
