#!/bin/bash
# A factory disk's own UUIDs (docs/boot.md, "A device's own UUIDs"): abide-build
# writes an all-zero disk GUID; abide-init's first-boot step (here through its
# test mode, --first-boot) gives the disk and every partition new random UUIDs,
# in both GPT copies, keeping every other byte; a disk with its own GUID, and a
# disk it cannot write, are left as they were.
. "$(dirname "$0")/lib.sh"
need sfdisk python3 cmp losetup dd
B=$ABIDE_BUILD
INIT=$ABIDE_BUILDDIR/bootctl/init/abide-init
[ -x "$INIT" ] || die "abide-init not built at $INIT"
ZERO=00000000-0000-0000-0000-000000000000

note "a factory disk"
"$B" keygen -o "$T/keys" >/dev/null
cat >"$T/r.conf" <<EOF
[Image]
Name=identity-test
Version=1.0.0
Compatible=abide-test-x86_64
Filesystem=erofs

[Content]
Layer=tree:$ABIDE_SRCDIR/images/example/rootfs

[Boot]
Kernel=/boot/vmlinuz-*
Cmdline=console=ttyS0
EOF
"$B" build "$T/r.conf" --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" --ca "$T/keys/ca.pem" \
        --init "$INIT" -o "$T/out" >/dev/null
"$B" disk "$T/out/identity-test-1.0.0.abide" --cert "$T/keys/ca.pem" -o "$T/factory.img" >/dev/null
[ "$(sfdisk --json "$T/factory.img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["id"])')" = $ZERO ] ||
        die "abide-build disk did not write the factory mark (an all-zero disk GUID)"

# first_boot IMAGE: abide-init's test mode with --first-boot; its stderr in $T/err.txt. Under the
# shim of a kernel whose random pool is not ready (helper-entropy.c): the new UUIDs must not wait
# for it (docs/boot.md, "Never waiting for entropy"); every call that would is logged and fails here.
first_boot() {
        local rc=0
        rm -f "$T/entropy.log"
        preload "$ABIDE_TEST_HELPERS/helper-entropy.so" ABIDE_TEST_ENTROPY_LOG="$T/entropy.log" \
                "$INIT" --test-verify-slot a --disk "$1" --keys "$T/keys/ca.pem" --first-boot >"$T/out.txt" 2>"$T/err.txt" || rc=$?
        [ ! -e "$T/entropy.log" ] || die "abide-init waited for the random pool: $(tr '\n' ' ' <"$T/entropy.log")"
        return $rc
}

# compare OLD NEW: every partition kept but for its UUID, which is a new version 4 one; the disk
# GUID a new non-zero version 4 one; all UUIDs distinct.
compare() {
        python3 - "$1" "$2" <<'EOF'
import json, re, subprocess, sys
def table(p):
    return json.loads(subprocess.run(["sfdisk", "--json", p], check=True, capture_output=True).stdout)["partitiontable"]
old, new = table(sys.argv[1]), table(sys.argv[2])
v4 = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$")
assert v4.match(new["id"].lower()), "disk GUID %s is not a random UUID" % new["id"]
assert new["id"] != old["id"], "disk GUID unchanged"
assert len(old["partitions"]) == len(new["partitions"]) == 8, (len(old["partitions"]), len(new["partitions"]))
for a, b in zip(old["partitions"], new["partitions"]):
    assert v4.match(b["uuid"].lower()), "%s: %s is not a random UUID" % (b["name"], b["uuid"])
    assert a["uuid"] != b["uuid"], "%s: UUID unchanged" % a["name"]
    for k in ("start", "size", "type", "name", "attrs"):
        assert a.get(k) == b.get(k), "%s: %s %r became %r" % (a["name"], k, a.get(k), b.get(k))
ids = [new["id"]] + [p["uuid"] for p in new["partitions"]] + [p["uuid"] for p in old["partitions"]]
assert len(set(ids)) == len(ids), "a UUID repeats: %s" % ids
EOF
}

# same_outside_gpt A B: equal but for the primary GPT (LBA 0-33) and the backup's (the last 33 sectors).
same_outside_gpt() {
        local size
        size=$(stat -c %s "$1")
        [ "$size" = "$(stat -c %s "$2")" ] || die "$2 changed size"
        cmp -s -i $((34 * 512)) -n $((size - 34 * 512 - 33 * 512)) "$1" "$2" || die "$2 changed outside the partition table"
}

note "first boot: new UUIDs for the disk and every partition, nothing else changed, the slot still verifies"
cp --sparse=always "$T/factory.img" "$T/disk.img"
first_boot "$T/disk.img" || die "--first-boot failed: $(cat "$T/err.txt")"
grep -q "replaced by its own" "$T/err.txt" || die "no word of the new UUIDs: $(cat "$T/err.txt")"
grep -qx '[0-9a-f]\{64\}' "$T/out.txt" || die "the slot's root hash was not printed: $(cat "$T/out.txt")"
compare "$T/factory.img" "$T/disk.img" || die "the new partition table is wrong"
same_outside_gpt "$T/factory.img" "$T/disk.img"
sfdisk --verify "$T/disk.img" >"$T/verify.txt" 2>&1 || die "sfdisk --verify: $(cat "$T/verify.txt")"

note "both GPT copies carry the new UUIDs (the backup read alone agrees with the primary)"
sfdisk --dump "$T/disk.img" | grep -v '^device:' | sed 's/^[^ ]*img\([0-9]\)/\1/' >"$T/primary.txt"
cp --sparse=always "$T/disk.img" "$T/backup-only.img"
dd if=/dev/zero of="$T/backup-only.img" bs=512 seek=1 count=1 conv=notrunc status=none
sfdisk --dump "$T/backup-only.img" 2>"$T/b.err" | grep -v '^device:' | sed 's/^[^ ]*img\([0-9]\)/\1/' >"$T/backup.txt"
grep -q "backup appears OK" "$T/b.err" || die "sfdisk did not fall back to the backup table: $(cat "$T/b.err")"
cmp -s "$T/primary.txt" "$T/backup.txt" || die "the backup table differs: $(diff "$T/primary.txt" "$T/backup.txt")"

note "the next boot: a disk with its own GUID is left byte for byte"
cp --sparse=always "$T/disk.img" "$T/once.img"
first_boot "$T/disk.img" || die "second --first-boot failed: $(cat "$T/err.txt")"
grep -q "has its own UUIDs already" "$T/err.txt" || die "second run said: $(cat "$T/err.txt")"
cmp -s "$T/once.img" "$T/disk.img" || die "a personalized disk was written again"

note "two devices from the same factory image get different UUIDs"
cp --sparse=always "$T/factory.img" "$T/twin.img"
first_boot "$T/twin.img" || die "--first-boot on the twin failed: $(cat "$T/err.txt")"
compare "$T/disk.img" "$T/twin.img" || die "the two devices share a UUID"

note "the factory image written to a bigger disk: the backup table moves to the disk's end"
cp --sparse=always "$T/factory.img" "$T/big.img"
truncate -s +64M "$T/big.img"
sfdisk --verify "$T/big.img" >"$T/verify.txt" 2>&1 || true
grep -q "not on the end of the device" "$T/verify.txt" || die "control: the backup table is at the end already: $(cat "$T/verify.txt")"
first_boot "$T/big.img" || die "--first-boot on the bigger disk failed: $(cat "$T/err.txt")"
sfdisk --verify "$T/big.img" >"$T/verify.txt" 2>&1 && ! grep -qi "mismatch\|not on the end" "$T/verify.txt" ||
        die "the bigger disk's table: $(cat "$T/verify.txt")"
[ "$(sfdisk --json "$T/big.img" | python3 -c 'import json,sys; print(json.load(sys.stdin)["partitiontable"]["lastlba"])')" = \
        $(($(stat -c %s "$T/big.img") / 512 - 34)) ] || die "the usable area did not grow to the disk's end"
compare "$T/factory.img" "$T/big.img" || die "the bigger disk's new partition table is wrong"

# table IMAGE: the partition table as sfdisk reads it, without the device name; fails on any warning.
table() {
        sfdisk --dump "$1" 2>"$T/dump.err" | grep -v '^device:' | sed 's/^[^ ]*img\([0-9]\)/\1/'
        [ ! -s "$T/dump.err" ] || die "sfdisk on $1: $(cat "$T/dump.err")"
}
# repaired IMAGE WANT_TABLE WHAT: the step wrote the table again (saying WHAT), both copies whole and as WANT_TABLE.
repaired() {
        first_boot "$1" || die "--first-boot on $1 failed: $(cat "$T/err.txt")"
        grep -q "partition table written again: $3" "$T/err.txt" || die "$1: $(cat "$T/err.txt")"
        sfdisk --verify "$1" >"$T/verify.txt" 2>&1 || die "$1 after the repair: $(cat "$T/verify.txt")"
        cmp -s <(table "$1") "$2" || die "$1 after the repair: $(diff <(table "$1") "$2")"
        first_boot "$1" && grep -q "has its own UUIDs already" "$T/err.txt" || die "$1 written twice: $(cat "$T/err.txt")"
}
table "$T/disk.img" >"$T/own.txt"
S=$(($(stat -c %s "$T/disk.img") / 512))

note "a damaged primary table (a flipped byte in its entries): written again from the backup"
cp --sparse=always "$T/disk.img" "$T/bad-primary.img"
printf '\377' | dd of="$T/bad-primary.img" bs=1 seek=$((2 * 512 + 20)) conv=notrunc status=none
repaired "$T/bad-primary.img" "$T/own.txt" "The primary GPT table is corrupt"

note "a damaged backup table (its header): written again from the primary"
cp --sparse=always "$T/disk.img" "$T/bad-backup.img"
printf '\377' | dd of="$T/bad-backup.img" bs=1 seek=$(((S - 1) * 512 + 20)) conv=notrunc status=none
repaired "$T/bad-backup.img" "$T/own.txt" "The backup GPT table is corrupt"

# A power cut inside the first boot's write (backup table and header, then the primary's entries, then its header):
note "power cut after the backup was written: the primary still has the factory mark, the next boot does it again"
cp --sparse=always "$T/factory.img" "$T/cut1.img"
dd if="$T/disk.img" of="$T/cut1.img" bs=512 skip=$((S - 33)) seek=$((S - 33)) count=33 conv=notrunc status=none
first_boot "$T/cut1.img" && grep -q "replaced by its own" "$T/err.txt" || die "cut after the backup: $(cat "$T/err.txt")"
compare "$T/factory.img" "$T/cut1.img" || die "cut after the backup: the new table is wrong"
sfdisk --verify "$T/cut1.img" >"$T/verify.txt" 2>&1 || die "cut after the backup: $(cat "$T/verify.txt")"

note "power cut inside the primary's entries: the primary fails its CRC, written again from the new backup"
cp --sparse=always "$T/factory.img" "$T/cut2.img"
dd if="$T/disk.img" of="$T/cut2.img" bs=512 skip=$((S - 33)) seek=$((S - 33)) count=33 conv=notrunc status=none
dd if="$T/disk.img" of="$T/cut2.img" bs=512 skip=2 seek=2 count=16 conv=notrunc status=none
repaired "$T/cut2.img" "$T/own.txt" "The primary GPT table is corrupt"

note "a disk abide-init cannot write: one line, exit 1, nothing changed"
cp --sparse=always "$T/factory.img" "$T/ro.img"
LOOP=$(losetup -r --show -f "$T/ro.img")
cleanup_hooks+=("losetup -d $LOOP")
if first_boot "$LOOP"; then die "--first-boot on a read-only device succeeded"; fi
[ "$(wc -l <"$T/err.txt")" = 1 ] || die "expected one line, got: $(cat "$T/err.txt")"
grep -Eq "cannot open its partition table for writing|writing the partition table failed" "$T/err.txt" || die "unexpected message: $(cat "$T/err.txt")"
cmp -s "$T/factory.img" "$T/ro.img" || die "the read-only disk changed"
# A disk with nothing to write is only read: a read-only device with its own UUIDs is no error.
LOOP2=$(losetup -r --show -f "$T/disk.img")
cleanup_hooks+=("losetup -d $LOOP2")
first_boot "$LOOP2" && grep -q "has its own UUIDs already" "$T/err.txt" || die "read-only disk of its own: $(cat "$T/err.txt")"

note "a disk without the verified slot is not touched (the step runs only after the signature)"
cp --sparse=always "$T/factory.img" "$T/badsig.img"
"$B" keygen -o "$T/other" >/dev/null
if "$INIT" --test-verify-slot a --disk "$T/badsig.img" --keys "$T/other/ca.pem" --first-boot >/dev/null 2>"$T/err.txt"; then
        die "a slot signed by another CA verified"
fi
cmp -s "$T/factory.img" "$T/badsig.img" || die "a disk whose slot did not verify was given new UUIDs"
echo "ok"
