using System.Diagnostics;
using Microsoft.Extensions.Caching.Hybrid;

namespace Levee.Benchmarks;

/// <summary>
/// The throughput workload of <see cref="ThroughputBenchmarks"/> (its constants: 2 threads, Zipf over 10,000 keys, 99%
/// GetOrCreateAsync / 1% RemoveAsync, Redis L2) split by
/// kind of call, Levee and HybridCache alternating on fresh redis-servers: how many removals, how many reads that did not
/// complete synchronously (misses and joins) and what each kind cost on average. It explains the throughput line of
/// docs/benchmarks.md; the BenchmarkDotNet class is the measurement. Usage: <c>Levee.Benchmarks throughput-breakdown [ROUNDS] [OPS PER THREAD]</c>
/// (default 4 rounds of 10,000 per thread). Also prints the CPU time this process used per operation (all threads: the
/// benchmark's, the thread pool's, StackExchange.Redis' readers; Redis' own CPU not included).
/// </summary>
internal static class ThroughputBreakdown
{
    private static readonly Func<int, CancellationToken, ValueTask<Product>> Load = static (id, _) => new ValueTask<Product>(Product.For(id));

    private static int _opsPerThread = ThroughputBenchmarks.OpsPerThread;

    /// <summary>LEVEE_BENCH_ONLY=levee (or levee-no-backplane, hybrid) runs one contender, e.g. under a profiler.</summary>
    private static bool Wanted(string name) => Environment.GetEnvironmentVariable("LEVEE_BENCH_ONLY") is not { Length: > 0 } only || only == name;

    public static async Task<int> RunAsync(int rounds, int opsPerThread = ThroughputBenchmarks.OpsPerThread)
    {
        _opsPerThread = opsPerThread;
        for (var round = 0; round < rounds; round++)
        {
            if (Wanted("levee"))
            {
                var (levee, lo) = await Peers.LeveeAsync((await Redis()).Configuration);
                await Run("levee", levee, round);
                await lo.DisposeAsync();
            }

            if (Wanted("levee-no-backplane"))
            {
                var (single, so) = await Peers.LeveeAsync((await Redis()).Configuration, backplane: false);
                await Run("levee-no-backplane", single, round);
                await so.DisposeAsync();
            }

            if (Wanted("hybrid"))
            {
                var (hybrid, ho) = Peers.Hybrid((await Redis()).Configuration);
                await Run("hybrid", hybrid, round);
                await ho.DisposeAsync();
            }
        }

        foreach (var r in Servers)
        {
            await r.DisposeAsync();
        }

        return 0;
    }

    private static readonly List<BenchRedis> Servers = [];

    private static async Task<BenchRedis> Redis()
    {
        var r = await BenchRedis.StartAsync();
        Servers.Add(r);
        return r;
    }

    private static async Task Run(string name, HybridCache cache, int round)
    {
        var keys = Enumerable.Range(0, ThroughputBenchmarks.KeySpace).Select(i => "product:" + i).ToArray();
        for (var i = 0; i < keys.Length; i++)
        {
            await cache.GetOrCreateAsync(keys[i], i, Load);
        }

        var zipf = new Zipf(keys.Length, ThroughputBenchmarks.ZipfExponent);
        long removeTicks = 0, missTicks = 0, hitTicks = 0, removes = 0, misses = 0, hits = 0;
        var cpu = Process.GetCurrentProcess().TotalProcessorTime;
        var total = Stopwatch.StartNew();
        await Task.WhenAll(Enumerable.Range(0, ThroughputBenchmarks.Threads).Select(t => Task.Run(async () =>
        {
#pragma warning disable CA5394 // a seeded workload generator, not security
            var random = new Random(42 + t);
            for (var i = 0; i < _opsPerThread; i++)
            {
                var k = zipf.Sample(random);
                var start = Stopwatch.GetTimestamp();
                if (random.NextDouble() < ThroughputBenchmarks.RemoveShare)
                {
                    await cache.RemoveAsync(keys[k]);
                    Interlocked.Add(ref removeTicks, Stopwatch.GetTimestamp() - start);
                    Interlocked.Increment(ref removes);
                }
                else
                {
                    var vt = cache.GetOrCreateAsync(keys[k], k, Load);
                    if (vt.IsCompletedSuccessfully)
                    {
                        _ = vt.Result;
                        Interlocked.Add(ref hitTicks, Stopwatch.GetTimestamp() - start);
                        Interlocked.Increment(ref hits);
                    }
                    else
                    {
                        await vt;
                        Interlocked.Add(ref missTicks, Stopwatch.GetTimestamp() - start);
                        Interlocked.Increment(ref misses);
                    }
                }
            }
#pragma warning restore CA5394
        })));
        static double Us(long ticks, long n) => n == 0 ? 0 : ticks * 1e6 / Stopwatch.Frequency / n;
        var ops = (double)ThroughputBenchmarks.Threads * _opsPerThread;
        var cpuNs = (Process.GetCurrentProcess().TotalProcessorTime - cpu).TotalMilliseconds * 1e6 / ops;
        Console.WriteLine($"{name} r{round}: {total.Elapsed.TotalMilliseconds * 1e6 / ops:N0} ns/op, process CPU {cpuNs:N0} ns/op | removes {removes} avg {Us(removeTicks, removes):N1} us | async gets {misses} avg {Us(missTicks, misses):N1} us | sync hits {hits} avg {Us(hitTicks, hits) * 1000:N0} ns");
    }
}
