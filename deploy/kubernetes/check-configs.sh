#!/usr/bin/env bash
# Starts the configs embedded in the Kubernetes manifests with the real redis-server / redis-sentinel
# of this machine, as the init containers render them (password substituted, per-pod lines appended),
# with the cluster DNS names replaced by 127.0.0.1 and free loopback ports: proves Redis accepts every
# directive and that the Sentinel group and the Cluster come up. Processes run in a temp folder and
# are stopped by their PID on exit.
#   1. redis-sentinel/: master + 2 replicas + 3 Sentinels (quorum 2); waits until every Sentinel knows
#      2 replicas and 2 other Sentinels and SENTINEL CKQUORUM answers OK.
#   2. redis-cluster/: 6 nodes, `redis-cli --cluster create --cluster-replicas 1`; waits for
#      cluster_state:ok with 3 masters and 3 replicas.
# Usage: deploy/kubernetes/check-configs.sh        Exit code 0 when both came up.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
for b in redis-server redis-cli python3 perl; do
  command -v "$b" >/dev/null || { echo "check-configs: $b missing: apt-get install -y redis-server redis-sentinel redis-tools python3 perl" >&2; exit 1; }
done
python3 -c 'import yaml' 2>/dev/null || { echo "check-configs: python3 yaml module missing: apt-get install -y python3-yaml" >&2; exit 1; }
dir="$(mktemp -d "${TMPDIR:-/tmp}/levee-k8s-configs.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done; sleep 0.3; for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
export REDIS_PASSWORD="k8s-check-$RANDOM$RANDOM"   # a throw-away password, never printed
export REDISCLI_AUTH="$REDIS_PASSWORD"

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
# extract a ConfigMap data key from a manifest: extract FILE CONFIGMAP KEY
extract() { python3 - "$@" <<'PY'
import sys, yaml
f, name, key = sys.argv[1:4]
for d in yaml.safe_load_all(open(f)):
    if d and d.get("kind") == "ConfigMap" and d["metadata"]["name"] == name:
        sys.stdout.write(d["data"][key]); break
else:
    sys.exit(f"{f}: no ConfigMap {name} with key {key}")
PY
}
render() { perl -pe 's/__REDIS_PASSWORD__/$ENV{REDIS_PASSWORD}/g'; }
wait_for() { # wait_for SECONDS WHAT COMMAND...   polls; on timeout prints the logs' tails
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    for p in "${pids[@]}"; do kill -0 "$p" 2>/dev/null || { echo "check-configs: a process exited while waiting for $what (logs in $dir)" >&2; tail -n 5 "$dir"/*.log "$dir"/*.out >&2 || true; exit 1; }; done
    if [ "$SECONDS" -ge "$deadline" ]; then echo "check-configs: timeout waiting for $what (logs in $dir)" >&2; tail -n 5 "$dir"/*.log >&2 || true; exit 1; fi
    sleep 0.1
  done
}
start() { # start NAME CONF [--sentinel]
  local name="$1" conf="$2"; shift 2
  redis-server "$conf" "$@" --logfile "$dir/$name.log" >"$dir/$name.out" 2>&1 & pids+=($!)
}

echo "== redis-sentinel: the ConfigMaps of redis-sentinel/redis.yaml and redis-sentinel/sentinel.yaml"
m=$(free_port); r1=$(free_port); r2=$(free_port)
i=0
for port in "$m" "$r1" "$r2"; do
  mkdir -p "$dir/redis-$i"
  { extract "$here/redis-sentinel/redis.yaml" redis-config redis.conf | render \
      | sed "s#^dir .*#dir $dir/redis-$i#" | sed "s/^port .*/port $port/"
    echo "replica-announce-ip 127.0.0.1"
    [ "$port" = "$m" ] || echo "replicaof 127.0.0.1 $m"; } > "$dir/redis-$i.conf"
  start "redis-$i" "$dir/redis-$i.conf"; i=$((i + 1))
done
for port in "$m" "$r1" "$r2"; do wait_for 20 "redis on $port" redis-cli -p "$port" ping; done
sports=()
for i in 0 1 2; do
  p=$(free_port); sports+=("$p"); mkdir -p "$dir/sentinel-$i"
  { extract "$here/redis-sentinel/sentinel.yaml" sentinel-config sentinel.conf | render \
      | sed "s/^sentinel monitor mymaster [^ ]* 6379 /sentinel monitor mymaster 127.0.0.1 $m /" \
      | sed "s#^dir .*#dir $dir/sentinel-$i#" | sed "s/^port .*/port $p/"
    echo "sentinel myid $(printf '%s' "redis-sentinel-$i.cache" | sha1sum | cut -c1-40)"
    echo "sentinel announce-ip 127.0.0.1"; } > "$dir/sentinel-$i.conf"
  start "sentinel-$i" "$dir/sentinel-$i.conf" --sentinel
done
# Sentinel has no password in these configs: talk to it without REDISCLI_AUTH
scli() { env -u REDISCLI_AUTH redis-cli "$@"; }
field() { scli -p "$1" sentinel master mymaster | awk -v k="$2" 'p{print;exit} $0==k{p=1}'; }
group_ready() { [ "$(field "$1" num-slaves)" = 2 ] && [ "$(field "$1" num-other-sentinels)" = 2 ] && scli -p "$1" sentinel ckquorum mymaster | grep -q '^OK'; }
for p in "${sports[@]}"; do wait_for 60 "Sentinel $p to see 2 replicas, 2 peers and CKQUORUM OK" group_ready "$p"; done
echo "sentinel-0: quorum=$(field "${sports[0]}" quorum) num-slaves=$(field "${sports[0]}" num-slaves) num-other-sentinels=$(field "${sports[0]}" num-other-sentinels) ckquorum='$(scli -p "${sports[0]}" sentinel ckquorum mymaster)'"

echo "== redis-cluster: the ConfigMap of redis-cluster/redis-cluster.yaml"
nodes=""
for i in 0 1 2 3 4 5; do
  p=$(free_port); mkdir -p "$dir/cluster-$i"
  # cluster bus = port + 10000: both must be free
  while ! python3 -c "import socket,sys; s=socket.socket(); s.bind(('127.0.0.1',$p+10000)); s.close()" 2>/dev/null; do p=$(free_port); done
  { extract "$here/redis-cluster/redis-cluster.yaml" redis-cluster-config redis.conf | render \
      | sed "s#^dir .*#dir $dir/cluster-$i#" | sed "s#^cluster-config-file .*#cluster-config-file $dir/cluster-$i/nodes.conf#" \
      | sed "s/^port .*/port $p/"
    echo "cluster-announce-hostname localhost"; } > "$dir/cluster-$i.conf"
  start "cluster-$i" "$dir/cluster-$i.conf"
  nodes="$nodes 127.0.0.1:$p"
done
first=${nodes# }; first=${first%% *}; fport=${first##*:}
for n in $nodes; do wait_for 20 "cluster node $n" redis-cli -p "${n##*:}" ping; done
redis-cli --cluster create $nodes --cluster-replicas 1 --cluster-yes > "$dir/cluster-create.log" 2>&1 || { cat "$dir/cluster-create.log" >&2; exit 1; }
cluster_ok() { redis-cli -p "$fport" cluster info | tr -d '\r' | grep -q '^cluster_state:ok' && [ "$(redis-cli -p "$fport" cluster nodes | grep -c master)" = 3 ] && [ "$(redis-cli -p "$fport" cluster nodes | grep -c slave)" = 3 ]; }
wait_for 60 "cluster_state:ok with 3 masters and 3 replicas" cluster_ok
echo "cluster: $(redis-cli -p "$fport" cluster info | tr -d '\r' | grep -E '^cluster_(state|slots_assigned|known_nodes|size):' | paste -sd' ')"
echo "check-configs: OK"
