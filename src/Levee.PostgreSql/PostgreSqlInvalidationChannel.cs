using System.Diagnostics.Metrics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Npgsql;

namespace Levee.PostgreSql;

/// <summary>
/// The second invalidation channel on PostgreSQL LISTEN/NOTIFY. One dedicated, unpooled connection LISTENs (opened when
/// the first cache subscribes, opened again with a doubling backoff after any failure, checked with a query after
/// <see cref="LeveePostgreSqlOptions.IdleCheckInterval"/> of silence); each invalidation is one
/// <c>SELECT pg_notify(channel, payload)</c> on a pooled connection. PostgreSQL delivers a notification only to the
/// sessions listening when it commits: what is sent while the listening connection is down is not received here
/// (the Redis backplane and the senders' journal cover it, as they did before this channel).
/// </summary>
public sealed partial class PostgreSqlInvalidationChannel : ILeveeInvalidationChannel, IAsyncDisposable
{
    private readonly LeveePostgreSqlOptions _options;
    private readonly ILogger _logger;
    private readonly NpgsqlDataSource _notifySource;
    private readonly NpgsqlDataSource _valueSource;
    private readonly SemaphoreSlim _valueSlots = new(ValueConnections, ValueConnections);
    private readonly string _listenConnectionString;
    private readonly Lock _gate = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly Meter? _ownMeter;
    private readonly Counter<long> _sent;
    private readonly Counter<long> _failed;
    private readonly Counter<long> _received;
    private readonly Counter<long> _reconnects;
    private readonly Counter<long> _valuesSent;
    private readonly Counter<long> _valuesDropped;
    private Action<LeveeInvalidation>[] _subscribers = [];
    private Task? _listenLoop;
    private int _listening;
    private long _connects;
    private volatile string? _lastError;
    private volatile int _listenerPid;

    /// <summary>Creates the channel (nothing is opened until the first <see cref="Subscribe"/> or <see cref="PublishAsync"/>).</summary>
    public PostgreSqlInvalidationChannel(LeveePostgreSqlOptions options, ILogger? logger = null, IMeterFactory? meterFactory = null)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        _options = options;
        _logger = logger ?? NullLogger.Instance;
        var timeout = (int)Math.Ceiling(options.CommandTimeout.TotalSeconds);
        _notifySource = new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder(options.ConnectionString)
        {
            ApplicationName = "levee-notify",
            CommandTimeout = timeout,
            Timeout = Math.Max(timeout, 2), // opening a connection is bounded too: a removal awaits its NOTIFY
            NoResetOnClose = true, // only pg_notify runs on these: no DISCARD ALL per NOTIFY (the drill counted 2 transactions per removal)
            MaxPoolSize = InvalidationConnections, // never Npgsql's 100 per instance: 8 instances would take the server's every connection
        }.ConnectionString).Build();
        _valueSource = new NpgsqlDataSourceBuilder(new NpgsqlConnectionStringBuilder(options.ConnectionString)
        {
            ApplicationName = "levee-share",
            CommandTimeout = timeout,
            Timeout = Math.Max(timeout, 2),
            NoResetOnClose = true,
            MaxPoolSize = ValueConnections, // shared values never queue invalidations behind them: a pool of their own
        }.ConnectionString).Build();
        _listenConnectionString = new NpgsqlConnectionStringBuilder(options.ConnectionString)
        {
            ApplicationName = "levee-listen",
            Pooling = false, // a broken or LISTENing session never goes back to a pool
            CommandTimeout = timeout,
            Timeout = Math.Max(timeout, 2),
        }.ConnectionString;

        var meter = meterFactory?.Create("Levee.PostgreSql") ?? (_ownMeter = new Meter("Levee.PostgreSql"));
        var channelTag = new KeyValuePair<string, object?>("channel", options.Channel);
        _sent = meter.CreateCounter<long>("levee.postgresql.notify.sent", description: "Invalidations sent with NOTIFY.");
        _failed = meter.CreateCounter<long>("levee.postgresql.notify.failed", description: "Invalidations NOTIFY could not send.");
        _received = meter.CreateCounter<long>("levee.postgresql.received", description: "Invalidations received through LISTEN.");
        _valuesSent = meter.CreateCounter<long>("levee.postgresql.values.sent", description: "Shared values and load announcements sent with NOTIFY (every Redis node gone).");
        _valuesDropped = meter.CreateCounter<long>("levee.postgresql.values.dropped", description: "Shared values and load announcements not sent: the value connection was busy or failed.");
        _reconnects = meter.CreateCounter<long>("levee.postgresql.listen.reconnects", description: "Times the listening connection was opened again after a failure.");
        meter.CreateObservableGauge("levee.postgresql.listening", () => new Measurement<int>(Volatile.Read(ref _listening), channelTag),
            description: "1 while the listening connection is open and LISTENing, else 0.");
    }

    /// <summary>The NOTIFY channel.</summary>
    public string Channel => _options.Channel;

    /// <summary>True while the listening connection is open and LISTENing (the health signal: false means invalidations
    /// sent by other instances now reach this one through Redis only).</summary>
    public bool IsListening => Volatile.Read(ref _listening) == 1;

    /// <inheritdoc/>
    /// <remarks>The number of times the listening connection was opened, while it is listening: a reconnect changes it
    /// (NOTIFYs sent while no connection listened are not kept by PostgreSQL).</remarks>
    public long? DeliveryEpoch => IsListening ? ConnectCount : null;

    /// <summary>How many times the listening connection was opened (1 after the first start; more after reconnects).</summary>
    public long ConnectCount => Interlocked.Read(ref _connects);

    /// <summary>The last failure of the listening connection, or null.</summary>
    public string? LastError => _lastError;

    /// <summary>The listening session's server process id (pg_stat_activity.pid), 0 while not listening: for tests.</summary>
    internal int ListenerProcessId => _listenerPid;

    /// <summary>Connections per instance that send invalidations (NOTIFY): a removal awaits one.</summary>
    internal const int InvalidationConnections = 4;

    /// <summary>Connections per instance that send shared values and load announcements. A value that finds them busy
    /// for <see cref="ValueSlotWait"/> (an announcement: at all) is not sent (counted as <c>levee.postgresql.values.dropped</c>): each instance then loads it itself, and a
    /// database under load is not sent more.</summary>
    internal const int ValueConnections = 2;

    /// <inheritdoc />
    public int MaxSharedValueBytes => _options.ShareValuesMaxBytes;

    /// <inheritdoc />
    public async ValueTask<bool> PublishAsync(LeveeInvalidation invalidation, CancellationToken cancellationToken = default)
    {
        var payload = NotifyPayload.Format(invalidation);
        if (invalidation.Kind is LeveeInvalidationKind.Value or LeveeInvalidationKind.Loading or LeveeInvalidationKind.Refreshing
            && (_options.ShareValuesMaxBytes == 0 || invalidation.Value.Length > _options.ShareValuesMaxBytes || !NotifyPayload.Fits(payload)))
        {
            return false; // not an invalidation: a value not shared is loaded by each instance itself, nothing is lost
        }

        if (invalidation.Kind is LeveeInvalidationKind.Value or LeveeInvalidationKind.Loading or LeveeInvalidationKind.Refreshing)
        {
            return await PublishValueAsync(payload, invalidation.Kind == LeveeInvalidationKind.Value ? ValueSlotWait : TimeSpan.Zero, cancellationToken).ConfigureAwait(false);
        }

        if (!NotifyPayload.Fits(payload))
        {
            // never dropped: an invalidation too long for NOTIFY goes out as a clear-all (everything older is refused)
            LogOversized(_logger, _options.Channel, invalidation.Kind.ToString());
            payload = NotifyPayload.Format(new LeveeInvalidation
            {
                Kind = LeveeInvalidationKind.Clear, Sender = invalidation.Sender, WallMs = invalidation.WallMs,
            });
        }

        // a pooled connection the server closed since its last use (restart, pg_terminate_backend, idle timeout) fails
        // once and is discarded: the second attempt opens a new one
        for (var attempt = 1; ; attempt++)
        {
            try
            {
                await using var command = _notifySource.CreateCommand("SELECT pg_notify($1, $2)");
                command.Parameters.Add(new NpgsqlParameter { Value = _options.Channel });
                command.Parameters.Add(new NpgsqlParameter { Value = payload });
                await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
                _sent.Add(1);
                return true;
            }
            catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException or System.Net.Sockets.SocketException or IOException)
            {
                if (attempt == 1 && ex is NpgsqlException { IsTransient: true } or PostgresException { SqlState: "57P01" or "57P02" or "57P03" })
                {
                    _notifySource.Clear(); // the pool's other idle connections were most likely closed too
                    continue;
                }

                _failed.Add(1);
                LogNotifyFailed(_logger, _options.Channel, ex.GetType().Name, ex);
                return false;
            }
        }
    }

    /// <summary>How long a shared value waits for a value connection before it is dropped (a load announcement does not wait).</summary>
    internal static readonly TimeSpan ValueSlotWait = TimeSpan.FromMilliseconds(250);

    /// <summary>A shared value or announcement: sent only when a value connection is free within <paramref name="wait"/>,
    /// never retried (the drill saw a 5-minute outage's NOTIFY backlog turn into seconds of latency and the server's
    /// connections run out when values queued on an unbounded pool).</summary>
    private async ValueTask<bool> PublishValueAsync(string payload, TimeSpan wait, CancellationToken cancellationToken)
    {
        if (!(wait == TimeSpan.Zero ? _valueSlots.Wait(0, CancellationToken.None) : await _valueSlots.WaitAsync(wait, cancellationToken).ConfigureAwait(false)))
        {
            _valuesDropped.Add(1);
            return false;
        }

        try
        {
            await using var command = _valueSource.CreateCommand("SELECT pg_notify($1, $2)");
            command.Parameters.Add(new NpgsqlParameter { Value = _options.Channel });
            command.Parameters.Add(new NpgsqlParameter { Value = payload });
            await command.ExecuteNonQueryAsync(cancellationToken).ConfigureAwait(false);
            _valuesSent.Add(1);
            return true;
        }
        catch (Exception ex) when (ex is NpgsqlException or TimeoutException or InvalidOperationException or System.Net.Sockets.SocketException or IOException)
        {
            _valuesDropped.Add(1);
            if (ex is NpgsqlException { IsTransient: true } or PostgresException { SqlState: "57P01" or "57P02" or "57P03" })
            {
                _valueSource.Clear();
            }

            return false;
        }
        finally
        {
            _valueSlots.Release();
        }
    }

    /// <inheritdoc />
    public IDisposable Subscribe(Action<LeveeInvalidation> onReceived)
    {
        ArgumentNullException.ThrowIfNull(onReceived);
        lock (_gate)
        {
            ObjectDisposedException.ThrowIf(_stop.IsCancellationRequested, this);
            _subscribers = [.. _subscribers, onReceived];
            _listenLoop ??= Task.Run(ListenLoopAsync);
        }

        return new Subscription(this, onReceived);
    }

    private void Unsubscribe(Action<LeveeInvalidation> onReceived)
    {
        lock (_gate)
        {
            _subscribers = [.. _subscribers.Where(s => !ReferenceEquals(s, onReceived))];
        }
    }

    private async Task ListenLoopAsync()
    {
        var delay = _options.ReconnectMinDelay;
        var token = _stop.Token;
        while (!token.IsCancellationRequested)
        {
            NpgsqlConnection? connection = null;
            try
            {
                connection = new NpgsqlConnection(_listenConnectionString);
                await connection.OpenAsync(token).ConfigureAwait(false);
                connection.Notification += OnNotification;
                await using (var listen = new NpgsqlCommand("LISTEN " + NotifyPayload.QuoteIdentifier(_options.Channel), connection))
                {
                    await listen.ExecuteNonQueryAsync(token).ConfigureAwait(false);
                }

                _listenerPid = connection.ProcessID;
                if (Interlocked.Increment(ref _connects) > 1)
                {
                    _reconnects.Add(1);
                }

                Volatile.Write(ref _listening, 1);
                LogListening(_logger, _options.Channel, _listenerPid);
                delay = _options.ReconnectMinDelay;
                while (true)
                {
                    if (!await connection.WaitAsync(_options.IdleCheckInterval, token).ConfigureAwait(false))
                    {
                        await using var ping = new NpgsqlCommand("SELECT 1", connection);
                        await ping.ExecuteScalarAsync(token).ConfigureAwait(false); // a dead peer that sent no reset: throws after CommandTimeout
                    }
                }
            }
            catch (OperationCanceledException) when (token.IsCancellationRequested)
            {
                break;
            }
            catch (Exception ex)
            {
                _lastError = ex.GetType().Name + ": " + ex.Message;
                LogListenFailed(_logger, _options.Channel, ex.GetType().Name, delay.TotalMilliseconds, ex);
            }
            finally
            {
                Volatile.Write(ref _listening, 0);
                _listenerPid = 0;
                if (connection is not null)
                {
                    connection.Notification -= OnNotification;
                    await connection.DisposeAsync().ConfigureAwait(false);
                }
            }

            try
            {
                // jitter: instances that lost the database together do not come back in one burst
                await Task.Delay(delay * (0.5 + (Random.Shared.NextDouble() / 2)), _options.TimeProvider, token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }

            delay = TimeSpan.FromTicks(Math.Min(delay.Ticks * 2, _options.ReconnectMaxDelay.Ticks));
        }
    }

    private void OnNotification(object sender, NpgsqlNotificationEventArgs e)
    {
        if (!NotifyPayload.TryParse(e.Payload, out var invalidation))
        {
            LogBadPayload(_logger, _options.Channel);
            return;
        }

        _received.Add(1);
        foreach (var subscriber in Volatile.Read(ref _subscribers))
        {
            try
            {
                subscriber(invalidation);
            }
            catch (Exception ex)
            {
                LogListenFailed(_logger, _options.Channel, "subscriber " + ex.GetType().Name, 0, ex);
            }
        }
    }

    /// <summary>Stops listening and closes the connections.</summary>
    public async ValueTask DisposeAsync()
    {
        Task? loop;
        lock (_gate)
        {
            if (_stop.IsCancellationRequested)
            {
                return;
            }

            _stop.Cancel();
            loop = _listenLoop;
        }

        if (loop is not null)
        {
            await loop.ConfigureAwait(false);
        }

        await _notifySource.DisposeAsync().ConfigureAwait(false);
        await _valueSource.DisposeAsync().ConfigureAwait(false);
        _valueSlots.Dispose();
        _stop.Dispose();
        _ownMeter?.Dispose();
    }

    private sealed class Subscription(PostgreSqlInvalidationChannel owner, Action<LeveeInvalidation> onReceived) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Unsubscribe(onReceived);
            }
        }
    }

    [LoggerMessage(PostgreSqlEventIds.Listening, LogLevel.Information, "Levee PostgreSQL channel '{Channel}': listening (backend pid {Pid}).")]
    private static partial void LogListening(ILogger logger, string channel, int pid);

    [LoggerMessage(PostgreSqlEventIds.ListenFailed, LogLevel.Warning, "Levee PostgreSQL channel '{Channel}': the listening connection failed ({Kind}); opening it again in about {DelayMs} ms.")]
    private static partial void LogListenFailed(ILogger logger, string channel, string kind, double delayMs, Exception exception);

    [LoggerMessage(PostgreSqlEventIds.NotifyFailed, LogLevel.Warning, "Levee PostgreSQL channel '{Channel}': NOTIFY failed ({Kind}); the invalidation went through Redis or its journal only.")]
    private static partial void LogNotifyFailed(ILogger logger, string channel, string kind, Exception exception);

    [LoggerMessage(PostgreSqlEventIds.Oversized, LogLevel.Error, "Levee PostgreSQL channel '{Channel}': a {Kind} invalidation is 8,000 bytes or more once encoded (NOTIFY's limit); sent as a clear-all instead.")]
    private static partial void LogOversized(ILogger logger, string channel, string kind);

    [LoggerMessage(PostgreSqlEventIds.BadPayload, LogLevel.Warning, "Levee PostgreSQL channel '{Channel}': a notification that is not a Levee invalidation was ignored.")]
    private static partial void LogBadPayload(ILogger logger, string channel);
}
