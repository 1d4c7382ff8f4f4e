#!/bin/bash
# Builds abide and runs every test suite (unit, integration, qemu), the
# unit and integration suites again under ASan+UBSan, and each libFuzzer
# target (suite fuzz, a clang build of its own) for $ABIDE_FUZZ_SECONDS
# (default 30) seconds. The sanitizer and fuzz passes run beside the qemu
# scenarios, niced; the scenarios that run alone first, then the others two at
# a time (ABIDE_QEMU_JOBS). Installs missing
# dependencies first (needs root, as the integration tests do).
#
#   scripts/test.sh            # everything
#   scripts/test.sh unit       # only the named suites (unit integration qemu fuzz)
set -euo pipefail

top=$(cd "$(dirname "$0")/.." && pwd)
cd "$top"
# phase TEXT: one line with the seconds since the start, so a slow step shows in CI's log.
start=$(date +%s)
phase() { echo "scripts/test.sh: [$(($(date +%s) - start)) s] $*"; }

"$top/scripts/install-deps.sh"

builddir=${ABIDE_BUILDDIR:-build}
asandir=${ABIDE_ASAN_BUILDDIR:-build-asan}
fuzzdir=${ABIDE_FUZZ_BUILDDIR:-build-fuzz}
# Totals below count only this run.
rm -f "$builddir/meson-logs/testlog.json" "$builddir/meson-logs/testlog-fast.json" "$builddir/meson-logs/testlog-qemu-alone.json" \
        "$asandir/meson-logs/testlog.json" "$fuzzdir/meson-logs/testlog.json" \
        "$asandir/meson-logs/build-failed" "$fuzzdir/meson-logs/build-failed"

suites=("$@")
[ ${#suites[@]} -gt 0 ] || suites=(unit integration qemu fuzz)
fast_args=() asan_args=()
qemu=0 fuzz=0
for s in "${suites[@]}"; do
        case $s in
        fuzz) fuzz=1 ;;
        qemu) qemu=1 ;;
        unit|integration) fast_args+=(--suite "$s") asan_args+=(--suite "$s") ;;
        *) echo "scripts/test.sh: unknown suite '$s' (unit integration qemu fuzz)" >&2; exit 2 ;;
        esac
done
[ "${ABIDE_SKIP_ASAN:-0}" != 1 ] || asan_args=()

# A build that failed counts as one failed test in the totals.
build_failed() {
        mkdir -p "$1/meson-logs" && echo "the build in $1 failed" >"$1/meson-logs/build-failed"
}
# The sanitizer pass over the fast suites (qemu runs the plain build's binaries in guests).
asan_pass() {
        phase "the ASan/UBSan build and its unit and integration suites"
        { [ -f "$asandir/build.ninja" ] || meson setup "$asandir" -Db_sanitize=address,undefined -Db_lundef=false; } &&
                ninja -C "$asandir" || { build_failed "$asandir"; return 1; }
        ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1 \
                meson test -C "$asandir" --print-errorlogs "$@" "${asan_args[@]}"
}
# The fuzz targets: a clang build with libFuzzer, each target one test.
fuzz_pass() {
        phase "the fuzz build and targets"
        { [ -f "$fuzzdir/build.ninja" ] ||
                CC=clang meson setup "$fuzzdir" -Dfuzz=true -Db_sanitize=address,undefined -Db_lundef=false; } &&
                ninja -C "$fuzzdir" || { build_failed "$fuzzdir"; return 1; }
        ABIDE_FUZZ_SECONDS=${ABIDE_FUZZ_SECONDS:-30} meson test -C "$fuzzdir" --print-errorlogs "$@" --suite fuzz
}
# Both, in this order; the status of the first that failed.
side_passes() {
        local rc=0
        if [ ${#asan_args[@]} -gt 0 ]; then asan_pass "$@" || rc=$?; fi
        if [ $fuzz = 1 ]; then fuzz_pass "$@" || rc=$?; fi
        return $rc
}

phase "dependencies present"
rc=0
if [ ${#fast_args[@]} -gt 0 ] || [ $qemu = 1 ]; then
        [ -f "$builddir/build.ninja" ] || meson setup "$builddir"
        ninja -C "$builddir"
fi
if [ ${#fast_args[@]} -gt 0 ]; then
        phase "the unit and integration suites"
        meson test -C "$builddir" --print-errorlogs "${fast_args[@]}" || rc=$?
        # The qemu suite's run below writes its own testlog.json.
        [ $qemu = 0 ] || mv "$builddir/meson-logs/testlog.json" "$builddir/meson-logs/testlog-fast.json" 2>/dev/null || true
fi
if [ $qemu = 1 ]; then
        # Two steps (tests/qemu/meson.build). First the scenarios that run alone, one
        # at a time, while the sanitizer and fuzz passes take the other core, niced so
        # that the guests' timing is theirs; then the rest two at a time (ABIDE_QEMU_JOBS,
        # default 2), at once: side passes not done by then go on beside them, still
        # niced, on what the guests leave (a hung guest waiting for its watchdog, a
        # scenario's host-side steps). The side passes' output follows.
        side_log="$builddir/meson-logs/side-passes.log"
        side_pid=
        if [ ${#asan_args[@]} -gt 0 ] || [ $fuzz = 1 ]; then
                echo "scripts/test.sh: the ASan/UBSan and fuzz passes run beside the qemu scenarios (output: $side_log)"
                nice -n 10 bash -c "$(declare -f phase build_failed asan_pass fuzz_pass side_passes); $(declare -p start asan_args asandir fuzzdir fuzz); side_passes --num-processes 1; r=\$?; phase 'the side passes done'; exit \$r" \
                        >"$side_log" 2>&1 &
                side_pid=$!
        fi
        phase "the qemu scenarios that run alone"
        meson test -C "$builddir" --print-errorlogs --suite qemu --no-suite qemu-pairs || rc=$?
        mv "$builddir/meson-logs/testlog.json" "$builddir/meson-logs/testlog-qemu-alone.json" 2>/dev/null || true
        phase "the qemu scenarios two at a time"
        meson test -C "$builddir" --print-errorlogs --suite qemu-pairs --num-processes "${ABIDE_QEMU_JOBS:-2}" || rc=$?
        phase "the qemu scenarios done"
        if [ -n "$side_pid" ]; then
                side_rc=0
                wait "$side_pid" || side_rc=$?
                echo "=== the ASan/UBSan and fuzz passes (beside the qemu scenarios): exit $side_rc ==="
                cat "$side_log"
                [ $side_rc = 0 ] || rc=$side_rc
        fi
else
        side_passes || rc=$?
fi

# One line of totals over every run above, from meson's JSON logs.
python3 - "$builddir" "$asandir" "$fuzzdir" <<'PY'
import json, os, sys
passed = failed = skipped = 0
logs = [os.path.join(d, "meson-logs", f) for d in sys.argv[1:] for f in ("testlog-fast.json", "testlog-qemu-alone.json", "testlog.json")]
for d in sys.argv[1:]:
    if os.path.exists(os.path.join(d, "meson-logs", "build-failed")):
        failed += 1
for log in logs:
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
