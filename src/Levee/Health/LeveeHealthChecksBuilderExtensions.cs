using Levee;
using Levee.Health;
using Microsoft.Extensions.DependencyInjection.Extensions;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Microsoft.Extensions.DependencyInjection;

/// <summary>Registers Levee's health checks (<c>services.AddHealthChecks().AddLevee().AddLeveeWarmUp()</c>).</summary>
public static class LeveeHealthChecksBuilderExtensions
{
    /// <summary>
    /// Adds Levee's health check: Healthy, Degraded (L2 unavailable or breaker open, a gate shedding, invalidations pending,
    /// warming) or, only when most callers needing the database are refused, <paramref name="failureStatus"/>. Use it for
    /// readiness or dashboards, not for liveness.
    /// </summary>
    public static IHealthChecksBuilder AddLevee(this IHealthChecksBuilder builder, string name = "levee", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);

        // one instance: it remembers the gate counters of the previous check (the registration factory runs per check)
        builder.Services.TryAddSingleton(static sp => new LeveeHealthCheck(sp.GetRequiredService<LeveeCache>(), sp.GetService<LeveeWarmUp>()));
        return builder.Add(new HealthCheckRegistration(name,
            static sp => sp.GetRequiredService<LeveeHealthCheck>(),
            failureStatus ?? HealthStatus.Unhealthy, tags));
    }

    /// <summary>
    /// Adds the readiness check of the start-up warm-up: <paramref name="failureStatus"/> (default Unhealthy) with
    /// "warming" until the registered entries are loaded or <see cref="LeveeWarmUpOptions.ReadinessDeadline"/> passed.
    /// Tagged <c>ready</c> unless <paramref name="tags"/> are given. Requires <c>AddLeveeWarmUp(...)</c> or <c>AddLeveeWarmUpSource&lt;T&gt;()</c>.
    /// </summary>
    public static IHealthChecksBuilder AddLeveeWarmUp(this IHealthChecksBuilder builder, string name = "levee-warmup", HealthStatus? failureStatus = null, IEnumerable<string>? tags = null)
    {
        ArgumentNullException.ThrowIfNull(builder);
        return builder.Add(new HealthCheckRegistration(name,
            static sp => new LeveeWarmUpHealthCheck(sp.GetService<LeveeWarmUp>()
                ?? throw new InvalidOperationException("The levee-warmup health check needs warm-up entries: call services.AddLeveeWarmUp(...) or AddLeveeWarmUpSource<T>().")),
            failureStatus ?? HealthStatus.Unhealthy, tags ?? ["ready"]));
    }
}
