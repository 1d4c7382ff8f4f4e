#!/bin/bash
# abide-build disk: GPT layout (labels, DPS types, root-hash PARTUUIDs),
# systemd-dissect, the ESP (mtools), abide-data (debugfs), slot A against
# veritysetup, slot B empty; refused inputs leave nothing behind.
. "$(dirname "$0")/lib.sh"
need sfdisk systemd-dissect mdir mtype mcopy debugfs veritysetup python3 dd cmp fsck.fat
B=$ABIDE_BUILD
INIT=$ABIDE_BUILDDIR/bootctl/init/abide-init
[ -x "$INIT" ] || die "abide-init not built at $INIT"
export MTOOLS_SKIP_CHECK=1

note "keys and a bundle with kernel and initrd"
"$B" keygen -o "$T/keys" >/dev/null
"$B" keygen -o "$T/other" >/dev/null
mkdir -p "$T/tree/etc" "$T/tree/usr/share"
cp "$ABIDE_SRCDIR/images/example/rootfs/etc/os-release" "$T/tree/etc/os-release"
# Big enough for a hash tree with two levels.
head -c 3M /dev/urandom >"$T/tree/usr/share/blob"
cat >"$T/r.conf" <<EOF
[Image]
Name=disk-test
Version=1.2.3
Compatible=abide-test-x86_64
Filesystem=erofs

[Content]
Layer=tree:$T/tree

[Boot]
Kernel=/boot/vmlinuz-*
Cmdline=console=ttyS0 panic=5
Tries=3
EOF
K=(--key "$T/keys/signing.key" --cert "$T/keys/signing.crt" --ca "$T/keys/ca.pem" --init "$INIT")
"$B" build "$T/r.conf" "${K[@]}" -o "$T/out" >/dev/null
BUNDLE=$T/out/disk-test-1.2.3.abide
[ -f "$BUNDLE" ] || die "no bundle"
"$B" inspect "$BUNDLE" --json >"$T/inspect.json"
RH=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"]["verity"]["root_hash"])' "$T/inspect.json")

note "make the disk"
mkdir "$T/d"
"$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/d/disk.img" >/dev/null
D=$T/d/disk.img
[ "$(ls -A "$T/d")" = disk.img ] || die "scratch files left next to the disk: $(ls -A "$T/d")"

note "partition table"
sfdisk --json "$D" >"$T/pt.json"
python3 - "$T/pt.json" "$RH" <<'EOF' || die "partition table does not match the layout"
import json, sys
pt = json.load(open(sys.argv[1]))["partitiontable"]
rh = sys.argv[2]
assert pt["label"] == "gpt", pt["label"]
want = [("esp", "C12A7328-F81F-11D2-BA4B-00A0C93EC93B"),
        ("abide-root-a", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"),
        ("abide-verity-a", "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5"),
        ("abide-verity-sig-a", "41092B05-9FC8-4523-994F-2DEF0408B176"),
        ("abide-root-b", "4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709"),
        ("abide-verity-b", "2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5"),
        ("abide-verity-sig-b", "41092B05-9FC8-4523-994F-2DEF0408B176"),
        ("abide-data", "4D21B016-B534-45C2-A9FB-5C16E091FD2D")]
parts = pt["partitions"]
got = [(p["name"], p["type"]) for p in parts]
assert got == want, got
uuid = lambda h: "%s-%s-%s-%s-%s" % (h[:8], h[8:12], h[12:16], h[16:20], h[20:32])
assert parts[1]["uuid"].lower() == uuid(rh[:32]), parts[1]["uuid"]
assert parts[2]["uuid"].lower() == uuid(rh[32:]), parts[2]["uuid"]
assert len({p["uuid"] for p in parts}) == len(parts), "duplicate PARTUUIDs"
for p in parts:
    assert p["start"] % 2048 == 0 and p["size"] % 2048 == 0, p
    assert ("attrs" in p) == (p["name"].endswith("-b")), p
    if "attrs" in p:
        assert "GUID:63" in p["attrs"], p
assert parts[1]["size"] == parts[4]["size"] and parts[2]["size"] == parts[5]["size"]
EOF
# start and size in bytes of a partition, by label
part() { python3 -c 'import json,sys
for p in json.load(open(sys.argv[1]))["partitiontable"]["partitions"]:
    if p["name"] == sys.argv[2]: print(p["start"] * 512, p["size"] * 512)' "$T/pt.json" "$1"; }
extract() { local s n; read -r s n < <(part "$1"); dd if="$D" of="$2" bs=1M iflag=skip_bytes,count_bytes skip="$s" count="$n" status=none; }

note "systemd-dissect"
systemd-dissect --json=short "$D" >"$T/dissect.json" || die "systemd-dissect failed on the disk"
python3 - "$T/dissect.json" <<'EOF' || die "systemd-dissect does not see slot A, the ESP and abide-data: $(cat "$T/dissect.json")"
import json, sys
d = json.load(open(sys.argv[1]))
m = {x["designator"]: x for x in d["mounts"]}
assert m["root"]["partition_label"] == "abide-root-a" and m["root"]["fstype"] == "erofs", m["root"]
assert m["root"]["verity"] == "signed", m["root"]["verity"]
assert m["root-verity"]["partition_label"] == "abide-verity-a"
assert m["root-verity-sig"]["partition_label"] == "abide-verity-sig-a"
assert m["esp"]["fstype"] == "vfat" and m["var"]["partition_label"] == "abide-data" and m["var"]["fstype"] == "ext4"
assert d["useBootableUefi"], d
EOF

note "ESP"
read -r esp_off _ < <(part esp)
E="$D@@$esp_off"
for f in /EFI/BOOT/BOOTX64.EFI /EFI/systemd/systemd-bootx64.efi /loader/loader.conf /loader/entries/abide-a.conf \
         /abide/a/vmlinuz /abide/a/initrd; do
        mdir -i "$E" "::$f" >/dev/null 2>&1 || die "ESP lacks $f"
done
[ "$(mdir -b -i "$E" ::/loader/entries)" = "::/loader/entries/abide-a.conf" ] || die "ESP entries: $(mdir -b -i "$E" ::/loader/entries)"
mdir -i "$E" ::/abide/b >/dev/null || die "ESP lacks /abide/b"
mcopy -i "$E" ::/EFI/BOOT/BOOTX64.EFI "$T/bootx64.efi"
same_file "$T/bootx64.efi" /usr/lib/systemd/boot/efi/systemd-bootx64.efi
mcopy -i "$E" ::/abide/a/vmlinuz "$T/vmlinuz"
mcopy -i "$E" ::/abide/a/initrd "$T/initrd"
python3 - "$T/inspect.json" "$T/vmlinuz" "$T/initrd" <<'EOF' || die "kernel or initrd on the ESP differ from the bundle's"
import hashlib, json, sys
ps = {p["role"]: p for p in json.load(open(sys.argv[1]))["manifest"]["payloads"]}
for role, path in (("kernel", sys.argv[2]), ("initrd", sys.argv[3])):
    assert hashlib.sha256(open(path, "rb").read()).hexdigest() == ps[role]["sha256"], role
EOF
mtype -i "$E" ::/loader/entries/abide-a.conf | tr -d '\r' >"$T/entry"
cat >"$T/entry.want" <<'EOF'
title abide 1.2.3 (slot a)
version 1.2.3
sort-key abide
linux /abide/a/vmlinuz
initrd /abide/a/initrd
options console=ttyS0 panic=5 abide.slot=a
EOF
diff -u "$T/entry.want" "$T/entry" || die "slot A's entry"
mtype -i "$E" ::/loader/loader.conf | tr -d '\r' >"$T/loader.conf"
grep -qx "timeout 0" "$T/loader.conf" && grep -qx "editor no" "$T/loader.conf" || die "loader.conf: $(cat "$T/loader.conf")"
grep -q "^default" "$T/loader.conf" && die "loader.conf must not pin a default entry"

note "abide-data"
read -r data_off _ < <(part abide-data)
DATA="$D?offset=$data_off"
# No trust anchor on the writable partition: the image's verified /usr/lib/abide/keys is the one.
debugfs -R "ls -p /etc-overlay/upper/abide" "$DATA" 2>/dev/null | grepq '/keys/' && die "abide-data carries /etc/abide/keys"
debugfs -R "cat /etc-overlay/upper/abide/abide.conf" "$DATA" 2>/dev/null >"$T/abide.conf"
grep -qx "Tries=3" "$T/abide.conf" || die "abide.conf: $(cat "$T/abide.conf")"
for dir in /var/lib/abide /etc-overlay/work /etc-overlay/upper/abide; do
        debugfs -R "stat $dir" "$DATA" 2>/dev/null | grepq "Type: directory" || die "abide-data lacks $dir"
done
entries=$(debugfs -R "ls -p /etc-overlay/work" "$DATA" 2>/dev/null | awk -F/ 'NF > 5 && $6 != "." && $6 != ".." { print $6 }')
[ -z "$entries" ] || die "overlay workdir not empty: $entries"
debugfs -R "stat /etc-overlay/upper/abide/abide.conf" "$DATA" 2>/dev/null | grepq "User:     0   Group:     0" ||
        die "abide.conf not owned by root"

note "slot A against veritysetup; slot B empty"
extract abide-root-a "$T/root-a"
extract abide-verity-a "$T/verity-a"
extract abide-verity-sig-a "$T/sig-a"
veritysetup verify "$T/root-a" "$T/verity-a" "$RH" || die "veritysetup verify of slot A"
python3 - "$T/sig-a" "$RH" <<'EOF' || die "verity-sig partition"
import json, sys
raw = open(sys.argv[1], "rb").read()
text, _, pad = raw.partition(b"\0")
assert not pad.strip(b"\0"), "garbage after the JSON"
assert json.loads(text)["rootHash"] == sys.argv[2]
EOF
for p in abide-root-b abide-verity-b abide-verity-sig-b; do
        extract $p "$T/$p"
        cmp -s "$T/$p" <(head -c "$(stat -c %s "$T/$p")" /dev/zero) || die "$p is not empty"
done
# Corrupt one byte of slot A's data: veritysetup must notice (the check above can fail).
cp "$T/root-a" "$T/root-a.bad"
flip_byte "$T/root-a.bad" 5000
veritysetup verify "$T/root-a.bad" "$T/verity-a" "$RH" >/dev/null 2>&1 && die "corrupt slot A verified"

note "bundle from a pipe"
cat "$BUNDLE" | "$B" disk - --cert "$T/keys/ca.pem" -o "$T/pipe.img" >/dev/null
strip_pt() { sfdisk --json "$1" | python3 -c 'import json, sys
pt = json.load(sys.stdin)["partitiontable"]
print(pt["id"], [(p["start"], p["size"], p["type"], p["uuid"], p["name"]) for p in pt["partitions"]])'; }
[ "$(strip_pt "$T/pipe.img")" = "$(strip_pt "$D")" ] || die "the disk from a pipe has another partition table"

note "reproducible: the same bundle, a second later, gives the same bytes (times are the build date)"
# The pipe's disk was made after the first, at least a second later (mtools and mke2fs would
# take the clock's seconds); the build date is the bundle's.
sleep 1.1
"$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/again.img" >/dev/null
cmp "$D" "$T/pipe.img" >"$T/cmp.txt" 2>&1 && cmp "$D" "$T/again.img" >>"$T/cmp.txt" 2>&1 ||
        die "equal bundles gave different disks: $(cat "$T/cmp.txt")"
BD=$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["manifest"]["build_date"])' "$T/inspect.json")
HEX=$(printf '%x' "$(date -d "$BD" +%s)")
for f in /etc-overlay/upper/abide/abide.conf /var/lib/abide /; do
        debugfs -R "stat $f" "$DATA" 2>/dev/null | grep -E "^ *(a|c|m|cr)time:" >"$T/times.txt"
        [ "$(grep -c " 0x$HEX:00000000 -- " "$T/times.txt")" = 4 ] ||
                die "$f's times on abide-data are not the build date $BD: $(cat "$T/times.txt")"
done
rm -f "$T/pipe.img" "$T/again.img"

note "sizes"
"$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/big.img" --size 1G --slot-size 64M --esp-size 100M >/dev/null
[ "$(stat -c %s "$T/big.img")" -eq $((1024 * 1024 * 1024)) ] || die "--size 1G gave $(stat -c %s "$T/big.img") bytes"
sfdisk --json "$T/big.img" | python3 -c '
import json, sys
p = {x["name"]: x for x in json.load(sys.stdin)["partitiontable"]["partitions"]}
assert p["abide-root-a"]["size"] * 512 == 64 << 20 and p["abide-root-b"]["size"] * 512 == 64 << 20
assert p["esp"]["size"] * 512 == 100 << 20
d = p["abide-data"]
assert (d["start"] + d["size"]) * 512 == (1 << 30) - (1 << 20), d' || die "--size/--slot-size/--esp-size not applied"
rm -f "$T/big.img"
# The smallest ESP with a bundle whose kernel and initrd need less than it: a stand-in kernel (the
# modules are the build machine's newest kernel's), so that a big initrd (abide-init under ASan)
# still leaves the FAT32 minimum as the bound.
kver=$(basename "$(ls /boot/vmlinuz-* | sort -V | tail -1)" | sed 's/^vmlinuz-//')
mkdir "$T/kernel"
head -c 300000 /dev/urandom >"$T/kernel/vmlinuz-$kver"
sed "s|^Kernel=.*|Kernel=$T/kernel/vmlinuz-$kver|" "$T/r.conf" >"$T/r-small.conf"
"$B" build "$T/r-small.conf" "${K[@]}" -o "$T/out-small" >/dev/null
SMALL=$T/out-small/disk-test-1.2.3.abide
"$B" disk "$SMALL" --cert "$T/keys/ca.pem" -o "$T/small.img" --esp-size 33M >/dev/null
read -r esp_start esp_sectors < <(sfdisk --json "$T/small.img" |
        python3 -c 'import json,sys; p=json.load(sys.stdin)["partitiontable"]["partitions"][0]; print(p["start"], p["size"])')
[ "$esp_sectors" = $((33 * 2048)) ] || die "--esp-size 33M gave $esp_sectors sectors"
dd if="$T/small.img" of="$T/small-esp.img" bs=512 skip="$esp_start" count="$esp_sectors" status=none
fsck.fat -n "$T/small-esp.img" >"$T/fsck.out" 2>&1 || die "fsck.fat on the 33M ESP: $(cat "$T/fsck.out")"
grep -q 'less than the required minimum' "$T/fsck.out" && die "the 33M ESP is not a sound FAT32: $(cat "$T/fsck.out")"
mdir -i "$T/small-esp.img" ::/loader/entries | grepq abide-a || die "the 33M ESP lacks its entry"
rm -f "$T/small.img" "$T/small-esp.img"

note "refused inputs"
mkdir "$T/bad"
expect_fail "size .*too small|too small" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/bad/d.img" --size 64M
expect_fail "slot-size.*too small" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/bad/d.img" --slot-size 1M
expect_fail "esp-size.*too small" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/bad/d.img" --esp-size 8M
# FAT32 needs 65525 clusters at least: 32 MiB of 512-byte sectors holds only 64496 (mkfs.fat warns,
# mtools fails on it, firmware may take it for FAT16). The smallest ESP accepted must be a sound FAT32.
expect_fail "esp-size 32M is too small.*FAT32" "$B" disk "$SMALL" --cert "$T/keys/ca.pem" -o "$T/bad/d.img" --esp-size 32M
expect_fail "bad size" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/bad/d.img" --size 12Q
expect_fail "bad size" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/bad/d.img" --data-size -5M
expect_fail "cert" "$B" disk "$BUNDLE" -o "$T/bad/d.img"
expect_fail "not trusted|verif|signer" "$B" disk "$BUNDLE" --cert "$T/other/ca.pem" -o "$T/bad/d.img"
expect_fail "no such|No such" "$B" disk "$T/missing.abide" --cert "$T/keys/ca.pem" -o "$T/bad/d.img"
expect_fail "nonexistent|No such" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/nonexistent/d.img"
chmod 0555 "$T/bad"
# root ignores directory modes; a read-only location it cannot write is /proc.
expect_fail "d.img" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o /proc/d.img
chmod 0755 "$T/bad"

# A device node as DISK (-o /dev/sdX, -o /dev/null, or a symlink to one) is refused before anything
# is written: never replaced by a regular file, nothing left beside it. A directory too.
mkdir "$T/dev"
mknod "$T/dev/blk" b 7 4095
mknod "$T/dev/chr" c 1 3
ln -s blk "$T/dev/by-id"
mkdir "$T/dev/dir"
expect_fail "$T/dev/blk: .*block device" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/dev/blk"
expect_fail "$T/dev/chr: .*not a regular file" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/dev/chr"
expect_fail "$T/dev/by-id: .*block device" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/dev/by-id"
expect_fail "$T/dev/dir: .*directory" "$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/dev/dir"
[ -b "$T/dev/blk" ] && [ -c "$T/dev/chr" ] && [ -L "$T/dev/by-id" ] || die "a device node given as DISK was replaced"
[ "$(ls -A "$T/dev" | tr '\n' ' ')" = "blk by-id chr dir " ] || die "files left beside the device nodes: $(ls -A "$T/dev")"
[ -z "$(ls -A "$T/dev/dir")" ] || die "files left in the directory given as DISK: $(ls -A "$T/dev/dir")"
rm -r "$T/dev"

"$B" build "$ABIDE_SRCDIR/recipes/example.conf" --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" \
        -o "$T/nokernel" >/dev/null
expect_fail "no kernel payload" "$B" disk "$T"/nokernel/*.abide --cert "$T/keys/ca.pem" -o "$T/bad/d.img"

tamper="python3 $ABIDE_SRCDIR/tests/integration/tamper-bundle.py"
# Members: 0 manifest, 1 sig, 2 root, 3 verity, 4 verity-sig, 5 kernel, 6 initrd.
$tamper "$BUNDLE" "$T/flip.abide" flip 0
expect_fail "signature does not match" "$B" disk "$T/flip.abide" --cert "$T/keys/ca.pem" -o "$T/bad/d.img"
for i in 2 3 4 5 6; do
        $tamper "$BUNDLE" "$T/flip.abide" flip $i
        expect_fail "sha256 mismatch" "$B" disk "$T/flip.abide" --cert "$T/keys/ca.pem" -o "$T/bad/d.img"
done
for i in 2 5 6; do
        $tamper "$BUNDLE" "$T/trunc.abide" truncate $i
        expect_fail "[Tt]runcated" "$B" disk "$T/trunc.abide" --cert "$T/keys/ca.pem" -o "$T/bad/d.img"
done
$tamper "$BUNDLE" "$T/grow.abide" grow 2
expect_fail "larger than declared" "$B" disk "$T/grow.abide" --cert "$T/keys/ca.pem" -o "$T/bad/d.img"
[ -z "$(ls -A "$T/bad")" ] || die "a refused disk left files behind: $(ls -A "$T/bad")"

# An existing disk is replaced only by a complete new one.
cp "$D" "$T/keep.img"
expect_fail "sha256 mismatch" "$B" disk "$T/flip.abide" --cert "$T/keys/ca.pem" -o "$D"
same_file "$D" "$T/keep.img"
[ "$(ls -A "$T/d")" = disk.img ] || die "files left next to the disk: $(ls -A "$T/d")"

note "OK"
