#!/bin/bash
# Benchmark: `abide-build build` on a ~1 GiB tree against the same steps run
# as plain tools in the same run (mkfs.erofs, veritysetup format, openssl cms).
# Prints both times and the ratio (target: at most 1.10). Not a test.
#
#   tests/bench/bench-build.sh [BUILDDIR] [SIZE_MIB]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${1:-$top/build}" && pwd)
size_mib=${2:-1024}
B=$builddir/builder/abide-build
[ -x "$B" ] || { echo "bench: build abide first (ninja -C $builddir)" >&2; exit 1; }

W=$(mktemp -d /var/tmp/abide-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
export SOURCE_DATE_EPOCH=1721362140

echo "bench: making a ${size_mib} MiB tree in $W/tree"
mkdir -p "$W/tree"
# 64 directories of 4 MiB files, random so nothing deduplicates.
n=$((size_mib / 4))
for i in $(seq 1 "$n"); do
        d="$W/tree/d$((i % 64))"
        mkdir -p "$d"
        head -c 4M /dev/urandom >"$d/f$i"
done
"$B" keygen -o "$W/keys" >/dev/null
printf '[Image]\nName=bench\nVersion=1\nCompatible=bench\n[Content]\nLayer=tree:%s\n' "$W/tree" >"$W/bench.conf"
sync

now() { date +%s.%N; }
plain() {
        rm -rf "$W/plain" && mkdir "$W/plain"
        cp -a "$W/tree" "$W/plain/tree"   # abide-build stages the tree too
        mkfs.erofs --quiet -T"$SOURCE_DATE_EPOCH" "$W/plain/root.img" "$W/plain/tree"
        veritysetup format "$W/plain/root.img" "$W/plain/root.verity" >"$W/plain/vs.out"
        sha256sum "$W/plain/root.img" "$W/plain/root.verity" >"$W/plain/manifest.json"
        openssl cms -sign -binary -outform DER -signer "$W/keys/signing.crt" -inkey "$W/keys/signing.key" \
                -in "$W/plain/manifest.json" -out "$W/plain/manifest.json.sig"
        tar -cf "$W/plain/bundle.tar" -C "$W/plain" manifest.json manifest.json.sig root.img root.verity
}
ours() {
        rm -rf "$W/ours" && mkdir "$W/ours"
        "$B" build "$W/bench.conf" --key "$W/keys/signing.key" --cert "$W/keys/signing.crt" -o "$W/ours" >/dev/null
}

best_plain=; best_ours=
for round in 1 2 3; do
        sync; t0=$(now); plain; sync; t1=$(now)
        sync; t2=$(now); ours; sync; t3=$(now)
        p=$(echo "$t1 - $t0" | bc); o=$(echo "$t3 - $t2" | bc)
        echo "bench: round $round: plain tools ${p}s, abide-build ${o}s"
        if [ -z "$best_plain" ] || [ "$(echo "$p < $best_plain" | bc)" = 1 ]; then best_plain=$p; fi
        if [ -z "$best_ours" ] || [ "$(echo "$o < $best_ours" | bc)" = 1 ]; then best_ours=$o; fi
done
printf 'bench-build: %d MiB tree: plain tools (cp -a, mkfs.erofs, veritysetup format, sha256sum, openssl cms, tar) %.2fs; abide-build build %.2fs; ratio %.3f (target <= 1.10)\n' \
        "$size_mib" "$best_plain" "$best_ours" "$(echo "$best_ours / $best_plain" | bc -l)"
