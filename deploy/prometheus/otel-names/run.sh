#!/usr/bin/env bash
# Prints the Prometheus names OpenTelemetry .NET's Prometheus exporter gives Levee's instruments
# (a real scrape of a real exporter on a free loopback port), and writes the sorted list of metric
# families to names.txt. test-rules.sh checks that every levee_* name the alert rules and the
# dashboard use is in names.txt.
# Usage: deploy/prometheus/otel-names/run.sh            (needs the dotnet SDK and the NuGet feed)
set -euo pipefail
cd "$(dirname "$0")"
port=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()')
out="$(mktemp)"; trap 'rm -f "$out"' EXIT
dotnet run -c Release -v q -- "$port" > "$out"
# Classic text format (first block): the series lines without the histogram buckets.
awk '/^##### Accept/{n++} n==1' "$out" | grep -v '_bucket{' | grep -v '^#####'
echo "----- bucket boundaries (le) of levee_l2_duration_seconds, the exporter's default"
awk '/^##### Accept/{n++} n==1' "$out" | sed -n 's/^levee_l2_duration_seconds_bucket{.*le="\([^"]*\)"}.*/\1/p' | paste -sd' '
echo "----- OpenMetrics as Prometheus 3 asks for it (allow-utf-8): content type and families"
awk '/^##### Accept/{n++} n==2' "$out" | grep -E '^##### Content-Type|^# TYPE levee'
awk '/^##### Accept/{n++} n==1' "$out" | sed -n 's/^# TYPE \(levee_[a-z0-9_]*\) \([a-z]*\)$/\1 \2/p' | sort > names.txt
echo "----- names.txt"; cat names.txt
