#!/usr/bin/env bash
# Build a flashable Raspberry Pi OS Lite image with vending-kiosk installed, with pi-gen.
# Run `scripts/build-image.sh --help` for the prerequisites.
set -Eeuo pipefail
trap 'echo "build-image.sh: failed at line $LINENO: $BASH_COMMAND" >&2' ERR

REPO="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
readonly REPO
readonly STAGE=stage-kiosk
readonly CONFIG_NAME=config.vending-kiosk

usage() {
    cat <<'EOF'
Usage: scripts/build-image.sh [options] PI_GEN_DIR

Builds a flashable Raspberry Pi OS Lite (64-bit) image with vending-kiosk installed, using
the pi-gen checkout at PI_GEN_DIR. It copies image/stage-kiosk and this checkout into
PI_GEN_DIR/stage-kiosk, writes PI_GEN_DIR/config.vending-kiosk from image/config, marks
stage2's Lite image as not exported (PI_GEN_DIR/stage2/SKIP_IMAGES), then runs pi-gen's
build.sh (or build-docker.sh) with that config. Inside the image, stage-kiosk runs
scripts/install.sh, exactly as on a running Pi. The image lands in PI_GEN_DIR/deploy/ as
<date>-vending-kiosk-vending-kiosk.img.xz.

This script downloads nothing itself and never fetches pi-gen. pi-gen downloads the
Raspberry Pi OS packages, and install.sh inside the image downloads vending-kiosk's Python
dependencies from PyPI, so the build machine needs network access to both.

Prerequisites (not needed for anything else in this repository, and not part of CI):
  - a pi-gen checkout, e.g.  git clone --branch arm64 https://github.com/RPi-Distro/pi-gen
    (64-bit images come from its arm64 branch), on a path without spaces;
  - either a Debian or Ubuntu build host, run as root, with pi-gen's dependencies:
      apt-get install coreutils quilt parted qemu-user-static debootstrap zerofree zip \
        dosfstools libarchive-tools libcap2-bin grep rsync xz-utils file git curl bc \
        gpg pigz xxd arch-test
    (on an x86 host qemu-user-static and binfmt-support run the arm64 chroot);
  - or --docker: Docker plus binfmt-support on the host;
  - about 10 GB of free disk and an hour or two.

Options:
  --docker              build with pi-gen's build-docker.sh instead of build.sh
  --release NAME        trixie (default) or bookworm
  --hostname NAME       the image's host name (default: vending-kiosk)
  --operator-file FILE  put FILE on the image's boot partition as vending-kiosk.toml: every
                        machine flashed with it starts with that config (its secrets are
                        moved off the card at first boot). Checked with kiosk check-config
                        first when a kiosk command is at hand.
  --ssh-pubkey FILE     turn SSH on for the "technician" user with this public key only (no
                        password logins). Without it SSH stays off.
  --prepare-only        prepare PI_GEN_DIR and print the pi-gen command without running it
  -h, --help            this help
EOF
}

die() { echo "build-image.sh: error: $*" >&2; exit 2; }
say() { echo "==> $*"; }

pi_gen="" docker=0 release="" hostname="" operator_file="" ssh_pubkey="" prepare_only=0
while [ $# -gt 0 ]; do
    case "$1" in
        --docker) docker=1; shift ;;
        --release) [ $# -ge 2 ] || die "--release needs a name"; release="$2"; shift 2 ;;
        --hostname) [ $# -ge 2 ] || die "--hostname needs a name"; hostname="$2"; shift 2 ;;
        --operator-file) [ $# -ge 2 ] || die "--operator-file needs a file"; operator_file="$2"; shift 2 ;;
        --ssh-pubkey) [ $# -ge 2 ] || die "--ssh-pubkey needs a file"; ssh_pubkey="$2"; shift 2 ;;
        --prepare-only) prepare_only=1; shift ;;
        -h|--help) usage; exit 0 ;;
        -*) echo "build-image.sh: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) [ -z "$pi_gen" ] || die "one PI_GEN_DIR only"; pi_gen="$1"; shift ;;
    esac
done

case "$release" in
    ""|trixie|bookworm) ;;
    *) die "--release: trixie or bookworm, not '$release'" ;;
esac
case "$hostname" in
    "") ;;
    *[!A-Za-z0-9-]*|-*) die "--hostname: letters, digits and '-' only, not '$hostname'" ;;
esac
if [ -n "$operator_file" ]; then [ -f "$operator_file" ] || die "--operator-file: no file $operator_file"; fi
if [ -n "$ssh_pubkey" ]; then
    [ -f "$ssh_pubkey" ] || die "--ssh-pubkey: no file $ssh_pubkey"
    grep -qE '^(ssh-|ecdsa-|sk-)' "$ssh_pubkey" || die "--ssh-pubkey: $ssh_pubkey is not an OpenSSH public key"
fi
[ -n "$pi_gen" ] || { usage >&2; die "give the path of a pi-gen checkout"; }
[ -d "$pi_gen" ] || die "$pi_gen: no such directory (clone pi-gen there first, see --help)"
pi_gen="$(cd "$pi_gen" && pwd)"
case "$pi_gen" in *" "*) die "pi-gen does not work under a path with spaces: $pi_gen" ;; esac
for need in build.sh stage0 stage1 stage2; do
    [ -e "$pi_gen/$need" ] || die "$pi_gen is not a pi-gen checkout (no $need)"
done
if [ "$docker" -eq 1 ]; then
    [ -x "$pi_gen/build-docker.sh" ] || die "$pi_gen has no build-docker.sh"
fi

stage="$pi_gen/$STAGE"
say "stage $stage (from image/$STAGE)"
rm -rf "$stage"
cp -a "$REPO/image/$STAGE" "$stage"
files="$stage/00-install/files"
mkdir -p "$files/vending-kiosk"

say "this checkout into $files/vending-kiosk"
# Tracked and untracked-but-not-ignored files (so no .venv, build/ or caches), plus .git so
# that `git pull` works on the machine.
if git -C "$REPO" rev-parse --git-dir >/dev/null 2>&1; then
    (cd "$REPO" && git ls-files -z --cached --others --exclude-standard \
        | while IFS= read -r -d '' f; do if [ -e "$f" ]; then printf '%s\0' "$f"; fi; done \
        | tar --null -T - -cf -) | tar -xf - -C "$files/vending-kiosk"
    cp -a "$REPO/.git" "$files/vending-kiosk/.git"
else
    (cd "$REPO" && tar --exclude=.venv --exclude=build --exclude='*.egg-info' \
        --exclude=__pycache__ --exclude=.pytest_cache --exclude=.hypothesis -cf - .) \
        | tar -xf - -C "$files/vending-kiosk"
fi
[ -x "$files/vending-kiosk/scripts/install.sh" ] || die "the copy has no executable scripts/install.sh"

if [ -n "$operator_file" ]; then
    say "operator file $operator_file -> the image's /boot/firmware/vending-kiosk.toml"
    checker=""
    if [ -x "$REPO/.venv/bin/kiosk" ]; then checker="$REPO/.venv/bin/kiosk";
    elif command -v kiosk >/dev/null; then checker="$(command -v kiosk)"; fi
    if [ -n "$checker" ]; then
        "$checker" check-config "$operator_file" || die "$operator_file does not pass kiosk check-config"
    else
        echo "    (no kiosk command here to check it: it is checked at first boot)"
    fi
    install -m 644 "$operator_file" "$files/vending-kiosk.toml"
fi

config="$pi_gen/$CONFIG_NAME"
say "pi-gen config $config (from image/config)"
{
    cat "$REPO/image/config"
    echo
    echo "# --- added by scripts/build-image.sh"
    if [ -n "$release" ]; then printf 'RELEASE=%q\n' "$release"; fi
    if [ -n "$hostname" ]; then printf 'TARGET_HOSTNAME=%q\n' "$hostname"; fi
    if [ -n "$ssh_pubkey" ]; then
        echo "ENABLE_SSH=1"
        printf 'PUBKEY_SSH_FIRST_USER=%q\n' "$(cat "$ssh_pubkey")"
        echo "PUBKEY_ONLY_SSH=1"
    fi
} > "$config"

say "only the kiosk image is exported: $pi_gen/stage2/SKIP_IMAGES"
touch "$pi_gen/stage2/SKIP_IMAGES"

if [ "$docker" -eq 1 ]; then cmd=(./build-docker.sh -c "$CONFIG_NAME"); else cmd=(./build.sh -c "$CONFIG_NAME"); fi
if [ "$prepare_only" -eq 1 ]; then
    say "prepared; build with:  cd $pi_gen && sudo ${cmd[*]}"
    exit 0
fi
if [ "$docker" -eq 0 ] && [ "$(id -u)" -ne 0 ]; then
    die "pi-gen's build.sh must run as root: sudo $0 ... (or use --docker)"
fi
say "running pi-gen: cd $pi_gen && ${cmd[*]}"
cd "$pi_gen"
"${cmd[@]}"
say "done: the image is in $pi_gen/deploy/ (flash it with Raspberry Pi Imager, 'Use custom')"
