#!/bin/bash
# lib/crypto/authenticode.c: the check abidectl makes before installing a
# signed UKI (docs/secure-boot.md, "How abidectl checks a UKI"), on systemd's
# stub signed by sbsign with keys of abide-build keygen --secure-boot. Every
# verdict is cross-checked with sbverify --cert: both accept the good image
# and both refuse each broken one; the refusals are one line naming why.
. "$(dirname "$0")/lib.sh"
need sbsign sbverify sbattach openssl python3

H=$ABIDE_TEST_HELPERS/helper-authenticode
[ -x "$H" ] || die "helper-authenticode not built"
STUB=$(ls /usr/lib/systemd/boot/efi/linux*.efi.stub 2>/dev/null | head -1 || true)
[ -n "$STUB" ] || die "no systemd stub /usr/lib/systemd/boot/efi/linux*.efi.stub (install systemd-boot-efi)"

# accept IMAGE DB [CERT]: both verifiers take IMAGE with the certificates of DB
# (sbverify reads one certificate: CERT, by default DB).
accept() {
        local out
        out=$("$H" "$1" "$2" 2>&1) || die "helper-authenticode refuses $1 with $2: $out"
        [[ $out == *"CN=abide Secure Boot db"* || $out == *"CN=test leaf"* ]] || die "unexpected signer for $1: $out"
        sbverify --cert "${3:-$2}" "$1" >"$T/sbv" 2>&1 || die "sbverify refuses $1 with ${3:-$2} (we accept it): $(cat "$T/sbv")"
        echo "   accepted: $(basename "$1") with $(basename "$2"): $out"
}
# refuse PATTERN IMAGE DB: both refuse; ours in one line matching PATTERN.
refuse() {
        expect_fail "$1" "$H" "$2" "$3"
        sbverify --cert "$3" "$2" >/dev/null 2>&1 && die "sbverify accepts $2 with $3 (we refuse it)"
        return 0
}
# flip FILE OFFSET: xor one byte with 0x01.
flip() { flip_byte "$1" "$2" 1; }
# pe_field IMAGE NAME: an offset from the PE headers (python, independent of the C parser).
pe_field() {
        python3 - "$1" "$2" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
pe = struct.unpack_from("<I", d, 0x3c)[0]
nsec, optsz = struct.unpack_from("<H", d, pe + 6)[0], struct.unpack_from("<H", d, pe + 20)[0]
opt = pe + 24
plus = struct.unpack_from("<H", d, opt)[0] == 0x20b
dirs = opt + (112 if plus else 96)
secs = [struct.unpack_from("<II", d, opt + optsz + 40 * i + 16) for i in range(nsec)]
secs = sorted((p, s) for s, p in secs if s)
cert_off, cert_size = struct.unpack_from("<II", d, dirs + 4 * 8)
print({"timestamp": pe + 8, "checksum": opt + 64, "certdir": dirs + 32,
       "section": secs[0][0] + secs[0][1] // 2,
       "trailer": max(p + s for p, s in secs),
       "certtable": cert_off, "certsize": cert_size}[sys.argv[2]])
PY
}

note "keys: a Secure Boot key set, another one, and a CA with a leaf it issued"
"$ABIDE_BUILD" keygen --secure-boot -o "$T/sb" >/dev/null
"$ABIDE_BUILD" keygen --secure-boot -o "$T/other" >/dev/null
DB=$T/sb/db.crt
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/ca.key" -out "$T/ca.crt" -days 3650 -subj "/CN=test db CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/leaf.key" -out "$T/leaf.csr" -subj "/CN=test leaf" 2>/dev/null
openssl x509 -req -in "$T/leaf.csr" -CA "$T/ca.crt" -CAkey "$T/ca.key" -CAcreateserial -days 3650 \
        -out "$T/leaf.crt" 2>/dev/null

note "the stub ($(basename "$STUB")) signed by db.key: accepted with db.crt"
sbsign --key "$T/sb/db.key" --cert "$DB" --output "$T/good.efi" "$STUB" 2>/dev/null
accept "$T/good.efi" "$DB"
cat "$T/sb/KEK.crt" "$DB" >"$T/kek-and-db.pem"
accept "$T/good.efi" "$T/kek-and-db.pem" "$DB"
# CheckSum is outside the digest: changing it keeps the signature valid for both.
cp "$T/good.efi" "$T/checksum.efi"
flip "$T/checksum.efi" "$(pe_field "$T/good.efi" checksum)"
cmp -s "$T/checksum.efi" "$T/good.efi" && die "CheckSum did not change"
accept "$T/checksum.efi" "$DB"

note "modified after signing: a byte in a section, in the headers, after the sections, appended"
for what in section timestamp certdir trailer; do
        off=$(pe_field "$T/good.efi" $what)
        [ "$off" -lt "$(pe_field "$T/good.efi" certtable)" ] || die "no $what bytes before the certificate table"
        cp "$T/good.efi" "$T/flip-$what.efi"
        flip "$T/flip-$what.efi" "$off"
        # The Certificate Table entry is not in the digest, but moving it loses the signature.
        [ $what = certdir ] && pat="certificate table|not signed|malformed WIN_CERTIFICATE" || pat="SHA256 image digest mismatch: the image was modified after signing"
        refuse "$pat" "$T/flip-$what.efi" "$DB"
done
cp "$T/good.efi" "$T/appended.efi"
printf 'appended' >>"$T/appended.efi"
refuse "8 bytes after the certificate table" "$T/appended.efi" "$DB"

note "not trusted: another db key, KEK.crt as db, a CA that did not issue the signer"
sbsign --key "$T/other/db.key" --cert "$T/other/db.crt" --output "$T/other.efi" "$STUB" 2>/dev/null
accept "$T/other.efi" "$T/other/db.crt"
refuse "signer O=abide demo, CN=abide Secure Boot db: neither it nor a certificate of its chain is in db" "$T/other.efi" "$DB"
refuse "neither it nor a certificate of its chain is in db" "$T/good.efi" "$T/sb/KEK.crt"
refuse "neither it nor a certificate of its chain is in db" "$T/good.efi" "$T/ca.crt"

note "a chain: the leaf signs, db holds the CA that issued it (or the leaf itself)"
sbsign --key "$T/leaf.key" --cert "$T/leaf.crt" --addcert "$T/ca.crt" --output "$T/leaf.efi" "$STUB" 2>/dev/null
accept "$T/leaf.efi" "$T/ca.crt"
# The firmware takes a db certificate that is not self-signed as the end of the chain
# (partial chains); sbverify does not, so only ours is asked.
out=$("$H" "$T/leaf.efi" "$T/leaf.crt" 2>&1) || die "helper-authenticode refuses leaf.efi with leaf.crt as db: $out"
[ "$out" = "CN=test leaf" ] || die "unexpected signer: $out"
refuse "signer CN=test leaf: neither it nor" "$T/leaf.efi" "$DB"
sbsign --key "$T/leaf.key" --cert "$T/leaf.crt" --output "$T/leaf-only.efi" "$STUB" 2>/dev/null
accept "$T/leaf-only.efi" "$T/ca.crt"

note "PE32: a tiny image (fuzz-authenticode's seed) signed by db.key"
sbsign --key "$T/sb/db.key" --cert "$DB" --output "$T/pe32.efi" "$ABIDE_SRCDIR/tests/fuzz/corpus/authenticode/pe32.efi" 2>/dev/null
accept "$T/pe32.efi" "$DB"
for what in section timestamp; do
        cp "$T/pe32.efi" "$T/pe32-$what.efi"
        flip "$T/pe32-$what.efi" "$(pe_field "$T/pe32.efi" $what)"
        refuse "image was modified after signing" "$T/pe32-$what.efi" "$DB"
done
cp "$T/pe32.efi" "$T/pe32-checksum.efi"
flip "$T/pe32-checksum.efi" "$(pe_field "$T/pe32.efi" checksum)"
accept "$T/pe32-checksum.efi" "$DB"

note "no signature: sbattach --remove"
cp "$T/good.efi" "$T/removed.efi"
sbattach --remove "$T/removed.efi" 2>/dev/null
[ "$(pe_field "$T/removed.efi" certsize)" = 0 ] || die "sbattach --remove left a certificate table"
refuse "not signed" "$T/removed.efi" "$DB"
refuse "not signed \(no certificate table\)" "$STUB" "$DB"

note "two signatures: accepted when either is by db, refused when neither is"
sbsign --key "$T/sb/db.key" --cert "$DB" --output "$T/two.efi" "$T/other.efi" 2>/dev/null
[ "$(sbverify --list "$T/two.efi" 2>/dev/null | grep -c '^signature [0-9]')" = 2 ] || die "two.efi does not carry two signatures"
accept "$T/two.efi" "$DB"
accept "$T/two.efi" "$T/other/db.crt"
refuse "signature 1 of 2: signer .*: neither it nor" "$T/two.efi" "$T/sb/KEK.crt"
# db's signature first, another key's second.
sbsign --key "$T/other/db.key" --cert "$T/other/db.crt" --output "$T/two-b.efi" "$T/good.efi" 2>/dev/null
accept "$T/two-b.efi" "$DB"

note "the signature itself damaged: a byte of the PKCS#7, a WIN_CERTIFICATE length"
ct=$(pe_field "$T/good.efi" certtable)
cs=$(pe_field "$T/good.efi" certsize)
cp "$T/good.efi" "$T/badsig.efi"
# Near the end of the DER: inside the RSA signature value.
flip "$T/badsig.efi" $((ct + cs - 40))
refuse "bad signature|malformed|not a DER PKCS#7" "$T/badsig.efi" "$DB"
cp "$T/good.efi" "$T/badlen.efi"
python3 -c 'import struct,sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2])); f.write(struct.pack("<I", 0x7fffffff))' \
        "$T/badlen.efi" "$ct"
refuse "malformed WIN_CERTIFICATE at 0 of the certificate table: dwLength 2147483647" "$T/badlen.efi" "$DB"
# The last entry's padding to 8 bytes cut off (Certificate Table size = dwLength, the file ending
# there): EDK II's DxeImageVerificationLib requires each padded entry inside the table and its walk to
# end exactly at the table's end, and refuses the image; sbverify takes it, so only ours is asked.
python3 - "$T/good.efi" "$T/unpadded.efi" <<'PY'
import struct, sys
d = bytearray(open(sys.argv[1], "rb").read())
pe = struct.unpack_from("<I", d, 0x3c)[0]
entry = pe + 24 + (112 if struct.unpack_from("<H", d, pe + 24)[0] == 0x20b else 96) + 4 * 8
at, size = struct.unpack_from("<II", d, entry)
length = struct.unpack_from("<I", d, at)[0]
assert length % 8 != 0 and size == (length + 7) // 8 * 8, (length, size)
struct.pack_into("<I", d, entry + 4, length)
open(sys.argv[2], "wb").write(d[:at + length])
PY
expect_fail "malformed WIN_CERTIFICATE at 0 of the certificate table: dwLength [0-9]+ padded to [0-9]+ \\([0-9]+ bytes left\\)" \
        "$H" "$T/unpadded.efi" "$DB"
cp "$T/good.efi" "$T/badtype.efi"
python3 -c 'import struct,sys; f=open(sys.argv[1],"r+b"); f.seek(int(sys.argv[2]) + 6); f.write(struct.pack("<H", 1))' \
        "$T/badtype.efi" "$ct"
refuse "WIN_CERTIFICATE revision 0x0200 type 0x0001, not PKCS#7 SignedData" "$T/badtype.efi" "$DB"

note "not a PE image, truncated images"
head -c 5000 /dev/urandom >"$T/random.bin"
refuse "not a PE image \(no MZ header\)" "$T/random.bin" "$DB"
: >"$T/empty.efi"
refuse "not a PE image" "$T/empty.efi" "$DB"
head -c 300 "$T/good.efi" >"$T/trunc-head.efi"
refuse "truncated PE headers" "$T/trunc-head.efi" "$DB"
head -c $(($(stat -c %s "$T/good.efi") / 2)) "$T/good.efi" >"$T/trunc-half.efi"
refuse "is outside the file" "$T/trunc-half.efi" "$DB"
head -c $((ct + cs - 1)) "$T/good.efi" >"$T/trunc-sig.efi"
refuse "certificate table .* is outside the file" "$T/trunc-sig.efi" "$DB"
expect_fail "$T/missing.efi: No such file" "$H" "$T/missing.efi" "$DB"
expect_fail "db certificates: .*no PEM certificate" "$H" "$T/good.efi" "$T/random.bin"

note "done: every verdict above agreed with sbverify but the partial chain (leaf.crt as db)"
