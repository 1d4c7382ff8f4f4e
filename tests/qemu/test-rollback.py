#!/usr/bin/python3
"""Issue 6: automatic rollback, unattended. Usage: test-rollback.py SCENARIO

Each scenario starts from a factory v1 disk with v2 installed and blessed
(slot B, cached once per set of bundles), installs v3 into slot A from
inside the guest, and reboots with no further input:

  panic       v3's agent panics the kernel: the loader tries A Tries times,
              then boots B; boot-check records "no healthy boot in N tries".
  crash       v3's agent dies after start-up: boot-check records the failing
              check, marks A bad and reboots; B runs on the very next boot.
  hang        v3's boot never completes: the watchdog armed by abide-init
              resets the machine; after Tries boots B runs.
  corruption  good v3, then bytes of A's root partition flipped from the host
              between boots: dm-verity catches it, the boot fails; B runs.
  badsig      good v3, then A's verity-sig replaced from the host by a
              signature over the same root hash from an untrusted CA:
              abide-init refuses the slot; B runs.

Then (issue 6 item 6) a fixed v4 is installed from inside and boots.

arm64-panic, arm64-hang, arm64-crash (issue 12): the same on the arm64 demo
under QEMU aarch64 + U-Boot + builder/uboot/boot.cmd (tests/qemu/
scenarios_arm64.py), with the boot script's lines checked per boot
(BOOT_A_LEFT counting down, then slot b) and its environment afterwards;
no v4 step (CI time).

Prints per scenario: bad boots and seconds from the first boot of the bad
image to the healthy previous slot.
"""

import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
import scenarios_arm64 as A  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402


class X86:
    """q35 + OVMF + systemd-boot: bundles and base disk of scenarios.py."""
    machine = {}
    fix = "v4"

    @staticmethod
    def prepare(say, bundle):
        return S.prepare(say)

    base_v2_blessed = staticmethod(S.base_v2_blessed)

    @staticmethod
    def check_loader(n, text, want):
        pass

    @staticmethod
    def check_after(disk, name, bad):
        pass


class Arm64:
    """QEMU virt + U-Boot + boot.cmd: scenarios_arm64.py."""
    machine = A.MACHINE
    fix = None

    @staticmethod
    def prepare(say, bundle):
        return A.prepare(say, ("v1", "v2", bundle))

    base_v2_blessed = staticmethod(A.base_v2_blessed)

    @staticmethod
    def check_loader(n, text, want):
        """The boot script's lines of boot n: want, one line, and never its fallback
        (slot b is listed and good, so the script picks it in BOOT_ORDER)."""
        got = A.uboot_lines(text)
        check(got == [want], "boot %d: U-Boot's script said %s, expected %r" % (n, got, want))

    @staticmethod
    def check_after(disk, name, bad):
        """Slot a's counter at 0 with the tries it used; b first and the good one."""
        env = A.read_env(disk)
        want = {"BOOT_ORDER": "A B" if name != "crash" else "B A", "BOOT_A_LEFT": "0", "abide_tries_a": str(bad),
                "abide_good": "B"}
        check(all(env.get(k) == v for k, v in want.items()) and "BOOT_B_LEFT" not in env,
              "U-Boot environment after the rollback: %s, expected %s" % (A.env_summary(env), want))


# scenario -> (bundle installed as v3, boots of v3 before B runs again, platform)
SCENARIOS = {
    "panic": ("v3-panic", S.TRIES, X86),
    "crash": ("v3-crash", 1, X86),
    "hang": ("v3-hang", S.TRIES, X86),
    "corruption": ("v3-good", S.TRIES, X86),
    "badsig": ("v3-good", S.TRIES, X86),
    "arm64-panic": ("v3-panic", S.TRIES, Arm64),
    "arm64-crash": ("v3-crash", 1, Arm64),
    "arm64-hang": ("v3-hang", S.TRIES, Arm64),
}
# What a boot of the bad v3 must show on the console, per scenario.
SIGNS = {
    "panic": r"Kernel panic - not syncing: sysrq triggered crash",
    "crash": r"abidectl: boot-check: slot a is not healthy: check '[^']+' failed: .*; marked bad, rebooting",
    "hang": r"abide: starting agent sentinel",
    "corruption": r"device-mapper: verity: .*data block \d+ is corrupted",
    "badsig": r"^abide-init: slot a: verity signature not trusted: .*unable to get local issuer certificate",
}


def bad_boot_checks(name, n, text, vm):
    """Checks one boot of the bad v3 (slot A) from its console text."""
    check(re.search(SIGNS[name], text, re.M), "boot %d (slot a): no /%s/ on the console" % (n, SIGNS[name]))
    check(not re.search(r"abide-init: .*shell|^/ # ", text, re.M), "boot %d: a shell?" % n)
    if name == "crash":
        check("Kernel panic" not in text, "boot %d: the crash variant panicked" % n)
    else:
        check("abide-boot-check: finished" not in text, "boot %d: boot-check ran on the bad slot" % n)
    if name == "hang":
        # Neither a panic nor a reboot from inside: only the watchdog ends it.
        check("Kernel panic" not in text and "reboot: Restarting system" not in text,
              "boot %d: the hang ended by a panic or a reboot, not the watchdog" % n)
        secs = exit_secs(text)
        check(secs is not None and secs >= S.WATCHDOG_SEC,
              "boot %d: ended after %s s, before the %d s watchdog" % (n, secs, S.WATCHDOG_SEC))
    if name in ("panic", "corruption", "badsig"):
        check("dm-verity active" in text or name == "badsig",
              "boot %d: abide-init did not activate dm-verity" % n)
    if name == "badsig":
        check("dm-verity active" not in text and "switching to /sbin/init" not in text,
              "boot %d: abide-init went on after refusing the signature" % n)
    if name == "corruption":
        check("reboot: Restarting system with command 'dm-verity device corrupted'" in text,
              "boot %d: dm-verity did not restart the machine" % n)
        check("switching to /sbin/init" not in text, "boot %d: the corrupt root was switched to" % n)


def wait_boot_end(vm, n, timeout):
    """Waits until the bad boot n ends (QEMU started again); fails at once when
    the bad slot gets blessed instead. Returns boot n's console."""
    end = time.monotonic() + timeout
    while vm.boots <= n:
        text = S.boot_text(vm, n)
        check("Slot a is healthy: marked good" not in text, "boot %d: the bad slot a was blessed" % n)
        check(vm.running(), "QEMU ended during boot %d (exits %s)" % (n, vm.exits))
        check(time.monotonic() < end, "boot %d still running after %d s" % (n, timeout))
        time.sleep(0.5)
    return S.boot_text(vm, n)


def exit_secs(text):
    m = re.search(r"\[abide-qemu\] boot \d+ ended: qemu exit \S+ after ([\d.]+) s", text)
    return float(m.group(1)) if m else None


def fix_step(sc, vm, n):
    """Item 6: a fixed v4 installs into the bad slot a and boots (after boot n, slot b)."""
    t_install, isecs = S.install(sc, vm, "/dev/vdc", "4.0.0", "a")
    S.reboot(vm)
    hsecs, text = S.healthy_boot(sc, vm, n + 1, "a", "4.0.0")
    check("Slot a is healthy: marked good" in text, "boot %d: v4 not marked good" % (n + 1))
    st = S.status(vm)
    check(st["booted"] == "a", "status after v4: booted %r" % st["booted"])
    expect_slot(st, "a", state="good", booted=True, version="4.0.0", last_failure=None)
    expect_slot(st, "b", state="good", booted=False, version="2.0.0")
    sc.figure("abidectl install v4 -> slot a blessed", vm.boot_started[n] - t_install + hsecs, "s")


def body(sc, scenario):
    bundle, want_bad, plat = SCENARIOS[scenario]
    name = scenario[len("arm64-"):] if scenario.startswith("arm64-") else scenario
    prep = plat.prepare(sc.say, bundle)
    disk = os.path.join(sc.work, "disk.img")
    plat.base_v2_blessed(prep, disk)
    sc.say("base disk: factory v1 + v2 blessed, copied")
    drives = [prep.drives[bundle]] + ([prep.drives[plat.fix]] if plat.fix else [])
    max_boots = 1 + want_bad + 1 + (2 if plat.fix else 0)
    first = 1    # the harness's boot number of the first boot of v3
    if name in ("corruption", "badsig"):
        # Install v3, shut down, tamper with the disk from the host, boot again.
        with sc.machine(disk, drives=drives, max_boots=1, deadline=300, **plat.machine) as vm:
            S.healthy_boot(sc, vm, 1, "b", "2.0.0")
            S.install(sc, vm, "/dev/vdb", "3.0.0", "a")
            vm.send("sync; poweroff")
            vm.wait_exit(60)
        parts = S.partitions(disk)
        if name == "corruption":
            off, size = parts["abide-root-a"]
            # The filesystem's superblock (read at mount) and a block in the middle.
            S.flip_bytes(disk, off + 1024, 16)
            S.flip_bytes(disk, off + (size // 2 // 4096) * 4096 + 100, 64)
            sc.say("flipped 16 bytes at offset 1024 and 64 in the middle of abide-root-a (disk offset %d)" % off)
            sc.note("host: flipped bytes in abide-root-a")
        else:
            root_hash, fp_old, fp_new = S.forge_verity_sig(prep, disk, "a", sc.work)
            sc.say("abide-verity-sig-a: root hash %s... now signed by the untrusted CA (%s... instead of %s...)"
                   % (root_hash[:12], fp_new[:12], fp_old[:12]))
            sc.note("host: replaced abide-verity-sig-a")
        vm = sc.machine(disk, drives=drives, max_boots=max_boots - 1, deadline=900, **plat.machine)
    else:
        vm = sc.machine(disk, drives=drives, max_boots=max_boots, deadline=900, **plat.machine)
        vm.start()
        S.healthy_boot(sc, vm, 1, "b", "2.0.0")
        S.install(sc, vm, "/dev/vdb", "3.0.0", "a")
        S.reboot(vm)
        first = 2
    try:
        if first == 1:
            vm.start()
        n = first
        while True:
            slot = S.boot_slot(vm, n, timeout=300)
            if slot == "b":
                break
            check(n - first < want_bad, "boot %d: slot a again after %d bad boots (expected %d)"
                  % (n, n - first, want_bad))
            text = wait_boot_end(vm, n, timeout=S.WATCHDOG_SEC + 240)
            bad_boot_checks(name, n, text, vm)
            plat.check_loader(n, text, "abide: slot a (BOOT_A_LEFT=%d)" % (S.TRIES - 1 - (n - first)))
            sc.say("boot %d: slot a (v3) failed after %s s" % (n, exit_secs(text)))
            n += 1
        bad = n - first
        check(bad == want_bad, "slot b came back after %d boots of v3, expected %d" % (bad, want_bad))
        rc, t_done, text = S.wait_check_done(vm, n, timeout=240)
        check(rc == 0, "boot %d (slot b): boot-check exited %d" % (n, rc))
        plat.check_loader(n, text, "abide: slot b (BOOT_B_LEFT=)")
        m = re.search(r"Rolled back from slot a \(version 3\.0\.0\) to slot b: (.*)", text)
        check(m, "boot %d: boot-check did not report the rollback: %s" % (n, re.findall(r"Slot .*|abidectl: .*", text)))
        reason = m.group(1).strip()
        secs = t_done - vm.boot_started[first - 1]
        sc.say("boot %d: slot b healthy again, rollback reported: %s" % (n, reason))
        sc.figure("boots of the bad v3 before the previous slot", bad)
        sc.figure("first boot of the bad v3 -> healthy previous slot", secs, "s")

        st = S.status(vm)
        check(st["booted"] == "b", "status: booted %r" % st["booted"])
        expect_slot(st, "b", state="good", booted=True, version="2.0.0")
        expect_slot(st, "a", state="bad", booted=False, version="3.0.0", tries_done=bad)
        rb = st["last_rollback"]
        check(rb and rb["from"] == "a" and rb["to"] == "b" and rb["version"] == "3.0.0" and rb["reported"],
              "status: last_rollback %r" % rb)
        check(rb["reason"] == reason, "status reason %r, console said %r" % (rb["reason"], reason))
        lf = st["slots"]["a"]["last_failure"]
        if name == "crash":
            check(lf and lf["check"] and lf["output"], "status: slot a last_failure %r" % lf)
            check(re.search(r"sentinel|agent", lf["check"] + lf["output"]),
                  "status: the failing check does not name the agent: %r" % lf)
            check(reason.startswith("check '%s' failed: " % lf["check"]),
                  "rollback reason %r does not name the check %r" % (reason, lf["check"]))
            check(re.search(r"slot a is not healthy: check '%s' failed" % re.escape(lf["check"]),
                            S.boot_text(vm, first)), "console does not name check %r" % lf["check"])
        else:
            check(reason == "no healthy boot in %d tries" % S.TRIES, "rollback reason %r" % reason)
            check(lf is None, "status: slot a has a health failure, though no boot-check ran: %r" % lf)

        if plat.fix:
            fix_step(sc, vm, n)
    finally:
        vm.stop()
    plat.check_after(disk, name, bad)


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print("usage: test-rollback.py {%s}" % ",".join(SCENARIOS), file=sys.stderr)
        return 2
    name = sys.argv[1]
    # arm64-*: the scenario (and its log directory) is named as the test.
    return S.Scenario(name if name.startswith("arm64-") else "rollback-" + name).run(lambda sc: body(sc, name))


if __name__ == "__main__":
    sys.exit(main())
