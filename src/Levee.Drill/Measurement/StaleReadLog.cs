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

    private readonly ConcurrentQueue<StaleRead> _reads = new();
    private int _count;

    public void Add(StaleRead read)
    {
        if (Interlocked.Increment(ref _count) <= MaxKept)
        {
            _reads.Enqueue(read);
        }
    }

    /// <summary>The kept reads by the time they began.</summary>
    public IReadOnlyList<StaleRead> Snapshot() => [.. _reads.OrderBy(r => r.ReadStartedMs)];

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
            (StaleRead.NotReceived, "found no removal received there by the end of the read"),
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
