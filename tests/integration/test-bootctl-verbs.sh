#!/bin/bash
# abidectl mark-good, mark-bad, switch [--once], rollback, status on a
# device made of files; slot discovery by PARTLABEL on a GPT disk image
# and a loop device; one-line errors for bad input.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
need jq iconv sfdisk losetup
make_device
# No EFIVARFS_PATH: abide.conf's EfiVars= directory is read and written directly.
unset EFIVARFS_PATH
use_image_info

"$HELPER" install b 1.1 3
loader_boot a

note "status: booted a, b pending"
status_json | jq -e '.booted == "a" and .backend == "systemd-boot" and .slots.a.state == "good"
        and .slots.b.state == "pending" and .slots.b.tries_left == 3 and .slots.b.tries_done == 0
        and .slots.b.entry == "abide-b+3.conf" and .slots.b.version == "1.1" and .slots.b.installed > 0
        and .next.default == null and .next.once == null and .last_rollback == null' >/dev/null ||
        die "status: $(status_json)"
"$ABIDECTL" status | grepq "State:     pending (3 tries left, 0 done)" || die "human status"

note "nothing to fall back to: rollback only to a good slot, mark-bad only beside a bootable one"
mv "$ENTRIES/abide-b+3.conf" "$T/entry-b"
expect_fail "^abidectl: rollback: cannot roll back: slot b is empty, not good$" "$ABIDECTL" rollback
expect_fail "^abidectl: mark-bad: refusing to mark slot a bad: slot b has no bootable entry \(missing\)$" "$ABIDECTL" mark-bad
[ "$(entry_of a)" = "abide-a.conf" ] && [ -z "$(get_var LoaderEntryDefault)" ] || die "a refusal changed a: $(entry_of a), $(get_var LoaderEntryDefault)"
mv "$T/entry-b" "$ENTRIES/abide-b+3.conf"
expect_fail "^abidectl: rollback: cannot roll back: slot b is pending, not good$" "$ABIDECTL" rollback

note "switch: a slot on trial only --once"
expect_fail "switch: slot b is on trial \(3 tries left\); use --once" "$ABIDECTL" switch b
"$ABIDECTL" switch b --once
[ "$(get_var LoaderEntryOneShot)" = "abide-b*" ] || die "LoaderEntryOneShot is '$(get_var LoaderEntryOneShot)'"
[ "$(head -c 4 "$T/efivars/LoaderEntryOneShot-$GUID" | od -An -tx1 | tr -d ' ')" = 07000000 ] || die "attributes not NV|BS|RT"
[ "$(status_json | jq -r .next.once)" = b ] || die "status next.once"
# The same through libefivar (the system store's path).
rm "$T/efivars/LoaderEntryOneShot-$GUID"
EFIVARFS_PATH=$T/efivars/ "$ABIDECTL" switch b --once
[ "$(get_var LoaderEntryOneShot)" = "abide-b*" ] || die "libefivar: LoaderEntryOneShot is '$(get_var LoaderEntryOneShot)'"
[ "$(EFIVARFS_PATH=$T/efivars/ "$ABIDECTL" status --json | jq -r '.next.once, .booted' | tr '\n' ' ')" = "b a " ] ||
        die "libefivar: status"

note "b passes its trial; switch and rollback pin a good slot"
loader_boot b
[ -z "$(get_var LoaderEntryOneShot)" ] || die "loader stand-in keeps the one-shot"
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null
"$ABIDECTL" switch a
[ "$(get_var LoaderEntryDefault)" = "abide-a*" ] || die "LoaderEntryDefault is '$(get_var LoaderEntryDefault)'"
"$ABIDECTL" switch b
[ "$(status_json | jq -r .next.default)" = b ] || die "status next.default"
"$ABIDECTL" rollback | grepq "Slot a boots next from now on" || die "rollback output"
[ "$(get_var LoaderEntryDefault)" = "abide-a*" ] || die "rollback did not pin a"

note "mark-bad of the other good slot: no rollback event, its pins are dropped"
"$ABIDECTL" switch a --once
[ "$(get_var LoaderEntryOneShot)" = "abide-a*" ] || die "LoaderEntryOneShot is '$(get_var LoaderEntryOneShot)'"
"$ABIDECTL" mark-bad a
[ "$(entry_of a)" = "abide-a+0.conf" ] || die "mark-bad: entry is $(entry_of a)"
[ -z "$(get_var LoaderEntryDefault)" ] || die "LoaderEntryDefault still pins the bad slot"
[ -z "$(get_var LoaderEntryOneShot)" ] || die "LoaderEntryOneShot still pins the bad slot"
out=$("$ABIDECTL" boot-check --no-reboot)
echo "$out" | grepq "Rolled back" && die "a hand-marked good slot counted as a rollback: $out"
[ "$(status_json | jq -r .slots.a.state)" = bad ] || die "status a not bad"

note "refusals that keep something bootable"
expect_fail "mark-bad: refusing to mark slot b bad: slot a has no bootable entry \(bad\)" "$ABIDECTL" mark-bad
expect_fail "rollback: cannot roll back: slot a is bad, not good" "$ABIDECTL" rollback
expect_fail "switch: slot a is marked bad" "$ABIDECTL" switch a --once
[ "$(entry_of b)" = "abide-b.conf" ] || die "refusals changed b"

note "booting a bad entry by hand; mark-good recovers it"
loader_boot a
"$ABIDECTL" boot-check --no-reboot | grepq "booted although marked bad" || die "bad entry booted by hand"
[ "$(entry_of a)" = "abide-a+0.conf" ] || die "boot-check touched a bad entry"
# Under the I/O-logging shim: the renamed entry is synced under its new name (on FAT the directory's
# sync alone leaves it empty on disk: lib/basic/fileio.h, rename_durable()).
preload "$ABIDE_TEST_HELPERS/helper-corrupt-write.so" ABIDE_TEST_IO_LOG="$T/io.log" "$ABIDECTL" mark-good
[ "$(entry_of a)" = "abide-a.conf" ] || die "mark-good: entry is $(entry_of a)"
python3 - "$T/io.log" <<'PY' || die "mark-good: the renamed entry was not synced under its new name: $(cat "$T/io.log")"
import os, sys
ev = [l.split() for l in open(sys.argv[1]).read().splitlines()]
i = next(i for i, e in enumerate(ev) if e[0] == "rename" and e[2].endswith("/abide-a.conf"))
assert ["syncfile", os.path.realpath(ev[i][2])] in ev[i + 1:], ev
PY
[ "$(state_json | jq -r .slots.a.state)" = good ] || die "mark-good: state"

note "mark-bad of a slot on trial from the good slot is a rollback, reported once"
"$HELPER" install b 2.0 3
"$ABIDECTL" mark-bad b
[ "$(entry_of b)" = "abide-b+0.conf" ] || die "mark-bad b: entry is $(entry_of b)"
"$ABIDECTL" boot-check --no-reboot | grepq "^Rolled back from slot b (version 2.0) to slot a: check 'mark-bad' failed" ||
        die "mark-bad of a trial not reported"
out=$("$ABIDECTL" boot-check --no-reboot)
echo "$out" | grepq "Rolled back" && die "reported twice: $out"

note "install leaves no entry behind a removed one; write replaces"
"$HELPER" install b 2.1 5
[ "$(ls "$ENTRIES" | grep -c '^abide-b')" -eq 1 ] || die "more than one entry for b: $(ls "$ENTRIES")"
[ "$(entry_of b)" = "abide-b+5.conf" ] || die "install: $(entry_of b)"
ls -a "$ENTRIES" | grepq '^\.#' && die "temporary files left in $ENTRIES"

note "anti-rollback floor: a bless raises it, to the blessed image's security version"
# a is good and booted (1.0, security version 0), b on trial (2.1).
"$ABIDECTL" mark-good >/dev/null
[ -z "$(get_floor)" ] || die "a floor of 0 was written: $(get_floor)"
[ "$(state_json | jq -c '[.security_floor, .slots.a.security_version]')" = '[null,0]' ] || die "state: $(state_json)"
running 1.0 1
out=$("$ABIDECTL" mark-good)
echo "$out" | grepq "^Security floor raised to 1$" || die "mark-good did not raise the floor: $out"
[ "$(get_floor)" = 1 ] || die "EFI floor after mark-good: $(get_floor)"
state_json | jq -e '.security_floor.security_version == 1 and .security_floor.version == "1.0" and .slots.a.security_version == 1' \
        >/dev/null || die "state floor after mark-good: $(state_json)"
status_json | jq -e '.security_floor == {"security_version": 1, "source": "state", "efi": 1, "state": 1, "version": "1.0"}
        and .slots.a.security_version == 1 and .slots.b.security_version == null' >/dev/null || die "status: $(status_json)"

note "a slot on trial below a floor a bless raises: marked bad before the loader tries it"
# As if b's image had said its security version (0): a's bless at 2 strands it.
cp "$T/var/lib/abide/state.json" "$T/state.keep"; cp "$FVAR" "$T/floor.keep"
[ "$(entry_of b)" = "abide-b+5.conf" ] || die "b is not on trial: $(entry_of b)"
jq '.slots.b.security_version = 0' "$T/var/lib/abide/state.json" >"$T/s" && mv "$T/s" "$T/var/lib/abide/state.json"
running 1.0 2
out=$("$ABIDECTL" mark-good)
echo "$out" | grepq "^Slot b (security version 0) is below the floor 2 now: marked bad$" || die "b on trial not stranded: $out"
[ "$(entry_of b)" = "abide-b+0.conf" ] || die "b on trial below the floor: entry $(entry_of b)"
# Back as it was: b on trial, the floor 1.
mv "$ENTRIES/abide-b+0.conf" "$ENTRIES/abide-b+5.conf"
cp "$T/state.keep" "$T/var/lib/abide/state.json"; cp "$T/floor.keep" "$FVAR"
running 1.0 1

note "b (security version 3) passes its trial: the floor follows, a below it is marked bad"
loader_boot b
running 2.1 3
out=$("$ABIDECTL" boot-check --timeout 5 --no-reboot)
echo "$out"
echo "$out" | grepq "^Security floor raised to 3$" || die "no raise: $out"
echo "$out" | grepq "^Slot a (security version 1) is below the floor 3 now: marked bad$" || die "a not stranded: $out"
[ "$(entry_of a)" = "abide-a+0.conf" ] || die "a's entry: $(entry_of a)"
echo "$out" | grepq "Rolled back" && die "a slot marked bad for the floor reported as a rollback: $out"
status_json | jq -e '.slots.a.state == "bad" and .slots.a.last_failure.check == "security-floor"
        and .slots.a.last_failure.output == "security version 1, below the floor 3"' >/dev/null ||
        die "status of the stranded slot: $(status_json | jq -c .slots.a)"
[ "$(entry_of b)" = "abide-b.conf" ] || die "b's entry: $(entry_of b)"
[ "$(get_floor)" = 3 ] || die "EFI floor: $(get_floor)"
"$ABIDECTL" status | grepq "^Security floor: 3 (raised when 2.1 was blessed)$" || die "human status: $("$ABIDECTL" status)"
# Once more on the good slot: nothing changes, nothing is written.
cp "$FVAR" "$T/floor.before"; cp "$T/var/lib/abide/state.json" "$T/state.before"
"$ABIDECTL" boot-check --no-reboot >/dev/null
same_file "$T/floor.before" "$FVAR"
same_file "$T/state.before" "$T/var/lib/abide/state.json"

note "switch and rollback never send the device into a slot below the floor"
expect_fail "^abidectl: rollback: cannot roll back: slot a \(1.0\) has security version 1, below this device's floor 3 \(raised when 2.1 was blessed\)$" \
        "$ABIDECTL" rollback
expect_fail "^abidectl: switch: refusing to switch to slot a: slot a \(1.0\) has security version 1, below this device's floor 3" \
        "$ABIDECTL" switch a --once
[ -z "$(get_var LoaderEntryOneShot)$(get_var LoaderEntryDefault)" ] || die "a refused switch set a loader variable"
# A slot at the floor may be pinned.
"$ABIDECTL" switch b | grepq "Slot b boots next from now on" || die "switch to the slot at the floor"
"$ABIDECTL" mark-good >/dev/null
# A slot whose security version was never recorded is refused while there is a floor.
jq '.slots.a.security_version = null' "$T/var/lib/abide/state.json" >"$T/s" && mv "$T/s" "$T/var/lib/abide/state.json"
expect_fail "switch: refusing to switch to slot a: slot a \(1.0\) has no known security version, and this device's floor is 3" \
        "$ABIDECTL" switch a --once

note "the floor never drops: a lower image booted by hand is not blessed, whichever copy is lowered"
loader_boot a
running 1.0 1
expect_fail "^abidectl: mark-good: refusing to mark slot a good: slot a \(1.0\) has security version 1, below this device's floor 3 \(raised when 2.1 was blessed\)$" \
        "$ABIDECTL" mark-good
[ "$(entry_of a)" = "abide-a+0.conf" ] || die "refused mark-good changed a: $(entry_of a)"
# The state file edited down: the EFI variable still holds.
jq '.security_floor.security_version = 0' "$T/var/lib/abide/state.json" >"$T/s" && mv "$T/s" "$T/var/lib/abide/state.json"
expect_fail "mark-good: .*security version 1, below this device's floor 3 \(kept in the EFI variable AbideSecurityFloor\)$" \
        "$ABIDECTL" mark-good
[ "$(status_json | jq -r .security_floor.source)" = efi ] || die "status source: $(status_json | jq -c .security_floor)"
# The EFI variable deleted (NVRAM cleared): the state file still holds.
jq '.security_floor.security_version = 3' "$T/var/lib/abide/state.json" >"$T/s" && mv "$T/s" "$T/var/lib/abide/state.json"
rm "$FVAR"
expect_fail "mark-good: .*security version 1, below this device's floor 3 \(raised when 2.1 was blessed\)$" "$ABIDECTL" mark-good
# A lower EFI variable does not lower it either.
set_floor 1
expect_fail "mark-good: .*below this device's floor 3" "$ABIDECTL" mark-good
[ "$(get_floor)" = 1 ] || die "a refused mark-good wrote the floor"
# Back on b: its bless brings the lowered copy back up.
loader_boot b
running 2.1 3
"$ABIDECTL" boot-check --no-reboot >/dev/null
[ "$(get_floor)" = 3 ] || die "EFI floor not restored: $(get_floor)"
# Both copies lowered (NVRAM cleared and the disk edited, which needs the firmware): then, and only then, it goes.
rm "$FVAR"
jq '.security_floor = null' "$T/var/lib/abide/state.json" >"$T/s" && mv "$T/s" "$T/var/lib/abide/state.json"
loader_boot a
running 1.0 1
"$ABIDECTL" mark-good >/dev/null
[ "$(get_floor)" = 1 ] || die "floor after both copies were cleared: $(get_floor)"
# Leave the device as the rest expects it: a good and booted, no floor.
rm "$FVAR"
jq '.security_floor = null' "$T/var/lib/abide/state.json" >"$T/s" && mv "$T/s" "$T/var/lib/abide/state.json"
running 1.0 0

note "bad input: one-line errors"
expect_fail "switch: unknown slot 'c' \(expected a or b\)" "$ABIDECTL" switch c
expect_fail "switch: unknown slot 'A'" "$ABIDECTL" switch A
expect_fail "switch: missing SLOT" "$ABIDECTL" switch
expect_fail "switch: unexpected argument 'b'" "$ABIDECTL" switch a b
expect_fail "mark-bad: unknown slot 'x'" "$ABIDECTL" mark-bad x
expect_fail "mark-good: unexpected argument" "$ABIDECTL" mark-good a
expect_fail "status: unknown option '--bogus'" "$ABIDECTL" status --bogus
# A missing value is not an unknown option, and the option refused is named as written.
expect_fail "^abidectl: install: option '--tries' needs a value \(see --help\)$" "$ABIDECTL" install x --tries
expect_fail "^abidectl: install: option '-t' needs a value \(see --help\)$" "$ABIDECTL" install x -t
expect_fail "^abidectl: boot-check: option '--timeout' needs a value \(see --help\)$" "$ABIDECTL" boot-check --timeout
expect_fail "^abidectl: boot-check: option '-t' needs a value \(see --help\)$" "$ABIDECTL" boot-check -nt
expect_fail "^abidectl: update: option '--reboot' needs a value \(see --help\)$" "$ABIDECTL" update --reboot
expect_fail "^abidectl: option '--config' needs a value \(see --help\)$" "$ABIDECTL" --config
expect_fail "^abidectl: status: unknown option '-x' \(see --help\)$" "$ABIDECTL" status -xj
expect_fail "^abidectl: status: option '--json' takes no value \(see --help\)$" "$ABIDECTL" status --json=yes
expect_fail "^abidectl: update: option '--timer' takes no value \(see --help\)$" "$ABIDECTL" update --timer=1
expect_fail "^abidectl: switch: option '--once' takes no value \(see --help\)$" "$ABIDECTL" switch a --once=1
expect_fail "boot-check: invalid --timeout '0'" "$ABIDECTL" boot-check --timeout 0
expect_fail "boot-check: invalid --timeout 'abc'" "$ABIDECTL" boot-check --timeout abc
expect_fail "unknown verb 'frobnicate'" "$ABIDECTL" frobnicate
for name in "abide-a+x.conf" "abide-a+.conf" "abide-a+3-.conf" "abide-A+3.conf" "abide-c.conf" \
            "abide-a+99999999999.conf" "abide-a.b.conf" "abide-+-1.conf"; do
        touch "$ENTRIES/$name"
        expect_fail "status: malformed boot entry name .*/loader/entries/${name//+/\\+}$" "$ABIDECTL" status
        rm "$ENTRIES/$name"
done
cp "$ENTRIES/abide-a.conf" "$ENTRIES/abide-a+3.conf"
expect_fail "status: two boot entries for slot a" "$ABIDECTL" status
expect_fail "mark-good: two boot entries for slot a" "$ABIDECTL" mark-good
rm "$ENTRIES/abide-a+3.conf"
# Names the loader does not read are none of ours.
touch "$ENTRIES/abide-a+x" "$ENTRIES/other-os.conf"
"$ABIDECTL" status >/dev/null
echo '{"format":1,"slots":{"a":{"state":"sideways"}}}' >"$T/var/lib/abide/state.json"
expect_fail "mark-good: state file .*: corrupt: slot a: unknown slot state \"sideways\"" "$ABIDECTL" mark-good
rm "$T/var/lib/abide/state.json"
cp "$T/abide.conf" "$T/good.conf"
sed -i "s|^ESP=.*|ESP=$T/no-esp|" "$T/abide.conf"
expect_fail "status: ESP $T/no-esp: not a directory" "$ABIDECTL" status
printf '[Paths]\nESP=relative/esp\n' >"$T/abide.conf"
expect_fail "abide.conf:2: ESP= must be an absolute path" "$ABIDECTL" status
printf '[Paths]\nESPP=/x\n' >"$T/abide.conf"
expect_fail "abide.conf:2: unknown key \[Paths\] ESPP=" "$ABIDECTL" status
printf '[Boot]\nTries=0\n' >"$T/abide.conf"
expect_fail "Tries= must be a number in 1..99: 0" "$ABIDECTL" status
printf '[Boot]\nBackend=grub\n' >"$T/abide.conf"
expect_fail "unknown boot backend 'grub'" "$ABIDECTL" --config "$T/abide.conf" status
expect_fail "cannot open config $T/missing.conf" "$ABIDECTL" --config "$T/missing.conf" status
cp "$T/good.conf" "$T/abide.conf"

note "slots by PARTLABEL on a GPT disk image (no udev, no partition nodes)"
truncate -s 64M "$T/disk.img"
sfdisk -q "$T/disk.img" <<SF
label: gpt
size=4M, type=C12A7328-F81F-11D2-BA4B-00A0C93EC93B, name=esp
size=8M, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=abide-root-a
size=1M, type=2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5, name=abide-verity-a
size=1M, type=41092B05-9FC8-4523-994F-2DEF0408B176, name=abide-verity-sig-a
size=8M, type=4F68BCE3-E8CD-4DB1-96E7-FBCAF984B709, name=abide-root-b
size=1M, type=2C7357ED-EBD2-46D9-AEC1-23D437EC2BF5, name=abide-verity-b
size=1M, type=41092B05-9FC8-4523-994F-2DEF0408B176, name=abide-verity-sig-b
type=4D21B016-B534-45C2-A9FD-5C16E091FD2D, name=abide-data
SF
printf '[Paths]\nDisk=%s\n' "$T/disk.img" >"$T/disk.conf"
want=$(sfdisk -J "$T/disk.img" | jq -r '.partitiontable.partitions[] | select(.name | startswith("abide-")) |
        "\(.name) '"$T"'/disk.img \(.start * 512) \(.size * 512)"' | sort)
got=$( { ABIDE_CONF=$T/disk.conf "$HELPER" partitions a; ABIDE_CONF=$T/disk.conf "$HELPER" partitions b;
         ABIDE_CONF=$T/disk.conf "$HELPER" data; } | sort)
[ "$got" = "$want" ] || die "discovery: got
$got
want
$want"
# An override wins over the table.
printf '[Paths]\nDisk=%s\n[Slots]\nRootB=/dev/null\n' "$T/disk.img" >"$T/disk2.conf"
ABIDE_CONF=$T/disk2.conf "$HELPER" partitions b | grepq -x "abide-root-b /dev/null 0 0" || die "override ignored"
# Missing and duplicated labels.
sfdisk -q --part-label "$T/disk.img" 5 something-else
expect_fail "no partition with PARTLABEL abide-root-b on $T/disk.img" env ABIDE_CONF=$T/disk.conf "$HELPER" partitions b
sfdisk -q --part-label "$T/disk.img" 5 abide-root-a
expect_fail "2 partitions with PARTLABEL abide-root-a" env ABIDE_CONF=$T/disk.conf "$HELPER" partitions a
sfdisk -q --part-label "$T/disk.img" 5 abide-root-b
printf 'not a disk' >"$T/garbage.img"
printf '[Paths]\nDisk=%s\n' "$T/garbage.img" >"$T/garbage.conf"
expect_fail "garbage.img: no partition table" env ABIDE_CONF=$T/garbage.conf "$HELPER" partitions a

note "slots by PARTLABEL on a loop device: partition nodes when the kernel made them, else ranges"
loop=$(losetup --show -f -P "$T/disk.img") || die "losetup failed"
cleanup_hooks+=("losetup -d $loop")
printf '[Paths]\nDisk=%s\n' "$loop" >"$T/loop.conf"
# Containers often get no partition nodes for loop devices; then a partition is a range of the disk.
for i in $(seq 20); do [ -b "${loop}p8" ] && break; sleep 0.1; done
if [ -b "${loop}p7" ]; then
        want_sig="abide-verity-sig-b ${loop}p7 0 0"
        want_data="abide-data ${loop}p8 0 0"
else
        want_sig=$(sfdisk -J "$T/disk.img" | jq -r '.partitiontable.partitions[6] | "\(.name) '"$loop"' \(.start * 512) \(.size * 512)"')
        want_data=$(sfdisk -J "$T/disk.img" | jq -r '.partitiontable.partitions[7] | "\(.name) '"$loop"' \(.start * 512) \(.size * 512)"')
fi
ABIDE_CONF=$T/loop.conf "$HELPER" partitions b | grepq -xF "$want_sig" ||
        die "loop: $(ABIDE_CONF=$T/loop.conf "$HELPER" partitions b), want $want_sig"
ABIDE_CONF=$T/loop.conf "$HELPER" data | grepq -xF "$want_data" || die "loop: data, want $want_data"

echo "PASS"
