#!/usr/bin/env bash
# The storefront sample in one command: `levee sandbox` starts a throw-away PostgreSQL (database storefront, seeded
# with samples/Levee.Sample.Storefront/catalog.sql) and a Redis Sentinel deployment (1 master, 2 replicas,
# 3 Sentinels) on free loopback ports in a temp folder, then the storefront runs against them (Redis through the
# Sentinels) and its URLs are printed. Ctrl+C (or SIGTERM) stops the storefront and the sandbox: nothing is left running.
#   samples/storefront.sh                                       # the storefront on a free loopback port
#   samples/storefront.sh --port 5080                           # on 127.0.0.1:5080
#   samples/storefront.sh -- --Logging:LogLevel:Default=Debug   # more storefront arguments after --
# Installs redis-server, redis-sentinel and postgresql with apt when missing (scripts/install-deps.sh) and builds
# the storefront and the levee tool once. LEVEE_STOREFRONT_DLL / LEVEE_CLI_DLL: run those builds instead (tests).
set -euo pipefail
root="$(cd "$(dirname "$0")/.." && pwd)"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

port=0
app_args=()
while [ $# -gt 0 ]; do
  case "$1" in
    --port) port="${2:?storefront: --port needs a number}"; shift 2 ;;
    --) shift; app_args=("$@"); break ;;
    -h|--help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "storefront: unknown argument '$1' (see --help)" >&2; exit 2 ;;
  esac
done
case "$port" in ''|*[!0-9]*) echo "storefront: --port needs a number, got '$port'" >&2; exit 2 ;; esac

say() { printf 'storefront: %s\n' "$*"; }

# true while PID exists and is not a zombie
alive() { [ -r "/proc/$1/status" ] && ! grep -q '^State:[[:space:]]*[ZX]' "/proc/$1/status" 2>/dev/null; }

# SIGTERM to PID, SIGKILL when it still runs after SECONDS; then reap it
stop_pid() {
  local pid=$1 name=$2 seconds=$3 i=0
  [ -n "$pid" ] || return 0
  kill -TERM "$pid" 2>/dev/null || true
  while alive "$pid"; do
    if [ "$i" -ge $((seconds * 10)) ]; then
      say "$name (pid $pid) still runs after ${seconds} s: SIGKILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
      break
    fi
    sleep 0.1
    i=$((i + 1))
  done
  wait "$pid" 2>/dev/null || true
}

# the HTTP status of GET PATH on 127.0.0.1:PORT (bash's /dev/tcp: no curl needed), or nothing
http_status() {
  ( exec 3<>"/dev/tcp/127.0.0.1/$1" || exit 0
    printf 'GET %s HTTP/1.0\r\nHost: 127.0.0.1:%s\r\nConnection: close\r\n\r\n' "$2" "$1" >&3
    IFS=' ' read -r -t 5 _ code _ <&3 && printf '%s' "$code" ) 2>/dev/null || true
}

"$root/scripts/install-deps.sh" redis postgres

app_dll="${LEVEE_STOREFRONT_DLL:-}"
if [ -z "$app_dll" ]; then
  # built once into artifacts/storefront, again when its sources or the library's change
  out="$root/artifacts/storefront"
  stamp="$out/.stamp"
  newest=$(find "$root/samples/Levee.Sample.Storefront" "$root/src/Levee" "$root/Directory.Build.props" "$root/Directory.Packages.props" \
    -newer "$stamp" -type f \( -name '*.cs' -o -name '*.csproj' -o -name '*.props' -o -name '*.sql' \) -not -path '*/obj/*' -not -path '*/bin/*' 2>/dev/null | head -1 || true)
  if [ ! -f "$stamp" ] || [ -n "$newest" ]; then
    say "building the storefront (once) ..." >&2
    dotnet build "$root/samples/Levee.Sample.Storefront/Levee.Sample.Storefront.csproj" -c Release -o "$out" -maxcpucount:2 -nologo -v q >&2
    touch "$stamp"
  fi
  app_dll="$out/Levee.Sample.Storefront.dll"
fi
if [ -n "${LEVEE_CLI_DLL:-}" ]; then levee=(dotnet "$LEVEE_CLI_DLL"); else levee=("$root/levee"); fi
# the sandbox and the storefront get SIGTERM when this script dies without running its trap (SIGKILL): PR_SET_PDEATHSIG
guard=()
case "$(setpriv --help 2>&1 || true)" in *--pdeathsig*) guard=(setpriv --pdeathsig TERM) ;; esac

work="$(mktemp -d "${TMPDIR:-/tmp}/levee-storefront.XXXXXX")"
sandbox_pid=""
app_pid=""
cleanup() {
  local rc=$?
  trap '' INT TERM HUP
  trap - EXIT
  if [ -n "$app_pid" ]; then say "stopping the storefront (pid $app_pid) ..."; stop_pid "$app_pid" storefront 20; fi
  if [ -n "$sandbox_pid" ]; then say "stopping the sandbox (pid $sandbox_pid) ..."; stop_pid "$sandbox_pid" "levee sandbox" 60; fi
  rm -rf "$work"
  say "stopped"
  exit "$rc"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM
trap 'exit 129' HUP

# the sandbox: its KEY=value lines to a file, its messages (for people) to our stderr; --owner-pid: a second guard
"${guard[@]}" "${levee[@]}" sandbox --database storefront --sql "$root/samples/Levee.Sample.Storefront/catalog.sql" --owner-pid $$ >"$work/sandbox.env" &
sandbox_pid=$!
for ((i = 0; ; i++)); do
  grep -q '^LEVEE_SANDBOX_READY=1$' "$work/sandbox.env" && break
  if ! alive "$sandbox_pid"; then
    wait "$sandbox_pid" 2>/dev/null || true
    sandbox_pid=""
    say "levee sandbox ended before it was ready (its messages are above)" >&2
    exit 1
  fi
  # the first run builds the levee tool first
  [ "$i" -lt 6000 ] || { say "levee sandbox was not ready within 600 s" >&2; exit 1; }
  sleep 0.1
done
value() { sed -n "s/^$1=//p" "$work/sandbox.env" | head -1; }
postgres=$(value LEVEE_SANDBOX_POSTGRES)
redis=$(value LEVEE_SANDBOX_REDIS)

"${guard[@]}" dotnet "$app_dll" --urls "http://127.0.0.1:$port" "--ConnectionStrings:Postgres=$postgres" "--Redis=$redis" "${app_args[@]}" >"$work/storefront.log" 2>&1 &
app_pid=$!
url=""
for ((i = 0; i < 1200; i++)); do
  url=$(sed -n 's/.*Now listening on: \(http:[^ ]*\).*/\1/p' "$work/storefront.log" | head -1)
  [ -n "$url" ] && break
  alive "$app_pid" || break
  sleep 0.1
done
if [ -z "$url" ]; then
  say "the storefront did not start listening; its output:" >&2
  cat "$work/storefront.log" >&2
  exit 1
fi
app_port="${url##*:}"
status=""
for ((i = 0; i < 600; i++)); do
  status=$(http_status "$app_port" /health/ready)
  [ "$status" = 200 ] && break
  alive "$app_pid" || break
  sleep 0.1
done
[ "$status" = 200 ] || say "/health/ready answers '${status:-nothing}' (warm-up not done?); the URLs below may still answer" >&2

cat <<INFO
storefront: ready at $url
  GET  $url/products/featured     featured products (cached 5 min, tag "products")
  GET  $url/categories/active     active categories
  GET  $url/settings/site         site settings
  GET  $url/users/1               a user (1..1000)
  PUT  $url/products/50/price?value=9.99   a price change: removes the "products" tag
  GET  $url/health/live   $url/health/ready   $url/metrics
storefront: Redis through the Sentinels: $redis
storefront: PostgreSQL: $postgres
storefront: running: storefront pid $app_pid, levee sandbox pid $sandbox_pid (its processes: $(value LEVEE_SANDBOX_PIDS), folder $(value LEVEE_SANDBOX_DIR))
storefront: Ctrl+C stops the storefront, Redis and PostgreSQL
INFO

set +e
wait "$app_pid"
rc=$?
set -e
app_pid=""
say "the storefront exited by itself (exit code $rc); its last output:" >&2
tail -n 30 "$work/storefront.log" >&2
exit 1
