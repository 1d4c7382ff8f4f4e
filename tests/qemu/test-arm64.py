#!/usr/bin/python3
"""Issue 12: the arm64 demo under QEMU aarch64 + Debian's U-Boot + builder/uboot/boot.cmd.
Usage: test-arm64.py {update,powercut-trial,unloadable,gpt-primary}

update: the factory disk (abide-build disk of recipes/demo-arm64.conf v1:
boot.scr, slot a, DISK.env.fd with BOOT_ORDER=A) boots slot a healthy;
`abidectl install /dev/vdb` (v2 on an extra drive) from inside; reboot:
U-Boot counts slot b's try (BOOT_B_LEFT), boot-check blesses it; status:
b good and booted, a good. Prints seconds per boot (FIGURE lines). Its disk
becomes the rollback scenarios' v2-blessed base when none is cached yet.

powercut-trial (issue 12 item 3, docs/uboot.md "Power cuts during a
trial"): the same install, then the power is cut (QEMU killed) twice during
slot b's trial, before boot-check could bless it: once when the kernel has
started, once when abide-init has activated dm-verity. Each cut burns one
try (BOOT_B_LEFT 2, 1, then 0 on the third boot), and that third boot is
still blessed. Prints the tries burnt per cut and the time to the blessing.

unloadable (docs/uboot.md "The state machine", a slot whose files cannot be
loaded): the v2-blessed base disk with slot b's vmlinuz deleted from the
boot partition (mtools, before QEMU starts). b is good and first in
BOOT_ORDER, never counted: U-Boot's script used to reset on the failed load
and choose b again, forever. Now the same boot passes b over and starts a
with abide.unloadable=b; boot-check marks b bad and records the rollback;
the next boot starts a without trying b.

gpt-primary (docs/boot.md, "A device's own UUIDs"): the v2-blessed base
disk with one byte of its primary GPT flipped, as a power cut inside the
first boot's table write would leave it. U-Boot reads the backup and boots
b; the kernel takes a GPT only from a valid primary and shows no
partitions; abide-init finds slot b as ranges of the disk, verifies its
signature there, writes the table again from the backup, and the boot goes
on; the table is whole afterwards, as it was.

Bundles, factory and base disks: tests/qemu/scenarios_arm64.py.
"""

import os
import re
import shutil
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
import scenarios_arm64 as A  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402

# Where slot b's trial boots lose their power: after U-Boot counted the try and saved it.
CUTS = [
    (r"Kernel command line: .*abide\.slot=b", "the kernel started"),
    (r"abide-init: slot b: dm-verity active", "abide-init activated dm-verity"),
]


def update(sc):
    prep = A.prepare(sc.say, ("v1", "v2"))
    disk = os.path.join(sc.work, "disk.img")
    A.factory_disk(prep, disk, sc.say)
    boots = A.update(sc, disk, prep)
    for i, s in enumerate(boots, 1):
        sc.figure("boot %d: QEMU start -> boot-check done" % i, s, "s")
    sc.figure("seconds per boot (mean of %d)" % len(boots), sum(boots) / len(boots), "s")
    A.keep_as_base(prep, disk)


def powercut_trial(sc):
    prep = A.prepare(sc.say, ("v1", "v2"))
    disk = os.path.join(sc.work, "disk.img")
    A.factory_disk(prep, disk, sc.say)
    blessed = 2 + len(CUTS)
    with sc.machine(disk, drives=[prep.drives["v2"]], max_boots=blessed, deadline=900, **A.MACHINE) as vm:
        S.healthy_boot(sc, vm, 1, "a", "1.0.0")
        S.install(sc, vm, "/dev/vdb", "2.0.0", "b", timeout=600)
        S.reboot(vm)
        lefts = []
        for i, (rx, what) in enumerate(CUTS):
            n = 2 + i
            off = vm.wait_boot(n, 300)
            vm.wait_for(rx, 300, since=off)
            vm.power_cut()
            secs = S.time.monotonic() - vm.boot_started[n - 1]
            vm.wait_boot(n + 1, 60)
            text = S.boot_text(vm, n)
            check("abide-boot-check: finished" not in text and "marked good" not in text,
                  "boot %d: boot-check ran before the power cut" % n)
            lines = A.uboot_lines(text)
            m = re.fullmatch(r"abide: slot b \(BOOT_B_LEFT=(\d)\)", lines[0]) if len(lines) == 1 else None
            check(m, "boot %d: U-Boot's script said %s, expected slot b counted" % (n, lines))
            lefts.append(int(m.group(1)))
            sc.say("boot %d: slot b on trial (BOOT_B_LEFT=%d), power cut after %s, %.1f s after QEMU start"
                   % (n, lefts[-1], what, secs))
        secs, text = S.healthy_boot(sc, vm, blessed, "b", "2.0.0")
        lines = A.uboot_lines(text)
        m = re.fullmatch(r"abide: slot b \(BOOT_B_LEFT=(\d)\)", lines[0]) if len(lines) == 1 else None
        check(m, "boot %d: U-Boot's script said %s, expected slot b counted" % (blessed, lines))
        lefts.append(int(m.group(1)))
        check("Slot b is healthy: marked good" in text, "boot %d: slot b not marked good: %s"
              % (blessed, re.findall(r"Slot .*|abidectl: .*", text)))
        check(lefts == list(range(S.TRIES - 1, S.TRIES - 2 - len(CUTS), -1)),
              "BOOT_B_LEFT per trial boot %s, expected one try burnt per boot" % lefts)
        st = S.status(vm)
        check(st["booted"] == "b", "status: booted %r" % st["booted"])
        expect_slot(st, "b", state="good", booted=True, version="2.0.0")
        expect_slot(st, "a", state="good", booted=False, version="1.0.0")
        check(st["last_rollback"] is None, "status: a rollback after power cuts: %r" % st["last_rollback"])
        t_blessed = vm.boot_started[blessed - 1] + secs
        sc.say("boot %d: slot b blessed on its last try (BOOT_B_LEFT=%d)" % (blessed, lefts[-1]))
        sc.figure("tries burnt by %d power cuts during the trial (Tries=%d)" % (len(CUTS), S.TRIES),
                  lefts[0] - lefts[-1])
        sc.figure("power cuts during a trial of Tries=%d, slot still blessed" % S.TRIES, len(CUTS))
        sc.figure("first trial boot -> slot b blessed, with %d power cuts" % len(CUTS),
                  t_blessed - vm.boot_started[1], "s")


def unloadable(sc):
    prep = A.prepare(sc.say, ("v1", "v2"))
    disk = os.path.join(sc.work, "disk.img")
    A.base_v2_blessed(prep, disk)
    S.sh("mdel", "-i", "%s@@%d" % (disk, S.esp_offset(disk)), "::/abide/b/vmlinuz",
         env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
    sc.say("slot b (2.0.0, blessed, first in BOOT_ORDER): /abide/b/vmlinuz deleted from the boot partition")
    with sc.machine(disk, max_boots=2, deadline=900, **A.MACHINE) as vm:
        secs, text = S.healthy_boot(sc, vm, 1, "a", "1.0.0")
        lines = A.uboot_lines(text)
        check(lines == ["abide: slot b (BOOT_B_LEFT=)", "abide: slot a (BOOT_A_LEFT=)"],
              "boot 1: U-Boot's script said %s, expected slot b, then slot a in the same boot" % lines)
        check("abide: slot b cannot be loaded" in text, "boot 1: the script did not say slot b cannot be loaded")
        check(re.search(r"Kernel command line: .*abide\.slot=a.*abide\.unloadable=b", text),
              "boot 1: no abide.unloadable=b on slot a's command line")
        st = S.status(vm)
        check(st["booted"] == "a", "status: booted %r" % st["booted"])
        expect_slot(st, "a", state="good", booted=True, version="1.0.0")
        expect_slot(st, "b", state="bad", booted=False)
        rb = st["last_rollback"]
        check(rb and rb["from"] == "b" and rb["to"] == "a"
              and "the boot script could not load slot b's kernel or initrd" in rb["reason"],
              "status: last_rollback %r" % rb)
        sc.say("boot 1: slot b passed over, slot a booted, b marked bad: %s" % rb["reason"])
        sc.figure("QEMU start -> boot-check done, slot b unloadable", secs, "s")
        S.reboot(vm)
        secs, text = S.healthy_boot(sc, vm, 2, "a", "1.0.0")
        lines = A.uboot_lines(text)
        check(lines == ["abide: slot a (BOOT_A_LEFT=)"] and "cannot be loaded" not in text,
              "boot 2: U-Boot's script said %s; slot b tried again" % lines)
        vm.send("sync; poweroff")
        vm.wait_exit(60)
    env = A.read_env(disk)
    check(env.get("BOOT_ORDER") == "A B" and env.get("BOOT_B_LEFT") == "0",
          "U-Boot environment after b was marked bad: %s" % A.env_summary(env))


def gpt_primary(sc):
    prep = A.prepare(sc.say, ("v1", "v2"))
    disk = os.path.join(sc.work, "disk.img")
    A.base_v2_blessed(prep, disk)
    want = S.sh("sfdisk", "--dump", disk).replace(disk, "DISK")
    with open(disk, "r+b") as f:
        f.seek(2 * 512 + 20)    # inside the primary table's first entry: its CRC fails
        b = f.read(1)
        f.seek(2 * 512 + 20)
        f.write(bytes([b[0] ^ 0xff]))
    sc.say("one byte of the primary GPT's entries flipped (U-Boot and libblkid read the backup; the kernel reads none)")
    with sc.machine(disk, max_boots=1, deadline=600, **A.MACHINE) as vm:
        secs, text = S.healthy_boot(sc, vm, 1, "b", "2.0.0", timeout=300)
        text = text.replace("\r", "")
        check(re.search(r"^abide-init: disk /dev/vda: the kernel read no partition table \(its primary copy is damaged\); "
                        r"slot b verified in place, the table written again: The primary GPT table is corrupt", text, re.M),
              "the damaged primary table was not written again: %s" % re.findall(r"abide-init: .*", text)[:8])
        check("Slot b is good: nothing to check" in text, "boot-check did not find b good")
        sc.figure("QEMU start -> boot-check done, primary GPT repaired", secs, "s")
        vm.send("sync; poweroff")
        vm.wait_exit(60)
    r = subprocess.run(["sfdisk", "--verify", disk], capture_output=True, text=True)
    check(r.returncode == 0 and "corrupt" not in r.stdout + r.stderr, "sfdisk --verify after the boot: %s" % (r.stdout + r.stderr))
    got = S.sh("sfdisk", "--dump", disk).replace(disk, "DISK")
    check(got == want, "the table after the repair differs: %r != %r" % (got, want))


SCENARIOS = {"update": update, "powercut-trial": powercut_trial, "unloadable": unloadable, "gpt-primary": gpt_primary}

if __name__ == "__main__":
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print("usage: test-arm64.py {%s}" % ",".join(SCENARIOS), file=sys.stderr)
        sys.exit(2)
    sys.exit(S.Scenario("arm64-" + sys.argv[1]).run(SCENARIOS[sys.argv[1]]))
