#!/bin/sh
# Installs the Debian tools the tests use that pip cannot: promtool (Debian's `prometheus` package),
# which checks and unit-tests the alert rules in deploy/prometheus/.
# Idempotent: a no-op when promtool is already on the PATH. Needs root (or sudo) and apt-get on a
# fresh machine; elsewhere it says what is missing and exits 0, and the tests that need promtool skip
# (or fail with CI=true).
set -eu

if command -v promtool >/dev/null 2>&1; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-debian-tools: no apt-get here; install Prometheus' promtool by hand" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-debian-tools: not root and no password-less sudo; as root: apt-get install prometheus" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing (fresh image) or stale: a failed install retries after an update.
# --no-install-recommends: only the binaries; policy-rc.d keeps the package from starting a server.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ] && [ -z "$SUDO" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod +x "$POLICY" && ADDED_POLICY=1
fi
install() { $SUDO apt-get install -y -q --no-install-recommends prometheus >/dev/null; }
if ! install 2>/dev/null; then
    $SUDO apt-get update -q >/dev/null
    install
fi
if [ -n "$ADDED_POLICY" ]; then rm -f "$POLICY"; fi
command -v promtool >/dev/null 2>&1 || { echo "install-debian-tools: promtool still missing" >&2; exit 1; }
