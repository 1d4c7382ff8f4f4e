#!/usr/bin/python3
"""Issue 5, item 4: updates on a factory disk, driven from inside the guest.

a. The factory disk (v1 in slot A) boots slot A; boot-check finds it good.
b. Install v2 from inside (a bundle on /dev/vdb), reboot: the loader tries
   slot B, boot-check blesses it; status: B good and booted, A good.
c. From v2, install v3 (good, /dev/vdc) into A, reboot: A blessed, B still
   good as the fallback.
Asserts the console and `abidectl status --json`; prints seconds per boot
and seconds from `abidectl install` to a blessed new slot.
"""

import os
import re
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402


def body(sc):
    prep = S.prepare(sc.say)
    disk = S.factory_disk(prep, os.path.join(sc.work, "disk.img"))
    boots = []
    # Two vCPUs here (the other scenarios run one, qemu/abideqemu.py): the install's
    # reader and writer threads, and the guest's kernel, on two CPUs in one scenario.
    with sc.machine(disk, drives=[prep.drives["v2"], prep.drives["v3-good"]], max_boots=3, deadline=900,
                    cpus=2) as vm:
        # a. factory disk
        secs, text = S.healthy_boot(sc, vm, 1, "a", "1.0.0")
        boots.append(secs)
        check("Slot a is good: nothing to check" in text, "boot 1: boot-check did not find the factory slot good")
        check("BdsDxe: starting Boot" in text, "boot 1: no UEFI boot line")
        check(re.search(r"smp: Brought up \d+ nodes?, 2 CPUs", text), "boot 1: the guest did not bring up two CPUs")
        st = S.status(vm)
        check(st["booted"] == "a", "status: booted %r" % st["booted"])
        expect_slot(st, "a", state="good", booted=True, version="1.0.0", entry="abide-a.conf")
        expect_slot(st, "b", state="empty", booted=False, entry=None)
        check(st["last_rollback"] is None, "status: a rollback on a factory disk: %r" % st["last_rollback"])

        # b. v2 into slot B
        t_install, secs = S.install(sc, vm, "/dev/vdb", "2.0.0", "b")
        sc.figure("install v2 (abidectl install /dev/vdb)", secs, "s")
        S.reboot(vm)
        secs, text = S.healthy_boot(sc, vm, 2, "b", "2.0.0")
        boots.append(secs)
        check("Slot b is on trial (%d tries left)" % (S.TRIES - 1) in text,
              "boot 2: boot-check did not run the trial of slot b with %d tries left" % (S.TRIES - 1))
        check("Slot b is healthy: marked good" in text, "boot 2: slot b not marked good")
        sc.figure("abidectl install v2 -> slot b blessed", vm.boot_started[1] - t_install + secs, "s")
        st = S.status(vm)
        check(st["booted"] == "b", "status: booted %r" % st["booted"])
        expect_slot(st, "b", state="good", booted=True, version="2.0.0", entry="abide-b.conf", last_failure=None)
        expect_slot(st, "a", state="good", booted=False, version="1.0.0", entry="abide-a.conf")

        # c. v3 into slot A
        t_install, secs = S.install(sc, vm, "/dev/vdc", "3.0.0", "a")
        sc.figure("install v3 (abidectl install /dev/vdc)", secs, "s")
        S.reboot(vm)
        secs, text = S.healthy_boot(sc, vm, 3, "a", "3.0.0")
        boots.append(secs)
        check("Slot a is healthy: marked good" in text, "boot 3: slot a not marked good")
        sc.figure("abidectl install v3 -> slot a blessed", vm.boot_started[2] - t_install + secs, "s")
        st = S.status(vm)
        check(st["booted"] == "a", "status: booted %r" % st["booted"])
        expect_slot(st, "a", state="good", booted=True, version="3.0.0", entry="abide-a.conf")
        expect_slot(st, "b", state="good", booted=False, version="2.0.0", entry="abide-b.conf")
        check(st["last_rollback"] is None, "status: a rollback without a failure: %r" % st["last_rollback"])
    for i, s in enumerate(boots, 1):
        sc.figure("boot %d: QEMU start -> boot-check done" % i, s, "s")
    sc.figure("seconds per boot (mean of %d)" % len(boots), sum(boots) / len(boots), "s")


if __name__ == "__main__":
    sys.exit(S.Scenario("update").run(body))
