#!/usr/bin/python3
"""Self-test of qemu/abideqemu.py's arm64 machine (issue 12, part 5): QEMU
aarch64 (virt, cortex-a57, TCG) + Debian's U-Boot (u-boot-qemu, qemu_arm64)
+ the project's boot script (builder/uboot/boot.cmd) + Debian's arm64 kernel
+ a busybox initramfs running the image's test-console.sh.

The throwaway disk: GPT, partition 1 FAT (ESP type) with /boot.scr and
/abide/{a,b}/{vmlinuz,initrd}. The environment flash (DISK.env.fd) starts
from U-Boot's defaults plus BOOT_ORDER="A B", BOOT_A_LEFT=1, B good.

Checks:
- U-Boot's distro boot found and ran boot.scr from virtio 0:1, which chose
  slot a, counted the try (BOOT_A_LEFT 1 -> 0) and ran saveenv;
- the kernel booted with `abide.slot=a` (read over the test console);
- the i6300esb watchdog: the driver binds on the virt machine's PCIe,
  /dev/watchdog appears, and an unfed watchdog resets the guest (with
  -no-reboot QEMU ends and the harness starts boot 2);
- the guest reads U-Boot's saved BOOT_A_LEFT=0 through the environment's
  virtio view (Machine(uboot_env_disk=True), serial abide-uboot-env);
- boot 2 reads the environment back: with saveenv persisted, A is bad (0)
  and the script boots slot b; and the host reads BOOT_A_LEFT=0 in DISK.env.fd;
- the guest writes an environment (A on trial, 2 tries) through the virtio
  view and reboots; boot 3's U-Boot boots a, counts and saves 1, and the
  guest reads 1 back;
- both slots at 0 with abide_good=B: the script falls back to b, unsaved.

Known limitation, reported and not hidden: Debian 12's QEMU (7.2+dfsg-7+deb12u4
and later) carries "hw/pflash: implement update buffer for block writes"
without its fix (QEMU issue 2343, "u-boot can do block writes to the first
flash block only"): U-Boot's saveenv reports "Flash buffer write timeout" and
only the first 4 KiB of the environment reach the flash. The environment is
seeded small enough (distro boot from virtio only) to lie in those 4 KiB, and
the harness completes the torn write after QEMU exits when U-Boot's own CRC
proves the result (abideqemu.complete_torn_saveenv). The test checks that the
harness did exactly that, prints "KNOWN-LIMITATION ..." and otherwise checks
the same as with a working flash; any other outcome fails.

The kernel and busybox are `apt-get download`ed (linux-image-arm64's current
ABI package, busybox-static:arm64; needs `dpkg --add-architecture arm64`)
and the disk is cached under <builddir>/tests/qemu/cache/arm64-harness-KEY.
Prints seconds from QEMU start to U-Boot, to the kernel's first line and to
the initramfs' line, per boot.
"""

import glob
import hashlib
import os
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("ABIDE_SRCDIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "qemu"))
from abideqemu import (Machine, MachineError, UBOOT_ARM64, UBOOT_ENV_DISK_SERIAL,  # noqa: E402
                       UBOOT_ENV_SIZE, read_uboot_env, uboot_env_image)

BUILDDIR = os.environ.get("ABIDE_BUILDDIR", "")
CACHE_ROOT = os.path.join(BUILDDIR, "tests", "qemu", "cache") if BUILDDIR else \
    os.path.join(tempfile.gettempdir(), "abide-arm64-harness-cache")
MODULES = ["virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci", "virtio_console", "virtio_blk",
           "i6300esb"]
# What the guest writes into the environment on boot 2 (as abidectl install would: A on trial again).
GUEST_ENV = {"BOOT_ORDER": "A B", "BOOT_A_LEFT": "2", "abide_good": "B", "bootdelay": "0"}
CMDLINE = "console=ttyAMA0 panic=5"
INIT = """#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
for m in virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console virtio_blk; do
        insmod /lib/modules/$m.ko
done
echo "arm64-guest: up, cmdline: $(cat /proc/cmdline)"
/usr/lib/abide/test-console.sh
echo "arm64-guest: test console ended"
sleep 1000000
"""


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def check(cond, msg):
    if not cond:
        fail(msg)


def run(*cmd, **kw):
    return subprocess.run(cmd, check=True, env=dict(os.environ, MTOOLS_SKIP_CHECK="1"), **kw)


def kernel_package():
    """linux-image-<ABI>-arm64 that linux-image-arm64:arm64 depends on (never a literal version)."""
    out = subprocess.run(["apt-cache", "depends", "linux-image-arm64:arm64"], capture_output=True,
                         text=True).stdout
    for line in out.splitlines():
        line = line.strip()
        if line.startswith("Depends: linux-image-"):
            return line.split()[1]
    fail("apt-cache knows no linux-image-arm64:arm64 (dpkg --add-architecture arm64 && apt-get update)")


def fetch_debs(dest, kpkg):
    os.makedirs(dest, exist_ok=True)
    want = {kpkg.split(":")[0]: kpkg, "busybox-static": "busybox-static:arm64"}
    for name, spec in want.items():
        if not glob.glob(os.path.join(dest, name + "_*_arm64.deb")):
            run("apt-get", "download", "-q", spec, cwd=dest, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    return [glob.glob(os.path.join(dest, n + "_*_arm64.deb"))[0] for n in want]


def cache_key(kpkg):
    h = hashlib.sha256()
    for p in (os.path.abspath(__file__), os.path.join(SRC, "builder/uboot/boot.cmd"),
              os.path.join(SRC, "builder/uboot/mkbootscr.sh"),
              os.path.join(SRC, "images/demo/testing/usr/lib/abide/test-console.sh")):
        with open(p, "rb") as f:
            h.update(f.read())
    h.update(kpkg.encode())
    return h.hexdigest()[:16]


def build_disk(cache, kdeb, bbdeb):
    """cache/disk.img (read-only master) from the two .debs; returns its path."""
    disk = os.path.join(cache, "disk.img")
    if os.path.exists(disk):
        return disk
    work = tempfile.mkdtemp(prefix="build.", dir=cache)
    kroot, bbroot, root = (os.path.join(work, d) for d in ("k", "bb", "initrd-root"))
    run("dpkg-deb", "-x", kdeb, kroot)
    run("dpkg-deb", "-x", bbdeb, bbroot)
    kernels = glob.glob(os.path.join(kroot, "boot", "vmlinuz-*"))
    check(len(kernels) == 1, "kernel package holds %s" % kernels)
    kernel = kernels[0]
    kver = os.path.basename(kernel)[len("vmlinuz-"):]
    # booti wants an uncompressed Image; Debian's arm64 vmlinuz is one (gzip'd ones are unpacked).
    with open(kernel, "rb") as f:
        gz = f.read(2) == b"\x1f\x8b"
    if gz:
        image = os.path.join(work, "Image")
        with open(image, "wb") as out:
            run("gzip", "-dc", kernel, stdout=out)
        kernel = image
    for d in ("bin", "proc", "sys", "dev", "run", "tmp", "lib/modules", "usr/lib/abide"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(os.path.join(bbroot, "bin", "busybox"), os.path.join(root, "bin", "busybox"))
    os.symlink("busybox", os.path.join(root, "bin", "sh"))
    for m in MODULES:
        found = glob.glob(os.path.join(kroot, "lib/modules", kver, "kernel/**/%s.ko" % m), recursive=True)
        check(len(found) == 1, "module %s not found in %s" % (m, os.path.basename(kdeb)))
        shutil.copy(found[0], os.path.join(root, "lib/modules"))
    shutil.copy(os.path.join(SRC, "images/demo/testing/usr/lib/abide/test-console.sh"),
                os.path.join(root, "usr/lib/abide/test-console.sh"))
    env = dict(GUEST_ENV, abide_cmdline_a=CMDLINE, abide_cmdline_b=CMDLINE)
    with open(os.path.join(root, "guest-env.bin"), "wb") as f:
        f.write(uboot_env_image(env, defaults="virtio")[:UBOOT_ENV_SIZE])
    with open(os.path.join(root, "init"), "w") as f:
        f.write(INIT)
    os.chmod(os.path.join(root, "init"), 0o755)
    initrd = os.path.join(work, "initrd")
    files = subprocess.run("cd %s && find . | sort" % root, shell=True, check=True, capture_output=True).stdout
    with open(initrd, "wb") as f:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-D", root], input=files, stdout=f, check=True)
    bootscr = os.path.join(work, "boot.scr")
    run(os.path.join(SRC, "builder/uboot/mkbootscr.sh"), "arm64", bootscr)

    size_mb = 2 * (os.path.getsize(kernel) + os.path.getsize(initrd)) // (1 << 20) + 16
    part = os.path.join(work, "boot.img")
    run("mkfs.vfat", "-C", "-F", "32", "-n", "BOOT", part, str(size_mb * 1024), stdout=subprocess.DEVNULL)
    run("mmd", "-i", part, "::/abide", "::/abide/a", "::/abide/b")
    for src, dst in ((bootscr, "/boot.scr"), (kernel, "/abide/a/vmlinuz"), (initrd, "/abide/a/initrd"),
                     (kernel, "/abide/b/vmlinuz"), (initrd, "/abide/b/initrd")):
        run("mcopy", "-i", part, src, "::" + dst)
    tmp = disk + ".tmp"
    with open(tmp, "wb") as f:
        f.truncate((size_mb + 2) * 1024 * 1024)
    run("sfdisk", "-q", tmp, input=('label: gpt\nstart=2048, size=%d, type=c12a7328-f81f-11d2-ba4b-00a0c93ec93b, '
                                    'name="esp"\n' % (size_mb * 2048)).encode())
    run("dd", "if=" + part, "of=" + tmp, "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none")
    os.rename(tmp, disk)
    shutil.rmtree(work)
    return disk


def saveenv_result(text):
    """'ok', 'qemu-2343' (the known QEMU pflash bug), 'failed' or None (no saveenv)."""
    if "Saving Environment to Flash" not in text:
        return None
    tail = text[text.index("Saving Environment to Flash"):]
    tail = tail[:tail.find("\n=>") if "\n=>" in tail else 2000][:2000]
    if "Flash buffer write timeout" in tail:
        return "qemu-2343"
    for line in tail.splitlines():
        if line.rstrip().endswith("OK") or line.strip() == "OK":
            return "ok"
    return "failed"


def main():
    for tool in ("qemu-system-aarch64", "mkimage", "mkfs.vfat", "mcopy", "mmd", "sfdisk", "cpio", "apt-get",
                 "dpkg-deb"):
        check(shutil.which(tool), "required tool %s not found (run scripts/install-deps.sh)" % tool)
    check(os.path.exists(UBOOT_ARM64), "%s missing (package u-boot-qemu)" % UBOOT_ARM64)
    t_start = time.monotonic()
    kpkg = kernel_package()
    debs = os.path.join(CACHE_ROOT, "arm64-debs")
    kdeb, bbdeb = fetch_debs(debs, kpkg)
    cache = os.path.join(CACHE_ROOT, "arm64-harness-" + cache_key(os.path.basename(kdeb)))
    os.makedirs(cache, exist_ok=True)
    master = build_disk(cache, kdeb, bbdeb)
    t_built = time.monotonic()

    work = tempfile.mkdtemp(prefix="abide-qemu-arm64.")
    disk = os.path.join(work, "disk.img")
    run("cp", "--sparse=always", master, disk)
    template = os.path.join(work, "env-initial.fd")
    with open(template, "wb") as f:
        f.write(uboot_env_image({"BOOT_ORDER": "A B", "BOOT_A_LEFT": "1", "abide_good": "B",
                                 "abide_cmdline_a": CMDLINE, "abide_cmdline_b": CMDLINE, "bootdelay": "0"},
                                defaults="virtio"))
    log = os.path.join(work, "console.log")
    figures = []
    ok = False
    try:
        envdev = ("$(for d in /sys/block/vd*; do [ \"$(cat $d/serial)\" = %s ] && echo /dev/${d##*/}; done)"
                  % UBOOT_ENV_DISK_SERIAL)
        with Machine(disk, log=log, arch="arm64", uboot_env=template, uboot_env_disk=True, max_boots=3,
                     deadline=900) as vm:
            # ---- boot 1: slot a on trial, its last try counted and saved.
            off1 = vm.wait_boot(1, timeout=30)
            t0 = vm.boot_started[0]
            vm.wait_for(r"^U-Boot \d{4}\.\d+", timeout=60, since=off1)
            t_uboot = time.monotonic() - t0
            vm.wait_for(r"Found U-Boot script /boot\.scr", timeout=120, since=off1)
            # (The script's echo shows no counter: U-Boot's hush does not expand ${...} inside the
            # single quotes of its message; the counter is read from the flash below.)
            vm.wait_for(r"^abide: slot a \(BOOT_A_LEFT=", timeout=60, since=off1)
            vm.wait_for(r"Linux version \d", timeout=240, since=off1)
            t_kernel = time.monotonic() - t0
            vm.wait_for(r"^arm64-guest: up", timeout=300, since=off1)
            t_init = time.monotonic() - t0
            figures.append((t_uboot, t_kernel, t_init))
            saved = saveenv_result(vm.console(off1))
            check(saved is not None, "boot.scr ran no saveenv after counting the try")
            rc, out = vm.run("cat /proc/cmdline", timeout=120, check=True)
            check("abide.slot=a" in out.split(), "kernel command line: %r" % out)
            check(CMDLINE in out, "abide_cmdline_a not passed: %r" % out)
            # The guest's view of the environment (the flash file as a virtio disk): U-Boot's save.
            rc, out = vm.run("dd if=%s bs=4096 count=1 2>/dev/null | tail -c +5 | tr '\\0' '\\n' | grep -a ^BOOT_" % envdev,
                             timeout=60)
            check(rc == 0 and "BOOT_A_LEFT=0" in out.split(), "guest reads the environment: %r" % out)

            # ---- the watchdog: i6300esb on the virt machine's PCIe, then left unfed.
            rc, out = vm.run("insmod /lib/modules/i6300esb.ko heartbeat=5 && ls /dev/watchdog0 && "
                             "cat /sys/class/watchdog/watchdog0/identity", timeout=120)
            check(rc == 0 and "/dev/watchdog0" in out, "i6300esb: %r (rc %d)" % (out, rc))
            print("watchdog: %s" % out.split("\n")[1].strip())
            vm.run("{ (exec 4>/dev/watchdog; sleep 1000) >/dev/null 2>&1 & }", timeout=60, check=True)
            t_armed = time.monotonic()

            # ---- boot 2: started by the harness after the watchdog reset ended QEMU.
            off2 = vm.wait_boot(2, timeout=120)
            t_reset = vm.boot_started[1] - t_armed
            check(vm.exits and vm.exits[0] == 0, "QEMU exit after the watchdog: %s" % vm.exits)
            t0 = vm.boot_started[1]
            vm.wait_for(r"^U-Boot \d{4}\.\d+", timeout=60, since=off2)
            t_uboot = time.monotonic() - t0
            m = vm.wait_for(r"^abide: (?:slot ([ab]) \(BOOT_|no slot .* falling back to slot ([ab]))",
                            timeout=180, since=off2)
            vm.wait_for(r"Linux version \d", timeout=240, since=off2)
            t_kernel = time.monotonic() - t0
            vm.wait_for(r"^arm64-guest: up", timeout=300, since=off2)
            t_init = time.monotonic() - t0
            figures.append((t_uboot, t_kernel, t_init))
            rc, out = vm.run("cat /proc/cmdline", timeout=120, check=True)
            out2 = out
            log_text = vm.console(0)
            slot2 = m.group(1) or m.group(2)
            fell_back = m.group(2) is not None
            bad_crc2 = "Loading Environment from Flash... *** Warning - bad CRC" in vm.console(off2)
            check("abide.slot=%s" % slot2 in out2.split(), "boot 2 command line %r, script chose %s" % (out2, slot2))
            # Boot 2's environment, as boot 1 saved it (slot b is good: boot 2 saves nothing).
            env = read_uboot_env(disk + ".env.fd")
            raw = read_uboot_env(disk + ".env.fd", check_crc=False)

            # ---- boot 3: the guest wrote the environment (A on trial, 2 tries); U-Boot must use it.
            vm.run("dd if=/guest-env.bin of=%s bs=4096 conv=fsync 2>&1" % envdev, timeout=60, check=True)
            vm.send("sync; reboot -f", timeout=30)
            off3 = vm.wait_boot(3, timeout=120)
            vm.wait_for(r"^abide: slot a \(BOOT_A_LEFT=", timeout=180, since=off3)
            vm.wait_for(r"Kernel command line: .*abide\.slot=a", timeout=240, since=off3)
            rc, out = vm.run("dd if=%s bs=4096 count=1 2>/dev/null | tail -c +5 | tr '\\0' '\\n' | grep -a ^BOOT_" % envdev,
                             timeout=120)
            check("BOOT_A_LEFT=1" in out.split(), "boot 3: guest reads %r, not the counted BOOT_A_LEFT=1" % out)
        print("watchdog reset: %.1f s from arming (heartbeat 5 s) to QEMU start 2" % t_reset)
        if saved not in ("ok", "qemu-2343"):
            fail("saveenv: %s (see %s)" % (saved, log))
        completed = "[abide-qemu] U-Boot environment: completed a saveenv torn" in log_text
        if saved == "qemu-2343":
            check(completed, "saveenv torn by QEMU's flash and not completed by the harness (see %s)" % log)
            print("KNOWN-LIMITATION: U-Boot's saveenv reported 'Flash buffer write timeout' (Debian 12's QEMU "
                  "keeps only the first 4 KiB of each erase block U-Boot writes; QEMU issue 2343); the harness "
                  "completed the write, verified by U-Boot's CRC, while QEMU ran (the guest read it) and after it exited")
        check(env is not None and raw is not None, "DISK.env.fd has no valid environment after two boots")
        check(not bad_crc2, "boot 2: U-Boot found no valid environment")
        check(slot2 == "b" and not fell_back, "boot 2 booted slot %s (fell back: %s), not b" % (slot2, fell_back))
        check(env.get("BOOT_A_LEFT") == "0" and "BOOT_B_LEFT" not in env and env.get("BOOT_ORDER") == "A B",
              "saved environment: BOOT_ORDER=%r BOOT_A_LEFT=%r BOOT_B_LEFT=%r"
              % (env.get("BOOT_ORDER"), env.get("BOOT_A_LEFT"), env.get("BOOT_B_LEFT")))
        check(not any(k in env for k in ("abide_slot", "abide_save", "abide_order", "abide_fb", "BOOT_SLOT")),
              "scratch variables saved: %s" % sorted(k for k in env if k.startswith("abide_") or k == "BOOT_SLOT"))
        print("environment persisted across the QEMU restart: boot 1 counted A 1 -> 0 and saved; "
              "boot 2 read it, skipped A (0: bad) and booted b")
        env3 = read_uboot_env(disk + ".env.fd")
        check(env3 and env3.get("BOOT_A_LEFT") == "1", "after boot 3: %r" % (env3 or {}).get("BOOT_A_LEFT"))
        print("guest -> U-Boot: boot 2 wrote BOOT_A_LEFT=2 through the virtio view (serial %s); boot 3's U-Boot "
              "read it, booted a and saved 1, which the guest read back" % UBOOT_ENV_DISK_SERIAL)

        # ---- no listed slot can boot (both at 0): the script falls back to abide_good, uncounted.
        os.unlink(disk + ".env.fd")
        with open(template, "wb") as f:
            f.write(uboot_env_image({"BOOT_ORDER": "A B", "BOOT_A_LEFT": "0", "BOOT_B_LEFT": "0", "abide_good": "B",
                                     "abide_cmdline_a": CMDLINE, "abide_cmdline_b": CMDLINE, "bootdelay": "0"},
                                    defaults="virtio"))
        with Machine(disk, log=log, arch="arm64", uboot_env=template, max_boots=1, deadline=300,
                     test_console=False) as vm:
            off = vm.wait_boot(1, timeout=30)
            vm.wait_for(r"^abide: no slot in BOOT_ORDER .* falling back to slot b$", timeout=120, since=off)
            vm.wait_for(r"Kernel command line: .*abide\.slot=b", timeout=240, since=off)
            check("Saving Environment" not in vm.console(off), "the fallback boot saved the environment")
        print("fallback: BOOT_A_LEFT=0 BOOT_B_LEFT=0 abide_good=B -> slot b, nothing saved")
        ok = True
    except MachineError as e:
        fail(str(e))
    finally:
        for i, (u, k, n) in enumerate(figures, 1):
            print("FIGURE arm64 boot %d: U-Boot banner %.1f s, kernel's first line %.1f s, initramfs line %.1f s "
                  "after QEMU start" % (i, u, k, n))
        print("FIGURE arm64 harness: disk ready after %.1f s, whole test %.1f s"
              % (t_built - t_start, time.monotonic() - t_start))
        if ok:
            shutil.rmtree(work)
        else:
            keep = os.environ.get("ABIDE_QEMU_LOGDIR")
            if keep and os.path.exists(log):
                os.makedirs(keep, exist_ok=True)
                shutil.copy(log, os.path.join(keep, "test-arm64-harness.console.log"))
            print("console log kept: %s" % log, file=sys.stderr)
    print("OK")


if __name__ == "__main__":
    main()
