using Levee.Drill.Topology;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace Levee.Tests.WarmUp;

/// <summary>Warm-up after a real Sentinel failover (1 master + 2 replicas + 3 Sentinels on loopback).</summary>
[Collection(RealProcesses.Name)]
public sealed class SentinelWarmUpTests(ITestOutputHelper output)
{
    private static readonly LeveeEntryOptions TenMinutes = new() { Expiration = TimeSpan.FromMinutes(10) };

    [Fact]
    public async Task MasterKilled_AfterFailover_WarmUpRunsAgain_AndEntriesAreOnThePromotedMaster()
    {
        await using var topology = await SentinelTopology.StartAsync();
        var calls = 0;
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddLevee(o => o.Redis = topology.ConnectionString);
        for (var i = 0; i < 10; i++)
        {
            var id = i;
            services.AddLeveeWarmUp("category:" + id, (_, _) =>
            {
                Interlocked.Increment(ref calls);
                return ValueTask.FromResult("category " + id);
            }, TenMinutes);
        }

        await using var app = services.BuildServiceProvider();
        var warmUp = app.GetRequiredService<LeveeWarmUp>();
        var hosted = app.GetServices<IHostedService>().ToList();
        foreach (var h in hosted)
        {
            await h.StartAsync(CancellationToken.None);
        }

        try
        {
            await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(LeveeWarmUpState.Ready, warmUp.State);
            Assert.Equal(10, calls);
            Assert.False((await topology.Master.ExecuteAsync("GET", "levee:d:0:category:7")).IsNull, $"not on the master {topology.Master} before readiness");

            var oldMaster = topology.Master.Endpoint;
            topology.Master.Kill();
            var promoted = await topology.WaitForFailoverAsync(oldMaster, TimeSpan.FromSeconds(30));
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while (warmUp.LastResult is not { Trigger: not "startup" } || warmUp.IsRunning)
            {
                Assert.True(DateTime.UtcNow < deadline, $"no warm-up after the failover to {promoted} within 30 s (last: {warmUp.LastResult})");
                await Task.Delay(50);
            }

            output.WriteLine($"after failover to {promoted.Endpoint}: {warmUp.LastResult}, factory calls {calls}");
            for (var i = 0; i < 10; i++)
            {
                Assert.False((await promoted.ExecuteAsync("GET", "levee:d:0:category:" + i)).IsNull, $"category:{i} not on the promoted master {promoted}");
            }

            Assert.Equal(10, warmUp.LastResult!.FromL2 + warmUp.LastResult.FromFactory);
        }
        finally
        {
            foreach (var h in hosted)
            {
                await h.StopAsync(CancellationToken.None);
            }
        }
    }
}
