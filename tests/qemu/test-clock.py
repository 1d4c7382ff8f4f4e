#!/usr/bin/python3
"""Issue 9: no trust decision depends on the wall clock.

A device whose RTC is wrong boots its slot, installs an update and blesses
it. Two clocks (the argument, 1970 or expired, names one):

- clock-1970: `-rtc base=1970-01-01`, a board without an RTC battery. The
  Linux guest reads that CMOS date as 2070 (a year below 70 would be 20xx;
  the firmware leaves the century alone), so abide-init checks both slots
  with every certificate "expired"; before `abidectl install` the test sets
  the guest's clock to 1970-01-02 (`date -s`), so install checks the
  manifest with every certificate "not yet valid".
- clock-expired: the clock 6 years past the signing certificate's notAfter
  (a fleet on day 1,826+ of a 5-year certificate). Every certificate has
  "expired" by that clock.

In both, abide-init checks the root-hash signature of slot A and then of
slot B (dm-verity active on each), and `abidectl install` checks the
bundle's manifest signature, all under that clock. The guest's clock is
asserted, so a firmware that silently corrects it cannot make the test pass.
"""

import datetime
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402


def cert_not_after(path):
    out = subprocess.run(["openssl", "x509", "-in", path, "-noout", "-enddate"], check=True,
                         capture_output=True, text=True).stdout
    return datetime.datetime.strptime(out.strip().split("=", 1)[1], "%b %d %H:%M:%S %Y %Z")


def guest_year(vm):
    rc, out = vm.run("date -u +%Y", timeout=60)
    check(rc == 0, "date in the guest exited %d: %s" % (rc, out))
    return int(out.strip())


def body(sc, name):
    prep = S.prepare(sc.say)
    signing = os.path.join(prep.keys, "signing.crt")
    not_after = cert_not_after(signing)
    if name == "1970":
        base = datetime.date(1970, 1, 1)
    else:
        base = datetime.date(not_after.year + 6, not_after.month, min(not_after.day, 28))
    sc.say("signing certificate valid until %s; guest RTC base %s" % (not_after.date(), base))
    sc.figure("guest clock (RTC base)", str(base))

    disk = S.factory_disk(prep, os.path.join(sc.work, "disk.img"))
    vm = S.Machine(disk, log=sc.log, max_boots=2, deadline=600, extra_drives=[prep.drives["v2"]],
                   extra_args=["-rtc", "base=%s" % base.isoformat()])
    with vm:
        S.healthy_boot(sc, vm, 1, "a", "1.0.0")
        text = S.boot_text(vm, 1)
        check(re.search(r"abide-init: slot a: .*signature", text, re.I) or "dm-verity active" in text,
              "boot 1: abide-init did not verify slot a")
        y = guest_year(vm)
        check(not (not_after.year - 6 <= y <= not_after.year), "the guest's clock says %d, inside the certificates' validity: "
              "the test did not set the clock" % y)
        sc.say("guest clock at boot: year %d" % y)
        sc.figure("guest clock at boot 1 (year)", y)
        if name == "1970":
            rc, out = vm.run("date -u -s '1970-01-02 00:00:00' >/dev/null && date -u +%Y", timeout=60)
            check(rc == 0 and out.strip() == "1970", "cannot set the guest's clock to 1970: %s" % out)
            sc.say("guest clock set to 1970-01-02 for the install")

        S.install(sc, vm, "/dev/vdb", "2.0.0", "b")
        S.reboot(vm)
        secs, text = S.healthy_boot(sc, vm, 2, "b", "2.0.0")
        check("Slot b is healthy: marked good" in text, "boot 2: slot b not blessed under the wrong clock")
        y = guest_year(vm)
        check(not (not_after.year - 6 <= y <= not_after.year), "boot 2: the guest's clock says %d" % y)
        st = S.status(vm)
        check(st["booted"] == "b", "status: booted %r" % st["booted"])
        expect_slot(st, "b", state="good", booted=True, version="2.0.0")
        expect_slot(st, "a", state="good", booted=False, version="1.0.0")
        sc.figure("boot 2 under the wrong clock: QEMU start -> blessed", secs, "s")


if __name__ == "__main__":
    sys.exit(S.main("clock", ("1970", "expired"), body))
