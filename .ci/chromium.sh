#!/usr/bin/env bash
# Headless Chromium and its WebDriver for the web UI's browser tests
# (web/tests/browser.rs): Debian's packages, installed once.
set -euo pipefail
if command -v chromium >/dev/null && command -v chromedriver >/dev/null; then
    exit 0
fi
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq >&2
apt-get install -y -qq --no-install-recommends chromium chromium-driver >&2
