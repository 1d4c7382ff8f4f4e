#!/bin/bash
# Benchmark: `abide-build build` on a ~1 GiB tree against the same steps run
# as plain tools in the same run (mkfs.erofs, veritysetup format, openssl cms).
# Prints both times and the ratio (target: at most 1.10). Not a test.
# Also against the same steps followed by an fsync of the image and its
# tree: abide-build syncs its bundle before it returns, the three plain
# steps do not wait for their output to reach the disk (docs/build.md,
# "What the image's writeback costs").
#
#   tests/bench/bench-build.sh [BUILDDIR] [SIZE_MIB]
#
# ROUNDS=5 runs per measurement. Each round times the plain steps and then
# abide-build back to back, so a round's ratio compares runs made under the
# same load; the summary gives the median of those ratios and the medians of
# the times (and, as before, the best of each). The load average is printed
# at the start and the end: on a shared machine say which figures were taken
# under load.
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
# Plain tool steps, timed one by one: the three the issue names (mkfs.erofs,
# veritysetup format, openssl cms) and the ones abide-build also does (it
# hashes the payloads for the manifest, packs a tar and syncs it). mkfs.erofs
# reads the tree itself, as abide-build does: no staging copy on either side.
# (A copy made just before also reads back faster than the tree on this
# kind of VM: 0.26-0.4 s against 0.67-1.4 s for `cat` of 1 GiB, both cached,
# measured 2026-12-02; that flattered the plain side when it read its copy.)
# Before each side's timer starts, the same state for both (docs/build.md,
# "Fresh memory on this VM"):
# - prefault (tests/bench/common.sh): ABIDE_BENCH_PREFAULT_MIB (default 4096)
#   of memory touched and freed. On this kind of VM memory the guest has not
#   used lately (freed pages are reported to the host, virtio-balloon's free
#   page reporting) costs 2-3 s a GiB the first time it is touched: right
#   after the plain chain, 2 GiB touched took 7.2 s (1.6-2.4 s otherwise),
#   and abide-build 5.8-6.3 s (2.7-2.9 s when it ran first; 2026-12-05). 0
#   turns it off.
# - warm: the tree read into the page cache. The VM also runs DAMON with a
#   pageout scheme (/sys/kernel/mm/damon), which reclaims cached pages idle
#   for a minute.
. "$top/tests/bench/common.sh"
warm() { find "$W/tree" -type f -exec cat {} + >/dev/null; }
plain() {
        rm -rf "$W/plain" && mkdir "$W/plain"
        local t1 t2 t3 t4 t5 t5s t6
        prefault
        warm
        sync; t1=$(now)
        mkfs.erofs --quiet -T"$SOURCE_DATE_EPOCH" "$W/plain/root.img" "$W/tree"
        t2=$(now)
        veritysetup format "$W/plain/root.img" "$W/plain/root.verity" >"$W/plain/vs.out"
        t3=$(now)
        sha256sum "$W/plain/root.img" "$W/plain/root.verity" >"$W/plain/manifest.json"
        t4=$(now)
        openssl cms -sign -binary -outform DER -signer "$W/keys/signing.crt" -inkey "$W/keys/signing.key" \
                -in "$W/plain/manifest.json" -out "$W/plain/manifest.json.sig"
        t5=$(now)
        # The image and its tree on the disk, as abide-build's bundle is before
        # its rename (fsync of the two files, not of the file system).
        sync "$W/plain/root.img" "$W/plain/root.verity"
        t5s=$(now)
        tar -cf "$W/plain/bundle.tar" -C "$W/plain" manifest.json manifest.json.sig root.img root.verity
        sync; t6=$(now)
        narrow=$(echo "($t2 - $t1) + ($t3 - $t2) + ($t5 - $t4)" | bc)
        durable=$(echo "$narrow + ($t5s - $t5)" | bc)
        full=$(echo "$t6 - $t1" | bc)
}
ours() {
        rm -rf "$W/ours" && mkdir "$W/ours"
        local t0 t1
        prefault
        warm
        sync; t0=$(now)
        "$B" build "$W/bench.conf" --key "$W/keys/signing.key" --cert "$W/keys/signing.crt" -o "$W/ours" >/dev/null
        sync; t1=$(now)
        mine=$(echo "$t1 - $t0" | bc)
}

min() { if [ -z "$1" ] || [ "$(echo "$2 < $1" | bc)" = 1 ]; then echo "$2"; else echo "$1"; fi; }
rounds=${ROUNDS:-5}
load() { cut -d' ' -f1-3 /proc/loadavg; }
echo "bench: $(nproc) CPUs, load average $(load) before the first round; ${prefault_mib} MiB prefaulted before each side"
for k in /sys/kernel/mm/damon/admin/kdamonds/*/; do
        [ -f "$k/state" ] && echo "bench: DAMON $(basename "$k") $(cat "$k/state")," \
                "actions: $(cat "$k"/contexts/*/schemes/*/action 2>/dev/null | tr '\n' ' ')(the tree is read right before each side)"
done
best_narrow=; best_full=; best_ours=
all_narrow=() all_full=() all_ours=() all_durable=() ratios=() ratios_full=() ratios_durable=()
for round in $(seq 1 "$rounds"); do
        # Alternate which goes first, so neither always runs after the other's writeback.
        if [ $((round % 2)) = 1 ]; then plain; ours; else ours; plain; fi
        echo "bench: round $round: mkfs+veritysetup+cms ${narrow}s (then synced ${durable}s), whole plain chain ${full}s, abide-build ${mine}s" \
                "(ratio $(printf %.3f "$(echo "$mine / $narrow" | bc -l)"), load $(load)"
        best_narrow=$(min "$best_narrow" "$narrow")
        best_full=$(min "$best_full" "$full")
        best_ours=$(min "$best_ours" "$mine")
        all_narrow+=("$narrow") all_full+=("$full") all_ours+=("$mine") all_durable+=("$durable")
        ratios_durable+=("$(echo "$mine / $durable" | bc -l)")
        ratios+=("$(echo "$mine / $narrow" | bc -l)") ratios_full+=("$(echo "$mine / $full" | bc -l)")
done
m_ours=$(median "${all_ours[@]}") m_narrow=$(median "${all_narrow[@]}") m_full=$(median "${all_full[@]}")
printf 'bench-build: %d MiB tree, %d rounds, %d CPUs, load average at the end %s\n' "$size_mib" "$rounds" "$(nproc)" "$(load)"
printf 'bench-build: abide-build build: median %.2fs, best %.2fs\n' "$m_ours" "$best_ours"
printf 'bench-build:   vs mkfs.erofs + veritysetup format + openssl cms   median %.2fs best %.2fs  ratio: median of rounds %.3f, of medians %.3f, of bests %.3f (target <= 1.10)\n' \
        "$m_narrow" "$best_narrow" "$(median "${ratios[@]}")" "$(echo "$m_ours / $m_narrow" | bc -l)" "$(echo "$best_ours / $best_narrow" | bc -l)"
printf 'bench-build:   vs the same three, then the image and its tree synced (fsync)  median %.2fs  ratio: median of rounds %.3f\n' \
        "$(median "${all_durable[@]}")" "$(median "${ratios_durable[@]}")"
printf 'bench-build:   vs the whole plain chain (plus sha256sum, tar, sync)  median %.2fs best %.2fs  ratio: median of rounds %.3f, of bests %.3f\n' \
        "$m_full" "$best_full" "$(median "${ratios_full[@]}")" "$(echo "$best_ours / $best_full" | bc -l)"
