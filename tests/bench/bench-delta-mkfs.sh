#!/bin/bash
# Benchmark: how delta-friendly the root images of mkfs.erofs and mksquashfs
# are under candidate options. Builds a tree (a copy of host files), then
# three changed copies: one file edited in place (same size), one file grown
# by 6000 bytes, one 50 KiB file added; makes an image of each with each
# option set and counts the 4 KiB blocks of the new image whose content
# occurs nowhere in the old one (tests/bench/delta-blocks.py): what a device
# that matches blocks by their dm-verity leaf hash must fetch. Also checks
# that each option set is byte-reproducible. Not a test; prints figures.
#
#   tests/bench/bench-delta-mkfs.sh [TREE_SOURCE...]   (default: Python's standard library and /usr/share/perl)
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
die() { echo "bench: $*" >&2; exit 1; }
need() { for t in "$@"; do command -v "$t" >/dev/null || die "required tool '$t' not found (run scripts/install-deps.sh)"; done; }
need mkfs.erofs mksquashfs python3
# Debian's Python (not one a user put first in PATH).
[ $# -gt 0 ] || set -- "$(/usr/bin/python3 -c 'import sysconfig; print(sysconfig.get_path("stdlib"))')" /usr/share/perl
W=$(mktemp -d /var/tmp/abide-bench-mkfs.XXXXXX)
trap 'rm -rf "$W"' EXIT
epoch=1721362140
blocks=$top/tests/bench/delta-blocks.py

mkdir -p "$W/old"
for s in "$@"; do
        [ -d "$s" ] || die "no directory $s"
        mkdir -p "$W/old$(dirname "$s")"
        cp -a "$s" "$W/old$(dirname "$s")/"
done
# Files of 16-64 KiB in sorted order, so the changed one sits early in the image and
# everything after it would shift.
mapfile -t mid < <(cd "$W/old" && find . -type f -size +16k -size -64k | LC_ALL=C sort)
[ ${#mid[@]} -gt 10 ] || die "the tree has too few files of 16-64 KiB"
victim=${mid[$(( ${#mid[@]} / 10 ))]}
firstdir=$(cd "$W/old" && find . -mindepth 2 -type d | LC_ALL=C sort | sed -n 1p)
for c in edit grow add; do cp -a "$W/old" "$W/$c"; done
# edit: one byte flipped in the middle; grow: 6000 bytes appended; add: a new 50 KiB file.
python3 - "$W/edit/$victim" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    n = os.fstat(f.fileno()).st_size
    f.seek(n // 2); b = f.read(1); f.seek(n // 2); f.write(bytes([b[0] ^ 0xff]))
PY
head -c 6000 /dev/urandom >>"$W/grow/$victim"
head -c 51200 /dev/urandom >"$W/add/$firstdir/aaa-new-file"
for t in old edit grow add; do find "$W/$t" -exec touch -h -d "@$epoch" {} +; done
echo "tree: $(du -sh --apparent-size "$W/old" | cut -f1) in $(find "$W/old" -type f | wc -l) files from $*;" \
     "changed file: $victim ($(stat -c %s "$W/old/$victim") bytes); new file in $firstdir"
echo "mkfs.erofs: $(mkfs.erofs --help 2>&1 | head -n 1 | grep -o '[0-9][0-9.]*' || dpkg-query -W -f='${Version}' erofs-utils)," \
     "mksquashfs: $(mksquashfs -version 2>/dev/null | head -n 1)"

uuid_of() { python3 -c 'import uuid, sys; print(uuid.uuid5(uuid.NAMESPACE_URL, sys.argv[1]))' "$1"; }
mk() {  # mk FS "OPTIONS" TREE OUT
        local fs=$1 opts=$2 tree=$3 out=$4
        rm -f "$out"
        # shellcheck disable=SC2086
        case $fs in
        erofs) mkfs.erofs --quiet -T"$epoch" -U"$(uuid_of "$tree")" $opts "$out" "$tree" >/dev/null ;;
        squashfs) mksquashfs "$tree" "$out" -noappend -quiet -no-progress -mkfs-time "$epoch" -all-time "$epoch" \
                          -reproducible $opts >/dev/null ;;
        esac
}

printf '%-9s %-44s %9s | %-22s | %-22s | %-22s | %s\n' fs options "image" "edit 1 byte" "grow +6000 B" "add 50 KiB" reproducible
row() {
        local fs=$1 opts=$2 c out="" rep=yes
        mk "$fs" "$opts" "$W/old" "$W/old.img"
        mk "$fs" "$opts" "$W/old" "$W/old2.img"
        cmp -s "$W/old.img" "$W/old2.img" || rep=NO
        for c in edit grow add; do
                mk "$fs" "$opts" "$W/$c" "$W/new.img"
                read -r n total bytes < <(python3 "$blocks" "$W/old.img" "$W/new.img")
                out+=$(printf '| %5d blk %8.1f KiB ' "$n" "$(echo "$bytes / 1024" | bc -l)")
        done
        printf '%-9s %-44s %6d KiB %s| %s\n' "$fs" "${opts:-(default)}" $(( $(stat -c %s "$W/old.img") / 1024 )) "$out" "$rep"
}
row erofs ""
row erofs "-E noinline_data"
row erofs "-E noinline_data,force-inode-extended"
row erofs "-zlz4hc"
row erofs "-zlz4hc -E noinline_data"
row squashfs "-comp zstd"
row squashfs "-comp zstd -no-fragments"
row squashfs "-comp zstd -no-fragments -b 4K"
row squashfs "-noI -noD -noF -noX -no-fragments"
row squashfs "-noI -noD -noF -noX -no-fragments -b 4K"
