#!/bin/sh
# Boots an abide disk image under OVMF + systemd-boot, or U-Boot with --arch arm64 (QEMU, TCG);
# see qemu/README.md.
#   qemu/run-disk.sh disk.img --follow --timeout 300
#   qemu/run-disk.sh --arch arm64 disk.img --follow --timeout 600
exec python3 "$(dirname "$0")/abideqemu.py" "$@"
