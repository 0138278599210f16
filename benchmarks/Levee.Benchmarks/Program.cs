using System.Globalization;
using BenchmarkDotNet.Running;

namespace Levee.Benchmarks;

/// <summary>
/// <c>Levee.Benchmarks [BenchmarkDotNet arguments]</c> runs benchmarks (e.g. <c>--filter '*L1Hit*'</c>);
/// <c>Levee.Benchmarks stampede-calls [rounds] [out.md]</c> counts factory calls per cold-key stampede;
/// <c>Levee.Benchmarks paired [rounds] [out dir]</c> runs the L1/L2 hit contenders interleaved in one process (noise cross-check);
/// <c>Levee.Benchmarks outage OUTDIR [...]</c> runs the drill's redis-outage and master-hang with naive, levee and the peers (see <see cref="Outage"/>);
/// <c>Levee.Benchmarks report-outage OUTDIR/outage.md docs/benchmarks.md</c> writes that table between the bench:outage markers;
/// <c>Levee.Benchmarks stampede-anatomy [rounds] [out.md]</c> splits a cold-key stampede into its phases (see <see cref="StampedeAnatomy"/>);
/// <c>Levee.Benchmarks remove-anatomy [rounds] [out.md]</c> splits what one removal costs (see <see cref="RemoveAnatomy"/>);
/// <c>Levee.Benchmarks throughput-breakdown [rounds] [ops per thread]</c> splits the throughput workload by kind of call;
/// <c>Levee.Benchmarks profile-l2 [seconds] [raw|levee|both]</c> runs Levee's L2 hit and/or the raw GET in a loop, for a profiler such as <c>perf</c>;
/// <c>Levee.Benchmarks report ...</c> turns BenchmarkDotNet's JSON results into the markdown in docs/ (see run.sh).
/// </summary>
public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        if (args.Length > 0 && args[0] == "stampede-calls")
        {
            var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 20;
            var table = await StampedeBenchmarks.CountAsync(rounds);
            Console.WriteLine(table);
            if (args.Length > 2)
            {
                await File.WriteAllTextAsync(args[2], table);
            }

            return 0;
        }

        if (args.Length > 0 && args[0] == "paired")
        {
            var rounds = args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 30;
            var tables = await Paired.RunAllAsync(rounds);
            foreach (var (name, table) in tables)
            {
                Console.WriteLine(table);
                if (args.Length > 2)
                {
                    Directory.CreateDirectory(args[2]);
                    await File.WriteAllTextAsync(Path.Combine(args[2], $"paired-{name}.md"), table);
                }
            }

            return 0;
        }

        if (args.Length > 0 && args[0] == "throughput-breakdown")
        {
            return await ThroughputBreakdown.RunAsync(
                args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 4,
                args.Length > 2 ? int.Parse(args[2], CultureInfo.InvariantCulture) : 10_000);
        }


        if (args.Length > 0 && args[0] == "remove-anatomy")
        {
            var table = await RemoveAnatomy.RunAsync(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 30);
            Console.WriteLine(table);
            if (args.Length > 2)
            {
                await File.WriteAllTextAsync(args[2], table);
            }

            return 0;
        }

        if (args.Length > 0 && args[0] == "stampede-anatomy")
        {
            return await StampedeAnatomy.RunAsync(args.Length > 1 ? int.Parse(args[1], CultureInfo.InvariantCulture) : 30, args.Length > 2 ? args[2] : null);
        }

        if (args.Length > 0 && args[0] == "profile-l2")
        {
            return await ProfileL2.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "outage")
        {
            return await Outage.RunAsync(args[1..]);
        }

        if (args.Length > 0 && args[0] == "report-outage")
        {
            return Report.RunOutage(args[1..]);
        }

        if (args.Length > 0 && args[0] == "report")
        {
            return Report.Run(args[1..]);
        }

        var summaries = BenchmarkSwitcher.FromAssembly(typeof(Program).Assembly).Run(args);
        return summaries.Any(s => s.HasCriticalValidationErrors || s.Reports.Any(r => !r.Success)) ? 1 : 0;
    }
}
