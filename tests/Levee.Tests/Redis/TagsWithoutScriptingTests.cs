using Levee.Tests.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Levee.Tests.Redis;

/// <summary>
/// Tag invalidation for a Redis user whose ACL refuses scripting (a managed Redis may): the tag's time is written with
/// <c>SET ... GET</c> (putting a higher time it replaced back), not journaled and replayed for ever.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class TagsWithoutScriptingTests : RedisServerTest
{
    private const string User = "levee-noscript-tags";
    private const string Password = "tags-Pa55word";
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    protected override async Task OnStartedAsync()
    {
        List<string> args = ["ACL", "SETUSER", User, "reset", "on", ">" + Password];
        args.AddRange(RedisAclTests.Rules.Split(' ').Where(r => r is not ("+evalsha" or "+eval" or "+script|load")));
        var reply = await Redis.ExecuteAsync([.. args]);
        Assert.False(reply.IsError, reply.Text);
    }

    private ServiceProvider NewApp(CollectingLogger? logger = null)
    {
        var services = new ServiceCollection();
        if (logger is not null)
        {
            services.AddLogging(b => b.AddProvider(new CollectingLoggerProvider(logger)).SetMinimumLevel(LogLevel.Debug));
        }

        services.AddLevee(o =>
        {
            o.Redis = $"{Redis.Endpoint},user={User},password={Password}";
            o.L2Timeout = TimeSpan.FromSeconds(1); // a busy machine must not time calls out: a refused command is what this test looks for
        });
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task RemoveByTag_WithoutScripting_IsWrittenToRedis_NotJournaled_AndReachesInstancesThatNeverSawIt()
    {
        var logger = new CollectingLogger();
        await using var appA = NewApp(logger);
        await using var appB = NewApp();
        var a = await RealRedisTests.ConnectedCache(appA);
        var b = await RealRedisTests.ConnectedCache(appB);

        await b.SetAsync("price", 1, OneMinute, ["prices"]);
        Assert.Equal(1L, (await Redis.ExecuteAsync("EXISTS", "levee:d:0:price")).Number); // SetAsync awaited its write

        for (var round = 0; round < 3; round++)
        {
            await a.RemoveByTagAsync("prices");
            Assert.Equal(0, a.PendingInvalidations); // written, not journaled to be replayed (and refused) for ever
        }

        Assert.Equal(1L, (await Redis.ExecuteAsync("EXISTS", "levee:t:prices")).Number); // the tag's time, for every instance
        Assert.Equal(LeveeBreakerState.Closed, a.L2BreakerState);

        // an instance that never saw the invalidation reads the tag's time from Redis: the old entry is a miss there
        await using var appC = NewApp();
        var c = await RealRedisTests.ConnectedCache(appC);
        Assert.Equal(2, await c.GetOrCreateAsync("price", 0, (_, _) => ValueTask.FromResult(2), OneMinute, ["prices"]));
        Assert.Single(logger.Entries, e => e.Id.Id == LeveeEventIds.ScriptingRefused); // the refusal is said once
    }

    [Fact]
    public async Task RemoveByTag_WithoutScripting_NeverMovesTheTagsTimeBack()
    {
        var logger = new CollectingLogger();
        await using var app = NewApp(logger);
        var cache = await RealRedisTests.ConnectedCache(app);
        var later = DateTimeOffset.UtcNow.AddMinutes(5).ToUnixTimeMilliseconds().ToString(System.Globalization.CultureInfo.InvariantCulture);
        Assert.Equal("OK", (await Redis.ExecuteAsync("SET", "levee:t:prices", later)).Text); // another instance's later invalidation
        await cache.RemoveByTagAsync("prices");
        Assert.True(cache.PendingInvalidations == 0, "journaled; the cache's log: " + string.Join(" | ", logger.Entries.Select(e => $"{e.Id.Id} {e.Message}")));
        Assert.Equal(later, (await Redis.ExecuteAsync("GET", "levee:t:prices")).Text);
    }
}
