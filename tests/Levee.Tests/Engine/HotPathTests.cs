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
        var product = new Product(1, "Desk"); // immutable by HybridCache's rule: shared, never copied
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

    private static void Hit(LeveeCache cache, Product product)
    {
        var pending = cache.GetOrCreateAsync("product:1", product, static (p, _) => ValueTask.FromResult(p), Options);
        if (!pending.IsCompletedSuccessfully || !ReferenceEquals(product, pending.Result))
        {
            Assert.Fail("expected a synchronous L1 hit returning the cached instance");
        }
    }

    [Fact]
    public async Task L1Hit_AllocatesNothing_HybridCacheOverload_ImmutableReferenceType()
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        HybridCache hybrid = cache;
        var product = new Product(2, "Lamp");
        await hybrid.GetOrCreateAsync("p", product, static (p, _) => ValueTask.FromResult(p));
        HitProduct(hybrid, product);
        var before = GC.GetAllocatedBytesForCurrentThread();
        for (var i = 0; i < 1000; i++)
        {
            HitProduct(hybrid, product);
        }

        Assert.Equal(0, GC.GetAllocatedBytesForCurrentThread() - before);
    }

    private static void HitProduct(HybridCache cache, Product product)
    {
        var pending = cache.GetOrCreateAsync("p", product, static (p, _) => ValueTask.FromResult(p));
        if (!pending.IsCompletedSuccessfully || !ReferenceEquals(pending.Result, product))
        {
            Assert.Fail("expected a synchronous L1 hit returning the cached instance");
        }
    }

    [System.ComponentModel.ImmutableObject(true)]
    public sealed record Product(int Id, string Name);

    private static void HitHybrid(HybridCache cache)
    {
        var pending = cache.GetOrCreateAsync("n", 0, static (s, _) => ValueTask.FromResult(s));
        if (!pending.IsCompletedSuccessfully || pending.Result != 42)
        {
            Assert.Fail("expected a synchronous L1 hit");
        }
    }
}
