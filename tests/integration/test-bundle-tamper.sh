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
[ "${names[*]}" = "manifest.json manifest.json.sig root.img root.verity root.verity-sig" ] ||
        die "expected the members manifest.json manifest.json.sig root.img root.verity root.verity-sig, got ${names[*]}"
last=$((${#names[@]} - 1))
# want OP I: the refusal tampering OP with member I must give (the member numbers count from 1):
# each tampering has its own check, so that a check that stopped working cannot hide behind another.
want() {
        local op=$1 i=$2 n=$(($2 + 1)) name=${names[$2]} next=${names[$2 + 1]:-}
        case $op/$i in
        flip/0|grow/0) echo "manifest\.json\.sig: signature does not match the data" ;;
        flip/1) echo "manifest\.json\.sig: signature not trusted" ;;
        grow/1) echo "manifest\.json\.sig: signature is not a DER CMS structure" ;;
        flip/*) echo "member $n '$name': sha256 mismatch \(manifest says [0-9a-f]{64}, got [0-9a-f]{64}\)" ;;
        grow/*) echo "member $n '$name': larger than declared \([0-9]+ > [0-9]+ bytes\)" ;;
        truncate/*) echo "member $n '$name': Truncated tar archive" ;;
        dotdot/*) echo "member $n '\.\./$name': name escapes the bundle \('\.\.'\)" ;;
        abs/*) echo "member $n '/$name': absolute name" ;;
        dup/$last) echo "member $((n + 1)) '$name': unexpected member after the last payload" ;;
        extra/$last) echo "member $((n + 1)) 'extra\.bin': unexpected member after the last payload" ;;
        # manifest.json again where its signature belongs: not a duplicate yet, out of order.
        dup/0) echo "member 2 'manifest\.json': member out of order \(expected 'manifest\.json\.sig'\)" ;;
        dup/*) echo "member $((n + 1)) '$name': duplicate member \(expected '$next'\)" ;;
        extra/*) echo "member $((n + 1)) 'extra\.bin': unknown member \(expected '$next'\)" ;;
        # root.img where the signature belongs: no manifest read yet to name it.
        swap/1) echo "member 2 '$next': unknown member \(expected '$name'\)" ;;
        swap/*) echo "member $n '$next': member out of order \(expected '$name'\)" ;;
        esac
}
count=0
for i in "${!names[@]}"; do
        for op in flip truncate dup extra dotdot abs grow swap; do
                [ $op != swap ] || [ "$i" -lt "$last" ] || continue
                $tamper "$bundle" "$T/t.abide" $op "$i"
                pat=$(want $op "$i")
                [ -n "$pat" ] || die "no expected refusal for $op $i"
                expect_fail "^abide-build: inspect: $T/t\.abide: bundle: $pat" "$B" inspect "$T/t.abide" --cert "$CA"
                count=$((count + 1))
        done
done
[ $count -eq 39 ] || die "$count tampered bundles tried, expected 39"

note "specific messages"
$tamper "$bundle" "$T/t.abide" flip 2
expect_fail "root.img.*sha256|sha256.*root.img" "$B" inspect "$T/t.abide" --cert "$CA"
$tamper "$bundle" "$T/t.abide" dotdot 3
expect_fail "\.\./root.verity" "$B" inspect "$T/t.abide" --cert "$CA"
$tamper "$bundle" "$T/t.abide" flip 0
expect_fail "signature|manifest" "$B" inspect "$T/t.abide" --cert "$CA"
expect_fail "^abide-build: inspect: .*bundle: (not a tar archive|member 1)" "$B" inspect - --cert "$CA" < /dev/urandom
head -c 0 /dev/null >"$T/empty.abide"
expect_fail "^abide-build: inspect: $T/empty\\.abide: bundle: not a tar archive" "$B" inspect "$T/empty.abide" --cert "$CA"
echo "$count tampered bundles refused"
