#!/usr/bin/env bash
# Installs what the gateway benchmark needs from Debian's packages: nginx and wrk.
# Idempotent: a tool already on PATH (or nginx in /usr/sbin) is left alone.
set -euo pipefail

need=()
command -v nginx >/dev/null 2>&1 || [ -x /usr/sbin/nginx ] || need+=(nginx-light)
command -v wrk >/dev/null 2>&1 || need+=(wrk)
if [ ${#need[@]} -eq 0 ]; then
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  SUDO="sudo"
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# nginx-light is enough (static files + proxy_pass); fall back to nginx where it is not packaged.
if ! $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null; then
  need=("${need[@]/nginx-light/nginx}")
  $SUDO apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
fi
# Debian's postinst may start a system nginx on port 80; the benchmark runs its own instances.
if command -v systemctl >/dev/null 2>&1; then $SUDO systemctl stop nginx >/dev/null 2>&1 || true; fi
