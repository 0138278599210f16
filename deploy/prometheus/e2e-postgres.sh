#!/usr/bin/env bash
# End to end for alerts/postgres.yml: a throw-away PostgreSQL 15 (max_connections 20) on loopback,
# Debian's prometheus-postgres-exporter in front of it, and a real Prometheus server loaded with the
# rule file unchanged. Opens idle sessions (psql running pg_sleep) until the connection count crosses
# 75% and then 90% of max_connections, and checks which alerts Prometheus holds after each step.
# Everything runs in a temp folder on free loopback ports and is stopped by PID on exit; PostgreSQL
# runs as `nobody` (initdb refuses root).
#   deploy/prometheus/e2e-postgres.sh
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
pgbin="$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -1 || true)"
need=()
[ -n "$pgbin" ] && [ -x "$pgbin/initdb" ] || need+=(postgresql)
command -v prometheus >/dev/null || need+=(prometheus)
command -v prometheus-postgres-exporter >/dev/null || need+=(prometheus-postgres-exporter)
command -v curl >/dev/null || need+=(curl)
if [ ${#need[@]} -gt 0 ]; then
  # as root or through sudo, like the rest of the scripts
  "$here/../../scripts/install-deps.sh" postgres prometheus exporters || { echo "e2e-postgres: missing ${need[*]} and could not install them: apt-get install -y ${need[*]}" >&2; exit 1; }
  pgbin="$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -1)"
fi
as_pg() { if [ "$(id -u)" -eq 0 ]; then setpriv --reuid=nobody --regid=nogroup --clear-groups "$@"; else "$@"; fi; }

dir="$(mktemp -d "${TMPDIR:-/tmp}/levee-e2e-postgres.XXXXXX")"; chmod 777 "$dir"
pids=(); pg_started=0
cleanup() {
  for p in "${pids[@]}"; do kill -TERM "$p" 2>/dev/null || true; done
  [ "$pg_started" = 1 ] && as_pg "$pgbin/pg_ctl" -D "$dir/data" -m immediate -w stop >/dev/null 2>&1 || true
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
fail() { echo "e2e-postgres: FAILED: $*" >&2; tail -n 5 "$dir"/*.log >&2 || true; exit 1; }
wait_for() { local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do [ "$SECONDS" -lt "$deadline" ] || fail "timeout waiting for $what"; sleep 0.2; done; }

port=$(free_port)
as_pg "$pgbin/initdb" -D "$dir/data" -U postgres --auth=trust > "$dir/initdb.log" 2>&1 || fail "initdb"
as_pg "$pgbin/pg_ctl" -D "$dir/data" -l "$dir/postgres.log" -w \
  -o "-p $port -k $dir -c listen_addresses=127.0.0.1 -c max_connections=20 -c superuser_reserved_connections=0" start > /dev/null || fail "pg_ctl start"
pg_started=1
ep=$(free_port)
DATA_SOURCE_NAME="postgresql://postgres@127.0.0.1:$port/postgres?sslmode=disable" \
  prometheus-postgres-exporter --web.listen-address="127.0.0.1:$ep" > "$dir/exporter.log" 2>&1 & pids+=($!)

pp=$(free_port); mkdir -p "$dir/prom"; cp "$here/alerts/postgres.yml" "$dir/prom/"
printf 'global:\n  scrape_interval: 1s\n  scrape_timeout: 1s\n  evaluation_interval: 1s\nrule_files:\n  - postgres.yml\nscrape_configs:\n  - job_name: postgres\n    static_configs:\n      - targets: ["127.0.0.1:%s"]\n        labels: {name: pg-0}\n    relabel_configs:\n      - {source_labels: [name], target_label: instance}\n      - {regex: name, action: labeldrop}\n' "$ep" > "$dir/prom/prometheus.yml.conf"
prometheus --config.file="$dir/prom/prometheus.yml.conf" --storage.tsdb.path="$dir/prom/data" \
  --web.listen-address="127.0.0.1:$pp" --log.level=warn > "$dir/prometheus.log" 2>&1 & pids+=($!)
api="http://127.0.0.1:$pp/api/v1"
query() { curl -sfG "$api/query" --data-urlencode "query=$1" | python3 -c '
import json,sys
for r in json.load(sys.stdin)["data"]["result"]:
    m=r["metric"]; n=m.pop("__name__","")
    print(n+"{"+",".join(f"{k}=\"{v}\"" for k,v in sorted(m.items()))+"}", r["value"][1])'; }
alerts() { curl -sf "$api/alerts" | python3 -c '
import json,sys
for a in sorted(json.load(sys.stdin)["data"]["alerts"], key=lambda a:a["labels"]["alertname"]):
    print(a["state"], a["labels"]["alertname"], a["labels"].get("instance",""))'; }
last_eval() { curl -sf "$api/rules" | python3 -c '
import json,sys
print([g["lastEvaluation"] for g in json.load(sys.stdin)["data"]["groups"]])'; }
eval_after() { [ "$(last_eval)" != "$1" ]; }
settle() { local a; a=$(last_eval); wait_for 10 "a rule evaluation" eval_after "$a"; a=$(last_eval); wait_for 10 "a rule evaluation" eval_after "$a"; }
expect() { local all; all="$(alerts)"
  if grep -q " $2 $3\$" <<<"$all"; then got=yes; else got=no; fi
  [ "$got" = "$1" ] && echo "  ok: $2 $( [ "$1" = yes ] && echo active || echo silent)" || fail "$2 expected $( [ "$1" = yes ] && echo active || echo silent)"; }
used() { query 'sum(pg_stat_activity_count)' | awk '{print $2}'; }
# open N more idle sessions (each a psql running pg_sleep), then wait until the exporter counts them
open_sessions() { local n=$1 want before; before=$(used); want=$((before + n))
  for _ in $(seq "$n"); do "$pgbin/psql" -h 127.0.0.1 -p "$port" -U postgres -qAtc "select pg_sleep(120)" >/dev/null 2>&1 & pids+=($!); done
  counted() { [ "$(used)" -ge "$want" ]; }; wait_for 30 "the exporter to count $want connections" counted; }
step() {
  settle
  echo "== $1"
  query 'sum by (instance, server) (pg_stat_activity_count)' | sed 's/^/    connections: /'
  query 'pg_settings_max_connections' | sed 's/^/    /'
  echo "  alerts (pending = expression true, waiting for its for: duration):"
  alerts | sed 's/^/    /' | grep . || echo "    (none)"
}

wait_for 30 "Prometheus ready" curl -sf "http://127.0.0.1:$pp/-/ready"
has_data() { [ -n "$(query 'pg_settings_max_connections')" ] && [ -n "$(used)" ]; }
wait_for 60 "the first scrape of postgres_exporter" has_data
echo "== prometheus-postgres-exporter $(prometheus-postgres-exporter --version 2>&1 | sed -n 's/.*version \([^ ]*\).*/\1/p' | head -1), $($pgbin/postgres --version)"
step "1. idle database"
expect no PostgresConnectionsHigh pg-0
expect no PostgresConnectionsCritical pg-0
open_sessions $((16 - $(used)))
step "2. 16 of 20 connections (80%)"
expect yes PostgresConnectionsHigh pg-0
expect no PostgresConnectionsCritical pg-0
open_sessions 2
step "3. 18 of 20 connections (90%, the incident's 180/200)"
expect yes PostgresConnectionsHigh pg-0
expect yes PostgresConnectionsCritical pg-0
echo "e2e-postgres: OK"
