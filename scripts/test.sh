#!/usr/bin/env bash
# Run the whole test suite: ./scripts/test.sh [pytest args]
# Four workers even on two cores: most tests wait (loopback servers, subprocess kiosks, payment
# windows). Each module stays on one worker (loadscope): the staged demos start once, together.
# -n 0 after it runs everything in this process, one test after another.
source "$(dirname "$0")/venv.sh"
cd "$repo"
exec "$venv/bin/python" -m pytest -n 4 --dist loadscope "$@"
