#!/bin/bash
# The main job: builds abide, makes a demo CA and signing key, builds a signed
# bundle and verifies it. Installs missing dependencies first (as root).
#
#   scripts/demo.sh [RECIPE]     (default recipes/example.conf)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
"$top/scripts/install-deps.sh"

builddir=${ABIDE_BUILDDIR:-build}
out=${ABIDE_OUT:-out}
recipe=${1:-recipes/example.conf}

[ -f "$builddir/build.ninja" ] || meson setup "$builddir" >/dev/null
ninja -C "$builddir" >/dev/null

mkdir -p "$out"
if [ ! -f "$out/keys/signing.key" ]; then
        echo "== making a demo CA and signing key in $out/keys"
        "$builddir/builder/abide-build" keygen -o "$out/keys"
fi

echo "== building $recipe"
export SOURCE_DATE_EPOCH=${SOURCE_DATE_EPOCH:-$(git log -1 --format=%ct 2>/dev/null || date +%s)}
bundle=$("$builddir/builder/abide-build" build "$recipe" --key "$out/keys/signing.key" \
        --cert "$out/keys/signing.crt" -o "$out")
ls -l "$bundle"

echo "== verifying $bundle against $out/keys/ca.pem"
"$builddir/builder/abide-build" inspect "$bundle" --cert "$out/keys/ca.pem"
