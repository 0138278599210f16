using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Levee.Tests.HybridCacheContract;

/// <summary>Keys HybridCache does not cache: the factory runs, its value is returned, nothing is kept, a log says why.</summary>
public class KeyTests
{
    // upstream: SizeTests.ValidateSizeLimit_Immutable and ValidateSizeLimit_Mutable, the key rows ("", "  ", null, over
    // MaximumKeyLength, "a\u0000c", "a\u001Fc"; "a c" is fine). The IMemoryCache SizeLimit rows have no Levee counterpart
    // (docs/engine.md, "Differences from Microsoft's HybridCache").
    [Theory]
    [InlineData("", false)]
    [InlineData("  ", false)]
    [InlineData(null, false)]
    [InlineData("a\u0000c", false)]
    [InlineData("a\u001Fc", false)]
    [InlineData("abcdefghijk", false)] // MaximumKeyLength is 10 here
    [InlineData("a\u0020c", true)]
    [InlineData("abc", true)]
    public async Task InvalidKey_FactoryRuns_ValueReturned_NothingCached_Logged(string? key, bool cached)
    {
        var logger = new CollectingLogger();
        var services = new ServiceCollection();
        services.AddLogging(b => b.AddProvider(new CollectingLoggerProvider(logger)));
        services.AddLevee(o => o.MaximumKeyLength = 10);
        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<HybridCache>();

        var expected = new string("simple value".ToArray());
        var actual = await cache.GetOrCreateAsync<string>(key!, _ => new(expected));
        Assert.Same(expected, actual);

        actual = await cache.GetOrCreateAsync<string>(key!, _ => new(Guid.NewGuid().ToString()));
        if (cached)
        {
            Assert.Same(expected, actual); // from L1
            Assert.False(logger.Has(LeveeEventIds.KeyNotCacheable));
        }
        else
        {
            Assert.NotEqual(expected, actual); // the factory ran again
            Assert.Equal(2, logger.Entries.Count(e => e.Id.Id == LeveeEventIds.KeyNotCacheable && e.Level == LogLevel.Warning));
            Assert.Equal(0, provider.GetRequiredService<LeveeCache>().L1Count);
        }
    }

    [Fact]
    public async Task InvalidKey_SetRemoveAndTryGet_DoNothing_AndDoNotThrow()
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        await cache.SetAsync("", 1);
        await cache.SetAsync("a\u0001", 1, new LeveeEntryOptions());
        await cache.RemoveAsync((string)null!);
        Assert.False((await cache.TryGetAsync<int>("a\u0001")).Found);
        Assert.Equal(0, cache.L1Count);
        Assert.Equal(7, await cache.GetOrCreateAsync("\t", 0, (_, _) => ValueTask.FromResult(7), new LeveeEntryOptions()));
    }

    [Fact]
    public async Task InvalidKey_DisableUnderlyingData_ReturnsDefault_WithoutTheFactory()
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        var value = await cache.GetOrCreateAsync<int>("", _ => throw new InvalidOperationException("must not run"),
            new HybridCacheEntryOptions { Flags = HybridCacheEntryFlags.DisableUnderlyingData });
        Assert.Equal(0, value);
    }
}
