#!/bin/bash
# run-fuzz.sh TARGET SEEDS ARTIFACTS: runs the libFuzzer TARGET for
# $ABIDE_FUZZ_SECONDS (default 30) over a temporary copy of the seed corpus
# SEEDS (the committed corpus is never written). A crash, leak, timeout or
# UB report fails the run; the input that did it is kept in ARTIFACTS.
# Prints one result line.
set -uo pipefail

target=$1 seeds=$2 artifacts=$3
name=$(basename "$target")
secs=${ABIDE_FUZZ_SECONDS:-30}
[[ $secs =~ ^[1-9][0-9]*$ ]] || { echo "$name: ABIDE_FUZZ_SECONDS='$secs' is not a number of seconds" >&2; exit 2; }
[ -x "$target" ] || { echo "$name: $target not built" >&2; exit 2; }
[ -d "$seeds" ] && [ -n "$(ls -A "$seeds")" ] || { echo "$name: no seed corpus in $seeds" >&2; exit 2; }

work=$(mktemp -d "/tmp/$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
cp -r "$seeds/." "$work/corpus"
mkdir -p "$artifacts/$name"
log=$work/log
# A dictionary of the format's tokens, when the target has one (tests/fuzz/<target>.dict).
dict=()
d=$(dirname "$(dirname "$seeds")")/${name#fuzz-}.dict
[ -f "$d" ] && dict=(-dict="$d")

# -timeout: one input running past 10 s is a hang; the outer timeout bounds a
# fuzzer that stops answering altogether.
TMPDIR=$work ASAN_OPTIONS=${ASAN_OPTIONS:-detect_leaks=1:abort_on_error=1:allocator_may_return_null=1} \
UBSAN_OPTIONS=${UBSAN_OPTIONS:-halt_on_error=1:print_stacktrace=1} \
timeout --kill-after=10 $((secs + 120)) "$target" -max_total_time="$secs" -timeout=10 -rss_limit_mb=2048 \
        -print_final_stats=1 -artifact_prefix="$artifacts/$name/" "${dict[@]}" "$work/corpus" >"$log" 2>&1
rc=$?

runs=$(sed -n 's/^stat::number_of_executed_units: *//p' "$log" | tail -1)
cov=$(grep -o 'cov: [0-9]*' "$log" | tail -1)
if [ $rc -ne 0 ]; then
        tail -60 "$log"
        echo "$name: FAILED (exit $rc) after ${runs:-?} runs; input kept in $artifacts/$name/"
        exit 1
fi
echo "$name: ok, ${runs:-?} runs in ${secs}s, ${cov:-cov: ?}, corpus $(ls "$seeds" | wc -l) -> $(ls "$work/corpus" | wc -l) inputs"
