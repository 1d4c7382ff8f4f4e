#!/bin/bash
# Cross-builds abide's programs for arm64 (abidectl, abide-init, the demo
# agent sentinel) with gcc-aarch64-linux-gnu and Debian's :arm64 -dev
# packages (scripts/install-deps.sh installs them). Tests are built, not run.
#   scripts/build-arm64.sh [BUILDDIR]      default: build-arm64
# Prints the paths of the three programs.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
builddir=${1:-$src/build-arm64}

if [ ! -f "$builddir/build.ninja" ]; then
        meson setup --cross-file "$src/cross/aarch64-linux-gnu.ini" "$builddir" "$src" >/dev/null
fi
ninja -C "$builddir" bootctl/abidectl bootctl/init/abide-init images/demo/agent-root >/dev/null

for p in bootctl/abidectl bootctl/init/abide-init images/demo/agent-root/usr/sbin/sentinel; do
        f="$builddir/$p"
        if ! file -b "$f" | grep 'ARM aarch64' >/dev/null; then
                echo "build-arm64: $f is not an aarch64 ELF: $(file -b "$f")" >&2
                exit 1
        fi
        echo "$f"
done
