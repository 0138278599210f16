using System.Collections.Concurrent;
using System.Text.RegularExpressions;

namespace Levee.Drill.Measurement;

/// <summary>
/// Counts the run's failed requests by cause: the exception's type and a short normalized message (numbers, GUIDs and
/// long runs of whitespace taken out, so one cause is one row however many keys or milliseconds it names), or the
/// drill's own reason for a refusal or a request cut off at the end of the run. Thread-safe; at most
/// <see cref="MaxCauses"/> distinct causes (later new ones are counted as <see cref="OtherCause"/>).
/// </summary>
internal sealed partial class ErrorCauses
{
    /// <summary>Distinct causes kept per run.</summary>
    internal const int MaxCauses = 50;

    /// <summary>The cause of errors beyond <see cref="MaxCauses"/> distinct ones.</summary>
    internal const string OtherCause = "other (more distinct causes than the report keeps)";

    /// <summary>A request refused at the door: its instance had <c>--in-flight-limit</c> requests in flight.</summary>
    internal const string RefusedCause = "refused: the instance had --in-flight-limit requests in flight";

    /// <summary>A request still in flight when the run ended (cancelled after the drain).</summary>
    internal const string CutOffCause = "cut off: still in flight when the run ended";

    private const int MaxMessageLength = 160;

    private readonly ConcurrentDictionary<string, Tally> _tallies = new(StringComparer.Ordinal);

    /// <summary>Counts one failed request of <paramref name="cause"/> scheduled at <paramref name="second"/> of the run.</summary>
    public void Add(string cause, int second)
    {
        ArgumentNullException.ThrowIfNull(cause);
        if (!_tallies.TryGetValue(cause, out var tally))
        {
            tally = _tallies.Count >= MaxCauses ? _tallies.GetOrAdd(OtherCause, _ => new Tally()) : _tallies.GetOrAdd(cause, _ => new Tally());
        }

        tally.Add(second);
    }

    /// <summary>The causes, most frequent first (then by first occurrence, then by name).</summary>
    public IReadOnlyList<Reporting.ErrorCause> Snapshot() =>
        [.. _tallies
            .Select(kv => kv.Value.Read(kv.Key))
            .Where(c => c.Count > 0)
            .OrderByDescending(c => c.Count)
            .ThenBy(c => c.FirstSecond)
            .ThenBy(c => c.Cause, StringComparer.Ordinal)];

    /// <summary>
    /// The cause of a request that failed with <paramref name="exception"/>: <c>Type: message</c>, unwrapping a single
    /// <see cref="AggregateException"/>, with the innermost cause appended when there is one
    /// (<c>Outer: message ← Inner: message</c>); a PostgreSQL error names its SQLSTATE.
    /// <paramref name="runEnded"/>: the request was cancelled because the run ended (<see cref="CutOffCause"/>).
    /// </summary>
    public static string Describe(Exception exception, bool runEnded = false)
    {
        ArgumentNullException.ThrowIfNull(exception);
        while (exception is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            exception = aggregate.InnerExceptions[0];
        }

        if (runEnded && exception is OperationCanceledException)
        {
            return CutOffCause;
        }

        var inner = exception;
        while (inner.InnerException is { } next)
        {
            inner = next;
        }

        var cause = One(exception);
        return ReferenceEquals(inner, exception) ? cause : cause + " ← " + One(inner);

        static string One(Exception e) => e is Npgsql.PostgresException pg
            ? $"{e.GetType().Name} {pg.SqlState}: {Normalize(pg.MessageText)}"
            : $"{e.GetType().Name}: {Normalize(e.Message)}";
    }

    /// <summary>
    /// <paramref name="message"/> with GUIDs as <c>&lt;guid&gt;</c>, every run of digits as <c>N</c>, whitespace collapsed,
    /// cut at 160 characters: the same failure with other keys, ports or durations reads the same.
    /// </summary>
    public static string Normalize(string? message)
    {
        if (string.IsNullOrWhiteSpace(message))
        {
            return "(no message)";
        }

        var text = GuidPattern().Replace(message, "<guid>");
        text = Digits().Replace(text, "N");
        text = Whitespace().Replace(text, " ").Trim();
        return text.Length <= MaxMessageLength ? text : string.Concat(text.AsSpan(0, MaxMessageLength - 1), "…");
    }

    [GeneratedRegex("[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")]
    private static partial Regex GuidPattern();

    [GeneratedRegex("[0-9]+")]
    private static partial Regex Digits();

    [GeneratedRegex("\\s+")]
    private static partial Regex Whitespace();

    private sealed class Tally
    {
        private readonly Lock _gate = new();
        private long _count;
        private int _first = int.MaxValue;
        private int _last = int.MinValue;

        public void Add(int second)
        {
            lock (_gate)
            {
                _count++;
                _first = Math.Min(_first, second);
                _last = Math.Max(_last, second);
            }
        }

        public Reporting.ErrorCause Read(string cause)
        {
            lock (_gate)
            {
                return new Reporting.ErrorCause(cause, _count, _first, _last);
            }
        }
    }
}
