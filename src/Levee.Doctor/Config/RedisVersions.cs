using System.Collections.Frozen;

namespace Levee.Doctor.Config;

/// <summary>One server version whose config directives the doctor knows.</summary>
/// <param name="Label">As given to <c>--redis-version</c>: <c>6.2</c>, <c>7.0</c>, <c>7.2</c>, <c>7.4</c>, <c>valkey-7.2</c>, <c>valkey-8.0</c>.</param>
/// <param name="Display">As written in findings: <c>redis 7.0</c>, <c>valkey 8.0</c>.</param>
/// <param name="Directives">redis.conf directive names it loads (aliases and deprecated names included).</param>
/// <param name="SentinelDirectives">The <c>sentinel X</c> sub-directives it loads.</param>
internal sealed record RedisVersion(string Label, string Display, FrozenSet<string> Directives, FrozenSet<string> SentinelDirectives);

/// <summary>
/// The directive names of each known version, read from the sources: every <c>create*Config("name", "alias", ...)</c>
/// of <c>src/config.c</c>, the names compared in <c>loadServerConfigFromString()</c> (include, rename-command, user,
/// loadmodule, sentinel, and 6.2's hand-parsed ones), the <c>deprecated_configs[]</c> that 7.0+ still load and ignore
/// (list-max-ziplist-entries/-value, lua-replicate-commands), and the sub-directives of
/// <c>sentinelHandleConfiguration()</c> in <c>src/sentinel.c</c>. Tags read: redis 6.2.16, 7.0.15, 7.2.6, 7.4.1;
/// valkey 7.2.7, 8.0.1 (valkey 7.2 loads exactly what redis 7.2 loads).
/// </summary>
internal static class RedisVersions
{
    /// <summary>redis 7.0: <see cref="KnownDirectives.Redis"/> (CONFIG GET * of 7.0.15) plus the hidden and deprecated names.</summary>
    private static readonly string[] Hidden70 =
    [
        "key-load-delay", "list-max-ziplist-entries", "list-max-ziplist-value", "loading-process-events-interval-bytes",
        "lua-replicate-commands", "rdb-key-save-delay", "use-exit-on-panic", "watchdog-period",
    ];

    private static readonly string[] NotIn62 =
    [
        "aof-disable-auto-gc", "aof-timestamp-enabled", "appenddirname", "bind-source-addr", "busy-reply-threshold",
        "cluster-allow-pubsubshard-when-down", "cluster-announce-hostname", "cluster-link-sendbuf-limit", "cluster-port",
        "cluster-preferred-endpoint-type", "enable-debug-command", "enable-module-command", "enable-protected-configs",
        "hash-max-listpack-entries", "hash-max-listpack-value", "latency-tracking", "latency-tracking-info-percentiles",
        "list-max-listpack-size", "loading-process-events-interval-bytes", "maxmemory-clients", "propagation-error-behavior",
        "repl-diskless-sync-max-replicas", "replica-ignore-disk-write-errors", "shutdown-on-sigint", "shutdown-on-sigterm",
        "shutdown-timeout", "socket-mark-id", "watchdog-period", "zset-max-listpack-entries", "zset-max-listpack-value",
    ];

    private static readonly string[] Only62 = ["gopher-enabled"];

    private static readonly string[] Added72 =
    [
        "client-default-resp", "cluster-announce-human-nodename", "cluster-ping-interval", "locale-collate",
        "req-res-logfile", "set-max-listpack-entries", "set-max-listpack-value",
    ];

    private static readonly string[] Added74Or80 =
    [
        "aof-rewrite-cpulist", "bgsave-cpulist", "bio-cpulist", "hide-user-data-from-log", "max-new-connections-per-cycle",
        "max-new-tls-connections-per-cycle", "server-cpulist",
    ];

    private static readonly string[] OnlyValkey80 =
    [
        "availability-zone", "cluster-announce-client-ipv4", "cluster-announce-client-ipv6", "cluster-blacklist-ttl",
        "cluster-slot-stats-enabled", "debug-context", "dual-channel-replication-enabled", "enable-debug-assert",
        "events-per-io-thread", "extended-redis-compatibility", "prefetch-batch-max-size", "primaryauth", "primaryuser",
        "unixsocketgroup",
    ];

    private static readonly string[] Sentinel70 = [.. KnownDirectives.SentinelArity.Keys.Where(k => k != "primary-reboot-down-after-period")];

    /// <summary>Every known version, oldest first.</summary>
    public static readonly IReadOnlyList<RedisVersion> All = Build();

    /// <summary>Every directive any known version loads.</summary>
    public static readonly FrozenSet<string> AnyDirective = All.SelectMany(v => v.Directives).ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Every Sentinel sub-directive any known version loads.</summary>
    public static readonly FrozenSet<string> AnySentinelDirective = All.SelectMany(v => v.SentinelDirectives).ToFrozenSet(StringComparer.Ordinal);

    /// <summary>The labels <c>--redis-version</c> accepts.</summary>
    public static IEnumerable<string> Labels => All.Select(v => v.Label);

    /// <summary>"redis 6.2–7.4, valkey 7.2–8.0".</summary>
    public const string Range = "redis 6.2–7.4, valkey 7.2–8.0";

    /// <summary>
    /// Finds the version for <paramref name="text"/>: a label (<c>7.0</c>, <c>valkey-8.0</c>), or a full version whose
    /// major.minor is known (<c>7.0.15</c>, <c>valkey-8.0.1</c>, <c>valkey 8</c> → valkey-8.0). Null when unknown.
    /// </summary>
    public static RedisVersion? Find(string text)
    {
        var t = text.Trim().ToLowerInvariant().Replace(' ', '-');
        var valkey = t.StartsWith("valkey-", StringComparison.Ordinal);
        if (valkey)
        {
            t = t["valkey-".Length..];
        }
        else if (t.StartsWith("redis-", StringComparison.Ordinal))
        {
            t = t["redis-".Length..];
        }

        var parts = t.Split('.');
        var majorMinor = parts.Length >= 2 ? $"{parts[0]}.{parts[1]}" : valkey && parts[0] is "8" or "7" ? $"{parts[0]}.{(parts[0] == "8" ? "0" : "2")}" : t;
        var label = valkey ? $"valkey-{majorMinor}" : majorMinor;
        return All.FirstOrDefault(v => v.Label == label);
    }

    /// <summary>The versions that load <paramref name="directive"/> (a redis.conf name, or <c>sentinel X</c>'s X when <paramref name="sentinel"/>).</summary>
    public static IEnumerable<RedisVersion> Having(string directive, bool sentinel) =>
        All.Where(v => (sentinel ? v.SentinelDirectives : v.Directives).Contains(directive));

    private static List<RedisVersion> Build()
    {
        var v70 = KnownDirectives.Redis.Concat(Hidden70).ToHashSet(StringComparer.Ordinal);
        var v62 = v70.Except(NotIn62).Concat(Only62).ToHashSet(StringComparer.Ordinal);
        var v72 = v70.Concat(Added72).ToHashSet(StringComparer.Ordinal);
        var v74 = v72.Concat(Added74Or80).ToHashSet(StringComparer.Ordinal);
        var vk80 = v74.Concat(OnlyValkey80).ToHashSet(StringComparer.Ordinal);
        var s70 = Sentinel70.ToFrozenSet(StringComparer.Ordinal);
        var s62 = Sentinel70.Where(s => s != "master-reboot-down-after-period").ToFrozenSet(StringComparer.Ordinal);
        var sk80 = Sentinel70.Append("primary-reboot-down-after-period").ToFrozenSet(StringComparer.Ordinal);
        return
        [
            new("6.2", "redis 6.2", v62.ToFrozenSet(StringComparer.Ordinal), s62),
            new("7.0", "redis 7.0", v70.ToFrozenSet(StringComparer.Ordinal), s70),
            new("7.2", "redis 7.2", v72.ToFrozenSet(StringComparer.Ordinal), s70),
            new("7.4", "redis 7.4", v74.ToFrozenSet(StringComparer.Ordinal), s70),
            new("valkey-7.2", "valkey 7.2", v72.ToFrozenSet(StringComparer.Ordinal), s70),
            new("valkey-8.0", "valkey 8.0", vk80.ToFrozenSet(StringComparer.Ordinal), sk80),
        ];
    }
}
