#!/bin/bash
# No test, benchmark, script or recipe names a version of something installed
# on the machine: a kernel ("vmlinuz-X.Y.Z-N-amd64", "/lib/modules/X.Y...")
# or a versioned library path. CI runs on a fresh machine with today's
# packages; such a name breaks it (issue 9). Tests discover the installed
# kernel (host_kernel_version in lib.sh) or make their own fixture.
# Unit-test fixtures are named with a "-fake" flavour, so nothing is exempt.
. "$(dirname "$0")/lib.sh"
need git grep

cd "$ABIDE_SRCDIR"
pattern='[0-9]+\.[0-9]+(\.[0-9]+)?-[0-9]+-(amd64|arm64|cloud-amd64|cloud-arm64|rt-amd64|rt-arm64|686|686-pae)|/lib/modules/[0-9]|lib[a-z0-9_+-]+\.so\.[0-9]|/(usr/)?lib/(x86_64|aarch64|arm)-linux-gnu[a-z]*/'
paths=(tests scripts qemu recipes images .ci meson.build README.md docs)
files=$(git ls-files -- "${paths[@]}")
[ -n "$files" ] || die "git ls-files found nothing under $ABIDE_SRCDIR"
# git grep reads what git tracks (symlinks as links, not followed).
hits=$(git grep -nIE "$pattern" -- "${paths[@]}" || true)
[ -z "$hits" ] || die "pinned versions of installed packages: $(echo "$hits" | head -5 | tr '\n' ' ')"

# The check itself must catch one.
# (assembled at run time, so this file names no version either)
printf 'K=vmlinuz-%s.%s.%s-%s-amd64\n' 6 1 0 56 >"$T/probe.sh"
grep -qE "$pattern" "$T/probe.sh" || die "the pattern misses a pinned kernel version"
printf 'L=/lib/%s-linux-gnu/libc.so.%s\n' x86_64 6 >"$T/probe.sh"
grep -qE "$pattern" "$T/probe.sh" || die "the pattern misses a versioned library path"

echo "   $(echo "$files" | wc -l) files checked; the installed kernel is $(host_kernel_version)"
echo "OK"
