#!/bin/bash
# No test or script ends a pipeline with "grep -q": under pipefail its writer can die of
# SIGPIPE after the match, and the check fails at random (a CI run of 2026-12-03 lost
# test-init.sh to "tr -d '\r' <console.log | grep -q"; the line was in the log).
# Tests use grepq (lib.sh), which drains its input; scripts use grep >/dev/null.
# Other early readers ("| head") are not checked: their writers here print a line or two.
. "$(dirname "$0")/lib.sh"
need git grep seq cat

cd "$ABIDE_SRCDIR"
paths=('tests/*.sh' 'scripts/*.sh' .ci/run)
pattern='\|[[:space:]]*grep([[:space:]]+-[a-zA-Z]+)*[[:space:]]+-[a-zA-Z]*q'
files=$(git ls-files -- "${paths[@]}")
[ -n "$files" ] || die "git ls-files found no test scripts under $ABIDE_SRCDIR"
# This file names what it looks for: it is the one left out.
hits=$(git grep -nE "$pattern" -- "${paths[@]}" ":!tests/integration/$(basename "$0")" || true)
[ -z "$hits" ] || die "'| grep -q' in a test (use grepq): $(echo "$hits" | tr '\n' ' ')"

# The pattern catches each spelling.
for probe in 'a | grep -q x' 'a |grep -Eq x' 'a | grep -a -qx x'; do
        printf '%s\n' "$probe" | grep -E "$pattern" >/dev/null || die "the pattern misses: $probe"
done
printf '%s\n' 'a | grepq x' | grep -E "$pattern" >/dev/null && die "the pattern flags grepq"

# grepq: a match early in a long stream leaves the writer alive (exit 0, not 141),
# a miss is 1, and grep's error stays an error.
seq 1000000 >"$T/lines"
cat "$T/lines" | grepq -x 1 || die "grepq: an early match in 7 MB failed the pipeline (rc $?)"
rc=0; cat "$T/lines" | grepq -x 0 || rc=$?
[ "$rc" -eq 1 ] || die "grepq: a miss gave $rc, expected 1"
rc=0; echo x | grepq -E '(' 2>/dev/null || rc=$?
[ "$rc" -eq 2 ] || die "grepq: a bad pattern gave $rc, expected 2"
# Plain grep -q does lose such a pipeline, which is what this lint is for (a race: 20 tries).
lost=0
for i in $(seq 20); do
        rc=0; cat "$T/lines" | grep -qx 1 || rc=$?
        [ "$rc" -eq 141 ] && lost=$((lost + 1))
done
echo "   $(echo "$files" | wc -l) scripts checked; plain grep -q lost $lost of 20 pipelines"
echo "OK"
