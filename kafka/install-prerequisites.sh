#!/usr/bin/env bash
# Installs Java 17 and Maven through apt when they are missing: the broker needs both.
set -euo pipefail

missing=()
java_major() { java -version 2>&1 | sed -n 's/.*version "\([0-9]*\).*/\1/p' | head -1; }
if ! command -v java >/dev/null || [ "$(java_major)" -lt 17 ]; then
    missing+=(openjdk-17-jre-headless)
fi
command -v mvn >/dev/null || missing+=(maven)

if [ ${#missing[@]} -gt 0 ]; then
    echo "==> installing ${missing[*]} through apt (the Kafka broker needs Java 17 and Maven)"
    if [ "$(id -u)" -ne 0 ]; then
        echo "streamsim: ${missing[*]} missing; install them (sudo apt-get install ${missing[*]}) and run make again" >&2
        exit 1
    fi
    apt-get update -q
    DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
fi
