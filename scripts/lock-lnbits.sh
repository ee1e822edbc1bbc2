#!/usr/bin/env bash
# Re-pin the LNbits test server (tests/lnbits_server.py): ./scripts/lock-lnbits.sh
# requirements-lnbits.lock is what the tests' LNbits venv installs with pip --require-hashes, in
# its own venv under ~/.cache/vending-kiosk (never the project's .venv: lnbits' pins clash with
# the kiosk's); the fixture rebuilds that venv whenever this file changes. Pins, as in
# scripts/lock.sh, every file of every release (any platform), for Python 3.11.
# - bitstring<5: bolt11 2.1.1 imports ConstBitStream, which bitstring 5 removed.
# - pip: the fixture installs this pip first (by its hashes); Python 3.11's bundled pip 23.2
#   refuses the lock's pydantic[email] (asked for by fastapi-sso) in --require-hashes mode.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools/venv"
"$tools/venv/bin/python" -m pip install --quiet uv
printf '%s\n' 'lnbits==1.6.2' 'bitstring<5' 'pip>=25' > "$tools/lnbits.in"
cd "$tools"  # so the lock says "via -r lnbits.in", not a temp path
"$tools/venv/bin/uv" pip compile lnbits.in --universal --python-version 3.11 \
    --generate-hashes --quiet --custom-compile-command ./scripts/lock-lnbits.sh --output-file "$repo/requirements-lnbits.lock"
