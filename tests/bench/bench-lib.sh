# Sourced by the install benchmarks (bench-install.sh, bench-http.sh) with
# their arguments: [BUILDDIR] [SIZE_MIB] [ROUNDS]. Sets top, builddir,
# size_mib, rounds, loads the integration tests' fixtures, and with
# bench_device makes the device: a GPT disk on a loop device, slot a filled
# from a small bundle V1 and booted, and BIG, a bundle of about SIZE_MIB.
set -euo pipefail
top=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
builddir=$(cd "${1:-$top/build}" && pwd)
size_mib=${2:-1024}
rounds=${3:-3}
export ABIDE_BUILD=$builddir/builder/abide-build ABIDECTL=$builddir/bootctl/abidectl ABIDE_SRCDIR=$top \
        ABIDE_TEST_HELPERS=$builddir/tests/integration
[ -x "$ABIDECTL" ] && [ -x "$ABIDE_BUILD" ] || { echo "bench: build abide first (ninja -C $builddir)" >&2; exit 1; }
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/bootctl-lib.sh"
. "$top/tests/integration/install-lib.sh"

. "$top/tests/bench/common.sh"

bench_device() {
        echo "bench: a ${size_mib} MiB bundle in $T"
        "$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
        mkdir -p "$T/kernel" "$T/payload"
        head -c 8M /dev/urandom >"$T/kernel/vmlinuz-$KVER"
        head -c 1M /dev/urandom >"$T/payload/f0"
        V1=$(build_bundle "$T/b1" --set Image.Version=1.0)
        for i in $(seq 1 $((size_mib / 64))); do head -c 64M /dev/urandom >"$T/payload/f$i"; done
        BIG=$(build_bundle "$T/b2" --set Image.Version=2.0)
        rm -rf "$T/payload"
        local root_mib=$(( $(manifest_field "$BIG" "['payloads'][0]['size']") / 1048576 + 8 ))
        make_disk "$root_mib" 16
        make_config
        fill_slot_a "$V1"
        write_image_info 1.0 0
        bundle_bytes=$(stat -c %s "$BIG")
}
