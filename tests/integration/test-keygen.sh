#!/bin/bash
# abide-build keygen, and our CMS / PKCS#7 signatures checked by the openssl tool.
. "$(dirname "$0")/lib.sh"
need openssl unshare mount

: "${ABIDE_TEST_HELPERS:?run through meson test}"
SIGN=$ABIDE_TEST_HELPERS/helper-sign
[ -x "$SIGN" ] || die "helper-sign not built ($SIGN)"

note "keygen writes the four files"
"$ABIDE_BUILD" keygen --help | grepq -- '-o, --output DIR' || die "keygen --help lacks -o"
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
for f in ca.pem ca.key signing.key signing.crt; do
        [ -s "$T/keys/$f" ] || die "keygen did not write $f"
done
[ "$(stat -c %a "$T/keys/signing.key")" = 600 ] || die "signing.key is not 0600"
[ "$(stat -c %a "$T/keys/ca.key")" = 600 ] || die "ca.key is not 0600"
ls -A "$T/keys" | grepq '^\.#' && die "keygen left temporary files behind"

note "the certificates are what they claim"
openssl verify -CAfile "$T/keys/ca.pem" "$T/keys/signing.crt" >/dev/null || die "signing.crt does not chain to ca.pem"
openssl x509 -in "$T/keys/ca.pem" -noout -ext basicConstraints,keyUsage | grepq 'CA:TRUE' || die "CA lacks CA:TRUE"
openssl x509 -in "$T/keys/ca.pem" -noout -ext keyUsage | grepq 'Certificate Sign' || die "CA lacks keyCertSign"
openssl x509 -in "$T/keys/signing.crt" -noout -ext basicConstraints | grepq 'CA:FALSE' || die "signing cert is a CA"
openssl x509 -in "$T/keys/signing.crt" -noout -ext keyUsage | grepq 'Digital Signature' || die "signing cert cannot sign"
openssl x509 -in "$T/keys/signing.crt" -noout -ext extendedKeyUsage | grepq 'Code Signing' || die "signing cert lacks codeSigning"
# RSA: what the kernel's PKCS#7 verifier (dm-verity root hash signatures) takes on every version.
for f in ca.pem signing.crt; do
        openssl x509 -in "$T/keys/$f" -noout -text | grepq 'Public-Key: (3072 bit)' || die "$f is not RSA-3072"
        openssl x509 -in "$T/keys/$f" -noout -text | grepq 'rsaEncryption' || die "$f is not RSA"
done
# The key files match their certificates.
[ "$(openssl pkey -in "$T/keys/signing.key" -pubout)" = "$(openssl x509 -in "$T/keys/signing.crt" -noout -pubkey)" ] ||
        die "signing.key does not match signing.crt"
[ "$(openssl pkey -in "$T/keys/ca.key" -pubout)" = "$(openssl x509 -in "$T/keys/ca.pem" -noout -pubkey)" ] ||
        die "ca.key does not match ca.pem"

note "openssl cms accepts our CMS signature"
head -c 100000 /dev/urandom >"$T/data"
printf '\r\n\n' >>"$T/data" # binary content: no line-ending conversion may happen
"$SIGN" cms "$T/keys/signing.key" "$T/keys/signing.crt" "$T/data" "$T/data.cms"
openssl cms -verify -binary -inform DER -in "$T/data.cms" -content "$T/data" -CAfile "$T/keys/ca.pem" \
        -out /dev/null 2>"$T/err" || die "openssl cms -verify rejects our signature: $(cat "$T/err")"
openssl cms -cmsout -print -inform DER -in "$T/data.cms" | grepq 'abide demo signing key' ||
        die "signer certificate not embedded in the CMS signature"
cp "$T/data" "$T/data.other"
printf x >>"$T/data.other"
openssl cms -verify -binary -inform DER -in "$T/data.cms" -content "$T/data.other" -CAfile "$T/keys/ca.pem" \
        -out /dev/null 2>/dev/null && die "openssl accepted our signature over different bytes"
"$SIGN" verify-cms "$T/keys" "$T/data" "$T/data.cms" | grepq 'CN=abide demo signing key' ||
        die "our verifier does not name the signer"
expect_fail 'signature does not match the data' "$SIGN" verify-cms "$T/keys" "$T/data.other" "$T/data.cms"

note "openssl smime and cms accept our PKCS#7 signature over a root hash"
printf '%s' "$(sha256sum "$T/data" | cut -d' ' -f1)" >"$T/roothash"
"$SIGN" pkcs7 "$T/keys/signing.key" "$T/keys/signing.crt" "$T/roothash" "$T/roothash.p7s"
openssl smime -verify -binary -inform DER -in "$T/roothash.p7s" -content "$T/roothash" -CAfile "$T/keys/ca.pem" \
        -out /dev/null 2>"$T/err" || die "openssl smime -verify rejects our PKCS#7: $(cat "$T/err")"
openssl cms -verify -binary -inform DER -in "$T/roothash.p7s" -content "$T/roothash" -CAfile "$T/keys/ca.pem" \
        -out /dev/null 2>"$T/err" || die "openssl cms -verify rejects our PKCS#7: $(cat "$T/err")"
# The kernel's form: no signed attributes at all.
openssl pkcs7 -inform DER -in "$T/roothash.p7s" -print >"$T/p7.txt"
grep -A1 ' auth_attr:' "$T/p7.txt" | grepq -E '<(ABSENT|EMPTY)>' || die "PKCS#7 signature carries signed attributes"
grep -q messageDigest "$T/p7.txt" && die "PKCS#7 signature carries a messageDigest attribute"
openssl pkcs7 -inform DER -in "$T/roothash.p7s" -print_certs | grepq 'abide demo signing key' ||
        die "signer certificate not embedded in the PKCS#7 signature"
"$SIGN" verify-pkcs7 "$T/keys/ca.pem" "$T/roothash" "$T/roothash.p7s" >/dev/null
printf '0%s' "$(cat "$T/roothash")" >"$T/roothash.other"
expect_fail 'signature does not match the data' "$SIGN" verify-pkcs7 "$T/keys/ca.pem" "$T/roothash.other" "$T/roothash.p7s"

note "our verifier accepts what openssl signs under the same key"
openssl cms -sign -binary -outform DER -nodetach -signer "$T/keys/signing.crt" -inkey "$T/keys/signing.key" \
        -in "$T/data" -out "$T/attached.cms"
expect_fail 'signature is not detached' "$SIGN" verify-cms "$T/keys" "$T/data" "$T/attached.cms"
openssl cms -sign -binary -outform DER -signer "$T/keys/signing.crt" -inkey "$T/keys/signing.key" \
        -in "$T/data" -out "$T/openssl.cms"
"$SIGN" verify-cms "$T/keys" "$T/data" "$T/openssl.cms" >/dev/null || die "our verifier rejects openssl's CMS"

note "a second keygen gives a different CA, which does not trust the first's signatures"
"$ABIDE_BUILD" keygen -o "$T/keys2" >/dev/null
cmp -s "$T/keys/ca.key" "$T/keys2/ca.key" && die "two keygens produced the same CA key"
expect_fail 'signature not trusted: signer .*CN=abide demo signing key: unable to get local issuer certificate' \
        "$SIGN" verify-cms "$T/keys2/ca.pem" "$T/data" "$T/data.cms"
openssl cms -verify -binary -inform DER -in "$T/data.cms" -content "$T/data" -CAfile "$T/keys2/ca.pem" \
        -out /dev/null 2>/dev/null && die "openssl trusted a signature under another CA"

note "keygen refuses to overwrite"
sums=$(sha256sum "$T/keys"/*)
expect_fail 'ca.pem already exists, refusing to overwrite' "$ABIDE_BUILD" keygen -o "$T/keys"
[ "$(sha256sum "$T/keys"/*)" = "$sums" ] || die "keygen changed existing files"
mkdir "$T/partial"
echo keep >"$T/partial/signing.crt"
expect_fail 'signing.crt already exists' "$ABIDE_BUILD" keygen -o "$T/partial"
[ "$(ls -A "$T/partial")" = signing.crt ] || die "keygen wrote files next to an existing one: $(ls -A "$T/partial")"
[ "$(cat "$T/partial/signing.crt")" = keep ] || die "keygen changed an existing file"

note "two keygens into one directory at once: one wins, the other overwrites nothing"
# Both find the directory empty before either has made its keys; the files must still never be replaced.
for i in 1 2 3; do
        "$ABIDE_BUILD" keygen -o "$T/race$i" >"$T/race$i.a.out" 2>"$T/race$i.a.err" &
        pa=$!
        "$ABIDE_BUILD" keygen -o "$T/race$i" >"$T/race$i.b.out" 2>"$T/race$i.b.err" &
        pb=$!
        ra=0 rb=0
        wait $pa || ra=$?
        wait $pb || rb=$?
        [ $((ra == 0)) -ne $((rb == 0)) ] || die "round $i: both keygens exited $ra and $rb: one set of keys overwrote the other"
        grep -h . "$T/race$i.a.err" "$T/race$i.b.err" | grepq 'already exists' ||
                die "round $i: the losing keygen says: $(cat "$T/race$i.a.err" "$T/race$i.b.err")"
        openssl verify -CAfile "$T/race$i/ca.pem" "$T/race$i/signing.crt" >/dev/null ||
                die "round $i: a mixed key set: signing.crt is not issued by ca.pem"
        [ "$(openssl pkey -in "$T/race$i/signing.key" -pubout)" = "$(openssl x509 -in "$T/race$i/signing.crt" -noout -pubkey)" ] ||
                die "round $i: a mixed key set: signing.key does not match signing.crt"
        [ "$(ls -A "$T/race$i" | tr '\n' ' ')" = "ca.key ca.pem signing.crt signing.key " ] ||
                die "round $i: files left: $(ls -A "$T/race$i")"
done

note "keygen fails cleanly where it cannot write"
touch "$T/file"
expect_fail 'file/keys' "$ABIDE_BUILD" keygen -o "$T/file/keys"
mkdir "$T/ro"
# Root ignores permission bits, so a read-only mount it is.
unshare -m sh -c "mount -t tmpfs -o ro none '$T/ro' && '$ABIDE_BUILD' keygen -o '$T/ro' >/dev/null 2>'$T/ro.err'; echo \$? >'$T/ro.rc'; ls -A '$T/ro' >'$T/ro.ls'"
[ "$(cat "$T/ro.rc")" != 0 ] || die "keygen succeeded on a read-only directory"
[ "$(grep -c . "$T/ro.err")" = 1 ] || die "expected one error line, got: $(cat "$T/ro.err")"
grep -q 'Read-only file system' "$T/ro.err" || die "error does not say why: $(cat "$T/ro.err")"
[ ! -s "$T/ro.ls" ] || die "keygen left files on the read-only mount: $(cat "$T/ro.ls")"
echo "   refused as expected: $(cat "$T/ro.err")"
expect_fail 'missing -o DIR' "$ABIDE_BUILD" keygen
expect_fail "^abide-build: keygen: unknown option '--bogus' \(see --help\)$" "$ABIDE_BUILD" keygen --bogus
expect_fail "^abide-build: keygen: option '-o' needs a value \(see --help\)$" "$ABIDE_BUILD" keygen -o
expect_fail "^abide-build: keygen: option '--secure-boot' takes no value \(see --help\)$" "$ABIDE_BUILD" keygen -o "$T/sbx" --secure-boot=yes
[ ! -e "$T/sbx" ] || die "keygen with a refused option wrote $T/sbx"

note "ok"
