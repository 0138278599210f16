using Levee.Drill.Topology;
using Levee.Tests.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Levee.Tests.Redis;

/// <summary>
/// Levee as a Redis user restricted by ACLs to the commands docs/engine.md lists, on the keys and channel under its
/// prefix: everything works (reads, writes, removals that reach another instance, tag invalidation), nothing is journaled.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class RedisAclTests : RedisServerTest
{
    /// <summary>
    /// The smallest ACL rule that works, as docs/engine.md gives it (keep the two in step). StackExchange.Redis also
    /// sends INFO, CONFIG GET, CLUSTER NODES/SLOTS and reads a tie-breaker key when connecting; refused, it goes on.
    /// PING it needs: its keep-alive on an idle connection, and a refused PING drops both connections (ProtocolFailure).
    /// </summary>
    internal const string Rules = "~levee:* &levee:* &__Booksleeve_MasterChanged -@all +get +set +psetex +del +unlink +incr +publish +subscribe +evalsha +eval +script|load +role +echo +ping +client|id +client|setname";

    private const string User = "levee-app";
    private const string NoScriptUser = "levee-noscript";
    private const string Password = "app-Pa55word";
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    protected override async Task OnStartedAsync()
    {
        var args = new List<string> { "ACL", "SETUSER", User, "reset", "on", ">" + Password };
        args.AddRange(Rules.Split(' '));
        var reply = await Redis.ExecuteAsync([.. args]);
        Assert.False(reply.IsError, reply.Text);

        // the same without scripting (a managed Redis may not allow it)
        args = ["ACL", "SETUSER", NoScriptUser, "reset", "on", ">" + Password];
        args.AddRange(Rules.Split(' ').Where(r => r is not ("+evalsha" or "+eval" or "+script|load")));
        reply = await Redis.ExecuteAsync([.. args]);
        Assert.False(reply.IsError, reply.Text);
    }

    protected override async Task OnStoppingAsync()
    {
        // what the restricted user was refused, if anything (shown when the test fails)
        var log = await Redis.ExecuteAsync("ACL", "LOG");
        foreach (var entry in log.Items)
        {
            Console.WriteLine("ACL LOG: " + string.Join(' ', entry.Items.Select(i => i.Text ?? i.Number.ToString(System.Globalization.CultureInfo.InvariantCulture))));
        }
    }

    private ServiceProvider NewApp(bool backplane = true, string user = User, CollectingLogger? logger = null, string connectionOptions = "")
    {
        var services = new ServiceCollection();
        if (logger is not null)
        {
            services.AddLogging(b => b.AddProvider(new CollectingLoggerProvider(logger)).SetMinimumLevel(LogLevel.Debug));
        }

        services.AddLevee(o =>
        {
            o.Redis = $"{Redis.Endpoint},user={user},password={Password}{connectionOptions}";
            o.Backplane = backplane;
            o.L2Timeout = TimeSpan.FromSeconds(1); // a busy machine must not time calls out: a refused command is what this test looks for
        });
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task RestrictedUser_ReadsWritesRemovesAndInvalidatesTags()
    {
        var logA = new CollectingLogger();
        var logB = new CollectingLogger();
        await using var appA = NewApp(logger: logA);
        await using var appB = NewApp(logger: logB);
        var a = await RealRedisTests.ConnectedCache(appA);
        var b = await RealRedisTests.ConnectedCache(appB);

        var price = 1;
        var loads = 0;
        Func<int, CancellationToken, ValueTask<int>> load = (_, _) =>
        {
            Interlocked.Increment(ref loads);
            return ValueTask.FromResult(Volatile.Read(ref price));
        };
        Assert.Equal(1, await a.GetOrCreateAsync("price", 0, load, OneMinute, ["catalog"]));
        Assert.Equal(1L, (await Redis.ExecuteAsync("EXISTS", "levee:d:0:price")).Number); // the load awaited its SET

        // B reads A's value from Redis (TryGetAsync never calls a factory), at the first try: the load awaited its SET
        // (issue 17; the retry that stood here covered a SET left running, or skipped when the cache's L1 was dropped
        // meanwhile). Open: under CPU starvation a restricted user's connection was seen flapping (ProtocolFailure),
        // cause unknown; the message below carries B's log for that case.
        var fromRedis = await b.TryGetAsync<int>("price");
        Assert.True(fromRedis == (true, 1), "B did not read A's value from Redis; B's log: " + string.Join(" | ", logB.Entries.Select(e => $"{e.Id.Id} {e.Message}")));
        Assert.Equal(1, await b.GetOrCreateAsync("price", 0, load, OneMinute, ["catalog"])); // now from B's L1

        Volatile.Write(ref price, 2);
        await a.RemoveAsync("price"); // DEL + PUBLISH script
        Assert.Equal(0L, (await Redis.ExecuteAsync("EXISTS", "levee:d:0:price")).Number);
        Assert.Equal(2, await Eventually(() => b.GetOrCreateAsync("price", 0, load, OneMinute, ["catalog"]), 2));

        Volatile.Write(ref price, 3);
        await a.RemoveByTagAsync("catalog"); // tag time script + PUBLISH
        Assert.Equal(3, await Eventually(() => b.GetOrCreateAsync("price", 0, load, OneMinute, ["catalog"]), 3));

        Volatile.Write(ref price, 4);
        await a.RemoveByTagAsync("*"); // everything: the generation key (INCR) + PUBLISH
        Assert.Equal(4, await Eventually(() => b.GetOrCreateAsync("price", 0, load, OneMinute, ["catalog"]), 4));

        // without the backplane a removal is a plain DEL (StackExchange.Redis sends it as UNLINK)
        await using var appC = NewApp(backplane: false);
        var c = await RealRedisTests.ConnectedCache(appC);
        Assert.Equal(4, await c.GetOrCreateAsync("solo", 0, load, OneMinute));
        await c.RemoveAsync("solo");
        Assert.Equal(0L, (await Redis.ExecuteAsync("EXISTS", "levee:d:1:solo")).Number); // generation 1 since "*"

        // Nothing is left pending: a command the ACL refuses would be journaled and refused again by the replay. (A call
        // that failed for a moment, seen once in a full-suite run, is journaled and replayed: that is not a refusal.)
        foreach (var cache in new[] { a, b, c })
        {
            await cache.RunMaintenanceAsync();
        }

        Assert.Equal(0, a.PendingInvalidations);
        Assert.Equal(0, b.PendingInvalidations);
        Assert.Equal(0, c.PendingInvalidations);
        Assert.True(a.IsL2Available);
        Assert.True(b.IsL2Available);
    }

    /// <summary>
    /// An idle connection stays up: StackExchange.Redis sends PING as its keep-alive (here every second, at most 60 s by
    /// default), and before +ping was in the rule the server refused it and the client dropped both connections
    /// (ProtocolFailure) and reconnected, again and again: the cause of this class's rare CI failure (B found Redis
    /// away in the middle of the test when a busy machine had let its connection idle). Fails without +ping: 2-3 losses
    /// a second.
    /// </summary>
    [Fact]
    public async Task RestrictedUser_AnIdleConnection_StaysUpAcrossKeepAlives()
    {
        var log = new CollectingLogger();
        await using var app = NewApp(logger: log, connectionOptions: ",keepAlive=1");
        var cache = await RealRedisTests.ConnectedCache(app);
        Assert.Equal(1, await cache.GetOrCreateAsync("idle", 0, (_, _) => ValueTask.FromResult(1), OneMinute));

        await Task.Delay(TimeSpan.FromSeconds(4)); // four keep-alive periods without a command

        var lost = log.Entries.Where(e => e.Id.Id == LeveeEventIds.L2StateChanged && e.Message.Contains("ConnectionLost", StringComparison.Ordinal)).ToList();
        Assert.True(lost.Count == 0, "the connection was lost: " + string.Join(" | ", lost.Select(e => e.Message)));
        Assert.True(cache.IsL2Available);
        var refused = await Redis.ExecuteAsync("ACL", "LOG");
        Assert.DoesNotContain(refused.Items, entry => entry.Items.Any(i => i.Text == "ping"));
    }

    [Fact]
    public async Task WithoutScripting_RemovalsFallBackToDelAndPublish_AndStillReachOtherInstances()
    {
        var logger = new CollectingLogger();
        await using var appA = NewApp(user: NoScriptUser, logger: logger);
        await using var appB = NewApp(user: NoScriptUser);
        var a = await RealRedisTests.ConnectedCache(appA);
        var b = await RealRedisTests.ConnectedCache(appB);
        var price = 1;
        Func<int, CancellationToken, ValueTask<int>> load = (_, _) => ValueTask.FromResult(Volatile.Read(ref price));
        for (var round = 0; round < 3; round++)
        {
            var key = "price" + round;
            Assert.Equal(price, await a.GetOrCreateAsync(key, 0, load, OneMinute));
            Assert.True((await Redis.ExecuteAsync("EXISTS", "levee:d:0:" + key)).Number == 1, // the load awaited its SET
                $"round {round}: the load's SET is not in Redis; A's log: " + string.Join(" | ", logger.Entries.Select(e => $"{e.Id.Id} {e.Message}")));
            Assert.Equal(price, await b.GetOrCreateAsync(key, 0, load, OneMinute)); // L2 hit, now in B's L1

            Volatile.Write(ref price, price + 1);
            await a.RemoveAsync(key);
            Assert.Equal(0L, (await Redis.ExecuteAsync("EXISTS", "levee:d:0:" + key)).Number);
            Assert.Equal(0, a.PendingInvalidations); // the refusal did not fail the removal: nothing to replay
            Assert.Equal(price, await Eventually(() => b.GetOrCreateAsync(key, 0, load, OneMinute), price));
        }

        Assert.Single(logger.Entries, e => e.Id.Id == LeveeEventIds.ScriptingRefused); // said once, then the fallback is the way
        Assert.Equal(0, logger.Entries.Count(e => e.Id.Id == LeveeEventIds.InvalidationJournaled)); // never journaled
    }

    private static async Task<int> Eventually(Func<ValueTask<int>> read, int expected)
    {
        var seen = 0;
        for (var i = 0; i < 250 && seen != expected; i++)
        {
            seen = await read();
            if (seen != expected)
            {
                await Task.Delay(20);
            }
        }

        return seen;
    }
}
