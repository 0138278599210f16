#!/usr/bin/env bash
# Runs Levee's whole benchmark suite (BenchmarkDotNet, out-of-process, short jobs) against its peers in one run:
# L1 hit, L2 hit (real loopback redis-server started by the benchmarks), cold-key stampede, 2-thread throughput,
# plus the stampede factory-call count and an interleaved in-one-process cross-check of the L1/L2 hit lines
# (robust to load from other work on a shared machine); then writes the tables into docs/benchmarks.md and docs/l1-store.md
# (between the bench:* marker comments). About 10 minutes on 2 cores.
# Then the outage benchmark (about 11 minutes more): the drill's redis-outage and master-hang scenarios with the
# naive, levee, fusioncache and hybridcache clients on one seed (real redis-server, redis-sentinel and PostgreSQL,
# started and stopped by the drill), written into docs/benchmarks.md between the bench:outage markers.
#
# Usage: benchmarks/run.sh [extra BenchmarkDotNet arguments, e.g. --filter '*L1Hit*']
#        benchmarks/run.sh --outage-only     only the outage benchmark (and its table in docs/benchmarks.md)
# Env:   LEVEE_BENCH_QUIET_LOAD=1.0  wait (at most LEVEE_BENCH_QUIET_WAIT seconds, default 600) until the 1-minute
#        load average is below this before starting; the machine's load is written next to the numbers either way.
#        LEVEE_BENCH_OUTAGE=0        skip the outage benchmark in a whole-suite run (=only: same as --outage-only).
#        LEVEE_BENCH_OUTAGE_ARGS='--seed 2'  extra arguments of `Levee.Benchmarks outage` (--seed, --scenarios,
#        --clients, --duration).
set -euo pipefail
cd "$(dirname "$0")/.."
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

outage="${LEVEE_BENCH_OUTAGE:-1}"
args=()
for a in "$@"; do
  if [ "$a" = "--outage-only" ]; then outage=only; else args+=("$a"); fi
done
set -- ${args[@]+"${args[@]}"}

if [ "$outage" = "0" ]; then scripts/install-deps.sh redis; else scripts/install-deps.sh redis postgres; fi

art=benchmarks/artifacts
if [ "$outage" = "only" ]; then rm -rf "$art/outage"; else rm -rf "$art"; fi
mkdir -p "$art"
dll=benchmarks/Levee.Benchmarks/bin/Release/net10.0/Levee.Benchmarks.dll
dotnet build benchmarks/Levee.Benchmarks/Levee.Benchmarks.csproj -c Release -nologo -v q -maxcpucount:1

run_outage() {
  # shellcheck disable=SC2086 # LEVEE_BENCH_OUTAGE_ARGS is a list of words
  dotnet "$dll" outage "$art/outage" ${LEVEE_BENCH_OUTAGE_ARGS:-} | tee "$art/outage.log"
  dotnet "$dll" report-outage "$art/outage/outage.md" docs/benchmarks.md
  echo "run.sh: outage table written to docs/benchmarks.md (drill reports in $art/outage)"
}

if [ -n "${LEVEE_BENCH_QUIET_LOAD:-}" ]; then
  waited=0
  while awk -v max="$LEVEE_BENCH_QUIET_LOAD" '{ exit !($1 >= max) }' /proc/loadavg && [ "$waited" -lt "${LEVEE_BENCH_QUIET_WAIT:-600}" ]; do
    echo "run.sh: load $(cut -d' ' -f1 /proc/loadavg) >= $LEVEE_BENCH_QUIET_LOAD, waiting..." >&2
    sleep 15; waited=$((waited + 15))
  done
fi

if [ "$outage" = "only" ]; then
  run_outage
  exit 0
fi

started=$(date -u '+%Y-%m-%d %H:%M UTC')
load_before=$(cut -d' ' -f1-3 /proc/loadavg)
filter=(--filter 'Levee.Benchmarks.*')
for a in "$@"; do [ "$a" = "--filter" ] && filter=(); done
dotnet "$dll" "${filter[@]}" --artifacts "$art" "$@" | tee "$art/benchmarkdotnet.log"
dotnet "$dll" stampede-calls 20 "$art/stampede-calls.md" | tee -a "$art/benchmarkdotnet.log"
dotnet "$dll" stampede-anatomy 40 "$art/stampede-anatomy.md" | tee -a "$art/benchmarkdotnet.log"
dotnet "$dll" paired 30 "$art" | tee -a "$art/benchmarkdotnet.log"
dotnet "$dll" remove-anatomy 30 "$art/remove-anatomy.md" | tee -a "$art/benchmarkdotnet.log"
dotnet "$dll" throughput-breakdown 4 100000 | grep ' r[0-9]*:' | tee "$art/throughput-breakdown.txt" | tee -a "$art/benchmarkdotnet.log"
load_after=$(cut -d' ' -f1-3 /proc/loadavg)

cpu=$(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2- | sed 's/^ *//')
mem=$(awk '/MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)
cat > "$art/header.md" <<MD
Run: \`benchmarks/run.sh $*\` on ${started} (commit $(git rev-parse --short HEAD 2>/dev/null || echo unknown)).
Machine: ${cpu:-unknown CPU}, $(nproc) cores, ${mem}, $(. /etc/os-release && echo "$PRETTY_NAME"), .NET SDK $(dotnet --version), redis-server $(redis-server --version | sed -n 's/.*v=\([^ ]*\).*/\1/p'), BenchmarkDotNet 0.15.8 (short job: 1 launch, few iterations). Ratios use the minimum: load from other work only adds time, so the minimum is the least-disturbed estimate.
Load average (1/5/15 min) before: ${load_before}; after: ${load_after}. The machine is shared with other work: at a load above ~1 on 2 cores the absolute times are inflated and noisy; compare lines of one table (same run), not runs.
MD
dotnet "$dll" report "$art" "$art/header.md" docs/benchmarks.md docs/l1-store.md > "$art/report.md"
echo "run.sh: tables written to docs/benchmarks.md and docs/l1-store.md (raw results in $art/results)"
if [ "$outage" != "0" ]; then run_outage; fi
