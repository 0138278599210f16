#!/usr/bin/env bash
# End to end: the alert rules in alerts/redis.yml, loaded UNCHANGED into a real Prometheus server,
# scraping real redis_exporter processes in front of real redis-server / redis-sentinel processes,
# while the reference incident is replayed. Everything listens on 127.0.0.1 (free ports), lives in
# a temp folder, and is stopped by its PID on exit.
#
#   deploy/prometheus/e2e-incident.sh [QUORUM]     (default 3: the incident; 2: the fix)
#
# Steps: 1 master + 2 replicas + 3 Sentinels (down-after-milliseconds 2000), one redis_exporter per
# process, Prometheus with scrape_interval/evaluation_interval 1s and scrape_timeout 1s;
#   1. healthy            2. sentinel-2 frozen (SIGSTOP: the partition)
#   3. master frozen (SIGSTOP: a kernel panic sends no TCP reset)
# After each step it prints the alerts Prometheus has (pending = the expression matched and the
# `for:` duration is running; firing needs that long) and checks the expected ones.
# Needs the Debian packages redis-server, redis-sentinel, redis-tools, prometheus and
# prometheus-redis-exporter (installed when missing, without starting their services).
set -euo pipefail
QUORUM="${1:-3}"
here="$(cd "$(dirname "$0")" && pwd)"

need=()
command -v redis-server >/dev/null || need+=(redis-server redis-sentinel redis-tools)
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-redis-exporter >/dev/null || need+=(prometheus-redis-exporter)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  # as root or through sudo, like the rest of the scripts
  "$here/../../scripts/install-deps.sh" redis prometheus exporters || { echo "e2e-incident: missing ${need[*]} and could not install them: apt-get install -y ${need[*]}" >&2; exit 1; }
fi

dir="$(mktemp -d "${TMPDIR:-/tmp}/levee-e2e-incident.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.3
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
fail() { echo "e2e-incident: FAILED: $* (logs in $dir, kept)" >&2; trap - EXIT; for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done; exit 1; }
wait_for() { # wait_for SECONDS WHAT COMMAND...   (polls, never a fixed sleep)
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do [ "$SECONDS" -lt "$deadline" ] || fail "timeout waiting for $what"; sleep 0.2; done
}

# ---- Redis, Sentinels, exporters
m=$(free_port); r1=$(free_port); r2=$(free_port)
redis-server --port "$m" --bind 127.0.0.1 --save '' --appendonly no --logfile "$dir/redis-0.log" --dir "$dir" & pids+=($!); master_pid=$!
for r in "$r1" "$r2"; do redis-server --port "$r" --bind 127.0.0.1 --save '' --appendonly no --replicaof 127.0.0.1 "$m" --logfile "$dir/redis-$r.log" --dir "$dir" & pids+=($!); done
sports=(); spids=()
for i in 0 1 2; do
  p=$(free_port); sports+=("$p")
  printf 'port %s\nbind 127.0.0.1\ndir %s\nlogfile %s\nsentinel monitor mymaster 127.0.0.1 %s %s\nsentinel down-after-milliseconds mymaster 2000\nsentinel failover-timeout mymaster 10000\nsentinel parallel-syncs mymaster 1\n' \
    "$p" "$dir" "$dir/sentinel-$i.log" "$m" "$QUORUM" > "$dir/sentinel-$i.conf"
  redis-server "$dir/sentinel-$i.conf" --sentinel & pids+=($!); spids+=($!)
done
targets_redis=""; targets_sentinel=""; relabel=""
i=0
for port in "$m" "$r1" "$r2"; do
  e=$(free_port)
  prometheus-redis-exporter -redis.addr "redis://127.0.0.1:$port" -web.listen-address "127.0.0.1:$e" > "$dir/exporter-redis-$i.log" 2>&1 & pids+=($!)
  targets_redis="$targets_redis        - targets: ['127.0.0.1:$e']\n          labels: {name: redis-$i}\n"
  i=$((i + 1))
done
for i in 0 1 2; do
  e=$(free_port)
  prometheus-redis-exporter -redis.addr "redis://127.0.0.1:${sports[$i]}" -web.listen-address "127.0.0.1:$e" > "$dir/exporter-sentinel-$i.log" 2>&1 & pids+=($!)
  targets_sentinel="$targets_sentinel        - targets: ['127.0.0.1:$e']\n          labels: {name: sentinel-$i}\n"
done

# ---- Prometheus with the real rule files
pp=$(free_port)
mkdir -p "$dir/prom"
cp "$here"/alerts/*.yml "$dir/prom/"
{
  printf 'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - "*.yml"\nscrape_configs:\n'
  for job in redis sentinel; do
    printf '  - job_name: %s\n    static_configs:\n' "$job"
    if [ "$job" = redis ]; then printf '%b' "$targets_redis"; else printf '%b' "$targets_sentinel"; fi
    printf '    relabel_configs:\n      - {source_labels: [name], target_label: instance}\n      - {regex: name, action: labeldrop}\n'
  done
} > "$dir/prom/prometheus.yml.conf"
prometheus --config.file="$dir/prom/prometheus.yml.conf" --storage.tsdb.path="$dir/prom/data" \
  --web.listen-address="127.0.0.1:$pp" --log.level=warn > "$dir/prometheus.log" 2>&1 & pids+=($!)
api="http://127.0.0.1:$pp/api/v1"

# query EXPR -> "labels value" lines
query() { curl -sfG "$api/query" --data-urlencode "query=$1" | python3 -c '
import json,sys
for r in json.load(sys.stdin)["data"]["result"]:
    m=r["metric"]; n=m.pop("__name__","")
    print(n+"{"+",".join(f"{k}=\"{v}\"" for k,v in sorted(m.items()))+"}", r["value"][1])'; }
count() { query "$1" | wc -l; }
# alerts -> "state name instance" lines (pending or firing), sorted
alerts() { curl -sf "$api/alerts" | python3 -c '
import json,sys
for a in sorted(json.load(sys.stdin)["data"]["alerts"], key=lambda a:(a["labels"]["alertname"],a["labels"].get("instance",""))):
    l=a["labels"]; print(a["state"], l["alertname"], l.get("instance", l.get("job","")))'; }
# wait until the sentinel group has been evaluated twice more (so the alerts reflect the data seen)
last_eval() { curl -sf "$api/rules" | python3 -c '
import json,sys
for g in json.load(sys.stdin)["data"]["groups"]:
    if g["name"]=="levee-redis-sentinel": print(g["lastEvaluation"])'; }
eval_after() { [ "$(last_eval)" != "$1" ]; }
settle() { local a; a=$(last_eval); wait_for 10 "a rule evaluation" eval_after "$a"; a=$(last_eval); wait_for 10 "a rule evaluation" eval_after "$a"; }
expect() { # expect yes|no ALERTNAME INSTANCE
  local all; all="$(alerts)"
  if grep -q " $2 $3\$" <<<"$all"; then got=yes; else got=no; fi
  if [ "$got" = "$1" ]; then echo "  ok: $2 ${3} $( [ "$1" = yes ] && echo active || echo silent)"; else fail "$2 $3 expected $( [ "$1" = yes ] && echo active || echo silent)"; fi
}
report() {
  echo "  alerts (pending = expression true, waiting for its for: duration):"
  alerts | sed 's/^/    /' | grep . || echo "    (none)"
}

wait_for 30 "Prometheus ready" curl -sf "http://127.0.0.1:$pp/-/ready"
known() { [ "$(count "redis_sentinel_master_ok_sentinels == 3")" = 3 ] && [ "$(count 'redis_sentinel_master_ok_slaves == 2')" = 3 ]; }
wait_for 60 "every Sentinel exporting ok_sentinels 3 and ok_slaves 2" known
settle
echo "== quorum $QUORUM, prometheus-redis-exporter $(prometheus-redis-exporter -version 2>&1 | sed -n 's/.*Exporter \([^ ]*\).*/\1/p'), $(prometheus --version 2>&1 | head -1)"
echo "== 1. healthy. Sentinel series as the exporter serves them:"
query '{__name__=~"redis_sentinel_master_(ok_sentinels|sentinels|setting_ckquorum|status|ckquorum_status)", instance="sentinel-0"}' | sed 's/^/    /'
echo "    redis_sentinel_master_setting_ckquorum series: $(count redis_sentinel_master_setting_ckquorum) (0 = this exporter version does not export the quorum)"
report
expect no RedisSentinelQuorumLost sentinel-0
expect no RedisMasterDown redis-0
if [ "$(count redis_sentinel_master_setting_ckquorum)" -gt 0 ] && [ "$QUORUM" = 3 ]; then expect yes RedisSentinelQuorumAtRisk sentinel-0; else expect no RedisSentinelQuorumAtRisk sentinel-0; fi

kill -STOP "${spids[2]}"
peers_down() { [ "$(count "redis_sentinel_master_ok_sentinels == 2")" = 2 ] && [ "$(count 'up{instance="sentinel-2"} == 0')" = 1 ]; }
wait_for 60 "sentinel-0/1 to report 2 OK Sentinels and the sentinel-2 scrape to fail" peers_down
settle
echo "== 2. sentinel-2 frozen (SIGSTOP)"
query '{__name__=~"up|redis_up", instance="sentinel-2"}' | sed 's/^/    /'
query '{__name__=~"redis_sentinel_master_(ok_sentinels|ckquorum_status)", instance="sentinel-0"}' | sed 's/^/    /'
report
expect yes RedisSentinelQuorumAtRisk sentinel-0
expect yes RedisInstanceUnreachable sentinel-2
if [ "$QUORUM" = 3 ]; then expect yes RedisSentinelCkquorumFailed sentinel-0; else expect no RedisSentinelCkquorumFailed sentinel-0; fi

kill -STOP "$master_pid"
master_seen_down() { [ "$(count 'up{instance="redis-0"} == 0')" = 1 ] && [ "$(count 'redis_sentinel_master_status{master_status=~"sdown|odown"} == 0 or redis_sentinel_master_status{master_address!~".*:'"$m"'"} == 1')" -ge 1 ]; }
wait_for 60 "the master scrape to fail and a Sentinel to see it down (or fail over)" master_seen_down
if [ "$QUORUM" = 2 ]; then
  promoted() { [ "$(count 'redis_instance_info{role="master",instance=~"redis-1|redis-2"}')" = 1 ]; }
  wait_for 60 "a replica to be promoted" promoted
fi
settle
echo "== 3. master frozen (SIGSTOP)"
query '{__name__=~"up|redis_up", instance="redis-0"}' | sed 's/^/    /'
query 'redis_sentinel_master_status{instance=~"sentinel-0|sentinel-1"}' | sed 's/^/    /'
query 'count by (role) (redis_instance_info{job="redis"})' | sed 's/^/    /'
report
expect yes RedisMasterDown redis-0
if [ "$QUORUM" = 3 ]; then
  expect yes RedisReplicationGroupHasNoMaster redis
  expect yes RedisSentinelMasterSubjectivelyDown sentinel-0
  expect no RedisSentinelMasterObjectivelyDown sentinel-0
else
  expect no RedisReplicationGroupHasNoMaster redis
fi
echo "e2e-incident: OK"
