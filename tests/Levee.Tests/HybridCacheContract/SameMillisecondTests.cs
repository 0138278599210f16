using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Tests.HybridCacheContract;

/// <summary>
/// A tag invalidation (or a clear-all) and a reload in the same wall-clock millisecond: the clock here never moves, so
/// every operation is in one millisecond, as many are on a busy server. A reload that began after the invalidation is
/// kept; one that began before it is not.
/// </summary>
public class SameMillisecondTests
{
    private static readonly HybridCacheEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Theory]
    [InlineData("products")]
    [InlineData("*")]
    public async Task InvalidateThenReload_InTheSameMillisecond_TheReloadIsKept(string invalidated)
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        HybridCache hybrid = cache;
        var calls = 0;
        for (var i = 0; i < 200; i++)
        {
            await hybrid.RemoveByTagAsync(invalidated);
            var loaded = await hybrid.GetOrCreateAsync("p", _ => ValueTask.FromResult(Interlocked.Increment(ref calls)), OneMinute, ["products"]);
            var again = await hybrid.GetOrCreateAsync("p", _ => ValueTask.FromResult(Interlocked.Increment(ref calls)), OneMinute, ["products"]);
            Assert.Equal(loaded, again); // kept: the second read is an L1 hit
        }

        Assert.Equal(200, calls); // one load per invalidation (was 400: every reload was thrown away)
    }

    [Theory]
    [InlineData("products")]
    [InlineData("*")]
    public async Task InvalidatedWhileTheFactoryRuns_InTheSameMillisecond_TheValueIsNotKept(string invalidated)
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        HybridCache hybrid = cache;
        var inFactory = new TaskCompletionSource();
        var release = new TaskCompletionSource();
        var load = hybrid.GetOrCreateAsync("p", async _ =>
        {
            inFactory.SetResult();
            await release.Task;
            return "old";
        }, OneMinute, ["products"]).AsTask();
        await inFactory.Task;
        await hybrid.RemoveByTagAsync(invalidated);
        release.SetResult();
        Assert.Equal("old", await load); // its caller asked before the invalidation
        Assert.Equal("new", await hybrid.GetOrCreateAsync("p", _ => ValueTask.FromResult("new"), OneMinute, ["products"]));
    }

    [Theory]
    [InlineData("products")]
    [InlineData("*")]
    public async Task InvalidatedWhileTheLoadsRedisWriteIsPending_ALaterCallerDoesNotGetTheOldValue(string invalidated)
    {
        // a load that began before the invalidation is still running (its SET on the wire): a caller that comes after the
        // invalidation must not join it and get its value (found by the L2 port of LocalInvalidationTests.TagBasedInvalidate
        // on a busy machine)
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(TestCache.NewTime(), l2));
        HybridCache hybrid = cache;
        l2.SetGate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var first = hybrid.GetOrCreateAsync("p", _ => ValueTask.FromResult("old"), OneMinute, ["products"]).AsTask();
        await hybrid.RemoveByTagAsync(invalidated);
        var later = hybrid.GetOrCreateAsync("p", _ => ValueTask.FromResult("new"), OneMinute, ["products"]).AsTask();
        l2.SetGate.SetResult();
        Assert.Equal("old", await TestCache.Bounded(first, "the load that began before the invalidation"));
        Assert.Equal("new", await TestCache.Bounded(later, "the read after the invalidation"));
    }

    [Fact]
    public async Task SetAfterAnInvalidation_InTheSameMillisecond_IsKept_AndOneBeforeIsNot()
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        HybridCache hybrid = cache;
        await hybrid.SetAsync("before", 1, OneMinute, ["products"]);
        await hybrid.RemoveByTagAsync("products");
        await hybrid.SetAsync("after", 2, OneMinute, ["products"]);
        Assert.Equal(0, await hybrid.GetOrCreateAsync("before", _ => ValueTask.FromResult(0), OneMinute, ["products"]));
        Assert.Equal(2, await hybrid.GetOrCreateAsync("after", _ => ValueTask.FromResult(0), OneMinute, ["products"]));
    }

    [Fact]
    public async Task AnInvalidationReceivedFromAnotherInstance_ThenAReloadInTheSameMillisecond_TheReloadIsKept()
    {
        var redis = new FakeRedis();
        await using var a = await TestCache.Ready(TestCache.Create(TestCache.NewTime(), new FakeL2Store(redis)));
        await using var b = await TestCache.Ready(TestCache.Create(TestCache.NewTime(), new FakeL2Store(redis)));
        var calls = 0;
        HybridCache hybrid = b;
        for (var i = 0; i < 20; i++)
        {
            await a.RemoveByTagAsync("products"); // reaches b on the backplane
            var loaded = await hybrid.GetOrCreateAsync("p", _ => ValueTask.FromResult(Interlocked.Increment(ref calls)), OneMinute, ["products"]);
            Assert.Equal(loaded, await hybrid.GetOrCreateAsync("p", _ => ValueTask.FromResult(Interlocked.Increment(ref calls)), OneMinute, ["products"]));
        }

        Assert.Equal(20, calls);
    }

    [Fact]
    public async Task AnEntryFromRedisCreatedInTheMillisecondOfAnInvalidation_CountsAsInvalidated()
    {
        var redis = new FakeRedis();
        await using var a = await TestCache.Ready(TestCache.Create(TestCache.NewTime(), new FakeL2Store(redis)));
        await using var b = await TestCache.Ready(TestCache.Create(TestCache.NewTime(), new FakeL2Store(redis)));
        await a.SetAsync("p", 1, OneMinute, ["products"]);
        await b.RemoveByTagAsync("products"); // same millisecond, on another instance: their order is unknown
        Assert.Equal(2, await b.GetOrCreateAsync("p", _ => ValueTask.FromResult(2), OneMinute, ["products"]));
    }
}
