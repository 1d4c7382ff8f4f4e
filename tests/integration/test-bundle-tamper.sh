#!/bin/bash
# Every member of a bundle, tampered every way: inspect --cert must fail with
# one clear line and a non-zero exit, and the untouched bundle must pass.
source "$(dirname "$0")/lib.sh"
need python3 tar

B=$ABIDE_BUILD
tamper="python3 $(dirname "$0")/tamper-bundle.py"
export SOURCE_DATE_EPOCH=1721362140
"$B" keygen -o "$T/keys" >/dev/null
bundle=$("$B" build "$ABIDE_SRCDIR/recipes/example.conf" --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" -o "$T")
CA=$T/keys/ca.pem

# The harness itself must not break a bundle: a rewrite with no change passes.
$tamper "$bundle" "$T/same.abide" swap 3
$tamper "$T/same.abide" "$T/same2.abide" swap 3
"$B" inspect "$T/same2.abide" --cert "$CA" >/dev/null || die "rewritten but unchanged bundle refused"

names=($(tar -tf "$bundle"))
[ ${#names[@]} -eq 5 ] || die "expected 5 members, got ${names[*]}"
count=0
for i in "${!names[@]}"; do
        for op in flip truncate dup extra dotdot abs grow; do
                $tamper "$bundle" "$T/t.abide" $op "$i"
                expect_fail "." "$B" inspect "$T/t.abide" --cert "$CA"
                count=$((count + 1))
        done
        if [ "$i" -lt $((${#names[@]} - 1)) ]; then
                $tamper "$bundle" "$T/t.abide" swap "$i"
                expect_fail "." "$B" inspect "$T/t.abide" --cert "$CA"
                count=$((count + 1))
        fi
done

note "specific messages"
$tamper "$bundle" "$T/t.abide" flip 2
expect_fail "root.img.*sha256|sha256.*root.img" "$B" inspect "$T/t.abide" --cert "$CA"
$tamper "$bundle" "$T/t.abide" dotdot 3
expect_fail "\.\./root.verity" "$B" inspect "$T/t.abide" --cert "$CA"
$tamper "$bundle" "$T/t.abide" flip 0
expect_fail "signature|manifest" "$B" inspect "$T/t.abide" --cert "$CA"
expect_fail "." "$B" inspect - --cert "$CA" < /dev/urandom
head -c 0 /dev/null >"$T/empty.abide"
expect_fail "." "$B" inspect "$T/empty.abide" --cert "$CA"
echo "$count tampered bundles refused"
