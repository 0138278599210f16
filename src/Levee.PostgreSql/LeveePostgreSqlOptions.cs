namespace Levee.PostgreSql;

/// <summary>Options of the PostgreSQL invalidation channel (<c>AddPostgreSqlBackplane</c>).</summary>
public sealed class LeveePostgreSqlOptions
{
    /// <summary>The channel name of <c>AddPostgreSqlBackplane</c>'s channel when none is given.</summary>
    public const string DefaultChannel = "levee";

    /// <summary>The PostgreSQL connection string (the application's database is the natural choice: it is up when the
    /// application can work at all). One dedicated connection listens; notifications go through a small pool.</summary>
    public string ConnectionString { get; set; } = "";

    /// <summary>The NOTIFY channel (at most 63 bytes). Caches that share it must share their keys (same key prefix): a
    /// keyed cache gets <c>levee_{name}</c> by default.</summary>
    public string Channel { get; set; } = DefaultChannel;

    /// <summary>The first wait before the listening connection is opened again after it failed; doubled per failure.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between two attempts to open the listening connection.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the listening connection may stay silent before it is checked with a query (a dead peer that
    /// sends no reset is found within this plus <see cref="CommandTimeout"/>).</summary>
    public TimeSpan IdleCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The time budget of one NOTIFY and of the listening connection's checks (whole seconds, at least 1).</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The clock of the reconnect backoff; tests pass a fake. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            throw new InvalidOperationException("LeveePostgreSqlOptions.ConnectionString is required.");
        }

        NotifyPayload.ValidateChannel(Channel);
        if (TimeProvider is null)
        {
            throw new InvalidOperationException("LeveePostgreSqlOptions.TimeProvider must not be null.");
        }

        if (ReconnectMinDelay <= TimeSpan.Zero || ReconnectMaxDelay < ReconnectMinDelay || IdleCheckInterval <= TimeSpan.Zero || CommandTimeout < TimeSpan.FromSeconds(1))
        {
            throw new InvalidOperationException("LeveePostgreSqlOptions: delays must be positive, ReconnectMaxDelay >= ReconnectMinDelay, CommandTimeout >= 1 s.");
        }
    }
}
