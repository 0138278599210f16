namespace Levee.Drill.Catalog;

/// <summary>
/// Who a database query was for, so a report can say what the database's load is made of. Set by the drill's request
/// path and warm-up source on the execution context; read by <see cref="CatalogStore"/> when the query ends.
/// </summary>
internal sealed class QueryOrigin
{
    private static readonly AsyncLocal<QueryOrigin?> Current = new();
    private static readonly QueryOrigin WarmUpOrigin = new() { _warmUp = true };

    private bool _warmUp;
    private volatile bool _answered;
    private System.Collections.Concurrent.ConcurrentQueue<string>? _steps;

    /// <summary>Marks the current flow as a user's request (call at the top of an async method: the mark ends with it);
    /// with <paramref name="trace"/>, what the request waited for is kept (<see cref="Step"/>) for the slow-request log.</summary>
    public static QueryOrigin BeginRequest(bool trace = false)
    {
        var origin = new QueryOrigin { _steps = trace ? new() : null };
        Current.Value = origin;
        return origin;
    }

    /// <summary>Notes a step of the current request (an L2 call, a database query) when it is traced; else nothing.</summary>
    public static void Step(string step)
    {
        if (Current.Value is { _steps: { } steps, _answered: false })
        {
            steps.Enqueue(step);
        }
    }

    /// <summary>The steps noted so far, in the order they ended.</summary>
    public string Steps => _steps is null ? string.Empty : string.Join("; ", _steps);

    /// <summary>Marks the current flow as warm-up (call at the top of an async method: the mark ends with it).</summary>
    public static void BeginWarmUp() => Current.Value = WarmUpOrigin;

    /// <summary>The request has its answer: a read still running for it is a background refresh.</summary>
    public void Answered() => _answered = true;

    /// <summary>
    /// A read's origin when it ends: <see cref="QueryKind.Request"/> while the request that started it still waits,
    /// <see cref="QueryKind.Background"/> once that request has answered (a refresh the cache let run on, or a load whose
    /// caller got a stale value at a timeout) or with no request at all, <see cref="QueryKind.WarmUp"/> for warm-up.
    /// </summary>
    public static QueryKind OfRead() => Current.Value switch
    {
        null => QueryKind.Background,
        { _warmUp: true } => QueryKind.WarmUp,
        { _answered: true } => QueryKind.Background,
        _ => QueryKind.Request,
    };
}

/// <summary>The kinds of database query the drill counts apart.</summary>
internal enum QueryKind
{
    /// <summary>A read a user's request waited for.</summary>
    Request,

    /// <summary>A read no request waited for: a background refresh, a recovery refresh, a load past its caller's timeout.</summary>
    Background,

    /// <summary>A warm-up read.</summary>
    WarmUp,

    /// <summary>A write (the drill's UPDATE).</summary>
    Write,
}

/// <summary>Database queries by <see cref="QueryKind"/>, counted by the clients.</summary>
internal sealed record QueryKindCounts(long Request, long Background, long WarmUp, long Write)
{
    public static readonly QueryKindCounts Zero = new(0, 0, 0, 0);

    public long Total => Request + Background + WarmUp + Write;

    public static QueryKindCounts operator +(QueryKindCounts a, QueryKindCounts b) =>
        new(a.Request + b.Request, a.Background + b.Background, a.WarmUp + b.WarmUp, a.Write + b.Write);

    public static QueryKindCounts operator -(QueryKindCounts a, QueryKindCounts b) =>
        new(Math.Max(0, a.Request - b.Request), Math.Max(0, a.Background - b.Background), Math.Max(0, a.WarmUp - b.WarmUp), Math.Max(0, a.Write - b.Write));
}
