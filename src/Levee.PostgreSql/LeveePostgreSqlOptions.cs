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

    /// <summary>The first wait before the listening connection is opened again after it failed; doubled per failure. Default: 100 ms. Bounds: more than 0.</summary>
    public TimeSpan ReconnectMinDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>The longest wait between two attempts to open the listening connection. Default: 5 seconds. Bounds: at least <see cref="ReconnectMinDelay"/>.</summary>
    public TimeSpan ReconnectMaxDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How long the listening connection may stay silent before it is checked with a query (a dead peer that
    /// sends no reset is found within this plus <see cref="CommandTimeout"/>). Default: 5 seconds. Bounds: more than 0.</summary>
    public TimeSpan IdleCheckInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>The time budget of one NOTIFY and of the listening connection's checks (whole seconds: rounded up). Default: 2 seconds. Bounds: at least 1 second.</summary>
    public TimeSpan CommandTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>The largest value (bytes, as the cache would write it to Redis) sent through the channel while every Redis
    /// node is gone, so that a key is loaded from the database by one instance, not by each: one NOTIFY per such load,
    /// delivered to every listening instance (docs/scale.md has its cost). Default 4,096; at most
    /// <see cref="MaxShareValuesMaxBytes"/> (NOTIFY's 8,000-byte payload, base64, key and header); 0 shares nothing.</summary>
    public int ShareValuesMaxBytes { get; set; } = DefaultShareValuesMaxBytes;

    /// <summary>The default of <see cref="ShareValuesMaxBytes"/>.</summary>
    public const int DefaultShareValuesMaxBytes = 4096;

    /// <summary>The largest <see cref="ShareValuesMaxBytes"/> accepted: its base64 (6,668 characters) leaves room for the
    /// header and a key of about 1,200 bytes in NOTIFY's 8,000-byte payload (a longer key's value is not sent).</summary>
    public const int MaxShareValuesMaxBytes = 5000;

    /// <summary>The clock of the reconnect backoff; tests pass a fake. Default: <see cref="TimeProvider.System"/>.</summary>
    public TimeProvider TimeProvider { get; set; } = TimeProvider.System;

    /// <summary>Throws when an option is out of its bounds, naming every such option, its value and its bounds in one message.</summary>
    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectionString))
        {
            throw new InvalidOperationException("LeveePostgreSqlOptions.ConnectionString is required.");
        }

        NotifyPayload.ValidateChannel(Channel);
        var problems = new List<string>();
        if (TimeProvider is null)
        {
            problems.Add("TimeProvider must not be null");
        }

        if (ReconnectMinDelay <= TimeSpan.Zero)
        {
            problems.Add($"ReconnectMinDelay is {ReconnectMinDelay}; it must be more than 0");
        }

        if (ReconnectMaxDelay < ReconnectMinDelay)
        {
            problems.Add($"ReconnectMaxDelay is {ReconnectMaxDelay}; it must be at least ReconnectMinDelay ({ReconnectMinDelay})");
        }

        if (IdleCheckInterval <= TimeSpan.Zero)
        {
            problems.Add($"IdleCheckInterval is {IdleCheckInterval}; it must be more than 0");
        }

        if (CommandTimeout < TimeSpan.FromSeconds(1))
        {
            problems.Add($"CommandTimeout is {CommandTimeout}; it must be at least 00:00:01");
        }

        if (ShareValuesMaxBytes is < 0 or > MaxShareValuesMaxBytes)
        {
            problems.Add($"ShareValuesMaxBytes is {ShareValuesMaxBytes}; it must be 0..{MaxShareValuesMaxBytes} bytes (0 shares no values)");
        }

        if (problems.Count > 0)
        {
            throw new InvalidOperationException("LeveePostgreSqlOptions: " + string.Join("; ", problems) + ".");
        }
    }
}
