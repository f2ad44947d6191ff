#!/usr/bin/env bash
# Create .venv and install the project (with FFmpeg, from PyPI) when missing or stale.
# Usage: scripts/bootstrap.sh [runtime|dev]
set -euo pipefail
cd "$(dirname "$0")/.."
want=${1:-runtime}
py=${PYTHON:-python3}

if ! command -v "$py" >/dev/null 2>&1; then
    echo "bootstrap: $py not found; install Python 3.11+ (Debian: apt-get install python3)" >&2
    exit 1
fi
if ! "$py" -c 'import sys; sys.exit(sys.version_info < (3, 11))'; then
    echo "bootstrap: Python 3.11+ needed, $("$py" --version) found" >&2
    exit 1
fi

if [ ! -x .venv/bin/python ]; then
    if ! "$py" -m venv .venv >/dev/null 2>&1; then
        rm -rf .venv
        # Debian ships venv (and ensurepip) in a separate package.
        if [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
            apt-get update -qq && apt-get install -y -qq python3-venv >/dev/null
        elif command -v sudo >/dev/null 2>&1 && command -v apt-get >/dev/null 2>&1; then
            sudo apt-get update -qq && sudo apt-get install -y -qq python3-venv >/dev/null
        else
            echo "bootstrap: cannot create a virtualenv; install python3-venv" >&2
            exit 1
        fi
        "$py" -m venv .venv
    fi
fi

extras=""
[ "$want" = dev ] && extras="[dev]"
stamp=".venv/.installed-$want-$(sha256sum pyproject.toml | cut -c1-16)"
if [ ! -f "$stamp" ]; then
    echo "bootstrap: installing the project$extras into .venv (FFmpeg comes with it)..." >&2
    .venv/bin/python -m pip install --quiet --upgrade pip >/dev/null 2>&1 || true
    .venv/bin/python -m pip install --quiet -e ".$extras" 2>&1 | grep -v "is ignored" >&2 || true
    .venv/bin/python -c 'import app, trio, av, imageio_ffmpeg' \
        || { echo "bootstrap: installation failed" >&2; exit 1; }
    touch "$stamp"
fi
