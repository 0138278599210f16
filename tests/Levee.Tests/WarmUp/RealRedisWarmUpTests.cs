using Levee.Drill.Topology;
using Levee.Tests.Gate;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;
using Microsoft.Extensions.Hosting;
using Xunit.Abstractions;

namespace Levee.Tests.WarmUp;

/// <summary>Warm-up against a real redis-server (started on a free loopback port, always stopped).</summary>
[Collection(RealProcesses.Name)]
public sealed class RealRedisWarmUpTests(ITestOutputHelper output) : Levee.Tests.Redis.RedisServerTest
{
    private static readonly LeveeEntryOptions TenMinutes = new() { Expiration = TimeSpan.FromMinutes(10) };

    /// <summary>The catalogue's critical entries, with a database stand-in that counts concurrent loads.</summary>
    private sealed class CriticalEntries : ILeveeWarmUpSource
    {
        private int _inFlight;
        private int _maxInFlight;
        private int _calls;

        public int MaxInFlight => Volatile.Read(ref _maxInFlight);

        public int Calls => Volatile.Read(ref _calls);

        public async IAsyncEnumerable<LeveeWarmUpEntry> GetEntriesAsync([System.Runtime.CompilerServices.EnumeratorCancellation] CancellationToken cancellationToken)
        {
            await Task.Yield();
            foreach (var name in new[] { "featured-products", "active-categories", "site-settings" })
            {
                for (var i = 0; i < 10; i++)
                {
                    var key = $"{name}:{i}";
                    yield return LeveeWarmUpEntry.Create(key, ct => LoadAsync(key, ct), TenMinutes);
                }
            }
        }

        private async ValueTask<string> LoadAsync(string key, CancellationToken ct)
        {
            Interlocked.Increment(ref _calls);
            GateEngineTests.InterlockedMax(ref _maxInFlight, Interlocked.Increment(ref _inFlight));
            try
            {
                await Task.Delay(20, ct); // a database query
                return "db:" + key;
            }
            finally
            {
                Interlocked.Decrement(ref _inFlight);
            }
        }
    }

    [Fact]
    public async Task EntriesInL1AndL2BeforeReady_AndBackInL2AfterRedisRestartsEmpty_WithoutAnyRequest()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddLevee(o =>
        {
            o.Redis = Redis.Endpoint;
            o.Gate = new LeveeGateOptions { Adaptive = false, InitialLimit = 8, LowPriorityShare = 0.25 }; // warm-up share: 2
            o.WarmUp.EmptyL2CheckInterval = TimeSpan.FromMilliseconds(200);
        }).AddLeveeWarmUpSource<CriticalEntries>();
        services.AddHealthChecks().AddLeveeWarmUp();
        await using var app = services.BuildServiceProvider();
        var health = app.GetRequiredService<HealthCheckService>();
        var source = app.GetRequiredService<CriticalEntries>();
        var warmUp = app.GetRequiredService<LeveeWarmUp>();
        var hosted = app.GetServices<IHostedService>().ToList();
        Assert.Equal(HealthStatus.Unhealthy, (await health.CheckHealthAsync(r => r.Tags.Contains("ready"))).Status);
        foreach (var h in hosted)
        {
            await h.StartAsync(CancellationToken.None);
        }

        try
        {
            await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(30));
            Assert.Equal(LeveeWarmUpState.Ready, warmUp.State);
            Assert.Equal(HealthStatus.Healthy, (await health.CheckHealthAsync(r => r.Tags.Contains("ready"))).Status);
            Assert.Equal(30, source.Calls);
            Assert.InRange(source.MaxInFlight, 1, 2); // never more than the gate's warm-up share

            // in L2 (read straight from redis-server) and in L1 (no factory call)
            for (var i = 0; i < 10; i++)
            {
                Assert.False((await Redis.ExecuteAsync("GET", $"levee:d:0:site-settings:{i}")).IsNull, $"site-settings:{i} not in Redis {Redis} before readiness");
            }

            var cache = app.GetRequiredService<LeveeCache>();
            Assert.Equal("db:site-settings:3", await cache.GetOrCreateAsync("site-settings:3", 0, (_, _) => ValueTask.FromResult("called"), TenMinutes));
            Assert.Equal(30, source.Calls);

            // Redis restarts without persistence: empty. Nobody asks for the entries; Levee notices and refills L2.
            await Redis.RestartAsync();
            Assert.True((await Redis.ExecuteAsync("GET", "levee:d:0:site-settings:0")).IsNull);
            var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
            while ((await Redis.ExecuteAsync("DBSIZE")).Number < 31)
            {
                Assert.True(DateTime.UtcNow < deadline, $"entries not back in Redis {Redis} within 30 s (DBSIZE {(await Redis.ExecuteAsync("DBSIZE")).Number}); last warm-up {warmUp.LastResult}; log {Redis.LogFile}");
                await Task.Delay(50);
            }

            await GateEngineTests.WaitUntil(() => !warmUp.IsRunning);
            output.WriteLine($"after restart: DBSIZE {(await Redis.ExecuteAsync("DBSIZE")).Number}, factory calls {source.Calls}, last warm-up {warmUp.LastResult}, max in flight {source.MaxInFlight}");
            for (var i = 0; i < 10; i++)
            {
                Assert.False((await Redis.ExecuteAsync("GET", $"levee:d:0:featured-products:{i}")).IsNull, $"featured-products:{i} not back in Redis {Redis}");
            }

            Assert.True(source.Calls >= 60, $"expected a re-warm from the database, got {source.Calls} calls");
            Assert.InRange(source.MaxInFlight, 1, 2);
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
