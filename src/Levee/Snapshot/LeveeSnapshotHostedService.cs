using Levee.Internal;
using Levee.Gate;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Hosting;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Microsoft.Extensions.Options;

namespace Levee.Snapshot;

/// <summary>
/// With <see cref="LeveeOptions.Snapshot"/> set: reads the snapshot at host start, writes it every
/// <see cref="LeveeSnapshotOptions.WriteInterval"/> and at host stop. Does nothing (and creates no cache) without a path.
/// </summary>
internal sealed class LeveeSnapshotHostedService(IServiceProvider services, IOptions<LeveeOptions> options) : IHostedService, IAsyncDisposable
{
    private LeveeCache? _cache;
    private ILogger _logger = NullLogger.Instance;
    private ITimer? _timer;
    private readonly Lock _lock = new();
    private Task _write = Task.CompletedTask; // the latest write (never faults)

    private LeveeSnapshotOptions Settings => options.Value.Snapshot;

    public async Task StartAsync(CancellationToken cancellationToken)
    {
        if (string.IsNullOrWhiteSpace(Settings.Path))
        {
            return;
        }

        _cache = services.GetRequiredService<LeveeCache>();
        _logger = services.GetService<ILoggerFactory>()?.CreateLogger("Levee.Snapshot") ?? NullLogger.Instance;
        try
        {
            var count = await _cache.LoadSnapshotAsync(Settings.Path, Settings.MaxEntries, cancellationToken).ConfigureAwait(false);
            GateLog.SnapshotLoaded(_logger, _cache.Options.Name, count);
        }
        catch (Exception ex) when (ex is IOException or InvalidDataException or UnauthorizedAccessException)
        {
            GateLog.SnapshotFailed(_logger, _cache.Options.Name, "read", ex);
        }

        _timer = NoFlow.Timer(_cache.Options.TimeProvider, static s => _ = ((LeveeSnapshotHostedService)s!).WriteAsync(), this, Settings.WriteInterval, Settings.WriteInterval);
    }

    public async Task StopAsync(CancellationToken cancellationToken)
    {
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
            _timer = null;
        }

        // a periodic write may be running: it began before the host stopped, so the final write comes after it
        Task running;
        lock (_lock)
        {
            running = _write;
        }

        await running.ConfigureAwait(false);
        Task last;
        lock (_lock)
        {
            last = _write = _cache is null || _cache.IsDisposed ? Task.CompletedTask : WriteOnceAsync();
        }

        await last.ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        if (_timer is not null)
        {
            await _timer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>The periodic write: skipped while the previous one still runs.</summary>
    internal Task WriteAsync()
    {
        lock (_lock)
        {
            if (_cache is null || _cache.IsDisposed || !_write.IsCompleted)
            {
                return _write;
            }

            return _write = WriteOnceAsync();
        }
    }

    private async Task WriteOnceAsync()
    {
        var cache = _cache!;
        await Task.Yield(); // not under the caller's lock
        try
        {
            var count = await cache.WriteSnapshotAsync(Settings.Path!, Settings.MaxEntries, Settings.MaxBytes, CancellationToken.None).ConfigureAwait(false);
            GateLog.SnapshotWritten(_logger, cache.Options.Name, count);
        }
        catch (Exception ex)
        {
            // a background write must never take the process down: log and try again at the next interval
            GateLog.SnapshotFailed(_logger, cache.Options.Name, "written", ex);
        }
    }
}
