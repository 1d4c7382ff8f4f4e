#!/usr/bin/python3
"""Issue 12: the arm64 demo under QEMU aarch64 + Debian's U-Boot + builder/uboot/boot.cmd.

update: the factory disk (abide-build disk of recipes/demo-arm64.conf v1:
boot.scr, slot a, DISK.env.fd with BOOT_ORDER=A) boots slot a healthy;
`abidectl install /dev/vdb` (v2 on an extra drive) from inside; reboot:
U-Boot counts slot b's try (BOOT_B_LEFT), boot-check blesses it; status:
b good and booted, a good. Prints seconds per boot (FIGURE lines).

Bundles are built with scripts/build-demo-arm64.sh (a cross build under
BUILDDIR/arm64-cross, Debian's arm64 debs) and cached under
BUILDDIR/tests/qemu/cache/arm64-<inputs hash>.
"""

import hashlib
import os
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402

TRIES = 3
CMDLINE = "console=ttyAMA0 panic=5 abide.watchdog=%d" % S.WATCHDOG_SEC
SETTINGS = ["Boot.Cmdline=" + CMDLINE, "Boot.Tries=%d" % TRIES, "Agent.HealthTimeoutSec=%d" % S.HEALTH_TIMEOUT_SEC,
            "Content.Layer=" + S.TEST_LAYER]


def _inputs_key():
    """A hash of the sources the arm64 bundles come from (not the debs: apt's versions)."""
    h = hashlib.sha256()
    for d in ("bootctl", "lib", "builder", "images", "recipes", "cross", "scripts"):
        S._hash_tree(h, os.path.join(S.SRC, d))
    h.update(repr(SETTINGS).encode())
    return h.hexdigest()[:16]


def prepare(say):
    cache = os.path.join(S.CACHE, "arm64-" + _inputs_key())
    cross = os.path.join(S.BUILDDIR, "arm64-cross")
    bundles = {}
    with S._Lock("arm64"):
        for version in ("1.0.0", "2.0.0"):
            b = os.path.join(cache, "abide-demo-arm64-%s.abide" % version)
            if not os.path.exists(b):
                say("building the arm64 bundle %s (scripts/build-demo-arm64.sh)" % version)
                cmd = [os.path.join(S.SRC, "scripts", "build-demo-arm64.sh"), S.ABIDE_BUILD, cross, cache,
                       "--set", "Image.Version=" + version]
                for s in SETTINGS:
                    cmd += ["--set", s]
                subprocess.run(cmd, check=True, stdout=subprocess.DEVNULL)
            bundles[version] = b
        disk = os.path.join(cache, "factory.img")
        if not os.path.exists(disk + ".done"):
            subprocess.run([S.ABIDE_BUILD, "disk", bundles["1.0.0"], "--cert", os.path.join(cache, "keys", "ca.pem"),
                            "-o", disk], check=True, stdout=subprocess.DEVNULL)
            open(disk + ".done", "w").close()
        drive = os.path.join(cache, "v2.drive")
        if not os.path.exists(drive):
            S.pad_as_disk(bundles["2.0.0"], drive + ".tmp")
            os.rename(drive + ".tmp", drive)
    return disk, drive


def body(sc):
    factory, drive = prepare(sc.say)
    disk = os.path.join(sc.work, "disk.img")
    for a, b in ((factory, disk), (factory + ".env.fd", disk + ".env.fd")):
        subprocess.run(["cp", "--sparse=always", a, b], check=True)
    boots = []
    with sc.machine(disk, drives=[drive], max_boots=2, deadline=900, arch="arm64", uboot_env_disk=True) as vm:
        secs, text = S.healthy_boot(sc, vm, 1, "a", "1.0.0")
        boots.append(secs)
        check("abide: slot a (BOOT_A_LEFT=)" in text, "boot 1: U-Boot's script did not boot slot a uncounted")
        check("fw-env: U-Boot environment on /dev/vdc" in text, "boot 1: the environment disk is not /dev/vdc")
        st = S.status(vm)
        check(st["booted"] == "a", "status: booted %r" % st["booted"])
        expect_slot(st, "a", state="good", booted=True, version="1.0.0")
        expect_slot(st, "b", state="empty", booted=False)

        t = S.time.monotonic()
        rc, out = vm.run("abidectl install /dev/vdb", timeout=600)
        secs = S.time.monotonic() - t
        check(rc == 0, "abidectl install /dev/vdb exited %d: %s" % (rc, out.strip()))
        sc.say("install: %s" % out.strip().replace("\n", " | "))
        sc.figure("install v2 (abidectl install /dev/vdb)", secs, "s")
        st = S.status(vm)
        expect_slot(st, "b", state="pending", version="2.0.0", booted=False)
        S.reboot(vm)

        secs, text = S.healthy_boot(sc, vm, 2, "b", "2.0.0")
        boots.append(secs)
        check("abide: slot b (BOOT_B_LEFT=%d)" % (TRIES - 1) in text,
              "boot 2: U-Boot did not count slot b's try: %s" % S.re.findall(r"abide: .*", text))
        check("Slot b is healthy: marked good" in text, "boot 2: slot b not marked good: %s"
              % S.re.findall(r"Slot .*|abidectl: .*", text))
        sc.figure("abidectl install v2 -> slot b blessed", vm.boot_started[1] - t + secs, "s")
        st = S.status(vm)
        check(st["booted"] == "b", "status: booted %r" % st["booted"])
        expect_slot(st, "b", state="good", booted=True, version="2.0.0")
        expect_slot(st, "a", state="good", booted=False, version="1.0.0")
    for i, s in enumerate(boots, 1):
        sc.figure("boot %d: QEMU start -> boot-check done" % i, s, "s")
    sc.figure("seconds per boot (mean of %d)" % len(boots), sum(boots) / len(boots), "s")


if __name__ == "__main__":
    if sys.argv[1:] != ["update"]:
        print("usage: test-arm64.py update", file=sys.stderr)
        sys.exit(2)
    sys.exit(S.Scenario("arm64-update").run(body))
