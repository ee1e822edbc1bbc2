#!/usr/bin/env bash
# Run the whole test suite: ./scripts/test.sh [pytest args]
source "$(dirname "$0")/venv.sh"
cd "$repo"
exec "$venv/bin/python" -m pytest "$@"
