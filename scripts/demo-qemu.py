#!/usr/bin/python3
"""The whole-system demo in QEMU (TCG), unattended, in a few minutes:

1. build the demo image three times: v1.0.0 and v1.1.0 (good), v1.2.0 with
   the `panic` content (the July 2024 failure: a kernel-mode agent faulting
   on bad content at every boot);
2. make the factory disk from v1.0.0 and boot it under OVMF + systemd-boot;
3. install v1.1.0 from inside the device, reboot, show the status;
4. install the bad v1.2.0, reboot, and touch nothing: the loader tries it
   Tries times, each boot panics, then it boots v1.1.0 again, and
   `abidectl status` shows the rollback. Prints the figures.

    scripts/demo-qemu.py [--builddir build] [--work DIR] [--keep]

Call demo(builddir, work) from another script. Needs a built tree
(abide-build, abidectl, abide-init, images/demo/agent-root).
"""

import argparse
import json
import os
import shutil
import sys
import time

TOP = os.path.abspath(os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))


def _load(builddir):
    builddir = os.path.abspath(builddir)
    os.environ["ABIDE_BUILDDIR"] = builddir
    os.environ["ABIDE_SRCDIR"] = TOP
    os.environ.setdefault("ABIDE_BUILD", os.path.join(builddir, "builder", "abide-build"))
    os.environ.setdefault("ABIDECTL", os.path.join(builddir, "bootctl", "abidectl"))
    sys.path.insert(0, os.path.join(TOP, "tests", "qemu"))
    import scenarios
    return scenarios


class _Say:
    def __init__(self, out):
        self.out = out
        self.t0 = time.monotonic()

    def __call__(self, text):
        self.out.write("[%5.0f s] %s\n" % (time.monotonic() - self.t0, text))
        self.out.flush()

    def block(self, text):
        for line in text.rstrip("\n").splitlines():
            self.out.write("           | %s\n" % line)
        self.out.flush()


def demo(builddir, work, out=sys.stdout):
    """Runs the demo; returns 0 when every step did what it should."""
    S = _load(builddir)
    say = _Say(out)
    sc = S.Scenario("demo", logdir=work, work=work, say=say)
    figures = []

    def figure(what, value):
        figures.append("%-55s %s" % (what, value))
        say("FIGURE %s: %s" % (what, value))

    try:
        say("== 1. building the demo image (recipes/demo.conf, sentinel agent baked in)")
        keys = os.path.join(work, "keys")
        S.sh(S.ABIDE_BUILD, "keygen", "-o", keys)
        bundles = {}
        # The recipe as it is (Tries=3, watchdog 120 s, health timeout 60 s); only version and content vary.
        for version, variant in (("1.0.0", "good"), ("1.1.0", "good"), ("1.2.0", "panic")):
            d = os.path.join(work, "out-" + version)
            t = time.monotonic()
            bundles[version] = S.build_bundle(keys, d, version, variant, settings=[])
            say("built %s (content: %s) in %.1f s, %d MiB" % (os.path.basename(bundles[version]), variant,
                                                               time.monotonic() - t,
                                                               os.path.getsize(bundles[version]) >> 20))
        drives = {}
        for v, b in bundles.items():
            drives[v] = S.bundle_drive(b)

        say("== 2. factory disk from 1.0.0 (slot A written, slot B empty)")
        disk = os.path.join(work, "disk.img")
        say(S.sh(S.ABIDE_BUILD, "disk", bundles["1.0.0"], "--cert", keys + "/ca.pem", "-o", disk).strip())
        say("console log: %s" % sc.log)

        with sc.machine(disk, drives=[drives["1.1.0"], drives["1.2.0"]], max_boots=8, deadline=900) as vm:
            secs, _ = S.healthy_boot(sc, vm, 1, "a", "1.0.0")
            figure("boot: QEMU start -> boot-check done (TCG, one vCPU)", "%.1f s" % secs)

            say("== 3. update to 1.1.0 from inside the device (bundle on /dev/vdb)")
            t_install, isecs = S.install(sc, vm, "/dev/vdb", "1.1.0", "b")
            S.reboot(vm)
            secs, _ = S.healthy_boot(sc, vm, 2, "b", "1.1.0")
            figure("abidectl install -> new slot blessed", "%.1f s" % (vm.boot_started[1] - t_install + secs))
            rc, text = vm.run("abidectl status", timeout=60)
            say("abidectl status:")
            say.block(text)

            say("== 4. the bad update: 1.2.0 whose agent panics the kernel at every boot; nobody touches the device")
            S.install(sc, vm, "/dev/vdc", "1.2.0", "a")
            S.reboot(vm)
            n, first = 3, 3
            while S.boot_slot(vm, n, timeout=300) == "a":
                S.check(n - first < S.TRIES, "slot a booted more than %d times" % S.TRIES)
                vm.wait_boot(n + 1, timeout=300)
                text = S.boot_text(vm, n)
                S.check("Kernel panic" in text, "boot %d of 1.2.0 did not panic" % n)
                say("boot %d: slot A (1.2.0): kernel panic, the loader counts a failed try" % n)
                n += 1
            rc, t_done, text = S.wait_check_done(vm, n)
            line = [l for l in text.splitlines() if l.startswith("Rolled back from")]
            S.check(rc == 0 and line, "boot %d (slot b) did not report a rollback" % n)
            say("boot %d: slot B (1.1.0) again: %s" % (n, line[0]))
            figure("boots of the bad image before the previous slot", n - first)
            figure("first boot of the bad image -> healthy previous slot",
                   "%.1f s" % (t_done - vm.boot_started[first - 1]))
            st = S.status(vm)
            say("abidectl status --json (rollback and the bad slot):")
            say.block(json.dumps({"booted": st["booted"], "last_rollback": st["last_rollback"],
                                  "slots": {"a": st["slots"]["a"]}}, indent=2))
            S.check(st["booted"] == "b" and st["slots"]["a"]["state"] == "bad" and st["last_rollback"]
                    and st["last_rollback"]["reason"] == "no healthy boot in %d tries" % S.TRIES,
                    "status does not show the rollback")
        say("== figures")
        for f in figures:
            say.block(f)
        say("demo done: the device recovered from the bad update by itself")
        return 0
    except (S.ScenarioError, S.MachineError) as e:
        say("DEMO FAILED: %s (console log: %s)" % (e, sc.log))
        return 1


def main():
    p = argparse.ArgumentParser(description="abide whole-system demo in QEMU: update, bad update, automatic rollback.")
    p.add_argument("--builddir", default=os.environ.get("ABIDE_BUILDDIR", os.path.join(TOP, "build")))
    p.add_argument("--work", default=None, help="scratch directory (default BUILDDIR/demo-qemu)")
    p.add_argument("--keep", action="store_true", help="keep the disk images when done")
    a = p.parse_args()
    work = os.path.abspath(a.work or os.path.join(a.builddir, "demo-qemu"))
    rc = demo(a.builddir, work)
    if rc == 0 and not a.keep:
        for f in os.listdir(work):
            if f != "console.log":
                p_ = os.path.join(work, f)
                shutil.rmtree(p_) if os.path.isdir(p_) else os.unlink(p_)
    return rc


if __name__ == "__main__":
    sys.exit(main())
