#!/bin/bash
# Benchmark: the dm-verity tree of a 1 GiB image, abide's one pass (the leaves
# through lib/crypto/sha256-many, the image's SHA-256 on a second thread, the
# tree from the leaves) with intel-ipsec-mb's lanes and with the library
# hidden (OpenSSL, one leaf after another), against `veritysetup format` on
# the same image in the same run. Prints wall and CPU times, and the ratios.
# Not a test (docs/install.md, "Leaves in several lanes").
#
#   tests/bench/bench-leaves.sh [BUILDDIR] [SIZE_MIB]      (as root: the hidden runs use a mount namespace)
#
# ROUNDS=5 rounds, each the three one after another; medians.
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${1:-$top/build}" && pwd)
size_mib=${2:-1024}
H=$builddir/tests/integration/helper-verity
[ -x "$H" ] || { echo "bench: build abide first (ninja -C $builddir)" >&2; exit 1; }
[ "$(id -u)" -eq 0 ] || { echo "bench: run as root (the library is hidden in a mount namespace)" >&2; exit 1; }
# The library hidden: tests/integration/without-ipsec-mb.sh (a mount namespace, a few ms more).
without=$top/tests/integration/without-ipsec-mb.sh
"$without" true

W=$(mktemp -d /var/tmp/abide-bench.XXXXXX)
trap 'rm -rf "$W"' EXIT
head -c "${size_mib}M" /dev/urandom >"$W/img"
cat "$W/img" >/dev/null

# run NAME CMD...: wall, user and sys seconds of CMD, appended to $W/NAME.
run() {
        local name=$1; shift
        /usr/bin/time -f '%e %U %S' -o "$W/t" "$@" >/dev/null
        cat "$W/t" >>"$W/$name"
}

rounds=${ROUNDS:-5}
for r in $(seq 1 "$rounds"); do
        run veritysetup veritysetup format --hash=sha256 --data-block-size=4096 --hash-block-size=4096 \
                --salt=5a17 "$W/img" "$W/h.ref"
        run lanes "$H" format-derived "$W/img" "$W/h.lanes" --salt 5a17
        run openssl "$without" "$H" format-derived "$W/img" "$W/h.openssl" --salt 5a17
done
cmp -s "$W/h.lanes" "$W/h.openssl" || { echo "bench: the two trees differ" >&2; exit 1; }

python3 - "$W" "$size_mib" "$rounds" "$(nproc)" <<'PY'
import statistics, sys
w, mib, rounds, cpus = sys.argv[1], sys.argv[2], sys.argv[3], sys.argv[4]
def med(name):
    rows = [list(map(float, l.split())) for l in open(f"{w}/{name}")]
    return [statistics.median(r[i] for r in rows) for i in range(3)]
ref, lanes, ossl = med("veritysetup"), med("lanes"), med("openssl")
print(f"bench-leaves: {mib} MiB image, {rounds} rounds, {cpus} CPUs; medians: wall s (user + sys s)")
for name, (e, u, s) in (("veritysetup format", ref), ("abide one pass, intel-ipsec-mb lanes", lanes),
                        ("abide one pass, OpenSSL (library hidden)", ossl)):
    print(f"bench-leaves:   {name:42s} {e:6.3f} s ({u:.3f} + {s:.3f} s CPU)")
print(f"bench-leaves: abide/veritysetup wall: lanes {lanes[0] / ref[0]:.2f}, OpenSSL {ossl[0] / ref[0]:.2f}; "
      f"CPU: lanes {(lanes[1] + lanes[2]) / (ref[1] + ref[2]):.2f}, OpenSSL {(ossl[1] + ossl[2]) / (ref[1] + ref[2]):.2f}")
print(f"bench-leaves: lanes/OpenSSL: wall {lanes[0] / ossl[0]:.2f}, CPU {(lanes[1] + lanes[2]) / (ossl[1] + ossl[2]):.2f}")
PY
