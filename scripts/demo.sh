#!/usr/bin/env bash
# Start the demo kiosk (sandbox gateway + simulated machine) and, beside it, the fleet console
# (embedded MQTT broker, dashboard; its address and a login on stderr):
#     ./scripts/demo.sh [kiosk demo args]        e.g. --fleet-machines 5, --no-console
source "$(dirname "$0")/venv.sh"
# The repository first on the path: the console package (vending_fleet) is found even in a
# .venv whose editable install predates it.
export PYTHONPATH="$repo${PYTHONPATH:+:$PYTHONPATH}"
exec "$venv/bin/kiosk" demo "$@"
