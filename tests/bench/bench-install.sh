#!/bin/bash
# Benchmark: `abidectl install` of a ~1 GiB bundle into a loop-device slot
# against `dd bs=4M conv=fsync` of the same root image onto the same
# partition, in the same run. Prints both and the ratio (target: >= 0.85).
# Not a test. Runs as root (loop devices).
#
#   tests/bench/bench-install.sh [BUILDDIR] [SIZE_MIB] [ROUNDS]
. "$(dirname "$0")/bench-lib.sh"
bench_device
mkdir -p "$T/x"
tar -C "$T/x" -xf "$BIG" root.img root.verity
roothash=$(manifest_field "$BIG" "['verity']['root_hash']")
root_bytes=$(stat -c %s "$T/x/root.img")

now() { date +%s.%N; }
run_install() { "$ABIDECTL" install --force "$BIG" >/dev/null; }
run_dd() { dd if="$T/x/root.img" of="$ROOT_B" bs=4M conv=fsync status=none; }
# The same checks install makes, done with the tools: for context, not the target.
run_tools() {
        sha256sum "$BIG" >/dev/null
        run_dd
        dd if="$T/x/root.verity" of="$VERITY_B" bs=4M conv=fsync status=none
        blockdev --flushbufs "$ROOT_B"
        dd if="$ROOT_B" bs=4M iflag=direct,count_bytes count="$root_bytes" status=none | sha256sum >/dev/null
        veritysetup verify "$ROOT_B" "$VERITY_B" "$roothash"
}
run_verity() { veritysetup verify "$ROOT_B" "$VERITY_B" "$roothash"; }
timed() { local t0; t0=$(now); "$@"; python3 -c "import sys; print(f'{float(sys.argv[2]) - float(sys.argv[1]):.3f}')" "$t0" "$(now)"; }

# Both inputs in the page cache and the partition written once, so neither side pays for that.
cat "$BIG" "$T/x/root.img" >/dev/null
run_dd
best_i=999 best_d=999 best_t=999 best_v=999
for r in $(seq 1 "$rounds"); do
        ti=$(timed run_install)
        td=$(timed run_dd)
        tt=$(timed run_tools)
        tv=$(timed run_verity)
        echo "round $r: install ${ti}s, dd ${td}s, the same checks with tools ${tt}s, veritysetup verify alone ${tv}s"
        best_i=$(python3 -c "print(min($best_i, $ti))")
        best_d=$(python3 -c "print(min($best_d, $td))")
        best_t=$(python3 -c "print(min($best_t, $tt))")
        best_v=$(python3 -c "print(min($best_v, $tv))")
done
echo "best of $rounds rounds (load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs):"
python3 - "$bundle_bytes" "$root_bytes" "$best_i" "$best_d" "$best_t" "$best_v" <<'PY'
import sys
bb, rb, ti, td, tt, tv = int(sys.argv[1]), int(sys.argv[2]), *map(float, sys.argv[3:7])
ri, rd = bb / ti / 2**20, rb / td / 2**20
print(f"abidectl install: {bb / 2**20:.0f} MiB bundle in {ti:.3f} s = {ri:.0f} MiB/s "
      "(verify signature, stream+hash, write, fsync, read back + sha256, dm-verity check)")
print(f"dd conv=fsync:    {rb / 2**20:.0f} MiB root image in {td:.3f} s = {rd:.0f} MiB/s")
print(f"ratio (install / dd throughput): {ri / rd:.2f}  (target >= 0.85)")
print(f"for context, the same checks with the tools (sha256sum bundle, dd root+verity, sha256sum read-back, "
      f"veritysetup verify): {tt:.3f} s; install / tools: {tt / ti:.2f}")
print(f"the dm-verity check alone (veritysetup verify, the same libcryptsetup code install runs): {tv:.3f} s; "
      f"install without it would be about {ti - tv:.3f} s, ratio {(bb / max(ti - tv, 1e-3)) / (rb / td):.2f}")
PY
