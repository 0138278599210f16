using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;

namespace Levee.Tests.Fakes;

/// <summary>Collects log entries so tests can assert the event ids of failure paths.</summary>
internal sealed class CollectingLogger : ILogger
{
    public ConcurrentQueue<(LogLevel Level, EventId Id, string Message)> Entries { get; } = new();

    /// <summary>Each entry as a console or file logger renders it: the message, then the exception with its messages and stack.</summary>
    public ConcurrentQueue<string> Rendered { get; } = new();

    public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

    public bool IsEnabled(LogLevel logLevel) => true;

    public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception, Func<TState, Exception?, string> formatter)
    {
        var message = formatter(state, exception);
        Entries.Enqueue((logLevel, eventId, message));
        Rendered.Enqueue(exception is null ? message : message + Environment.NewLine + exception);
    }

    public bool Has(int eventId) => Entries.Any(e => e.Id.Id == eventId);
}

/// <summary>Hands the same <see cref="CollectingLogger"/> to every category.</summary>
internal sealed class CollectingLoggerProvider(CollectingLogger logger) : ILoggerProvider
{
    public ILogger CreateLogger(string categoryName) => logger;

    public void Dispose()
    {
    }
}
