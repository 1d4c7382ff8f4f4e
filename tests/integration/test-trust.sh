#!/bin/bash
# Trust decisions of abidectl install, each tested in both directions
# (docs/trust.md):
# - which signers are release signers: codeSigning EKU (or a configured OID),
#   digitalSignature; S/MIME-only and extension-less certificates refused;
# - no decision depends on the clock: an expired or not yet valid signer is
#   accepted unless [Trust] CheckTime=yes;
# - [Trust] Signer= pins, Deny= and CRL= refuse what they name;
# - trust anchors come from the verified root (/usr/lib/abide), never from
#   /etc/abide on abide-data: run in a mount namespace where the real
#   /usr/lib/abide and /etc/abide are the test's directories.
# Every refusal: one line, slot a untouched, slot b not bootable and unwritten.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/install-lib.sh"
need tar openssl unshare mount cmp

note "keys and signers"
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
"$ABIDE_BUILD" keygen -o "$T/other" >/dev/null
CA=$T/keys/ca.pem CAKEY=$T/keys/ca.key

# signer NAME EXTENSIONS...: NAME.key/NAME.crt issued by the test CA; no
# extensions given: a version 1 certificate without any.
signer() {
        local name=$1; shift
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$name.key" \
                -subj "/CN=$name" -out "$T/$name.csr" 2>/dev/null || die "openssl req $name"
        if [ $# -gt 0 ]; then
                printf '%s\n' "$@" >"$T/$name.ext"
                openssl x509 -req -in "$T/$name.csr" -CA "$CA" -CAkey "$CAKEY" -days 30 \
                        -extfile "$T/$name.ext" -out "$T/$name.crt" 2>/dev/null || die "openssl x509 $name"
        else
                openssl x509 -req -in "$T/$name.csr" -CA "$CA" -CAkey "$CAKEY" -days 30 \
                        -out "$T/$name.crt" 2>/dev/null || die "openssl x509 $name"
        fi
}
# dated_signer NAME START END: a release signer valid only from START to END (YYYYMMDDhhmmssZ).
dated_signer() {
        local name=$1 start=$2 end=$3 d=$T/ca-$1
        mkdir -p "$d" && : >"$d/index.txt" && echo 1000 >"$d/serial"
        cat >"$d/ca.cnf" <<CNF
[ca]
default_ca = test
[test]
database = $d/index.txt
serial = $d/serial
new_certs_dir = $d
default_md = sha256
policy = any
copy_extensions = none
[any]
commonName = supplied
[ext]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature
extendedKeyUsage = codeSigning,emailProtection
CNF
        openssl req -new -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/$name.key" \
                -subj "/CN=$name" -out "$T/$name.csr" 2>/dev/null || die "openssl req $name"
        openssl ca -batch -config "$d/ca.cnf" -cert "$CA" -keyfile "$CAKEY" -in "$T/$name.csr" -out "$T/$name.crt" \
                -startdate "$start" -enddate "$end" -extensions ext 2>/dev/null || die "openssl ca $name"
}
release='basicConstraints=critical,CA:FALSE'
signer smime "$release" 'keyUsage=critical,digitalSignature' 'extendedKeyUsage=emailProtection'
signer noext
signer noeku "$release" 'keyUsage=critical,digitalSignature'
signer nodigsig "$release" 'keyUsage=critical,keyEncipherment' 'extendedKeyUsage=codeSigning'
signer oid "$release" 'keyUsage=critical,digitalSignature' 'extendedKeyUsage=1.3.6.1.4.1.55555.7'
dated_signer expired 20000101000000Z 20010101000000Z
dated_signer future 20990101000000Z 21000101000000Z
openssl x509 -in "$T/expired.crt" -noout -checkend 0 >/dev/null && die "the expired signer is not expired"

fpr() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }

note "bundles"
mkdir -p "$T/kernel" "$T/payload"
head -c 100000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
head -c $((2 * 1024 * 1024)) /dev/urandom >"$T/payload/blob"
V1=$(build_bundle "$T/b1" --set Image.Version=1.0)
GOOD=$(build_bundle "$T/b2" --set Image.Version=2.0)
# abide-build refuses to sign with anything but a release signer (one line, no output) ...
for s in smime noext noeku nodigsig oid; do
        mkdir -p "$T/b-$s"
        expect_fail "^abide-build: build: signing certificate CN ?= ?$s: " \
                "$ABIDE_BUILD" build --key "$T/$s.key" --cert "$T/$s.crt" -o "$T/b-$s" --ca "$CA" --init "$INIT" \
                --set "Boot.Kernel=$T/kernel/vmlinuz-$KVER" --set "Content.Layer=tree:$T/payload" "$ABIDE_SRCDIR/recipes/example.conf"
        [ -z "$(ls -A "$T/b-$s")" ] || die "abide-build left output after refusing signer $s: $(ls "$T/b-$s")"
done
# ... so the devices' side is tested on GOOD with its manifest signed again by each
# (openssl cms: detached DER, signer certificate embedded, as abide-build makes it).
resign() {
        local key=$1 cert=$2 out=$3 x=$T/resign
        rm -rf "$x" && mkdir -p "$x" && tar -C "$x" -xf "$GOOD"
        openssl cms -sign -binary -outform DER -in "$x/manifest.json" -signer "$cert" -inkey "$key" \
                -out "$x/manifest.json.sig" || die "openssl cms -sign with $cert"
        (cd "$x" && tar --format=posix -cf "$out" $(tar -tf "$GOOD")) || die "repacking $out"
        echo "$out"
}
declare -A B
for s in smime noext noeku nodigsig oid expired future; do
        B[$s]=$(resign "$T/$s.key" "$T/$s.crt" "$T/$s.abide")
done
B[other]=$(resign "$T/other/signing.key" "$T/other/signing.crt" "$T/other.abide")
# The repacked bundle itself is sound: re-signed by the release key, it installs.
B[good]=$(resign "$T/keys/signing.key" "$T/keys/signing.crt" "$T/good-resigned.abide")

make_disk 8 1
make_config
fill_slot_a "$V1"
write_image_info 1.0 0
slot_a_print >"$T/a.before"

check_untouched() {
        slot_a_print | cmp -s "$T/a.before" - || die "slot a changed: $1"
        b_not_bootable || die "b bootable after a refused install ($1): $(entry_of b)"
        cmp -s "$T/b.before" <(b_print) || die "b written although refused up front: $1"
}
b_print() { sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" | awk '{print $1}'; ls -A "$T/esp/abide/b" 2>/dev/null || true; }
# refused PATTERN BUNDLE: one line matching PATTERN, nothing written.
refused() {
        rm -f "$ENTRIES"/abide-b*.conf
        b_print >"$T/b.before"
        expect_fail "$1" "$ABIDECTL" install --force "$2"
        check_untouched "$1"
}
accepted() {
        "$ABIDECTL" install --force "$1" >/dev/null || die "refused: $1 ($2)"
        [ "$(entry_of b)" = "abide-b+3.conf" ] || die "b's entry after installing $1: '$(entry_of b)'"
        slot_a_print | cmp -s "$T/a.before" - || die "slot a changed installing $1"
}
conf() { cp "$T/abide.conf.base" "$T/abide.conf"; [ $# -eq 0 ] || printf '%s\n' "[Trust]" "$@" >>"$T/abide.conf"; }
cp "$T/abide.conf" "$T/abide.conf.base"

note "release signers only"
refused "signer CN ?= ?smime: an S/MIME-only certificate \(emailProtection without codeSigning\) is not a release signer" "${B[smime]}"
refused "signer CN ?= ?noext: certificate has no extensions" "${B[noext]}"
refused "signer CN ?= ?noeku: certificate has no extended key usage \(needs codeSigning\)" "${B[noeku]}"
refused "signer CN ?= ?nodigsig: key usage lacks digitalSignature" "${B[nodigsig]}"
refused "signer CN ?= ?oid: extended key usage lacks codeSigning" "${B[oid]}"
refused "signature not trusted: signer .*unable to get local issuer certificate" "${B[other]}"
accepted "$GOOD" "codeSigning release signer"
accepted "${B[good]}" "the release key's signature made by openssl cms"
# A configured OID replaces codeSigning, both ways.
conf "SignerEKU=1.3.6.1.4.1.55555.7"
accepted "${B[oid]}" "SignerEKU= names its OID"
refused "extended key usage lacks 1.3.6.1.4.1.55555.7" "$GOOD"
conf "SignerEKU=codeSigning"
refused "abide.conf: \[Trust\] SignerEKU=: 'codeSigning' is not a dotted OID" "$GOOD"

note "no decision on the clock"
conf
accepted "${B[expired]}" "expired signer, CheckTime=no (default)"
accepted "${B[future]}" "not yet valid signer, CheckTime=no (default)"
conf "CheckTime=yes"
refused "signer CN ?= ?expired: certificate has expired" "${B[expired]}"
refused "signer CN ?= ?future: certificate is not yet valid" "${B[future]}"
accepted "$GOOD" "valid signer, CheckTime=yes"

note "pins, deny-list, CRL"
conf "Signer=$(fpr "$T/other/signing.crt")"
refused "neither it nor a CA of its chain is pinned by \[Trust\] Signer=" "$GOOD"
conf "Signer=$(fpr "$T/other/ca.pem")" "Signer=$(fpr "$CA" | sed 's/../&:/g; s/:$//' | tr a-f A-F)"
accepted "$GOOD" "the CA pinned, upper case with colons, second of two"
conf "Signer=$(fpr "$T/keys/signing.crt")"
accepted "$GOOD" "the signer itself pinned"
conf "Deny=$(fpr "$T/keys/signing.crt")"
refused "signer [^:]*: certificate .* \(SHA-256 $(fpr "$T/keys/signing.crt")\) is on the deny list" "$GOOD"
accepted "${B[expired]}" "another signer of the same CA, with one signer denied"
conf "Signer=nonsense"
refused "abide.conf: \[Trust\] Signer=: 'nonsense' is not a SHA-256 fingerprint" "$GOOD"
# The CA revokes the release signer by serial.
serial=$(openssl x509 -in "$T/keys/signing.crt" -noout -serial | cut -d= -f2)
d=$T/crl; mkdir -p "$d"
printf 'R\t301231235959Z\t250101000000Z\t%s\tunknown\t/CN=x\n' "$serial" >"$d/index.txt"
printf '[ca]\ndefault_ca=t\n[t]\ndatabase=%s/index.txt\ndefault_md=sha256\ndefault_crl_days=1\n' "$d" >"$d/ca.cnf"
openssl ca -gencrl -config "$d/ca.cnf" -cert "$CA" -keyfile "$CAKEY" -out "$T/revoked.crl" 2>/dev/null || die "openssl ca -gencrl"
conf "CRL=$T/revoked.crl"
refused "signer [^:]*: certificate .* is revoked \($T/revoked.crl\)" "$GOOD"
accepted "${B[expired]}" "a signer the CRL does not name"
conf "CRL=$T/nothing.crl"
refused "abide.conf: \[Trust\] CRL=: CRL file $T/nothing.crl: No such file" "$GOOD"

note "trust anchors only from the verified root (/usr/lib/abide), never /etc/abide on abide-data"
conf
# The device as the image configures it: everything in the vendor file.
mkdir -p "$T/usr-lib-abide/keys" "$T/etc-abide/keys"
sed 's|^Keys=.*||; s|^ImageInfo=.*||' "$T/abide.conf.base" >"$T/usr-lib-abide/abide.conf"
cp "$T/image.json" "$T/usr-lib-abide/image.json"
cp "$T/other/ca.pem" "$T/usr-lib-abide/keys/ca.pem"
# abide-data's /etc: the release CA, and a config that points Keys= at it.
cp "$CA" "$T/etc-abide/keys/ca.pem"
printf '[Paths]\nKeys=/etc/abide/keys\n[Trust]\nSigner=\n' >"$T/etc-abide/abide.conf"
made_dirs=()
for d in /usr/lib/abide /etc/abide; do
        [ -d "$d" ] || { mkdir -p "$d"; made_dirs+=("$d"); }
done
cleanup_hooks+=('for d in "${made_dirs[@]}"; do rmdir "$d"; done')
# device CMD...: CMD in a mount namespace where /usr/lib/abide and /etc/abide are the test's.
device() {
        env -u ABIDE_CONF unshare -m sh -c 'mount --bind "$1" /usr/lib/abide && mount --bind "$2" /etc/abide && shift 2 && exec "$@"' \
                sh "$T/usr-lib-abide" "$T/etc-abide" "$@"
}
rm -f "$ENTRIES"/abide-b*.conf
b_print >"$T/b.before"
rc=0
device "$ABIDECTL" install --force "$GOOD" >/dev/null 2>"$T/err" || rc=$?
[ $rc -ne 0 ] || die "install trusted a CA that exists only in /etc/abide/keys on abide-data"
grep -q "^abidectl: install: warning: /etc/abide/abide.conf: \[Paths\] Keys= ignored: trust and what runs as root are set only in /usr/lib/abide/abide.conf" "$T/err" ||
        die "no warning about the ignored Keys=: $(cat "$T/err")"
grep -q "^abidectl: install: warning: /etc/abide/abide.conf: \[Trust\] Signer= ignored" "$T/err" || die "no warning about [Trust] Signer=: $(cat "$T/err")"
tail -n 1 "$T/err" | grepq -E "^abidectl: install: .*signature not trusted: signer .*unable to get local issuer certificate" ||
        die "refusal: $(cat "$T/err")"
check_untouched "CA only on abide-data"
echo "   $(tail -n 1 "$T/err")"
# The other direction: the release CA in the verified root.
cp "$CA" "$T/usr-lib-abide/keys/ca.pem"
device "$ABIDECTL" install --force "$GOOD" >/dev/null 2>"$T/err" || die "install with the CA in /usr/lib/abide/keys: $(cat "$T/err")"
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "b's entry: '$(entry_of b)'"
# Local settings that decide no trust are taken without a word.
printf '[Boot]\nTries=2\n[Health]\nTimeoutSec=90\n' >"$T/etc-abide/abide.conf"
device "$ABIDECTL" install --force "$GOOD" >/dev/null 2>"$T/err" || die "install: $(cat "$T/err")"
[ ! -s "$T/err" ] || die "warnings for local-only keys: $(cat "$T/err")"

echo "OK"
