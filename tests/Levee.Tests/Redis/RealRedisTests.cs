using Levee.Drill.Topology;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Tests.Redis;

/// <summary>The library against a real redis-server started on a free loopback port (and always stopped).</summary>
[Collection(RealProcesses.Name)]
public sealed class RealRedisTests : RedisServerTest
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    private ServiceProvider NewApp(Action<LeveeOptions>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLevee(o =>
        {
            o.Redis = Redis.Endpoint;
            configure?.Invoke(o);
        });
        return services.BuildServiceProvider();
    }

    internal static async Task<LeveeCache> ConnectedCache(ServiceProvider app)
    {
        var cache = app.GetRequiredService<LeveeCache>();
        for (var i = 0; i < 500 && !cache.IsL2Available; i++)
        {
            await Task.Delay(10);
        }

        Assert.True(cache.IsL2Available, "Levee did not connect to Redis within 5 s");
        await cache.RunMaintenanceAsync();
        return cache;
    }

    /// <summary>
    /// Issue 17: a new instance uses Redis from its very first call. Both caches are built as a new user builds them
    /// (AddLevee with the defaults: the 50 ms budget), and nobody waits for a connection before calling.
    /// </summary>
    [Fact]
    public async Task NewInstance_FirstCall_ReadsWhatAnotherInstanceWrote_TwentyTimesInARow()
    {
        await using var appA = NewApp();
        var a = appA.GetRequiredService<HybridCache>();
        Assert.Equal("from-a", await a.GetOrCreateAsync("greeting", static _ => ValueTask.FromResult("from-a")));
        Assert.Equal(1L, (await Redis.ExecuteAsync("EXISTS", "levee:d:0:greeting")).Number); // in Redis when the load returned

        for (var round = 0; round < 20; round++)
        {
            await using var appB = NewApp();
            var b = appB.GetRequiredService<HybridCache>();
            var factoryCalls = 0;
            var read = await b.GetOrCreateAsync("greeting", _ =>
            {
                factoryCalls++;
                return ValueTask.FromResult("from-b");
            });
            Assert.True(read == "from-a" && factoryCalls == 0, $"round {round}: the new instance read '{read}' with {factoryCalls} factory call(s)");
        }
    }

    /// <summary>Issue 17: a value stored by a load is in Redis when the load has returned (the SET is awaited, not left running).</summary>
    [Fact]
    public async Task ALoadsValue_IsInRedisWhenTheLoadReturns()
    {
        await using var app = NewApp();
        var cache = app.GetRequiredService<LeveeCache>();
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(i, await cache.GetOrCreateAsync("n" + i, i, static (n, _) => ValueTask.FromResult(n), OneMinute));
            Assert.Equal(1L, (await Redis.ExecuteAsync("EXISTS", "levee:d:0:n" + i)).Number);
        }

        Assert.Equal(0, cache.PendingInvalidations);
    }

    [Fact]
    public async Task RemoveOnOneInstance_DeletesTheRedisEntry_AndDropsTheOtherInstancesL1Copy()
    {
        // a roomy budget: on a busy machine a 50 ms budget can time the removal out, which journals it (correct, but
        // then the replay, not the removal under test, would do the work)
        await using var appA = NewApp(o => o.L2Timeout = TimeSpan.FromSeconds(1));
        await using var appB = NewApp(o => o.L2Timeout = TimeSpan.FromSeconds(1));
        var a = await ConnectedCache(appA);
        var b = await ConnectedCache(appB);
        var price = 1;
        Func<int, CancellationToken, ValueTask<int>> load = (_, _) => ValueTask.FromResult(Volatile.Read(ref price));
        Assert.Equal(1, await a.GetOrCreateAsync("price", 0, load, OneMinute));
        Assert.Equal(1L, (await Redis.ExecuteAsync("EXISTS", "levee:d:0:price")).Number); // the load awaited its SET
        Assert.Equal(1, await b.GetOrCreateAsync("price", 0, load, OneMinute)); // from L2 (B has no SET of its own in flight), now in B's L1

        Volatile.Write(ref price, 2); // the database changed
        await a.RemoveAsync("price");
        Assert.Equal(0L, (await Redis.ExecuteAsync("EXISTS", "levee:d:0:price")).Number); // deleted when RemoveAsync returned
        Assert.Equal(0, a.PendingInvalidations);

        // B heard it on the backplane: its L1 copy is gone, its next read loads the new value
        var seen = 0;
        for (var i = 0; i < 250 && seen != 2; i++)
        {
            seen = await b.GetOrCreateAsync("price", 0, load, OneMinute);
            if (seen != 2)
            {
                await Task.Delay(20);
            }
        }

        Assert.Equal(2, seen);

        // a Redis that lost its script cache (restart, SCRIPT FLUSH) still gets the removal (a key only A writes: a
        // removal orders itself after this instance's own pending SET, not after another instance's)
        Assert.Equal(2, await a.GetOrCreateAsync("stock", 0, load, OneMinute));
        await Redis.ExecuteAsync("SCRIPT", "FLUSH");
        await a.RemoveAsync("stock");
        Assert.Equal(0L, (await Redis.ExecuteAsync("EXISTS", "levee:d:0:stock")).Number);
        Assert.Equal(0, a.PendingInvalidations);
    }

    [Fact]
    public async Task GenerationKeyEvicted_TheKnownGenerationIsWrittenBack_WithoutExpiry_AndOlderEntriesStayInvisible()
    {
        await using var appA = NewApp(o => o.L2Timeout = TimeSpan.FromSeconds(1));
        var a = await ConnectedCache(appA);
        await a.SetAsync("shelf", "before the clear", OneMinute);
        var stored = await Redis.ExecuteAsync("GET", "levee:generation");
        var generation = stored.IsNull ? 0 : long.Parse(stored.Text!, System.Globalization.CultureInfo.InvariantCulture);
        var prefix = $"levee:d:{generation}:";
        await a.RemoveByTagAsync("*"); // everything invalidated: the generation is bumped
        Assert.Equal(generation + 1, long.Parse((await Redis.ExecuteAsync("GET", "levee:generation")).Text!, System.Globalization.CultureInfo.InvariantCulture));
        Assert.Equal(1L, (await Redis.ExecuteAsync("EXISTS", prefix + "shelf")).Number); // the old entry is still in Redis

        await Redis.ExecuteAsync("DEL", "levee:generation"); // as an allkeys-* eviction policy would
        await a.RunMaintenanceAsync();
        Assert.Equal((generation + 1).ToString(System.Globalization.CultureInfo.InvariantCulture), (await Redis.ExecuteAsync("GET", "levee:generation")).Text);
        Assert.Equal(-1L, (await Redis.ExecuteAsync("TTL", "levee:generation")).Number); // no expiry

        await using var appB = NewApp(o => o.L2Timeout = TimeSpan.FromSeconds(1));
        var b = await ConnectedCache(appB);
        Assert.Equal("db", await b.GetOrCreateAsync("shelf", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
    }

    [Fact]
    public async Task KeyedCacheOnTheSameRedis_HasItsOwnKeys_AndBackplane()
    {
        var services = new ServiceCollection();
        services.AddLevee(o => { o.Redis = Redis.Endpoint; o.L2Timeout = TimeSpan.FromSeconds(1); });
        services.AddKeyedLevee("sessions", o => { o.Redis = Redis.Endpoint; o.L2Timeout = TimeSpan.FromSeconds(1); });
        await using var app = services.BuildServiceProvider();
        var main = await ConnectedCache(app);
        var sessions = app.GetRequiredKeyedService<LeveeCache>("sessions");
        await Eventually.TrueAsync(() => sessions.IsL2Available, TimeSpan.FromSeconds(5), "the keyed cache did not connect to Redis");

        await sessions.RunMaintenanceAsync();
        await main.SetAsync("k", "main", OneMinute);
        await sessions.SetAsync("k", "session", OneMinute);
        Assert.Equal("main", (await Redis.ExecuteAsync("GET", "levee:d:0:k")).Text?[^4..]);
        Assert.Equal("session", (await Redis.ExecuteAsync("GET", "levee:sessions:d:0:k")).Text?[^7..]);

        await main.RemoveAsync("k"); // the default cache's removal leaves the other cache's entry and L1 alone
        Assert.Equal(1L, (await Redis.ExecuteAsync("EXISTS", "levee:sessions:d:0:k")).Number);
        Assert.Equal("session", await sessions.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
    }

    [Fact]
    public async Task ValueSetByOneServiceProvider_IsReadFromL2ByASecondOne()
    {
        await using var appA = NewApp();
        await using var appB = NewApp();
        var a = await ConnectedCache(appA);
        var b = await ConnectedCache(appB);
        await a.SetAsync("product:1", new Product(1, "Lamp"), OneMinute);

        var calls = 0;
        var read = await b.GetOrCreateAsync("product:1", 0, (_, _) => { calls++; return ValueTask.FromResult(new Product(0, "db")); }, OneMinute);
        Assert.Equal(new Product(1, "Lamp"), read);
        Assert.Equal(0, calls);
        Assert.Equal(RedisReplyKind.BulkString, (await Redis.ExecuteAsync("GET", "levee:d:0:product:1")).Kind);
    }

    [Fact]
    public async Task HybridCacheResolvedFromDI_IsLevee_AndUsesRedis()
    {
        await using var app = NewApp();
        var cache = await ConnectedCache(app);
        var hybrid = app.GetRequiredService<HybridCache>();
        Assert.Same(cache, hybrid);
        Assert.Equal("v", await hybrid.GetOrCreateAsync("h", _ => ValueTask.FromResult("v")));
        Assert.False((await EventuallyStored(Redis, "levee:d:0:h")).IsNull); // a miss's L2 write completes after its callers have the value
    }

    [Fact]
    public async Task CorruptBytesInRedis_AreAMiss_AndGetOverwritten()
    {
        await using var app = NewApp();
        var cache = await ConnectedCache(app);
        await Redis.ExecuteAsync("SET", "levee:d:0:bad", "this is not a levee envelope");
        Assert.Equal(7, await cache.GetOrCreateAsync("bad", 0, (_, _) => ValueTask.FromResult(7), OneMinute));
        var stored = await EventuallyStored(Redis, "levee:d:0:bad", notStartingWith: "this is not");
        Assert.StartsWith("LV", stored.Text, StringComparison.Ordinal);
    }

    [Fact]
    public async Task RedisKilledMidTest_GetOrCreateFallsBackToFactory_WithoutThrowing()
    {
        await using var app = NewApp();
        var cache = await ConnectedCache(app);
        Assert.Equal(1, await cache.GetOrCreateAsync("a", 0, (_, _) => ValueTask.FromResult(1), OneMinute));
        Redis.Kill();
        var calls = 0;
        for (var i = 0; i < 50; i++)
        {
            Assert.Equal(i, await cache.GetOrCreateAsync("after-kill-" + i, i, (s, _) => { calls++; return ValueTask.FromResult(s); }, OneMinute));
        }

        Assert.Equal(50, calls);
        Assert.Equal(1, await cache.GetOrCreateAsync("a", 0, (_, _) => ValueTask.FromResult(99), OneMinute)); // L1 still serves
        await cache.RemoveAsync("a"); // never throws; journaled
        Assert.True(cache.PendingInvalidations >= 1);
    }

    [Fact]
    public async Task RedisFrozen_CallersKeepGettingValues_AndTheBreakerOpens()
    {
        await using var app = NewApp(o =>
        {
            o.L2Timeout = TimeSpan.FromMilliseconds(50);
            o.BreakerMinimumThroughput = 5;
        });
        var cache = await ConnectedCache(app);
        await cache.SetAsync("warm", "w", OneMinute);
        Redis.Freeze();
        try
        {
            for (var i = 0; i < 30; i++)
            {
                Assert.Equal("v" + i, await cache.GetOrCreateAsync("frozen-" + i, i, (s, _) => ValueTask.FromResult("v" + s), OneMinute));
            }

            Assert.Equal("w", await cache.GetOrCreateAsync("warm", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
            Assert.Equal(LeveeBreakerState.Open, cache.L2BreakerState);
        }
        finally
        {
            Redis.Thaw();
        }
    }

    [Fact]
    public async Task AppStartedWhileRedisDown_ServesFromFactory_ThenConnectsInTheBackground()
    {
        Redis.Kill();
        await using var app = NewApp();
        var cache = app.GetRequiredService<LeveeCache>();
        Assert.Equal("db", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), OneMinute));
        Assert.False(cache.IsL2Available);
        await Redis.RestartAsync();
        await ConnectedCache(app);
        await cache.SetAsync("k2", "v2", OneMinute);
        Assert.False((await Redis.ExecuteAsync("GET", "levee:d:0:k2")).IsNull);
    }

    /// <summary>
    /// GET until the key holds a value (not starting with <paramref name="notStartingWith"/>), at most 5 s: the L2 write of a
    /// miss is issued before its callers get the value but may be answered after.
    /// </summary>
    internal static async Task<RedisReply> EventuallyStored(RedisNode node, string key, string? notStartingWith = null)
    {
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(5);
        while (true)
        {
            var reply = await node.ExecuteAsync("GET", key);
            var written = !reply.IsNull && !reply.IsError && (notStartingWith is null || reply.Text?.StartsWith(notStartingWith, StringComparison.Ordinal) != true);
            if (written || DateTime.UtcNow > deadline)
            {
                return reply;
            }

            await Task.Delay(20);
        }
    }

    public sealed record Product(int Id, string Name);

    [Fact]
    public async Task SyncDispose_OnAThreadWithAnUnpumpedSynchronizationContext_ClosesTheConnectionWithoutDeadlock()
    {
        var app = NewApp();
        var cache = await ConnectedCache(app);
        await cache.SetAsync("k", "v", OneMinute);
        var before = ClientCount(await Redis.ExecuteAsync("CLIENT", "LIST"));
        Assert.True(before >= 1, "Levee's connection is not in CLIENT LIST");

        DisposeOnUnpumpedContext(app);
        Assert.Throws<ObjectDisposedException>(() => app.GetRequiredService<LeveeCache>());

        var after = before;
        for (var i = 0; i < 50 && after > 0; i++)
        {
            after = ClientCount(await Redis.ExecuteAsync("CLIENT", "LIST"));
            await Task.Delay(100);
        }

        Assert.Equal(0, after);

        // Levee's connections are named "levee"; the test's own client is not
        static int ClientCount(RedisReply list) =>
            (list.Text ?? "").Split('\n').Count(line => line.Contains("name=levee", StringComparison.Ordinal));
    }

    [Fact]
    public async Task DisposedWhileConnecting_LeavesNoConnectionBehind()
    {
        // the cache connects in the background: dispose it before, during and after the connect and the backplane's
        // subscription (0-20 ms after it was resolved), 20 times; no connection may outlive its cache
        for (var i = 0; i < 20; i++)
        {
            var app = NewApp();
            _ = app.GetRequiredService<LeveeCache>();
            await Task.Delay(i % 5 * 5);
            await app.DisposeAsync();
        }

        var left = LeveeClients(await Redis.ExecuteAsync("CLIENT", "LIST"));
        for (var i = 0; i < 50 && left.Count > 0; i++)
        {
            await Task.Delay(100);
            left = LeveeClients(await Redis.ExecuteAsync("CLIENT", "LIST"));
        }

        Assert.True(left.Count == 0, "connections left by disposed caches:\n" + string.Join("\n", left));

        static List<string> LeveeClients(RedisReply list) =>
            [.. (list.Text ?? "").Split('\n').Where(line => line.Contains("name=levee", StringComparison.Ordinal))];
    }

    [Fact]
    public async Task DisposedWhileSwitchingToANewMaster_NeitherConnectionOutlivesTheStore()
    {
        // a Sentinel switch installs a new connection (subscribing the backplane on it, a round trip) while the store is
        // disposed: the store's DisposeAsync cancels first, then waits for the switch; the connection being replaced used
        // to be left open (reconnecting to the old master for ever)
        var store = new Levee.Redis.RedisL2Store(Redis.Endpoint, "t", TimeProvider.System, Microsoft.Extensions.Logging.Abstractions.NullLogger.Instance);
        await LeveeCacheTestsWait(() => store.IsConnected);
        var old = store.Current!;
        store.Subscribe("ch", _ => { });
        var next = new Levee.Redis.ConnectionGeneration(await StackExchange.Redis.ConnectionMultiplexer.ConnectAsync(Redis.Endpoint), null);
        var install = store.Connection.InstallAsync(next, "switch");
        Assert.False(install.IsCompleted, "the backplane's subscription on the new connection should still be in flight");
        // what DisposeAsync does in Sentinel mode: cancel, wait for the monitor (here: the install), then close what is current
        var stopping = (CancellationTokenSource)typeof(Levee.Redis.RedisConnection)
            .GetField("_stopping", System.Reflection.BindingFlags.NonPublic | System.Reflection.BindingFlags.Instance)!.GetValue(store.Connection)!;
        await stopping.CancelAsync();
        await install;
        await store.DisposeAsync();
        Assert.Null(store.Current);
        await LeveeCacheTestsWait(() => !next.Primary.IsConnected && !old.Primary.IsConnected);
    }

    private static Task LeveeCacheTestsWait(Func<bool> condition) => Engine.LeveeCacheTests.WaitUntil(() => Task.FromResult(condition()));

    /// <summary>
    /// Calls <paramref name="disposable"/>.Dispose() on a thread whose synchronization context is never pumped (a UI
    /// thread blocked in the call): the worst case for sync-over-async, where a continuation that captured the context
    /// would never run. Fails when it does not return within 30 s or throws.
    /// </summary>
    internal static void DisposeOnUnpumpedContext(IDisposable disposable)
    {
        Exception? failure = null;
        var thread = new Thread(() =>
        {
            SynchronizationContext.SetSynchronizationContext(new UnpumpedContext());
            try
            {
                disposable.Dispose();
            }
            catch (Exception ex)
            {
                failure = ex;
            }
        });
        thread.Start();
        Assert.True(thread.Join(TimeSpan.FromSeconds(30)), "Dispose() did not return within 30 s (deadlock)");
        Assert.Null(failure);
    }

    private sealed class UnpumpedContext : SynchronizationContext
    {
        public override void Post(SendOrPostCallback d, object? state)
        {
            // never run: a continuation posted here is lost, as on a UI thread that is blocked
        }

        public override void Send(SendOrPostCallback d, object? state) => throw new InvalidOperationException("Send on the blocked thread");
    }
}
