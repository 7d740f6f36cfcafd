#!/usr/bin/env bash
# Set up everything the whole test suite needs on a fresh Debian machine, then run it.
# Python packages from PyPI; Debian's chromium and chromedriver for the app's browser tests.
set -euo pipefail
cd "$(dirname "$0")/.."
python -m pip install -q -e '.[test]'
if ! command -v chromium >/dev/null || ! command -v chromedriver >/dev/null; then
    if [ "$(id -u)" = 0 ]; then
        apt-get update -qq && apt-get install -y -qq chromium chromium-driver >/dev/null
    else
        sudo apt-get update -qq && sudo apt-get install -y -qq chromium chromium-driver >/dev/null
    fi
fi
python -m pytest "$@"
