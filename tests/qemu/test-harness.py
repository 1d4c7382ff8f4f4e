#!/usr/bin/python3
"""Self-test of qemu/abideqemu.py on a throwaway disk: OVMF + systemd-boot +
the host's Debian kernel + a busybox initramfs that runs the image's
test-console.sh. Checks: console waits, commands over the test console
(output bytes, exit status), restart after a guest reboot with -no-reboot,
the i6300esb watchdog resetting the guest, systemd-boot's counter on the
disk across QEMU starts (VARS kept next to the disk), and in-place reboots.
Prints seconds per boot to the kernel's first line.

Env: ABIDE_SRCDIR (source tree), ABIDE_QEMU_LOGDIR (where logs are kept on
failure; default: the scratch dir is kept).
"""

import glob
import os
import shutil
import stat
import subprocess
import sys
import tempfile
import time

SRC = os.environ.get("ABIDE_SRCDIR") or os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
sys.path.insert(0, os.path.join(SRC, "qemu"))
from abideqemu import Machine, MachineError  # noqa: E402

SDBOOT = "/usr/lib/systemd/boot/efi/systemd-bootx64.efi"
MODULES = ["virtio", "virtio_ring", "virtio_pci_legacy_dev", "virtio_pci_modern_dev", "virtio_pci",
           "virtio_console", "watchdog", "i6300esb"]
INIT = """#!/bin/sh
/bin/busybox --install -s /bin
mount -t proc proc /proc
mount -t sysfs sys /sys
mount -t devtmpfs dev /dev
mount -t tmpfs run /run
for m in virtio_ring virtio virtio_pci_legacy_dev virtio_pci_modern_dev virtio_pci virtio_console; do
        insmod /lib/modules/$m.ko
done
echo "selftest-guest: up"
/usr/lib/abide/test-console.sh
echo "selftest-guest: test console ended"
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


def make_initrd(work):
    root = os.path.join(work, "initrd")
    for d in ("bin", "proc", "sys", "dev", "run", "tmp", "lib/modules", "usr/lib/abide"):
        os.makedirs(os.path.join(root, d), exist_ok=True)
    shutil.copy(shutil.which("busybox"), os.path.join(root, "bin/busybox"))
    os.symlink("busybox", os.path.join(root, "bin/sh"))
    kver = os.path.basename(KERNEL)[len("vmlinuz-"):]
    for m in MODULES:
        found = glob.glob("/lib/modules/%s/kernel/**/%s.ko" % (kver, m), recursive=True)
        check(len(found) == 1, "module %s not found for %s" % (m, kver))
        shutil.copy(found[0], os.path.join(root, "lib/modules"))
    shutil.copy(os.path.join(SRC, "images/demo/testing/usr/lib/abide/test-console.sh"),
                os.path.join(root, "usr/lib/abide/test-console.sh"))
    with open(os.path.join(root, "init"), "w") as f:
        f.write(INIT)
    os.chmod(os.path.join(root, "init"), 0o755)
    out = os.path.join(work, "initrd.img")
    files = subprocess.run("cd %s && find . | sort" % root, shell=True, check=True,
                           capture_output=True).stdout
    with open(out, "wb") as f:
        subprocess.run(["cpio", "-o", "-H", "newc", "--quiet", "-D", root], input=files, stdout=f, check=True)
    return out


def make_disk(work, initrd):
    esp = os.path.join(work, "esp.img")
    disk = os.path.join(work, "disk.img")
    run("mkfs.vfat", "-C", "-F", "32", "-n", "ESP", esp, str(64 * 1024), stdout=subprocess.DEVNULL)
    run("mmd", "-i", esp, "::/EFI", "::/EFI/BOOT", "::/loader", "::/loader/entries", "::/abide", "::/abide/a")
    conf = os.path.join(work, "loader.conf")
    entry = os.path.join(work, "entry.conf")
    with open(conf, "w") as f:
        f.write("timeout 0\neditor no\nauto-entries no\nauto-firmware no\nconsole-mode keep\n")
    with open(entry, "w") as f:
        f.write("title selftest\nversion 1\nsort-key abide\nlinux /abide/a/vmlinuz\ninitrd /abide/a/initrd\n"
                "options console=ttyS0 panic=1 abide.slot=a\n")
    for src, dst in ((SDBOOT, "/EFI/BOOT/BOOTX64.EFI"), (KERNEL, "/abide/a/vmlinuz"), (initrd, "/abide/a/initrd"),
                     (conf, "/loader/loader.conf"), (entry, "/loader/entries/abide-a+3.conf")):
        run("mcopy", "-i", esp, src, "::" + dst)
    with open(disk, "wb") as f:
        f.truncate(66 * 1024 * 1024)
    run("sfdisk", "-q", disk, input=b'label: gpt\nstart=2048, size=131072, '
        b'type=c12a7328-f81f-11d2-ba4b-00a0c93ec93b, name="esp"\n')
    run("dd", "if=" + esp, "of=" + disk, "bs=1M", "seek=1", "conv=notrunc,sparse", "status=none")
    return disk


def entries(disk):
    out = run("mdir", "-b", "-i", disk + "@@1M", "::/loader/entries", capture_output=True, text=True).stdout
    return sorted(os.path.basename(l.strip()) for l in out.splitlines() if l.strip())


def banner_seconds(vm, boot):
    """Seconds from QEMU start of boot (1-based) to the kernel's first line."""
    vm.wait_for(r"Linux version \d", timeout=120, since=vm.wait_boot(boot, timeout=120))
    return time.monotonic() - vm.boot_started[boot - 1]


def main():
    global KERNEL
    for tool in ("qemu-system-x86_64", "mkfs.vfat", "mcopy", "mdir", "sfdisk", "cpio", "busybox"):
        check(shutil.which(tool), "required tool %s not found (run scripts/install-deps.sh)" % tool)
    kernels = sorted(glob.glob("/boot/vmlinuz-*"))
    check(kernels and os.path.exists(SDBOOT), "needs /boot/vmlinuz-* and systemd-boot-efi")
    KERNEL = kernels[-1]

    work = tempfile.mkdtemp(prefix="abide-qemu-selftest.")
    disk = make_disk(work, make_initrd(work))
    log = os.path.join(work, "console.log")
    per_boot = []
    ok = False
    try:
        # 1. -no-reboot: three QEMU starts (guest reboot, watchdog reset), one disk, one VARS file.
        with Machine(disk, log=log, max_boots=3, deadline=600) as vm:
            per_boot.append(banner_seconds(vm, 1))
            vm.wait_for(r"^selftest-guest: up", timeout=120)
            rc, out = vm.run("echo hello; echo err >&2; printf 'no newline'", timeout=60)
            check(rc == 0 and out == "hello\nerr\nno newline", "command output: %r rc %d" % (out, rc))
            rc, out = vm.run("exit 7", timeout=30)
            check(rc == 7 and out == "", "exit status: %d %r" % (rc, out))
            rc, out = vm.run("cat /proc/cmdline", timeout=30)
            check("abide.slot=a" in out, "guest cmdline: %r" % out)
            try:
                vm.run("false", timeout=30, check=True)
                fail("check=True accepted a failing command")
            except MachineError:
                pass
            check(entries(disk) == ["abide-a+2-1.conf"], "after boot 1: %s" % entries(disk))

            vm.send("sync; reboot -f", timeout=30)
            per_boot.append(banner_seconds(vm, 2))
            vm.wait_for(r"^selftest-guest: up", timeout=120, since=vm.boot_offsets[1])
            check(vm.boot_count() == 2, "boot count %d" % vm.boot_count())
            rc, out = vm.run("echo second", timeout=60)
            check(out == "second\n", "second boot: %r" % out)
            check(entries(disk) == ["abide-a+1-2.conf"], "after boot 2: %s" % entries(disk))

            # Nobody feeds the watchdog: -action watchdog=reset with -no-reboot ends QEMU, boot 3 follows.
            vm.run("insmod /lib/modules/watchdog.ko && insmod /lib/modules/i6300esb.ko heartbeat=3 && "
                   "{ (exec 4>/dev/watchdog; sleep 1000) >/dev/null 2>&1 & }", timeout=30, check=True)
            per_boot.append(banner_seconds(vm, 3))
            vm.wait_for(r"^selftest-guest: up", timeout=120, since=vm.boot_offsets[2])
            check(vm.boot_count() == 3, "watchdog did not reset: boot count %d" % vm.boot_count())
            check(entries(disk) == ["abide-a+0-3.conf"], "after boot 3: %s" % entries(disk))
            vm.run("true", timeout=60, check=True)
        check(os.path.getsize(disk + ".vars.fd") == os.path.getsize("/usr/share/OVMF/OVMF_VARS_4M.fd"),
              "VARS copy not kept next to the disk")

        # 2. in place: the guest reboots inside one QEMU; a bad entry (+0) is still the only one, so it boots.
        with Machine(disk, log=log, no_reboot=False, deadline=300) as vm:
            vm.wait_for(r"^selftest-guest: up", timeout=120)
            vm.send("sync; reboot -f", timeout=30)
            start = vm.offset()
            vm.wait_for(r"^selftest-guest: up", timeout=120, since=start)
            check(vm.boot_count() == 2, "in-place boot count %d" % vm.boot_count())
            check(vm.boots == 1, "in-place mode restarted QEMU")
            vm.run("true", timeout=60, check=True)

        # 3. a command that never answers fails within its timeout, naming the log.
        with Machine(disk, log=log, deadline=120, test_console=False) as vm:
            t = time.monotonic()
            try:
                vm.run("true", timeout=5)
                fail("run without a test console succeeded")
            except MachineError as e:
                check(log in str(e) and time.monotonic() - t < 15, "bad failure: %s" % e)
        ok = True
    except MachineError as e:
        fail(str(e))
    finally:
        if per_boot:
            print("seconds from QEMU start to the kernel's first line, per boot: %s" %
                  ", ".join("%.1f" % s for s in per_boot))
        if ok:
            shutil.rmtree(work)
        else:
            keep = os.environ.get("ABIDE_QEMU_LOGDIR")
            if keep:
                os.makedirs(keep, exist_ok=True)
                shutil.copy(log, os.path.join(keep, "test-harness.console.log"))
            print("console log kept: %s" % log, file=sys.stderr)
    print("OK")


if __name__ == "__main__":
    main()
