# Sourced by the benchmarks.

# median X...: the median of the numbers.
median() { printf '%s\n' "$@" | sort -g | awk '{v[NR] = $1} END {print (NR % 2) ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2}'; }

# prefault: ABIDE_BENCH_PREFAULT_MIB (default 4096) of memory touched and freed, so that each side
# of a comparison starts with the same memory (docs/build.md, "Fresh memory on this VM"). On this
# kind of VM memory the guest has not used lately (freed pages are reported to the host,
# virtio-balloon's free page reporting) costs 2-3 s a GiB the first time it is touched. 0 turns it off.
prefault_mib=${ABIDE_BENCH_PREFAULT_MIB:-4096}
prefault() {
        [ "$prefault_mib" -gt 0 ] || return 0
        python3 -c "import sys; b = bytearray(int(sys.argv[1]) << 20); b[::4096] = b'x' * (len(b) // 4096)" "$prefault_mib"
}
