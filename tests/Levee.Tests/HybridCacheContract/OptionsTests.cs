using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.Configuration;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Time.Testing;

namespace Levee.Tests.HybridCacheContract;

/// <summary>What an app gave <c>AddHybridCache(o =&gt; ...)</c> still holds when <c>AddLevee</c> replaces that registration.</summary>
public class OptionsTests
{
    private static ServiceProvider NewApp(FakeTimeProvider time, Action<HybridCacheOptions> hybrid, Action<LeveeOptions>? levee = null, CollectingLogger? logger = null)
    {
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        if (logger is not null)
        {
            services.AddLogging(b => b.AddProvider(new CollectingLoggerProvider(logger)));
        }

        services.AddHybridCache(hybrid);
        services.AddLevee(o =>
        {
            o.JitterFraction = 0;
            o.EarlyRefreshRatio = 1;
            levee?.Invoke(o);
        });
        return services.BuildServiceProvider();
    }

    // upstream: SizeTests.ValidateSizeLimit_Immutable, row "abc" with MaximumKeyLength = 2 set through AddHybridCache
    [Fact]
    public async Task MaximumKeyLength_FromAddHybridCache_IsHonoured()
    {
        var logger = new CollectingLogger();
        await using var app = NewApp(TestCache.NewTime(), o => o.MaximumKeyLength = 2, logger: logger);
        var cache = app.GetRequiredService<HybridCache>();
        Assert.Equal("a", await cache.GetOrCreateAsync("abc", _ => ValueTask.FromResult("a")));
        Assert.Equal("b", await cache.GetOrCreateAsync("abc", _ => ValueTask.FromResult("b"))); // not cached: the key is too long
        Assert.True(logger.Has(LeveeEventIds.KeyNotCacheable));
    }

    [Fact]
    public async Task AValueSetOnLeveeOptions_WinsOverAddHybridCache()
    {
        await using var app = NewApp(TestCache.NewTime(), o => o.MaximumKeyLength = 2, o => o.MaximumKeyLength = 10);
        Assert.Equal(10, app.GetRequiredService<LeveeCache>().Options.MaximumKeyLength);
    }

    [Fact]
    public async Task MaximumPayloadBytes_FromAddHybridCache_IsHonoured()
    {
        await using var app = NewApp(TestCache.NewTime(), o => o.MaximumPayloadBytes = 100);
        Assert.Equal(100, app.GetRequiredService<LeveeCache>().Options.MaximumPayloadBytes);
    }

    // Options are validated once, by the options validator, after the values taken over from AddHybridCache: a value out of
    // Levee's bounds that came from HybridCacheOptions is reported there (the cache's constructor no longer checks again).
    [Fact]
    public async Task AnOutOfBoundsValue_FromAddHybridCache_IsReportedByTheOptionsValidator()
    {
        await using var app = NewApp(TestCache.NewTime(), o => o.MaximumKeyLength = 100_000);
        var ex = Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() =>
            app.GetRequiredService<Microsoft.Extensions.Options.IOptions<LeveeOptions>>().Value);
        Assert.Contains("MaximumKeyLength", ex.Message, StringComparison.Ordinal);
        Assert.Throws<Microsoft.Extensions.Options.OptionsValidationException>(() => app.GetRequiredService<LeveeCache>());
    }

    // upstream: ExpirationTests.ValidateCacheExpiration-style: DefaultEntryOptions' Expiration and LocalCacheExpiration
    [Fact]
    public async Task DefaultEntryOptions_FromAddHybridCache_AreTheDefaultsOfCallsWithoutOptions()
    {
        var time = TestCache.NewTime();
        await using var app = NewApp(time, o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Expiration = TimeSpan.FromSeconds(30) });
        var cache = app.GetRequiredService<HybridCache>();
        Assert.Equal(1, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1)));
        time.Advance(TimeSpan.FromSeconds(29));
        Assert.Equal(1, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2)));
        time.Advance(TimeSpan.FromSeconds(2)); // past the 30 s default expiration (not Levee's 5 minutes)
        Assert.Equal(3, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(3)));
    }

    [Fact]
    public async Task DefaultEntryOptions_Flags_ApplyToCallsWithoutOptions_AndToOptionsWithoutFlags()
    {
        await using var app = NewApp(TestCache.NewTime(), o => o.DefaultEntryOptions = new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableLocalCache });
        var cache = app.GetRequiredService<HybridCache>();
        Assert.Equal(1, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1)));
        Assert.Equal(2, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2)));
        Assert.Equal(3, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(3), new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(1) }));
        Assert.Equal(0, app.GetRequiredService<LeveeCache>().L1Count);

        // options with flags of their own: those
        Assert.Equal(4, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(4), new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.None }));
        Assert.Equal(4, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(5), new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.None }));
    }

    // upstream: ExpirationTests (L1 and L2 lifetimes are separate; HybridCache's GetEffectiveLocalCacheExpiration)
    [Fact]
    public async Task LocalCacheExpiration_LongerThanTheDefaultExpiration_IsKept_AsHybridCacheKeepsIt()
    {
        var time = TestCache.NewTime();
        await using var app = NewApp(time, _ => { }, o => o.DefaultExpiration = TimeSpan.FromMinutes(1));
        var cache = app.GetRequiredService<HybridCache>();
        var localOnly = new HybridCacheEntryOptions { LocalCacheExpiration = TimeSpan.FromMinutes(10) };
        Assert.Equal(1, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(1), localOnly));
        time.Advance(TimeSpan.FromMinutes(5));
        Assert.Equal(1, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(2), localOnly)); // L1 for 10 minutes
        time.Advance(TimeSpan.FromMinutes(6));
        Assert.Equal(3, await cache.GetOrCreateAsync("k", _ => ValueTask.FromResult(3), localOnly));

        // both in one options object: the local one is cut to the expiration, as HybridCache cuts it
        var both = new HybridCacheEntryOptions { Expiration = TimeSpan.FromMinutes(1), LocalCacheExpiration = TimeSpan.FromMinutes(10) };
        Assert.Equal(4, await cache.GetOrCreateAsync("b", _ => ValueTask.FromResult(4), both));
        time.Advance(TimeSpan.FromMinutes(2));
        Assert.Equal(5, await cache.GetOrCreateAsync("b", _ => ValueTask.FromResult(5), both));
    }
}

/// <summary>Microsoft's ServiceConstructionTests that concern what Levee honours of <c>AddHybridCache</c>'s options.</summary>
public class ServiceConstructionTests
{
    // upstream: ServiceConstructionTests.CanCreateServiceWithManualOptions
    [Fact]
    public async Task CanCreateServiceWithManualOptions()
    {
        var services = new ServiceCollection();
        services.AddHybridCache(options =>
        {
            options.MaximumKeyLength = 937;
            options.DefaultEntryOptions = new() { Expiration = TimeSpan.FromSeconds(120), Flags = HybridCacheEntryFlags.DisableLocalCacheRead };
        });
        services.AddLevee();
        await using var provider = services.BuildServiceProvider();
        var options = Assert.IsType<LeveeCache>(provider.GetRequiredService<HybridCache>()).Options;
        Assert.Equal(937, options.MaximumKeyLength);
        var defaults = options.DefaultEntryOptions;
        Assert.NotNull(defaults);
        Assert.Equal(TimeSpan.FromSeconds(120), defaults.Expiration);
        Assert.Equal(HybridCacheEntryFlags.DisableLocalCacheRead, defaults.Flags);
        Assert.Null(defaults.LocalCacheExpiration);
    }

    // upstream: ServiceConstructionTests.CanParseOptions_WithEntryOptions (the TimeSpan and [Flags] enum from configuration)
    [Fact]
    public async Task CanParseOptions_WithEntryOptions()
    {
        var config = new ConfigurationBuilder().AddInMemoryCollection([
            new("Levee:MaximumKeyLength", "937"),
            new("Levee:DefaultEntryOptions:Flags", "DisableCompression, DisableLocalCacheRead"),
            new("Levee:DefaultEntryOptions:LocalCacheExpiration", "00:02:00"),
        ]).Build();
        var services = new ServiceCollection();
        services.AddLevee(config.GetSection("Levee"));
        await using var provider = services.BuildServiceProvider();
        var options = provider.GetRequiredService<LeveeCache>().Options;
        Assert.Equal(937, options.MaximumKeyLength);
        Assert.NotNull(options.DefaultEntryOptions);
        Assert.Equal(HybridCacheEntryFlags.DisableCompression | HybridCacheEntryFlags.DisableLocalCacheRead, options.DefaultEntryOptions.Flags);
        Assert.Equal(TimeSpan.FromSeconds(120), options.DefaultEntryOptions.LocalCacheExpiration);
        Assert.Null(options.DefaultEntryOptions.Expiration);
    }

    // upstream: ServiceConstructionTests.VerifyCacheEntryOptionsScenarios (expirations in minutes). Upstream adds the hard
    // flag DisableDistributedCache because it has no L2; Levee has no hard flags, so the expected flags are the rows' own.
    [Theory]
    [InlineData(false, null, null, null, false, null, null, null)]
    [InlineData(true, null, null, null, false, null, null, null)]
    [InlineData(false, null, null, null, true, null, null, null)]
    [InlineData(true, null, null, null, true, null, null, null)]
    [InlineData(false, null, null, null, true, null, null, HybridCacheEntryFlags.None)]
    [InlineData(false, null, null, null, true, null, null, HybridCacheEntryFlags.DisableLocalCacheRead, null, null, HybridCacheEntryFlags.DisableLocalCacheRead)]
    [InlineData(true, null, null, HybridCacheEntryFlags.None, true, null, null, HybridCacheEntryFlags.DisableLocalCacheRead, null, null, HybridCacheEntryFlags.DisableLocalCacheRead)]
    [InlineData(true, null, null, HybridCacheEntryFlags.DisableLocalCacheWrite, true, null, null, HybridCacheEntryFlags.DisableLocalCacheRead, null, null, HybridCacheEntryFlags.DisableLocalCacheRead)]
    [InlineData(true, null, null, HybridCacheEntryFlags.DisableLocalCacheWrite, true, null, null, null, null, null, HybridCacheEntryFlags.DisableLocalCacheWrite)]
    [InlineData(true, null, null, HybridCacheEntryFlags.DisableLocalCacheWrite, false, null, null, null, null, null, HybridCacheEntryFlags.DisableLocalCacheWrite)]
    [InlineData(false, null, null, null, true, 42, null, null, 42, 42)]
    [InlineData(false, null, null, null, true, 43, 42, null, 43, 42)]
    [InlineData(false, null, null, null, true, null, 43, null, null, 43)]
    [InlineData(true, 42, null, null, false, null, null, null, 42, 42)]
    [InlineData(true, 43, 42, null, false, null, null, null, 43, 42)]
    [InlineData(true, null, 43, null, false, null, null, null, null, 43)]
    [InlineData(true, 43, 42, null, true, null, null, null, 43, 42)]
    [InlineData(true, 43, 42, null, true, 44, null, null, 44, 44)]
    [InlineData(true, 43, 42, null, true, 45, 44, null, 45, 44)]
    [InlineData(true, 43, 42, null, true, null, 45, null, 43, 45)]
    public async Task VerifyCacheEntryOptionsScenarios(
        bool defaultsSpecified, int? defaultExpiration, int? defaultLocalCacheExpiration, HybridCacheEntryFlags? defaultFlags,
        bool perItemSpecified, int? perItemExpiration, int? perItemLocalCacheExpiration, HybridCacheEntryFlags? perItemFlags,
        int? expectedExpiration = null, int? expectedLocalCacheExpiration = null, HybridCacheEntryFlags expectedFlags = HybridCacheEntryFlags.None)
    {
        static TimeSpan? Minutes(int? m) => m is null ? null : TimeSpan.FromMinutes(m.Value);
        var services = new ServiceCollection();
        services.AddHybridCache(options =>
        {
            if (defaultsSpecified)
            {
                options.DefaultEntryOptions = new()
                {
                    Expiration = Minutes(defaultExpiration),
                    LocalCacheExpiration = Minutes(defaultLocalCacheExpiration),
                    Flags = defaultFlags,
                };
            }
        });
        services.AddLevee();
        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<LeveeCache>();
        HybridCacheEntryOptions? itemOptions = perItemSpecified
            ? new() { Expiration = Minutes(perItemExpiration), LocalCacheExpiration = Minutes(perItemLocalCacheExpiration), Flags = perItemFlags }
            : null;

        var (flags, expiration, local) = cache.EffectiveOptions(itemOptions);
        Assert.Equal(expectedFlags, flags);
        Assert.Equal(TimeSpan.FromMinutes(expectedExpiration ?? 5), expiration);
        Assert.Equal(TimeSpan.FromMinutes(expectedLocalCacheExpiration ?? 5), local);
    }
}
