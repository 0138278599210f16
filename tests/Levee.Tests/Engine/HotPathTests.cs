#pragma warning disable CA2012 // the hit path completes synchronously; that is what these tests assert
using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Tests.Engine;

public class HotPathTests
{
    private static readonly LeveeEntryOptions Options = new() { Expiration = TimeSpan.FromMinutes(5) };

    [Fact]
    public async Task L1Hit_AllocatesNothing_LeveeOverload()
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        var product = new object();
        await cache.GetOrCreateAsync("product:1", product, static (p, _) => ValueTask.FromResult(p), Options);
        Hit(cache, product); // JIT and first-call paths

        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            Hit(cache, product);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    [Fact]
    public async Task L1Hit_AllocatesNothing_HybridCacheOverload_ValueType()
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        HybridCache hybrid = cache;
        await hybrid.GetOrCreateAsync("n", 42, static (s, _) => ValueTask.FromResult(s));
        HitHybrid(hybrid);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            HitHybrid(hybrid);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static void Hit(LeveeCache cache, object product)
    {
        var pending = cache.GetOrCreateAsync("product:1", product, static (p, _) => ValueTask.FromResult(p), Options);
        Assert.True(pending.IsCompletedSuccessfully);
        Assert.Same(product, pending.Result);
    }

    private static void HitHybrid(HybridCache cache)
    {
        var pending = cache.GetOrCreateAsync("n", 0, static (s, _) => ValueTask.FromResult(s));
        if (!pending.IsCompletedSuccessfully || pending.Result != 42)
        {
            Assert.Fail("expected a synchronous L1 hit");
        }
    }
}
