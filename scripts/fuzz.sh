#!/bin/bash
# Builds the libFuzzer targets (tests/fuzz) with clang, ASan and UBSan in
# their own build directory and runs each for SECONDS (default 30) over a
# temporary copy of its seed corpus. Fails on any crash, leak, hang or UB
# report; the input that did it is kept under BUILDDIR/meson-logs/fuzz/.
# Installs clang and the libFuzzer runtime first when missing (needs root).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]     # e.g. scripts/fuzz.sh 300 manifest
#
# ABIDE_FUZZ_BUILDDIR: build directory (default build-fuzz).
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

secs=${1:-30}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "fuzz.sh: '$secs' is not a number of seconds" >&2; exit 2; }
shift $(($# > 0 ? 1 : 0))

"$top/scripts/install-deps.sh"

dir=${ABIDE_FUZZ_BUILDDIR:-build-fuzz}
[ -f "$dir/build.ninja" ] ||
        CC=clang meson setup "$dir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false >/dev/null
ninja -C "$dir"

tests=()
for t in "$@"; do tests+=("fuzz-${t#fuzz-}"); done
rc=0
ABIDE_FUZZ_SECONDS=$secs meson test -C "$dir" --suite fuzz --num-processes 1 --print-errorlogs "${tests[@]}" \
        >"$dir/meson-logs/fuzz.out" 2>&1 || rc=$?
# One result line per target, as the runner printed it.
python3 - "$dir/meson-logs/testlog.json" <<'PY'
import json, sys
for line in open(sys.argv[1]):
    t = json.loads(line)
    out = [l for l in (t.get("stdout") or "").splitlines() if l.startswith(t["name"] + ":")]
    print(out[-1] if out else f"{t['name']}: {t['result']}")
PY
[ $rc -eq 0 ] || echo "fuzz.sh: failures; full output in $dir/meson-logs/fuzz.out" >&2
exit $rc
