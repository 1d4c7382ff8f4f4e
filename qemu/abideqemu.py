#!/usr/bin/python3
"""Boots an abide disk image in QEMU (TCG) for tests: x86-64 under OVMF +
systemd-boot, or arm64 (virt, cortex-a57) under Debian's U-Boot (qemu_arm64).

Python 3 standard library only. See qemu/README.md for the command line,
the log format and the test console protocol.

    from abideqemu import Machine
    with Machine("disk.img", log="boot.log", max_boots=3, deadline=600) as vm:
        vm.wait_for(r"sentinel: healthy", timeout=120)
        rc, out = vm.run("abidectl status --json", timeout=60)
"""

import argparse
import os
import re
import shutil
import socket
import subprocess
import sys
import threading
import time

OVMF_CODE = "/usr/share/OVMF/OVMF_CODE_4M.fd"
OVMF_VARS = "/usr/share/OVMF/OVMF_VARS_4M.fd"
# QEMU's firmware descriptors (docs/interop/firmware.json): where the Secure
# Boot build of OVMF is found without naming a package or its version.
FIRMWARE_DESCRIPTORS = ("/usr/share/qemu/firmware", "/etc/qemu/firmware")
# Debian's paths, used when no descriptor names a Secure Boot firmware.
OVMF_SECBOOT_CODE = "/usr/share/OVMF/OVMF_CODE_4M.secboot.fd"
# Debian's u-boot-qemu. It keeps its environment in the second CFI flash bank
# (CONFIG_ENV_IS_IN_FLASH at 0x04000000: offset 0 of pflash unit 1, 0x40000
# bytes, one copy, CRC32 + NUL-separated text); the bank must be 64 MiB.
UBOOT_ARM64 = "/usr/lib/u-boot/qemu_arm64/u-boot.bin"
UBOOT_ENV_FLASH_SIZE = 64 * 1024 * 1024
UBOOT_ENV_OFFSET = 0
UBOOT_ENV_SIZE = 0x40000
# The name of the virtio-serial port the guest's test console listens on.
TEST_PORT_NAME = "org.abide.test.0"
BOOT_MARKER = "[abide-qemu] boot %d started"
EXIT_MARKER = "[abide-qemu] boot %d ended: qemu exit %s after %.1f s"


# The kernel prints its messages on the serial console straight to the UART,
# while a process's line may still be in the tty's buffer: the message then
# lands inside that line, as in
#   abide-init: modu[    3.600358] watchdog: watchdog0: watchdog did not stop!
#   les: 29 loaded, 2 for absent hardware
# (the watchdog message was set off by abide-init's next step).
# A message at 0.000000 s tears nothing: no process runs yet, and what comes
# before it on its line is the boot loader's or firmware's (x86's "Probing
# EDD ... ok" and a terminal reset, without a line end).
_KMSG = r"\[ *[0-9]+\.[0-9]{6}\] "
_KMSG_INSIDE = re.compile(r"^(?!%s)([^\r\n]+?)((?!\[ *0\.000000\] )%s[^\r\n]*\r?\n)" % (_KMSG, _KMSG), re.M)


def untangle(text):
    """text with each kernel message that landed inside a line moved out, before
    that line, which is then whole again. Kernel messages are never torn (the
    kernel writes each with the port locked), so a line that starts as one is
    left as it is; only a process's lines are torn."""
    while True:
        new = _KMSG_INSIDE.sub(lambda m: m.group(2) + m.group(1), text)
        if new == text:
            return text
        text = new


class MachineError(Exception):
    """A wait or command that did not succeed; the message names the log."""


def find_secure_boot_ovmf():
    """(code, blank vars) of an x86-64 q35 OVMF with Secure Boot and SMM whose
    variable store starts empty (setup mode: no keys enrolled), from QEMU's
    firmware descriptors; Debian's paths when none matches."""
    import glob
    import json
    candidates = []
    for d in FIRMWARE_DESCRIPTORS:
        for path in sorted(glob.glob(os.path.join(d, "*.json"))):
            try:
                with open(path) as f:
                    desc = json.load(f)
                mapping = desc["mapping"]
                features = set(desc.get("features", ()))
                targets = desc.get("targets", ())
                code = mapping["executable"]["filename"]
                template = mapping["nvram-template"]["filename"]
            except (OSError, ValueError, KeyError, TypeError):
                continue
            if "uefi" not in desc.get("interface-types", ()) or mapping.get("device") != "flash":
                continue
            # enrolled-keys: a store with Microsoft's keys, not setup mode.
            if "secure-boot" not in features or "enrolled-keys" in features:
                continue
            if not any(t.get("architecture") == "x86_64" and any(m.startswith("pc-q35") for m in t.get("machines", ()))
                       for t in targets):
                continue
            if os.path.exists(code) and os.path.exists(template):
                candidates.append((os.path.basename(path), code, template))
    if candidates:
        # Descriptors are ordered by their names' priority prefix.
        return candidates[0][1], candidates[0][2]
    return OVMF_SECBOOT_CODE, OVMF_VARS


def vars_path_for(disk):
    """The OVMF variable store kept next to a disk, so loader variables persist."""
    return disk + ".vars.fd"


def env_path_for(disk):
    """arm64: the U-Boot environment flash (pflash unit 1) kept next to a disk."""
    return disk + ".env.fd"


# Debian 12's QEMU (7.2+dfsg-7+deb12u4 and later) has "hw/pflash: implement update
# buffer for block writes" without its fix (QEMU issue 2343): the write buffer is
# placed at the address of the buffer-size write, which U-Boot issues at the
# erase block's start, so only the first write block (4 KiB here) of each erase
# block keeps U-Boot's data; later buffers are dropped. saveenv then leaves the
# environment's first 4 KiB written and the rest erased: a bad CRC.
UBOOT_FLASH_WRITEBLOCK = 4096
# The serial of the environment's virtio disk (Machine(uboot_env_disk=True)):
# /sys/block/vdX/serial in the guest.
UBOOT_ENV_DISK_SERIAL = "abide-uboot-env"
# Default variables for boot targets other than virtio0 (and the network): dropped
# by uboot_env_image(defaults="virtio") so the environment text fits in that 4 KiB.
_UBOOT_NON_VIRTIO = ("bootcmd_qfw", "bootcmd_usb0", "bootcmd_scsi0", "bootcmd_nvme0", "bootcmd_dhcp",
                     "usb_boot", "scsi_init", "scsi_boot", "nvme_init", "nvme_boot", "boot_net_usb_start",
                     "boot_script_dhcp", "pxefile_addr_r")


def uboot_env_image(variables, uboot=UBOOT_ARM64, defaults="all"):
    """An environment flash image (bytes, UBOOT_ENV_FLASH_SIZE long) that U-Boot
    loads instead of its built-in default: U-Boot's own defaults (read from
    u-boot.bin, so bootcmd and the distro boot variables stay) with
    variables (a dict; None unsets) on top. defaults="virtio": only distro
    boot from virtio disks (boot_targets=virtio0), small enough that a
    saveenv survives this QEMU's flash (see complete_torn_saveenv); None: no
    defaults at all."""
    import zlib
    env = {}
    if defaults:
        with open(uboot, "rb") as f:
            blob = f.read()
        # The default environment is NUL-separated text from bootcmd= on, ending in two NULs.
        start = blob.rfind(b"\0bootcmd=", 0, blob.find(b"\0arch=arm\0")) + 1
        if start <= 0:
            raise MachineError("no default environment found in %s" % uboot)
        end = blob.index(b"\0\0", start)
        for item in blob[start:end].split(b"\0"):
            k, _, v = item.decode().partition("=")
            env[k] = v
        if defaults == "virtio":
            for k in _UBOOT_NON_VIRTIO:
                env.pop(k, None)
            env["boot_targets"] = "virtio0"
    for k, v in variables.items():
        if v is None:
            env.pop(k, None)
        else:
            env[k] = str(v)
    data = b"".join(("%s=%s" % (k, env[k])).encode() + b"\0" for k in sorted(env)) + b"\0"
    if len(data) > UBOOT_ENV_SIZE - 4:
        raise MachineError("environment too large")
    data += b"\0" * (UBOOT_ENV_SIZE - 4 - len(data))
    image = zlib.crc32(data).to_bytes(4, "little") + data
    return image + b"\0" * (UBOOT_ENV_FLASH_SIZE - len(image))


def complete_torn_saveenv(path):
    """Completes a saveenv that this QEMU's flash tore (see UBOOT_FLASH_WRITEBLOCK):
    when the environment's CRC is bad but the text (up to its closing NULs) lies
    in the first write block and the stored CRC is exactly that of the text
    followed by zeros -- what U-Boot wrote -- the zeros are written back. The
    CRC proves the result is U-Boot's own environment; anything else is left
    alone (U-Boot then uses its default, as on a board). Returns True when it
    completed one."""
    import zlib
    with open(path, "r+b") as f:
        f.seek(UBOOT_ENV_OFFSET)
        image = f.read(UBOOT_ENV_SIZE)
        if len(image) < UBOOT_ENV_SIZE:
            return False
        stored = int.from_bytes(image[:4], "little")
        if zlib.crc32(image[4:]) == stored:
            return False
        end = image.find(b"\0\0", 4)
        if end < 0 or end + 2 > UBOOT_FLASH_WRITEBLOCK:
            return False
        data = image[4:end + 2] + b"\0" * (UBOOT_ENV_SIZE - end - 2)
        if zlib.crc32(data) != stored:
            return False
        f.seek(UBOOT_ENV_OFFSET + 4)
        f.write(data)
    return True


def read_uboot_env(path, check_crc=True):
    """The variables in an environment flash image, or None when its CRC is bad
    (U-Boot then runs on its built-in default). check_crc=False parses the
    text anyway (what a torn saveenv left)."""
    import zlib
    with open(path, "rb") as f:
        f.seek(UBOOT_ENV_OFFSET)
        image = f.read(UBOOT_ENV_SIZE)
    if check_crc and (len(image) < UBOOT_ENV_SIZE
                      or zlib.crc32(image[4:]) != int.from_bytes(image[:4], "little")):
        return None
    env = {}
    for item in image[4:].split(b"\0\0", 1)[0].split(b"\0"):
        if item:
            k, _, v = item.decode(errors="replace").partition("=")
            env[k] = v
    return env


class Machine:
    """One disk, booted as often as it takes.

    arch="x86-64" (default): q35 + OVMF + systemd-boot, VARS in DISK.vars.fd.
    arch="arm64": virt + cortex-a57 + Debian's U-Boot (-bios), its environment
    flash in DISK.env.fd (created from uboot_env, a file, when missing; else
    empty: U-Boot's built-in default), the console on the PL011 (ttyAMA0).

    no_reboot=True: QEMU runs with -no-reboot, so a guest reboot (or a
    watchdog reset, or panic=N) ends QEMU; the harness starts it again with
    the same disk and VARS until max_boots boots were started. With
    no_reboot=False the guest reboots inside one QEMU process and the boot
    count comes from console lines matching boot_line.

    deadline bounds the whole run in seconds: QEMU is killed when it passes
    and every wait fails after it.

    cpus defaults to 1. Under TCG a second vCPU made a boot slower, not
    faster (x86 QEMU start -> boot-check 22.6 s with two, 20.5 s with one;
    two machines side by side, four vCPU threads on two host cores, 28 s
    against 21 s; the arm64 harness test 37 s against 25 s; 2026-12-07).
    """

    def __init__(self, disk, log=None, memory=1024, cpus=1, no_reboot=True, max_boots=1,
                 deadline=900, test_console=True, extra_args=(), extra_drives=(), ovmf_code=OVMF_CODE,
                 ovmf_vars=OVMF_VARS, boot_line=r"Linux version \d", disk_options="", network=False,
                 arch="x86-64", uboot=UBOOT_ARM64, uboot_env=None, fix_torn_saveenv=True,
                 uboot_env_disk=False, secure_boot=False):
        if arch not in ("x86-64", "arm64"):
            raise ValueError("arch: x86-64 or arm64, not %r" % arch)
        if secure_boot and arch != "x86-64":
            raise ValueError("secure_boot: x86-64 only")
        # OVMF's Secure Boot build: SMM protects its variable store, so the
        # machine needs SMM and a flash the guest's OS cannot write directly.
        self.secure_boot = secure_boot
        if secure_boot and ovmf_code == OVMF_CODE and ovmf_vars == OVMF_VARS:
            ovmf_code, ovmf_vars = find_secure_boot_ovmf()
        self.arch = arch
        self.disk = os.path.abspath(disk)
        self.log = os.path.abspath(log or self.disk + ".console.log")
        self.vars = vars_path_for(self.disk) if arch == "x86-64" else env_path_for(self.disk)
        self.uboot = uboot
        self.uboot_env_template = uboot_env
        # arm64: after each QEMU exit, complete a saveenv torn by QEMU's flash (complete_torn_saveenv).
        self.fix_torn_saveenv = fix_torn_saveenv
        # arm64: the environment flash file also as a raw virtio disk (serial
        # UBOOT_ENV_DISK_SERIAL), the guest's stand-in for the /dev/mtdN that
        # Debian's arm64 kernel cannot provide (no CFI flash driver).
        self.uboot_env_disk = uboot_env_disk
        self.memory = memory
        self.cpus = cpus
        self.no_reboot = no_reboot
        self.max_boots = max_boots
        self.deadline = time.monotonic() + deadline
        self.test_console = test_console
        self.extra_args = list(extra_args)
        # Read-only raw virtio disks after the boot disk (vdb, vdc, ... in the
        # guest), e.g. bundles to install without a network.
        self.extra_drives = [os.path.abspath(d) for d in extra_drives]
        # More -drive options for the boot disk, e.g. "throttling.bps-write=6291456".
        self.disk_options = disk_options
        # A virtio NIC on QEMU's user-mode network: the guest gets 10.0.2.15 by
        # DHCP and reaches the host's loopback at 10.0.2.2. Off by default.
        self.network = network
        self.ovmf_code = ovmf_code
        self.ovmf_vars_template = ovmf_vars
        self.boot_line = re.compile(boot_line)
        self.sock_path = self.disk + ".test.sock"
        self.boots = 0            # QEMU starts
        self.exits = []           # QEMU exit codes, one per ended start
        self._stderr_from = 0
        self.proc = None
        self._stop = threading.Event()
        self._lock = threading.Lock()
        self._thread = None
        self._conn = None
        self._conn_buf = b""
        self._agent_ok = False
        self._cmd_id = 0
        self.boot_offsets = []    # log offset where each boot starts
        self.boot_started = []    # time.monotonic() of each QEMU start

    # ---- lifecycle -------------------------------------------------------

    def command_line(self):
        firmware = self.ovmf_code if self.arch == "x86-64" else self.uboot
        for f in [firmware, self.disk] + self.extra_drives:
            if not os.path.exists(f):
                raise MachineError("%s not found" % f)
        if self.arch == "x86-64":
            args = ["qemu-system-x86_64", "-accel", "tcg", "-machine", "q35,smm=on" if self.secure_boot else "q35"]
            if self.secure_boot:
                # Only SMM code may write the variable flash, so the OS cannot bypass
                # the authenticated variables (PK, KEK, db) by writing the flash itself.
                args += ["-global", "driver=cfi.pflash01,property=secure,value=on"]
            firmware_args = [
                "-drive", "if=pflash,format=raw,unit=0,readonly=on,file=" + self.ovmf_code,
                "-drive", "if=pflash,format=raw,unit=1,file=" + self.vars]
        else:
            # -bios puts U-Boot in flash bank 0; bank 1 holds its environment.
            args = ["qemu-system-aarch64", "-accel", "tcg", "-machine", "virt", "-cpu", "cortex-a57"]
            # With the environment disk both views share the file: locking off. U-Boot reads
            # the flash when QEMU starts; the guest's writes reach it at the next QEMU start.
            shared = ",file.locking=off" if self.uboot_env_disk else ""
            firmware_args = ["-bios", self.uboot,
                             "-drive", "if=pflash,format=raw,unit=1,file=" + self.vars + shared]
        args += [
            "-m", str(self.memory), "-smp", str(self.cpus),
            "-nographic", "-nodefaults", "-no-user-config",
            "-device", "i6300esb", "-action", "watchdog=reset",
        ] + firmware_args + [
            "-drive", "file=%s,format=raw,if=virtio,cache=unsafe%s" % (self.disk,
                                                                      "," + self.disk_options if self.disk_options else ""),
            "-chardev", "file,id=serial0,path=%s,append=on" % self.log,
            "-serial", "chardev:serial0",
            "-monitor", "none",
        ]
        for d in self.extra_drives:
            # A .qcow2 drive is an overlay over a bundle (tests/qemu/scenarios.py, bundle_drive()).
            args += ["-drive", "file=%s,format=%s,if=virtio,readonly=on" % (d, "qcow2" if d.endswith(".qcow2") else "raw")]
        if self.arch == "arm64" and self.uboot_env_disk:
            # In the last PCI slot, so it is enumerated after the boot disk (U-Boot's virtio 0,
            # the guest's vda) and the extra drives (vdb, vdc, ...); found in the guest by its serial.
            args += ["-drive", "if=none,id=ubootenv,format=raw,cache=writethrough,file.locking=off,file=" + self.vars,
                     "-device", "virtio-blk-pci,drive=ubootenv,addr=0x1f,serial=" + UBOOT_ENV_DISK_SERIAL]
        if self.network:
            # A fixed PCI slot, away from the automatic ones: the disks keep their
            # device paths, so OVMF boot options recorded without a NIC still match.
            args += ["-netdev", "user,id=net0,net=10.0.2.0/24,host=10.0.2.2,ipv6=off",
                     "-device", "virtio-net-pci,netdev=net0,addr=0x10"]
        if self.no_reboot:
            args.append("-no-reboot")
        if self.test_console:
            args += ["-device", "virtio-serial-pci",
                     "-chardev", "socket,id=abidetest,path=%s,server=on,wait=off" % self.sock_path,
                     "-device", "virtserialport,chardev=abidetest,name=" + TEST_PORT_NAME]
        return args + self.extra_args

    def _signal_note(self):
        """QEMU exits 0 on SIGTERM, SIGINT and SIGHUP as after a guest reboot; its stderr then names
        the signal and who sent it. That line of the boot that just ended, for its exit note."""
        try:
            with open(self.log + ".qemu-stderr", "rb") as f:
                f.seek(self._stderr_from)
                text = f.read().decode("utf-8", "replace")
        except OSError:
            return ""
        lines = [l.strip() for l in text.splitlines() if "terminating on signal" in l]
        return " (%s)" % lines[-1] if lines else ""

    def _note(self, text):
        with open(self.log, "a") as f:
            f.write("\n%s\n" % text)

    def _start_one(self):
        if not os.path.exists(self.vars):
            if self.arch == "x86-64":
                shutil.copyfile(self.ovmf_vars_template, self.vars)
            elif self.uboot_env_template:
                shutil.copyfile(self.uboot_env_template, self.vars)
            else:
                # Empty (bad CRC): U-Boot runs on its built-in default environment.
                with open(self.vars, "wb") as f:
                    f.truncate(UBOOT_ENV_FLASH_SIZE)
        try:
            os.unlink(self.sock_path)
        except FileNotFoundError:
            pass
        self.boots += 1
        self._note(BOOT_MARKER % self.boots)
        self.boot_offsets.append(os.path.getsize(self.log))
        self._started_at = time.monotonic()
        self.boot_started.append(self._started_at)
        with open(self.log + ".qemu-stderr", "a") as err:
            self._stderr_from = err.tell()
            self.proc = subprocess.Popen(self.command_line(), stdin=subprocess.DEVNULL,
                                         stdout=subprocess.DEVNULL, stderr=err)

    def _supervise(self):
        while not self._stop.is_set():
            remaining = self.deadline - time.monotonic()
            try:
                rc = self.proc.wait(timeout=max(0.0, min(remaining, 0.5)))
            except subprocess.TimeoutExpired:
                if time.monotonic() >= self.deadline:
                    self._kill()
                    self._note("[abide-qemu] deadline reached, qemu killed")
                    return
                if self.arch == "arm64" and self.fix_torn_saveenv and self.uboot_env_disk \
                        and complete_torn_saveenv(self.vars):
                    # While QEMU runs too, so the guest reads U-Boot's saved environment on this boot.
                    self._note("[abide-qemu] U-Boot environment: completed a saveenv torn by QEMU's flash "
                               "(QEMU issue 2343; CRC verified)")
                continue
            with self._lock:
                self.exits.append(rc)
                self._drop_conn()
                self._note(EXIT_MARKER % (self.boots, rc, time.monotonic() - self._started_at)
                           + self._signal_note())
                if self.arch == "arm64" and self.fix_torn_saveenv and complete_torn_saveenv(self.vars):
                    self._note("[abide-qemu] U-Boot environment: completed a saveenv torn by QEMU's flash "
                               "(QEMU issue 2343; CRC verified)")
                if self._stop.is_set() or not self.no_reboot or self.boots >= self.max_boots \
                        or time.monotonic() >= self.deadline:
                    return
                self._start_one()

    def start(self):
        os.makedirs(os.path.dirname(self.log), exist_ok=True)
        open(self.log, "a").close()
        with self._lock:
            self._start_one()
        self._thread = threading.Thread(target=self._supervise, daemon=True)
        self._thread.start()
        return self

    def _kill(self):
        if self.proc and self.proc.poll() is None:
            self.proc.terminate()
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()

    def power_cut(self):
        """Cuts the power: SIGKILL to QEMU, no shutdown, no flush of the guest's
        caches (what QEMU already wrote to the disk file stays, as on a real
        disk). The harness then starts the next boot, as after a reboot,
        while max_boots allows."""
        with self._lock:
            proc = self.proc
            self._note("[abide-qemu] power cut")
        if proc and proc.poll() is None:
            proc.kill()

    def stop(self):
        self._stop.set()
        self._kill()
        if self._thread:
            self._thread.join(timeout=10)
        self._drop_conn()

    def __enter__(self):
        return self.start()

    def __exit__(self, *exc):
        self.stop()

    def running(self):
        return self._thread is not None and self._thread.is_alive()

    def wait_boot(self, n, timeout):
        """With -no-reboot: waits until QEMU was started for boot n (1-based); returns its log offset."""
        end = min(time.monotonic() + timeout, self.deadline)
        while self.boots < n:
            if not self.running():
                raise MachineError("boot %d never started: QEMU ended after %d boots (exits %s, log: %s)"
                                   % (n, self.boots, self.exits, self.log))
            if time.monotonic() >= end:
                raise MachineError("boot %d not started within %s s (log: %s)" % (n, timeout, self.log))
            time.sleep(0.2)
        return self.boot_offsets[n - 1]

    def wait_exit(self, timeout):
        """Waits until the harness is done (no QEMU left to start); returns the exit codes."""
        self._thread.join(timeout=min(timeout, max(0.0, self.deadline - time.monotonic())))
        if self._thread.is_alive():
            raise MachineError("QEMU still running after %s s (log: %s)" % (timeout, self.log))
        return self.exits

    # ---- console log -----------------------------------------------------

    def console(self, since=0, until=None):
        """The console log from byte offset since (to until), untangled (untangle())."""
        with open(self.log, "rb") as f:
            f.seek(since)
            data = f.read() if until is None else f.read(max(0, until - since))
        return untangle(data.decode("utf-8", "replace"))

    def boot_count(self):
        """Boots seen: QEMU starts with -no-reboot, else kernel banners in the log."""
        if self.no_reboot:
            return self.boots
        return len(self.boot_line.findall(self.console(self.boot_offsets[0])))

    def wait_for(self, pattern, timeout, since=None):
        """Waits for a console line matching pattern (a regex, searched per line;
        the harness's own "[abide-qemu] ..." lines are skipped).

        since: log offset to search from; default: the start of the first boot.
        Returns the match. Fails at the timeout, the deadline, or when QEMU is
        gone for good without the line appearing.
        """
        rx = re.compile(pattern)
        start = self.boot_offsets[0] if since is None else since
        end = min(time.monotonic() + timeout, self.deadline)
        while True:
            done = not self.running()
            for line in self.console(start).splitlines():
                if line.startswith("[abide-qemu] "):
                    continue
                m = rx.search(line)
                if m:
                    return m
            if time.monotonic() >= self.deadline:
                raise MachineError("'%s' not on the console before the run's deadline (log: %s)"
                                   % (pattern, self.log))
            if done:
                raise MachineError("'%s' not on the console, QEMU ended (exits %s%s, log: %s)"
                                   % (pattern, self.exits, self._stderr_tail(), self.log))
            if time.monotonic() >= end:
                raise MachineError("'%s' not on the console within %s s (log: %s)"
                                   % (pattern, timeout, self.log))
            time.sleep(0.2)

    def _stderr_tail(self):
        try:
            with open(self.log + ".qemu-stderr", errors="replace") as f:
                lines = [l.strip() for l in f if l.strip() and "terminating on signal" not in l]
        except OSError:
            return ""
        return "; qemu: " + lines[-1] if lines else ""

    def offset(self):
        """The log's current end, for wait_for(since=...) on later lines only."""
        return os.path.getsize(self.log)

    # ---- test console ----------------------------------------------------

    def _drop_conn(self):
        if self._conn:
            self._conn.close()
        self._conn = None
        self._conn_buf = b""
        self._agent_ok = False

    def _connect(self, end):
        while self._conn is None:
            try:
                s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
                s.connect(self.sock_path)
                self._conn = s
                self._conn_buf = b""
            except OSError:
                s.close()
                if time.monotonic() >= end or not self.running():
                    raise MachineError("test console socket %s not available (log: %s)"
                                       % (self.sock_path, self.log))
                time.sleep(0.2)

    def _read_until(self, want, end):
        """Reads until want(buf) returns a cut position; returns buf[:pos]."""
        while True:
            pos = want(self._conn_buf)
            if pos is not None:
                out, self._conn_buf = self._conn_buf[:pos], self._conn_buf[pos:]
                return out
            left = end - time.monotonic()
            if left <= 0:
                raise TimeoutError
            self._conn.settimeout(min(left, 1.0))
            try:
                data = self._conn.recv(65536)
            except socket.timeout:
                continue
            if not data:
                raise ConnectionError("test console closed")
            self._conn_buf += data

    def _exchange(self, command, end):
        self._cmd_id += 1
        cid = self._cmd_id
        self._conn.sendall(("%d %s\n" % (cid, command)).encode())
        hdr = re.compile(rb"__ABIDE_OUT__ (\d+) (\d+)\n")
        m = None
        while m is None or int(m.group(1)) != cid:
            # Stale replies of commands given up on are skipped by id.
            line = self._read_until(lambda b: (b.index(b"\n") + 1) if b"\n" in b else None, end)
            m = hdr.fullmatch(line)
        size = int(m.group(2))
        out = self._read_until(lambda b: size if len(b) >= size else None, end)
        line = self._read_until(lambda b: (b.index(b"\n") + 1) if b"\n" in b else None, end)
        r = re.fullmatch(rb"__ABIDE_RC__ (\d+) (\d+)\n", line)
        if not r or int(r.group(1)) != cid:
            raise MachineError("test console: bad reply trailer %r" % line)
        return int(r.group(2)), out.decode("utf-8", "replace")

    def _ensure_agent(self, end):
        """Connects and pings until the guest's test console answers."""
        while not self._agent_ok:
            self._connect(end)
            try:
                # Data sent before the guest listens waits in QEMU; stale answers are skipped by id.
                self._exchange("true", min(end, time.monotonic() + 3))
                self._agent_ok = True
            except (TimeoutError, ConnectionError, OSError) as e:
                if time.monotonic() >= end:
                    self._drop_conn()
                    raise MachineError("no answer from the test console (%s; log: %s)"
                                       % (e.__class__.__name__, self.log))
                if not isinstance(e, TimeoutError):
                    self._drop_conn()
                    time.sleep(0.5)

    def run(self, command, timeout=60, check=False):
        """Runs a shell command line in the guest; returns (exit status, output).

        Output is the command's stdout and stderr together. Waits (within
        timeout) for the guest's test console to answer, then sends the
        command once: it is never repeated, so a guest that reboots before
        answering is an error (use send() for a reboot). With check=True a
        non-zero status raises MachineError.
        """
        if "\n" in command:
            raise ValueError("one line only")
        end = min(time.monotonic() + timeout, self.deadline)
        self._ensure_agent(end)
        try:
            rc, out = self._exchange(command, end)
        except (TimeoutError, ConnectionError, OSError) as e:
            self._drop_conn()
            raise MachineError("'%s': no answer within %s s (%s; log: %s)"
                               % (command, timeout, e.__class__.__name__, self.log))
        if check and rc != 0:
            raise MachineError("'%s' exited %d: %s" % (command, rc, out.strip()[-500:]))
        return rc, out

    def send(self, command, timeout=60):
        """Sends a command without waiting for its answer (e.g. "reboot -f")."""
        if "\n" in command:
            raise ValueError("one line only")
        self._ensure_agent(min(time.monotonic() + timeout, self.deadline))
        self._cmd_id += 1
        self._conn.sendall(("%d %s\n" % (self._cmd_id, command)).encode())
        self._drop_conn()

    def wait_console_agent(self, timeout):
        """Waits until the test console answers."""
        self._ensure_agent(min(time.monotonic() + timeout, self.deadline))


def main(argv=None):
    p = argparse.ArgumentParser(description="Boot an abide disk under OVMF + systemd-boot, or U-Boot on arm64 "
                                "(QEMU TCG).")
    p.add_argument("disk")
    p.add_argument("--arch", choices=("x86-64", "arm64"), default="x86-64",
                   help="arm64: virt + cortex-a57 + Debian's U-Boot, environment in DISK.env.fd")
    p.add_argument("--uboot-env", metavar="FILE",
                   help="arm64: the first DISK.env.fd is a copy of FILE (default: empty, U-Boot's built-in)")
    p.add_argument("--log", help="console log (appended; default DISK.console.log)")
    p.add_argument("--memory", type=int, default=1024)
    p.add_argument("--cpus", type=int, default=1,
                   help="vCPUs (default 1: under TCG one boots faster, and two machines side by side do not "
                   "share the host's cores among four vCPU threads)")
    p.add_argument("--boots", type=int, default=1,
                   help="with -no-reboot: start QEMU again after each guest reboot, up to this many boots")
    p.add_argument("--in-place", action="store_true", help="no -no-reboot: the guest reboots inside one QEMU")
    p.add_argument("--timeout", type=float, default=600, help="bound on the whole run (s)")
    p.add_argument("--until", action="append", default=[], metavar="REGEX",
                   help="wait for a console line, in order; stop after the last (repeatable)")
    p.add_argument("--run", action="append", default=[], metavar="CMD",
                   help="after the --until lines, run CMD in the guest and print its output (repeatable)")
    p.add_argument("--drive", action="append", default=[], metavar="FILE",
                   help="attach FILE as an extra read-only virtio disk (vdb, vdc, ...; repeatable)")
    p.add_argument("--net", action="store_true",
                   help="a virtio NIC on QEMU's user-mode network (the host's loopback is 10.0.2.2 in the guest)")
    p.add_argument("--no-test-console", action="store_true")
    p.add_argument("--uboot-env-disk", action="store_true",
                   help="arm64: DISK.env.fd also as a virtio disk with serial %s (the guest's fw_env device)"
                   % UBOOT_ENV_DISK_SERIAL)
    p.add_argument("--secure-boot", action="store_true",
                   help="OVMF's Secure Boot build (SMM), its variables from a blank store (setup mode)")
    p.add_argument("--fresh-vars", action="store_true",
                   help="start from a new copy of OVMF_VARS (arm64: a new U-Boot environment)")
    p.add_argument("--follow", action="store_true", help="copy the console to stdout")
    a = p.parse_args(argv)

    vm = Machine(a.disk, log=a.log, memory=a.memory, cpus=a.cpus, no_reboot=not a.in_place,
                 max_boots=a.boots, deadline=a.timeout, test_console=not a.no_test_console,
                 extra_drives=a.drive, network=a.net, arch=a.arch, uboot_env=a.uboot_env,
                 uboot_env_disk=a.uboot_env_disk, secure_boot=a.secure_boot)
    if a.fresh_vars and os.path.exists(vm.vars):
        os.unlink(vm.vars)
    t0 = time.monotonic()
    follower = None
    vm.start()
    if a.follow:
        follower = threading.Thread(target=_follow, args=(vm,), daemon=True)
        follower.start()
    status = 0
    try:
        for rx in a.until:
            vm.wait_for(rx, timeout=a.timeout)
            print("[abide-qemu] matched /%s/ after %.1f s, boot %d" % (rx, time.monotonic() - t0,
                                                                      vm.boot_count()), flush=True)
        for cmd in a.run:
            rc, out = vm.run(cmd, timeout=a.timeout)
            sys.stdout.write(out)
            print("[abide-qemu] '%s' exited %d" % (cmd, rc), flush=True)
            status = status or rc
        if not a.until and not a.run:
            print("[abide-qemu] exits: %s" % vm.wait_exit(a.timeout), flush=True)
    except MachineError as e:
        print("abide-qemu: %s" % e, file=sys.stderr)
        status = 1
    finally:
        vm.stop()
    return status


def _follow(vm):
    pos = 0
    while True:
        with open(vm.log, "rb") as f:
            f.seek(pos)
            data = f.read()
        if data:
            pos += len(data)
            sys.stdout.buffer.write(data)
            sys.stdout.flush()
        time.sleep(0.2)


if __name__ == "__main__":
    sys.exit(main())
