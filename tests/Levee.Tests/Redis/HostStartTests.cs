using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;

namespace Levee.Tests.Redis;

/// <summary>
/// The cache is built, and connects to Redis, when the host starts: not on the first request (a real redis-server, started
/// on a free loopback port and always stopped).
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class HostStartTests : RedisServerTest
{
    [Fact]
    public async Task HostStart_ConnectsToRedis_BeforeAnyRequest()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddLevee(o => o.Redis = Redis.Endpoint);
        services.AddLevee(o => o.DefaultExpiration = TimeSpan.FromMinutes(1)); // a second call registers the start once
        await using var app = services.BuildServiceProvider();
        var hosted = app.GetServices<IHostedService>().ToList();
        Assert.Single(hosted, h => h.GetType().Name == "LeveeStartService");
        Assert.Equal(0, await LeveeClientsAsync()); // nothing resolved yet: no connection

        foreach (var h in hosted)
        {
            await h.StartAsync(CancellationToken.None);
        }

        // nobody has asked the cache for anything: the host's start made it, and it connects in the background
        await WaitUntilAsync(async () => await LeveeClientsAsync() > 0, TimeSpan.FromSeconds(20));
        foreach (var h in hosted)
        {
            await h.StopAsync(CancellationToken.None);
        }
    }

    [Fact]
    public async Task HostStart_ConnectsAKeyedCache_Too()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddKeyedLevee("sessions", o => o.Redis = Redis.Endpoint);
        await using var app = services.BuildServiceProvider();
        foreach (var h in app.GetServices<IHostedService>())
        {
            await h.StartAsync(CancellationToken.None);
        }

        await WaitUntilAsync(async () => await LeveeClientsAsync() > 0, TimeSpan.FromSeconds(20));
    }

    /// <summary>Connections redis-server has from a client named "levee" (Levee's own connections name themselves so).</summary>
    private async Task<int> LeveeClientsAsync()
    {
        var list = (await Redis.ExecuteAsync("CLIENT", "LIST")).Text ?? "";
        return list.Split('\n').Count(line => line.Contains(" name=levee ", StringComparison.Ordinal));
    }

    private async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        while (!await condition())
        {
            Assert.False(cts.IsCancellationRequested, $"no connection named levee on {Redis} within {timeout}: {(await Redis.ExecuteAsync("CLIENT", "LIST")).Text}");
            await Task.Delay(50);
        }
    }
}
