using System.Runtime.CompilerServices;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.Tests.HybridCacheContract;

/// <summary>
/// Microsoft's FunctionalTests and LocalInvalidationTests (dotnet/extensions,
/// test/Libraries/Microsoft.Extensions.Caching.Hybrid.Tests), through <c>AddLevee</c> without Redis. The L2 variant of
/// TagBasedInvalidate runs against a real redis-server in <see cref="ThroughRedisTests"/>.
/// </summary>
public class FunctionalTests
{
    private static ServiceProvider GetDefaultCache(out HybridCache cache)
    {
        var services = new ServiceCollection();
        services.AddLevee();
        var provider = services.BuildServiceProvider();
        cache = provider.GetRequiredService<HybridCache>();
        Assert.IsType<LeveeCache>(cache);
        return provider;
    }

    private static string Me([CallerMemberName] string caller = "") => caller;

    // upstream: FunctionalTests.RemoveSingleKey
    [Fact]
    public async Task RemoveSingleKey()
    {
        await using var provider = GetDefaultCache(out var cache);
        var key = Me();
        Assert.Equal(42, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(42)));
        await cache.RemoveAsync("unrelated");
        Assert.Equal(42, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(96)));
        await cache.RemoveAsync(key);
        Assert.Equal(96, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(96)));
    }

    // upstream: FunctionalTests.RemoveNoKeyViaArray
    [Fact]
    public async Task RemoveNoKeyViaArray()
    {
        await using var provider = GetDefaultCache(out var cache);
        var key = Me();
        Assert.Equal(42, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(42)));
        await cache.RemoveAsync([]);
        Assert.Equal(42, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(96)));
    }

    // upstream: FunctionalTests.RemoveSingleKeyViaArray
    [Fact]
    public async Task RemoveSingleKeyViaArray()
    {
        await using var provider = GetDefaultCache(out var cache);
        var key = Me();
        Assert.Equal(42, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(42)));
        await cache.RemoveAsync(["unrelated"]);
        Assert.Equal(42, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(96)));
        await cache.RemoveAsync([key]);
        Assert.Equal(96, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(96)));
    }

    // upstream: FunctionalTests.RemoveMultipleKeysViaArray
    [Fact]
    public async Task RemoveMultipleKeysViaArray()
    {
        await using var provider = GetDefaultCache(out var cache);
        var key = Me();
        Assert.Equal(42, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(42)));
        Assert.Equal(42, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(96)));
        await cache.RemoveAsync([key, "unrelated"]);
        Assert.Equal(96, await cache.GetOrCreateAsync(key, _ => new ValueTask<int>(96)));
    }

    // upstream: LocalInvalidationTests.GlobalInvalidateNoTags
    [Fact]
    public async Task GlobalInvalidateNoTags()
    {
        await using var provider = GetDefaultCache(out var cache);
        var value = await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid()));
        Assert.Equal(value, await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid())));
        await cache.RemoveByTagAsync("foo");
        Assert.Equal(value, await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid())));
        await cache.RemoveByTagAsync("*");
        var newValue = await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid()));
        Assert.NotEqual(value, newValue);
        Assert.Equal(newValue, await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid())));
    }

    // upstream: LocalInvalidationTests.TagBasedInvalidate(withL2: false). Upstream shares one IMemoryCache between the
    // three caches it builds in turn; Levee's L1 belongs to its cache (docs/engine.md, "Differences"), so without L2 each
    // round starts empty and the "same value as the last round" check applies only with L2 (ThroughRedisTests).
    [Fact]
    public async Task TagBasedInvalidate_WithoutL2()
    {
        for (var i = 0; i < 3; i++)
        {
            await using var provider = GetDefaultCache(out var cache);
            await TagBasedInvalidateRound(cache);
        }
    }

    /// <summary>
    /// One round of upstream's LocalInvalidationTests.TagBasedInvalidate: a value, kept across an unrelated tag's
    /// invalidation, reloaded after its own tag's and after a clear-all, and kept after each reload. Returns the first value
    /// read and the last one loaded.
    /// </summary>
    internal static async Task<(Guid First, Guid Last)> TagBasedInvalidateRound(HybridCache cache, bool nextMillisecond = false)
    {
        string[] tags = ["abc"];
        var first = await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid()), tags: tags);
        var value = first;
        Assert.Equal(value, await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid()), tags: tags));
        await cache.RemoveByTagAsync("foo");
        Assert.Equal(value, await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid()), tags: tags));
        foreach (var invalidated in new[] { "abc", "*" })
        {
            await cache.RemoveByTagAsync(invalidated);
            if (nextMillisecond)
            {
                // an entry read from Redis carries only its wall-clock millisecond, and a new instance counts a tie with an
                // invalidation as invalidated (Coherence.IsValid / IsTagInvalidated): the reload is made in a later
                // millisecond, so that the next instance can take it from Redis (a tie failed 2 full runs out of 3)
                var wall = TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds();
                while (TimeProvider.System.GetUtcNow().ToUnixTimeMilliseconds() <= wall)
                {
                    await Task.Delay(1);
                }
            }

            var newValue = await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid()), tags: tags);
            Assert.NotEqual(value, newValue);
            Assert.Equal(newValue, await cache.GetOrCreateAsync("abc", _ => new ValueTask<Guid>(Guid.NewGuid()), tags: tags));
            value = newValue;
        }

        return (first, value);
    }
}
