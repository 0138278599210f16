#!/usr/bin/env bash
# Runs every Levee test: installs the Debian packages the tests need when missing,
# builds once, runs each test project against real redis-server / redis-sentinel /
# PostgreSQL processes that the tests start themselves, then the promtool rule tests.
# Exit code: non-zero when anything failed. Last line: "N passed, N failed".
set -uo pipefail
cd "$(dirname "$0")"
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1
scripts/install-deps.sh redis postgres prometheus || { echo "test.sh: could not install dependencies" >&2; exit 1; }

results="$(mktemp -d "${TMPDIR:-/tmp}/levee-test-results.XXXXXX")"
export LEVEE_TEST_ROOT="$results/processes"   # every process a test starts lives below here
mkdir -p "$LEVEE_TEST_ROOT"

cleanup() {
  # Belt and braces: stop any process a crashed test host left behind, by the PID it recorded.
  if [ -d "$LEVEE_TEST_ROOT" ]; then
    find "$LEVEE_TEST_ROOT" -name '*.pid' -type f 2>/dev/null | while read -r f; do
      pid=$(head -c 16 "$f" | tr -dc '0-9'); [ -n "$pid" ] && kill -9 "$pid" 2>/dev/null || true
    done
  fi
}
trap cleanup EXIT

dotnet build Levee.slnx -c Release -maxcpucount:2 -nologo -v q || { echo "0 passed, 1 failed"; exit 1; }

passed=0; failed=0; rc=0
for proj in tests/*/*.csproj; do
  name=$(basename "$proj" .csproj)
  echo "=== $name"
  dotnet test "$proj" -c Release --no-build --nologo \
    --logger "trx;LogFileName=$name.trx" --results-directory "$results" \
    --blame-hang-timeout 10m -- xUnit.MaxParallelThreads=2 2>&1 | tee "$results/$name.log"
  [ "${PIPESTATUS[0]}" -eq 0 ] || rc=1
  line=$(grep -E '(Passed|Failed)!' "$results/$name.log" | tail -1)
  p=$(echo "$line" | sed -n 's/.*Passed: *\([0-9]*\).*/\1/p'); f=$(echo "$line" | sed -n 's/.*Failed: *\([0-9]*\).*/\1/p')
  [ -z "$line" ] && { echo "test.sh: $name reported no result"; rc=1; f=$((f+1)); }
  passed=$((passed + ${p:-0})); failed=$((failed + ${f:-0}))
done

if [ -x deploy/prometheus/test-rules.sh ]; then
  echo "=== promtool rule tests"
  if deploy/prometheus/test-rules.sh; then passed=$((passed+1)); else failed=$((failed+1)); rc=1; fi
fi

echo "results in $results"
echo "$passed passed, $failed failed"
[ "$failed" -eq 0 ] || rc=1
exit $rc
