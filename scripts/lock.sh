#!/usr/bin/env bash
# Re-pin the dependencies after changing the ranges in pyproject.toml: ./scripts/lock.sh
# requirements.lock is what the Pi installs (scripts/install.sh, the SD image);
# requirements-test.lock adds the test tools and the fleet console (its `fleet` extra) for
# scripts/venv.sh and CI. Every file of every
# pinned release is hashed (any platform: a Pi's aarch64 wheels too), and pip installs them
# with --require-hashes, so two images built on different days hold the same code.
set -euo pipefail
repo="$(cd "$(dirname "$0")/.." && pwd)"
tools="$(mktemp -d)"
trap 'rm -rf "$tools"' EXIT
python3 -m venv "$tools"
"$tools/bin/python" -m pip install --quiet uv
compile() {
    "$tools/bin/uv" pip compile "$repo/pyproject.toml" --universal --python-version 3.11 \
        --generate-hashes --no-header --quiet "$@"
}
compile --output-file "$repo/requirements.lock"
# The test tools and the fleet console on top of exactly those pins.
compile --extra test --extra fleet --constraint "$repo/requirements.lock" \
    --output-file "$repo/requirements-test.lock"
