#!/bin/bash -e
# pi-gen, on the build host: put the vending-kiosk checkout (prepared in files/ by
# scripts/build-image.sh) into the image, and the operator file if one was given.
# ROOTFS_DIR comes from pi-gen's build.sh.

src="${ROOTFS_DIR}/usr/local/src/vending-kiosk"
install -d -m 755 "${ROOTFS_DIR}/usr/local/src"
rm -rf "${src}"
cp -a files/vending-kiosk "${src}"
chown -R 0:0 "${src}"

if [ -f files/vending-kiosk.toml ]; then
	install -m 644 files/vending-kiosk.toml "${ROOTFS_DIR}/boot/firmware/vending-kiosk.toml"
fi
