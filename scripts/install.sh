#!/usr/bin/env bash
# Install vending-kiosk from this checkout on Raspberry Pi OS Lite (Bookworm or Trixie, 64-bit).
# Run `scripts/install.sh --help` for what it does; docs/operators.md for the whole picture.
set -Eeuo pipefail
trap 'echo "install.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly SERVICE_USER=kiosk
readonly SERVICE_GROUPS=(gpio dialout video render input)
readonly UNITS=(vending-kiosk.service vending-kiosk-selftest.service vending-kiosk-firstboot.service)
readonly ENABLED_UNITS=(vending-kiosk.service vending-kiosk-firstboot.service)
# python3-venv: the virtual environment. python3-lgpio: gpiozero's pin backend (the only one
# on a Pi 5); PyPI has no lgpio wheel for Trixie's Python 3.13 (pip would need swig and a
# compiler), so it comes from apt and the venv sees it through --system-site-packages.
# SDL with its KMSDRM backend, freetype and the image codecs are bundled in the pygame-ce and
# Pillow wheels: no libsdl2 packages, no python3-dev.
readonly APT_REQUIRED=(python3 python3-venv ca-certificates)
readonly APT_OPTIONAL=(python3-lgpio git)
readonly CMDLINE_SET=(consoleblank=0 loglevel=3 vt.global_cursor_default=0)
readonly CMDLINE_FLAGS=(quiet logo.nologo)
readonly BLOCK_BEGIN="# >>> vending-kiosk: managed by scripts/install.sh, rewritten on every run"
readonly BLOCK_END="# <<< vending-kiosk"
readonly STEPS=11

PREFIX=""
DRY_RUN=0
SMOKE=1
IMAGE_BUILD=0
CHANGES=0
STEP=0
FILE_CHANGED=0
WROTE=0
SMOKE_FAILED=0
CHECK_OUTPUT=""
DRIVER=""
DRIVER_FILE=""
TMP_DIR=""
VENV="" ETC="" DATA="" BOOT=""

usage() {
    cat <<'EOF'
Usage: sudo scripts/install.sh [--dry-run] [--prefix DIR] [--no-smoke-test] [--image-build]

Installs vending-kiosk from this checkout on Raspberry Pi OS Lite (Bookworm or Trixie,
64-bit). Idempotent: run it again after `git pull` to update; a run with nothing to do says
"nothing to change" and touches nothing. Steps:

   1 preflight     root, Python >= 3.11, OS release
   2 packages      apt: python3-venv (with its bundled pip) and ca-certificates, plus
                   python3-lgpio and git when the archive has them (only what is missing)
   3 user          system user "kiosk" in the groups gpio dialout video render input
                   (only the groups that exist)
   4 venv          /opt/vending-kiosk (--system-site-packages, for apt's lgpio) with this
                   checkout installed by pip; reinstalled only when the sources change
   5 assets        /usr/share/vending-kiosk/assets, /usr/share/doc/vending-kiosk
   6 config        /etc/vending-kiosk/kiosk.toml from assets/kiosk.example.toml, and
                   secrets.toml (0600, owner kiosk) from assets/secrets.example.toml;
                   an existing file is never overwritten
   7 data          /var/lib/vending-kiosk (owner kiosk, 0750): the sales journal
   8 udev          /etc/udev/rules.d/99-vending-kiosk.rules: /dev/mdb-bridge for the
                   Qibixx MDB bridge, hidden from ModemManager
   9 units         /etc/systemd/system/vending-kiosk{,-selftest,-firstboot}.service; enables
                   the kiosk and the operator-file import, disables the login prompt on tty1,
                   boots to multi-user.target (no desktop)
  10 boot          /boot/firmware/cmdline.txt gets consoleblank=0 loglevel=3 quiet logo.nologo
                   vt.global_cursor_default=0; config.txt gets a marked block (disable_splash).
                   When the active config says [vend] driver = "mdb": enable_uart=1
                   (dtparam=uart0=on on a Pi 5) and the serial console leaves cmdline.txt.
                   The active config is /boot/firmware/vending-kiosk.toml when present (it
                   is imported at boot), else /etc/vending-kiosk/kiosk.toml. Also copies the
                   operator file example to /boot/firmware/vending-kiosk.example.toml.
  11 smoke test    SDL_VIDEODRIVER=kmsdrm initialises with the installed venv (skipped
                   without /dev/dri/card*, under --prefix, in an image build, or while the
                   kiosk runs), and `kiosk check-config` passes on the installed config; a
                   config whose only errors are placeholders still to fill in (a fresh
                   install's example) is reported as "not configured yet", not as a failure

A first install does not start the kiosk (it would take over tty1, maybe your console):
reboot. An update restarts a running kiosk when something changed.

Options:
  --dry-run        print every action without doing it: nothing is written, installed or run
  --prefix DIR     install into a root under DIR (DIR/opt, DIR/etc, DIR/var, DIR/usr/share,
                   DIR/boot/firmware) to try the installer on any Linux machine. Under
                   --prefix nothing outside DIR is changed: apt-get, useradd/usermod, chown,
                   systemctl and udevadm are not run, only printed as "skipped (--prefix)".
                   Boot files are edited only if DIR/boot/firmware/cmdline.txt and
                   config.txt exist. (pip keeps using its download cache, and builds the
                   package from a copy of the checkout in a temporary directory.)
  --no-smoke-test  skip step 11
  --image-build    inside an image build (pi-gen chroot; also detected): enable units, but
                   start or reload nothing and skip the display test
  -h, --help       this help
EOF
}

die() { echo "install.sh: error: $*" >&2; exit 1; }
say() { echo "    $*"; }
step() { STEP=$((STEP + 1)); echo "==> [$STEP/$STEPS] $*"; }

quote() {
    local out="" arg
    for arg in "$@"; do out+="$(printf '%q' "$arg") "; done
    printf '%s' "${out% }"
}

# An action that changes something: counted, printed, and run unless --dry-run.
act() {
    local description="$1"
    shift
    CHANGES=$((CHANGES + 1))
    if [ "$DRY_RUN" -eq 1 ]; then
        say "would: $description"
        say "  + $(quote "$@")"
    else
        say "change: $description"
        "$@"
    fi
}

# An action on the system outside the install root (apt, users, systemd, udev, ownership):
# under --prefix only printed.
sys_act() {
    if [ -n "$PREFIX" ]; then
        say "skipped (--prefix): $1"
        shift
        say "  + $(quote "$@")"
        return 0
    fi
    act "$@"
}

live_systemd() { [ -z "$PREFIX" ] && [ "$IMAGE_BUILD" -eq 0 ] && [ -d /run/systemd/system ]; }

in_chroot() {
    local root init
    root="$(stat -c %d:%i / 2>/dev/null)" || return 1
    init="$(stat -c %d:%i /proc/1/root/. 2>/dev/null)" || return 1
    [ "$root" != "$init" ]
}

cleanup() { if [ -n "$TMP_DIR" ]; then rm -rf "$TMP_DIR"; fi; }
trap cleanup EXIT

# ------------------------------------------------------------------------------ files

mode_of() { stat -c %a "$1"; }

ensure_dir() {  # PATH MODE [OWNER:GROUP]
    local path="$1" mode="$2" owner="${3:-}"
    if [ ! -d "$path" ]; then
        act "create directory $path ($mode)" install -d -m "$mode" "$path"
    elif [ "$(mode_of "$path")" != "${mode#0}" ]; then
        act "set mode $mode on $path" chmod "$mode" "$path"
    fi
    if [ -n "$owner" ]; then ensure_owner "$path" "$owner"; fi
}

ensure_owner() {  # PATH OWNER:GROUP
    local path="$1" owner="$2"
    if [ -n "$PREFIX" ]; then
        say "skipped (--prefix): chown $owner $path"
        return 0
    fi
    if [ -e "$path" ] && [ "$(stat -c %U:%G "$path")" = "$owner" ]; then
        return 0
    fi
    if [ ! -e "$path" ] && [ "$owner" = "root:root" ] && [ "$(id -u)" -eq 0 ]; then
        return 0  # --dry-run: root creates it root's
    fi
    act "owner $owner on $path" chown "$owner" "$path"
}

ensure_file() {  # SRC DEST MODE [OWNER:GROUP]: DEST always matches SRC
    local src="$1" dest="$2" mode="$3" owner="${4:-}"
    if [ ! -e "$dest" ] || ! cmp -s "$src" "$dest"; then
        act "install $dest" install -m "$mode" "$src" "$dest"
        FILE_CHANGED=1
    elif [ "$(mode_of "$dest")" != "${mode#0}" ]; then
        act "set mode $mode on $dest" chmod "$mode" "$dest"
    fi
    if [ -n "$owner" ]; then ensure_owner "$dest" "$owner"; fi
}

ensure_file_once() {  # SRC DEST MODE [OWNER:GROUP]: an existing DEST keeps its content
    local src="$1" dest="$2" mode="$3" owner="${4:-}"
    if [ -e "$dest" ]; then
        say "ok: $dest exists, its content is kept"
        if [ "$(mode_of "$dest")" != "${mode#0}" ]; then
            act "set mode $mode on $dest" chmod "$mode" "$dest"
        fi
    else
        act "install $dest from $(basename "$src")" install -m "$mode" "$src" "$dest"
    fi
    if [ -n "$owner" ]; then ensure_owner "$dest" "$owner"; fi
}

# Give DEST the text $2 (plus a newline) when it differs, showing the diff; sets WROTE.
# The first change keeps the original as DEST.vending-kiosk-orig. Plain cp and mv: DEST may
# be on the FAT boot partition, which has no Unix modes.
write_if_changed() {
    local dest="$1" content="$2" new
    WROTE=0
    if [ -e "$dest" ] && [ "$(cat "$dest")" = "$content" ]; then
        return 0
    fi
    WROTE=1
    new="$(mktemp)"
    printf '%s\n' "$content" > "$new"
    diff -u --label "$dest (now)" --label "$dest (new)" "$dest" "$new" | sed 's/^/      /' || true
    if [ ! -e "$dest.vending-kiosk-orig" ]; then
        act "keep the original as $dest.vending-kiosk-orig" cp -p "$dest" "$dest.vending-kiosk-orig"
    fi
    act "update $dest" replace_file "$new" "$dest"
    rm -f "$new"
}

replace_file() {  # SRC DEST: write beside, flush, rename
    cp "$1" "$2.vending-kiosk-new"
    sync "$2.vending-kiosk-new" 2>/dev/null || sync
    mv -f "$2.vending-kiosk-new" "$2"
}

write_text() { printf '%s\n' "$2" > "$1"; }

# ------------------------------------------------------------------------------ steps

step_preflight() {
    step "preflight"
    if [ -n "$PREFIX" ]; then
        say "installing into the root $PREFIX (--prefix): system changes are only printed"
    elif [ "$(id -u)" -ne 0 ] && [ "$DRY_RUN" -eq 0 ]; then
        die "run as root: sudo $0 (or look first with --dry-run, or try it with --prefix DIR)"
    fi
    if [ -z "$PREFIX" ] && in_chroot; then IMAGE_BUILD=1; fi
    if [ "$IMAGE_BUILD" -eq 1 ]; then
        say "image build (chroot): units are enabled, nothing is started"
    fi
    command -v python3 >/dev/null || die "python3 not found (sudo apt-get install python3)"
    python3 -c 'import sys; sys.exit(sys.version_info < (3, 11))' \
        || die "Python 3.11 or newer is needed, found $(python3 -V 2>&1)"
    say "ok: $(python3 -V 2>&1)"
    if [ -n "$PREFIX" ]; then return 0; fi
    local codename="" arch
    if [ -r /etc/os-release ]; then
        codename="$(sed -n 's/^VERSION_CODENAME=//p' /etc/os-release | tr -d '"')"
    fi
    arch="$(dpkg --print-architecture 2>/dev/null || uname -m)"
    case "$codename" in
        bookworm|trixie) say "ok: $codename $arch" ;;
        *) say "warning: made for Raspberry Pi OS Bookworm or Trixie, this is '${codename:-unknown}'" ;;
    esac
    case "$arch" in
        arm64|aarch64) ;;
        *) say "warning: made for 64-bit Raspberry Pi OS (arm64), this is $arch" ;;
    esac
}

step_packages() {
    step "system packages (apt)"
    if [ -n "$PREFIX" ]; then
        sys_act "install the missing ones of: ${APT_REQUIRED[*]} ${APT_OPTIONAL[*]}" \
            apt-get install -y --no-install-recommends "${APT_REQUIRED[@]}" "${APT_OPTIONAL[@]}"
        return 0
    fi
    command -v apt-get >/dev/null || die "apt-get not found: this installer is for Raspberry Pi OS / Debian"
    local missing=() unknown=() install=() pkg
    for pkg in "${APT_REQUIRED[@]}" "${APT_OPTIONAL[@]}"; do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
            missing+=("$pkg")
        fi
    done
    if [ "${#missing[@]}" -eq 0 ]; then
        say "ok: ${APT_REQUIRED[*]} ${APT_OPTIONAL[*]} installed"
        return 0
    fi
    act "refresh the package lists" env DEBIAN_FRONTEND=noninteractive apt-get update -q
    for pkg in "${missing[@]}"; do
        if [[ " ${APT_OPTIONAL[*]} " == *" $pkg "* ]] && [ "$DRY_RUN" -eq 0 ] \
            && ! apt-cache show "$pkg" >/dev/null 2>&1; then
            unknown+=("$pkg")
        else
            install+=("$pkg")
        fi
    done
    if [ "${#unknown[@]}" -gt 0 ]; then
        say "warning: not in this system's package archive, skipped: ${unknown[*]}"
        say "  (python3-lgpio comes from the Raspberry Pi archive; without it gpiozero falls"
        say "  back to other pin backends, and a Pi 5 has none)"
    fi
    if [ "${#install[@]}" -gt 0 ]; then
        act "install ${install[*]}" env DEBIAN_FRONTEND=noninteractive \
            apt-get install -y --no-install-recommends "${install[@]}"
    fi
}

step_user() {
    step "service user '$SERVICE_USER'"
    local home=/var/lib/vending-kiosk group member in_groups=()
    local useradd=(useradd --system --user-group --home-dir "$home" --no-create-home
                   --shell /usr/sbin/nologin --comment vending-kiosk "$SERVICE_USER")
    if [ -n "$PREFIX" ]; then
        sys_act "create the system user $SERVICE_USER (when missing)" "${useradd[@]}"
        sys_act "add $SERVICE_USER to those of ${SERVICE_GROUPS[*]} that exist" \
            usermod --append --groups "$(IFS=,; echo "${SERVICE_GROUPS[*]}")" "$SERVICE_USER"
        return 0
    fi
    if getent passwd "$SERVICE_USER" >/dev/null; then
        say "ok: user $SERVICE_USER exists"
    else
        act "create the system user $SERVICE_USER" "${useradd[@]}"
    fi
    member=" $(id -nG "$SERVICE_USER" 2>/dev/null || true) "
    for group in "${SERVICE_GROUPS[@]}"; do
        if ! getent group "$group" >/dev/null; then
            say "no group '$group' on this system: skipped"
        elif [[ "$member" == *" $group "* ]]; then
            in_groups+=("$group")
        else
            act "add $SERVICE_USER to the group $group" usermod --append --groups "$group" "$SERVICE_USER"
        fi
    done
    if [ "${#in_groups[@]}" -gt 0 ]; then say "ok: $SERVICE_USER is in ${in_groups[*]}"; fi
}

# What the installed package is built from: a change means pip runs again.
source_stamp() {
    (
        cd "$REPO"
        find pyproject.toml README.md requirements.lock kiosk hardware -type f \
            ! -path '*/__pycache__/*' ! -name '*.pyc' -print0 \
            | LC_ALL=C sort -z | xargs -0 sha256sum
        python3 -V 2>&1
    ) | sha256sum | cut -d' ' -f1
}

pip_install_checkout() {  # VENV: build from a clean copy (no build/ or egg-info in the checkout)
    local venv="$1"
    TMP_DIR="$(mktemp -d)"
    mkdir "$TMP_DIR/src"
    (cd "$REPO" && tar --exclude=__pycache__ --exclude='*.pyc' -cf - pyproject.toml README.md \
        requirements.lock kiosk hardware) | tar -xf - -C "$TMP_DIR/src"
    say "pip: the pinned dependencies (requirements.lock, every file hash-checked), then vending-kiosk"
    PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$venv/bin/python" -m pip install --quiet --no-input --require-hashes \
        -r "$TMP_DIR/src/requirements.lock"
    PIP_ROOT_USER_ACTION=ignore PIP_DISABLE_PIP_VERSION_CHECK=1 \
        "$venv/bin/python" -m pip install --quiet --no-input --no-deps --upgrade "$TMP_DIR/src"
    rm -rf "$TMP_DIR"
    TMP_DIR=""
}

step_venv() {
    step "virtual environment $VENV"
    local stamp_file="$VENV/.vending-kiosk-source" want have="" create=0
    want="$(source_stamp)"
    if [ ! -x "$VENV/bin/python" ]; then
        create=1
    elif ! "$VENV/bin/python" -c 'import sys' >/dev/null 2>&1; then
        act "remove the broken virtual environment (its Python is gone)" rm -rf "$VENV"
        create=1
    fi
    if [ "$create" -eq 1 ]; then
        act "create the virtual environment" python3 -m venv --system-site-packages "$VENV"
    fi
    if [ -r "$stamp_file" ]; then have="$(cat "$stamp_file")"; fi
    if [ "$have" = "$want" ] && [ -x "$VENV/bin/kiosk" ]; then
        say "ok: vending-kiosk installed from these sources (${want:0:12})"
        return 0
    fi
    act "pip install --upgrade vending-kiosk from a copy of $REPO" pip_install_checkout "$VENV"
    act "record the installed sources (${want:0:12}) in $stamp_file" write_text "$stamp_file" "$want"
}

step_assets() {
    step "assets and documentation"
    local share="$PREFIX/usr/share/vending-kiosk" doc="$PREFIX/usr/share/doc/vending-kiosk" f rel
    ensure_dir "$PREFIX/usr/share" 0755
    ensure_dir "$share" 0755
    ensure_dir "$share/assets" 0755
    while IFS= read -r -d '' f; do
        rel="${f#"$REPO"/assets/}"
        ensure_dir "$share/assets/$rel" 0755
    done < <(find "$REPO/assets" -mindepth 1 -type d -print0 | LC_ALL=C sort -z)
    while IFS= read -r -d '' f; do
        rel="${f#"$REPO"/assets/}"
        ensure_file "$f" "$share/assets/$rel" 0644
    done < <(find "$REPO/assets" -type f -print0 | LC_ALL=C sort -z)
    ensure_dir "$PREFIX/usr/share/doc" 0755
    ensure_dir "$doc" 0755
    ensure_file "$REPO/docs/operators.md" "$doc/operators.md" 0644
    say "ok: assets in $share/assets, operator guide in $doc"
}

step_config() {
    step "configuration $ETC"
    ensure_dir "$PREFIX/etc" 0755
    ensure_dir "$ETC" 0755 root:root
    ensure_file_once "$REPO/assets/kiosk.example.toml" "$ETC/kiosk.toml" 0644 root:root
    ensure_file_once "$REPO/assets/secrets.example.toml" "$ETC/secrets.toml" 0600 "$SERVICE_USER:$SERVICE_USER"
}

step_data() {
    step "data directory $DATA (the sales journal)"
    ensure_dir "$PREFIX/var" 0755
    ensure_dir "$PREFIX/var/lib" 0755
    ensure_dir "$DATA" 0750 "$SERVICE_USER:$SERVICE_USER"
}

step_udev() {
    step "udev rules"
    local rules="$PREFIX/etc/udev/rules.d"
    ensure_dir "$PREFIX/etc/udev" 0755
    ensure_dir "$rules" 0755
    FILE_CHANGED=0
    ensure_file "$REPO/systemd/99-vending-kiosk.rules" "$rules/99-vending-kiosk.rules" 0644
    if [ "$FILE_CHANGED" -eq 0 ]; then
        say "ok: /dev/mdb-bridge rule in $rules"
    elif live_systemd || [ -n "$PREFIX" ]; then
        sys_act "reload the udev rules" udevadm control --reload-rules
        sys_act "apply them to the serial devices" udevadm trigger --subsystem-match=tty
    fi
}

step_units() {
    step "systemd units"
    local dir="$PREFIX/etc/systemd/system" unit
    ensure_dir "$PREFIX/etc/systemd" 0755
    ensure_dir "$dir" 0755
    FILE_CHANGED=0
    for unit in "${UNITS[@]}"; do
        ensure_file "$REPO/systemd/$unit" "$dir/$unit" 0644
    done
    if [ -n "$PREFIX" ]; then
        if [ "$FILE_CHANGED" -eq 1 ]; then sys_act "reload systemd" systemctl daemon-reload; fi
        sys_act "enable ${ENABLED_UNITS[*]}" systemctl enable "${ENABLED_UNITS[@]}"
        sys_act "no login prompt on tty1 (the kiosk's console)" systemctl disable getty@tty1.service
        sys_act "boot to the console, not a desktop" systemctl set-default multi-user.target
        return 0
    fi
    if [ "$FILE_CHANGED" -eq 1 ] && live_systemd; then
        act "reload systemd" systemctl daemon-reload
    fi
    for unit in "${ENABLED_UNITS[@]}"; do
        if systemctl is-enabled --quiet "$unit" 2>/dev/null; then
            say "ok: $unit enabled"
        else
            act "enable $unit" systemctl enable "$unit"
        fi
    done
    if [ "$(systemctl is-enabled getty@tty1.service 2>/dev/null || true)" = "enabled" ]; then
        act "no login prompt on tty1 (the kiosk's console)" systemctl disable getty@tty1.service
    else
        say "ok: no getty enabled on tty1"
    fi
    if [ "$(systemctl get-default 2>/dev/null || true)" != "multi-user.target" ]; then
        act "boot to the console, not a desktop" systemctl set-default multi-user.target
    else
        say "ok: default target multi-user.target"
    fi
}

# Sets DRIVER and DRIVER_FILE: the [vend] driver of the config active after the next boot
# (the operator's file on the boot partition is imported then), else of what gets installed.
active_driver() {
    local file
    DRIVER=""
    DRIVER_FILE=""
    for file in "$BOOT/vending-kiosk.toml" "$ETC/kiosk.toml" "$REPO/assets/kiosk.example.toml"; do
        [ -e "$file" ] || continue
        DRIVER_FILE="$file"
        DRIVER="$(python3 -c '
import sys, tomllib
with open(sys.argv[1], "rb") as f:
    vend = tomllib.load(f).get("vend", {})
print(vend.get("driver", "") if isinstance(vend, dict) else "")
' "$file" 2>/dev/null || echo unreadable)"
        return 0
    done
}

config_block() {  # MDB(0|1)
    echo "$BLOCK_BEGIN"
    echo "[all]"
    echo "# no rainbow splash at power-on"
    echo "disable_splash=1"
    if [ "$1" -eq 1 ]; then
        echo "# [vend] driver = \"mdb\": the MDB bridge on the GPIO UART (GPIO14/15)"
        echo "enable_uart=1"
        echo "[pi5]"
        echo "dtparam=uart0=on"
        echo "[all]"
    fi
    echo "$BLOCK_END"
}

edit_cmdline() {  # FILE MDB(0|1)
    local cmdline="$1" mdb="$2" words=() out=() removed=() seen=" " word item
    # One line of words: ours get our value where they are, missing ones are appended, the rest
    # stays as it is. The serial console goes only for MDB (it would talk over the bridge).
    read -r -a words < "$cmdline" || true
    for word in "${words[@]}"; do
        for item in "${CMDLINE_SET[@]}"; do
            if [[ "$word" == *=* && "${word%%=*}" == "${item%%=*}" ]]; then word="$item"; fi
        done
        if [ "$mdb" -eq 1 ]; then
            case "$word" in
                console=serial*|console=ttyAMA*|console=ttyS*) removed+=("$word"); continue ;;
            esac
        fi
        if [[ "$seen" == *" $word "* ]]; then continue; fi
        seen+="$word "
        out+=("$word")
    done
    for item in "${CMDLINE_SET[@]}" "${CMDLINE_FLAGS[@]}"; do
        if [[ "$seen" != *" $item "* ]]; then out+=("$item"); seen+="$item "; fi
    done
    write_if_changed "$cmdline" "${out[*]}"
    if [ "$WROTE" -eq 0 ]; then
        say "ok: $cmdline"
    elif [ "${#removed[@]}" -gt 0 ]; then
        say "serial console removed: ${removed[*]}"
    fi
    if [ "$mdb" -eq 0 ] && [[ " ${out[*]} " == *" console=serial"* ]]; then
        say "note: the serial console stays (only [vend] driver = \"mdb\" needs the UART)"
    fi
}

edit_config_txt() {  # FILE MDB(0|1)
    local config="$1" mdb="$2" begins ends block new_config
    begins="$(grep -cxF "$BLOCK_BEGIN" "$config" || true)"
    ends="$(grep -cxF "$BLOCK_END" "$config" || true)"
    if [ "$begins" != "$ends" ] || [ "$begins" -gt 1 ]; then
        die "$config has a damaged vending-kiosk block ($begins start, $ends end markers): fix it by hand"
    fi
    block="$(config_block "$mdb")"
    if [ "$begins" -eq 0 ]; then
        new_config="$(cat "$config")"$'\n\n'"$block"
    else
        new_config="$(BLOCK="$block" awk -v begin="$BLOCK_BEGIN" -v end="$BLOCK_END" '
            $0 == begin { print ENVIRON["BLOCK"]; skip = 1; next }
            $0 == end   { skip = 0; next }
            !skip       { print }' "$config")"
    fi
    write_if_changed "$config" "$new_config"
    if [ "$WROTE" -eq 0 ]; then say "ok: $config"; fi
}

step_boot() {
    step "boot settings $BOOT"
    local cmdline="$BOOT/cmdline.txt" config="$BOOT/config.txt" mdb=0 before=$CHANGES
    local example="$BOOT/vending-kiosk.example.toml"
    if [ ! -f "$cmdline" ] || [ ! -f "$config" ]; then
        say "skipped: no $cmdline and $config here (not a Raspberry Pi OS Bookworm/Trixie boot partition)"
        return 0
    fi
    active_driver
    if [ "$DRIVER" = "mdb" ]; then mdb=1; fi
    say "active config: ${DRIVER_FILE:-none}, [vend] driver = \"${DRIVER:-?}\""
    edit_cmdline "$cmdline" "$mdb"
    edit_config_txt "$config" "$mdb"
    if [ ! -e "$example" ] || ! cmp -s "$REPO/assets/vending-kiosk.boot.example.toml" "$example"; then
        act "copy the operator file example to $example" \
            cp "$REPO/assets/vending-kiosk.boot.example.toml" "$example"
    else
        say "ok: $example"
    fi
    if [ "$CHANGES" -ne "$before" ] && [ "$DRY_RUN" -eq 0 ]; then
        say "boot settings take effect at the next boot"
    fi
}

kiosk_active() { live_systemd && systemctl is-active --quiet vending-kiosk.service; }

sdl_driver() {  # CARD_INDEX [RUN_AS...]: the video driver SDL initialises with, or its error
    local index="$1" output
    shift
    output="$(cd / && "$@" env SDL_VIDEODRIVER=kmsdrm SDL_AUDIODRIVER=dummy \
        SDL_KMSDRM_DEVICE_INDEX="$index" PYTHONDONTWRITEBYTECODE=1 "$VENV/bin/python" -c \
        'import pygame; pygame.display.init(); print(pygame.display.get_driver())' 2>&1)"
    printf '%s\n' "${output##*$'\n'}"
}

smoke_display() {
    local cards=() card driver="" runas=()
    if [ -n "$PREFIX" ]; then say "display: skipped under --prefix"; return 0; fi
    if [ "$IMAGE_BUILD" -eq 1 ]; then say "display: skipped in an image build"; return 0; fi
    shopt -s nullglob
    cards=(/dev/dri/card*)
    shopt -u nullglob
    if [ "${#cards[@]}" -eq 0 ]; then
        say "display: skipped, no /dev/dri/card* (no KMS display driver on this machine)"
        return 0
    fi
    if kiosk_active; then
        say "display: skipped, the kiosk is running and holds the display"
        return 0
    fi
    if [ "$DRY_RUN" -eq 1 ]; then
        say "would run: SDL_VIDEODRIVER=kmsdrm $VENV/bin/python -c 'import pygame; pygame.display.init()'"
        return 0
    fi
    if getent passwd "$SERVICE_USER" >/dev/null && command -v runuser >/dev/null; then
        runas=(runuser -u "$SERVICE_USER" --)
    fi
    # A Pi 5 has several DRM devices and their numbering moves: try each until one initialises.
    for card in "${cards[@]}"; do
        driver="$(sdl_driver "${card##*card}" "${runas[@]}" || true)"
        if [ "${driver,,}" = "kmsdrm" ]; then
            say "display: ok, SDL's KMSDRM driver initialises on $card"
            return 0
        fi
    done
    say "display: FAILED, SDL_VIDEODRIVER=kmsdrm does not initialise on ${cards[*]}: $driver"
    say "  a desktop (X or Wayland) may hold the display: use Raspberry Pi OS Lite, or reboot"
    say "  (the default target is now multi-user.target) and run this again"
    SMOKE_FAILED=1
}

check_config() {  # FILE: kiosk check-config, indented; the output stays in CHECK_OUTPUT
    local status=0
    # KIOSK_ASSETS: the installed translations (under --prefix not at their system path), which
    # the check of machine.locale reads.
    CHECK_OUTPUT="$(PYTHONDONTWRITEBYTECODE=1 KIOSK_ASSETS="$PREFIX/usr/share/vending-kiosk/assets" \
        "$VENV/bin/kiosk" check-config "$1" 2>&1)" || status=$?
    if [ -n "$CHECK_OUTPUT" ]; then printf '%s\n' "$CHECK_OUTPUT" | sed 's/^/      /'; fi
    return "$status"
}

only_placeholders() {  # STATUS: did check-config refuse the config only for placeholders?
    # Exit 2 is a config error; every listed error then says "not configured".
    [ "$1" -eq 2 ] || return 1
    ! printf '%s\n' "$CHECK_OUTPUT" | grep -v ' in the configuration$' \
        | grep -qv ': not configured: '
}

smoke_config() {
    local status=0
    if [ "$DRY_RUN" -eq 1 ]; then
        say "would run: $VENV/bin/kiosk check-config $ETC/kiosk.toml"
        return 0
    fi
    check_config "$ETC/kiosk.toml" || status=$?
    if [ "$status" -eq 0 ]; then
        say "config: ok, kiosk check-config $ETC/kiosk.toml passes"
    elif only_placeholders "$status"; then
        # A fresh install: filling in the example is the operator's next step, not a fault.
        say "config: not configured yet, fill in what is listed above in $ETC/kiosk.toml"
        say "  (or write the operator file $BOOT/vending-kiosk.toml and reboot); until then"
        say "  the kiosk sells nothing"
    else
        say "config: FAILED, fix $ETC/kiosk.toml (errors above), then check it again with"
        say "  $VENV/bin/kiosk check-config $ETC/kiosk.toml"
        SMOKE_FAILED=1
    fi
    if [ -e "$BOOT/vending-kiosk.toml" ]; then
        status=0
        check_config "$BOOT/vending-kiosk.toml" || status=$?
        if [ "$status" -eq 0 ]; then
            say "operator file: ok, $BOOT/vending-kiosk.toml passes (imported at the next boot)"
        else
            say "operator file: warning, $BOOT/vending-kiosk.toml has errors: at boot the last"
            say "  good config stays active and the kiosk shows them on screen"
        fi
    fi
}

step_smoke() {
    step "smoke test"
    if [ "$SMOKE" -eq 0 ]; then say "skipped (--no-smoke-test)"; return 0; fi
    smoke_display
    smoke_config
}

finish() {
    echo "==> done"
    if [ "$DRY_RUN" -eq 1 ]; then
        echo "dry run: $CHANGES change(s) would be made; nothing was changed"
    elif [ "$CHANGES" -eq 0 ]; then
        echo "nothing to change: vending-kiosk is installed and up to date"
    else
        echo "$CHANGES change(s) made"
    fi
    if [ "$DRY_RUN" -eq 0 ] && [ "$CHANGES" -gt 0 ] && live_systemd; then
        if systemctl is-active --quiet vending-kiosk.service; then
            echo "restarting the running kiosk to pick up the changes"
            systemctl restart vending-kiosk.service
        else
            echo "reboot to start the kiosk (sudo reboot); its log: journalctl -u vending-kiosk -b"
        fi
    fi
    echo "config: $ETC/kiosk.toml (check it: $VENV/bin/kiosk check-config $ETC/kiosk.toml)"
    echo "self-test: sudo systemctl start --wait vending-kiosk-selftest; journalctl -u vending-kiosk-selftest -b -o cat"
    if [ "$SMOKE_FAILED" -eq 1 ]; then
        echo "install.sh: the smoke test failed (above); everything else is installed" >&2
        exit 1
    fi
}

set_prefix() {
    [ -n "$1" ] || die "--prefix needs a directory"
    PREFIX="$(realpath -m "$1")"
    if [ "$PREFIX" = "/" ]; then PREFIX=""; fi
}

main() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --prefix) [ $# -ge 2 ] || die "--prefix needs a directory"; set_prefix "$2"; shift 2 ;;
            --prefix=*) set_prefix "${1#--prefix=}"; shift ;;
            --dry-run) DRY_RUN=1; shift ;;
            --no-smoke-test) SMOKE=0; shift ;;
            --image-build) IMAGE_BUILD=1; shift ;;
            -h|--help) usage; exit 0 ;;
            *) echo "install.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        esac
    done
    VENV="$PREFIX/opt/vending-kiosk"
    ETC="$PREFIX/etc/vending-kiosk"
    DATA="$PREFIX/var/lib/vending-kiosk"
    BOOT="$PREFIX/boot/firmware"
    if [ "$DRY_RUN" -eq 1 ]; then echo "dry run: printing every action, changing nothing"; fi
    if [ -n "$PREFIX" ] && [ ! -d "$PREFIX" ]; then act "create the install root $PREFIX" mkdir -p "$PREFIX"; fi

    step_preflight
    step_packages
    step_user
    step_venv
    step_assets
    step_config
    step_data
    step_udev
    step_units
    step_boot
    step_smoke
    finish
}

main "$@"
