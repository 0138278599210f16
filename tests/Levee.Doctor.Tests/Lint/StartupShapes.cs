namespace Levee.Doctor.Tests.Lint;

/// <summary>
/// Manifests shaped like the public HA charts (written here, not copied): one ConfigMap with redis.conf, sentinel.conf
/// and the scripts that complete them at start-up, mounted by one StatefulSet of 3 pods running redis and a Sentinel.
/// </summary>
internal static class StartupShapes
{
    public static string ChartLike(bool monitorInConfig, string redisArgs = "- /data/conf/redis.conf", bool initContainer = true, bool auth = true) => $$"""
        apiVersion: v1
        kind: ConfigMap
        metadata:
          name: ha-config
        data:
          redis.conf: |
            dir "/data"
            port 6379
            bind 0.0.0.0
            appendonly yes
            repl-backlog-size 64mb
            min-replicas-to-write 1{{(auth ? "\n    requirepass s3cret\n    masterauth s3cret" : string.Empty)}}
          sentinel.conf: |
            dir "/data"
            port 26379
        {{(monitorInConfig ? "    sentinel monitor mymaster 10.0.1.10 6379 2\n" : string.Empty)}}    sentinel down-after-milliseconds mymaster 10000
            sentinel failover-timeout mymaster 180000
            sentinel parallel-syncs mymaster 1{{(auth ? "\n    sentinel auth-pass mymaster s3cret" : string.Empty)}}
          init.sh: |
            echo "finding the master"
            MASTER="$(getent hosts ha-0 | cut -d' ' -f1)"
            sed -i "2s/^/sentinel monitor mymaster ${MASTER} 6379 2 \n/" /data/conf/sentinel.conf
            if [ "$(hostname)" != "ha-0" ]; then echo "replicaof ${MASTER} 6379" >> /data/conf/redis.conf; fi
            sentinel_conf="sentinel monitor"
            for f in a b c d e f g h; do echo "$f"; done
        ---
        apiVersion: apps/v1
        kind: StatefulSet
        metadata:
          name: ha
        spec:
          replicas: 3
          template:
            spec:
        {{(initContainer ? "      initContainers:\n        - name: config-init\n          command: [sh]\n          args: [/readonly-config/init.sh]\n" : string.Empty)}}      containers:
                - name: redis
                  command: [redis-server]
                  args:
                    {{redisArgs}}
                - name: sentinel
                  command: [redis-sentinel]
                  args:
                    - /data/conf/sentinel.conf
              volumes:
                - name: config
                  configMap:
                    name: ha-config
        """;
}
