#!/bin/bash
# The firmware fallback options (lib/boot/efi-bootopt.c) on a real disk: the
# ESP's location read from a loop device's partition table matches what
# sfdisk wrote (partition number, start, size, partition GUID), through a
# symlink too; a whole disk, an MBR partition and a partition the kernel sees
# differently from the table on disk are refused with one line; the options
# made from it, in an efivarfs-format directory, decode (libefiboot) to
# HD(<n>,GPT,<uuid>,<start>,<size>)/File(\EFI\Linux\abide-<slot>.efi), active,
# in BootOrder after BootCurrent; a second run writes nothing.
. "$(dirname "$0")/lib.sh"
need sfdisk losetup partx blockdev jq python3

H=${ABIDE_TEST_HELPERS:?}/helper-efi-bootopt
[ -x "$H" ] || die "helper not built: $H"

LOOPS=()
made_nodes=()
detach_loops() {
        for n in "${made_nodes[@]}"; do rm -f "$n"; done
        for l in "${LOOPS[@]}"; do losetup -d "$l"; done
}
cleanup_hooks+=(detach_loops)

# attach IMAGE NPARTS [SECTOR_SIZE]: sets ATTACHED to the loop device; its partition nodes exist (no udev here).
attach() {
        local img=$1 nparts=$2 loop base i mm
        loop=$(losetup -b "${3:-512}" -P --show -f "$img")
        LOOPS+=("$loop")
        base=${loop#/dev/}
        [ -e "/sys/block/$base/${base}p$nparts" ] || partx -a "$loop" 2>/dev/null || partx -u "$loop"
        for i in $(seq 1 "$nparts"); do
                [ -e "/sys/block/$base/${base}p$i/dev" ] || die "kernel shows no partition $i of $loop"
                if [ ! -b "${loop}p$i" ]; then
                        mm=$(cat "/sys/block/$base/${base}p$i/dev")
                        mknod "${loop}p$i" b "${mm%:*}" "${mm#*:}"
                        made_nodes+=("${loop}p$i")
                fi
        done
        ATTACHED=$loop
}

# The ESP is partition 2 and does not start at the first usable sector.
truncate -s 64M "$T/disk.img"
sfdisk -q "$T/disk.img" <<SF
label: gpt
size=3M, type=0fc63daf-8483-4772-8e79-3d69d8477de4, name=other
start=8192, size=40M, type=c12a7328-f81f-11d2-ba4b-00a0c93ec93b, name=esp
SF
attach "$T/disk.img" 2
LOOP=$ATTACHED
base=${LOOP#/dev/}
mm=$(cat "/sys/block/$base/${base}p2/dev")

note "esp_location_from_device against sfdisk --json"
json=$(sfdisk --json "$T/disk.img")
want_start=$(jq -r '.partitiontable.partitions[1].start' <<<"$json")
want_size=$(jq -r '.partitiontable.partitions[1].size' <<<"$json")
want_uuid=$(jq -r '.partitiontable.partitions[1].uuid | ascii_downcase' <<<"$json")
[ "$(jq -r '.partitiontable.sectorsize' <<<"$json")" = 512 ] || die "sfdisk: sector size is not 512"
[ "$want_start" = 8192 ] || die "sfdisk put the ESP at $want_start, not 8192"
want="partition=2 start=$want_start size=$want_size uuid=$want_uuid"
got=$("$H" esp "${LOOP}p2")
echo "   $got"
[ "$got" = "$want" ] || die "esp ${LOOP}p2: '$got', sfdisk says '$want'"
ln -s "${LOOP}p2" "$T/esp-link"
got=$("$H" esp "$T/esp-link")
[ "$got" = "$want" ] || die "esp through a symlink: '$got', want '$want'"

note "not an ESP partition: refused with one line"
expect_fail "ESP $LOOP is not a partition" "$H" esp "$LOOP"
expect_fail "ESP $T/disk.img is not a block device" "$H" esp "$T/disk.img"
expect_fail "ESP $T/nothing: No such file" "$H" esp "$T/nothing"
truncate -s 16M "$T/mbr.img"
sfdisk -q "$T/mbr.img" <<SF
label: dos
size=8M, type=ef
SF
attach "$T/mbr.img" 1
expect_fail "has no GPT partition GUID" "$H" esp "${ATTACHED}p1"

note "ensure into an efivarfs directory: decoded with libefiboot"
EV=$T/efivars
G=8be4df61-93ca-11d2-aa0d-00e098032b8c
mkdir -p "$EV"
# systemd-boot as Boot0000 would be; only BootOrder and BootCurrent matter here.
python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<IHH", 7, 0x0000, 0x0007))' "$EV/BootOrder-$G"
python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<IH", 6, 0x0007))' "$EV/BootCurrent-$G"
[ "$("$H" ensure "$EV" "${LOOP}p2")" = changed=1 ] || die "ensure: not changed on a store without our options"
"$H" show "$EV" >"$T/show"
sed 's/^/   /' "$T/show"
hd=$(printf 'HD(2,GPT,%s,0x%x,0x%x)' "$want_uuid" "$want_start" "$want_size")
cat >"$T/want" <<EOF
BootOrder=0000,0007,0001,0002
Boot0000 missing
Boot0007 missing
Boot0001 attrs=0x1 desc='abide slot a' path=$hd/File(\\EFI\\Linux\\abide-a.efi)
Boot0002 attrs=0x1 desc='abide slot b' path=$hd/File(\\EFI\\Linux\\abide-b.efi)
EOF
diff -u "$T/want" "$T/show" || die "the options decode differently"
# The HD() node carries the GUID as the GPT entry stores it (mixed endian): the
# second entry of the array at LBA 2, its unique GUID at byte 16. In Boot0001:
# attributes 4, option header 6, 'abide slot a' and NUL 26, HD() header and
# fields 24 bytes, then the signature.
cmp <(dd if="$T/disk.img" bs=1 skip=$((1024 + 128 + 16)) count=16 status=none) \
        <(dd if="$EV/Boot0001-$G" bs=1 skip=60 count=16 status=none) || die "HD()'s signature is not the GPT entry's GUID bytes"
for v in Boot0001 Boot0002 BootOrder; do
        [ "$(od -An -tx1 -N4 "$EV/$v-$G" | tr -d ' ')" = 07000000 ] || die "$v: attributes are not NV|BS|RT"
done

note "a second run writes nothing"
before=$(stat -c '%n %i %s %Y' "$EV"/*)
[ "$("$H" ensure "$EV" "${LOOP}p2")" = changed=0 ] || die "second ensure: changed"
[ "$(stat -c '%n %i %s %Y' "$EV"/*)" = "$before" ] || die "second ensure rewrote a variable"

note "the table on disk changed behind the kernel's back: refused until re-read"
sfdisk -q --no-reread --no-tell-kernel --delete "$T/disk.img" 2
sfdisk -q --no-reread --no-tell-kernel --append "$T/disk.img" <<SF
start=16384, size=40M, type=c12a7328-f81f-11d2-ba4b-00a0c93ec93b, name=esp
SF
# The loop device's own page cache still holds the old table.
blockdev --flushbufs "$LOOP"
expect_fail "the kernel's partition \(start 8192, 81920 sectors\) differs from the partition table of $LOOP \(start 16384" \
        "$H" esp "${LOOP}p2"
expect_fail "differs from the partition table" "$H" ensure "$EV" "${LOOP}p2"
[ "$(stat -c '%n %i %s %Y' "$EV"/*)" = "$before" ] || die "a refused ensure wrote a variable"

note "re-read: the ESP moved, the options follow it"
partx -u "$LOOP"
if [ ! -b "${LOOP}p2" ] || [ "$(cat "/sys/block/$base/${base}p2/dev")" != "$mm" ]; then
        rm -f "${LOOP}p2"
        mm=$(cat "/sys/block/$base/${base}p2/dev")
        mknod "${LOOP}p2" b "${mm%:*}" "${mm#*:}"
        made_nodes+=("${LOOP}p2")
fi
new_uuid=$(sfdisk --json "$T/disk.img" | jq -r '.partitiontable.partitions[1].uuid | ascii_downcase')
[ "$("$H" esp "${LOOP}p2")" = "partition=2 start=16384 size=$want_size uuid=$new_uuid" ] ||
        die "after the re-read: $("$H" esp "${LOOP}p2")"
[ "$("$H" ensure "$EV" "${LOOP}p2")" = changed=1 ] || die "ensure after the ESP moved: not changed"
"$H" show "$EV" >"$T/show"
grep -qxF "Boot0001 attrs=0x1 desc='abide slot a' path=$(printf 'HD(2,GPT,%s,0x4000,0x%x)' "$new_uuid" "$want_size")/File(\\EFI\\Linux\\abide-a.efi)" \
        "$T/show" || die "after the move: $(cat "$T/show")"
grep -qx 'BootOrder=0000,0007,0001,0002' "$T/show" || die "BootOrder changed: $(head -1 "$T/show")"
[ "$(ls "$EV" | wc -l)" = 4 ] || die "options added instead of updated: $(ls "$EV")"

note "a malformed BootOrder is refused and kept"
printf '\x07\x00\x00\x00\x00\x00\x07' >"$EV/BootOrder-$G"
before=$(stat -c '%n %i %s %Y' "$EV"/*)
expect_fail "EFI variable BootOrder is malformed \(3 bytes" "$H" ensure "$EV" "${LOOP}p2"
[ "$(stat -c '%n %i %s %Y' "$EV"/*)" = "$before" ] || die "a refused ensure wrote a variable"

note "a disk of 4096-byte sectors: HD() counts its logical blocks, as sfdisk and the firmware do"
# UEFI's HD() node holds the partition's starting LBA and size in the disk's logical blocks;
# sysfs and libblkid count 512-byte units whatever the sector size.
truncate -s 64M "$T/disk4k.img"
loop=$(losetup -b 4096 --show -f "$T/disk4k.img")
sfdisk -q "$loop" <<SF
label: gpt
size=3M, type=0fc63daf-8483-4772-8e79-3d69d8477de4, name=other
start=2048, size=40M, type=c12a7328-f81f-11d2-ba4b-00a0c93ec93b, name=esp
SF
losetup -d "$loop"
attach "$T/disk4k.img" 2 4096
json=$(sfdisk --json "$ATTACHED")
[ "$(jq -r '.partitiontable.sectorsize' <<<"$json")" = 4096 ] || die "sfdisk: sector size of $ATTACHED is not 4096"
s4=$(jq -r '.partitiontable.partitions[1].start' <<<"$json")
z4=$(jq -r '.partitiontable.partitions[1].size' <<<"$json")
u4=$(jq -r '.partitiontable.partitions[1].uuid | ascii_downcase' <<<"$json")
[ "$s4 $z4" = "2048 10240" ] || die "sfdisk put the 4K ESP at $s4 ($z4 sectors)"
got=$("$H" esp "${ATTACHED}p2")
[ "$got" = "partition=2 start=2048 size=10240 uuid=$u4" ] || die "esp on 4K sectors: '$got', sfdisk says start=$s4 size=$z4"
mkdir "$T/ev4k"
# The loader as Boot0000, listed and booted (ours are never listed alone).
python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<IH", 7, 0x0000))' "$T/ev4k/BootOrder-$G"
python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<IH", 6, 0x0000))' "$T/ev4k/BootCurrent-$G"
[ "$("$H" ensure "$T/ev4k" "${ATTACHED}p2")" = changed=1 ] || die "ensure on 4K sectors: not changed"
"$H" show "$T/ev4k" | grepq -xF "Boot0001 attrs=0x1 desc='abide slot a' path=HD(2,GPT,$u4,0x800,0x2800)/File(\\EFI\\Linux\\abide-a.efi)" ||
        die "HD() on 4K sectors: $("$H" show "$T/ev4k")"

echo "PASS"
