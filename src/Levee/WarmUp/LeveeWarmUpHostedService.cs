using Microsoft.Extensions.Hosting;

namespace Levee.WarmUp;

/// <summary>Starts <see cref="LeveeWarmUp"/> with the host (without blocking its start: readiness reports "warming" meanwhile).</summary>
internal sealed class LeveeWarmUpHostedService(LeveeWarmUp warmUp) : IHostedService
{
    public Task StartAsync(CancellationToken cancellationToken)
    {
        warmUp.Start();
        return Task.CompletedTask;
    }

    public Task StopAsync(CancellationToken cancellationToken) => warmUp.StopAsync();
}
