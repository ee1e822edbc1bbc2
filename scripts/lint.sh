#!/usr/bin/env bash
# The quality gates: ruff (rules that catch bugs) over the code and tests, mypy --strict over
# kiosk/, hardware/ and vending_fleet/ (settings in pyproject.toml). ./scripts/lint.sh
source "$(dirname "$0")/venv.sh"
cd "$repo"
"$venv/bin/ruff" check kiosk hardware vending_fleet tests bench
"$venv/bin/mypy"
