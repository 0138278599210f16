namespace Levee.Benchmarks;

/// <summary>Reads the result of a hit without an await: an L1 hit completes synchronously in every cache measured here.</summary>
internal static class Sync
{
    private static long _asyncCompletions;

    /// <summary>The result of <paramref name="task"/>; a task that did not complete synchronously is waited for and counted (it was not a plain hit).</summary>
    public static T Result<T>(ValueTask<T> task)
    {
        if (task.IsCompletedSuccessfully)
        {
            return task.Result;
        }

        Interlocked.Increment(ref _asyncCompletions);
        return task.AsTask().GetAwaiter().GetResult();
    }

    /// <summary>Prints how many "hits" did not complete synchronously (0 expected), to the benchmark's log.</summary>
    public static void ReportAsyncCompletions(string where)
    {
        var n = Interlocked.Exchange(ref _asyncCompletions, 0);
        Console.WriteLine($"// {where}: {n} lookups did not complete synchronously");
    }
}
