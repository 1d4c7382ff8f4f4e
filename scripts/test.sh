#!/bin/bash
# Builds abide and runs every test suite (unit, integration, qemu), then the
# unit and integration suites again under ASan+UBSan, then each libFuzzer
# target (suite fuzz, a clang build of its own) for $ABIDE_FUZZ_SECONDS
# (default 30) seconds. Installs missing dependencies first (needs root, as
# the integration tests do).
#
#   scripts/test.sh            # everything
#   scripts/test.sh unit       # only the named suites (unit integration qemu fuzz)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"

"$top/scripts/install-deps.sh"

builddir=${ABIDE_BUILDDIR:-build}
asandir=${ABIDE_ASAN_BUILDDIR:-build-asan}
fuzzdir=${ABIDE_FUZZ_BUILDDIR:-build-fuzz}
# Totals below count only this run.
rm -f "$builddir/meson-logs/testlog.json" "$asandir/meson-logs/testlog.json" "$fuzzdir/meson-logs/testlog.json"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit integration qemu fuzz)
suite_args=()
fuzz=0
for s in "${suites[@]}"; do
        case $s in
        fuzz) fuzz=1 ;;
        *) suite_args+=(--suite "$s") ;;
        esac
done

rc=0
if [ ${#suite_args[@]} -gt 0 ]; then
        [ -f "$builddir/build.ninja" ] || meson setup "$builddir"
        ninja -C "$builddir"
        meson test -C "$builddir" --print-errorlogs "${suite_args[@]}" || rc=$?
fi

# Sanitizer pass over the fast suites (qemu runs the plain build's binaries in guests).
asan_suites=()
for s in "${suites[@]}"; do
        case $s in unit|integration) asan_suites+=(--suite "$s") ;; esac
done
if [ ${#asan_suites[@]} -gt 0 ] && [ "${ABIDE_SKIP_ASAN:-0}" != 1 ]; then
        [ -f "$asandir/build.ninja" ] || meson setup "$asandir" -Db_sanitize=address,undefined -Db_lundef=false
        ninja -C "$asandir"
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                meson test -C "$asandir" --print-errorlogs "${asan_suites[@]}" || rc=$?
fi

# The fuzz targets: a clang build with libFuzzer, each target one test.
if [ $fuzz = 1 ]; then
        [ -f "$fuzzdir/build.ninja" ] ||
                CC=clang meson setup "$fuzzdir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false
        ninja -C "$fuzzdir"
        ABIDE_FUZZ_SECONDS=${ABIDE_FUZZ_SECONDS:-30} meson test -C "$fuzzdir" --print-errorlogs --suite fuzz || rc=$?
fi

# One line of totals over every run above, from meson's JSON logs.
python3 - "$builddir" "$asandir" "$fuzzdir" <<'PY'
import json, os, sys
passed = failed = skipped = 0
for d in sys.argv[1:]:
    log = os.path.join(d, "meson-logs", "testlog.json")
    if not os.path.exists(log):
        continue
    for line in open(log):
        r = json.loads(line).get("result")
        if r in ("OK", "EXPECTEDFAIL"):
            passed += 1
        elif r == "SKIP":
            skipped += 1
        else:
            failed += 1
print(f"{passed} passed, {failed} failed" + (f", {skipped} skipped" if skipped else ""))
PY
exit $rc
