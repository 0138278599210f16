using System.Buffers;
using System.Text;
using System.Text.Json;
using Levee.WarmUp;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.Tests;

/// <summary>Registration: Levee is the HybridCache whatever the order of registration, and warm-up loads get their own scope.</summary>
public class DependencyInjectionTests
{
    [Fact]
    public async Task AddHybridCacheCalledFirst_LeveeIsStillTheHybridCache_AndKeepsItsOwnSerializers()
    {
        var services = new ServiceCollection();
        services.AddHybridCache(); // Microsoft's registration (its HybridCache and its JSON serializer factory)
        services.AddLevee(o => o.JsonSerializerOptions = new JsonSerializerOptions { PropertyNamingPolicy = JsonNamingPolicy.SnakeCaseLower });
        await using var provider = services.BuildServiceProvider();

        var hybrid = provider.GetRequiredService<HybridCache>();
        Assert.Same(provider.GetRequiredService<LeveeCache>(), hybrid);

        // LeveeOptions.JsonSerializerOptions is used, not Microsoft's default JSON factory
        var serializer = provider.GetRequiredService<LeveeCache>().Serializers.Get<Shelf>();
        var writer = new ArrayBufferWriter<byte>();
        serializer.Serialize(new Shelf("Desks"), writer);
        Assert.Equal("""{"shelf_name":"Desks"}""", Encoding.UTF8.GetString(writer.WrittenSpan));
    }

    public sealed record Shelf(string ShelfName);

    [Fact]
    public async Task ATimeProviderInTheContainer_IsTheCachesClock()
    {
        var time = Fakes.TestCache.NewTime();
        var services = new ServiceCollection();
        services.AddSingleton<TimeProvider>(time);
        services.AddLevee();
        await using var provider = services.BuildServiceProvider();
        var cache = provider.GetRequiredService<LeveeCache>();
        Assert.Same(time, cache.Options.TimeProvider);

        var entry = new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1) };
        await cache.SetAsync("k", "v", entry);
        time.Advance(TimeSpan.FromMinutes(2)); // expired on the container's clock
        Assert.Equal("db", await cache.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("db"), new LeveeEntryOptions { Expiration = TimeSpan.FromMinutes(1), FailSafeMaxDuration = TimeSpan.Zero }));
    }

    [Fact]
    public async Task AddKeyedLevee_AnotherCacheWithItsOwnOptionsL1AndPrefix_BesideTheDefaultOne()
    {
        var services = new ServiceCollection();
        services.AddLevee();
        services.AddKeyedLevee("sessions", o => o.DefaultExpiration = TimeSpan.FromMinutes(20));
        services.AddKeyedLevee("bad", o => o.JitterFraction = 0.9);
        await using var provider = services.BuildServiceProvider();

        var main = provider.GetRequiredService<LeveeCache>();
        var sessions = provider.GetRequiredKeyedService<LeveeCache>("sessions");
        Assert.NotSame(main, sessions);
        Assert.Same(sessions, provider.GetRequiredKeyedService<HybridCache>("sessions"));
        Assert.Same(main, provider.GetRequiredService<HybridCache>());
        Assert.Equal(("sessions", "levee:sessions:", TimeSpan.FromMinutes(20)), (sessions.Options.Name, sessions.Options.KeyPrefix, sessions.Options.DefaultExpiration));
        Assert.Equal(("default", "levee:"), (main.Options.Name, main.Options.KeyPrefix));

        await sessions.SetAsync("k", "session value", new LeveeEntryOptions());
        Assert.Equal("main value", await main.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("main value"))); // its own L1
        Assert.Equal("session value", await sessions.GetOrCreateAsync("k", 0, (_, _) => ValueTask.FromResult("x")));

        var ex = Assert.ThrowsAny<Exception>(() => provider.GetRequiredKeyedService<LeveeCache>("bad"));
        Assert.Contains("JitterFraction is 0.9", ex.Message, StringComparison.Ordinal);
    }

    internal sealed class ScopedLoader : IAsyncDisposable
    {
        public bool Disposed { get; private set; }

        public ValueTask<string> LoadAsync() => Disposed ? throw new ObjectDisposedException(nameof(ScopedLoader)) : ValueTask.FromResult("loaded");

        public ValueTask DisposeAsync()
        {
            Disposed = true;
            return default;
        }
    }

    [Fact]
    public async Task AddLeveeWarmUp_EachLoadGetsItsOwnScope_ScopedServicesWorkUnderScopeValidation()
    {
        var services = new ServiceCollection();
        var loaders = new List<ScopedLoader>();
        services.AddScoped(_ =>
        {
            var loader = new ScopedLoader();
            lock (loaders)
            {
                loaders.Add(loader);
            }

            return loader;
        });
        services.AddLevee()
            .AddLeveeWarmUp("a", (sp, _) => sp.GetRequiredService<ScopedLoader>().LoadAsync())
            .AddLeveeWarmUp("b", (sp, _) => sp.GetRequiredService<ScopedLoader>().LoadAsync());
        await using var provider = services.BuildServiceProvider(new ServiceProviderOptions { ValidateScopes = true });

        var warmUp = provider.GetRequiredService<LeveeWarmUp>();
        warmUp.Start();
        await warmUp.Ready.WaitAsync(TimeSpan.FromSeconds(20)); // a guard against a hang, not a timing assertion
        Assert.Equal(2, warmUp.LastResult!.FromFactory);
        Assert.Equal(0, warmUp.LastResult.Failed);
        Assert.Equal(2, loaders.Count); // one scope per load
        Assert.All(loaders, l => Assert.True(l.Disposed)); // and each scope disposed after its load
        Assert.Equal("loaded", await provider.GetRequiredService<LeveeCache>().GetOrCreateAsync("a", 0, (_, _) => ValueTask.FromResult("db")));
    }
}
