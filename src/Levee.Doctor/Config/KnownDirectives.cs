using System.Collections.Frozen;

namespace Levee.Doctor.Config;

/// <summary>
/// Directive names redis-server and redis-sentinel 7.0 accept, with the argument counts the doctor checks.
/// The redis.conf names are the output of <c>CONFIG GET *</c> on redis-server 7.0.15 plus the directives that
/// are not CONFIG parameters (include, rename-command, user, loadmodule, sentinel); the Sentinel sub-directives
/// and their argument counts are those of <c>sentinelHandleConfiguration()</c> in src/sentinel.c.
/// </summary>
internal static class KnownDirectives
{
    public static readonly FrozenSet<string> Redis = new[]
    {
        "acl-pubsub-default", "aclfile", "acllog-max-len", "active-defrag-cycle-max", "active-defrag-cycle-min",
        "active-defrag-ignore-bytes", "active-defrag-max-scan-fields", "active-defrag-threshold-lower",
        "active-defrag-threshold-upper", "active-expire-effort", "activedefrag", "activerehashing", "always-show-logo",
        "aof-disable-auto-gc", "aof-load-truncated", "aof-rewrite-incremental-fsync", "aof-timestamp-enabled",
        "aof-use-rdb-preamble", "aof_rewrite_cpulist", "appenddirname", "appendfilename", "appendfsync", "appendonly",
        "auto-aof-rewrite-min-size", "auto-aof-rewrite-percentage", "bgsave_cpulist", "bind", "bind-source-addr",
        "bio_cpulist", "busy-reply-threshold", "client-output-buffer-limit", "client-query-buffer-limit",
        "cluster-allow-pubsubshard-when-down", "cluster-allow-reads-when-down", "cluster-allow-replica-migration",
        "cluster-announce-bus-port", "cluster-announce-hostname", "cluster-announce-ip", "cluster-announce-port",
        "cluster-announce-tls-port", "cluster-config-file", "cluster-enabled", "cluster-link-sendbuf-limit",
        "cluster-migration-barrier", "cluster-node-timeout", "cluster-port", "cluster-preferred-endpoint-type",
        "cluster-replica-no-failover", "cluster-replica-validity-factor", "cluster-require-full-coverage",
        "cluster-slave-no-failover", "cluster-slave-validity-factor", "crash-log-enabled", "crash-memcheck-enabled",
        "daemonize", "databases", "dbfilename", "dir", "disable-thp", "dynamic-hz", "enable-debug-command",
        "enable-module-command", "enable-protected-configs", "hash-max-listpack-entries", "hash-max-listpack-value",
        "hash-max-ziplist-entries", "hash-max-ziplist-value", "hll-sparse-max-bytes", "hz", "ignore-warnings",
        "io-threads", "io-threads-do-reads", "jemalloc-bg-thread", "latency-monitor-threshold", "latency-tracking",
        "latency-tracking-info-percentiles", "lazyfree-lazy-eviction", "lazyfree-lazy-expire",
        "lazyfree-lazy-server-del", "lazyfree-lazy-user-del", "lazyfree-lazy-user-flush", "lfu-decay-time",
        "lfu-log-factor", "list-compress-depth", "list-max-listpack-size", "list-max-ziplist-size", "logfile",
        "loglevel", "lua-time-limit", "masterauth", "masteruser", "maxclients", "maxmemory", "maxmemory-clients",
        "maxmemory-eviction-tenacity", "maxmemory-policy", "maxmemory-samples", "min-replicas-max-lag",
        "min-replicas-to-write", "min-slaves-max-lag", "min-slaves-to-write", "no-appendfsync-on-rewrite",
        "notify-keyspace-events", "oom-score-adj", "oom-score-adj-values", "pidfile", "port", "proc-title-template",
        "propagation-error-behavior", "protected-mode", "proto-max-bulk-len", "rdb-del-sync-files",
        "rdb-save-incremental-fsync", "rdbchecksum", "rdbcompression", "repl-backlog-size", "repl-backlog-ttl",
        "repl-disable-tcp-nodelay", "repl-diskless-load", "repl-diskless-sync", "repl-diskless-sync-delay",
        "repl-diskless-sync-max-replicas", "repl-ping-replica-period", "repl-ping-slave-period", "repl-timeout",
        "replica-announce-ip", "replica-announce-port", "replica-announced", "replica-ignore-disk-write-errors",
        "replica-ignore-maxmemory", "replica-lazy-flush", "replica-priority", "replica-read-only",
        "replica-serve-stale-data", "replicaof", "requirepass", "sanitize-dump-payload", "save", "server_cpulist",
        "set-max-intset-entries", "set-proc-title", "shutdown-on-sigint", "shutdown-on-sigterm", "shutdown-timeout",
        "slave-announce-ip", "slave-announce-port", "slave-ignore-maxmemory", "slave-lazy-flush", "slave-priority",
        "slave-read-only", "slave-serve-stale-data", "slaveof", "slowlog-log-slower-than", "slowlog-max-len",
        "socket-mark-id", "stop-writes-on-bgsave-error", "stream-node-max-bytes", "stream-node-max-entries",
        "supervised", "syslog-enabled", "syslog-facility", "syslog-ident", "tcp-backlog", "tcp-keepalive", "timeout",
        "tls-auth-clients", "tls-ca-cert-dir", "tls-ca-cert-file", "tls-cert-file", "tls-ciphers", "tls-ciphersuites",
        "tls-client-cert-file", "tls-client-key-file", "tls-client-key-file-pass", "tls-cluster", "tls-dh-params-file",
        "tls-key-file", "tls-key-file-pass", "tls-port", "tls-prefer-server-ciphers", "tls-protocols",
        "tls-replication", "tls-session-cache-size", "tls-session-cache-timeout", "tls-session-caching",
        "tracking-table-max-keys", "unixsocket", "unixsocketperm", "zset-max-listpack-entries",
        "zset-max-listpack-value", "zset-max-ziplist-entries", "zset-max-ziplist-value",
        // not CONFIG parameters, but accepted in the file
        "include", "rename-command", "user", "loadmodule", "sentinel",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Exact argument counts (after the directive name) for directives whose count the doctor checks.</summary>
    public static readonly FrozenDictionary<string, int> RedisArity = new Dictionary<string, int>(StringComparer.Ordinal)
    {
        ["replicaof"] = 2, ["slaveof"] = 2, ["rename-command"] = 2, ["port"] = 1, ["requirepass"] = 1,
        ["masterauth"] = 1, ["masteruser"] = 1, ["replica-priority"] = 1, ["slave-priority"] = 1,
        ["protected-mode"] = 1, ["appendonly"] = 1, ["cluster-enabled"] = 1, ["cluster-node-timeout"] = 1,
        ["min-replicas-to-write"] = 1, ["min-replicas-max-lag"] = 1, ["repl-backlog-size"] = 1,
        ["replica-read-only"] = 1, ["replica-announced"] = 1, ["include"] = 1, ["dir"] = 1,
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>
    /// Directives that take more than one argument (or a variable number). Every other directive of <see cref="Redis"/>
    /// takes exactly one, as redis-server 7.0.15 checks (a directive with two arguments: "wrong number of arguments",
    /// checked for every name of <see cref="Redis"/>), unless <see cref="RedisArity"/> says otherwise.
    /// </summary>
    public static readonly FrozenSet<string> RedisMultiArgument = new[]
    {
        "bind", "save", "client-output-buffer-limit", "oom-score-adj-values", "latency-tracking-info-percentiles",
        "shutdown-on-sigint", "shutdown-on-sigterm", "user", "loadmodule", "sentinel",
    }.ToFrozenSet(StringComparer.Ordinal);

    /// <summary>Sentinel sub-directives and the accepted argument counts, including the sub-directive itself (src/sentinel.c sentinelHandleConfiguration()).</summary>
    public static readonly FrozenDictionary<string, int[]> SentinelArity = new Dictionary<string, int[]>(StringComparer.Ordinal)
    {
        ["monitor"] = [5], ["down-after-milliseconds"] = [3], ["failover-timeout"] = [3], ["parallel-syncs"] = [3],
        ["notification-script"] = [3], ["client-reconfig-script"] = [3], ["auth-pass"] = [3], ["auth-user"] = [3],
        ["current-epoch"] = [2], ["myid"] = [2], ["config-epoch"] = [3], ["leader-epoch"] = [3],
        ["known-slave"] = [4], ["known-replica"] = [4], ["known-sentinel"] = [4, 5], ["rename-command"] = [4],
        ["announce-ip"] = [2], ["announce-port"] = [2], ["deny-scripts-reconfig"] = [2], ["sentinel-user"] = [2],
        ["sentinel-pass"] = [2], ["resolve-hostnames"] = [2], ["announce-hostnames"] = [2],
        ["master-reboot-down-after-period"] = [3], ["primary-reboot-down-after-period"] = [3], // valkey 8
    }.ToFrozenDictionary(StringComparer.Ordinal);

    /// <summary>Sentinel sub-directives whose first argument is a master name that must have been declared by <c>monitor</c>.</summary>
    public static readonly FrozenSet<string> SentinelPerMaster = new[]
    {
        "down-after-milliseconds", "failover-timeout", "parallel-syncs", "notification-script", "client-reconfig-script",
        "auth-pass", "auth-user", "config-epoch", "leader-epoch", "known-slave", "known-replica", "known-sentinel",
        "rename-command", "master-reboot-down-after-period", "primary-reboot-down-after-period",
    }.ToFrozenSet(StringComparer.Ordinal);
}
