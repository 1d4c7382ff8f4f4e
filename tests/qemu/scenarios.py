#!/usr/bin/python3
"""Shared pieces of the whole-system scenarios (issues 5 and 6) in QEMU.

- prepare(): demo signing keys (and a second, untrusted CA) and the demo
  bundles v1 good, v2 good, v3 {good, crash, panic, hang}, v4 good, built
  once per set of inputs and cached under <builddir>/tests/qemu/cache.
- Scenario: one scenario's log directory (<builddir>/tests/qemu/logs/NAME,
  kept always), work directory (removed on success), figures and checks.
- factory_disk(): a fresh `abide-build disk` from v1.
- base_v2_blessed(): a factory v1 disk with v2 installed and blessed,
  booted once and cached (disk + OVMF VARS), copied per rollback scenario.
- Bundles reach the guest as extra read-only virtio disks (vdb, vdc, ...)
  padded with zeros after the tar end, as a block device is; the guest
  runs `abidectl install /dev/vdX` over the harness's test console.

Environment (set by tests/qemu/meson.build): ABIDE_BUILD, ABIDECTL,
ABIDE_SRCDIR, ABIDE_BUILDDIR, ABIDE_QEMU_LOGDIR.
"""

import base64
import fcntl
import glob
import hashlib
import json
import os
import re
import shutil
import subprocess
import sys
import time

SRC = os.environ.get("ABIDE_SRCDIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "qemu"))
from abideqemu import Machine, MachineError, untangle  # noqa: E402,F401

BUILDDIR = os.environ.get("ABIDE_BUILDDIR", "")
ABIDE_BUILD = os.environ.get("ABIDE_BUILD") or os.path.join(BUILDDIR, "builder", "abide-build")
ABIDECTL = os.environ.get("ABIDECTL") or os.path.join(BUILDDIR, "bootctl", "abidectl")
ABIDE_INIT = os.path.join(BUILDDIR, "bootctl", "init", "abide-init")
AGENT_ROOT = os.path.join(BUILDDIR, "images", "demo", "agent-root")
QEMU_DIR = os.path.join(BUILDDIR, "tests", "qemu")
LOGDIR = os.environ.get("ABIDE_QEMU_LOGDIR") or os.path.join(QEMU_DIR, "logs")
CACHE = os.path.join(QEMU_DIR, "cache")
WORK = os.path.join(QEMU_DIR, "work")
RECIPE = os.path.join(SRC, "recipes", "demo.conf")
SOURCE_DATE_EPOCH = "1721362140"

TRIES = 3
# Shorter than the demo's defaults (watchdog 120 s, health 60 s) so the hang
# scenario's three watchdog resets fit CI; the health deadline plus a boot
# stays well under the watchdog, so a crash is still caught by boot-check,
# not by the watchdog.
WATCHDOG_SEC = 60
HEALTH_TIMEOUT_SEC = 30
CMDLINE = "console=ttyS0 panic=5 abide.watchdog=%d" % WATCHDOG_SEC

# name -> (version, content variant)
BUNDLES = {
    "v1": ("1.0.0", "good"),
    "v2": ("2.0.0", "good"),
    "v3-good": ("3.0.0", "good"),
    "v3-crash": ("3.0.0", "crash"),
    "v3-panic": ("3.0.0", "panic"),
    "v3-hang": ("3.0.0", "hang"),
    "v4": ("4.0.0", "good"),
    # v3 with one agent content file changed (a newer rules file): the delta scenario's update.
    "v3-update": ("3.0.0", "update"),
}

class ScenarioError(Exception):
    """A scenario's check that did not hold."""


def check(cond, msg):
    if not cond:
        raise ScenarioError(msg)


def sh(*cmd, env=None, capture=True):
    """Runs a host command; its stderr goes into the error when it fails."""
    p = subprocess.run(cmd, stdout=subprocess.PIPE if capture else subprocess.DEVNULL, stderr=subprocess.PIPE,
                       env=env)
    if p.returncode != 0:
        raise ScenarioError("%s exited %d: %s" % (" ".join(cmd), p.returncode,
                                                  p.stderr.decode(errors="replace").strip()[-800:]))
    return p.stdout.decode(errors="replace") if capture else ""


# ---- bundles --------------------------------------------------------------

def _hash_tree(h, path):
    """Folds a file or tree (names, modes, link targets, contents) into h."""
    if os.path.isfile(path) and not os.path.islink(path):
        h.update(b"F" + path.encode() + b"\0")
        with open(path, "rb") as f:
            for chunk in iter(lambda: f.read(1 << 20), b""):
                h.update(chunk)
        return
    for root, dirs, files in os.walk(path):
        dirs.sort()
        for name in sorted(files + [d for d in dirs if os.path.islink(os.path.join(root, d))]):
            p = os.path.join(root, name)
            st = os.lstat(p)
            h.update(("%s\0%o\0" % (os.path.relpath(p, path), st.st_mode)).encode())
            if os.path.islink(p):
                h.update(os.readlink(p).encode() + b"\0")
            else:
                with open(p, "rb") as f:
                    h.update(f.read())


def newest_kernel():
    kernels = sorted(glob.glob("/boot/vmlinuz-*"),
                     key=lambda p: [int(x) if x.isdigit() else x for x in re.split(r"(\d+)", p)])
    if not kernels:
        raise ScenarioError("no /boot/vmlinuz-* on this machine (package linux-image-amd64)")
    return kernels[-1]


def _inputs_key(ca_pem):
    h = hashlib.sha256()
    # The settings and the steps of the base disk: a change of either makes new bundles and a new base.
    h.update(("%s %s %d %r\n" % (CMDLINE, HEALTH_TIMEOUT_SEC, TRIES, sorted(BUNDLES.items()))).encode())
    _hash_tree(h, os.path.abspath(__file__))
    for p in (ABIDE_BUILD, ABIDECTL, ABIDE_INIT, AGENT_ROOT, RECIPE, ca_pem, newest_kernel(), "/bin/busybox",
              os.path.join(SRC, "images", "demo", "rootfs"), os.path.join(SRC, "images", "demo", "content"),
              os.path.join(SRC, "images", "demo", "testing"),
              os.path.join(SRC, "bootctl", "image-root")):
        if not os.path.exists(p):
            raise ScenarioError("%s is missing (build the project first)" % p)
        _hash_tree(h, p)
    return h.hexdigest()[:16]


class _Lock:
    """An exclusive lock on a file in the cache (a second test run waits)."""

    def __init__(self, name):
        os.makedirs(CACHE, exist_ok=True)
        self.f = open(os.path.join(CACHE, name + ".lock"), "w")

    def __enter__(self):
        fcntl.flock(self.f, fcntl.LOCK_EX)
        return self

    def __exit__(self, *exc):
        fcntl.flock(self.f, fcntl.LOCK_UN)
        self.f.close()


class Prepared:
    """Keys and bundles of one set of inputs."""

    def __init__(self, keys, other_keys, bundles, drives, key):
        self.keys = keys              # dir with signing.key, signing.crt, ca.pem
        self.other_keys = other_keys  # a second CA the devices do not trust
        self.bundles = bundles        # name -> bundle file
        self.drives = drives          # name -> the bundle padded as a block device would be
        self.key = key
        self.ca = os.path.join(keys, "ca.pem")

    def version(self, name):
        return BUNDLES[name][0]


# The test console (qemu/README.md), relative to the recipe.
TEST_LAYER = "tree:../images/demo/testing"

# The scenarios' settings on top of recipes/demo.conf (see WATCHDOG_SEC).
TEST_SETTINGS = ["Boot.Cmdline=" + CMDLINE, "Boot.Tries=%d" % TRIES, "Agent.HealthTimeoutSec=%d" % HEALTH_TIMEOUT_SEC]


def build_command(keys, out, version, variant, settings=TEST_SETTINGS):
    """The abide-build command line of one demo bundle."""
    args = [ABIDE_BUILD, "build", RECIPE, "--key", keys + "/signing.key", "--cert", keys + "/signing.crt",
            "--ca", keys + "/ca.pem", "--init", ABIDE_INIT,
            "--set", "Agent.Source=" + AGENT_ROOT,
            "--set", "Content.Binary=%s:/usr/sbin/abidectl" % ABIDECTL,
            "--set", "Image.Version=" + version,
            # The harness's command channel: test images only, never in the recipe's default build.
            "--set", "Content.Layer=" + TEST_LAYER]
    for s in settings:
        args += ["--set", s]
    if variant != "good":
        args += ["--set", "Content.Layer=tree:../images/demo/content/" + variant]
    return args + ["-o", out]


def build_bundle(keys, out, version, variant, settings=TEST_SETTINGS):
    """Builds one demo bundle into out; returns its path."""
    args = build_command(keys, out, version, variant, settings)
    path = sh(*args, env=dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH)).strip().splitlines()[-1]
    check(os.path.isfile(path), "abide-build build printed %r, not a bundle" % path)
    return path


def bundle_drive(bundle):
    """A drive that reads as the bundle, then zeros up to the next MiB and one
    more (what a reader of /dev/vdX sees after the tar's end): a qcow2 overlay
    of that size over the bundle file, which it never writes, so no copy of the
    bundle is made. Made anew each call (a few KiB), renamed into place."""
    drive = bundle + ".qcow2"
    size = (os.path.getsize(bundle) // (1 << 20) + 2) * (1 << 20)
    sh("qemu-img", "create", "-q", "-f", "qcow2", "-F", "raw", "-b", os.path.abspath(bundle),
       drive + ".tmp", str(size))
    os.rename(drive + ".tmp", drive)
    return drive


def prepare(log=print):
    """Keys and bundles, built once per set of inputs (cached in the build dir)."""
    with _Lock("prepare"):
        keys = os.path.join(CACHE, "keys")
        other = os.path.join(CACHE, "keys-other")
        for d in (keys, other):
            if not os.path.exists(os.path.join(d, "ca.pem")):
                shutil.rmtree(d, ignore_errors=True)
                sh(ABIDE_BUILD, "keygen", "-o", d)
        key = _inputs_key(os.path.join(keys, "ca.pem"))
        out = os.path.join(CACHE, "bundles-" + key)
        done = os.path.join(out, "done")
        bundles, drives = {}, {}
        if not os.path.exists(done):
            for old in glob.glob(os.path.join(CACHE, "bundles-*")) + glob.glob(os.path.join(CACHE, "base-*")):
                shutil.rmtree(old, ignore_errors=True)
            t0 = time.monotonic()
            for name, (version, variant) in BUNDLES.items():
                d = os.path.join(out, name)
                os.makedirs(d, exist_ok=True)
                build_bundle(keys, d, version, variant)
            log("built %d bundles in %.1f s (cached in %s)" % (len(BUNDLES), time.monotonic() - t0, out))
        for name in BUNDLES:
            found = glob.glob(os.path.join(out, name, "*.abide"))
            check(len(found) == 1, "cache %s/%s: expected one bundle, found %s" % (out, name, found))
            bundles[name] = found[0]
            drives[name] = bundle_drive(found[0])
        if not os.path.exists(done):
            open(done, "w").close()
        return Prepared(keys, other, bundles, drives, key)


# ---- disks ----------------------------------------------------------------

def partitions(disk):
    """PARTLABEL -> (byte offset, byte size), from sfdisk --json."""
    t = json.loads(sh("sfdisk", "--json", disk))["partitiontable"]
    sector = t.get("sectorsize", 512)
    return {p["name"]: (p["start"] * sector, p["size"] * sector) for p in t["partitions"] if p.get("name")}


def factory_disk(prep, path):
    """A fresh factory disk from v1 (slot A), with fresh OVMF VARS."""
    for f in (path, path + ".vars.fd"):
        if os.path.exists(f):
            os.unlink(f)
    sh(ABIDE_BUILD, "disk", prep.bundles["v1"], "--cert", prep.ca, "-o", path)
    return path


def copy_disk(src, dst):
    """Disk and its OVMF VARS, sparse."""
    for a, b in ((src, dst), (src + ".vars.fd", dst + ".vars.fd")):
        if os.path.exists(b):
            os.unlink(b)
        sh("cp", "--sparse=always", a, b)


def flip_bytes(disk, offset, count):
    """Inverts count bytes of the disk image at offset; returns what was there."""
    with open(disk, "r+b") as f:
        f.seek(offset)
        old = f.read(count)
        f.seek(offset)
        f.write(bytes(b ^ 0xFF for b in old))
    return old


def forge_verity_sig(prep, disk, slot, work):
    """Replaces the slot's verity-sig partition with a signature over the same
    root hash by the other CA's key: well formed, but not from a trusted signer."""
    off, size = partitions(disk)["abide-verity-sig-" + slot]
    with open(disk, "rb") as f:
        f.seek(off)
        raw = f.read(size)
    doc = json.loads(raw.split(b"\0", 1)[0].decode())
    root_hash = doc["rootHash"]
    k = prep.other_keys
    hfile = os.path.join(work, "roothash")
    with open(hfile, "w") as f:
        f.write(root_hash)
    der = os.path.join(work, "roothash.p7s")
    sh("openssl", "smime", "-sign", "-binary", "-noattr", "-outform", "DER", "-in", hfile,
       "-signer", k + "/signing.crt", "-inkey", k + "/signing.key", "-out", der)
    fp = hashlib.sha256(subprocess.run(["openssl", "x509", "-in", k + "/signing.crt", "-outform", "DER"],
                                       check=True, stdout=subprocess.PIPE).stdout).hexdigest()
    # Well formed and valid under its own CA, so the device refuses it for trust alone.
    sh("openssl", "smime", "-verify", "-binary", "-inform", "DER", "-in", der, "-content", hfile,
       "-CAfile", k + "/ca.pem", "-purpose", "any", "-out", "/dev/null")
    with open(der, "rb") as f:
        sig = base64.b64encode(f.read()).decode()
    new = json.dumps({"rootHash": root_hash, "certificateFingerprint": fp, "signature": sig},
                     separators=(",", ":")).encode()
    check(new != raw[:len(new)] and doc["certificateFingerprint"] != fp, "forged signature equals the original")
    with open(disk, "r+b") as f:
        f.seek(off)
        f.write(new + b"\0" * (size - len(new)))
    return root_hash, doc["certificateFingerprint"], fp


# ---- scenarios ------------------------------------------------------------

class Scenario:
    """One scenario: logs under LOGDIR/name (always kept), scratch under WORK/name."""

    def __init__(self, name, logdir=None, work=None, say=None):
        self.name = name
        self.logdir = logdir or os.path.join(LOGDIR, name)
        self.work = work or os.path.join(WORK, name)
        for d in (self.logdir, self.work):
            shutil.rmtree(d, ignore_errors=True)
            os.makedirs(d, exist_ok=True)
        self.log = os.path.join(self.logdir, "console.log")
        self.figures = []
        self.t0 = time.monotonic()
        self._say = say

    def say(self, text):
        if self._say:
            self._say(text)
        else:
            print("[%6.1f s] %s" % (time.monotonic() - self.t0, text), flush=True)

    def note(self, text):
        """A marker line in the console log (skipped by waits)."""
        with open(self.log, "a") as f:
            f.write("\n[abide-qemu] %s\n" % text)

    def figure(self, what, value, unit=""):
        line = "%s: %s %s" % (what, ("%.1f" % value) if isinstance(value, float) else value, unit)
        self.figures.append(line.rstrip())
        print("FIGURE %s %s" % (self.name, line.rstrip()), flush=True)

    def machine(self, disk, drives=(), max_boots=1, deadline=600, **kw):
        return Machine(disk, log=self.log, max_boots=max_boots, deadline=deadline, extra_drives=drives, **kw)

    def _console_tail(self, lines=40):
        """On a failure: the last boot's own lines to stderr (of the kernel's,
        only panics, errors, watchdog and reboot lines), so a CI log that keeps
        only the test's output still shows what the guest said (the log
        directory may not survive the run)."""
        try:
            with open(self.log, "rb") as f:
                text = untangle(f.read().decode("utf-8", "replace"))
        except OSError:
            return
        starts = [m.start() for m in re.finditer(r"^\[abide-qemu\] boot \d+ started", text, re.M)]
        start = starts[-1] if starts else 0
        kernel_kept = re.compile(r"Kernel panic|BUG:|Oops|Call Trace|watchdog|reboot:|I/O error|verity|EXT4-fs error")
        own = [l.rstrip() for l in text[start:].splitlines()
               if l.strip() and "\x1b" not in l
               and (not re.match(r"\s*\[\s*\d+\.\d+\] ", l) or kernel_kept.search(l))]
        if not own:
            return
        print("--- the guest's last lines (%s; of the kernel's, only errors, watchdog, reboot) ---" % self.log, file=sys.stderr)
        for l in own[-lines:]:
            print("  " + l, file=sys.stderr)
        print("---", file=sys.stderr)

    def run(self, body):
        """Runs body(self); exit status 0 when it held, 1 otherwise (logs kept)."""
        ok = False
        try:
            body(self)
            ok = True
        except (ScenarioError, MachineError) as e:
            print("FAIL: %s: %s" % (self.name, e), file=sys.stderr)
            self._console_tail()
        finally:
            with open(os.path.join(self.logdir, "figures.txt"), "w") as f:
                f.write("".join(l + "\n" for l in self.figures))
            print("%s: %.1f s; console log: %s" % (self.name, time.monotonic() - self.t0, self.log), flush=True)
            if ok:
                shutil.rmtree(self.work, ignore_errors=True)
            else:
                print("scratch kept: %s" % self.work, file=sys.stderr)
        print("1 passed, 0 failed" if ok else "0 passed, 1 failed")
        return 0 if ok else 1


def main(prefix, names, body):
    """A scenario program's entry: its one argument, one of names, runs
    body(scenario, name) as the scenario PREFIX-NAME; exit status 2 on usage."""
    if len(sys.argv) != 2 or sys.argv[1] not in names:
        print("usage: %s {%s}" % (os.path.basename(sys.argv[0]), ",".join(names)), file=sys.stderr)
        return 2
    name = sys.argv[1]
    return Scenario("%s-%s" % (prefix, name)).run(lambda sc: body(sc, name))


def status(vm, timeout=60):
    rc, out = vm.run("abidectl status --json", timeout=timeout)
    check(rc == 0, "abidectl status --json exited %d: %s" % (rc, out.strip()))
    try:
        return json.loads(out)
    except ValueError as e:
        raise ScenarioError("abidectl status --json: not JSON (%s): %r" % (e, out[:500]))


def expect_slot(st, slot, **want):
    got = st["slots"][slot]
    for k, v in want.items():
        check(got.get(k) == v, "status: slot %s %s is %r, expected %r (status: %s)"
              % (slot, k, got.get(k), v, json.dumps(st, sort_keys=True)))


def boot_text(vm, n):
    """The console of QEMU start n (1-based) so far."""
    start = vm.boot_offsets[n - 1]
    end = vm.boot_offsets[n] if len(vm.boot_offsets) > n else None
    return vm.console(start, end)


def boot_slot(vm, n, timeout=120):
    """Waits for boot n's kernel command line; returns its abide.slot."""
    off = vm.wait_boot(n, timeout)
    m = vm.wait_for(r"Kernel command line: .*abide\.slot=([ab])\b", timeout, since=off)
    return m.group(1)


def wait_check_done(vm, n, timeout=240):
    """Waits for boot n's boot-check to finish; returns (exit status, monotonic time, boot text)."""
    off = vm.wait_boot(n, timeout)
    m = vm.wait_for(r"abide-boot-check: finished \(exit (\d+)\)", timeout, since=off)
    return int(m.group(1)), time.monotonic(), boot_text(vm, n)


def healthy_boot(sc, vm, n, slot, version, timeout=240):
    """Boot n runs slot with version, abide-init mounted the ESP, boot-check exits 0.
    Returns (seconds from QEMU start to boot-check done, boot text)."""
    got = boot_slot(vm, n, timeout)
    check(got == slot, "boot %d started slot %s, expected %s" % (n, got, slot))
    rc, t, text = wait_check_done(vm, n, timeout)
    check(re.search(r"^abide-init: ESP /dev/\S+ on /efi", text, re.M), "boot %d: abide-init did not mount the ESP: %s"
          % (n, re.findall(r"abide-init: ESP.*", text)))
    check(re.search(r"abide-init: slot %s: dm-verity active" % slot, text), "boot %d: no dm-verity on slot %s" % (n, slot))
    check('"version":"%s"' % version in text, "boot %d: rcS did not show version %s" % (n, version))
    check(rc == 0, "boot %d: boot-check exited %d: %s" % (n, rc, re.findall(r"abidectl: .*|Slot .*", text)))
    secs = t - vm.boot_started[n - 1]
    m = re.search(r"^abide-init: switch_root after ([0-9.]+) s since kernel start", text, re.M)
    sc.figure("boot %d: kernel start -> switch_root (abide-init)" % n, m.group(1) if m else "not printed", "s" if m else "")
    sc.say("boot %d: slot %s (%s) healthy after %.1f s" % (n, slot, version, secs))
    return secs, text


def install(sc, vm, device, version, slot, timeout=300):
    """abidectl install DEVICE in the guest; checks the slot and its pending entry."""
    t = time.monotonic()
    rc, out = vm.run("abidectl install %s" % device, timeout=timeout)
    secs = time.monotonic() - t
    check(rc == 0, "abidectl install %s exited %d: %s" % (device, rc, out.strip()))
    want = "Installed %s into slot %s (abide-%s+%d.conf)" % (version, slot, slot, TRIES)
    check(want in out, "install said %r, expected %r" % (out.strip(), want))
    sc.say("installed %s into slot %s from %s in %.1f s" % (version, slot, device, secs))
    st = status(vm)
    expect_slot(st, slot, state="pending", version=version, tries_left=TRIES, booted=False)
    return t, secs


def reboot(vm):
    """Reboots the guest (busybox init: shutdown actions, then the reboot)."""
    vm.send("sync; reboot")


def run_base(sc, prep, disk):
    """On disk (factory v1): boot, install v2 from vdb, reboot, v2 blessed.
    Leaves the guest shut down after two boots."""
    with sc.machine(disk, drives=[prep.drives["v2"]], max_boots=2, deadline=420) as vm:
        healthy_boot(sc, vm, 1, "a", "1.0.0")
        install(sc, vm, "/dev/vdb", "2.0.0", "b")
        reboot(vm)
        healthy_boot(sc, vm, 2, "b", "2.0.0")
        st = status(vm)
        expect_slot(st, "b", state="good", booted=True, version="2.0.0")
        expect_slot(st, "a", state="good", booted=False, version="1.0.0")
        vm.send("sync; poweroff")
        vm.wait_exit(60)


def base_v2_blessed(prep, dest):
    """Copies a factory v1 disk with v2 installed and blessed (made once per
    set of bundles, logs under LOGDIR/base-v2-blessed) to dest."""
    with _Lock("base"):
        cache = os.path.join(CACHE, "base-" + prep.key)
        disk = os.path.join(cache, "disk.img")
        if not os.path.exists(os.path.join(cache, "done")):
            shutil.rmtree(cache, ignore_errors=True)
            os.makedirs(cache)
            sc = Scenario("base-v2-blessed")
            print("making the v2-blessed base disk (log: %s)" % sc.log, flush=True)
            factory_disk(prep, disk)
            try:
                run_base(sc, prep, disk)
            except (ScenarioError, MachineError) as e:
                raise ScenarioError("base disk (factory v1 + v2 blessed): %s" % e)
            open(os.path.join(cache, "done"), "w").close()
            shutil.rmtree(sc.work, ignore_errors=True)
        copy_disk(disk, dest)
    return dest


# ---- Secure Boot (issue 15) -----------------------------------------------

# The UKI bundles the secureboot scenarios use, as in BUNDLES.
SB_BUNDLES = ("v1", "v2", "v3-panic", "v3-good")
# efivarfs: 4 bytes of attributes, then the value; SecureBoot and SetupMode are one byte.
EFI_GLOBAL = "8be4df61-93ca-11d2-aa0d-00e098032b8c"


class PreparedSB(Prepared):
    """Prepared, with UKI bundles and the Secure Boot keys that signed them."""

    def __init__(self, keys, other_keys, bundles, drives, key, sb):
        super().__init__(keys, other_keys, bundles, drives, key)
        self.sb = sb                  # keygen --secure-boot's output: db.key, db.crt, loader/keys/abide/


def prepare_secureboot(log=print, names=SB_BUNDLES):
    """The release keys of prepare(), a Secure Boot key set (keygen
    --secure-boot) and [Boot] UKI=yes bundles of names signed with its db
    key, built once per set of inputs (cache/sb-bundles-KEY)."""
    with _Lock("prepare"):
        keys = os.path.join(CACHE, "keys")
        other = os.path.join(CACHE, "keys-other")
        for d in (keys, other):
            if not os.path.exists(os.path.join(d, "ca.pem")):
                shutil.rmtree(d, ignore_errors=True)
                sh(ABIDE_BUILD, "keygen", "-o", d)
        sb = os.path.join(CACHE, "keys-secureboot")
        if not os.path.exists(os.path.join(sb, "loader", "keys", "abide", "db.auth")):
            shutil.rmtree(sb, ignore_errors=True)
            sh(ABIDE_BUILD, "keygen", "--secure-boot", "-o", sb)
        h = hashlib.sha256(_inputs_key(os.path.join(keys, "ca.pem")).encode())
        _hash_tree(h, os.path.join(sb, "db.crt"))
        key = h.hexdigest()[:16]
        out = os.path.join(CACHE, "sb-bundles-" + key)
        for old in glob.glob(os.path.join(CACHE, "sb-bundles-*")):
            if old != out:
                shutil.rmtree(old, ignore_errors=True)
        bundles, drives = {}, {}
        for name in names:
            d = os.path.join(out, name)
            if not os.path.exists(os.path.join(d, "done")):
                shutil.rmtree(d, ignore_errors=True)
                os.makedirs(d)
                t0 = time.monotonic()
                version, variant = BUNDLES[name]
                args = build_command(keys, d, version, variant) + [
                    "--set", "Boot.UKI=yes", "--secure-boot-key", os.path.join(sb, "db.key"),
                    "--secure-boot-cert", os.path.join(sb, "db.crt")]
                sh(*args, env=dict(os.environ, SOURCE_DATE_EPOCH=SOURCE_DATE_EPOCH))
                log("built the UKI bundle %s in %.1f s (cached in %s)" % (name, time.monotonic() - t0, d))
            found = glob.glob(os.path.join(d, "*.abide"))
            check(len(found) == 1, "cache %s: expected one bundle, found %s" % (d, found))
            bundles[name] = found[0]
            drives[name] = bundle_drive(found[0])
            open(os.path.join(d, "done"), "a").close()
        return PreparedSB(keys, other, bundles, drives, key, sb)


def sh_rc(*cmd):
    """A host command's exit status, its output dropped (for commands that must fail)."""
    return subprocess.run(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL).returncode


def factory_disk_secureboot(prep, path, bundle="v1"):
    """A fresh Secure Boot factory disk (abide-build disk --secure-boot) with
    blank OVMF VARS: the first boot enrolls the keys."""
    for f in (path, path + ".vars.fd"):
        if os.path.exists(f):
            os.unlink(f)
    sh(ABIDE_BUILD, "disk", prep.bundles[bundle], "--cert", prep.ca, "-o", path, "--secure-boot", prep.sb)
    return path


def efi_secure_boot_state(vm, timeout=60):
    """(SecureBoot, SetupMode) as the guest reads them from efivarfs: the last byte of each."""
    vals = []
    for name in ("SecureBoot", "SetupMode"):
        path = "/sys/firmware/efi/efivars/%s-%s" % (name, EFI_GLOBAL)
        rc, out = vm.run("od -An -tu1 %s" % path, timeout=timeout)
        check(rc == 0, "reading %s in the guest: exit %d: %s" % (path, rc, out.strip()))
        nums = out.split()
        check(len(nums) == 5, "%s: %r, expected 4 attribute bytes and one value" % (path, out))
        vals.append(int(nums[-1]))
    return tuple(vals)


def esp_offset(disk):
    """The ESP's byte offset in the disk image, for mtools' IMAGE@@OFFSET."""
    return partitions(disk)["esp"][0]


def esp_files(disk):
    """Every path on the disk's ESP (mdir -/ -b), without the '::' prefix."""
    out = sh("mdir", "-/", "-b", "-i", "%s@@%d" % (disk, esp_offset(disk)), "::",
             env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))
    return sorted(l[3:].rstrip("/") for l in out.splitlines() if l.startswith("::/"))
