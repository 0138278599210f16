#!/usr/bin/env bash
# Starts a throw-away Sentinel deployment on loopback (1 master, 2 replicas, 3 Sentinels with the given
# quorum; free ports, temp folder), runs `levee doctor check` against it, then freezes one Sentinel
# (SIGSTOP: a host that hangs without closing its sockets) and checks again. Every process is stopped by
# its PID on exit. This is what docs/doctor.md shows as the live example.
# Usage: deploy/sentinel/try-live-check.sh [QUORUM]     (default 2; 3 reproduces the incident's setup)
set -euo pipefail
root="$(cd "$(dirname "$0")/../.." && pwd)"
quorum="${1:-2}"
for b in redis-server redis-sentinel redis-cli python3; do
  command -v "$b" >/dev/null || { echo "try-live-check: $b missing: apt-get install -y redis-server redis-sentinel redis-tools python3" >&2; exit 1; }
done
dir="$(mktemp -d "${TMPDIR:-/tmp}/levee-doctor-demo.XXXXXX")"
pids=()
cleanup() { for p in "${pids[@]}"; do kill -CONT "$p" 2>/dev/null || true; kill -KILL "$p" 2>/dev/null || true; done; rm -rf "$dir"; }
trap cleanup EXIT
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'; }
wait_until() { # wait_until SECONDS CMD...: polls CMD every 0.2 s
  local deadline=$((SECONDS + $1)); shift
  until "$@" >/dev/null 2>&1; do [ $SECONDS -lt $deadline ] || { echo "try-live-check: timed out waiting for: $*" >&2; exit 1; }; sleep 0.2; done
}

m=$(free_port); r1=$(free_port); r2=$(free_port)
for p in $m $r1 $r2; do
  mkdir -p "$dir/$p"
  extra=""; [ "$p" != "$m" ] && extra="replicaof 127.0.0.1 $m"
  printf 'port %s\nbind 127.0.0.1\ndir %s\nappendonly yes\nmin-replicas-to-write 1\nrepl-backlog-size 16mb\n%s\n' "$p" "$dir/$p" "$extra" > "$dir/$p/redis.conf"
  redis-server "$dir/$p/redis.conf" > "$dir/$p/log" 2>&1 & pids+=($!); disown
  wait_until 10 redis-cli -p "$p" ping
done
sentinels=()
for i in 1 2 3; do
  s=$(free_port); sentinels+=("127.0.0.1:$s"); mkdir -p "$dir/s$s"
  printf 'port %s\nbind 127.0.0.1\ndir %s\nsentinel monitor mymaster 127.0.0.1 %s %s\nsentinel down-after-milliseconds mymaster 2000\nsentinel failover-timeout mymaster 10000\n' \
    "$s" "$dir/s$s" "$m" "$quorum" > "$dir/s$s/sentinel.conf"
  redis-sentinel "$dir/s$s/sentinel.conf" > "$dir/s$s/log" 2>&1 & pids+=($!); disown
done
list=$(IFS=,; echo "${sentinels[*]}")
known() { for ep in "${sentinels[@]}"; do
  out=$(redis-cli -p "${ep#*:}" sentinel master mymaster) || return 1
  echo "$out" | grep -A1 -x num-other-sentinels | tail -1 | grep -qx 2 || return 1
  echo "$out" | grep -A1 -x num-slaves | tail -1 | grep -qx 2 || return 1
done
for p in $r1 $r2; do redis-cli -p "$p" info replication | grep -q master_link_status:up || return 1; done; }
wait_until 30 known

echo "\$ levee doctor check --sentinel $list --service mymaster      # 3 Sentinels, quorum $quorum, all up"
"$root/levee" doctor check --sentinel "$list" --service mymaster || echo "(exit code $?)"
frozen_pid=${pids[$((${#pids[@]} - 1))]}
kill -STOP "$frozen_pid"
echo
echo "\$ levee doctor check --sentinel $list --service mymaster      # after SIGSTOP of Sentinel ${sentinels[2]}"
"$root/levee" doctor check --sentinel "$list" --service mymaster || echo "(exit code $?)"
