#!/bin/bash
# abide-build keygen --secure-boot: PK, KEK and db keys, their EFI signature
# lists and signed .auth updates where systemd-boot's secure-boot-enroll
# looks, checked with openssl, efitools and sbsigntool.
. "$(dirname "$0")/lib.sh"
need openssl python3 cert-to-efi-sig-list sign-efi-sig-list sig-list-to-certs sbsign sbverify

AUTH="python3 $ABIDE_SRCDIR/tests/integration/sb-auth.py"
STUB_DIR=/usr/lib/systemd/boot/efi
K=$T/sb

note "keygen --secure-boot writes the keys, the lists and the .auth files"
"$ABIDE_BUILD" keygen --help | grepq -- '--secure-boot' || die "keygen --help lacks --secure-boot"
"$ABIDE_BUILD" keygen --secure-boot -o "$K" >/dev/null
for f in PK.key PK.crt PK.esl KEK.key KEK.crt KEK.esl db.key db.crt db.esl GUID \
        loader/keys/abide/PK.auth loader/keys/abide/KEK.auth loader/keys/abide/db.auth; do
        [ -s "$K/$f" ] || die "keygen --secure-boot did not write $f"
done
for f in PK.key KEK.key db.key; do
        [ "$(stat -c %a "$K/$f")" = 600 ] || die "$f is not 0600"
done
[ "$(stat -c %a "$K/loader/keys/abide/db.auth")" = 644 ] || die "db.auth is not 0644 (it is public)"
[ -z "$(find "$K" -name '.#*')" ] || die "keygen left temporary files behind: $(find "$K" -name '.#*')"
[ "$(ls -A "$K/loader/keys")" = abide ] || die "loader/keys holds more than the abide key set"
guid=$(cat "$K/GUID")
[[ $guid =~ ^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$ ]] || die "GUID is not a v4 UUID: '$guid'"

note "the certificates: self-signed RSA-2048, their keys match"
for k in PK KEK db; do
        openssl x509 -in "$K/$k.crt" -noout -text | grepq 'Public-Key: (2048 bit)' || die "$k.crt is not RSA-2048"
        openssl x509 -in "$K/$k.crt" -noout -subject | grepq "CN *= *abide Secure Boot $k" || die "$k.crt has the wrong subject"
        openssl verify -CAfile "$K/$k.crt" "$K/$k.crt" >/dev/null || die "$k.crt is not self-signed"
        [ "$(openssl pkey -in "$K/$k.key" -pubout)" = "$(openssl x509 -in "$K/$k.crt" -noout -pubkey)" ] ||
                die "$k.key does not match $k.crt"
done
[ "$(openssl x509 -in "$K/PK.crt" -noout -pubkey)" != "$(openssl x509 -in "$K/db.crt" -noout -pubkey)" ] ||
        die "PK and db share a key"

note "each .auth holds its certificate (efitools round trip) and is signed by the right key"
# PK.auth and KEK.auth by PK, db.auth by KEK: what the firmware requires in setup mode and after.
declare -A signer=([PK]=PK [KEK]=PK [db]=KEK) wrong=([PK]=KEK [KEK]=db [db]=PK)
for k in PK KEK db; do
        $AUTH split "$K/loader/keys/abide/$k.auth" "$k" "$T/$k" || die "$k.auth is malformed"
        cmp -s "$T/$k.esl" "$K/$k.esl" || die "$k.auth does not carry $k.esl"
        (cd "$T" && sig-list-to-certs "$k.esl" "$k-cert" >"$T/sl.log" 2>&1) || die "sig-list-to-certs: $(cat "$T/sl.log")"
        [ ! -e "$T/$k-cert-1.der" ] || die "$k.esl holds more than one certificate"
        openssl x509 -in "$K/$k.crt" -outform DER | cmp -s - "$T/$k-cert-0.der" || die "$k.esl does not hold $k.crt"
        grep -q "Guid $guid" "$T/sl.log" || die "$k.esl's owner is not $guid: $(cat "$T/sl.log")"
        openssl cms -verify -binary -inform DER -in "$T/$k.p7" -content "$T/$k.signed" \
                -CAfile "$K/${signer[$k]}.crt" -out /dev/null 2>"$T/err" ||
                die "$k.auth is not signed by ${signer[$k]}: $(cat "$T/err")"
        openssl cms -verify -binary -inform DER -in "$T/$k.p7" -content "$T/$k.signed" \
                -CAfile "$K/${wrong[$k]}.crt" -out /dev/null 2>/dev/null &&
                die "$k.auth verifies against ${wrong[$k]}.crt too"
        # The signature covers the variable's name and the list: the same bytes for another variable fail.
        other=$([ "$k" = KEK ] && echo PK || echo KEK)
        $AUTH split "$K/loader/keys/abide/$k.auth" "$other" "$T/$k-as-$other"
        openssl cms -verify -binary -inform DER -in "$T/$k-as-$other.p7" -content "$T/$k-as-$other.signed" \
                -CAfile "$K/${signer[$k]}.crt" -out /dev/null 2>/dev/null &&
                die "$k.auth also verifies as an update of $other"
done

note "the .auth timestamps are UTC (EFI_TIME, TimeZone 0), whatever the builder's time zone"
# A later update must carry a later time; a local time east of UTC would lock out later updates.
for tz in UTC0 ABC-10 XYZ+9; do
        TZ=$tz "$ABIDE_BUILD" keygen --secure-boot -o "$T/tz-$tz" >/dev/null
        now=$(date -u +%s)
        for k in PK KEK db; do
                python3 - "$T/tz-$tz/loader/keys/abide/$k.auth" "$now" <<'PY' || die "$k.auth made with TZ=$tz: timestamp is not UTC"
import calendar, struct, sys
y, mo, d, h, mi, s, pad1, ns, tz, dl, pad2 = struct.unpack_from("<HBBBBBBIhBB", open(sys.argv[1], "rb").read())
assert (pad1, ns, tz, dl, pad2) == (0, 0, 0, 0, 0), (pad1, ns, tz, dl, pad2)
t = calendar.timegm((y, mo, d, h, mi, s))
assert abs(t - int(sys.argv[2])) < 300, f"{y}-{mo:02}-{d:02} {h:02}:{mi:02}:{s:02} is {t - int(sys.argv[2])} s from now (UTC)"
PY
        done
done

note "a truncated or bit-flipped .auth is refused"
head -c 30 "$K/loader/keys/abide/db.auth" >"$T/short.auth"
$AUTH split "$T/short.auth" db "$T/short" 2>/dev/null && die "sb-auth.py accepted a truncated .auth"
cp "$K/loader/keys/abide/db.auth" "$T/flip.auth"
# One byte of the certificate's signature inverted (written as 0x00 it had been 0x00 already, 1 time
# in 256, and nothing changed: CI, 2026-12-07).
flip_byte "$T/flip.auth" $(($(stat -c %s "$T/flip.auth") - 40))
$AUTH split "$T/flip.auth" db "$T/flip"
openssl cms -verify -binary -inform DER -in "$T/flip.p7" -content "$T/flip.signed" -CAfile "$K/KEK.crt" \
        -out /dev/null 2>/dev/null && die "a db.auth with a changed certificate still verifies"

note "db.key signs EFI binaries that sbverify accepts with db.crt only"
sbsign --key "$K/db.key" --cert "$K/db.crt" --output "$T/loader.efi" "$STUB_DIR/systemd-bootx64.efi" 2>/dev/null ||
        die "sbsign with db.key failed"
sbverify --cert "$K/db.crt" "$T/loader.efi" >/dev/null 2>&1 || die "sbverify refuses a binary signed with db.key"
sbverify --cert "$K/KEK.crt" "$T/loader.efi" >/dev/null 2>&1 && die "sbverify accepts db's signature with KEK.crt"

note "existing files are never overwritten, and a failure leaves nothing"
before=$(cd "$K" && find . -type f -exec sha256sum {} + | sort)
"$ABIDE_BUILD" keygen --secure-boot -o "$K" 2>"$T/err" && die "keygen overwrote an existing key set"
grep -q 'already exists, refusing to overwrite' "$T/err" || die "unexpected error: $(cat "$T/err")"
[ "$(cd "$K" && find . -type f -exec sha256sum {} + | sort)" = "$before" ] || die "a refused keygen changed files"
mkdir -p "$T/partial/loader/keys/abide"
touch "$T/partial/loader/keys/abide/db.auth"
"$ABIDE_BUILD" keygen --secure-boot -o "$T/partial" 2>/dev/null && die "keygen overwrote a lone db.auth"
[ "$(find "$T/partial" -type f | wc -l)" = 1 ] || die "a refused keygen left files: $(find "$T/partial" -type f)"
# Without efitools the keygen fails with the tool's name and writes nothing.
mkdir "$T/bin"
for t in openssl; do ln -s "$(command -v $t)" "$T/bin/$t"; done
PATH=$T/bin "$ABIDE_BUILD" keygen --secure-boot -o "$T/noefi" 2>"$T/err" && die "keygen succeeded without efitools"
grep -q 'cert-to-efi-sig-list' "$T/err" || die "the error does not name the missing tool: $(cat "$T/err")"
[ ! -e "$T/noefi" ] || die "a failed keygen left $T/noefi behind: $(find "$T/noefi")"

note "two keygens into one new directory: the loser removes nothing of the winner's"
# The first creates the directory, then waits (its sign-efi-sig-list held back) until the second has
# written a whole key set there; the first must then fail and leave that set as it is.
mkdir "$T/slow"
cat >"$T/slow/sign-efi-sig-list" <<EOF
#!/bin/sh
for i in \$(seq 600); do [ -e "$T/race.done" ] && break; sleep 0.1; done
exec $(command -v sign-efi-sig-list) "\$@"
EOF
chmod +x "$T/slow/sign-efi-sig-list"
PATH=$T/slow:$PATH "$ABIDE_BUILD" keygen --secure-boot -o "$T/race" >/dev/null 2>"$T/race.a.err" &
pa=$!
for i in $(seq 300); do [ -d "$T/race" ] && break; sleep 0.1; done
[ -d "$T/race" ] || { touch "$T/race.done"; die "the first keygen did not create $T/race"; }
"$ABIDE_BUILD" keygen --secure-boot -o "$T/race" >/dev/null 2>"$T/race.b.err" ||
        { touch "$T/race.done"; die "the second keygen failed: $(cat "$T/race.b.err")"; }
# Without the first one's staging directory, which is there until it ends.
(cd "$T/race" && find . -path './.#*' -prune -o -type f -exec sha256sum {} + | sort) >"$T/race.sums"
touch "$T/race.done"
ra=0
wait $pa || ra=$?
[ $ra -ne 0 ] || die "both keygens succeeded into $T/race"
[ "$(cd "$T/race" 2>/dev/null && find . -type f -exec sha256sum {} + | sort)" = "$(cat "$T/race.sums")" ] ||
        die "the losing keygen removed or changed the winner's key set: $(find "$T/race" 2>&1)"
[ "$(grep -c . "$T/race.a.err")" = 1 ] && grep -q 'already exists, refusing to overwrite' "$T/race.a.err" ||
        die "the losing keygen says: $(cat "$T/race.a.err")"
[ "$(wc -l <"$T/race.sums")" = 13 ] || die "the winner's set is not whole: $(find "$T/race")"
[ -z "$(find "$T/race" -name '.#*')" ] || die "the losing keygen left its staging directory behind"

note "the demo keygen is unchanged"
"$ABIDE_BUILD" keygen -o "$T/demo" >/dev/null
[ "$(ls "$T/demo" | sort | tr '\n' ' ')" = "ca.key ca.pem signing.crt signing.key " ] || die "keygen -o wrote $(ls "$T/demo")"
echo "PASS"
