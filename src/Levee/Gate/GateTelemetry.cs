using System.Diagnostics.Metrics;

namespace Levee.Gate;

/// <summary>
/// The gate instruments of one cache (every measurement carries <c>cache</c> and <c>gate</c>):
/// <c>levee.gate.limit</c>, <c>levee.gate.in_flight</c>, <c>levee.gate.queued</c> (gauges), <c>levee.gate.shed</c>
/// (counter, tag <c>reason</c> = stale | queue_full | queue_timeout | rate_limit), <c>levee.gate.wait</c> (histogram, s)
/// and <c>levee.db.amplification</c> (gauge: factory calls/s over their recent baseline). The names are used by
/// deploy/prometheus/alerts/levee.yml.
/// </summary>
internal sealed class GateTelemetry
{
    private readonly KeyValuePair<string, object?> _cacheTag;
    private readonly Counter<long> _shed;
    private readonly Histogram<double> _wait;

    public GateTelemetry(Meter meter, KeyValuePair<string, object?> cacheTag, Func<IReadOnlyList<AdmissionGate>> gates)
    {
        _cacheTag = cacheTag;
        _shed = meter.CreateCounter<long>("levee.gate.shed", "{call}", "Callers the admission gate refused: served a stale value or failed with LeveeOverloadedException (tag reason).");
        _wait = meter.CreateHistogram<double>("levee.gate.wait", "s", "Time a factory call waited for an admission gate slot.", tags: null, advice: LeveeTelemetry.SecondsAdvice);
        meter.CreateObservableGauge("levee.gate.limit", () => Observe(gates(), static g => g.Limit), "{call}", "Concurrency limit of the admission gate.");
        meter.CreateObservableGauge("levee.gate.in_flight", () => Observe(gates(), static g => g.InFlight), "{call}", "Factory calls running through the admission gate.");
        meter.CreateObservableGauge("levee.gate.queued", () => Observe(gates(), static g => g.Queued), "{call}", "Callers waiting for an admission gate slot.");
        meter.CreateObservableGauge("levee.db.amplification", () => ObserveAmplification(gates()), "1", "Factory (database) calls per second over their recent baseline.");
    }

    public void Shed(AdmissionGate gate, string reason) => _shed.Add(1, _cacheTag, new("gate", gate.Name), new("reason", reason));

    public void Wait(AdmissionGate gate, double seconds) => _wait.Record(seconds, _cacheTag, new("gate", gate.Name));

    private List<Measurement<int>> Observe(IReadOnlyList<AdmissionGate> gates, Func<AdmissionGate, int> read)
    {
        var list = new List<Measurement<int>>(gates.Count);
        foreach (var gate in gates)
        {
            list.Add(new Measurement<int>(read(gate), _cacheTag, new("gate", gate.Name)));
        }

        return list;
    }

    private List<Measurement<double>> ObserveAmplification(IReadOnlyList<AdmissionGate> gates)
    {
        var list = new List<Measurement<double>>(gates.Count);
        foreach (var gate in gates)
        {
            list.Add(new Measurement<double>(gate.Amplification.Read(), _cacheTag, new("gate", gate.Name)));
        }

        return list;
    }
}
