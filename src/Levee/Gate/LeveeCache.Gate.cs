using Levee.Gate;

namespace Levee;

public sealed partial class LeveeCache
{
    private GateRegistry? _gateRegistry;

    private GateRegistry Gates => Volatile.Read(ref _gateRegistry) ?? CreateGates();


    /// <summary>The admission gates of this cache (the default gate first), as they are now.</summary>
    public IReadOnlyList<LeveeGateStatus> GetGateStatus()
    {
        var gates = Gates.All;
        var list = new LeveeGateStatus[gates.Count];
        for (var i = 0; i < gates.Count; i++)
        {
            var g = gates[i];
            list[i] = new LeveeGateStatus(g.Name, g.Limit, g.InFlight, g.Queued, g.Shed, g.PeakInFlight, g.Amplification.Read(), g.Options.Adaptive);
        }

        return list;
    }

    internal AdmissionGate GetGate(string? name) => Gates.Get(name);

    internal IReadOnlyList<AdmissionGate> GetGateInternals() => Gates.All;

    private AdmissionGate ResolveGate(LeveeEntryOptions options) => Gates.Get(options.Gate);

    private GateRegistry CreateGates()
    {
        var registry = new GateRegistry(_options, _metrics);
        return Interlocked.CompareExchange(ref _gateRegistry, registry, null) ?? registry;
    }

    /// <summary>The gates of one cache, created once from the options.</summary>
    private sealed class GateRegistry
    {
        private readonly Dictionary<string, AdmissionGate> _byName = new(StringComparer.Ordinal);
        private readonly AdmissionGate _default;

        public GateRegistry(LeveeOptions options, LeveeMetrics metrics)
        {
            var telemetry = new GateTelemetry(metrics.Meter, metrics.CacheTag, () => All);
            var all = new List<AdmissionGate>();
            _default = new AdmissionGate(options.Name, LeveeOptions.DefaultGateName, options.Gate.Clone(), options.TimeProvider, telemetry);
            _byName[_default.Name] = _default;
            all.Add(_default);
            foreach (var (name, gateOptions) in options.Gates)
            {
                if (name == LeveeOptions.DefaultGateName)
                {
                    continue;
                }

                var gate = new AdmissionGate(options.Name, name, gateOptions.Clone(), options.TimeProvider, telemetry);
                _byName[name] = gate;
                all.Add(gate);
            }

            All = all;
        }

        public IReadOnlyList<AdmissionGate> All { get; } = [];

        public AdmissionGate Get(string? name)
        {
            if (name is null)
            {
                return _default;
            }

            if (_byName.TryGetValue(name, out var gate))
            {
                return gate;
            }

            throw new InvalidOperationException($"LeveeEntryOptions.Gate is '{name}', but no gate of that name is configured (LeveeOptions.Gates has: {string.Join(", ", _byName.Keys)}).");
        }
    }
}

/// <summary>A snapshot of one admission gate, for health checks, diagnostics and tests.</summary>
/// <param name="Name">The gate's name (<c>default</c> for the cache's default gate).</param>
/// <param name="Limit">Current concurrency limit.</param>
/// <param name="InFlight">Factory calls running through the gate now.</param>
/// <param name="Queued">Callers waiting for a slot now.</param>
/// <param name="Shed">Callers refused since start (served stale or failed with <see cref="LeveeOverloadedException"/>).</param>
/// <param name="PeakInFlight">Most factory calls that ran through the gate at once since start.</param>
/// <param name="Amplification">Factory calls per second over their recent baseline (the <c>levee.db.amplification</c> gauge).</param>
/// <param name="Adaptive">True when the limit adapts to latency.</param>
public readonly record struct LeveeGateStatus(string Name, int Limit, int InFlight, int Queued, long Shed, int PeakInFlight, double Amplification, bool Adaptive);
