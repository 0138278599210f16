#!/usr/bin/env bash
# Checks Levee's Prometheus alert rules; ./test.sh runs it.
#   1. promtool check rules   on every deploy/prometheus/alerts/*.yml
#   2. promtool test rules    on every deploy/prometheus/tests/*.yml (Prometheus' own alert unit tests)
#      and promtool check config on prometheus.example.yml
#   3. consistency checks:    every alert has a severity label, summary, description and a
#      runbook_url whose anchor exists in docs/observability.md; every alert is expected to FIRE in
#      at least one test and to stay SILENT (exp_alerts: []) in at least one; every levee_* metric
#      the rules and the Grafana dashboard use is one OpenTelemetry's exporter really serves
#      (otel-names/names.txt); the dashboard is valid JSON and its queries parse.
#   4. end to end (e2e-incident.sh 3, e2e-postgres.sh): the rules in a real Prometheus server against
#      real exporters, Redis/Sentinel and PostgreSQL processes; LEVEE_SKIP_E2E=1 skips them.
# Installs the Debian package `prometheus` (for promtool) when promtool is missing.
# Exit code: 0 when everything passed, 1 otherwise.
set -uo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
repo="$(cd "$here/../.." && pwd)"

if ! command -v promtool >/dev/null; then
  "$repo/scripts/install-deps.sh" prometheus || { echo "test-rules: promtool missing and could not install it: apt-get install -y prometheus" >&2; exit 1; }
fi
command -v python3 >/dev/null || { echo "test-rules: python3 missing: apt-get install -y python3" >&2; exit 1; }

failed=0
shopt -s nullglob
rules=("$here"/alerts/*.yml)
tests=("$here"/tests/*.yml)
[ ${#rules[@]} -gt 0 ] || { echo "test-rules: no rule files in $here/alerts" >&2; exit 1; }
[ ${#tests[@]} -gt 0 ] || { echo "test-rules: no test files in $here/tests" >&2; exit 1; }

echo "--- promtool check rules"
(cd "$here" && promtool check rules "${rules[@]#"$here"/}") || failed=1

echo "--- promtool test rules"
# promtool resolves rule_files relative to the test file's folder
(cd "$here/tests" && promtool test rules "${tests[@]##*/}") || failed=1

echo "--- promtool check config prometheus.example.yml"
# Debian's promtool is built without Kubernetes service discovery, so the kubernetes_sd_configs
# block is swapped for a static target in a temp copy; everything else (relabeling, rule_files) is checked.
tmpcfg="$(mktemp "$here/.prometheus.example.check.XXXXXX")"   # beside the original: rule_files are relative
trap 'rm -f "$tmpcfg"' EXIT
awk '/^    kubernetes_sd_configs:/{print "    static_configs:"; print "      - targets: [\"pod-address:9121\"]"; skip=1; next}
     skip && /^    [a-z_]+:/{skip=0} !skip' "$here/prometheus.example.yml" > "$tmpcfg"
(cd "$here" && promtool check config "${tmpcfg##*/}") || failed=1
rm -f "$tmpcfg"

echo "--- consistency"
python3 - "$here" "$repo" <<'PY' || failed=1
import json, os, re, sys
here, repo = sys.argv[1], sys.argv[2]
problems = []

def rel(p): return os.path.relpath(p, repo)

# Alerts: name, line, labels/annotations seen inside the rule block (regex over the YAML text:
# the layout is ours and promtool already validated the syntax).
alerts = {}
exprs = []
for fn in sorted(os.listdir(os.path.join(here, "alerts"))):
    if not fn.endswith(".yml"): continue
    path = os.path.join(here, "alerts", fn)
    lines = open(path, encoding="utf-8").read().split("\n")
    cur = None
    for i, line in enumerate(lines, 1):
        m = re.match(r"^\s*- alert:\s*(\S+)", line)
        if m:
            cur = {"file": rel(path), "line": i, "text": ""}
            if m.group(1) in alerts: problems.append(f"{rel(path)}:{i}: alert {m.group(1)} defined twice")
            alerts[m.group(1)] = cur
            continue
        if re.match(r"^\s*- (record|alert):", line) or re.match(r"^\s*- name:", line): cur = None
        if cur is not None: cur["text"] += line + "\n"
    exprs.append(open(path, encoding="utf-8").read())

doc_path = os.path.join(repo, "docs", "observability.md")
anchors = set()
if os.path.exists(doc_path):
    for line in open(doc_path, encoding="utf-8"):
        m = re.match(r"^#{1,6}\s+(.*?)\s*$", line)
        if m:  # GitHub's heading slug: lower case, drop punctuation but - and _, spaces -> -
            slug = re.sub(r"[^\w\- ]", "", m.group(1).strip().lower()).replace(" ", "-")
            anchors.add(slug)
        for a in re.findall(r'<a (?:name|id)="([^"]+)"', line): anchors.add(a)
else:
    problems.append(f"docs/observability.md is missing (runbook_url targets)")

for name, a in alerts.items():
    where = f"{a['file']}:{a['line']}: {name}"
    t = a["text"]
    if not re.search(r"^\s*severity:\s*(critical|warning|info)\s*$", t, re.M): problems.append(f"{where}: no severity label (critical|warning|info)")
    for key in ("summary", "description", "runbook_url"):
        if not re.search(rf"^\s*{key}:", t, re.M): problems.append(f"{where}: no {key} annotation")
    m = re.search(r'runbook_url:\s*"?([^"\s]+)"?', t)
    if m:
        url = m.group(1)
        if not url.startswith("docs/observability.md#"): problems.append(f"{where}: runbook_url {url} does not point to docs/observability.md#<anchor>")
        elif anchors and url.split("#", 1)[1] not in anchors: problems.append(f"{where}: runbook_url anchor #{url.split('#',1)[1]} not found in docs/observability.md")

# Tests: for each alertname, does some eval expect it firing, and some eval expect silence?
fires, silent = set(), set()
for fn in sorted(os.listdir(os.path.join(here, "tests"))):
    if not fn.endswith(".yml"): continue
    lines = open(os.path.join(here, "tests", fn), encoding="utf-8").read().split("\n")
    for i, line in enumerate(lines):
        m = re.match(r"^\s*alertname:\s*(\S+)\s*$", line)
        if not m: continue
        nxt = lines[i + 1] if i + 1 < len(lines) else ""
        if re.match(r"^\s*exp_alerts:\s*\[\]\s*$", nxt): silent.add(m.group(1))
        elif re.match(r"^\s*exp_alerts:\s*$", nxt): fires.add(m.group(1))
        if m.group(1) not in alerts: problems.append(f"deploy/prometheus/tests/{fn}:{i+1}: test for unknown alert {m.group(1)}")
for name, a in alerts.items():
    if name not in fires: problems.append(f"{a['file']}:{a['line']}: {name} is never expected to fire in deploy/prometheus/tests")
    if name not in silent: problems.append(f"{a['file']}:{a['line']}: {name} is never expected to stay silent (exp_alerts: []) in deploy/prometheus/tests")

# Levee metric names: must be what the OpenTelemetry Prometheus exporter serves.
names_path = os.path.join(here, "otel-names", "names.txt")
known = {l.split()[0] for l in open(names_path, encoding="utf-8") if l.strip()}
def check_names(text, where):
    for n in sorted(set(re.findall(r"\blevee_[a-z0-9_]+", text))):
        base = re.sub(r"_(bucket|sum|count)$", "", n)
        if n not in known and base not in known: problems.append(f"{where}: {n} is not a metric Levee's meter exports (see {rel(names_path)})")
for e in exprs: pass
for fn in sorted(os.listdir(os.path.join(here, "alerts"))):
    if fn.endswith(".yml"):
        txt = "\n".join(l for l in open(os.path.join(here, "alerts", fn), encoding="utf-8") if not l.lstrip().startswith("#"))
        check_names(txt, f"deploy/prometheus/alerts/{fn}")

dash = os.path.join(repo, "deploy", "grafana", "levee-dashboard.json")
if os.path.exists(dash):
    try:
        d = json.load(open(dash, encoding="utf-8"))
        exprs_d = [t.get("expr", "") for p in d.get("panels", []) for t in p.get("targets", [])]
        check_names("\n".join(exprs_d), rel(dash))
        # every panel query must parse: substitute Grafana's variables and let promtool check them
        import subprocess, tempfile
        with tempfile.NamedTemporaryFile("w", suffix=".yml", delete=False) as tmp:
            tmp.write("groups:\n  - name: dashboard-queries\n    rules:\n")
            for i, e in enumerate(exprs_d):
                e = e.replace("$__rate_interval", "5m").replace("$__interval", "1m")
                e = re.sub(r"\$\{?[a-z_]+\}?", ".*", e)
                tmp.write(f"      - record: dashboard:query_{i}\n        expr: {json.dumps(e)}\n")
        r = subprocess.run(["promtool", "check", "rules", tmp.name], capture_output=True, text=True)
        os.unlink(tmp.name)
        if r.returncode != 0:
            problems.append(f"{rel(dash)}: a panel query does not parse: {(r.stdout + r.stderr).strip()}")
        else:
            print(f"  {len(exprs_d)} dashboard queries parse (promtool check rules)")
    except json.JSONDecodeError as ex:
        problems.append(f"{rel(dash)}:{ex.lineno}: invalid JSON: {ex.msg}")

for p in problems: print("  " + p)
print(f"  {len(alerts)} alerts, {len(fires)} with a firing test, {len(silent)} with a silent test, {len(problems)} problem(s)")
sys.exit(1 if problems else 0)
PY

# 4. end to end: the rules in a real Prometheus against real exporters, Redis/Sentinel and PostgreSQL
#    (about a minute; they install prometheus-redis-exporter / prometheus-postgres-exporter when
#    missing). LEVEE_SKIP_E2E=1 skips them.
if [ "${LEVEE_SKIP_E2E:-0}" = 1 ]; then
  echo "--- end to end: skipped (LEVEE_SKIP_E2E=1)"
else
  for e2e in "e2e-incident.sh 3" "e2e-postgres.sh"; do
    echo "--- end to end: $e2e"
    log="$(mktemp)"
    if "$here"/$e2e > "$log" 2>&1; then grep -E '^  ok: |OK$' "$log"; else cat "$log"; failed=1; fi
    rm -f "$log"
  done
fi

if [ "$failed" -eq 0 ]; then echo "test-rules: OK"; else echo "test-rules: FAILED"; fi
exit "$failed"
