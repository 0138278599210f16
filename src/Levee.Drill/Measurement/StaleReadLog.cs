using System.Collections.Concurrent;
using System.Globalization;
using Levee.Drill.Reporting;

namespace Levee.Drill.Measurement;

/// <summary>
/// The run's stale-after-invalidation reads one by one (the first <see cref="MaxKept"/>): which key, which instance read
/// it and which wrote it, and the timings that tell a removal's delivery delay from a removal the reading instance had
/// and did not apply (<see cref="StaleRead.Arrival"/>). Thread-safe.
/// </summary>
internal sealed class StaleReadLog
{
    /// <summary>Reads kept per run (a client that serves thousands of stale reads is explained by the first ones).</summary>
    internal const int MaxKept = 200;

    private readonly ConcurrentQueue<(StaleRead Read, Func<double?>? Arrival)> _reads = new();
    private int _count;

    /// <summary>
    /// Keeps <paramref name="read"/> (one of the first <see cref="MaxKept"/>). <paramref name="arrival"/>, when the client
    /// reports receipts: asked at <see cref="Snapshot"/> (after the run) when the removal reached the reading instance, in
    /// ms since the load began (null: it never did); it fills <see cref="StaleRead.RemovalReceivedMs"/>.
    /// </summary>
    public void Add(StaleRead read, Func<double?>? arrival = null)
    {
        if (Interlocked.Increment(ref _count) <= MaxKept)
        {
            _reads.Enqueue((read, arrival));
        }
    }

    /// <summary>The kept reads by the time they began, each with when its removal reached the reading instance when known.</summary>
    public IReadOnlyList<StaleRead> Snapshot() =>
        [.. _reads.Select(r => r.Arrival is null ? r.Read : r.Read with { RemovalReceivedMs = r.Arrival() }).OrderBy(r => r.ReadStartedMs)];

    /// <summary>
    /// One line on <paramref name="reads"/> (null when there are none): how long after their invalidation the reads began,
    /// and how many began before the removal reached the reading instance through the second channel, after it, on the
    /// writer's own instance, or with no removal received there by the end of the read.
    /// </summary>
    public static string? Summary(string client, long total, IReadOnlyList<StaleRead>? reads)
    {
        if (reads is not { Count: > 0 })
        {
            return null;
        }

        var c = CultureInfo.InvariantCulture;
        var line = string.Create(c, $"Stale after invalidation, {client}: {total:N0} reads");
        line += reads.Count < total ? string.Create(c, $" (the first {reads.Count} kept in report.json's staleReads)") : " (each in report.json's staleReads)";
        line += string.Create(c, $"; they began {reads.Min(r => r.ReadStartedMs - r.InvalidatedMs):0}-{reads.Max(r => r.ReadStartedMs - r.InvalidatedMs):0} ms after their invalidation completed");
        var delays = reads.Where(r => r.RemovalReceivedMs is not null).Select(r => r.RemovalReceivedMs!.Value - r.InvalidatedMs).ToList();
        if (delays.Count > 0)
        {
            line += string.Create(c, $"; the removal reached the reading instance through the second channel {delays.Min():0} to {delays.Max():0} ms after the invalidation completed");
        }

        var byArrival = reads.GroupBy(r => r.Arrival).ToDictionary(g => g.Key, g => g.Count());
        var parts = new List<string>();
        foreach (var (arrival, words) in new[]
        {
            (StaleRead.BeforeArrival, "began before the removal reached the reading instance"),
            (StaleRead.AfterArrival, "began after it had arrived there"),
            (StaleRead.NotReceived, "had no removal of the key reach the reading instance through the second channel (or no trace of it)"),
            (StaleRead.WritersInstance, "were on the writer's own instance"),
        })
        {
            if (byArrival.TryGetValue(arrival, out var n))
            {
                parts.Add(string.Create(c, $"{n} {words}"));
            }
        }

        return line + ": " + string.Join(", ", parts) + ".";
    }
}
