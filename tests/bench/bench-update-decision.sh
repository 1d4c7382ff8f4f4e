#!/bin/bash
# Benchmark: `abidectl update --dry-run` (fetch channel.json and its
# signature, verify, parse, read the device's facts, decide) against nginx on
# 127.0.0.1, N runs over http and https. Prints the mean, median and max wall
# time per run and abidectl's own "Decided in" figure (target: decision
# < 50 ms on the device, docs/channel.md), next to the same fetch and CMS
# verification done with curl + openssl in the same run. Not a test. Runs as
# root (loop device, nginx).
#
#   tests/bench/bench-update-decision.sh [BUILDDIR] [N]
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${1:-$top/build}" && pwd)
n=${2:-50}
export ABIDE_BUILD=$builddir/builder/abide-build ABIDECTL=$builddir/bootctl/abidectl ABIDE_SRCDIR=$top \
        ABIDE_TEST_HELPERS=$builddir/tests/integration
[ -x "$ABIDECTL" ] && [ -x "$ABIDE_BUILD" ] || { echo "bench: build abide first (ninja -C $builddir)" >&2; exit 1; }
. "$top/tests/integration/lib.sh"
. "$top/tests/integration/bootctl-lib.sh"
. "$top/tests/integration/install-lib.sh"
. "$top/tests/integration/nginx-lib.sh"
need curl openssl

echo "bench: device, bundles 1.0 and 2.0, a channel with 2.0 at 100 % in $T"
export SOURCE_DATE_EPOCH=1721362140
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
head -c 300000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
head -c 1M /dev/urandom >"$T/payload/f0"
V1=$(build_bundle "$T/b1" --set Image.Version=1.0)
V2=$(build_bundle "$T/b2" --set Image.Version=2.0)
make_disk 16 2
make_config
fill_slot_a "$V1"
write_image_info 1.0 0
make_ca ca
make_cert ca server IP:127.0.0.1 serverAuth
mkdir -p "$WWW/chan"
KEY=(--key "$T/keys/signing.key" --cert "$T/keys/signing.crt")
"$ABIDE_BUILD" channel init "$WWW/chan" "${KEY[@]}" >/dev/null
"$ABIDE_BUILD" channel add "$WWW/chan" "$V2" --ca "$T/keys/ca.pem" --copy "${KEY[@]}" >/dev/null
nginx_start
echo 0123456789abcdef0123456789abcdef >"$T/machine-id"
printf '[Network]\nCAFile=%s\n[Report]\nSpool=%s\n[Update]\nMachineIdFile=%s\nState=%s\n' "$TLS/ca.pem" "$T/reports" \
        "$T/machine-id" "$T/update.json" >>"$T/abide.conf"
cp "$T/abide.conf" "$T/abide.base"

# run SCHEME: n dry runs; prints "mean median max decided_mean" in ms.
run() {
        local url=$1://127.0.0.1:$2/chan/channel.json
        cp "$T/abide.base" "$T/abide.conf"
        printf 'Channel=%s\n' "$url" >>"$T/abide.conf"
        "$ABIDECTL" update --dry-run | grepq '^Verdict:  install: ' || die "the dry run does not decide install"
        python3 - "$n" "$ABIDECTL" <<'PY'
import re, statistics, subprocess, sys, time
n, ctl = int(sys.argv[1]), sys.argv[2]
wall, decided = [], []
for _ in range(n):
    t0 = time.monotonic()
    out = subprocess.run([ctl, "update", "--dry-run"], capture_output=True, text=True, check=True).stdout
    wall.append((time.monotonic() - t0) * 1000)
    decided.append(float(re.search(r"^Decided in ([0-9.]+) ms", out, re.M).group(1)))
print(f"{statistics.mean(wall):.1f} {statistics.median(wall):.1f} {max(wall):.1f} {statistics.mean(decided):.1f}")
PY
}
# reference SCHEME PORT: curl both files, openssl cms -verify; n times; mean ms.
reference() {
        local url=$1://127.0.0.1:$2/chan/channel.json
        python3 - "$n" "$url" "$TLS/ca.pem" "$T/keys/ca.pem" "$T" <<'PY'
import statistics, subprocess, sys, time
n, url, tls_ca, ca, t = int(sys.argv[1]), sys.argv[2], sys.argv[3], sys.argv[4], sys.argv[5]
wall = []
for _ in range(n):
    t0 = time.monotonic()
    subprocess.run(["curl", "-sS", "--fail", "--cacert", tls_ca, "-o", f"{t}/c.json", url, "-o", f"{t}/c.sig", url + ".sig"], check=True)
    subprocess.run(["openssl", "cms", "-verify", "-binary", "-inform", "DER", "-in", f"{t}/c.sig", "-content", f"{t}/c.json",
                    "-CAfile", ca, "-purpose", "any", "-out", "/dev/null"], check=True, capture_output=True)
    wall.append((time.monotonic() - t0) * 1000)
print(f"{statistics.mean(wall):.1f}")
PY
}

for s in http https; do
        port=$HTTP_PORT; [ $s = http ] || port=$HTTPS_PORT
        res=$(run $s $port) || exit 1
        read -r mean median max decided <<<"$res"
        ref=$(reference $s $port) || exit 1
        echo "$s: abidectl update --dry-run x$n: mean ${mean} ms, median ${median} ms, max ${max} ms (process start to exit);" \
                "'Decided in' (fetch + verify + parse + device facts + decide) mean ${decided} ms;" \
                "curl + openssl cms -verify mean ${ref} ms; ratio $(python3 -c "print(f'{$mean / $ref:.2f}')")"
done
