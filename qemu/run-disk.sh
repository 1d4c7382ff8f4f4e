#!/bin/sh
# Boots an abide disk image under OVMF + systemd-boot, or U-Boot with --arch arm64 (QEMU, TCG);
# see qemu/README.md.
#   qemu/run-disk.sh disk.img --follow --timeout 300
#   qemu/run-disk.sh --arch arm64 disk.img --follow --timeout 600
#   qemu/run-disk.sh --secure-boot disk.img --boots 2 --follow   # OVMF secboot, blank VARS: enroll, then boot
exec python3 "$(dirname "$0")/abideqemu.py" "$@"
