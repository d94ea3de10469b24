#!/bin/sh
# Installs Debian's `chromium` (the headless browser the dashboard's browser tests drive through
# Playwright with executable_path=/usr/bin/chromium; Playwright never downloads a browser here).
# Idempotent: a quick no-op when /usr/bin/chromium (or CHROMIUM_PATH) is already there. Needs root (or
# password-less sudo) and apt-get; elsewhere it says what is missing and exits 0, and the browser tests
# skip (or fail with CI=true).
set -eu

BROWSER="${CHROMIUM_PATH:-/usr/bin/chromium}"
if [ -x "$BROWSER" ]; then
    exit 0
fi
if ! command -v apt-get >/dev/null 2>&1; then
    echo "install-browser: no apt-get here; install Chromium by hand (or set CHROMIUM_PATH)" >&2
    exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
    if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then
        SUDO="sudo -n"
    else
        echo "install-browser: not root and no password-less sudo; as root: apt-get install chromium" >&2
        exit 0
    fi
fi
export DEBIAN_FRONTEND=noninteractive
# The package lists may be missing (fresh image) or stale: update first when the package is not found.
if ! apt-cache show chromium >/dev/null 2>&1; then
    $SUDO apt-get update -q >/dev/null
fi
install() { $SUDO apt-get install -y -q --no-install-recommends chromium fonts-dejavu-core >/dev/null; }
if ! install 2>/dev/null; then
    $SUDO apt-get update -q >/dev/null
    install
fi
[ -x "$BROWSER" ] || { echo "install-browser: $BROWSER still missing after apt-get install chromium" >&2; exit 1; }
