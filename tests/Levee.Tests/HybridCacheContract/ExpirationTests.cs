using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Tests.HybridCacheContract;

/// <summary>Microsoft's ExpirationTests (dotnet/extensions, test/Libraries/Microsoft.Extensions.Caching.Hybrid.Tests/ExpirationTests.cs).</summary>
public class ExpirationTests
{
    // upstream: ExpirationTests.ExpirationRespected. Upstream's L2 is a MemoryDistributedCache on the fake clock; here a
    // fake Redis store on the same fake clock (a real Redis can't follow a fake clock).
    [Fact]
    public async Task ExpirationRespected()
    {
        var time = TestCache.NewTime();
        await using var cache = await TestCache.Ready(TestCache.Create(time, new FakeL2Store()));
        HybridCache hybrid = cache;
        const string Key = nameof(ExpirationRespected);
        Func<CancellationToken, ValueTask<Guid>> callback = static _ => new(Guid.NewGuid());
        HybridCacheEntryOptions options = new() { Expiration = TimeSpan.FromMinutes(2), LocalCacheExpiration = TimeSpan.FromMinutes(1) };

        var guid0 = await hybrid.GetOrCreateAsync(Key, callback, options);
        Assert.Equal(guid0, await hybrid.GetOrCreateAsync(Key, callback, options));

        time.Advance(TimeSpan.FromSeconds(45)); // still in L1 (1 minute)
        Assert.Equal(guid0, await hybrid.GetOrCreateAsync(Key, callback, options));

        time.Advance(TimeSpan.FromSeconds(45)); // L1 expired; L2 has 0:30 left, which limits L1 to 0:30
        Assert.Equal(guid0, await hybrid.GetOrCreateAsync(Key, callback, options));

        time.Advance(TimeSpan.FromSeconds(45)); // expired everywhere
        Assert.NotEqual(guid0, await hybrid.GetOrCreateAsync(Key, callback, options));
    }
}
