#!/usr/bin/env bash
# Installs Debian's kcat through apt when it is missing: `streamsim bench kcat` compares the
# sink's read speed with kcat's raw read of the same topic.
set -euo pipefail

if command -v kcat >/dev/null; then
    exit 0
fi
echo "==> installing kcat through apt (streamsim bench kcat compares the sink with it)"
if [ "$(id -u)" -ne 0 ]; then
    echo "streamsim: kcat missing; install it (sudo apt-get install kcat) and run make again" >&2
    exit 1
fi
apt-get update -q
DEBIAN_FRONTEND=noninteractive apt-get install -y -q kcat
