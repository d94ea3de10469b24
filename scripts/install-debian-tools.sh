#!/bin/sh
# Installs the Debian tools the tests use that pip cannot:
# - promtool (Debian's `prometheus` package), which checks and unit-tests the alert rules in deploy/prometheus/;
# - chromium, the headless browser the dashboard's browser tests drive through Playwright with
#   executable_path=/usr/bin/chromium (or CHROMIUM_PATH); Playwright never downloads a browser here.
# Idempotent: a silent no-op when both are there. Needs root (or password-less sudo) and apt-get on a fresh
# machine; elsewhere it says what is missing and exits 0, and the tests that need the tool skip (or fail with
# CI=true).
set -eu

BROWSER="${CHROMIUM_PATH:-/usr/bin/chromium}"
need=""
command -v promtool >/dev/null 2>&1 || need="$need prometheus"
[ -x "$BROWSER" ] || need="$need chromium fonts-dejavu-core"
if [ -z "$need" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-debian-tools: no apt-get here; install by hand:$need" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-debian-tools: not root and no password-less sudo; as root: apt-get install$need" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# --no-install-recommends: only the binaries; policy-rc.d keeps a package from starting a server.
POLICY=/usr/sbin/policy-rc.d
ADDED_POLICY=""
if [ ! -e "$POLICY" ] && [ -z "$SUDO" ]; then
    printf '#!/bin/sh\nexit 101\n' >"$POLICY" && chmod +x "$POLICY" && ADDED_POLICY=1
fi
# The package lists may be missing (fresh image) or stale: a failed install retries after an update.
install() { $SUDO apt-get install -y -q --no-install-recommends $need >/dev/null; }
if ! install 2>/dev/null; then
    $SUDO apt-get update -q >/dev/null
    install
fi
if [ -n "$ADDED_POLICY" ]; then rm -f "$POLICY"; fi
command -v promtool >/dev/null 2>&1 || { echo "install-debian-tools: promtool still missing" >&2; exit 1; }
[ -x "$BROWSER" ] || { echo "install-debian-tools: $BROWSER still missing" >&2; exit 1; }
