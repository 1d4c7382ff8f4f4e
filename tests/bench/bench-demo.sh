#!/bin/bash
# Benchmark: `abide-build build recipes/demo.conf` against the plain tool
# steps alone on the same inputs, in the same run: mkfs.erofs of the same
# tree, veritysetup format, openssl cms, and cpio + zstd of the same
# initramfs tree (zstd level 10, as abide-build). Prints the times and the
# ratio. Not a test.
#
#   tests/bench/bench-demo.sh [BUILDDIR]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
BD=$(cd "${1:-$top/build}" && pwd)
B=$BD/builder/abide-build
[ -x "$B" ] || { echo "bench: build abide first (ninja -C $BD)" >&2; exit 1; }

W=$(mktemp -d /var/tmp/abide-bench-demo.XXXXXX)
cleanup() { umount "$W/mnt" 2>/dev/null || true; rm -rf "$W"; }
trap cleanup EXIT
export SOURCE_DATE_EPOCH=1721362140
"$B" keygen -o "$W/keys" >/dev/null

ours() {
        rm -rf "$W/out" && mkdir "$W/out"
        "$B" build "$top/recipes/demo.conf" --key "$W/keys/signing.key" --cert "$W/keys/signing.crt" \
                --ca "$W/keys/ca.pem" --init "$BD/bootctl/init/abide-init" \
                --set "Agent.Source=$BD/images/demo/agent-root" \
                --set "Content.Binary=$BD/bootctl/abidectl:/usr/sbin/abidectl" -o "$W/out" >/dev/null
}

# The plain steps get the very trees abide-build staged, taken from its output.
ours
mkdir "$W/x" "$W/mnt" "$W/tree" "$W/initrd-tree"
tar -xf "$W/out"/*.abide -C "$W/x"
mount -o ro,loop "$W/x/root.img" "$W/mnt"
cp -a "$W/mnt/." "$W/tree/"
umount "$W/mnt"
zstd -dc "$W/x/initrd" | (cd "$W/initrd-tree" && cpio -idm --quiet)

now() { date +%s.%N; }
plain() {
        rm -rf "$W/plain" && mkdir "$W/plain"
        mkfs.erofs --quiet -T"$SOURCE_DATE_EPOCH" "$W/plain/root.img" "$W/tree"
        veritysetup format "$W/plain/root.img" "$W/plain/root.verity" >/dev/null
        (cd "$W/initrd-tree" && find . | LC_ALL=C sort | cpio -o -H newc --quiet | zstd -q -10 >"$W/plain/initrd")
        sha256sum "$W/plain/root.img" "$W/plain/root.verity" "$W/plain/initrd" >"$W/plain/manifest.json"
        openssl cms -sign -binary -outform DER -signer "$W/keys/signing.crt" -inkey "$W/keys/signing.key" \
                -in "$W/plain/manifest.json" -out "$W/plain/manifest.json.sig"
}

best_p=; best_o=
min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
for round in 1 2 3; do
        sync; t0=$(now); plain; sync; t1=$(now)
        sync; t2=$(now); ours; sync; t3=$(now)
        p=$(echo "$t1 - $t0" | bc); o=$(echo "$t3 - $t2" | bc)
        echo "bench: round $round: plain steps ${p}s, abide-build ${o}s"
        best_p=$(min "$best_p" "$p"); best_o=$(min "$best_o" "$o")
done
printf 'bench-demo: recipes/demo.conf, best of 3: abide-build build %.2fs; plain steps (mkfs.erofs, veritysetup, cpio|zstd, sha256sum, openssl cms) %.2fs; ratio %.3f\n' \
        "$best_o" "$best_p" "$(echo "$best_o / $best_p" | bc -l)"
