using Levee.Drill.Topology;
using Levee.Tests.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Levee.Tests.Redis;

/// <summary>AUTH passes through the configuration string; a wrong password never crashes the app and is never logged.</summary>
[Collection(RealProcesses.Name)]
public sealed class RedisAuthTests : RedisServerTest
{
    private const string Password = "s3cret-Pa55";

    protected override async Task OnStartedAsync()
    {
        Assert.False((await Redis.ExecuteAsync("CONFIG", "SET", "requirepass", Password)).IsError);
    }

    private ServiceProvider NewApp(string password, CollectingLogger logger)
    {
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(new CollectingLoggerProvider(logger)).SetMinimumLevel(LogLevel.Trace));
        services.AddLevee(o => o.Redis = $"{Redis.Endpoint},password={password}");
        return services.BuildServiceProvider();
    }

    [Fact]
    public async Task RightPassword_ReadsAndWrites_ThroughL2()
    {
        var logger = new CollectingLogger();
        await using var writerApp = NewApp(Password, logger);
        await using var readerApp = NewApp(Password, logger);
        var writer = await RealRedisTests.ConnectedCache(writerApp);
        var reader = await RealRedisTests.ConnectedCache(readerApp);
        await writer.SetAsync("k", "v", new LeveeEntryOptions());
        Assert.Equal("v", (await reader.TryGetAsync<string>("k")).Value);
    }

    [Fact]
    public async Task WrongPassword_AppServesFromFactory_AndNoLogLineHoldsThePassword()
    {
        var logger = new CollectingLogger();
        await using var app = NewApp("wrong-Pa55word", logger);
        var cache = app.GetRequiredService<LeveeCache>();
        for (var i = 0; i < 20; i++)
        {
            Assert.Equal(i, await cache.GetOrCreateAsync("k" + i, i, (s, _) => ValueTask.FromResult(s), new LeveeEntryOptions()));
            await Task.Delay(50);
        }

        Assert.False(cache.IsL2Available);
        Assert.NotEmpty(logger.Entries);
        Assert.DoesNotContain(logger.Entries, e => e.Message.Contains("wrong-Pa55word", StringComparison.Ordinal) || e.Message.Contains(Password, StringComparison.Ordinal));
    }
}
