#!/usr/bin/env bash
# Install vending-kiosk on Raspberry Pi OS Lite (or any Debian) from this checkout.
#   sudo scripts/install.sh [--prefix DIR] [--dry-run]
# --prefix DIR installs into a root under DIR (for testing on any Linux machine);
# --dry-run prints every action without doing it. Running it twice changes nothing new.
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
prefix=""
dry_run=0

usage() { sed -n '2,5p' "$0" | sed 's/^# \{0,1\}//'; }

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) prefix="${2:?--prefix needs a directory}"; shift 2 ;;
        --dry-run) dry_run=1; shift ;;
        -h|--help) usage; exit 0 ;;
        *) echo "install.sh: unknown option $1" >&2; usage >&2; exit 2 ;;
    esac
done

run() {
    echo "+ $*"
    if [ "$dry_run" -eq 0 ]; then "$@"; fi
}

step() { echo "==> $*"; }

venv="$prefix/opt/vending-kiosk"
etc="$prefix/etc/vending-kiosk"
data="$prefix/var/lib/vending-kiosk"
units="$prefix/etc/systemd/system"

step "virtual environment in $venv"
[ -x "$venv/bin/python" ] || run python3 -m venv "$venv"
run "$venv/bin/python" -m pip install --quiet "$repo"

step "assets in $prefix/usr/share/vending-kiosk/assets"
run mkdir -p "$prefix/usr/share/vending-kiosk"
run cp -r "$repo/assets" "$prefix/usr/share/vending-kiosk/"

step "config in $etc (an existing config is never overwritten)"
run mkdir -p "$etc" "$data"
[ -e "$etc/kiosk.toml" ] || run cp "$repo/assets/kiosk.example.toml" "$etc/kiosk.toml"
if [ ! -e "$etc/secrets.toml" ]; then
    run install -m 0600 "$repo/assets/secrets.example.toml" "$etc/secrets.toml"
fi

step "systemd unit in $units"
run mkdir -p "$units"
run install -m 0644 "$repo/systemd/vending-kiosk.service" "$units/vending-kiosk.service"

echo "installed. Edit $etc/kiosk.toml, check it with: $venv/bin/kiosk check-config $etc/kiosk.toml"
