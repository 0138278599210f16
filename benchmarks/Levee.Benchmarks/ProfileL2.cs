using System.Diagnostics;
using System.Globalization;

namespace Levee.Benchmarks;

/// <summary>
/// <c>Levee.Benchmarks profile-l2 [seconds] [raw|levee|both]</c>: Levee's L2 hit and/or the raw GET in a loop (for a
/// profiler such as <c>perf</c>), with what each call cost besides time: bytes allocated, thread-pool work items, CPU of
/// this process and of redis-server, and context switches of this process' threads. With <c>both</c> the two alternate
/// in blocks of 2,000 calls, so both see the same machine.
/// </summary>
internal static class ProfileL2
{
    public static async Task<int> RunAsync(string[] args)
    {
        var seconds = args.Length > 0 ? double.Parse(args[0], CultureInfo.InvariantCulture) : 20;
        var mode = args.Length > 1 ? args[1] : "levee";
        if (mode == "cpu")
        {
            return await CpuOnlyAsync(seconds);
        }

        var l2 = new L2HitBenchmarks();
        await l2.SetupAsync();
        try
        {
            var anatomy = l2.CreatePathAnatomy();
            var contenders = mode switch
            {
                "anatomy" => [new Contender("raw GET", () => Raw(l2)), new Contender("GET + L2Budget", async () => await anatomy.GetWithL2BudgetAsync()),
                    new Contender("GET through L2Guard", async () => await anatomy.GuardedGetAsync()), new Contender("Levee L2 hit", () => Levee(l2))],
                "raw" => new[] { new Contender("raw GET", () => Raw(l2)) },
                "both" => [new Contender("raw GET", () => Raw(l2)), new Contender("Levee L2 hit", () => Levee(l2))],
                "conn" => [new Contender("raw GET", () => Raw(l2)), new Contender("raw GET on Levee's connection", async () => await l2.RawThroughLeveeConnectionAsync()), new Contender("Levee L2 hit", () => Levee(l2))],
                "spin" => [new Contender("raw GET", () => Raw(l2)), new Contender("raw GET + 1 us of CPU after the reply", () => RawSpin(l2, 1)), new Contender("raw GET + 3 us of CPU after the reply", () => RawSpin(l2, 3)), new Contender("Levee L2 hit", () => Levee(l2))],
                _ => [new Contender("Levee L2 hit", () => Levee(l2))],
            };

            foreach (var c in contenders)
            {
                for (var i = 0; i < 2000; i++)
                {
                    await c.Call(); // warm-up
                }
            }

            var stop = Stopwatch.StartNew();
            while (stop.Elapsed.TotalSeconds < seconds)
            {
                foreach (var c in contenders)
                {
                    await c.RunBlockAsync(2000, l2.RedisPid);
                }
            }

            foreach (var c in contenders)
            {
                Console.WriteLine(c.ToString());
            }
        }
        finally
        {
            await l2.CleanupAsync();
        }

        return 0;
    }

    /// <summary>Levee's L2 hit over <see cref="InstantL2Store"/>: the engine's CPU per L2 hit, no round trip.</summary>
    private static async Task<int> CpuOnlyAsync(double seconds)
    {
        await using var cache = await InstantL2Cache.CreateAsync();
        var stop = Stopwatch.StartNew();
        var bytes = GC.GetTotalAllocatedBytes(precise: true);
        long calls = 0;
        var best = double.MaxValue;
        while (stop.Elapsed.TotalSeconds < seconds)
        {
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < 100_000; i++)
            {
                var pending = cache.GetAsync();
                _ = pending.IsCompletedSuccessfully ? pending.Result : await pending;
            }

            best = Math.Min(best, Stopwatch.GetElapsedTime(started).TotalNanoseconds / 100_000);
            calls += 100_000;
        }

        Console.WriteLine($"Levee L2 hit over an instant store (engine CPU only): {calls:N0} calls, best block {best:0} ns per call, " +
                          $"{(GC.GetTotalAllocatedBytes(precise: true) - bytes) / (double)calls:N0} B allocated per call");
        return 0;
    }

    private static async ValueTask<int> Raw(L2HitBenchmarks l2) => await l2.Floor_StringGetAsync();

    private static async ValueTask<int> RawSpin(L2HitBenchmarks l2, double us)
    {
        var n = await l2.Floor_StringGetAsync();
        var until = Stopwatch.GetTimestamp() + (long)(us * Stopwatch.Frequency / 1e6);
        while (Stopwatch.GetTimestamp() < until)
        {
        }

        return n;
    }

    private static async ValueTask<int> Levee(L2HitBenchmarks l2) => await l2.Levee_Direct();

    private sealed class Contender(string name, Func<ValueTask<int>> call)
    {
        private long _calls;
        private double _wallUs;
        private double _cpuUs;
        private double _redisCpuUs;
        private long _switches;
        private long _bytes;
        private long _items;
        private double _minBlockUs = double.MaxValue;

        public Func<ValueTask<int>> Call => call;

        public async Task RunBlockAsync(int calls, int redisPid)
        {
            var process = Process.GetCurrentProcess();
            var cpu = process.TotalProcessorTime;
            var redisCpu = RedisCpuTicks(redisPid);
            var switches = ContextSwitches();
            var bytes = GC.GetTotalAllocatedBytes(precise: true);
            var items = ThreadPool.CompletedWorkItemCount;
            var started = Stopwatch.GetTimestamp();
            for (var i = 0; i < calls; i++)
            {
                await call();
            }

            var wall = Stopwatch.GetElapsedTime(started).TotalMicroseconds;
            process.Refresh();
            _wallUs += wall;
            _minBlockUs = Math.Min(_minBlockUs, wall / calls);
            _cpuUs += (process.TotalProcessorTime - cpu).TotalMicroseconds;
            _redisCpuUs += (RedisCpuTicks(redisPid) - redisCpu) * 1e6 / 100; // USER_HZ = 100
            _switches += ContextSwitches() - switches;
            _bytes += GC.GetTotalAllocatedBytes(precise: true) - bytes;
            _items += ThreadPool.CompletedWorkItemCount - items;
            _calls += calls;
        }

        public override string ToString() =>
            $"{name}: {_calls:N0} calls, {_wallUs / _calls:0.0} us per call (best block {_minBlockUs:0.0}), CPU per call: this process {_cpuUs / _calls:0.0} us, " +
            $"redis-server {_redisCpuUs / _calls:0.0} us; {(double)_switches / _calls:0.00} context switches, {(double)_items / _calls:0.00} thread-pool work items, " +
            $"{(double)_bytes / _calls:N0} B allocated per call";

        private static long RedisCpuTicks(int pid)
        {
            var stat = File.ReadAllText($"/proc/{pid}/stat");
            var fields = stat[(stat.LastIndexOf(')') + 2)..].Split(' ');
            return long.Parse(fields[11], CultureInfo.InvariantCulture) + long.Parse(fields[12], CultureInfo.InvariantCulture); // utime, stime
        }

        private static long ContextSwitches()
        {
            long total = 0;
            foreach (var task in Directory.EnumerateDirectories("/proc/self/task"))
            {
                try
                {
                    foreach (var line in File.ReadLines(Path.Combine(task, "status")))
                    {
                        if (line.StartsWith("voluntary_ctxt_switches:", StringComparison.Ordinal) || line.StartsWith("nonvoluntary_ctxt_switches:", StringComparison.Ordinal))
                        {
                            total += long.Parse(line.AsSpan(line.IndexOf(':') + 1).Trim(), CultureInfo.InvariantCulture);
                        }
                    }
                }
                catch (IOException)
                {
                    // the thread ended
                }
            }

            return total;
        }
    }
}
