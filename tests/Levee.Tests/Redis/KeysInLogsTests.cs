using Levee.Tests.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Levee.Tests.Redis;

/// <summary>
/// The README promises that keys are never logged. StackExchange.Redis puts the command and its key into exception
/// messages (<c>IncludeDetailInExceptions</c>, on by default) and Levee logs those exceptions: every connection Levee
/// makes turns that off. The logger here renders exceptions as a console logger does (message, exception, inner ones).
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class KeysInLogsTests : RedisServerTest
{
    private const string SecretKey = "user-4711-email-alice@example.com";

    [Fact]
    public void EveryConfigurationLeveeDerives_HasNoDetailInExceptions()
    {
        var configuration = Levee.Redis.RedisConfiguration.Create("127.0.0.1:1,serviceName=m");
        Assert.False(configuration.IncludeDetailInExceptions);
        Assert.False(configuration.Clone().IncludeDetailInExceptions); // the Sentinel monitor's data connections are clones
    }

    [Fact]
    public async Task RedisTimeoutsOnAKey_AreLogged_WithoutTheKey()
    {
        var logger = new CollectingLogger();
        var services = new ServiceCollection();
        services.AddLogging(b => b.SetMinimumLevel(LogLevel.Trace).AddProvider(new CollectingLoggerProvider(logger)));
        services.AddLevee(o =>
        {
            // StackExchange.Redis times the call out (its message names the command and key) before Levee's budget does
            o.Redis = Redis.Endpoint + ",asyncTimeout=200,syncTimeout=200";
            o.L2Timeout = TimeSpan.FromSeconds(1);
            o.BreakerSamplingDuration = TimeSpan.FromSeconds(5);
        });
        await using var app = services.BuildServiceProvider();
        var cache = await RealRedisTests.ConnectedCache(app);

        Redis.Freeze(); // a silent server: the read times out
        try
        {
            Assert.Equal("db", await cache.GetOrCreateAsync(SecretKey, "none", (_, _) => ValueTask.FromResult("db"), new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) }));
            await Eventually.TrueAsync(() => logger.Rendered.Any(r => r.Contains("Timeout", StringComparison.Ordinal)), TimeSpan.FromSeconds(10), "no timeout was logged");
        }
        finally
        {
            Redis.Thaw();
        }

        var rendered = logger.Rendered.ToList();
        Assert.DoesNotContain(rendered, r => r.Contains("user-4711", StringComparison.Ordinal));
    }
}
