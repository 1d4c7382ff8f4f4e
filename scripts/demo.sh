#!/bin/bash
# The main job, unattended, in a few minutes: builds abide and the demo image
# (busybox, the "sentinel" security agent baked in), signs three releases
# (1.0.0 and 1.1.0 good, 1.2.0 with content that panics the kernel at boot),
# makes a factory disk from 1.0.0, boots it in QEMU (OVMF + systemd-boot,
# TCG), installs 1.1.0 from inside the device and shows the status, then
# installs the bad 1.2.0 and, with nobody touching anything, shows the device
# coming back on 1.1.0 by itself, with the rollback recorded. Prints figures.
# Installs missing dependencies first (as root).
#
#   scripts/demo.sh [--keep]     (work files in $ABIDE_BUILDDIR/demo-qemu)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh"

builddir=${ABIDE_BUILDDIR:-build}
[ -f "$builddir/build.ninja" ] || meson setup "$builddir" >/dev/null
ninja -C "$builddir" >/dev/null

exec python3 "$top/scripts/demo-qemu.py" --builddir "$builddir" "$@"
