#!/bin/bash -e
# pi-gen, inside the image (chroot): the same installer as on a running Pi. It enables the
# units without starting anything, edits /boot/firmware/cmdline.txt and config.txt, and
# checks the installed config. pip downloads from PyPI here; no cache is left in the image.
# pi-gen feeds this file to bash on stdin, so the installer must not read it: </dev/null.

PIP_NO_CACHE_DIR=1 /usr/local/src/vending-kiosk/scripts/install.sh --image-build </dev/null
