using System.Diagnostics;
using System.Globalization;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;

namespace Levee.Drill.Clients;

/// <summary>
/// A debugging aid: with <c>LEVEE_DRILL_LOG=FILE</c> set, every Levee client the drill creates logs to FILE (appended,
/// one line per message: seconds since the drill process started, the client's number in creation order, level,
/// category, message, exception). Level <c>Information</c>, or <c>LEVEE_DRILL_LOG_LEVEL</c> (a <see cref="LogLevel"/>
/// name). Off by default: a drill's figures are measured without it.
/// </summary>
internal static class DrillLog
{
    private static readonly Lock Gate = new();
    private static readonly long Started = Stopwatch.GetTimestamp();
    private static StreamWriter? _writer;
    private static int _clients;

    /// <summary>True when <c>LEVEE_DRILL_LOG</c> is set: the Levee clients log to it, and requests slower than
    /// <c>LEVEE_DRILL_SLOW_MS</c> (default 80) are written to it with what they waited for (<see cref="SlowRequest"/>).</summary>
    public static bool Enabled { get; } = !string.IsNullOrWhiteSpace(Environment.GetEnvironmentVariable("LEVEE_DRILL_LOG"));

    /// <summary>The slow-request threshold.</summary>
    public static TimeSpan SlowThreshold { get; } = TimeSpan.FromMilliseconds(
        double.TryParse(Environment.GetEnvironmentVariable("LEVEE_DRILL_SLOW_MS"), NumberStyles.Float, CultureInfo.InvariantCulture, out var ms) ? ms : 80);

    private static ActivityListener? _listener;

    /// <summary>Writes a slow request's line: when it was scheduled, where, how long it took and its steps (Levee's L2
    /// calls from its activities, the database queries from the drill's store), in the order they ended.</summary>
    public static void SlowRequest(TimeSpan scheduled, int instance, string key, bool isWrite, TimeSpan latency, string steps) =>
        Write(0, LogLevel.Information, "slow", string.Create(CultureInfo.InvariantCulture,
            $"request at {scheduled.TotalSeconds:0.000} s, instance {instance}, {(isWrite ? "write" : "read")} {key}: {latency.TotalMilliseconds:0.0} ms: {steps}"), null);

    /// <summary>Listens to Levee's L2 activities so a traced request sees its L2 calls (only when <see cref="Enabled"/>).</summary>
    public static void ListenToLevee()
    {
        if (!Enabled)
        {
            return;
        }

        lock (Gate)
        {
            if (_listener is not null)
            {
                return;
            }

            _listener = new ActivityListener
            {
                ShouldListenTo = source => source.Name == "Levee",
                Sample = static (ref ActivityCreationOptions<ActivityContext> _) => ActivitySamplingResult.AllData,
                ActivityStopped = a => Catalog.QueryOrigin.Step(string.Create(CultureInfo.InvariantCulture,
                    $"{a.OperationName} {a.GetTagItem("levee.operation")} {a.Duration.TotalMilliseconds:0.0} ms{(a.Status == ActivityStatusCode.Error ? " " + a.StatusDescription : "")}")),
            };
            ActivitySource.AddActivityListener(_listener);
        }
    }

    /// <summary>Adds the file logger to a client's services when <c>LEVEE_DRILL_LOG</c> is set.</summary>
    public static void AddTo(IServiceCollection services)
    {
        var path = Environment.GetEnvironmentVariable("LEVEE_DRILL_LOG");
        if (string.IsNullOrWhiteSpace(path))
        {
            return;
        }

        ListenToLevee();
        var level = Enum.TryParse<LogLevel>(Environment.GetEnvironmentVariable("LEVEE_DRILL_LOG_LEVEL"), ignoreCase: true, out var l) ? l : LogLevel.Information;
        var client = Interlocked.Increment(ref _clients);
        lock (Gate)
        {
            _writer ??= new StreamWriter(path, append: true) { AutoFlush = true };
        }

        services.AddLogging(b => b.SetMinimumLevel(level).AddProvider(new Provider(client)));
    }

    private static void Write(int client, LogLevel level, string category, string message, Exception? exception)
    {
        var seconds = Stopwatch.GetElapsedTime(Started).TotalSeconds;
        var line = string.Create(CultureInfo.InvariantCulture,
            $"{seconds,9:0.000} c{client} {level} {category[(category.LastIndexOf('.') + 1)..]}: {message}{(exception is null ? "" : " | " + exception.GetType().Name + ": " + exception.Message)}");
        lock (Gate)
        {
            _writer?.WriteLine(line);
        }
    }

    private sealed class Provider(int client) : ILoggerProvider
    {
        public ILogger CreateLogger(string categoryName) => new Logger(client, categoryName);

        public void Dispose()
        {
        }
    }

    private sealed class Logger(int client, string category) : ILogger
    {
        public IDisposable? BeginScope<TState>(TState state)
            where TState : notnull => null;

        public bool IsEnabled(LogLevel logLevel) => logLevel != LogLevel.None;

        public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter) =>
            Write(client, logLevel, category, formatter(state, exception), exception);
    }
}
