using Levee.Gate;
using Microsoft.Extensions.Diagnostics.HealthChecks;

namespace Levee.Health;

/// <summary>
/// Levee's health (register with <c>services.AddHealthChecks().AddLevee()</c>; see docs/gate.md#health):
/// <list type="bullet">
/// <item><b>Healthy</b>: L2 usable (or none configured), no gate refused a caller in the last 30 s, not warming.</item>
/// <item><b>Degraded</b>: the service serves, in a reduced way: L2 unavailable (breaker open or half-open, or disconnected: reads come from
/// L1, stale values and the database through the gate), a gate refused callers in the last 30 s (stale values or overload
/// errors), invalidations waiting for Redis, or the start-up warm-up still running.</item>
/// <item><b>Unhealthy</b>: only when this instance fails most requests that need the database: since the previous check of
/// the same registration, at least 10 callers were refused with <see cref="LeveeOverloadedException"/> and more were refused
/// than admitted (served-stale callers count as neither: they got an answer). Use it for readiness (take the instance out of rotation), never for
/// liveness: a restart would only make the cache cold.</item>
/// </list>
/// The data dictionary carries the breaker state, each gate's limit, in-flight, queued, shed and amplification.
/// </summary>
internal sealed class LeveeHealthCheck(LeveeCache cache, LeveeWarmUp? warmUp) : IHealthCheck
{
    internal static readonly TimeSpan ShedWindow = TimeSpan.FromSeconds(30);
    private readonly Lock _lock = new();
    // per registration (a readiness check and a dashboard's check each count from their own previous run), per gate
    private readonly Dictionary<string, Dictionary<string, (long Admitted, long Refused)>> _previous = new(StringComparer.Ordinal);

    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var registration = context.Registration.Name;
        var data = new Dictionary<string, object>(StringComparer.Ordinal);
        var degraded = new List<string>();
        var unhealthy = new List<string>();
        if (cache.HasL2)
        {
            data["l2.available"] = cache.IsL2Available;
            var breaker = cache.L2BreakerState;
            data["l2.breaker"] = breaker.ToString();
            if (!cache.IsL2Available)
            {
                degraded.Add(breaker == LeveeBreakerState.Open ? "L2 circuit breaker open" : "L2 unavailable");
            }
            else if (breaker == LeveeBreakerState.HalfOpen)
            {
                // the break is over and one probe call is out: Redis is not proven usable until it answers
                degraded.Add("L2 circuit breaker half-open (probing Redis)");
            }

            if (cache.PendingInvalidations > 0)
            {
                data["invalidations.pending"] = cache.PendingInvalidations;
                degraded.Add($"{cache.PendingInvalidations} invalidations waiting for Redis");
            }
        }

        var current = new Dictionary<string, (long, long)>(StringComparer.Ordinal);
        foreach (var gate in cache.GetGateInternals())
        {
            var prefix = "gate." + gate.Name + ".";
            data[prefix + "limit"] = gate.Limit;
            data[prefix + "in_flight"] = gate.InFlight;
            data[prefix + "queued"] = gate.Queued;
            data[prefix + "shed"] = gate.Shed;
            data[prefix + "amplification"] = Math.Round(gate.Amplification.Read(), 2);
            if (gate.ShedWithin(ShedWindow))
            {
                degraded.Add($"gate '{gate.Name}' shedding (limit {gate.Limit}, {gate.InFlight} in flight, {gate.Queued} queued)");
            }

            var now = (gate.Admitted, gate.Refused);
            current[gate.Name] = now;
            lock (_lock)
            {
                var before = _previous.TryGetValue(registration, out var gates) && gates.TryGetValue(gate.Name, out var b) ? b : (0, 0);
                var admitted = now.Admitted - before.Admitted;
                var refused = now.Refused - before.Refused;
                if (refused >= 10 && refused > admitted)
                {
                    unhealthy.Add($"gate '{gate.Name}' refused {refused} of {admitted + refused} callers that needed the database since the last check");
                }
            }
        }

        lock (_lock)
        {
            _previous[registration] = current;
        }

        if (warmUp is not null)
        {
            data["warmup.state"] = warmUp.State.ToString();
            if (warmUp.State is LeveeWarmUpState.Warming)
            {
                var (done, total) = warmUp.Progress;
                degraded.Add($"warming ({done} of {total} entries)");
            }
        }

        if (unhealthy.Count > 0)
        {
            return Task.FromResult(new HealthCheckResult(context.Registration.FailureStatus, "Levee: " + string.Join("; ", unhealthy.Concat(degraded)), data: data));
        }

        if (degraded.Count > 0)
        {
            return Task.FromResult(HealthCheckResult.Degraded("Levee: " + string.Join("; ", degraded), data: data));
        }

        return Task.FromResult(HealthCheckResult.Healthy("Levee: L1, L2 and gates healthy", data));
    }
}

/// <summary>Readiness while warming: Unhealthy ("warming") until the start-up warm-up is done or its deadline passed.</summary>
internal sealed class LeveeWarmUpHealthCheck(LeveeWarmUp warmUp) : IHealthCheck
{
    public Task<HealthCheckResult> CheckHealthAsync(HealthCheckContext context, CancellationToken cancellationToken = default)
    {
        var (done, total) = warmUp.Progress;
        var data = new Dictionary<string, object>(StringComparer.Ordinal) { ["state"] = warmUp.State.ToString(), ["done"] = done, ["total"] = total };
        return Task.FromResult(warmUp.State switch
        {
            LeveeWarmUpState.Ready => HealthCheckResult.Healthy("warm", data),
            LeveeWarmUpState.ReadyPastDeadline => HealthCheckResult.Healthy($"ready after the warm-up deadline; still warming ({done} of {total} entries)", data),
            _ => new HealthCheckResult(context.Registration.FailureStatus, $"warming ({done} of {total} entries)", data: data),
        });
    }
}
