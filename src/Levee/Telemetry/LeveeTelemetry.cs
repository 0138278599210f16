using System.Diagnostics;
using System.Diagnostics.Metrics;

namespace Levee;

/// <summary>Names of Levee's meter and activity source, for OpenTelemetry registration (<c>AddMeter(LeveeTelemetry.MeterName)</c>).</summary>
public static class LeveeTelemetry
{
    /// <summary>Name of the <see cref="System.Diagnostics.Metrics.Meter"/> every Levee cache reports to.</summary>
    public const string MeterName = "Levee";

    /// <summary>Name of the <see cref="System.Diagnostics.ActivitySource"/> of Levee's L2 and factory calls.</summary>
    public const string ActivitySourceName = "Levee";

    internal static readonly ActivitySource ActivitySource = new(ActivitySourceName);

    /// <summary>
    /// Bucket boundaries (seconds) advised for Levee's duration histograms: OpenTelemetry's defaults (0 to 10,000) suit
    /// milliseconds, so without this advice every Redis call and most queries would fall in the first bucket.
    /// </summary>
    internal static readonly InstrumentAdvice<double> SecondsAdvice = new()
    {
        HistogramBucketBoundaries = [0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    };
}

/// <summary>The instruments of one cache instance; every measurement carries the tag <c>cache</c> = the cache's name.</summary>
internal sealed class LeveeMetrics : IDisposable
{
    private readonly Meter _meter;
    private readonly KeyValuePair<string, object?> _cacheTag;
    private readonly StripedCounter _l1Hits = new();
    private readonly StripedCounter _l2Hits = new();
    private readonly Counter<long> _misses;
    private readonly Counter<long> _staleServed;
    private readonly Counter<long> _factoryCalls;
    private readonly Counter<long> _factoryErrors;
    private readonly Histogram<double> _factoryDuration;
    private readonly Counter<long> _joins;
    private readonly Counter<long> _l2Errors;
    private readonly Histogram<double> _l2Duration;
    private readonly Counter<long> _failovers;
    private readonly Counter<long> _backplane;
    private readonly Counter<long> _journalOverflows;
    private readonly Counter<long> _replicaReads;

    public LeveeMetrics(IMeterFactory? meterFactory, string cacheName)
    {
        _meter = meterFactory?.Create(LeveeTelemetry.MeterName) ?? new Meter(LeveeTelemetry.MeterName);
        _cacheTag = new KeyValuePair<string, object?>("cache", cacheName);
        // Hits are the hot path: counted in per-core stripes (no listener call per hit) and reported when collected.
        var l1 = new KeyValuePair<string, object?>("level", "l1");
        var l2 = new KeyValuePair<string, object?>("level", "l2");
        _meter.CreateObservableCounter(
            "levee.cache.hits",
            () => new[] { new Measurement<long>(_l1Hits.Sum(), _cacheTag, l1), new Measurement<long>(_l2Hits.Sum(), _cacheTag, l2) },
            "{hit}",
            "Values returned from a cache level (tag level=l1|l2).");
        _misses = _meter.CreateCounter<long>("levee.cache.misses", "{miss}", "Lookups a cache level could not answer (tag level=l1|l2).");
        _staleServed = _meter.CreateCounter<long>("levee.cache.stale_served", "{value}", "Stale values served instead of failing (tag reason).");
        _factoryCalls = _meter.CreateCounter<long>("levee.factory.calls", "{call}", "Factory (database) calls.");
        _factoryErrors = _meter.CreateCounter<long>("levee.factory.errors", "{error}", "Factory calls that threw or timed out.");
        _factoryDuration = _meter.CreateHistogram<double>("levee.factory.duration", "s", "Factory call duration.", tags: null, advice: LeveeTelemetry.SecondsAdvice);
        _joins = _meter.CreateCounter<long>("levee.singleflight.joins", "{call}", "Callers that joined a load already in flight for their key.");
        _l2Errors = _meter.CreateCounter<long>("levee.l2.errors", "{error}", "L2 calls that failed (tag kind=timeout|error|corrupt|breaker_open|unavailable).");
        _l2Duration = _meter.CreateHistogram<double>("levee.l2.duration", "s", "Duration of successful L2 calls.", tags: null, advice: LeveeTelemetry.SecondsAdvice);
        _failovers = _meter.CreateCounter<long>("levee.failover.switches", "{switch}", "Redis master switches followed by this cache.");
        _backplane = _meter.CreateCounter<long>("levee.backplane.messages", "{message}", "Backplane messages (tag direction=sent|received).");
        _replicaReads = _meter.CreateCounter<long>("levee.l2.replica_reads", "{read}", "L2 reads answered by a replica because the master was unreachable.");
        _journalOverflows = _meter.CreateCounter<long>("levee.invalidation.journal.overflows", "{overflow}", "Invalidation journal overflows (each leads to a generation bump).");
    }

    public Meter Meter => _meter;

    public KeyValuePair<string, object?> CacheTag => _cacheTag;

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void HitL1() => _l1Hits.Increment();

    public void HitL2() => _l2Hits.Increment();

    /// <summary>L1 and L2 hits counted so far (what <c>levee.cache.hits</c> reports).</summary>
    public (long L1, long L2) Hits => (_l1Hits.Sum(), _l2Hits.Sum());

    public void Miss(string level) => _misses.Add(1, _cacheTag, new("level", level));

    public void StaleServed(string reason) => _staleServed.Add(1, _cacheTag, new("reason", reason));

    public void FactoryCall() => _factoryCalls.Add(1, _cacheTag);

    public void FactoryError() => _factoryErrors.Add(1, _cacheTag);

    public void FactoryDuration(double seconds) => _factoryDuration.Record(seconds, _cacheTag);

    public void Join() => _joins.Add(1, _cacheTag);

    public void L2Error(string kind) => _l2Errors.Add(1, _cacheTag, new("kind", kind));

    public void L2Duration(double seconds) => _l2Duration.Record(seconds, _cacheTag);

    /// <summary>True when something listens to <c>levee.l2.duration</c> (else the caller need not read the clock for it).</summary>
    public bool L2DurationEnabled => _l2Duration.Enabled;

    public void Failover() => _failovers.Add(1, _cacheTag);

    public void Backplane(string direction) => _backplane.Add(1, _cacheTag, new("direction", direction));

    public void ReplicaRead() => _replicaReads.Add(1, _cacheTag);

    public void JournalOverflow() => _journalOverflows.Add(1, _cacheTag);

    public void Dispose() => _meter.Dispose();
}

/// <summary>
/// A monotonic count incremented from many threads: one cache line per stripe, the stripe chosen by the current
/// processor, so concurrent hits on different cores don't contend. Read by summing (collection time only).
/// </summary>
internal sealed class StripedCounter
{
    private const int Stripes = 16; // power of two
    private const int Spacing = 8;  // longs per stripe: 64 bytes, one cache line
    private readonly long[] _counts = new long[(Stripes + 1) * Spacing];

    [System.Runtime.CompilerServices.MethodImpl(System.Runtime.CompilerServices.MethodImplOptions.AggressiveInlining)]
    public void Increment() => Interlocked.Increment(ref _counts[((Thread.GetCurrentProcessorId() & (Stripes - 1)) + 1) * Spacing]);

    public long Sum()
    {
        long sum = 0;
        for (var i = 1; i <= Stripes; i++)
        {
            sum += Volatile.Read(ref _counts[i * Spacing]);
        }

        return sum;
    }
}
