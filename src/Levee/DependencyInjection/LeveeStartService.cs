using Microsoft.Extensions.Hosting;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>
/// Builds the cache when the host starts, so that its Redis connection (and a second invalidation channel's listener) is
/// made while the service starts, not on the first request: the first requests find L2 connected, and the health check's
/// first answer is about Redis, not about a cache nobody has asked for yet. It does not wait for Redis: a host starts
/// when Redis is down (the cache serves from L1 and the database, and connects in the background).
/// </summary>
internal sealed class LeveeStartService(IServiceProvider services, string? name) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        _ = name is null ? services.GetRequiredService<Levee.LeveeCache>() : services.GetRequiredKeyedService<Levee.LeveeCache>(name);
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => Task.CompletedTask;
}
