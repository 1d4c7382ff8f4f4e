#!/bin/bash
# The ESP is read-only except while abidectl writes it (lib/boot/esp-mount.c),
# on a real file system mounted read-only, as abide-init mounts the ESP:
# install, mark-good and mark-bad make it writable and read-only again, also
# when the install fails or is killed; writers wait for each other; an ESP
# that cannot be made writable, or that turns read-only under abidectl (what
# the kernel does on a FAT error), fails with one line naming the ESP, and
# the next install works. ext4 stands in for FAT32 here: the remount logic
# does not depend on the file system, and hosts (this CI's) may have no vfat
# module; the FAT specifics (fsck.fat in abide-init, a dirty FAT after a power
# cut) are tested in QEMU (tests/qemu/test-powercut.py).
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/install-lib.sh"
need mkfs.ext4 flock losetup mount

"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
declare -A BUNDLE
for v in 1.0 2.0 3.0; do
        head -c 300000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
        head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/payload/blob"
        BUNDLE[$v]=$(build_bundle "$T/b-$v" --set Image.Version=$v --set Image.SecurityVersion=1)
done
make_disk 12 1

# The ESP: its own loop device (its size does not depend on make_disk's).
truncate -s 96M "$T/esp.img"
mkfs.ext4 -q -L ESP "$T/esp.img"
ESPDEV=$(losetup --show -f "$T/esp.img")
ROLOOP=
cleanup_hooks=("umount '$T/esp' 2>/dev/null; umount '$T/esp' 2>/dev/null; losetup -d $ESPDEV; [ -z \"\$ROLOOP\" ] || losetup -d \$ROLOOP" "${cleanup_hooks[@]}")
mkdir -p "$T/esp"
mount -o rw "$ESPDEV" "$T/esp"
make_config
fill_slot_a "${BUNDLE[1.0]}"
write_image_info 1.0 1
mount -o remount,ro "$T/esp"

esp_mode() { awk -v d="$T/esp" '$2 == d { split($4, o, ","); m = o[1] } END { print m }' /proc/mounts; }
marker() { ls /run/abide/esp-writable-* 2>/dev/null || true; }
# After every verb: read-only, no temporaries, no marker.
expect_ro() {
        [ "$(esp_mode)" = ro ] || die "$1: the ESP is '$(esp_mode)' afterwards, not ro"
        [ -z "$(find "$T/esp" -name '.#*')" ] || die "$1: temporaries left: $(find "$T/esp" -name '.#*')"
        [ -z "$(marker)" ] || die "$1: marker left: $(marker)"
}
install() { "$ABIDECTL" install "$@"; }
# The loader counts a try with the firmware's own FAT driver, not through the mount.
loader_boot_ro() { mount -o remount,rw "$T/esp"; loader_boot "$1"; mount -o remount,ro "$T/esp"; }
[ "$(esp_mode)" = ro ] || die "setup: ESP not read-only"

note "install into b on a read-only ESP"
install "${BUNDLE[2.0]}" >/dev/null
expect_ro "install"
[ "$(entry_of b)" = abide-b+3.conf ] || die "install: b's entry is '$(entry_of b)'"
cmp -s "$T/esp/abide/b/vmlinuz" <(tar -xOf "${BUNDLE[2.0]}" vmlinuz) || die "install: b's kernel differs"

note "mark-good and mark-bad"
loader_boot_ro b
"$ABIDECTL" mark-good >/dev/null
expect_ro "mark-good"
[ "$(entry_of b)" = abide-b.conf ] || die "mark-good: b's entry is '$(entry_of b)'"
"$ABIDECTL" mark-bad a >/dev/null
expect_ro "mark-bad"
[[ $(entry_of a) =~ ^abide-a\+0(-[0-9]+)?\.conf$ ]] || die "mark-bad: a's entry is '$(entry_of a)'"

note "temporaries of an interrupted write are cleaned by the next install"
mount -o remount,rw "$T/esp"
echo junk >"$T/esp/loader/entries/.#abide-a+3.conf.Ab12Cd"
echo junk >"$T/esp/abide/a/.#initrd.Xy34Zw"
mount -o remount,ro "$T/esp"
install "${BUNDLE[3.0]}" >/dev/null
expect_ro "install over temporaries"
[ "$(entry_of a)" = abide-a+3.conf ] || die "install into a: a's entry is '$(entry_of a)'"

note "a failing install (truncated bundle) leaves it read-only"
size=$(stat -c %s "${BUNDLE[2.0]}")
rc=0
head -c $((size - 300000)) "${BUNDLE[2.0]}" | install - --force >/dev/null 2>"$T/err" || rc=$?
[ $rc -ne 0 ] || die "a truncated bundle installed"
expect_ro "failed install"
[ -z "$(entry_of a)" ] || die "failed install: a still has entry $(entry_of a)"

note "writers wait for each other (flock on the ESP)"
rm -f "$T/released"
flock -x "$T/esp" -c "sleep 2; touch '$T/released'" &
holder=$!
sleep 0.5
install "${BUNDLE[2.0]}" --force >/dev/null
[ -e "$T/released" ] || die "install wrote the ESP while another process held its lock"
wait $holder
expect_ro "install after the lock"

note "abidectl killed while the ESP is writable: the next writer makes it read-only"
# Polls /proc/mounts while install runs and SIGKILLs it in the first moment the ESP is writable.
python3 - "$T/esp" "$ABIDECTL" install "${BUNDLE[3.0]}" --force <<'PY' || die "never caught install with the ESP writable"
import os, signal, subprocess, sys
esp, cmd = sys.argv[1], sys.argv[2:]
def mode():
    with open("/proc/mounts") as f:
        for line in f:
            w = line.split()
            if w[1] == esp:
                m = w[3].split(",")[0]
    return m
for attempt in range(10):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    while p.poll() is None and mode() != "rw":
        pass
    if p.poll() is None:
        p.send_signal(signal.SIGKILL)
        p.wait()
        if mode() == "rw":
            print("   killed install (attempt %d) with the ESP writable" % (attempt + 1))
            sys.exit(0)
    p.wait()
sys.exit(1)
PY
[ -n "$(marker)" ] || die "killed install: no marker for the writable ESP"
install "${BUNDLE[3.0]}" --force >/dev/null
expect_ro "install after a kill"
[ "$(entry_of a)" = abide-a+3.conf ] || die "install after a kill: a's entry is '$(entry_of a)'"

note "an ESP on a read-only device: one line naming the ESP, nothing touched"
umount "$T/esp"
ROLOOP=$(losetup -r --show -f "$T/esp.img")
mount -o ro "$ROLOOP" "$T/esp"
before=$(entry_of a)
t0=$(date +%s)
expect_fail "cannot make the ESP $T/esp \($ROLOOP\) writable: its device is read-only" install "${BUNDLE[2.0]}" --force
[ $(($(date +%s) - t0)) -lt 30 ] || die "the refused install took $(($(date +%s) - t0)) s"
[ "$(entry_of a)" = "$before" ] || die "refused install changed a's entry: $(entry_of a)"
umount "$T/esp"
losetup -d "$ROLOOP"; ROLOOP=
mount -o ro "$ESPDEV" "$T/esp"

note "the ESP turns read-only under abidectl (as the kernel does on a FAT error): one line naming the ESP"
# Whenever the ESP is writable during the install, remount it read-only from outside, as the
# kernel's errors=remount-ro does; abidectl cannot tell the difference and must name the cause.
python3 - "$T/esp" "$T/forced.err" "$ABIDECTL" install "${BUNDLE[2.0]}" --force <<'PY' || die "the forced read-only ESP was never reported"
import subprocess, sys, time
esp, errfile, cmd = sys.argv[1], sys.argv[2], sys.argv[3:]
def mode():
    with open("/proc/mounts") as f:
        return [l.split()[3].split(",")[0] for l in f if l.split()[1] == esp][-1]
for attempt in range(10):
    p = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    while p.poll() is None:
        if mode() == "rw":
            subprocess.run(["mount", "-o", "remount,ro", esp], stderr=subprocess.DEVNULL)
    err = p.stderr.read().decode()
    if p.returncode != 0:
        open(errfile, "w").write(err)
        print("   attempt %d: %s" % (attempt + 1, err.strip()))
        sys.exit(0 if "was forced read-only by the kernel" in err else 1)
sys.exit(1)
PY
[ "$(grep -c . "$T/forced.err")" -eq 1 ] || die "expected one error line: $(cat "$T/forced.err")"
grep -q "^abidectl: install: the ESP $T/esp ($ESPDEV) was forced read-only by the kernel while written" "$T/forced.err" ||
        die "the error does not name the ESP: $(cat "$T/forced.err")"
[ "$(esp_mode)" = ro ] || die "forced read-only: the ESP is not read-only"
[ -z "$(marker)" ] || die "forced read-only: marker left: $(marker)"
install "${BUNDLE[2.0]}" --force >/dev/null
expect_ro "install after the forced read-only"
[ "$(entry_of a)" = abide-a+3.conf ] || die "install after the forced read-only: a's entry is '$(entry_of a)'"
note "OK"
