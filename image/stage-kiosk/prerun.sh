#!/bin/bash -e
# pi-gen stage "stage-kiosk": start from the root file system of the stage before it (stage2,
# Raspberry Pi OS Lite). copy_previous and ROOTFS_DIR come from pi-gen's build.sh.

if [ ! -d "${ROOTFS_DIR}" ]; then
	copy_previous
fi
