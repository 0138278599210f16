using BenchmarkDotNet.Columns;
using BenchmarkDotNet.Configs;
using BenchmarkDotNet.Diagnosers;
using BenchmarkDotNet.Exporters;
using BenchmarkDotNet.Exporters.Json;
using BenchmarkDotNet.Jobs;
using BenchmarkDotNet.Reports;
using Perfolizer.Horology;

namespace Levee.Benchmarks;

/// <summary>
/// Short jobs (the whole suite has to finish in about ten minutes on 2 cores), the memory diagnoser, and results as
/// GitHub markdown plus JSON (run.sh turns the JSON into docs/benchmarks.md).
/// On a shared, loaded 2-core machine each line's wall-clock ns/op is inflated by the CPU share other processes take
/// while that line's process runs (tried: 60 iterations of 2 ms did not help and made the allocation column noisy);
/// the interleaved cross-check (Paired.cs) is the ranking to trust there. Allocations are exact either way.
/// </summary>
public class ShortConfig : ManualConfig
{
    public ShortConfig()
        : this(Job.Default
            .WithLaunchCount(1)
            .WithWarmupCount(3)
            .WithIterationCount(7)
            .WithIterationTime(TimeInterval.FromMilliseconds(200)))
    {
    }

    protected ShortConfig(Job job)
    {
        AddJob(job.WithId("short"));
        AddDiagnoser(MemoryDiagnoser.Default);
        AddExporter(MarkdownExporter.GitHub);
        AddExporter(JsonExporter.Full);
        AddColumn(RankColumn.Arabic);
        AddColumn(StatisticColumn.Min);
        SummaryStyle = SummaryStyle.Default.WithTimeUnit(TimeUnit.Nanosecond).WithRatioStyle(RatioStyle.Trend);
        WithOrderer(new BenchmarkDotNet.Order.DefaultOrderer(BenchmarkDotNet.Order.SummaryOrderPolicy.Declared));
    }
}

/// <summary>For benchmarks whose single invocation takes milliseconds (stampede, throughput): a fixed invocation count.</summary>
public class LongOpConfig : ShortConfig
{
    public LongOpConfig()
        : base(Job.Default
            .WithLaunchCount(1)
            .WithWarmupCount(2)
            .WithIterationCount(6)
            .WithInvocationCount(8)
            .WithUnrollFactor(1))
    {
    }
}
