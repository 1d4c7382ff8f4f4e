#!/bin/sh
# Boots an abide disk image under OVMF + systemd-boot (QEMU, TCG); see qemu/README.md.
#   qemu/run-disk.sh disk.img --follow --timeout 300
exec python3 "$(dirname "$0")/abideqemu.py" "$@"
