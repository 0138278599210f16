using System.Diagnostics;
using System.Globalization;
using System.Text;
using Microsoft.Extensions.Caching.Hybrid;

#pragma warning disable CA2012

namespace Levee.Benchmarks;

/// <summary>
/// Splits one cold-key stampede (the <see cref="StampedeBenchmarks"/> workload: 1,000 callers, a 1 ms factory) into
/// its phases, Levee and HybridCache interleaved round by round: issuing the 1,000 calls, from the first call to the
/// factory's start (the L2 miss), the factory itself, and from the factory's end to the last caller answered (the L2
/// write and the hand-out); the same for both caches without Redis. <c>Levee.Benchmarks stampede-anatomy [rounds] [out.md]</c>.
/// </summary>
internal static class StampedeAnatomy
{
    private static long _factoryStart;
    private static long _factoryEnd;
    private static long _keySequence;

    private static readonly Func<int, CancellationToken, ValueTask<Product>> SlowLoad = static async (id, ct) =>
    {
        Volatile.Write(ref _factoryStart, Stopwatch.GetTimestamp());
        await Task.Delay(1, ct).ConfigureAwait(false);
        Volatile.Write(ref _factoryEnd, Stopwatch.GetTimestamp());
        return Product.For(id);
    };

    public static async Task<int> RunAsync(int rounds, string? outPath)
    {
        await using var redis = await BenchRedis.StartAsync();
        var (levee, leveeOwner) = await Peers.LeveeAsync(redis.Configuration);
        var (hybrid, hybridOwner) = Peers.Hybrid(redis.Configuration);
        var (leveeL1, leveeL1Owner) = await Peers.LeveeAsync(null);
        var (hybridL1, hybridL1Owner) = Peers.Hybrid(null);
        try
        {
            var contenders = new (string Name, Func<string, int, ValueTask<Product>> Get)[]
            {
                ("levee", (k, i) => levee.GetOrCreateAsync(k, i, SlowLoad)),
                ("hybrid", (k, i) => hybrid.GetOrCreateAsync(k, i, SlowLoad)),
                ("levee-l1", (k, i) => leveeL1.GetOrCreateAsync(k, i, SlowLoad)),
                ("hybrid-l1", (k, i) => hybridL1.GetOrCreateAsync(k, i, SlowLoad)),
            };
            var phases = contenders.Select(_ => new List<double[]>()).ToArray();
            var callers = new ValueTask<Product>[StampedeBenchmarks.Callers];
            for (var r = -3; r < rounds; r++)
            {
                for (var c = 0; c < contenders.Length; c++)
                {
                    var key = "anatomy:" + Interlocked.Increment(ref _keySequence).ToString(CultureInfo.InvariantCulture);
                    var started = Stopwatch.GetTimestamp();
                    for (var i = 0; i < callers.Length; i++)
                    {
                        callers[i] = contenders[c].Get(key, i);
                    }

                    var issued = Stopwatch.GetTimestamp();
                    foreach (var caller in callers)
                    {
                        await caller;
                    }

                    var done = Stopwatch.GetTimestamp();
                    if (r >= 0)
                    {
                        phases[c].Add([
                            Ms(started, issued), Ms(started, Volatile.Read(ref _factoryStart)),
                            Ms(Volatile.Read(ref _factoryStart), Volatile.Read(ref _factoryEnd)),
                            Ms(Volatile.Read(ref _factoryEnd), done), Ms(started, done)]);
                    }
                }
            }

            var sb = new StringBuilder();
            sb.AppendLine("| cache | issue 1,000 calls | first call -> factory starts | factory (Task.Delay(1)) | factory ends -> all answered | total |");
            sb.AppendLine("|---|---:|---:|---:|---:|---:|");
            for (var c = 0; c < contenders.Length; c++)
            {
                sb.Append(CultureInfo.InvariantCulture, $"| {contenders[c].Name} ");
                for (var p = 0; p < 5; p++)
                {
                    var values = phases[c].Select(x => x[p]).Order().ToArray();
                    sb.Append(CultureInfo.InvariantCulture, $"| {values[values.Length / 2]:0.000} ({values[0]:0.000}) ");
                }

                sb.AppendLine("|");
            }

            var text = $"Median (minimum) in ms over {rounds} stampedes per cache, interleaved round by round; the -l1 lines have no Redis.\n\n{sb}";
            Console.WriteLine(text);
            if (outPath is not null)
            {
                await File.WriteAllTextAsync(outPath, text);
            }

            return 0;
        }
        finally
        {
            await leveeOwner.DisposeAsync();
            await hybridOwner.DisposeAsync();
        }
    }

    private static double Ms(long from, long to) => (to - from) * 1000.0 / Stopwatch.Frequency;
}
