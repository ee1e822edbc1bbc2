#!/usr/bin/env bash
# Start the demo kiosk (sandbox gateway + simulated machine): ./scripts/demo.sh [kiosk demo args]
source "$(dirname "$0")/venv.sh"
exec "$venv/bin/kiosk" demo "$@"
