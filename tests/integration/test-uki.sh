#!/bin/bash
# [Boot] UKI=yes: abide-build build puts a signed unified kernel image per slot
# in the bundle (abide-a.efi, abide-b.efi; docs/secure-boot.md). sbverify takes
# them with db.crt and refuses a flipped byte or another key's signature; the
# sections are systemd's stub's; each carries its slot's abide.slot=; bundles
# without UKI=yes are unchanged. abidectl installs the target slot's UKI as its
# type #2 entry on a device whose root has the db certificate, after checking
# its signature; the firmware's fallback to the other slot is recorded.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/install-lib.sh"
need objcopy objdump faketime sbsign sbverify sbattach tar python3 cert-to-efi-sig-list sign-efi-sig-list fsck.erofs

STUB=/usr/lib/systemd/boot/efi/linuxx64.efi.stub
[ -r "$STUB" ] || die "systemd's stub $STUB is missing (install systemd-boot-efi)"
export SOURCE_DATE_EPOCH=1721362140

note "keys: a release key, a Secure Boot key set, and another Secure Boot key set"
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
"$ABIDE_BUILD" keygen --secure-boot -o "$T/sb" >/dev/null
"$ABIDE_BUILD" keygen --secure-boot -o "$T/sb-other" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
cp "$(ls /boot/vmlinuz-"$KVER")" "$T/kernel/vmlinuz-$KVER"
head -c 100000 /dev/urandom >"$T/payload/blob"
SB=(--secure-boot-key "$T/sb/db.key" --secure-boot-cert "$T/sb/db.crt")

# build_only OUTDIR [ARGS...]: build_bundle's build, for the ones that must fail.
build_only() {
        local out=$1; shift
        "$ABIDE_BUILD" build --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" -o "$out" \
                --ca "$T/keys/ca.pem" --init "$INIT" \
                --set "Boot.Kernel=$T/kernel/vmlinuz-$KVER" --set "Boot.Cmdline=console=ttyS0 quiet" \
                --set "Content.Layer=tree:$T/payload" "$@" "$ABIDE_SRCDIR/recipes/example.conf"
}

note "UKI=yes and the Secure Boot key go together"
expect_fail "UKI=yes: --secure-boot-key and --secure-boot-cert are needed" build_only "$T/bad1" --set Boot.UKI=yes
expect_fail "go together, with \[Boot\] UKI=yes" build_only "$T/bad2" "${SB[@]}"
expect_fail "--secure-boot-key and --secure-boot-cert are needed" build_only "$T/bad3" --set Boot.UKI=yes --secure-boot-key "$T/sb/db.key"
expect_fail "Boot.UKI: 'maybe' is not a boolean" build_only "$T/bad4" --set Boot.UKI=maybe
expect_fail "Secure Boot key $T/nokey" build_only "$T/bad5" --set Boot.UKI=yes \
        --secure-boot-key "$T/nokey" --secure-boot-cert "$T/sb/db.crt"
# A key and a certificate that are not a pair (sbsign would refuse them only after the image and
# its dm-verity tree are made, in OpenSSL's words), and a certificate given as the key.
expect_fail "$T/sb-other/db.crt does not belong to the key in $T/sb/db.key" build_only "$T/bad6" \
        --set Boot.UKI=yes --secure-boot-key "$T/sb/db.key" --secure-boot-cert "$T/sb-other/db.crt"
expect_fail "$T/sb/db.crt" build_only "$T/bad7" --set Boot.UKI=yes \
        --secure-boot-key "$T/sb/db.crt" --secure-boot-cert "$T/sb/db.crt"
for d in bad1 bad2 bad3 bad4 bad5 bad6 bad7; do
        [ -z "$(ls -A "$T/$d" 2>/dev/null)" ] || die "a refused build left files in $d: $(ls -A "$T/$d")"
done

note "a UKI bundle: abide-a.efi and abide-b.efi as payloads uki-a and uki-b"
UKI=$(build_bundle "$T/u1" --set Boot.UKI=yes "${SB[@]}")
"$ABIDE_BUILD" inspect "$UKI" --cert "$T/keys/ca.pem" >"$T/inspect"
grep -q "Signature: *verified.*all payloads match" "$T/inspect" || die "UKI bundle not verified: $(cat "$T/inspect")"
grep -Eq '^ *abide-a\.efi +uki-a ' "$T/inspect" || die "inspect lacks abide-a.efi (uki-a): $(cat "$T/inspect")"
grep -Eq '^ *abide-b\.efi +uki-b ' "$T/inspect" || die "inspect lacks abide-b.efi (uki-b): $(cat "$T/inspect")"
[ "$(tar -tf "$UKI" | tr '\n' ' ')" = \
  "manifest.json manifest.json.sig root.img root.verity root.verity-sig vmlinuz initrd abide-a.efi abide-b.efi " ] ||
        die "unexpected members: $(tar -tf "$UKI" | tr '\n' ' ')"
mkdir "$T/x"
tar -xf "$UKI" -C "$T/x"

note "sbverify: db.crt accepts both; a flipped byte, another db key, KEK.crt and no signature are refused"
for s in a b; do
        sbverify --cert "$T/sb/db.crt" "$T/x/abide-$s.efi" >"$T/sbv" 2>&1 || die "sbverify refuses abide-$s.efi: $(cat "$T/sbv")"
done
sbverify --cert "$T/sb/KEK.crt" "$T/x/abide-a.efi" >/dev/null 2>&1 && die "sbverify accepts the UKI with KEK.crt"
# A byte in the middle of the kernel section, and one in the PE header: both covered by the signature.
for off in $(($(stat -c %s "$T/x/abide-a.efi") / 2)) 200; do
        cp "$T/x/abide-a.efi" "$T/flip.efi"
        flip_byte "$T/flip.efi" "$off" 1
        cmp -s "$T/flip.efi" "$T/x/abide-a.efi" && die "the byte at $off did not change"
        sbverify --cert "$T/sb/db.crt" "$T/flip.efi" >/dev/null 2>&1 && die "sbverify accepts a UKI with byte $off flipped"
done
OTHER=$(build_bundle "$T/u-other" --set Boot.UKI=yes --secure-boot-key "$T/sb-other/db.key" \
        --secure-boot-cert "$T/sb-other/db.crt")
tar -xOf "$OTHER" abide-a.efi >"$T/other-a.efi"
sbverify --cert "$T/sb-other/db.crt" "$T/other-a.efi" >/dev/null 2>&1 || die "the other key's UKI does not verify with its own db.crt"
sbverify --cert "$T/sb/db.crt" "$T/other-a.efi" >/dev/null 2>&1 && die "sbverify accepts a UKI signed by another db key"
sbattach --remove "$T/x/abide-a.efi" --output "$T/unsigned.efi" 2>/dev/null ||
        { cp "$T/x/abide-a.efi" "$T/unsigned.efi"; sbattach --remove "$T/unsigned.efi" 2>/dev/null; }
sbverify --cert "$T/sb/db.crt" "$T/unsigned.efi" >/dev/null 2>&1 && die "sbverify accepts the UKI with its signature removed"

note "the sections: systemd's stub plus .osrel, .cmdline, .linux, .initrd after its last section"
objdump -h "$T/x/abide-a.efi" >"$T/sections"
python3 - "$T/sections" "$STUB" <<'PY' || die "section layout wrong: $(cat "$T/sections")"
import re, subprocess, sys
def sections(text):
    out = []
    for m in re.finditer(r"^\s*\d+\s+(\S+)\s+([0-9a-f]+)\s+([0-9a-f]+)\s", text, re.M):
        out.append((m.group(1), int(m.group(2), 16), int(m.group(3), 16)))
    return out
uki = sections(open(sys.argv[1]).read())
stub = sections(subprocess.run(["objdump", "-h", sys.argv[2]], capture_output=True, text=True, check=True).stdout)
names = [s[0] for s in uki]
assert names[:len(stub)] == [s[0] for s in stub], f"the stub's sections are not kept: {names}"
added = uki[len(stub):]
assert [s[0] for s in added] == [".osrel", ".cmdline", ".linux", ".initrd"], f"added sections: {added}"
end = max(vma + size for _, size, vma in stub)
for name, size, vma in added:
    assert vma >= end, f"{name} at {vma:#x} overlaps what ends at {end:#x}"
    assert vma % 4096 == 0, f"{name} at {vma:#x} is not page aligned"
    end = vma + size
PY
dump() { objcopy --dump-section "$2=$T/$3" "$1" "$T/junk.efi"; }
for s in a b; do
        dump "$T/x/abide-$s.efi" .cmdline "cmdline-$s"
        [ "$(cat "$T/cmdline-$s")" = "console=ttyS0 quiet abide.slot=$s" ] ||
                die "abide-$s.efi's command line is '$(cat "$T/cmdline-$s")'"
done
dump "$T/x/abide-a.efi" .osrel osrel
grep -qx 'IMAGE_VERSION=1.0.0' "$T/osrel" || die "no IMAGE_VERSION in .osrel: $(cat "$T/osrel")"
grep -qx 'ID=abide' "$T/osrel" || die "no ID=abide in .osrel: $(cat "$T/osrel")"
# systemd-boot sorts type #2 entries by IMAGE_ID, else ID: none, so both slots sort as "abide" by version.
! grep -q '^IMAGE_ID=' "$T/osrel" || die "IMAGE_ID in .osrel would sort the slots apart: $(cat "$T/osrel")"
# What status shows: the version abidectl reads back out of the UKI.
[ "$("$ABIDE_TEST_HELPERS/helper-slot" uki-version "$T/x/abide-a.efi")" = 1.0.0 ] ||
        die "the UKI's version as abidectl reads it is not 1.0.0"
# The root carries the db certificate that abidectl checks later bundles' UKIs against.
fsck.erofs --extract="$T/root-x" "$T/x/root.img" >/dev/null || die "cannot extract root.img"
cmp -s "$T/root-x/usr/lib/abide/secure-boot/db.crt" "$T/sb/db.crt" ||
        die "root.img has no /usr/lib/abide/secure-boot/db.crt equal to the db certificate"

# The kernel and initrd inside are the bundle's own (the dump is padded to the file alignment).
dump "$T/x/abide-a.efi" .linux linux
dump "$T/x/abide-b.efi" .initrd initrd
cmp -s -n "$(stat -c %s "$T/x/vmlinuz")" "$T/linux" "$T/x/vmlinuz" || die ".linux is not the bundle's vmlinuz"
cmp -s -n "$(stat -c %s "$T/x/initrd")" "$T/initrd" "$T/x/initrd" || die ".initrd is not the bundle's initrd"

note "reproducible: the same inputs give the same UKIs and bundle, signatures included"
# sbsign dates its signature with the clock; abide-build holds sbsign's clock at the build date
# (faketime), so the signingTime is SOURCE_DATE_EPOCH and two builds a second apart are equal.
sleep 1.1
UKI2=$(build_bundle "$T/u2" --set Boot.UKI=yes "${SB[@]}")
for s in a b; do
        tar -xOf "$UKI2" "abide-$s.efi" >"$T/again-$s.efi"
        cmp -s "$T/x/abide-$s.efi" "$T/again-$s.efi" || die "abide-$s.efi differs between two equal builds"
done
cmp -s "$UKI" "$UKI2" || die "two equal builds with UKI=yes gave different bundles"
# signing_time UKI: the signingTime attribute of its Authenticode signature, as openssl prints it.
signing_time() {
        python3 - "$1" "$T/pkcs7.der" <<'PY'
import struct, sys
d = open(sys.argv[1], "rb").read()
pe = struct.unpack_from("<I", d, 0x3c)[0]
opt = pe + 24
dirs = opt + (112 if struct.unpack_from("<H", d, opt)[0] == 0x20b else 96)
off, size = struct.unpack_from("<II", d, dirs + 4 * 8)
length = struct.unpack_from("<I", d, off)[0]
open(sys.argv[2], "wb").write(d[off + 8:off + length])
PY
        openssl pkcs7 -print -inform DER -in "$T/pkcs7.der" | grep -A2 'object: signingTime' | sed -n 's/^ *UTCTIME://p'
}
want=$(TZ=UTC date -d "@$SOURCE_DATE_EPOCH" '+%b %e %H:%M:%S %Y GMT')
for s in a b; do
        got=$(signing_time "$T/x/abide-$s.efi")
        [ "$got" = "$want" ] || die "abide-$s.efi's signing time is '$got', not SOURCE_DATE_EPOCH's '$want'"
done
# Another build date, another signing time (the clock is the build date's, not a constant).
UKI3=$(SOURCE_DATE_EPOCH=$((SOURCE_DATE_EPOCH + 86400)) build_bundle "$T/u-later" --set Boot.UKI=yes "${SB[@]}")
tar -xOf "$UKI3" abide-a.efi >"$T/later-a.efi"
want=$(TZ=UTC date -d "@$((SOURCE_DATE_EPOCH + 86400))" '+%b %e %H:%M:%S %Y GMT')
[ "$(signing_time "$T/later-a.efi")" = "$want" ] || die "a build a day later signed at '$(signing_time "$T/later-a.efi")', not '$want'"
sbverify --cert "$T/sb/db.crt" "$T/later-a.efi" >/dev/null || die "sbverify refuses the UKI signed at the build date"

note "without UKI=yes nothing changes: UKI=no gives the bundle of a recipe without the key"
# Byte for byte, signature included: its signing time is SOURCE_DATE_EPOCH (test-build.sh).
PLAIN=$(build_bundle "$T/p1")
NO=$(build_bundle "$T/p2" --set Boot.UKI=no)
[ "$(tar -tf "$PLAIN")" = "$(tar -tf "$NO")" ] || die "UKI=no changed the bundle's members"
cmp -s "$PLAIN" "$NO" || die "UKI=no changed the bundle"
tar -xOf "$PLAIN" manifest.json | grepq uki && die "a bundle without UKI=yes mentions a UKI"
[ "$(tar -tf "$PLAIN" | tail -1)" = initrd ] || die "a bundle without UKI=yes has other members: $(tar -tf "$PLAIN")"

note "factory disk from a UKI bundle (type #1 entries still boot it)"
"$ABIDE_BUILD" disk "$UKI" --cert "$T/keys/ca.pem" -o "$T/factory.img" >/dev/null 2>"$T/err" ||
        die "disk refuses a UKI bundle: $(cat "$T/err")"

note "a device without a Secure Boot certificate installs a UKI bundle's kernel and initrd (type #1)"
make_disk 24 2
make_config
fill_slot_a "$PLAIN"
write_image_info 1.0.0 0
NEXT=$(build_bundle "$T/u3" --set Image.Version=1.1 --set Boot.UKI=yes "${SB[@]}")
"$ABIDECTL" install "$NEXT" >"$T/out" 2>&1 || die "a UKI bundle does not install as type #1: $(cat "$T/out")"
[[ $(entry_of b) =~ ^abide-b\+[0-9]+\.conf$ ]] || die "slot b's entry is '$(entry_of b)', not a type #1 entry"
[ -s "$T/esp/abide/b/vmlinuz" ] && [ -s "$T/esp/abide/b/initrd" ] || die "no kernel and initrd for slot b"
[ ! -e "$T/esp/EFI/Linux" ] || die "a device without SecureBootCert got UKIs: $(ls -R "$T/esp/EFI")"

note "a Secure Boot device ([Paths] SecureBootCert= exists): slot a boots its UKI"
printf '[Paths]\nSecureBootCert=%s\n' "$T/sb/db.crt" >>"$T/abide.conf"
rm -f "$ENTRIES"/abide-*.conf "$T/esp/abide/a/"* "$T/esp/abide/b/"*
mkdir -p "$T/esp/EFI/Linux"
cp "$T/x/abide-a.efi" "$T/esp/EFI/Linux/abide-a.efi"
set_var LoaderEntrySelected abide-a.efi
echo "console=ttyS0 quiet abide.slot=a" >"$T/cmdline"
uki_of() { (cd "$T/esp/EFI/Linux" && ls abide-"$1".efi abide-"$1"+*.efi 2>/dev/null) || true; }
"$ABIDECTL" status --json >"$T/st" || die "status fails on a type #2 device"
python3 - "$T/st" <<'PY' || die "status of the type #2 device: $(cat "$T/st")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["booted"] == "a", s["booted"]
a = s["slots"]["a"]
assert a["entry"] == "abide-a.efi" and a["state"] == "good", a
PY

rootb=$(sha256sum <"$ROOT_B")
note "refused before anything is written: a bundle without UKIs"
PLAIN12=$(build_bundle "$T/p12" --set Image.Version=1.2)
expect_fail "this device boots signed UKIs \($T/sb/db.crt exists\) and the bundle has none" "$ABIDECTL" install "$PLAIN12"
[ -z "$(uki_of b)$(entry_of b)" ] || die "slot b has an entry after a refused install"
[ "$(sha256sum <"$ROOT_B")" = "$rootb" ] || die "a refused install wrote slot b's root"

note "refused before the entry: UKIs signed by another db key (the release signature is fine)"
OTHER13=$(build_bundle "$T/o13" --set Image.Version=1.3 --set Boot.UKI=yes --secure-boot-key "$T/sb-other/db.key" \
        --secure-boot-cert "$T/sb-other/db.crt")
expect_fail "slot b's UKI is not signed for this device's Secure Boot db \($T/sb/db.crt\)" "$ABIDECTL" install "$OTHER13"
[ -z "$(uki_of b)$(entry_of b)" ] || die "slot b has an entry after its UKI was refused: $(uki_of b)$(entry_of b)"
[ "$(uki_of a)" = abide-a.efi ] || die "slot a's entry changed"

note "installed: slot b's UKI is its type #2 entry, nothing else on the ESP"
"$ABIDECTL" install "$NEXT" >"$T/out" 2>&1 || die "the UKI bundle does not install: $(cat "$T/out")"
grep -q "Installed 1.1 into slot b (abide-b+[0-9]*\.efi)" "$T/out" || die "install said: $(cat "$T/out")"
eb=$(uki_of b)
[[ $eb =~ ^abide-b\+([0-9]+)\.efi$ ]] || die "slot b's entry is '$eb'"
tries=${BASH_REMATCH[1]}
mkdir "$T/xn"
tar -xf "$NEXT" -C "$T/xn" abide-b.efi
cmp -s "$T/esp/EFI/Linux/$eb" "$T/xn/abide-b.efi" || die "$eb is not the bundle's abide-b.efi"
sbverify --cert "$T/sb/db.crt" "$T/esp/EFI/Linux/$eb" >/dev/null 2>&1 || die "sbverify refuses the installed UKI"
[ -z "$(entry_of b)" ] || die "a type #1 entry for slot b too: $(entry_of b)"
[ -z "$(ls -A "$T/esp/abide/b")" ] || die "kernel files for slot b: $(ls -A "$T/esp/abide/b")"
"$ABIDECTL" status --json >"$T/st"
python3 - "$T/st" "$eb" <<'PY' || die "status after the install: $(cat "$T/st")"
import json, sys
b = json.load(open(sys.argv[1]))["slots"]["b"]
assert b["entry"] == sys.argv[2] and b["state"] == "pending" and b["version"] == "1.1", b
PY

note "systemd-boot counts a try of slot b; mark-good renames it to abide-b.efi"
mv "$T/esp/EFI/Linux/$eb" "$T/esp/EFI/Linux/abide-b+$((tries - 1))-1.efi"
set_var LoaderEntrySelected "$eb"
echo "console=ttyS0 quiet abide.slot=b" >"$T/cmdline"
write_image_info 1.1 0
"$ABIDECTL" mark-good >/dev/null || die "mark-good fails on slot b's UKI"
[ "$(uki_of b)" = abide-b.efi ] || die "after mark-good slot b's entry is '$(uki_of b)'"

note "the firmware refused the selected UKI and started the other slot: boot-check marks it bad, records the rollback"
# systemd-boot selected b (the newest good entry); its UKI failed the firmware's check; the
# firmware's fallback option started slot a's UKI (docs/secure-boot.md).
set_var LoaderEntrySelected abide-b.efi
echo "console=ttyS0 quiet abide.slot=a" >"$T/cmdline"
write_image_info 1.0.0 0
"$ABIDECTL" boot-check --no-reboot >"$T/out" 2>&1 || die "boot-check after a firmware fallback: $(cat "$T/out")"
grep -q "Rolled back from slot b (version 1.1) to slot a: the firmware did not start slot b's image abide-b.efi" "$T/out" ||
        die "boot-check said: $(cat "$T/out")"
[ "$(uki_of b)" = "abide-b+0.efi" ] || die "slot b is '$(uki_of b)' after the firmware refused it, not bad"
"$ABIDECTL" status --json >"$T/st"
python3 - "$T/st" <<'PY' || die "status after the fallback: $(cat "$T/st")"
import json, sys
s = json.load(open(sys.argv[1]))
r = s["last_rollback"]
assert r["from"] == "b" and r["to"] == "a" and r["version"] == "1.1" and "firmware" in r["reason"], r
assert s["slots"]["b"]["state"] == "bad", s["slots"]["b"]
PY
"$ABIDECTL" boot-check --no-reboot >"$T/out" 2>&1 || die "second boot-check: $(cat "$T/out")"
! grep -q "Rolled back" "$T/out" || die "the rollback was reported twice: $(cat "$T/out")"
echo PASS
