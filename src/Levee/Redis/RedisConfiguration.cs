using StackExchange.Redis;

namespace Levee.Redis;

/// <summary>
/// Levee's defaults for StackExchange.Redis, which assume Redis will fail: fail-fast backlog, short connect and command
/// timeouts, connected in the background (an app that starts while Redis or Sentinel is down still starts). A value the
/// configuration string sets itself wins over the defaults marked so below.
/// </summary>
internal static class RedisConfiguration
{
    /// <summary>Connect timeout (ms) unless the string sets <c>connectTimeout</c> (StackExchange.Redis: 5000).</summary>
    public const int ConnectTimeoutMilliseconds = 2000;

    /// <summary>Synchronous command timeout (ms) unless the string sets <c>syncTimeout</c>.</summary>
    public const int SyncTimeoutMilliseconds = 1000;

    /// <summary>Asynchronous command timeout (ms) unless the string sets <c>asyncTimeout</c>.</summary>
    public const int AsyncTimeoutMilliseconds = 1000;

    /// <summary>Keep-alive (s) unless the string sets <c>keepAlive</c>: a dead connection is noticed within seconds.</summary>
    public const int KeepAliveSeconds = 5;

    /// <summary>Connect attempts per connect unless the string sets <c>connectRetry</c>; the background loop retries anyway.</summary>
    public const int ConnectRetry = 1;

    /// <summary>The client name unless the string sets <c>name</c> (visible in <c>CLIENT LIST</c>).</summary>
    public const string ClientName = "levee";

    /// <summary>The fixed delay (ms) between StackExchange.Redis' reconnect attempts; always.</summary>
    public const int ReconnectRetryMilliseconds = 500;

    /// <summary>Levee's defaults for every option the configuration string does not set itself.</summary>
    public static ConfigurationOptions Create(string configuration, Action<ConfigurationOptions>? configure = null)
    {
        var options = ConfigurationOptions.Parse(configuration);
        options.AbortOnConnectFail = false; // always: the connect loop or the Sentinel watch retries in the background
        if (!Sets(configuration, "connectTimeout"))
        {
            options.ConnectTimeout = ConnectTimeoutMilliseconds;
        }

        if (!Sets(configuration, "syncTimeout"))
        {
            options.SyncTimeout = SyncTimeoutMilliseconds;
        }

        if (!Sets(configuration, "asyncTimeout"))
        {
            options.AsyncTimeout = AsyncTimeoutMilliseconds;
        }

        if (!Sets(configuration, "keepAlive"))
        {
            options.KeepAlive = KeepAliveSeconds;
        }

        if (!Sets(configuration, "connectRetry"))
        {
            options.ConnectRetry = ConnectRetry;
        }

        if (!Sets(configuration, "name"))
        {
            options.ClientName = ClientName;
        }

        options.BacklogPolicy = BacklogPolicy.FailFast;
        options.ReconnectRetryPolicy = new LinearRetry(ReconnectRetryMilliseconds);
        configure?.Invoke(options); // what a string cannot say (TLS callbacks, a private CA, a client certificate)
        options.IncludeDetailInExceptions = false; // its messages would name the command and the key, and Levee logs them
        return options;
    }

    /// <summary>
    /// Whether the configuration string sets <paramref name="key"/> itself (a comma-separated <c>key=value</c>, the key's
    /// case ignored, as StackExchange.Redis reads it). <see cref="ConfigurationOptions"/> cannot tell a value it was given
    /// from its default, so the string is asked.
    /// </summary>
    internal static bool Sets(string configuration, string key)
    {
        foreach (var part in configuration.Split(','))
        {
            var equals = part.IndexOf('=', StringComparison.Ordinal);
            if (equals > 0 && part.AsSpan(0, equals).Trim().Equals(key, StringComparison.OrdinalIgnoreCase))
            {
                return true;
            }
        }

        return false;
    }
}
