#!/usr/bin/env bash
# Installs Debian's Chromium through apt when it is missing: the orchestrator page's browser
# test drives it headless (through Playwright's own driver, so no browser is downloaded).
set -euo pipefail

if command -v chromium >/dev/null; then
    exit 0
fi
echo "==> installing chromium through apt (the browser test of the orchestrator page needs it)"
if [ "$(id -u)" -ne 0 ]; then
    echo "streamsim: chromium missing; install it (sudo apt-get install chromium) and run make again" >&2
    exit 1
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q chromium
