using System.Collections.Concurrent;
using System.Diagnostics.Metrics;
using Levee.Serialization;
using Levee.Tests.Fakes;

namespace Levee.Tests.Gate;

/// <summary>The gate's instruments carry the names and tags deploy/prometheus/alerts/levee.yml queries.</summary>
public class GateMetricsTests
{
    private static readonly LeveeEntryOptions OneMinute = new() { Expiration = TimeSpan.FromMinutes(1) };

    [Fact]
    public async Task GateInstruments_ReportLimitInFlightQueuedShedWaitAndAmplification_WithCacheAndGateTags()
    {
        var time = TestCache.NewTime();
        var options = new LeveeOptions
        {
            Name = "metrics-test",
            TimeProvider = time,
            FactoryHardTimeout = Timeout.InfiniteTimeSpan,
            Gate = new LeveeGateOptions { Adaptive = false, InitialLimit = 1, QueueLimit = 1, QueueTimeout = TimeSpan.FromSeconds(10) },
        };
        await using var cache = new LeveeCache(options, null, new SerializerRegistry(null, null, options.JsonSerializerOptions), null, null);

        var measurements = new ConcurrentBag<(string Name, double Value, Dictionary<string, object?> Tags)>();
        using var listener = new MeterListener();
        listener.InstrumentPublished = (instrument, l) =>
        {
            if (instrument.Meter.Name == LeveeTelemetry.MeterName && (instrument.Name.StartsWith("levee.gate.", StringComparison.Ordinal) || instrument.Name == "levee.db.amplification"))
            {
                l.EnableMeasurementEvents(instrument);
            }
        };
        void Record(Instrument i, double v, ReadOnlySpan<KeyValuePair<string, object?>> tags)
        {
            var dict = new Dictionary<string, object?>();
            foreach (var t in tags)
            {
                dict[t.Key] = t.Value;
            }

            if (Equals(dict.GetValueOrDefault("cache"), "metrics-test"))
            {
                measurements.Add((i.Name, v, dict));
            }
        }

        listener.SetMeasurementEventCallback<int>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<long>((i, v, t, _) => Record(i, v, t));
        listener.SetMeasurementEventCallback<double>((i, v, t, _) => Record(i, v, t));
        listener.Start();

        var release = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        var busy = cache.GetOrCreateAsync("a", release, async (r, _) => { await r.Task; return 1; }, OneMinute).AsTask();
        var queued = cache.GetOrCreateAsync("b", 0, (_, _) => ValueTask.FromResult(2), OneMinute).AsTask();
        await Assert.ThrowsAsync<LeveeOverloadedException>(() => cache.GetOrCreateAsync("c", 0, (_, _) => ValueTask.FromResult(3), OneMinute).AsTask());
        time.Advance(TimeSpan.FromSeconds(2)); // "b" waits 2 s in the queue; one factory call ("a") in those 2 s
        listener.RecordObservableInstruments();
        release.SetResult();
        await busy;
        await queued;

        Assert.Contains(measurements, m => m is { Name: "levee.gate.limit", Value: 1 } && Equals(m.Tags["gate"], "default"));
        Assert.Contains(measurements, m => m is { Name: "levee.gate.in_flight", Value: 1 } && Equals(m.Tags["gate"], "default"));
        Assert.Contains(measurements, m => m is { Name: "levee.gate.queued", Value: 1 } && Equals(m.Tags["gate"], "default"));
        Assert.Contains(measurements, m => m is { Name: "levee.gate.shed", Value: 1 } && Equals(m.Tags["reason"], "queue_full") && Equals(m.Tags["gate"], "default"));
        // the wait of each admitted call: "a" at once, "b" after its 2 s in the queue ("c" was refused, not admitted)
        Assert.Equal([0.0, 2.0], measurements.Where(m => m.Name == "levee.gate.wait" && Equals(m.Tags["gate"], "default")).Select(m => m.Value).Order());
        // 1 factory call in 2 s = 0.5 calls/s, over the baseline's floor of 1 call/s
        var amplification = Assert.Single(measurements, m => m.Name == "levee.db.amplification" && Equals(m.Tags["gate"], "default"));
        Assert.Equal(0.5, amplification.Value, 3);
    }
}
