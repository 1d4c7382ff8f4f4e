#!/usr/bin/python3
"""A factory disk from abide-build disk boots under OVMF: systemd-boot picks
slot A's entry without a menu, the kernel gets the signed command line plus
abide.slot=a, and the initramfs's init starts. Prints seconds to the kernel's
first line and to the initramfs. (The scenarios past abide-init live in
their own tests.)"""

import os
import shutil
import subprocess
import sys
import tempfile
import time

SRC = os.environ["ABIDE_SRCDIR"]
BUILD = os.environ["ABIDE_BUILD"]
INIT = os.path.join(os.environ["ABIDE_BUILDDIR"], "bootctl/init/abide-init")
sys.path.insert(0, os.path.join(SRC, "qemu"))
from abideqemu import Machine, MachineError  # noqa: E402

RECIPE = """[Image]
Name=factory-test
Version=1.0.0
Compatible=abide-test-x86_64
Filesystem=erofs

[Content]
Layer=tree:%s/images/example/rootfs

[Boot]
Kernel=/boot/vmlinuz-*
Cmdline=console=ttyS0 panic=5
Tries=3
"""


def fail(msg):
    print("FAIL: " + msg, file=sys.stderr)
    sys.exit(1)


def main():
    work = tempfile.mkdtemp(prefix="abide-factory-boot.")
    ok = False
    log = os.path.join(work, "console.log")
    try:
        sh = lambda *a: subprocess.run(a, check=True, stdout=subprocess.DEVNULL)
        sh(BUILD, "keygen", "-o", work + "/keys")
        with open(work + "/r.conf", "w") as f:
            f.write(RECIPE % SRC)
        sh(BUILD, "build", work + "/r.conf", "--key", work + "/keys/signing.key", "--cert",
           work + "/keys/signing.crt", "--ca", work + "/keys/ca.pem", "--init", INIT, "-o", work)
        disk = work + "/disk.img"
        sh(BUILD, "disk", work + "/factory-test-1.0.0.abide", "--cert", work + "/keys/ca.pem", "-o", disk)

        with Machine(disk, log=log, deadline=300, test_console=False) as vm:
            t0 = time.monotonic()
            vm.wait_for(r"BdsDxe: starting Boot.*UEFI Misc Device", timeout=120)
            vm.wait_for(r"Linux version \d", timeout=120)
            t_kernel = time.monotonic() - t0
            vm.wait_for(r"Kernel command line: initrd=\\abide\\a\\initrd console=ttyS0 panic=5 abide\.slot=a$",
                        timeout=60)
            vm.wait_for(r"Run /init as init process", timeout=120)
            t_init = time.monotonic() - t0
            vm.wait_for(r"^abide-init", timeout=60)
        text = open(log, errors="replace").read()
        if "Boot in" in text:
            fail("systemd-boot showed a menu")

        # A second abide disk attached (another build, like a reflash stick):
        # abide-init looks only on the disk the loader started from, so the
        # labels are not ambiguous and the right slot is verified and mounted.
        sh(BUILD, "build", work + "/r.conf", "--key", work + "/keys/signing.key", "--cert",
           work + "/keys/signing.crt", "--ca", work + "/keys/ca.pem", "--init", INIT, "-o", work,
           "--set", "Image.Version=1.0.1")
        other = work + "/other.img"
        sh(BUILD, "disk", work + "/factory-test-1.0.1.abide", "--cert", work + "/keys/ca.pem", "-o", other)
        with Machine(disk, log=log, deadline=300, test_console=False, extra_drives=[other]) as vm:
            off = vm.offset()
            vm.wait_for(r"^abide-init: loader started from the ESP [0-9a-f-]+: looking on its disk only$",
                        timeout=180, since=off)
            vm.wait_for(r"^abide-init: slot a: root /dev/vda2, verity /dev/vda3, signature /dev/vda4, data /dev/vda8$",
                        timeout=60, since=off)
            # (the example image has no /var, so the boot ends at the mount step)
            vm.wait_for(r"^abide-init: slot a: dm-verity active on /dev/mapper/abide-root$", timeout=60, since=off)
        print("seconds to the kernel's first line: %.1f, to the initramfs's init: %.1f" % (t_kernel, t_init))
        ok = True
    except (MachineError, subprocess.CalledProcessError) as e:
        fail(str(e))
    finally:
        if ok:
            shutil.rmtree(work)
        else:
            keep = os.environ.get("ABIDE_QEMU_LOGDIR")
            if keep and os.path.exists(log):
                os.makedirs(keep, exist_ok=True)
                shutil.copy(log, os.path.join(keep, "test-factory-boot.console.log"))
            print("console log kept: %s" % log, file=sys.stderr)
    print("OK")


if __name__ == "__main__":
    main()
