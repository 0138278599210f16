using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Tests.HybridCacheContract;

/// <summary>An entry's tags are the caller's at the time of the call, checked as HybridCache checks them (TagSet).</summary>
public class TagTests
{
    private static readonly HybridCacheEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task TheCallersTagArray_IsCopied_ClearingOrReusingItChangesNothing()
    {
        var time = TestCache.NewTime();
        await using var cache = TestCache.Create(time);
        var tags = new[] { "products" };
        Assert.Equal(1, await cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(1), OneMinute, tags));

        tags[0] = null!; // cleared: later reads of "a" must not trip over it
        time.Advance(TimeSpan.FromMilliseconds(1));
        Assert.Equal(1, await cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(2), OneMinute, tags: null));
        await cache.RemoveByTagAsync("other");
        Assert.Equal(1, await cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(2), OneMinute));

        tags[0] = "orders"; // reused for another entry: "a" is still tagged "products" only
        Assert.Equal(3, await cache.GetOrCreateAsync("b", _ => ValueTask.FromResult(3), OneMinute, tags));
        time.Advance(TimeSpan.FromMilliseconds(1));
        await cache.RemoveByTagAsync("products");
        Assert.Equal(4, await cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(4), OneMinute));
        Assert.Equal(3, await cache.GetOrCreateAsync("b", _ => ValueTask.FromResult(5), OneMinute));
    }

    // upstream: TagSetTests.WildcardTagIsRejected / EmptyTagIsRejected (TagSet.Validate)
    [Theory]
    [InlineData("*")]
    [InlineData("")]
    [InlineData("  ")]
    [InlineData(null)]
    public async Task ReservedOrEmptyTag_IsRefused(string? tag)
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        await Assert.ThrowsAsync<ArgumentException>(() => cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(1), OneMinute, [tag!]).AsTask());
        await Assert.ThrowsAsync<ArgumentException>(() => cache.SetAsync("a", 1, OneMinute, [tag!]).AsTask());
        Assert.Equal(0, cache.L1Count);
    }

    [Fact]
    public async Task TagsTheEnvelopeCannotHold_AreRefusedWithAClearMessage()
    {
        await using var cache = TestCache.Create(TestCache.NewTime(), new FakeL2Store());
        var tooMany = Enumerable.Range(0, LeveeCache.MaxTags + 1).Select(i => "t" + i).ToArray();
        var ex = await Assert.ThrowsAsync<ArgumentException>(() => cache.SetAsync("a", 1, OneMinute, tooMany).AsTask());
        Assert.Contains("at most 65535 tags", ex.Message, StringComparison.Ordinal);

        var tooLong = new string('é', LeveeCache.MaxTagBytes / 2 + 1); // 2 UTF-8 bytes each: over 65,535 bytes
        ex = await Assert.ThrowsAsync<ArgumentException>(() => cache.GetOrCreateAsync("a", _ => ValueTask.FromResult(1), OneMinute, [tooLong]).AsTask());
        Assert.Contains("at most 65535 bytes", ex.Message, StringComparison.Ordinal);

        // the largest allowed still round-trips through the envelope
        var longest = new string('x', LeveeCache.MaxTagBytes);
        await cache.SetAsync("b", 2, OneMinute, [longest]);
        cache.ClearLocal();
        Assert.Equal(2, await cache.GetOrCreateAsync("b", _ => ValueTask.FromResult(3), OneMinute));
    }
}
