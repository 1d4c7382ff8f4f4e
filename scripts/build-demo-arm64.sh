#!/bin/bash
# Builds the arm64 demo bundle (recipes/demo-arm64.conf) on any build machine:
#   scripts/build-demo-arm64.sh ABIDE_BUILD ARM64_BUILDDIR OUTDIR [abide-build build options...]
# ABIDE_BUILD: the build machine's abide-build. ARM64_BUILDDIR: a cross build
# (made with scripts/build-arm64.sh when missing). OUTDIR gets debs/ (the
# arm64 Debian packages, fetched with apt-get download, versions as apt
# resolves them), keys/ (abide-build keygen, when missing) and the bundle,
# whose path is printed last.
set -euo pipefail

src=$(cd "$(dirname "$0")/.." && pwd)
abide_build=$1 arm64=$2 out=$3
shift 3

"$src/scripts/build-arm64.sh" "$arm64" >/dev/null

if ! dpkg --print-foreign-architectures | grep -x arm64 >/dev/null; then
        echo "build-demo-arm64: arm64 is not a dpkg architecture here (scripts/install-deps.sh adds it)" >&2
        exit 1
fi
mkdir -p "$out/debs"
# The kernel the linux-image-arm64 metapackage points at today.
kernel_pkg=$(apt-cache depends linux-image-arm64:arm64 | awk '/Depends: linux-image-[0-9]/ { sub(/:arm64$/, "", $2); print $2; exit }')
[ -n "$kernel_pkg" ] || { echo "build-demo-arm64: no kernel behind linux-image-arm64:arm64 (apt-get update?)" >&2; exit 1; }
for p in busybox-static dosfstools "$kernel_pkg"; do
        if ! ls "$out/debs/${p}_"*_arm64.deb >/dev/null 2>&1; then
                # apt's _apt user cannot write into a root-owned temporary directory: fetch as that user where it can.
                (cd "$out/debs" && apt-get download -q "$p:arm64" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
                ls "$out/debs/${p}_"*_arm64.deb >/dev/null
        fi
done

if [ ! -f "$out/keys/signing.key" ]; then
        "$abide_build" keygen -o "$out/keys" >/dev/null
fi

"$abide_build" build "$src/recipes/demo-arm64.conf" \
        --key "$out/keys/signing.key" --cert "$out/keys/signing.crt" --ca "$out/keys/ca.pem" \
        --init "$arm64/bootctl/init/abide-init" \
        --set "Content.Layer=deb:$out/debs/busybox-static_*_arm64.deb" \
        --set "Content.Layer=deb:$out/debs/dosfstools_*_arm64.deb" \
        --set "Content.Layer=deb:$out/debs/${kernel_pkg}_*_arm64.deb" \
        --set "Agent.Source=$arm64/images/demo/agent-root" \
        --set "Content.Binary=$arm64/bootctl/abidectl:/usr/sbin/abidectl" \
        -o "$out" "$@"
