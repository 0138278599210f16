using System.Globalization;
using System.Net;
using StackExchange.Redis;

namespace Levee.Doctor.Live;

/// <summary>StackExchange.Redis connections with short timeouts for the live checks; secrets are redacted from any text they produce.</summary>
internal static class LiveConnections
{
    public static async Task<ConnectionMultiplexer> ConnectAsync(IEnumerable<string> endpoints, LiveCheckOptions options, bool sentinel)
    {
        var timeoutMs = (int)Math.Clamp(options.Timeout.TotalMilliseconds, 1, int.MaxValue);
        var config = new ConfigurationOptions
        {
            AbortOnConnectFail = false,
            ConnectRetry = 1,
            ConnectTimeout = timeoutMs,
            SyncTimeout = timeoutMs,
            AsyncTimeout = timeoutMs,
            AllowAdmin = true,
            ClientName = "levee-doctor",
            KeepAlive = 5,
            ReconnectRetryPolicy = new LinearRetry(timeoutMs),
            BacklogPolicy = BacklogPolicy.FailFast,
            // RESP2: INFO and CLUSTER replies as plain bulk strings (RESP3 would add a "txt:" verbatim prefix).
            Protocol = RedisProtocol.Resp2,
        };
        if (sentinel)
        {
            config.CommandMap = CommandMap.Sentinel;
            config.User = options.SentinelUser;
            config.Password = options.SentinelPassword;
        }
        else
        {
            config.User = options.User;
            config.Password = options.Password;
        }

        if (options.Tls)
        {
            config.Ssl = true;
            if (options.TlsCaFile is { } ca)
            {
                config.TrustIssuer(ca);
            }

            if (options.TlsCertFile is { } cert)
            {
                config.SetUserPemCertificate(cert, options.TlsKeyFile);
            }
        }

        foreach (var endpoint in endpoints)
        {
            config.EndPoints.Add(endpoint);
        }

        return await ConnectionMultiplexer.ConnectAsync(config).ConfigureAwait(false);
    }

    /// <summary>Normalizes and validates <c>HOST:PORT</c>.</summary>
    public static bool TryParseEndpoint(string text, out string endpoint)
    {
        endpoint = text.Trim();
        var colon = endpoint.LastIndexOf(':');
        if (colon <= 0 || colon == endpoint.Length - 1)
        {
            return false;
        }

        return int.TryParse(endpoint.AsSpan(colon + 1), NumberStyles.None, CultureInfo.InvariantCulture, out var port) && port is > 0 and <= 65535;
    }

    /// <summary>INFO text → field map.</summary>
    public static Dictionary<string, string> ParseInfo(string? raw)
    {
        var map = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var line in (raw ?? string.Empty).Split('\n'))
        {
            var l = line.TrimEnd('\r');
            var colon = l.IndexOf(':', StringComparison.Ordinal);
            if (colon > 0 && l[0] != '#')
            {
                map[l[..colon]] = l[(colon + 1)..];
            }
        }

        return map;
    }

    public static long Long(IReadOnlyDictionary<string, string>? map, string key, long fallback = 0) =>
        map is not null && map.TryGetValue(key, out var v) && long.TryParse(v, NumberStyles.Integer, CultureInfo.InvariantCulture, out var n) ? n : fallback;

    public static string Str(IReadOnlyDictionary<string, string>? map, string key) =>
        map is not null && map.TryGetValue(key, out var v) ? v : string.Empty;

    /// <summary>A short description of a failure, with any secret removed.</summary>
    public static string Describe(Exception e, LiveCheckOptions options)
    {
        var text = e switch
        {
            RedisTimeoutException => "no answer within the timeout",
            TimeoutException t when t.Message.StartsWith("no connection", StringComparison.Ordinal) => t.Message,
            RedisConnectionException c => $"connection failed ({c.FailureType})",
            RedisServerException s => s.Message,
            TimeoutException => "no answer within the timeout",
            _ => e.GetType().Name + ": " + e.Message,
        };
        return Redact(text, options);
    }

    public static string Redact(string text, LiveCheckOptions options)
    {
        foreach (var secret in new[] { options.Password, options.SentinelPassword })
        {
            if (!string.IsNullOrEmpty(secret))
            {
                text = text.Replace(secret, "*****", StringComparison.Ordinal);
            }
        }

        return text;
    }

    public static string Format(EndPoint? endpoint) => endpoint switch
    {
        IPEndPoint ip => $"{ip.Address}:{ip.Port}",
        DnsEndPoint dns => $"{dns.Host}:{dns.Port}",
        null => "?",
        _ => endpoint.ToString() ?? "?",
    };

    /// <summary>Runs <paramref name="call"/> with a hard upper bound (the client's own timeouts normally fire first).</summary>
    public static async Task<T> Bounded<T>(Func<Task<T>> call, LiveCheckOptions options, CancellationToken ct) =>
        await call().WaitAsync(options.Timeout + options.Timeout, ct).ConfigureAwait(false);
}
