using Levee.Health;
using Levee.Tests.Fakes;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Levee.Tests.Health;

public class LeveeHealthCheckTests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    private static Task<HealthCheckResult> Check(LeveeHealthCheck check) =>
        check.CheckHealthAsync(new HealthCheckContext { Registration = new HealthCheckRegistration("levee", check, HealthStatus.Unhealthy, null) });

    [Fact]
    public async Task Idle_WithHealthyL2_IsHealthy()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, new FakeL2Store());
        var result = await Check(new LeveeHealthCheck(cache, null));
        Assert.Equal(HealthStatus.Healthy, result.Status);
        Assert.Equal(16, result.Data["gate.default.limit"]);
    }

    [Fact]
    public async Task L2Down_IsDegraded_NotUnhealthy()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store { Mode = FakeL2Mode.Down };
        await using var cache = TestCache.Create(time, l2);
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(1), OneMinute)); // still serves
        var result = await Check(new LeveeHealthCheck(cache, null));
        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("L2 unavailable", result.Description, StringComparison.Ordinal);
    }

    [Fact]
    public async Task BreakerHalfOpen_WhileItsProbeIsOut_IsDegraded_NotHealthy()
    {
        var time = TestCache.NewTime();
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.WithOpenBreaker(time, l2, o => o.L2Timeout = TimeSpan.FromMilliseconds(50));
        var check = new LeveeHealthCheck(cache, null);
        Assert.Equal(HealthStatus.Degraded, (await Check(check)).Status);

        // the break ends; the maintenance makes the probe, and Redis (frozen) does not answer it yet: not proven usable
        l2.Mode = FakeL2Mode.Hang;
        var calls = l2.Calls;
        time.Advance(TimeSpan.FromSeconds(2));
        var maintenance = Task.Run(cache.RunMaintenanceAsync); // as the maintenance timer would: its probe goes out
        await Levee.Tests.Engine.LeveeCacheTests.WaitUntil(() => Task.FromResult(l2.Calls > calls));
        Assert.Equal(LeveeBreakerState.HalfOpen, cache.L2BreakerState);
        var result = await Check(check);
        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("half-open", result.Description, StringComparison.Ordinal);
        var read = cache.GetOrCreateAsync("read", 0, (_, _) => ValueTask.FromResult(0), OneMinute);
        Assert.True(read.IsCompleted); // no caller waits for the probe
        Assert.Equal(0, await read);

        for (var i = 0; i < 100 && cache.L2BreakerState == LeveeBreakerState.HalfOpen; i++)
        {
            time.Advance(TimeSpan.FromMilliseconds(60)); // the probe gives up after its budget
            await Task.Delay(10);
        }

        Assert.Equal(LeveeBreakerState.Open, cache.L2BreakerState);
        Assert.Equal(HealthStatus.Degraded, (await Check(check)).Status);
        await maintenance;
    }

    [Fact]
    public async Task GateServingStale_IsDegradedFor30Seconds_ThenHealthy()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o =>
        {
            o.Gate = new LeveeGateOptions { Adaptive = false, InitialLimit = 1 };
            o.FactorySoftTimeout = Timeout.InfiniteTimeSpan;
            o.FactoryHardTimeout = Timeout.InfiniteTimeSpan;
        });
        await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(1), OneMinute);
        time.Advance(TimeSpan.FromMinutes(2));
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var busy = cache.GetOrCreateAsync("busy", release, async (r, _) => { await r.Task; return 2; }, OneMinute).AsTask();
        Assert.Equal(1, await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult(3), OneMinute)); // stale: gate full
        var check = new LeveeHealthCheck(cache, null);
        var result = await Check(check);
        Assert.Equal(HealthStatus.Degraded, result.Status);
        Assert.Contains("gate 'default' shedding", result.Description, StringComparison.Ordinal);
        release.SetResult();
        await busy;
        time.Advance(TimeSpan.FromSeconds(31));
        Assert.Equal(HealthStatus.Healthy, (await Check(check)).Status);
    }

    [Fact]
    public async Task MostCallersRefusedForTheRateLimit_IsUnhealthy()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time, configure: o =>
            o.Gate = new LeveeGateOptions { Adaptive = false, InitialLimit = 64, RatePerSecond = 1, RateBurst = 1, QueueTimeout = TimeSpan.FromMilliseconds(100) });
        var check = new LeveeHealthCheck(cache, null);
        var refused = 0;
        for (var i = 0; i < 21; i++)
        {
            try
            {
                await cache.GetOrCreateAsync("k" + i, i, (v, _) => ValueTask.FromResult(v), OneMinute);
            }
            catch (LeveeOverloadedException ex) when (ex.Reason == "rate_limit")
            {
                refused++; // the next token would come after the queue timeout: refused at once
            }
        }

        Assert.Equal(20, refused);

        // a caller refused for the rate limit had a slot for a moment; it used to count as admitted too, so the refusals
        // never outnumbered the admissions and the check said Degraded while 95% of the callers were refused
        var result = await Check(check);
        Assert.True(result.Status == HealthStatus.Unhealthy, $"{result.Status}: {result.Description}");
    }

    [Fact]
    public async Task TwoRegistrations_EachCountsRefusalsSinceItsOwnLastRun()
    {
        await using var cache = GateOfOne();
        var check = new LeveeHealthCheck(cache, null); // one instance for every registration (as AddLevee registers it)
        var (release, busy) = await FillTheGateAndRefuseTwenty(cache);

        // a readiness check and a dashboard's check: the second used to count from the first one's run, and saw nothing
        var readiness = await check.CheckHealthAsync(new HealthCheckContext { Registration = new HealthCheckRegistration("levee-ready", check, HealthStatus.Unhealthy, null) });
        var dashboard = await check.CheckHealthAsync(new HealthCheckContext { Registration = new HealthCheckRegistration("levee-dashboard", check, HealthStatus.Unhealthy, null) });
        Assert.Equal((HealthStatus.Unhealthy, HealthStatus.Unhealthy), (readiness.Status, dashboard.Status));
        release.SetResult();
        await busy;
    }

    [Fact]
    public async Task MostCallersRefused_IsUnhealthy_AndRecoversAtTheNextCheck()
    {
        await using var cache = GateOfOne();
        var check = new LeveeHealthCheck(cache, null);
        Assert.Equal(HealthStatus.Healthy, (await Check(check)).Status);
        var (release, busy) = await FillTheGateAndRefuseTwenty(cache);

        var result = await Check(check);
        Assert.Equal(HealthStatus.Unhealthy, result.Status);
        Assert.Contains("refused 20 of 21", result.Description, StringComparison.Ordinal);
        release.SetResult();
        await busy;
        Assert.Equal(HealthStatus.Degraded, (await Check(check)).Status); // no new refusals; still shed within 30 s
    }

    /// <summary>A cache whose gate lets one factory call through and queues none.</summary>
    private static LeveeCache GateOfOne() => TestCache.Create(TestCache.NewTime(), configure: o =>
    {
        o.Gate = new LeveeGateOptions { Adaptive = false, InitialLimit = 1, QueueLimit = 0 };
        o.FactoryHardTimeout = Timeout.InfiniteTimeSpan;
    });

    /// <summary>One factory call holds the gate's only slot (until <c>Release</c>); 20 more callers are refused.</summary>
    private static async Task<(TaskCompletionSource Release, Task Busy)> FillTheGateAndRefuseTwenty(LeveeCache cache)
    {
        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var busy = cache.GetOrCreateAsync("busy", release, async (r, _) => { await r.Task; return 2; }, OneMinute).AsTask();
        for (var i = 0; i < 20; i++)
        {
            await Assert.ThrowsAsync<LeveeOverloadedException>(() => cache.GetOrCreateAsync("k" + i, 0, (_, _) => ValueTask.FromResult(1), OneMinute).AsTask());
        }

        return (release, busy);
    }

    [Fact]
    public async Task HealthChecksRegisteredThroughDI_ReportLevee()
    {
        var services = new ServiceCollection();
        services.AddLogging();
        services.AddLevee().AddLeveeWarmUp("settings", (_, _) => ValueTask.FromResult("s"));
        services.AddHealthChecks().AddLevee().AddLeveeWarmUp();
        await using var provider = services.BuildServiceProvider();
        var hc = provider.GetRequiredService<HealthCheckService>();
        var before = await hc.CheckHealthAsync();
        Assert.Equal(HealthStatus.Unhealthy, before.Entries["levee-warmup"].Status); // hosted service not started: warming
        Assert.Contains("ready", before.Entries["levee-warmup"].Tags);
        var warmUp = provider.GetRequiredService<LeveeWarmUp>();
        foreach (var hosted in provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>())
        {
            await hosted.StartAsync(CancellationToken.None);
        }

        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(10));
        var after = await hc.CheckHealthAsync();
        Assert.Equal(HealthStatus.Healthy, after.Status);
        Assert.Same(provider.GetRequiredService<LeveeHealthCheck>(), provider.GetRequiredService<LeveeHealthCheck>()); // keeps state between checks
        Assert.Equal("s", await provider.GetRequiredService<LeveeCache>().GetOrCreateAsync("settings", 0, (_, _) => ValueTask.FromResult("db"), LeveeEntryOptions.Default));
        foreach (var hosted in provider.GetServices<Microsoft.Extensions.Hosting.IHostedService>())
        {
            await hosted.StopAsync(CancellationToken.None);
        }
    }
}
