using System.ComponentModel;
using Microsoft.Extensions.Caching.Hybrid;
using Microsoft.Extensions.DependencyInjection;

namespace Levee.Tests.HybridCacheContract;

/// <summary>
/// Microsoft's SampleUsage (dotnet/extensions, test/Libraries/Microsoft.Extensions.Caching.Hybrid.Tests/SampleUsage.cs):
/// the documented usage patterns, with Levee registered by <c>AddLevee</c>. DistributedCacheWorks uses IDistributedCache
/// only and has no Levee counterpart.
/// </summary>
public class SampleUsage
{
    private static async Task<(T X, T Y)> TwoReads<TService, T>(Func<TService, Task<T>> read)
        where TService : class
    {
        var services = new ServiceCollection();
        services.AddLevee();
        services.AddTransient<TService>();
        await using var provider = services.BuildServiceProvider();
        var service = provider.GetRequiredService<TService>();
        return (await read(service), await read(service));
    }

    // upstream: SampleUsage.HybridCacheWorks
    [Fact]
    public async Task HybridCacheWorks()
    {
        var (x, y) = await TwoReads<SomeHCService, SomeInformation>(s => s.GetSomeInformationAsync("abc", 42));
        Assert.NotSame(x, y); // a mutable type: a copy per read
        Assert.Equal((42, "abc"), (x.Id, x.Name));
        Assert.Equal((42, "abc"), (y.Id, y.Name));
    }

    // upstream: SampleUsage.HybridCacheNoCaptureWorks
    [Fact]
    public async Task HybridCacheNoCaptureWorks()
    {
        var (x, y) = await TwoReads<SomeHCServiceNoCapture, SomeInformation>(s => s.GetSomeInformationAsync("abc", 42));
        Assert.NotSame(x, y);
        Assert.Equal((42, "abc"), (x.Id, x.Name));
        Assert.Equal((42, "abc"), (y.Id, y.Name));
    }

    // upstream: SampleUsage.HybridCacheNoCaptureObjReuseWorks
    [Fact]
    public async Task HybridCacheNoCaptureObjReuseWorks()
    {
        var (x, y) = await TwoReads<SomeHCServiceNoCaptureObjReuse, SomeInformationReuse>(s => s.GetSomeInformationAsync("abc", 42));
        Assert.Same(x, y); // sealed and [ImmutableObject(true)]: shared
        Assert.Equal((42, "abc"), (x.Id, x.Name));
    }

    public class SomeHCService(HybridCache cache)
    {
        public async Task<SomeInformation> GetSomeInformationAsync(string name, int id, CancellationToken token = default) =>
            await cache.GetOrCreateAsync($"someinfo:{name}:{id}", async ct => await SomeExpensiveOperationAsync(name, id, ct), cancellationToken: token);
    }

    public class SomeHCServiceNoCapture(HybridCache cache)
    {
        public async Task<SomeInformation> GetSomeInformationAsync(string name, int id, CancellationToken token = default) =>
            await cache.GetOrCreateAsync($"someinfo:{name}:{id}", (name, id),
                static async (state, token) => await SomeExpensiveOperationAsync(state.name, state.id, token), cancellationToken: token);
    }

    public class SomeHCServiceNoCaptureObjReuse(HybridCache cache)
    {
        public async Task<SomeInformationReuse> GetSomeInformationAsync(string name, int id) =>
            await cache.GetOrCreateAsync($"someinfo:{name}:{id}", (name, id),
                static async (state, token) => await SomeExpensiveOperationReuseAsync(state.name, state.id, token));
    }

    private static Task<SomeInformation> SomeExpensiveOperationAsync(string name, int id, CancellationToken token)
    {
        _ = token;
        return Task.FromResult(new SomeInformation { Id = id, Name = name });
    }

    private static Task<SomeInformationReuse> SomeExpensiveOperationReuseAsync(string name, int id, CancellationToken token)
    {
        _ = token;
        return Task.FromResult(new SomeInformationReuse { Id = id, Name = name });
    }

    public class SomeInformation
    {
        public int Id { get; set; }

        public string? Name { get; set; }
    }

    [ImmutableObject(true)]
    public sealed class SomeInformationReuse
    {
        public int Id { get; set; }

        public string? Name { get; set; }
    }
}
