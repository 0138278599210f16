using Levee.Tests.Redis;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.Tests.HybridCacheContract;

/// <summary>
/// What one instance writes and another reads back from a real redis-server, through <c>AddLevee</c> and the
/// <see cref="HybridCache"/> type: the value must be the same whichever level it comes from.
/// </summary>
[Collection(RealProcesses.Name)]
public sealed class ThroughRedisTests : RedisServerTest
{
    private ServiceProvider NewApp(Action<IServiceCollection>? configure = null)
    {
        var services = new ServiceCollection();
        services.AddLevee(o =>
        {
            o.Redis = Redis.Endpoint;
            o.L2Timeout = TimeSpan.FromSeconds(1); // a busy machine must not turn a write into a journaled one
        });
        configure?.Invoke(services);
        return services.BuildServiceProvider();
    }

    /// <summary>Writes <paramref name="value"/> on one instance and reads it on a fresh one (from Redis: its L1 is empty).</summary>
    private async Task<T> RoundTrip<T>(string key, T value, Action<IServiceCollection>? configure = null)
    {
        await using var writer = NewApp(configure);
        await using var reader = NewApp(configure);
        await RealRedisTests.ConnectedCache(writer);
        await RealRedisTests.ConnectedCache(reader);
        await writer.GetRequiredService<HybridCache>().SetAsync(key, value);
        return await reader.GetRequiredService<HybridCache>().GetOrCreateAsync<T>(key,
            _ => throw new InvalidOperationException("the value is in Redis: the factory must not run"));
    }

    [Fact]
    public async Task NullStringAndNullBytes_ReadBackAsNull_NotEmpty()
    {
        Assert.Null(await RoundTrip<string?>("null-string", null));
        Assert.Null(await RoundTrip<byte[]?>("null-bytes", null));
        Assert.Equal("", await RoundTrip<string?>("empty-string", ""));
        Assert.Empty((await RoundTrip<byte[]?>("empty-bytes", []))!);
        Assert.Null(await RoundTrip<Customer?>("null-object", null));
    }

    // upstream: SerializerTests.RoundTripValueTuple / RoundTripNamedValueTuple / RoundTripFieldOnlyType (DefaultJsonSerializerFactory)
    [Fact]
    public async Task ValueTuplesAndFieldOnlyTypes_KeepTheirData()
    {
        Assert.Equal((42, "abc"), await RoundTrip("tuple", (42, "abc")));
        var named = await RoundTrip("named", (Id: 7, Name: "desk"));
        Assert.Equal(7, named.Id);
        Assert.Equal("desk", named.Name);
        var fields = await RoundTrip("fields", new FieldOnly { X = 3, Y = "y" });
        Assert.Equal(3, fields.X);
        Assert.Equal("y", fields.Y);
        var map = await RoundTrip("map", new Dictionary<string, (int, string)> { ["a"] = (1, "one") });
        Assert.Equal((1, "one"), map["a"]);
        var holder = await RoundTrip("holder", new Customer("c", (5, 6)));
        Assert.Equal((5, 6), holder.Point);
    }

    // upstream: ServiceConstructionTests.CanSpecifyJsonOptions (keyed JsonSerializerOptions, open and closed generic)
    [Fact]
    public async Task KeyedJsonSerializerOptions_AreHonoured()
    {
        var upper = new System.Text.Json.JsonSerializerOptions { PropertyNamingPolicy = System.Text.Json.JsonNamingPolicy.SnakeCaseUpper };
        void Register(IServiceCollection s) => s.AddKeyedSingleton<System.Text.Json.JsonSerializerOptions>(typeof(IHybridCacheSerializer<Customer>), upper);
        await using var writer = NewApp(Register);
        var cache = await RealRedisTests.ConnectedCache(writer);
        await cache.SetAsync("keyed", new Customer("bob", (1, 2)));
        var raw = (await Redis.ExecuteAsync("GET", "levee:d:0:keyed")).Text ?? "";
        Assert.Contains("\"NAME\":\"bob\"", raw, StringComparison.Ordinal);
    }

    [Fact]
    public async Task KeysThatDifferOnlyByLoneSurrogates_NeverShareARedisEntry_AndRemovalsReachTheOtherInstance()
    {
        await using var appA = NewApp();
        await using var appB = NewApp();
        var a = await RealRedisTests.ConnectedCache(appA);
        var b = await RealRedisTests.ConnectedCache(appB);
        string high = "k\uD800", low = "k\uDC00", replaced = "k\uFFFD";
        await a.SetAsync(high, "high");
        await a.SetAsync(low, "low");
        await a.SetAsync(replaced, "replaced");
        Assert.Equal("high", await b.GetOrCreateAsync<string>(high, _ => new("factory")));
        Assert.Equal("low", await b.GetOrCreateAsync<string>(low, _ => new("factory")));
        Assert.Equal("replaced", await b.GetOrCreateAsync<string>(replaced, _ => new("factory")));

        // b holds the three in L1: a removal on a (its backplane message names the exact key) drops only that one
        await a.RemoveAsync(high);
        var afterRemoval = "high";
        for (var i = 0; i < 250 && afterRemoval == "high"; i++) // until b has the message (at most 5 s)
        {
            afterRemoval = await b.GetOrCreateAsync<string>(high, _ => new("factory"));
            await Task.Delay(20);
        }

        Assert.Equal("factory", afterRemoval);
        Assert.Equal("low", await b.GetOrCreateAsync<string>(low, _ => new("other")));
        Assert.Equal("replaced", await b.GetOrCreateAsync<string>(replaced, _ => new("other")));
    }

    /// <summary>Waits (at most 5 s) until the current generation's data key of <paramref name="key"/> is in Redis: a load's SET is not awaited by its caller.</summary>
    private async Task UntilStoredAsync(string key)
    {
        for (var i = 0; i < 250; i++)
        {
            var generation = (await Redis.ExecuteAsync("GET", "levee:generation")).Text ?? "0";
            if ((await Redis.ExecuteAsync("EXISTS", $"levee:d:{generation}:{key}")).Number == 1)
            {
                return;
            }

            await Task.Delay(20);
        }

        Assert.Fail($"{key} did not reach Redis within 5 s");
    }

    // upstream: LocalInvalidationTests.TagBasedInvalidate(withL2: true): three caches in turn over one L2; each new one
    // reads the last round's value from it, then tag and clear-all invalidation force a reload
    [Fact]
    public async Task TagBasedInvalidate_WithL2()
    {
        var lastValue = Guid.Empty;
        for (var i = 0; i < 3; i++)
        {
            await using var app = NewApp();
            await RealRedisTests.ConnectedCache(app);
            var (first, last) = await FunctionalTests.TagBasedInvalidateRound(app.GetRequiredService<HybridCache>(), nextMillisecond: true);
            if (lastValue != Guid.Empty)
            {
                Assert.Equal(lastValue, first); // read from Redis: this cache's L1 is new
            }

            lastValue = last;
            await UntilStoredAsync("abc");
        }
    }

    public sealed record Customer(string Name, (int X, int Y) Point);

#pragma warning disable CA1051 // the point: a type whose data is in public fields
    public sealed class FieldOnly
    {
        public int X;
        public string? Y;
    }
#pragma warning restore CA1051
}
