"""The arm64 side of the whole-system scenarios (issue 12): the arm64 demo
(recipes/demo-arm64.conf) under QEMU aarch64 + Debian's U-Boot +
builder/uboot/boot.cmd.

- prepare(say, names): the arm64 bundles named (v1, v2 and the v3 variants
  panic, hang, crash), each built once per set of inputs with
  scripts/build-demo-arm64.sh (a cross build under BUILDDIR/arm64-cross,
  Debian's arm64 debs) and cached under
  BUILDDIR/tests/qemu/cache/arm64-<inputs hash>; only the bundles a
  scenario needs are built.
- factory_disk(): `abide-build disk` of v1 (slot a, boot.scr, DISK.env.fd),
  cached with the bundles.
- update(): boot v1, install v2 from /dev/vdb, U-Boot's trial of slot b,
  blessed, power off: the arm64-update scenario, and how the v2-blessed
  base disk of the rollback scenarios is made.
- base_v2_blessed(): that base disk (and its U-Boot environment), made once
  per set of inputs (or kept from arm64-update's run), copied per scenario.
"""

import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import time

import scenarios as S
from scenarios import check, expect_slot
from abideqemu import read_uboot_env

TRIES = S.TRIES
CMDLINE = "console=ttyAMA0 panic=5 abide.watchdog=%d" % S.WATCHDOG_SEC
SETTINGS = ["Boot.Cmdline=" + CMDLINE, "Boot.Tries=%d" % TRIES, "Agent.HealthTimeoutSec=%d" % S.HEALTH_TIMEOUT_SEC,
            "Content.Layer=" + S.TEST_LAYER]
# name -> (version, content variant); the x86 v3-good and v4 are not built for arm64 (CI time).
BUNDLES = {
    "v1": ("1.0.0", "good"),
    "v2": ("2.0.0", "good"),
    "v3-panic": ("3.0.0", "panic"),
    "v3-hang": ("3.0.0", "hang"),
    "v3-crash": ("3.0.0", "crash"),
}
# Machine() options: the environment flash also as the guest's fw_env disk (vdX after the bundles).
MACHINE = {"arch": "arm64", "uboot_env_disk": True}


def _inputs_key():
    """A hash of the sources the arm64 bundles come from (not the debs: apt's versions)."""
    h = hashlib.sha256()
    for d in ("bootctl", "lib", "builder", "images", "recipes", "cross", "scripts"):
        S._hash_tree(h, os.path.join(S.SRC, d))
    h.update(repr(SETTINGS).encode())
    return h.hexdigest()[:16]


class Prepared:
    def __init__(self, cache, drives):
        self.cache = cache
        self.drives = drives    # name -> the bundle padded as a block device would be
        self.ca = os.path.join(cache, "keys", "ca.pem")
        self.key = os.path.basename(cache)

    def version(self, name):
        return BUNDLES[name][0]


def _build(cache, name, say):
    """Builds one bundle into cache/NAME.abide (the keys and debs of cache shared)."""
    version, variant = BUNDLES[name]
    say("building the arm64 bundle %s (scripts/build-demo-arm64.sh)" % name)
    t = time.monotonic()
    cmd = [os.path.join(S.SRC, "scripts", "build-demo-arm64.sh"), S.ABIDE_BUILD,
           os.path.join(S.BUILDDIR, "arm64-cross"), cache, "--set", "Image.Version=" + version]
    for s in SETTINGS:
        cmd += ["--set", s]
    if variant != "good":
        cmd += ["--set", "Content.Layer=tree:../images/demo/content/" + variant]
    out = S.sh(*cmd, env=dict(os.environ, SOURCE_DATE_EPOCH=S.SOURCE_DATE_EPOCH)).strip().splitlines()
    check(out and os.path.isfile(out[-1]), "build-demo-arm64.sh printed %r, not a bundle" % out[-1:])
    os.rename(out[-1], os.path.join(cache, name + ".abide"))
    say("built %s in %.1f s" % (name, time.monotonic() - t))


def prepare(say, names=("v1", "v2")):
    """The named bundles (and v1's factory disk), built when missing; old caches removed."""
    key = _inputs_key()
    cache = os.path.join(S.CACHE, "arm64-" + key)
    drives = {}
    with S._Lock("arm64"):
        for old in glob.glob(os.path.join(S.CACHE, "arm64-*")):
            if old != cache and os.path.isdir(old):
                shutil.rmtree(old, ignore_errors=True)
        os.makedirs(cache, exist_ok=True)
        for name in names:
            bundle = os.path.join(cache, name + ".abide")
            if not os.path.exists(bundle):
                _build(cache, name, say)
            drives[name] = S.bundle_drive(bundle)
    return Prepared(cache, drives)


def factory_disk(prep, dest, say):
    """A copy of v1's factory disk (made once per set of inputs) and its U-Boot environment."""
    with S._Lock("arm64"):
        disk = os.path.join(prep.cache, "factory.img")
        if not os.path.exists(disk + ".done"):
            S.sh(S.ABIDE_BUILD, "disk", os.path.join(prep.cache, "v1.abide"), "--cert", prep.ca, "-o", disk)
            open(disk + ".done", "w").close()
        copy_disk(disk, dest)
    return dest


def copy_disk(src, dst):
    """Disk and its U-Boot environment flash, sparse."""
    for a, b in ((src, dst), (src + ".env.fd", dst + ".env.fd")):
        if os.path.exists(b):
            os.unlink(b)
        S.sh("cp", "--sparse=always", a, b)


def uboot_lines(text):
    """The boot script's own lines of one boot's console."""
    return re.findall(r"^abide: (?:slot [ab] \(BOOT_[AB]_LEFT=\d*\)|no slot [^\r\n]*)", text, re.M)


def update(sc, disk, prep):
    """Factory v1 on disk: boot a, install v2 from /dev/vdb, reboot, U-Boot
    counts b's try, boot-check blesses it; power off. Returns the seconds
    from QEMU start to boot-check done per boot."""
    boots = []
    factory_esp = esp_uuid(disk)
    with sc.machine(disk, drives=[prep.drives["v2"]], max_boots=2, deadline=900, **MACHINE) as vm:
        secs, text = S.healthy_boot(sc, vm, 1, "a", "1.0.0")
        boots.append(secs)
        check(uboot_lines(text) == ["abide: slot a (BOOT_A_LEFT=)"],
              "boot 1: U-Boot's script did not boot slot a uncounted: %s" % uboot_lines(text))
        # boot.cmd's part uuid names the boot partition (abide.esp=); the first boot gives the disk
        # its own UUIDs and leaves the boot partition's new one for abidectl (docs/boot.md).
        text = text.replace("\r", "")
        check(re.search(r"Kernel command line: .*abide\.slot=a abide\.esp=%s$" % factory_esp, text, re.M),
              "boot 1: no abide.esp=%s on the command line: %s" % (factory_esp, re.findall(r"Kernel command line: .*", text)))
        check("abide-init: boot script started from the partition %s (abide.esp=): looking on its disk only"
              % factory_esp in text, "boot 1: abide-init did not take abide.esp=: %s" % re.findall(r"abide-init: .*", text)[:6])
        m = re.search(r"^abide-init: the loader's ESP %s is now ([0-9a-f-]+)$" % factory_esp, text, re.M)
        check(m and "first boot: the factory image's disk GUID and partition UUIDs replaced by its own" in text,
              "boot 1: the factory disk was not given its own UUIDs: %s" % re.findall(r"abide-init: .*", text)[:9])
        own_esp = m.group(1)
        rc, out = vm.run("cat /run/abide/loader-esp-partuuid")
        check(rc == 0 and out.strip() == own_esp, "boot 1: the note says %r, expected %s" % (out.strip(), own_esp))
        check("fw-env: U-Boot environment on /dev/vdc" in text, "boot 1: the environment disk is not /dev/vdc")
        st = S.status(vm)
        check(st["booted"] == "a", "status: booted %r" % st["booted"])
        expect_slot(st, "a", state="good", booted=True, version="1.0.0")
        expect_slot(st, "b", state="empty", booted=False)

        t, secs = S.install(sc, vm, "/dev/vdb", "2.0.0", "b", timeout=600)
        sc.figure("install v2 (abidectl install /dev/vdb)", secs, "s")
        S.reboot(vm)

        secs, text = S.healthy_boot(sc, vm, 2, "b", "2.0.0")
        boots.append(secs)
        check(re.search(r"Kernel command line: .*abide\.slot=b abide\.esp=%s\r?$" % own_esp, text, re.M),
              "boot 2: U-Boot did not say the disk's own boot partition UUID %s: %s"
              % (own_esp, re.findall(r"Kernel command line: .*", text)))
        check("boot script started from the partition %s" % own_esp in text and "first boot:" not in text,
              "boot 2: %s" % re.findall(r"abide-init: .*", text)[:6])
        check(uboot_lines(text) == ["abide: slot b (BOOT_B_LEFT=%d)" % (TRIES - 1)],
              "boot 2: U-Boot did not count slot b's try: %s" % uboot_lines(text))
        check("Slot b is healthy: marked good" in text, "boot 2: slot b not marked good: %s"
              % re.findall(r"Slot .*|abidectl: .*", text))
        sc.figure("abidectl install v2 -> slot b blessed", vm.boot_started[1] - t + secs, "s")
        st = S.status(vm)
        check(st["booted"] == "b", "status: booted %r" % st["booted"])
        expect_slot(st, "b", state="good", booted=True, version="2.0.0", tries_done=None)
        expect_slot(st, "a", state="good", booted=False, version="1.0.0")
        vm.send("sync; poweroff")
        vm.wait_exit(60)
    env = read_env(disk)
    check(env.get("BOOT_ORDER") == "B A" and "BOOT_B_LEFT" not in env and env.get("abide_good") == "B",
          "U-Boot environment after the blessing: %s" % env_summary(env))
    return boots


def esp_uuid(disk):
    """The PARTUUID of the partition labelled esp (the boot partition), lowercase."""
    t = json.loads(S.sh("sfdisk", "--json", disk))["partitiontable"]
    return [p["uuid"].lower() for p in t["partitions"] if p.get("name") == "esp"][0]


def read_env(disk):
    """The U-Boot environment saved next to disk (checked CRC)."""
    env = read_uboot_env(disk + ".env.fd")
    check(env is not None, "%s.env.fd: bad CRC" % disk)
    return env


def env_summary(env):
    return " ".join("%s=%s" % (k, env[k]) for k in sorted(env) if k.startswith(("BOOT_", "abide_tries", "abide_good")))


def keep_as_base(prep, disk):
    """Keeps disk (update() done on it) as the v2-blessed base when none is cached."""
    with S._Lock("arm64-base"):
        cache = os.path.join(prep.cache, "base")
        if not os.path.exists(os.path.join(cache, "done")):
            shutil.rmtree(cache, ignore_errors=True)
            os.makedirs(cache)
            copy_disk(disk, os.path.join(cache, "disk.img"))
            open(os.path.join(cache, "done"), "w").close()


def base_v2_blessed(prep, dest):
    """Copies a factory v1 disk with v2 installed and blessed (made once per
    set of inputs by update(), logs under LOGDIR/base-arm64-v2-blessed) to dest."""
    with S._Lock("arm64-base"):
        cache = os.path.join(prep.cache, "base")
        disk = os.path.join(cache, "disk.img")
        if not os.path.exists(os.path.join(cache, "done")):
            shutil.rmtree(cache, ignore_errors=True)
            os.makedirs(cache)
            sc = S.Scenario("base-arm64-v2-blessed")
            print("making the arm64 v2-blessed base disk (log: %s)" % sc.log, flush=True)
            factory_disk(prep, disk, sc.say)
            try:
                update(sc, disk, prep)
            except (S.ScenarioError, S.MachineError) as e:
                raise S.ScenarioError("arm64 base disk (factory v1 + v2 blessed): %s" % e)
            open(os.path.join(cache, "done"), "w").close()
            shutil.rmtree(sc.work, ignore_errors=True)
        copy_disk(disk, dest)
    return dest
