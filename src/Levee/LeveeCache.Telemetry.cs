namespace Levee;

public sealed partial class LeveeCache
{
    private void CreateObservableInstruments()
    {
        var meter = _metrics.Meter;
        var tag = _metrics.CacheTag;
        if (_guard is not null)
        {
            meter.CreateObservableGauge("levee.l2.breaker.state", () => new System.Diagnostics.Metrics.Measurement<int>((int)_guard.BreakerState, tag),
                "{state}", "L2 circuit breaker: 0 closed, 1 half-open, 2 open.");
            meter.CreateObservableGauge("levee.l2.replica_breaker.state", () => new System.Diagnostics.Metrics.Measurement<int>((int)_replicaGuard!.BreakerState, tag),
                "{state}", "Circuit breaker in front of the replicas (read, and carrying shared values, while the master is unreachable): 0 closed, 1 half-open, 2 open.");
        }

        meter.CreateObservableGauge("levee.invalidation.journal.size", () => new System.Diagnostics.Metrics.Measurement<int>(_journal.Count, tag),
            "{invalidation}", "Invalidations waiting for Redis.");
        meter.CreateObservableGauge("levee.l1.entries", () => new System.Diagnostics.Metrics.Measurement<int>(_l1.Count, tag),
            "{entry}", "Entries in L1.");
    }

    /// <summary>The state of the circuit breaker in front of Redis; <see cref="LeveeBreakerState.None"/> without L2.</summary>
    public LeveeBreakerState L2BreakerState => _guard?.BreakerState ?? LeveeBreakerState.None;

    /// <summary>The state of the circuit breaker in front of the replicas (degraded mode's reads and shared values; for tests).</summary>
    internal LeveeBreakerState ReplicaBreakerState => _replicaGuard?.BreakerState ?? LeveeBreakerState.None;

    /// <summary>The master breaker's break in force (flap damping; for tests).</summary>
    internal TimeSpan L2CurrentBreak => _guard?.CurrentBreak ?? TimeSpan.Zero;

    /// <summary>True when L2 is configured, connected and its breaker is not open.</summary>
    public bool IsL2Available => _guard?.IsUsable ?? false;
}
