#!/usr/bin/env bash
# Replays the reference incident against real redis-server / redis-sentinel processes on
# loopback and prints, at each step, the values oliver006/redis_exporter would export for
# each Sentinel (computed the way exporter/sentinels.go computes them):
#   redis_sentinel_master_status{master_status}  <- INFO sentinel "status=" (1 when "ok")
#   redis_sentinel_master_sentinels              <- INFO sentinel "sentinels="
#   redis_sentinel_master_ok_sentinels           <- 1 + SENTINEL SENTINELS entries without s_down/o_down
#   redis_sentinel_master_setting_ckquorum       <- SENTINEL MASTERS "quorum"
#   redis_sentinel_master_ckquorum_status        <- SENTINEL CKQUORUM (1 = OK)
# The promtool tests in tests/incident.test.yml use these numbers.
#
# Usage: deploy/prometheus/sentinel-incident-probe.sh [QUORUM]   (default 3: the incident; 2: the fix)
# Steps: 3 Sentinels watch 1 master + 2 replicas; one Sentinel is frozen (SIGSTOP, like the
# partition); then the master is frozen (SIGSTOP: a kernel panic sends no TCP reset).
# Every process is started here, in a temp folder, and stopped by its recorded PID on exit.
set -euo pipefail
QUORUM="${1:-3}"
command -v redis-server >/dev/null && command -v redis-cli >/dev/null || {
  echo "sentinel-incident-probe: redis-server/redis-cli missing: apt-get install -y redis-server redis-sentinel redis-tools" >&2; exit 1; }
dir="$(mktemp -d "${TMPDIR:-/tmp}/levee-incident-probe.XXXXXX")"
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -TERM "$p" 2>/dev/null || true; done
  sleep 0.2
  for p in "${pids[@]}"; do kill -KILL "$p" 2>/dev/null || true; done
  rm -rf "$dir"
}
trap cleanup EXIT

free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_for() { # wait_for SECONDS DESCRIPTION COMMAND...  (polls, never a fixed sleep)
  local deadline=$((SECONDS + $1)) what="$2"; shift 2
  until "$@" >/dev/null 2>&1; do
    if [ "$SECONDS" -ge "$deadline" ]; then echo "timeout waiting for: $what (logs in $dir)" >&2; tail -n 5 "$dir"/*.log >&2; exit 1; fi
    sleep 0.1
  done
}

m=$(free_port); r1=$(free_port); r2=$(free_port)
redis-server --port "$m" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --logfile "$dir/master.log" --dir "$dir" & pids+=($!)
master_pid=$!
for r in "$r1" "$r2"; do
  redis-server --port "$r" --bind 127.0.0.1 --save '' --appendonly no --replicaof 127.0.0.1 "$m" --logfile "$dir/replica-$r.log" --dir "$dir" & pids+=($!)
done
wait_for 10 "master PING on $m" redis-cli -p "$m" ping
sports=(); spids=()
for i in 0 1 2; do
  p=$(free_port); sports+=("$p")
  cat > "$dir/sentinel-$i.conf" <<CONF
port $p
bind 127.0.0.1
dir $dir
logfile $dir/sentinel-$i.log
sentinel monitor mymaster 127.0.0.1 $m $QUORUM
sentinel down-after-milliseconds mymaster 2000
sentinel failover-timeout mymaster 10000
sentinel parallel-syncs mymaster 1
CONF
  redis-server "$dir/sentinel-$i.conf" --sentinel & pids+=($!); spids+=($!)
done
known3() { [ "$(redis-cli -p "$1" sentinel master mymaster | awk 'p{print;exit} /^num-other-sentinels$/{p=1}')" = 2 ] && \
           [ "$(redis-cli -p "$1" sentinel master mymaster | awk 'p{print;exit} /^num-slaves$/{p=1}')" = 2 ]; }
for p in "${sports[@]}"; do wait_for 30 "Sentinel $p to know 2 peers and 2 replicas" known3 "$p"; done

report() { # report STEP  -> one line per reachable Sentinel
  echo "== $1"
  for i in 0 1 2; do
    local p=${sports[$i]}
    if ! timeout 1 redis-cli -p "$p" ping >/dev/null 2>&1; then echo "sentinel-$i: unreachable (scrape fails: redis_up 0)"; continue; fi
    local info status known ok quorum ck
    info=$(redis-cli -p "$p" info sentinel | tr -d '\r' | grep '^master0:')
    status=$(echo "$info" | sed -n 's/.*status=\([^,]*\).*/\1/p'); known=$(echo "$info" | sed -n 's/.*sentinels=\([0-9]*\).*/\1/p')
    ok=$((1 + $(redis-cli -p "$p" sentinel sentinels mymaster | awk 'f{ if ($0 !~ /s_down|o_down/) n++; f=0 } /^flags$/{f=1} END{print n+0}')))
    quorum=$(redis-cli -p "$p" sentinel master mymaster | awk 'p{print;exit} /^quorum$/{p=1}')
    ck=$(redis-cli -p "$p" sentinel ckquorum mymaster 2>&1 | head -1)
    echo "sentinel-$i: master_status=$status sentinels=$known ok_sentinels=$ok setting_ckquorum=$quorum ckquorum='$ck' address=$(echo "$info" | sed -n 's/.*address=\([^,]*\).*/\1/p')"
  done
}
report "1. healthy: 3 Sentinels, quorum $QUORUM"

kill -STOP "${spids[2]}"
peer_sdown() { redis-cli -p "${sports[0]}" sentinel sentinels mymaster | grep -q s_down && redis-cli -p "${sports[1]}" sentinel sentinels mymaster | grep -q s_down; }
wait_for 30 "sentinel-0 and sentinel-1 to flag sentinel-2 s_down" peer_sdown
report "2. sentinel-2 partitioned (SIGSTOP)"

kill -STOP "$master_pid"
master_sdown() { redis-cli -p "${sports[0]}" info sentinel | grep -Eq 'status=(sdown|odown)|address=127.0.0.1:('"$r1|$r2"')'; }
wait_for 30 "sentinel-0 to see the master down" master_sdown
report "3. master frozen (SIGSTOP), just detected"
# Give a failover time to happen: down-after 2 s + election; poll up to 20 s for a new master.
moved() { [ "$(redis-cli -p "${sports[0]}" sentinel get-master-addr-by-name mymaster | sed -n 2p)" != "$m" ]; }
if ( deadline=$((SECONDS + 20)); until moved; do [ "$SECONDS" -ge "$deadline" ] && exit 1; sleep 0.2; done ); then
  report "4. failover done (new master)"
else
  report "4. 20 s later: still no failover"
fi
