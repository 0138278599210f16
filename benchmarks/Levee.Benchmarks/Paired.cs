using System.Diagnostics;
using System.Globalization;
using System.Text;

namespace Levee.Benchmarks;

/// <summary>
/// A cross-check of the BenchmarkDotNet tables for a shared, noisy machine: all contenders of one table run in ONE
/// process, interleaved round by round (order rotated each round), so a burst of load from other work hits every
/// contender alike. Per round each contender runs a batch; reported: the minimum and median ns/op over the rounds,
/// allocated bytes/op (GC.GetTotalAllocatedBytes), and the median over rounds of the per-round ratio Levee ÷ contender.
/// Noise on a loaded machine only adds time, so the minimum is the least-disturbed estimate.
/// </summary>
internal static class Paired
{
    internal sealed record Contender(string Name, int OpsPerCall, Func<Task> Call);

    public static async Task<string> RunAsync(string title, IReadOnlyList<Contender> contenders, string? levee, int callsPerBatch, int rounds)
    {
        var n = contenders.Count;
        var times = new double[n][];
        var allocated = new double[n];
        for (var c = 0; c < n; c++)
        {
            times[c] = new double[rounds];
            for (var w = 0; w < 3; w++)
            {
                await Batch(contenders[c], callsPerBatch); // warm-up: JIT tiers, connections
            }
        }

        for (var r = 0; r < rounds; r++)
        {
            for (var k = 0; k < n; k++)
            {
                var c = (k + r) % n;
                var before = GC.GetTotalAllocatedBytes(precise: false);
                var started = Stopwatch.GetTimestamp();
                await Batch(contenders[c], callsPerBatch);
                var elapsed = Stopwatch.GetElapsedTime(started);
                var bytes = GC.GetTotalAllocatedBytes(precise: false) - before;
                var ops = (double)callsPerBatch * contenders[c].OpsPerCall;
                times[c][r] = elapsed.TotalNanoseconds / ops;
                allocated[c] += bytes / ops / rounds;
            }
        }

        var li = contenders.ToList().FindIndex(x => x.Name == levee);
        var sb = new StringBuilder();
        sb.AppendLine(CultureInfo.InvariantCulture, $"{title} — paired, interleaved in one process: {rounds} rounds × {callsPerBatch} calls per contender per round.").AppendLine();
        sb.AppendLine("| Contender | Min ns/op | Min ÷ first row's min | Median ns/op | Allocated B/op (≈) | Levee ÷ this (median of per-round ratios) |");
        sb.AppendLine("|---|---:|---:|---:|---:|---:|");
        var firstMin = times[0].Min();
        for (var c = 0; c < n; c++)
        {
            var sorted = times[c].Order().ToArray();
            var ratios = li < 0 ? [] : Enumerable.Range(0, rounds).Select(r => times[li][r] / times[c][r]).Order().ToArray();
            sb.AppendLine(CultureInfo.InvariantCulture,
                $"| {contenders[c].Name} | {F(sorted[0])} | {sorted[0] / firstMin:0.00} | {F(sorted[rounds / 2])} | {(allocated[c] < 0.5 ? "0" : allocated[c].ToString("N0", CultureInfo.InvariantCulture))} | {(ratios.Length == 0 ? "" : ratios[rounds / 2].ToString("0.00", CultureInfo.InvariantCulture))} |");
        }

        return sb.ToString();
    }

    private static async Task Batch(Contender contender, int calls)
    {
        for (var i = 0; i < calls; i++)
        {
            await contender.Call();
        }
    }

    private static string F(double v) => v.ToString(v < 100 ? "N1" : "N0", CultureInfo.InvariantCulture);

    /// <summary>The L1 hit, L2 hit and hit-anatomy tables (same setup as the BenchmarkDotNet classes), by name.</summary>
    public static async Task<IReadOnlyDictionary<string, string>> RunAllAsync(int rounds)
    {
        var tables = new Dictionary<string, string>();
        var l1 = new L1HitBenchmarks();
        await l1.SetupAsync();

        var keys = Enumerable.Range(0, 1_000).Select(i => "product:" + i.ToString(CultureInfo.InvariantCulture)).ToArray();
        try
        {
            Contender Sync(string name, Func<long> call) => new(name, 1_000, () => { call(); return Task.CompletedTask; });
            Func<long> Int(Func<int> f) => () => f();
            tables["l1"] = await RunAsync("L1 hit", [
                Sync("floor: BitFaster FastConcurrentLru.TryGet", Int(l1.Floor_FastConcurrentLru)),
                Sync("store: BitFaster ConcurrentLru.TryGet", Int(l1.Store_ConcurrentLru)),
                Sync("store: BitFaster ConcurrentTLru.TryGet", Int(l1.Store_ConcurrentTLru)),
                Sync("store: BitFaster ConcurrentLfu.TryGet", Int(l1.Store_ConcurrentLfu)),
                Sync("store: MemoryCache.TryGetValue", Int(l1.Store_MemoryCache)),
                Sync("Levee GetOrCreateAsync (as HybridCache)", Int(l1.Levee_AsHybridCache)),
                Sync("Levee GetOrCreateAsync (LeveeCache)", Int(l1.Levee_Direct)),
                Sync("HybridCache (Microsoft default) GetOrCreateAsync", Int(l1.HybridCache_Default)),
                Sync("FusionCache GetOrSetAsync (defaults)", Int(l1.FusionCache_Defaults)),
                Sync("FusionCache GetOrSetAsync (resilient setup)", Int(l1.FusionCache_Resilient)),
            ], "Levee GetOrCreateAsync (as HybridCache)", callsPerBatch: 20, rounds);
        }
        finally
        {
            await l1.CleanupAsync();
        }

        var l2 = new L2HitBenchmarks();
        await l2.SetupAsync();
        await using var instant = await InstantL2Cache.CreateAsync();
        try
        {
            var pieces = l2.CreatePathAnatomy();
            tables["l2"] = await RunAsync("L2 hit", [
                new("floor: StackExchange.Redis StringGetAsync", 1, l2.Floor_StringGetAsync),
                new("control: the floor again, a second identical contender (its ratio to the first row is this run's noise)", 1, l2.Floor_StringGetAsync),
                new("anatomy: the same GET through Levee's L2Guard (time budget + circuit breaker + metrics)", 1, pieces.GuardedGetAsync),
                new("anatomy: the same GET + L2Budget (L2Guard's 50 ms budget alone: pooled wait, one timer per guard)", 1, pieces.GetWithL2BudgetAsync),
                new("for comparison: the same GET + Task.WaitAsync(50 ms, TimeProvider.System) (the budget before L2Budget: a timer per call)", 1, pieces.GetWithBudgetAsync),
                new("anatomy: the same GET + Levee envelope parse + System.Text.Json deserialize", 1, pieces.GetParseDeserializeAsync),
                new("for comparison: the same GET awaited inside a Polly circuit-breaker pipeline (L2Guard before b691003)", 1, pieces.GetThroughBreakerAsync),
                new("anatomy: Levee GetOrCreateAsync (L1 off) over a store that answers at once: the engine's own CPU, no round trip", 1, async () => await instant.GetAsync()),
                new("Levee GetOrCreateAsync (LeveeCache, L1 off)", 1, l2.Levee_Direct),
                new("Levee GetOrCreateAsync (as HybridCache, L1 off)", 1, l2.Levee_AsHybridCache),
                new("HybridCache (Microsoft default) GetOrCreateAsync (L1 off)", 1, l2.HybridCache_Default),
                new("FusionCache GetOrSetAsync (resilient setup, L1 skipped)", 1, l2.FusionCache_Resilient),
            ], "Levee GetOrCreateAsync (as HybridCache, L1 off)", callsPerBatch: 200, rounds);
        }
        finally
        {
            await l2.CleanupAsync();
        }

        tables["anatomy"] = await Anatomy.RunAsync(rounds);
        return tables;
    }
}
