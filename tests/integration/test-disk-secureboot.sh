#!/bin/bash
# abide-build disk --secure-boot DIR (docs/secure-boot.md): the factory ESP
# holds systemd-boot signed with DIR/db.key, slot a's signed UKI as the
# blessed type #2 entry /EFI/Linux/abide-a.efi and no type #1 entry,
# keygen's loader/keys/abide/{PK,KEK,db}.auth as /loader/keys/auto/ (the
# one directory systemd-boot enrolls unattended) and loader.conf with
# "secure-boot-enroll force". Refused, one line and nothing written: a
# bundle without UKIs, a key directory missing a file, UKIs that DIR/db.crt
# does not verify, a DIR/db.crt that DIR's db.auth does not enroll, a
# malformed db.auth; an arm64 bundle is not tried (no cross tree here).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/install-lib.sh"
need sfdisk mdir mtype mcopy sbsign sbverify sbattach tar python3 cmp cert-to-efi-sig-list sign-efi-sig-list
export MTOOLS_SKIP_CHECK=1
export SOURCE_DATE_EPOCH=1721362140
SDBOOT=/usr/lib/systemd/boot/efi/systemd-bootx64.efi
[ -r "$SDBOOT" ] || die "systemd-boot $SDBOOT is missing (install systemd-boot-efi)"

note "keys, a UKI bundle, a plain bundle, a UKI bundle signed by another db key"
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
"$ABIDE_BUILD" keygen --secure-boot -o "$T/sb" >/dev/null
"$ABIDE_BUILD" keygen --secure-boot -o "$T/sb-other" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
cp "$(ls /boot/vmlinuz-"$KVER")" "$T/kernel/vmlinuz-$KVER"
head -c 100000 /dev/urandom >"$T/payload/blob"
UKI=$(build_bundle "$T/u" --set Boot.UKI=yes --secure-boot-key "$T/sb/db.key" --secure-boot-cert "$T/sb/db.crt")
PLAIN=$(build_bundle "$T/p")
OTHER=$(build_bundle "$T/o" --set Boot.UKI=yes --secure-boot-key "$T/sb-other/db.key" \
        --secure-boot-cert "$T/sb-other/db.crt")
mkdir "$T/x"
tar -xf "$UKI" -C "$T/x"

note "only db.key, db.crt and loader/keys/abide/{PK,KEK,db}.auth are needed"
mkdir -p "$T/sbmin/loader/keys/abide"
cp "$T/sb/db.key" "$T/sb/db.crt" "$T/sbmin/"
cp "$T/sb/loader/keys/abide/"{PK,KEK,db}.auth "$T/sbmin/loader/keys/abide/"

note "make the Secure Boot disk"
mkdir "$T/d"
"$ABIDE_BUILD" disk "$UKI" --cert "$T/keys/ca.pem" -o "$T/d/disk.img" --secure-boot "$T/sbmin" >"$T/out"
grep -q "Secure Boot" "$T/out" || die "disk did not say Secure Boot: $(cat "$T/out")"
D=$T/d/disk.img
[ "$(ls -A "$T/d")" = disk.img ] || die "scratch files left next to the disk: $(ls -A "$T/d")"
esp_off=$(sfdisk --json "$D" | python3 -c 'import json,sys
t = json.load(sys.stdin)["partitiontable"]
print([p["start"] * t.get("sectorsize", 512) for p in t["partitions"] if p["name"] == "esp"][0])')
E="$D@@$esp_off"

note "the ESP's files"
mdir -/ -b -i "$E" :: | sort >"$T/files"
cat >"$T/want" <<EOF
::/EFI/
::/EFI/BOOT/
::/EFI/BOOT/BOOTX64.EFI
::/EFI/Linux/
::/EFI/Linux/abide-a.efi
::/EFI/systemd/
::/EFI/systemd/systemd-bootx64.efi
::/abide/
::/abide/a/
::/abide/b/
::/loader/
::/loader/entries/
::/loader/keys/
::/loader/keys/auto/
::/loader/keys/auto/KEK.auth
::/loader/keys/auto/PK.auth
::/loader/keys/auto/db.auth
::/loader/loader.conf
EOF
sort -o "$T/want" "$T/want"
sed -i 's#/$##' "$T/files" "$T/want"
diff -u "$T/want" "$T/files" >"$T/diff" || die "ESP files differ from the expected (no type #1 entry, kernel or initrd): $(cat "$T/diff")"

note "systemd-boot: signed with db.key, the same program as systemd-boot-efi's"
# sbsign pads the image; compare with systemd-boot signed here, both without their signatures.
sbsign --key "$T/sb/db.key" --cert "$T/sb/db.crt" --output "$T/ref.efi" "$SDBOOT" 2>/dev/null
sbattach --remove "$T/ref.efi"
for f in EFI/BOOT/BOOTX64.EFI EFI/systemd/systemd-bootx64.efi; do
        mcopy -n -i "$E" "::/$f" "$T/loader.efi"
        sbverify --cert "$T/sb/db.crt" "$T/loader.efi" >"$T/sbv" 2>&1 || die "sbverify refuses /$f: $(cat "$T/sbv")"
        sbverify --cert "$T/sb-other/db.crt" "$T/loader.efi" >/dev/null 2>&1 && die "/$f verifies with another db.crt"
        sbverify --cert "$T/sb/KEK.crt" "$T/loader.efi" >/dev/null 2>&1 && die "/$f verifies with KEK.crt"
        sbattach --remove "$T/loader.efi" 2>/dev/null
        cmp -s "$T/loader.efi" "$T/ref.efi" || die "/$f without its signature is not $SDBOOT"
        rm "$T/loader.efi"
done
sbverify --cert "$T/sb/db.crt" "$SDBOOT" >/dev/null 2>&1 && die "the unsigned systemd-boot verifies (the check above cannot fail)"

note "slot a's UKI: the bundle's, verified by db.crt, abide.slot=a"
mcopy -n -i "$E" ::/EFI/Linux/abide-a.efi "$T/esp-a.efi"
cmp -s "$T/esp-a.efi" "$T/x/abide-a.efi" || die "/EFI/Linux/abide-a.efi is not the bundle's abide-a.efi"
sbverify --cert "$T/sb/db.crt" "$T/esp-a.efi" >"$T/sbv" 2>&1 || die "sbverify refuses the ESP's UKI: $(cat "$T/sbv")"
objcopy --dump-section ".cmdline=$T/cmdline" "$T/esp-a.efi" "$T/junk.efi"
[ "$(cat "$T/cmdline")" = "console=ttyS0 quiet abide.slot=a" ] || die "the ESP's UKI has command line '$(cat "$T/cmdline")'"

note "the .auth files and loader.conf"
for k in PK KEK db; do
        mcopy -n -i "$E" "::/loader/keys/auto/$k.auth" "$T/$k.auth"
        cmp -s "$T/$k.auth" "$T/sb/loader/keys/abide/$k.auth" || die "/loader/keys/auto/$k.auth is not keygen's"
done
mtype -i "$E" ::/loader/loader.conf | tr -d '\r' >"$T/loader.conf"
printf 'timeout 0\neditor no\nauto-entries no\nauto-firmware no\nconsole-mode keep\nsecure-boot-enroll force\n' >"$T/want.conf"
diff -u "$T/want.conf" "$T/loader.conf" || die "loader.conf differs"

note "without --secure-boot a UKI bundle's disk is as before: type #1 entry, unsigned systemd-boot"
"$ABIDE_BUILD" disk "$UKI" --cert "$T/keys/ca.pem" -o "$T/plain.img" >/dev/null
poff=$(sfdisk --json "$T/plain.img" | python3 -c 'import json,sys
t = json.load(sys.stdin)["partitiontable"]
print([p["start"] * t.get("sectorsize", 512) for p in t["partitions"] if p["name"] == "esp"][0])')
P="$T/plain.img@@$poff"
[ "$(mdir -b -i "$P" ::/loader/entries)" = "::/loader/entries/abide-a.conf" ] || die "plain disk: entries $(mdir -b -i "$P" ::/loader/entries)"
mdir -i "$P" ::/abide/a/vmlinuz >/dev/null 2>&1 || die "plain disk: no /abide/a/vmlinuz"
mdir -i "$P" ::/EFI/Linux >/dev/null 2>&1 && die "plain disk: an /EFI/Linux"
mdir -i "$P" ::/loader/keys >/dev/null 2>&1 && die "plain disk: /loader/keys"
mtype -i "$P" ::/loader/loader.conf | grepq secure-boot && die "plain disk: secure-boot in loader.conf"
mcopy -n -i "$P" ::/EFI/BOOT/BOOTX64.EFI "$T/plain-loader.efi"
cmp -s "$T/plain-loader.efi" "$SDBOOT" || die "plain disk: BOOTX64.EFI is not systemd-boot-efi's"

note "refused: one line, nothing written"
mkdir "$T/bad"
expect_fail "--secure-boot: .* has no signed UKIs \(uki-a, uki-b; build it with \[Boot\] UKI=yes\)" \
        "$ABIDE_BUILD" disk "$PLAIN" --cert "$T/keys/ca.pem" -o "$T/bad/d1.img" --secure-boot "$T/sb"
for f in db.key db.crt loader/keys/abide/PK.auth loader/keys/abide/KEK.auth loader/keys/abide/db.auth; do
        rm -rf "$T/sbmiss"
        cp -a "$T/sbmin" "$T/sbmiss"
        rm "$T/sbmiss/$f"
        expect_fail "--secure-boot: $T/sbmiss/$f: No such file" \
                "$ABIDE_BUILD" disk "$UKI" --cert "$T/keys/ca.pem" -o "$T/bad/d2.img" --secure-boot "$T/sbmiss"
done
expect_fail "--secure-boot: $T/nodir/db.key: No such file" \
        "$ABIDE_BUILD" disk "$UKI" --cert "$T/keys/ca.pem" -o "$T/bad/d3.img" --secure-boot "$T/nodir"
expect_fail "abide-a.efi \(uki-a\) is not accepted by $T/sb/db.crt, the firmware would not boot it: .*signer .*CN=abide Secure Boot db: neither it nor a certificate of its chain is in db" \
        "$ABIDE_BUILD" disk "$OTHER" --cert "$T/keys/ca.pem" -o "$T/bad/d4.img" --secure-boot "$T/sb"
# db.key and db.crt of one key set, the .auth files of another (a db rotated without a new db.auth):
# the firmware would enroll the other db, then refuse the systemd-boot and UKIs signed with db.key.
mkdir -p "$T/sbmixed/loader/keys/abide"
cp "$T/sb/db.key" "$T/sb/db.crt" "$T/sbmixed/"
cp "$T/sb-other/loader/keys/abide/"{PK,KEK,db}.auth "$T/sbmixed/loader/keys/abide/"
expect_fail "--secure-boot: $T/sbmixed/db.crt is not in the db that $T/sbmixed/loader/keys/abide/db.auth enrolls" \
        "$ABIDE_BUILD" disk "$UKI" --cert "$T/keys/ca.pem" -o "$T/bad/d5.img" --secure-boot "$T/sbmixed"
# The other way round the firmware takes it: db.auth enrolls a CA, db.crt is a key it issued.
mkdir -p "$T/sbca/loader/keys/abide"
openssl req -x509 -newkey rsa:2048 -nodes -keyout "$T/dbca.key" -out "$T/dbca.crt" -days 3650 -subj "/CN=test db CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign 2>/dev/null
openssl req -newkey rsa:2048 -nodes -keyout "$T/sbca/db.key" -out "$T/leaf.csr" -subj "/CN=test db leaf" 2>/dev/null
openssl x509 -req -in "$T/leaf.csr" -CA "$T/dbca.crt" -CAkey "$T/dbca.key" -CAcreateserial -days 3650 \
        -out "$T/sbca/db.crt" 2>/dev/null
cert-to-efi-sig-list -g "$(cat "$T/sb/GUID")" "$T/dbca.crt" "$T/dbca.esl" >/dev/null
sign-efi-sig-list -g "$(cat "$T/sb/GUID")" -k "$T/sb/KEK.key" -c "$T/sb/KEK.crt" db "$T/dbca.esl" \
        "$T/sbca/loader/keys/abide/db.auth" >/dev/null
cp "$T/sb/loader/keys/abide/"{PK,KEK}.auth "$T/sbca/loader/keys/abide/"
LEAF=$(build_bundle "$T/leaf" --set Boot.UKI=yes --secure-boot-key "$T/sbca/db.key" --secure-boot-cert "$T/sbca/db.crt")
"$ABIDE_BUILD" disk "$LEAF" --cert "$T/keys/ca.pem" -o "$T/leaf.img" --secure-boot "$T/sbca" >/dev/null ||
        die "a db.crt issued by the CA that db.auth enrolls was refused"
rm -f "$T/leaf.img"
# A db.auth that is no signed variable update at all.
mkdir -p "$T/sbjunk/loader/keys/abide"
cp "$T/sbmin/db.key" "$T/sbmin/db.crt" "$T/sbjunk/"
cp "$T/sbmin/loader/keys/abide/"{PK,KEK}.auth "$T/sbjunk/loader/keys/abide/"
head -c 30 "$T/sbmin/loader/keys/abide/db.auth" >"$T/sbjunk/loader/keys/abide/db.auth"
expect_fail "--secure-boot: $T/sbjunk/loader/keys/abide/db.auth: malformed" \
        "$ABIDE_BUILD" disk "$UKI" --cert "$T/keys/ca.pem" -o "$T/bad/d6.img" --secure-boot "$T/sbjunk"
[ -z "$(ls -A "$T/bad")" ] || die "a refused disk left files behind: $(ls -A "$T/bad")"
echo "OK"
