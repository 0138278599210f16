using System.ComponentModel;
using Levee.Tests.Fakes;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Tests.HybridCacheContract;

/// <summary>HybridCache's immutability rule: a mutable type's value is copied for each read; an immutable one is shared.</summary>
public class MutableValueTests
{
    private static readonly HybridCacheEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task MutableType_EachReadGetsItsOwnInstance_EditsAreNotSeenByOthers()
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        HybridCache hybrid = cache;
        var loaded = await hybrid.GetOrCreateAsync("cart", _ => ValueTask.FromResult(new Cart { Items = ["desk"] }), OneMinute);
        loaded.Items.Add("edited by the first caller");

        var second = await hybrid.GetOrCreateAsync("cart", _ => ValueTask.FromResult(new Cart()), OneMinute);
        var third = await cache.GetOrCreateAsync("cart", 0, (_, _) => ValueTask.FromResult(new Cart()), new LeveeEntryOptions());
        Assert.Equal(["desk"], second.Items);
        Assert.Equal(["desk"], third.Items);
        Assert.NotSame(second, third);
        second.Items.Clear();
        Assert.Equal(["desk"], (await cache.TryGetAsync<Cart>("cart")).Value!.Items);
        Assert.Equal(["desk"], (await hybrid.GetOrCreateAsync<object>("cart", _ => ValueTask.FromResult<object>(new Cart()), OneMinute) as Cart)!.Items);
    }

    [Fact]
    public async Task MutableType_ReadFromL2_IsCopiedPerReadToo()
    {
        var l2 = new FakeL2Store();
        await using var cache = await TestCache.Ready(TestCache.Create(TestCache.NewTime(), l2));
        await cache.SetAsync("cart", new Cart { Items = ["lamp"] }, OneMinute);
        cache.ClearLocal();
        HybridCache hybrid = cache;
        var a = await hybrid.GetOrCreateAsync("cart", _ => ValueTask.FromResult(new Cart()), OneMinute); // from L2
        var b = await hybrid.GetOrCreateAsync("cart", _ => ValueTask.FromResult(new Cart()), OneMinute); // from L1
        Assert.NotSame(a, b);
        a.Items.Add("x");
        Assert.Equal(["lamp"], b.Items);
        Assert.Equal(["lamp"], (await hybrid.GetOrCreateAsync("cart", _ => ValueTask.FromResult(new Cart()), OneMinute)).Items);
    }

    [Fact]
    public async Task ManyCallersOfOneLoad_OfAMutableType_EachGetTheirOwnInstance()
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        HybridCache hybrid = cache;
        var gate = new TaskCompletionSource();
        var calls = 0;
        var tasks = Enumerable.Range(0, 20).Select(_ => hybrid.GetOrCreateAsync("cart", async _ =>
        {
            Interlocked.Increment(ref calls);
            await gate.Task;
            return new Cart { Items = ["chair"] };
        }, OneMinute).AsTask()).ToArray();
        gate.SetResult();
        var carts = await Task.WhenAll(tasks);
        Assert.Equal(1, calls);
        Assert.Equal(20, carts.Distinct(ReferenceEqualityComparer.Instance).Count());
        Assert.All(carts, c => Assert.Equal(["chair"], c.Items));
    }

    [Fact]
    public async Task ImmutableTypes_AreShared()
    {
        await using var cache = TestCache.Create(TestCache.NewTime());
        HybridCache hybrid = cache;
        var product = new Product(1, "desk");
        Assert.Same(product, await hybrid.GetOrCreateAsync("p", _ => ValueTask.FromResult(product), OneMinute));
        Assert.Same(product, await hybrid.GetOrCreateAsync("p", _ => ValueTask.FromResult(new Product(2, "x")), OneMinute));
        var text = new string('a', 3);
        await hybrid.SetAsync("s", text, OneMinute);
        Assert.Same(text, await hybrid.GetOrCreateAsync("s", _ => ValueTask.FromResult("other"), OneMinute));
    }

    [Fact]
    public async Task CopyMutableValuesOff_SharesTheInstance()
    {
        await using var cache = TestCache.Create(TestCache.NewTime(), configure: o => o.CopyMutableValues = false);
        HybridCache hybrid = cache;
        var cart = new Cart { Items = ["desk"] };
        Assert.Same(cart, await hybrid.GetOrCreateAsync("cart", _ => ValueTask.FromResult(cart), OneMinute));
        Assert.Same(cart, await hybrid.GetOrCreateAsync("cart", _ => ValueTask.FromResult(new Cart()), OneMinute));
    }

    public sealed class Cart
    {
        public List<string> Items { get; set; } = [];
    }

    [ImmutableObject(true)]
    public sealed record Product(int Id, string Name);
}
