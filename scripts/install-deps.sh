#!/usr/bin/env bash
# Installs the Debian packages Levee's tests and drill need, only when missing.
# Usage: scripts/install-deps.sh [redis] [postgres] [prometheus] [exporters]   (no argument: the first three)
# Installs with apt as root, or through sudo.
set -euo pipefail
want=("$@"); [ ${#want[@]} -eq 0 ] && want=(redis postgres prometheus)
pkgs=()
for w in "${want[@]}"; do
  case "$w" in
    redis)
      command -v redis-server >/dev/null || pkgs+=(redis-server)
      command -v redis-sentinel >/dev/null || [ -x /usr/bin/redis-sentinel ] || pkgs+=(redis-sentinel)
      command -v redis-cli >/dev/null || pkgs+=(redis-tools) ;;
    postgres)
      if ! command -v initdb >/dev/null && ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1; then pkgs+=(postgresql); fi ;;
    prometheus)
      command -v promtool >/dev/null || pkgs+=(prometheus) ;;
    exporters)
      # the alert rules' end-to-end checks (deploy/prometheus/e2e-*.sh)
      command -v prometheus-redis-exporter >/dev/null || pkgs+=(prometheus-redis-exporter)
      command -v prometheus-postgres-exporter >/dev/null || pkgs+=(prometheus-postgres-exporter)
      command -v curl >/dev/null || pkgs+=(curl) ;;
    *) echo "install-deps: unknown component '$w'" >&2; exit 2 ;;
  esac
done
[ ${#pkgs[@]} -eq 0 ] && exit 0
echo "install-deps: installing ${pkgs[*]}" >&2
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  command -v sudo >/dev/null || { echo "install-deps: need root to run: apt-get install -y ${pkgs[*]}" >&2; exit 1; }
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
# the package lists may be missing on a fresh machine; update once, then install
$SUDO apt-get update -qq || true
# do not start the distribution's own services: Levee starts its own processes on free ports
if [ ! -e /usr/sbin/policy-rc.d ]; then
  printf '#!/bin/sh\nexit 101\n' | $SUDO tee /usr/sbin/policy-rc.d >/dev/null; $SUDO chmod +x /usr/sbin/policy-rc.d; cleanup_policy=1
fi
$SUDO apt-get install -y -qq --no-install-recommends "${pkgs[@]}" >&2
[ "${cleanup_policy:-0}" = 1 ] && $SUDO rm -f /usr/sbin/policy-rc.d
exit 0
