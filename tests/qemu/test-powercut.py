#!/usr/bin/python3
"""Issue 9: power cuts during `abidectl install`. Usage: test-powercut.py {stream,esp}

From the v2-blessed base disk (slot B runs 2.0.0, A holds 1.0.0), v3 is
installed into slot A from inside the guest, and QEMU is SIGKILLed (no
shutdown: the guest's caches are lost, what reached the disk file stays) at
each moment of the scenario:

  stream  scope1  the first ESP write scope: A's entry and old kernel removed
          root    abide-root-a half written (progress 40..99 %)
          verify  the final check of slot A (its dm-verity tree read back up to
                  the signed root hash; the data was read back while written)
  esp     kernel  writing /efi/abide/a/vmlinuz (temporary, fsync, rename)
          initrd  writing /efi/abide/a/initrd
          entry   writing A's boot entry (the last ESP write scope)

The ESP write scopes are seen from the host: Linux sets the FAT32 dirty bit
(boot sector byte 0x41) on disk when abidectl remounts the ESP read-write and
clears it when abidectl makes it read-only again, so a cut taken while the
bit is set provably hits an ESP write. The boot disk's writes are throttled
(6 MB/s) so each scope lasts long enough to be hit.

After each cut the machine powers on again and:
- boots slot B, healthy (2.0.0; boot-check passes); the loader never tries
  A (no abide.slot=a kernel line), A has no entry (or, cut before anything
  of A was written, its old 1.0.0 one); only a cut after the entry became
  durable may boot A, and then it must be the complete, verified 3.0.0;
- abide-init checked the ESP first: "repaired" when the cut left the dirty
  bit set, "clean" otherwise; the ESP is mounted read-only;
- an uninterrupted install of v3 then succeeds, cleans the interrupted
  install's temporaries and leaves the ESP read-only.
Finally A boots 3.0.0 and is blessed (the ESP still read-only afterwards).
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402

# moment -> (console regex to wait for after the install starts, or None;
#            then wait for an ESP write scope (dirty bit set)?; seconds to wait before the cut)
MOMENTS = {
    "scope1": (None, True, 0.0),
    "root": (r"abide-root-a +([4-9]\d)%", False, 0.0),
    "verify": (r"Verifying slot a", False, 0.0),
    "kernel": (r"/efi/abide/a/vmlinuz +\d+%", False, 0.3),
    "initrd": (r"/efi/abide/a/initrd +\d+%", False, 0.2),
    "entry": (r"Verifying slot a", True, 0.0),
}
SCENARIOS = {
    "stream": ["scope1", "root", "verify"],
    "esp": ["kernel", "initrd", "entry"],
}
ESP_MOMENTS = {"scope1", "kernel", "initrd", "entry"}
THROTTLE = "throttling.bps-write=%d" % (6 * 1024 * 1024)
FAT32_STATE = 0x41     # Linux's "volume dirty" bit lives in this boot sector byte


class EspWatch:
    """Reads the ESP's FAT32 dirty bit straight from the disk file."""

    def __init__(self, disk):
        self.disk = disk
        self.offset = S.partitions(disk)["esp"][0]
        # Kept open: a poll is one pread, so a short write scope (the entry's) is not missed.
        self.fd = os.open(disk, os.O_RDONLY)

    def dirty(self):
        return os.pread(self.fd, 1, self.offset + FAT32_STATE)[0] & 1


def progress_lines(text):
    return [l.strip() for l in re.split(r"[\r\n]", text.replace("\x1b[K", "")) if l.strip()]


def cut_install(sc, vm, esp, moment):
    """Starts the install of v3 in the guest with its progress on the console
    (a tty) and cuts the power at moment. Returns what the cut hit."""
    pattern, want_scope, delay = MOMENTS[moment]
    check(esp.dirty() == 0, "before the install: the ESP's dirty bit is already set")
    off = vm.offset()
    vm.run("abidectl install /dev/vdb </dev/null >/dev/console 2>&1 &", timeout=60)
    t0 = time.monotonic()
    seen = pattern is None
    while True:
        text = vm.console(off)
        check("Installed 3.0.0" not in text and "abidectl: install:" not in text,
              "%s: the install ended before the moment: %s" % (moment, progress_lines(text)[-3:]))
        check(time.monotonic() - t0 < 240, "%s: moment not reached in 240 s: %s" % (moment, progress_lines(text)[-3:]))
        if not seen and re.search(pattern, text):
            seen = True
        if seen and (not want_scope or esp.dirty()):
            break
        # Waiting for a write scope: poll the dirty bit closely (the entry's scope lasts tens of ms).
        time.sleep(0.001 if seen and want_scope else 0.01)
    if delay:
        time.sleep(delay)
    dirty = esp.dirty()
    last = (progress_lines(vm.console(off)) or ["(none)"])[-1]
    vm.power_cut()
    secs = time.monotonic() - t0
    on_disk = esp.dirty()
    sc.say("%s: power cut %.1f s into the install; ESP being written: %s; last progress: %s"
           % (moment, secs, "yes" if dirty else "no", last))
    sc.figure("%s: cut after" % moment, secs, "s")
    if moment == "scope1":
        check("abide-root-a" not in vm.console(off), "scope1: the cut came after the root stream started")
    if moment in ESP_MOMENTS:
        check(dirty, "%s: the cut did not hit an ESP write (dirty bit clear; last progress %r)" % (moment, last))
    else:
        check(not dirty, "%s: the ESP was writable during %s (last progress %r)" % (moment, moment, last))
    return on_disk


def guest_esp_ro(vm, what):
    rc, out = vm.run("grep ' /efi ' /proc/mounts", timeout=60)
    check(rc == 0 and re.search(r" /efi vfat ro,", out), "%s: /efi is not mounted read-only: %r" % (what, out))


def guest_no_temporaries(vm, what):
    rc, out = vm.run("ls -a /efi/abide/a /efi/loader/entries", timeout=60)
    check(rc == 0, "%s: ls /efi: %s" % (what, out))
    check(".#" not in out, "%s: temporaries left on the ESP: %r" % (what, out))


def after_cut(sc, vm, n, moment, dirty_on_disk):
    """Boot n follows a cut: checks it; returns the slot it booted."""
    slot = S.boot_slot(vm, n, timeout=300)
    if slot == "a":
        check(moment == "entry", "boot %d after the %s cut: the half-written slot a booted" % (n, moment))
        sc.say("boot %d: the entry was durable before the cut: slot a (3.0.0) boots" % n)
        secs, text = S.healthy_boot(sc, vm, n, "a", "3.0.0")
        check("Slot a is healthy: marked good" in text, "boot %d: slot a not marked good" % n)
    else:
        secs, text = S.healthy_boot(sc, vm, n, "b", "2.0.0")
        check(not re.search(r"abide\.slot=a\b", text), "boot %d: the loader tried slot a" % n)
    want = "repaired" if dirty_on_disk else "clean"
    m = re.search(r"^abide-init: ESP /dev/\S+: fsck\.fat: (clean|repaired|failed)\b", text, re.M)
    check(m and m.group(1) == want, "boot %d after the %s cut: fsck.fat said %r, expected %r"
          % (n, moment, m and m.group(1), want))
    sc.say("boot %d: abide-init: ESP %s" % (n, m.group(1)))
    st = S.status(vm)
    a = st["slots"]["a"]
    if slot == "b":
        expect_slot(st, "b", booted=True, state="good", version="2.0.0")
        check(a["entry"] is None or (moment == "scope1" and a["version"] == "1.0.0"),
              "after the %s cut: slot a has entry %r (version %r)" % (moment, a["entry"], a["version"]))
    else:
        expect_slot(st, "a", booted=True, state="good", version="3.0.0")
    guest_esp_ro(vm, "after the %s cut" % moment)
    return slot, secs


def body(sc, name):
    prep = S.prepare(sc.say)
    disk = os.path.join(sc.work, "disk.img")
    S.base_v2_blessed(prep, disk)
    esp = EspWatch(disk)
    check(esp.dirty() == 0, "base disk: the ESP's dirty bit is set")
    moments = SCENARIOS[name]
    vm = sc.machine(disk, drives=[prep.drives["v3-good"], prep.drives["v4"]], max_boots=len(moments) + 2,
                    deadline=1200)
    vm.disk_options = THROTTLE
    vm.start()
    try:
        S.healthy_boot(sc, vm, 1, "b", "2.0.0")
        guest_esp_ro(vm, "boot 1")
        n = 1
        for moment in moments:
            on_disk = cut_install(sc, vm, esp, moment)
            n += 1
            slot, _ = after_cut(sc, vm, n, moment, on_disk)
            if slot == "a":
                # A is complete and blessed: the next install goes to B.
                S.install(sc, vm, "/dev/vdc", "4.0.0", "b")
                guest_esp_ro(vm, "install of v4 after the %s cut" % moment)
                return
            S.install(sc, vm, "/dev/vdb", "3.0.0", "a")
            guest_esp_ro(vm, "install after the %s cut" % moment)
            guest_no_temporaries(vm, "install after the %s cut" % moment)
        S.reboot(vm)
        n += 1
        secs, text = S.healthy_boot(sc, vm, n, "a", "3.0.0")
        check("Slot a is healthy: marked good" in text, "boot %d: slot a (3.0.0) not marked good" % n)
        check(re.search(r"^abide-init: ESP /dev/\S+: fsck\.fat: clean\b", text, re.M),
              "boot %d: the ESP was not clean after a complete install" % n)
        st = S.status(vm)
        expect_slot(st, "a", booted=True, state="good", version="3.0.0")
        guest_esp_ro(vm, "after slot a was blessed")
        sc.figure("power cuts survived", len(moments))
    finally:
        vm.stop()


if __name__ == "__main__":
    sys.exit(S.main("powercut", SCENARIOS, body))
