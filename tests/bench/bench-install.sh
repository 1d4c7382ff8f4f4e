#!/bin/bash
# Benchmark: `abidectl install` of a ~1 GiB bundle into a loop-device slot
# against `dd bs=4M oflag=direct conv=fsync` of the same root image onto the
# same partition, in the same run; then both again with the loop device's
# writes throttled to eMMC speed (ABIDE_BENCH_THROTTLE_MBS, default 80 MB/s).
# Prints medians and ratios (targets: >= 0.85 on the loop device, >= 0.95
# throttled). Not a test: nothing here fails on a figure. Runs as root.
#
#   tests/bench/bench-install.sh [BUILDDIR] [SIZE_MIB] [ROUNDS]
#
# The throttle: cgroup v2 io.max where the io controller is on the unified
# hierarchy, else cgroup v1 blkio.throttle.write_bps_device (what a hybrid
# host offers). Both throttle the bios submitted to the loop disk, so they
# hold O_DIRECT writes (install's and dd's) to the rate.
#
# The loop device is buffered (losetup's default): its backing file's page
# cache takes the writes and fsync writes them out, in the loop device's one
# worker, as do reads and flushes. flush-probe.py shows it for this machine:
# a read issued during the flush ends about its own time after the flush.
# An install that reads root back before its flush then takes at least dd's
# time plus the read-back's: the report prints the ratio that leaves.
# ABIDE_BENCH_LOOP_DIO=1 turns on its direct I/O (losetup --direct-io=on):
# writes and reads go to the disk below.
#
# ABIDE_BENCH_PREFAULT_MIB=N touches and frees N MiB before the install's
# and before dd's timer (tests/bench/common.sh; docs/build.md, "Fresh memory
# on this VM"). Off by default here: measured on 2026-12-06 (5 rounds each),
# 4096 MiB made dd slower (median 0.67 s against 0.53 s), not the install
# faster (1.13 s against 1.11 s): the pages freed just before dd are still
# being handed back to the host while it runs.
. "$(dirname "$0")/bench-lib.sh"
prefault_mib=${ABIDE_BENCH_PREFAULT_MIB:-0}
bench_device
if [ "${ABIDE_BENCH_LOOP_DIO:-0}" = 1 ]; then
        losetup --direct-io=on "$LOOP"
fi
echo "loop device: $(losetup -n -O NAME,DIO,LOG-SEC "$LOOP") (NAME DIO LOG-SEC)"
mkdir -p "$T/x"
tar -C "$T/x" -xf "$BIG" root.img root.verity
roothash=$(manifest_field "$BIG" "['verity']['root_hash']")
root_bytes=$(stat -c %s "$T/x/root.img")
throttle_mbs=${ABIDE_BENCH_THROTTLE_MBS:-80}

now() { date +%s.%N; }
run_install() { "$ABIDECTL" install --force "$BIG" >/dev/null; }
run_dd() { dd if="$T/x/root.img" of="$ROOT_B" bs=4M oflag=direct conv=fsync status=none; }
run_readback() { dd if="$ROOT_B" of=/dev/null bs=4M iflag=direct,count_bytes count="$root_bytes" status=none; }
run_verity() { veritysetup verify "$ROOT_B" "$VERITY_B" "$roothash"; }
timed() { local t0; t0=$(now); "$@"; python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$t0" "$(now)"; }

# throttle_on: moves this shell into a cgroup whose writes to the loop disk are limited.
CG=
throttle_on() {
        local mm bps=$((throttle_mbs * 1000 * 1000))
        mm=$(cat "/sys/block/${LOOP#/dev/}/dev")
        if grep -qw io /sys/fs/cgroup/cgroup.controllers 2>/dev/null; then
                CG=/sys/fs/cgroup/abide-bench.$$
                grep -qw io /sys/fs/cgroup/cgroup.subtree_control || echo +io >/sys/fs/cgroup/cgroup.subtree_control
                mkdir "$CG"
                echo "$mm wbps=$bps" >"$CG/io.max"
                THROTTLE="cgroup v2 io.max $mm wbps=$bps"
        elif [ -e /sys/fs/cgroup/blkio/blkio.throttle.write_bps_device ]; then
                CG=/sys/fs/cgroup/blkio/abide-bench.$$
                mkdir "$CG"
                echo "$mm $bps" >"$CG/blkio.throttle.write_bps_device"
                THROTTLE="cgroup v1 blkio.throttle.write_bps_device $mm $bps"
        else
                return 1
        fi
        echo $$ >"$CG/cgroup.procs"
}
throttle_off() {
        [ -n "$CG" ] || return 0
        if [ -e /sys/fs/cgroup/blkio/cgroup.procs ] && [[ $CG == */blkio/* ]]; then
                echo $$ >/sys/fs/cgroup/blkio/cgroup.procs
        else
                echo $$ >/sys/fs/cgroup/cgroup.procs
        fi
        rmdir "$CG" 2>/dev/null || true
        CG=
}
cleanup_hooks+=(throttle_off)

# rounds LABEL: ROUNDS pairs of install and dd; medians into $mi, $md.
# The read-back is dd's read of the root it just wrote: what any install that reads back adds to dd.
rounds() {
        local ti td tr is=() ds=() rs=()
        for r in $(seq 1 "$rounds"); do
                sync
                prefault
                ti=$(timed run_install)
                prefault
                td=$(timed run_dd)
                tr=$(timed run_readback)
                echo "$1 round $r: install ${ti}s, dd ${td}s, dd read-back ${tr}s (load $(cut -d' ' -f1 /proc/loadavg))"
                is+=("$ti") ds+=("$td") rs+=("$tr")
        done
        mi=$(median "${is[@]}") md=$(median "${ds[@]}") mr=$(median "${rs[@]}")
}
report() {
        python3 - "$1" "$bundle_bytes" "$root_bytes" "$mi" "$md" "$2" "$mr" <<'PY'
import sys
what, bb, rb, ti, td, target, tr = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), sys.argv[6], float(sys.argv[7])
ri, rd, rv = bb / ti / 2**20, rb / td / 2**20, rb / (td + tr) / 2**20
print(f"{what}: abidectl install {bb / 2**20:.0f} MiB bundle in {ti:.3f} s = {ri:.0f} MiB/s; "
      f"dd oflag=direct conv=fsync {rb / 2**20:.0f} MiB root in {td:.3f} s = {rd:.0f} MiB/s")
print(f"{what}: ratio install/dd throughput {ri / rd:.2f} (target >= {target}); time ratio dd/install {td / ti:.2f}")
print(f"{what}: dd, then dd iflag=direct reading the root back ({tr:.3f} s): {td + tr:.3f} s = {rv:.0f} MiB/s; "
      f"ratio install/(dd + read-back) {ri / rv:.2f}")
# An install that reads root back before its flush, on a device that serves reads, writes and the
# flush in one queue (the loop device's worker), takes at least dd's time plus the read-back:
# the ratio against dd it could reach with nothing else to do (its bundle's other bytes counted).
print(f"{what}: the most an install with a read-back can reach against dd here: "
      f"{(bb / (td + tr)) / rd / 2**20:.2f} (its bundle {bb / 2**20:.0f} MiB in dd + read-back time)")
PY
}

# Both inputs in the page cache, the fixture's writes synced and the partition written once,
# so neither side pays for that.
cat "$BIG" "$T/x/root.img" >/dev/null
run_dd
sync
echo "load before: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs; ${prefault_mib} MiB prefaulted before the install and before dd"
rounds loop
mi_loop=$mi md_loop=$md mr_loop=$mr
tv=$(timed run_verity)
sync
probe=$(python3 "$top/tests/bench/flush-probe.py" "$T/x/root.img" "$ROOT_B")
if throttle_on; then
        rounds throttled
        throttle_off
        mi_thr=$mi md_thr=$md mr_thr=$mr
else
        THROTTLE=
        echo "throttled: no cgroup io.max nor blkio throttle here, skipped"
fi
echo "medians of $rounds rounds (load after: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs):"
mi=$mi_loop md=$md_loop mr=$mr_loop report "loop device" 0.85
if [ -n "$THROTTLE" ]; then
        mi=$mi_thr md=$md_thr mr=$mr_thr report "throttled to $throttle_mbs MB/s ($THROTTLE)" 0.95
fi
echo "for context (loop device): $probe"
echo "for context: veritysetup verify of the written slot (the read-back install makes) alone: ${tv}s"
