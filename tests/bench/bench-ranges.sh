#!/bin/bash
# Benchmark: a delta install whose missing blocks are scattered (every other
# 64 KiB of every file of the root changed, so about 8 runs per MiB of root)
# from nginx over https on 127.0.0.1, through tests/integration/fault-proxy.py,
# which holds each thing the client sends for D ms (a round trip of a slower
# link; D from ABIDE_BENCH_DELAYS, default "0 20"). For each D, in the same
# run, rounds interleaved, slot b holding the old release and the page cache
# dropped before each install, for each DeltaConnections= of
# ABIDE_BENCH_CONNECTIONS (default "2 4": requests on their way at once):
#   - `abidectl install URL`: up to 128 ranges a request (docs/delta.md, step 8);
#   - the same from /onerange/ (nginx max_ranges 1): one range a request, as
#     abide fetched before;
#   - `curl -o /dev/null` of the whole bundle through the same proxy (the
#     reference).
# With ABIDE_BENCH_NEW_KERNEL=1 the new release has a new kernel as well (4
# MiB, fetched whole). Prints medians, the requests and the ratios. Not a
# test. Runs as root (loop devices, nginx).
#
#   tests/bench/bench-ranges.sh [BUILDDIR] [ROOT_MIB] [ROUNDS]
set -- "${1:-$(dirname "$0")/../../build}" "${2:-256}" "${3:-3}"
. "$(dirname "$0")/bench-lib.sh"
. "$top/tests/integration/nginx-lib.sh"
need curl
delays=${ABIDE_BENCH_DELAYS:-0 20}
# DeltaConnections= values, each measured in every round: the default (4), and 2 (what abide had before it).
conns=${ABIDE_BENCH_CONNECTIONS:-2 4}
export SOURCE_DATE_EPOCH=1721362140

echo "bench: a ${size_mib} MiB root, every other 64 KiB of its files changed, in $T"
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
head -c 4M /dev/urandom >"$T/kernel/vmlinuz-$KVER"
for i in $(seq 1 $((size_mib / 8))); do head -c 8M /dev/urandom >"$T/payload/f$i"; done
V1=$(build_bundle "$T/b1" --set Image.Version=1.0)
python3 - "$T/payload" <<'PY'
import os, sys
for n in sorted(os.listdir(sys.argv[1])):
    with open(os.path.join(sys.argv[1], n), "r+b") as f:
        for off in range(0, os.fstat(f.fileno()).st_size, 128 << 10):
            f.seek(off)
            f.write(os.urandom(64 << 10))
PY
if [ -n "${ABIDE_BENCH_NEW_KERNEL:-}" ]; then
        echo "bench: and a new 4 MiB kernel"
        head -c 4M /dev/urandom >"$T/kernel/vmlinuz-$KVER"
fi
V2=$(build_bundle "$T/b2" --set Image.Version=2.0)
rm -rf "$T/payload"
make_disk $(( $(manifest_field "$V2" "['payloads'][0]['size']") / 1048576 + 8 )) 8
make_config
fill_slot_a "$V1"
write_image_info 1.0 0
make_ca ca
make_cert ca server IP:127.0.0.1 serverAuth
mkdir -p "$WWW"
ln "$V2" "$WWW/b.abide" 2>/dev/null || cp "$V2" "$WWW/b.abide"
printf '[Network]\nCAFile=%s\nDeltaConnections=4\n' "$TLS/ca.pem" >>"$T/abide.conf"
nginx_start
size=$(stat -c %s "$V2")

# fresh: slot b back to the old release, the page cache dropped.
fresh() {
        "$ABIDECTL" install --force "$V1" >/dev/null
        sync
        echo 3 >/proc/sys/vm/drop_caches
}
# timed CMD...: wall seconds, stdout of CMD to $T/out.
timed() {
        local s e
        s=$(date +%s.%N)
        "$@" >"$T/out" 2>"$T/err" || die "$*: $(cat "$T/err")"
        e=$(date +%s.%N)
        awk -v s="$s" -v e="$e" 'BEGIN {printf "%.3f\n", e - s}'
}
fetched() { sed -n 's/^Fetched \([0-9]*\) bytes in \([0-9]*\) requests.*/\1 bytes in \2 requests/p' "$T/out"; }

"$ABIDECTL" install --force --dry-run "https://127.0.0.1:$HTTPS_PORT/b.abide" >"$T/dry" || die "dry run failed"
echo "bench: bundle $size bytes; $(grep -o 'root.img [0-9]* blocks: [0-9]* to be fetched in [0-9]* ranges' "$T/dry")"
for d in $delays; do
        proxy_start "$HTTPS_PORT" --delay-ms "$d"
        base=https://127.0.0.1:$PROXY_PORT
        : >"$T/curl"
        for c in $conns; do : >"$T/multi.$c" >"$T/one.$c"; done
        for r in $(seq 1 "$rounds"); do
                line="bench: delay $d ms, round $r:"
                for c in $conns; do
                        sed -i "s/^DeltaConnections=.*/DeltaConnections=$c/" "$T/abide.conf"
                        fresh
                        c0=$(proxy_stat connections)
                        timed "$ABIDECTL" install --force "$base/b.abide" >>"$T/multi.$c"
                        m="$(fetched), $(($(proxy_stat connections) - c0)) connection(s)"
                        fresh
                        c0=$(proxy_stat connections)
                        timed "$ABIDECTL" install --force "$base/onerange/b.abide" >>"$T/one.$c"
                        grep -q "one range a request" "$T/out" || die "/onerange/ was not one range a request: $(cat "$T/out")"
                        o="$(fetched), $(($(proxy_stat connections) - c0)) connection(s)"
                        line="$line DeltaConnections=$c: several ranges $(tail -n 1 "$T/multi.$c") s ($m), one range a request $(tail -n 1 "$T/one.$c") s ($o);"
                done
                sync
                echo 3 >/proc/sys/vm/drop_caches
                timed curl -sS --fail --cacert "$TLS/ca.pem" -o /dev/null "$base/b.abide" >>"$T/curl"
                echo "$line curl of the bundle $(tail -n 1 "$T/curl") s"
        done
        C=$(median $(cat "$T/curl"))
        for c in $conns; do
                M=$(median $(cat "$T/multi.$c")) O=$(median $(cat "$T/one.$c"))
                echo "bench: delay $d ms, DeltaConnections=$c, medians: several ranges a request $M s, one range a request $O s, curl of the whole bundle $C s"
                awk -v d="$d" -v k="$c" -v m="$M" -v o="$O" -v c="$C" \
                        'BEGIN {printf "bench: delay %s ms, DeltaConnections=%s: several/curl %.2f, one-range/curl %.2f, several/one-range %.2f\n", d, k, m / c, o / c, m / o}'
        done
        proxy_stop
done
