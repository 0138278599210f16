// Creates every instrument of Levee's meter with the names, units and tags the library declares
// (src/Levee/Telemetry/LeveeTelemetry.cs, src/Levee/LeveeCache.Telemetry.cs, src/Levee/Gate/GateTelemetry.cs),
// records one value each, and prints what OpenTelemetry .NET's Prometheus exporter serves for them,
// in the classic text format and in OpenMetrics as a Prometheus 3 server asks for it (allow-utf-8).
using System.Diagnostics.Metrics;
using OpenTelemetry;
using OpenTelemetry.Metrics;

var port = int.Parse(args[0], System.Globalization.CultureInfo.InvariantCulture);
using var meter = new Meter("Levee", "1.0.0");
using var provider = Sdk.CreateMeterProviderBuilder()
    .AddMeter("Levee")
    .AddPrometheusHttpListener(o => { o.Host = "127.0.0.1"; o.Port = port; })
    .Build();

// Every Levee measurement carries cache=<cache name> (src/Levee/Telemetry/LeveeTelemetry.cs).
static KeyValuePair<string, object?> C() => new("cache", "default");
static KeyValuePair<string, object?> T(string k, string v) => new(k, v);
meter.CreateCounter<long>("levee.cache.hits", "{hit}").Add(1, C(), T("level", "l1"));
meter.CreateCounter<long>("levee.cache.misses", "{miss}").Add(1, C(), T("level", "l1"));
meter.CreateCounter<long>("levee.cache.stale_served", "{value}").Add(1, C(), T("reason", "factory_error"));
meter.CreateCounter<long>("levee.factory.calls", "{call}").Add(1, C());
meter.CreateCounter<long>("levee.factory.errors", "{error}").Add(1, C());
meter.CreateHistogram<double>("levee.factory.duration", "s").Record(0.01, C());
meter.CreateCounter<long>("levee.singleflight.joins", "{call}").Add(1, C());
meter.CreateCounter<long>("levee.l2.errors", "{error}").Add(1, C(), T("kind", "timeout"));
meter.CreateHistogram<double>("levee.l2.duration", "s").Record(0.0004, C());
meter.CreateCounter<long>("levee.l2.replica_reads", "{read}").Add(1, C());
meter.CreateObservableGauge("levee.l2.breaker.state", () => new Measurement<int>(2, C()), "{state}");
meter.CreateObservableGauge("levee.l2.replica_breaker.state", () => new Measurement<int>(0, C()), "{state}");
meter.CreateObservableGauge("levee.l1.entries", () => new Measurement<int>(100, C()), "{entry}");
meter.CreateCounter<long>("levee.failover.switches", "{switch}").Add(1, C());
meter.CreateCounter<long>("levee.backplane.messages", "{message}").Add(1, C(), T("direction", "sent"));
meter.CreateObservableGauge("levee.invalidation.journal.size", () => new Measurement<int>(4, C()), "{invalidation}");
meter.CreateCounter<long>("levee.invalidation.journal.overflows", "{overflow}").Add(1, C());
meter.CreateObservableGauge("levee.gate.limit", () => new Measurement<int>(20, C(), T("gate", "db")), "{call}");
meter.CreateObservableGauge("levee.gate.in_flight", () => new Measurement<int>(7, C(), T("gate", "db")), "{call}");
meter.CreateObservableGauge("levee.gate.queued", () => new Measurement<int>(1, C(), T("gate", "db")), "{call}");
meter.CreateCounter<long>("levee.gate.shed", "{call}").Add(1, C(), T("gate", "db"), T("reason", "queue_full"));
meter.CreateHistogram<double>("levee.gate.wait", "s").Record(0.002, C(), T("gate", "db"));
meter.CreateObservableGauge("levee.db.amplification", () => new Measurement<double>(1.5, C(), T("gate", "db")), "1");

using var http = new HttpClient();
string[] accepts =
[
    "text/plain; version=0.0.4",
    "application/openmetrics-text;version=1.0.0;escaping=allow-utf-8;q=0.6,application/openmetrics-text;version=0.0.1;q=0.5,text/plain;version=1.0.0;escaping=allow-utf-8;q=0.4,text/plain;version=0.0.4;q=0.3,*/*;q=0.2",
];
foreach (var accept in accepts)
{
    using var req = new HttpRequestMessage(HttpMethod.Get, new Uri($"http://127.0.0.1:{port}/metrics"));
    req.Headers.TryAddWithoutValidation("Accept", accept);
    using var resp = await http.SendAsync(req);
    Console.WriteLine($"##### Accept: {accept}");
    Console.WriteLine($"##### Content-Type: {resp.Content.Headers.ContentType}");
    Console.WriteLine(await resp.Content.ReadAsStringAsync());
}
