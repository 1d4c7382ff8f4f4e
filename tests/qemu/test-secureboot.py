#!/usr/bin/python3
"""Issue 15: Secure Boot end to end. Usage: test-secureboot.py SCENARIO

OVMF's Secure Boot build with blank variables (setup mode), the factory disk
of `abide-build disk --secure-boot` (docs/secure-boot.md), UKI bundles signed
with the db key of `abide-build keygen --secure-boot` (scenarios.py,
prepare_secureboot).

  enroll   boot 1: systemd-boot enrolls PK, KEK and db from
           /loader/keys/auto/ and resets; boot 2: SecureBoot=1, SetupMode=0
           in the guest, slot a's UKI runs, boot-check finds it good.
  update   enrolled as above, v2 (UKI) installed from /dev/vdb into slot b,
           blessed, Secure Boot still on; then a panicking v3 into slot a:
           three tries, rolled back to v2, status shows last_rollback.
  tamper   slot a blessed and preferred (v3), slot b good (v2); a byte of
           slot a's UKI flipped on the ESP from the host: the firmware refuses
           it, falls back through the boot option of slot b, boot-check
           records the rollback; then slot a's entry replaced by the same UKI
           without its signature: refused the same way.

update and tamper share a base disk (enrolled, v1 in a, v2 blessed in b),
made by whichever runs first and cached (cache/sb-base-KEY).
Prints FIGUREs: enrollment time, seconds per boot with Secure Boot on.
"""

import hashlib
import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402

ENROLL_LINE = r"Enrolling secure boot keys from directory: \\loader\\keys\\auto"
SB_ON = "secureboot: Secure boot enabled"


def machine(sc, disk, **kw):
    return sc.machine(disk, secure_boot=True, **kw)


def enroll_and_boot(sc, vm):
    """Boots 1 and 2 of a fresh Secure Boot factory disk (v1 in slot a):
    enrollment, then slot a's UKI with Secure Boot on, blessed."""
    vm.wait_for(ENROLL_LINE, timeout=120)
    off = vm.wait_boot(2, timeout=120)
    text = S.boot_text(vm, 1)
    check("Linux version" not in text, "boot 1: a kernel started before the keys were enrolled")
    enroll_secs = vm.boot_started[1] - vm.boot_started[0]
    sc.say("boot 1: systemd-boot enrolled the keys and reset after %.1f s" % enroll_secs)
    sc.figure("boot 1: QEMU start -> keys enrolled, reset (systemd-boot, setup mode)", enroll_secs, "s")
    vm.wait_for(r"EFI stub: UEFI Secure Boot is enabled", timeout=120, since=off)
    secs, text = S.healthy_boot(sc, vm, 2, "a", "1.0.0")
    check(SB_ON in text, "boot 2: the kernel did not see Secure Boot on")
    check(not re.search(ENROLL_LINE, text), "boot 2: systemd-boot enrolled again")
    check("Slot a is good: nothing to check" in text, "boot 2: boot-check did not find the factory slot good")
    sb, setup = S.efi_secure_boot_state(vm)
    check((sb, setup) == (1, 0), "boot 2: SecureBoot=%d SetupMode=%d in the guest, expected 1 and 0" % (sb, setup))
    sc.say("boot 2: SecureBoot=1, SetupMode=0 in the guest")
    st = S.status(vm)
    check(st["booted"] == "a", "status: booted %r" % st["booted"])
    expect_slot(st, "a", state="good", booted=True, version="1.0.0", entry="abide-a.efi")
    expect_slot(st, "b", state="empty", booted=False, entry=None)
    check(st["last_rollback"] is None, "status: a rollback on a factory disk: %r" % st["last_rollback"])
    sc.figure("boot 2: QEMU start -> boot-check done, Secure Boot on", secs, "s")
    return enroll_secs, secs


def install_uki(sc, vm, device, version, slot):
    """abidectl install of a UKI bundle; the slot's entry is its UKI with the counter."""
    t = time.monotonic()
    rc, out = vm.run("abidectl install %s" % device, timeout=300)
    secs = time.monotonic() - t
    check(rc == 0, "abidectl install %s exited %d: %s" % (device, rc, out.strip()))
    want = "Installed %s into slot %s (abide-%s+%d.efi)" % (version, slot, slot, S.TRIES)
    check(want in out, "install said %r, expected %r" % (out.strip(), want))
    sc.say("installed %s into slot %s from %s in %.1f s" % (version, slot, device, secs))
    st = S.status(vm)
    expect_slot(st, slot, state="pending", version=version, tries_left=S.TRIES, booted=False)
    return t, secs


def secure_boot_on(vm, n, text):
    check(SB_ON in text, "boot %d: the kernel did not see Secure Boot on" % n)
    sb, setup = S.efi_secure_boot_state(vm)
    check((sb, setup) == (1, 0), "boot %d: SecureBoot=%d SetupMode=%d, expected 1 and 0" % (n, sb, setup))


def body_enroll(sc, prep):
    disk = S.factory_disk_secureboot(prep, os.path.join(sc.work, "disk.img"))
    files = S.esp_files(disk)
    check("EFI/Linux/abide-a.efi" in files and not any(f.startswith("loader/entries/") for f in files),
          "factory ESP: %s" % files)
    with machine(sc, disk, max_boots=2, deadline=400) as vm:
        enroll_and_boot(sc, vm)
        vm.send("sync; poweroff")
        vm.wait_exit(60)


def make_base(sc, prep, disk):
    """Enrolled factory disk, v1 in a; v2 installed into b and blessed with Secure Boot on."""
    with machine(sc, disk, drives=[prep.drives["v2"]], max_boots=3, deadline=600) as vm:
        enroll_and_boot(sc, vm)
        t_install, isecs = install_uki(sc, vm, "/dev/vdb", "2.0.0", "b")
        sc.figure("install v2 (UKI bundle, abidectl install /dev/vdb)", isecs, "s")
        S.reboot(vm)
        secs, text = S.healthy_boot(sc, vm, 3, "b", "2.0.0")
        check("Slot b is healthy: marked good" in text, "boot 3: slot b not marked good")
        secure_boot_on(vm, 3, text)
        sc.figure("boot 3: QEMU start -> slot b blessed, Secure Boot on", secs, "s")
        sc.figure("abidectl install v2 -> slot b blessed (Secure Boot)", vm.boot_started[2] - t_install + secs, "s")
        st = S.status(vm)
        check(st["booted"] == "b", "status: booted %r" % st["booted"])
        expect_slot(st, "b", state="good", booted=True, version="2.0.0", entry="abide-b.efi")
        expect_slot(st, "a", state="good", booted=False, version="1.0.0", entry="abide-a.efi")
        vm.send("sync; poweroff")
        vm.wait_exit(60)


def base_disk(sc, prep, dest):
    """dest: a copy of the cached base disk (made here when missing), with its VARS (enrolled keys)."""
    # The bundles' inputs and how this file makes the base.
    h = hashlib.sha256(prep.key.encode())
    S._hash_tree(h, os.path.abspath(__file__))
    cache = os.path.join(S.CACHE, "sb-base-" + h.hexdigest()[:16])
    disk = os.path.join(cache, "disk.img")
    with S._Lock("sb-base"):
        if not os.path.exists(os.path.join(cache, "done")):
            for old in [p for p in os.listdir(S.CACHE) if p.startswith("sb-base-")]:
                shutil.rmtree(os.path.join(S.CACHE, old), ignore_errors=True)
            os.makedirs(cache)
            sc.say("making the Secure Boot base disk (enrolled, v1 in a, v2 blessed in b)")
            S.factory_disk_secureboot(prep, disk)
            make_base(sc, prep, disk)
            open(os.path.join(cache, "done"), "w").close()
        else:
            sc.say("Secure Boot base disk: cached (%s)" % cache)
        S.copy_disk(disk, dest)
    return dest


def body_update(sc, prep):
    disk = base_disk(sc, prep, os.path.join(sc.work, "disk.img"))
    tries = S.TRIES
    with machine(sc, disk, drives=[prep.drives["v3-panic"]], max_boots=2 + tries, deadline=900) as vm:
        S.healthy_boot(sc, vm, 1, "b", "2.0.0")
        install_uki(sc, vm, "/dev/vdb", "3.0.0", "a")
        S.reboot(vm)
        first = 2
        n = first
        while True:
            slot = S.boot_slot(vm, n, timeout=300)
            if slot == "b":
                break
            check(n - first < tries, "boot %d: slot a again after %d bad boots" % (n, n - first))
            end = time.monotonic() + S.WATCHDOG_SEC + 240
            while vm.boots <= n:
                text = S.boot_text(vm, n)
                check("Slot a is healthy: marked good" not in text, "boot %d: the panicking v3 was blessed" % n)
                check(vm.running(), "QEMU ended during boot %d (exits %s)" % (n, vm.exits))
                check(time.monotonic() < end, "boot %d still running" % n)
                time.sleep(0.5)
            text = S.boot_text(vm, n)
            check("Kernel panic - not syncing: sysrq triggered crash" in text, "boot %d: slot a did not panic" % n)
            check(SB_ON in text, "boot %d: Secure Boot off" % n)
            sc.say("boot %d: slot a (v3, Secure Boot on) panicked" % n)
            n += 1
        bad = n - first
        check(bad == tries, "slot b came back after %d boots of v3, expected %d" % (bad, tries))
        rc, t_done, text = S.wait_check_done(vm, n, timeout=240)
        check(rc == 0, "boot %d (slot b): boot-check exited %d" % (n, rc))
        m = re.search(r"Rolled back from slot a \(version 3\.0\.0\) to slot b: (.*)", text)
        check(m, "boot %d: boot-check did not report the rollback: %s" % (n, re.findall(r"Slot .*|abidectl: .*", text)))
        secure_boot_on(vm, n, text)
        sc.figure("boots of the panicking v3 before the previous slot (Secure Boot)", bad)
        sc.figure("first boot of the bad v3 -> healthy previous slot (Secure Boot)",
                  t_done - vm.boot_started[first - 1], "s")
        st = S.status(vm)
        check(st["booted"] == "b", "status: booted %r" % st["booted"])
        expect_slot(st, "b", state="good", booted=True, version="2.0.0")
        expect_slot(st, "a", state="bad", booted=False, version="3.0.0", tries_done=bad)
        rb = st["last_rollback"]
        check(rb and rb["from"] == "a" and rb["to"] == "b" and rb["version"] == "3.0.0"
              and rb["reason"] == "no healthy boot in %d tries" % tries, "status: last_rollback %r" % rb)


def mtools(disk, *args):
    return S.sh(*[a.replace("ESP", "%s@@%d" % (disk, S.esp_offset(disk))) for a in args],
                env=dict(os.environ, MTOOLS_SKIP_CHECK="1"))


def refused_round(sc, vm, n, what):
    """Boot n: the firmware refuses slot a's UKI, slot b boots through its
    boot option, boot-check records the rollback. Returns boot n's text."""
    m = vm.wait_for(r"Error loading .*abide-a[^ ]*\.efi: (.*)|abide-init: slot ([ab]),", timeout=180,
                    since=vm.boot_offsets[n - 1])
    check(m.group(1), "boot %d: slot %s started from the %s UKI" % (n, m.group(2), what))
    sc.say("boot %d: systemd-boot: %s" % (n, m.group(0).strip()))
    check(re.search(r"Security Violation|Access Denied", m.group(1)), "boot %d: refused for %r" % (n, m.group(1)))
    slot = S.boot_slot(vm, n, timeout=240)
    check(slot == "b", "boot %d: slot %s after the refusal, expected b" % (n, slot))
    rc, t_done, text = S.wait_check_done(vm, n, timeout=240)
    check(rc == 0, "boot %d (slot b): boot-check exited %d" % (n, rc))
    # systemd-boot returns to the firmware, which tries its options in BootOrder: slot a's (the
    # same image, refused again), then slot b's.
    check(re.search(r"BdsDxe: failed to load Boot\d+ \"abide slot a\" .*: (Access Denied|Security Violation)", text)
          and re.search(r"BdsDxe: starting Boot\d+ \"abide slot b\"", text),
          "boot %d: the firmware did not fall back through 'abide slot a' and 'abide slot b': %s"
          % (n, re.findall(r"BdsDxe: .*", text)))
    reason = ("the firmware did not start slot a's image abide-a.efi (selected by the loader); it started slot b")
    check("Rolled back from slot a (version 3.0.0) to slot b: " + reason in text,
          "boot %d: boot-check did not record the rollback: %s" % (n, re.findall(r"Slot .*|Rolled .*|abidectl: .*", text)))
    secure_boot_on(vm, n, text)
    sc.figure("boot %d (%s UKI in slot a): QEMU start -> slot b healthy" % (n, what),
              t_done - vm.boot_started[n - 1], "s")
    st = S.status(vm)
    check(st["booted"] == "b", "status: booted %r" % st["booted"])
    rb = st["last_rollback"]
    check(rb and rb["from"] == "a" and rb["to"] == "b" and rb["version"] == "3.0.0" and rb["reason"] == reason,
          "status: last_rollback %r" % rb)
    # Marked bad: the counter at +0, so neither the loader nor the firmware's option picks it again.
    expect_slot(st, "a", state="bad", booted=False, version="3.0.0", entry="abide-a+0.efi")
    expect_slot(st, "b", state="good", booted=True, version="2.0.0", entry="abide-b.efi")
    sc.say("boot %d: slot b healthy, rollback recorded: %s" % (n, rb["reason"]))
    return text


def body_tamper(sc, prep):
    disk = base_disk(sc, prep, os.path.join(sc.work, "disk.img"))
    with machine(sc, disk, drives=[prep.drives["v3-good"]], max_boots=2, deadline=500) as vm:
        S.healthy_boot(sc, vm, 1, "b", "2.0.0")
        install_uki(sc, vm, "/dev/vdb", "3.0.0", "a")
        S.reboot(vm)
        secs, text = S.healthy_boot(sc, vm, 2, "a", "3.0.0")
        check("Slot a is healthy: marked good" in text, "boot 2: slot a (v3) not marked good")
        st = S.status(vm)
        expect_slot(st, "a", state="good", booted=True, version="3.0.0", entry="abide-a.efi")
        expect_slot(st, "b", state="good", booted=False, version="2.0.0", entry="abide-b.efi")
        vm.send("sync; poweroff")
        vm.wait_exit(60)

    uki = os.path.join(sc.work, "abide-a.efi")
    mtools(disk, "mcopy", "-n", "-i", "ESP", "::/EFI/Linux/abide-a.efi", uki)
    S.sh("sbverify", "--cert", os.path.join(prep.sb, "db.crt"), uki)
    flipped = os.path.join(sc.work, "flipped.efi")
    shutil.copyfile(uki, flipped)
    S.flip_bytes(flipped, os.path.getsize(flipped) // 2, 1)
    check(S.sh_rc("sbverify", "--cert", os.path.join(prep.sb, "db.crt"), flipped) != 0,
          "sbverify accepts the flipped UKI")
    mtools(disk, "mcopy", "-o", "-i", "ESP", flipped, "::/EFI/Linux/abide-a.efi")
    sc.say("host: flipped the byte at %d of /EFI/Linux/abide-a.efi" % (os.path.getsize(flipped) // 2))
    sc.note("host: flipped a byte of /EFI/Linux/abide-a.efi")
    with machine(sc, disk, max_boots=1, deadline=400) as vm:
        refused_round(sc, vm, 1, "flipped")
        st = S.status(vm)
        entry_a = st["slots"]["a"].get("entry")
        vm.send("sync; poweroff")
        vm.wait_exit(60)

    unsigned = os.path.join(sc.work, "unsigned.efi")
    shutil.copyfile(uki, unsigned)
    S.sh("sbattach", "--remove", unsigned)
    check(S.sh_rc("sbverify", "--cert", os.path.join(prep.sb, "db.crt"), unsigned) != 0,
          "sbverify accepts the UKI without its signature")
    # Slot a's entry as it is now (boot-check may have renamed it), else the blessed name.
    files = S.esp_files(disk)
    names = [f for f in files if re.fullmatch(r"EFI/Linux/abide-a(\+\d+(-\d+)?)?\.efi", f)]
    check(len(names) == 1, "slot a's entries on the ESP after the first refusal: %s (status: %s)" % (names, entry_a))
    mtools(disk, "mdel", "-i", "ESP", "::/" + names[0])
    mtools(disk, "mcopy", "-i", "ESP", unsigned, "::/EFI/Linux/abide-a.efi")
    sc.say("host: /%s replaced by the UKI without its signature as /EFI/Linux/abide-a.efi" % names[0])
    sc.note("host: unsigned UKI as /EFI/Linux/abide-a.efi")
    with machine(sc, disk, max_boots=1, deadline=400) as vm:
        refused_round(sc, vm, 1, "unsigned")


SCENARIOS = {"enroll": (body_enroll, ("v1",)),
             "update": (body_update, ("v1", "v2", "v3-panic")),
             "tamper": (body_tamper, ("v1", "v2", "v3-good"))}


def main():
    if len(sys.argv) != 2 or sys.argv[1] not in SCENARIOS:
        print("usage: test-secureboot.py {%s}" % ",".join(SCENARIOS), file=sys.stderr)
        return 2
    name = sys.argv[1]
    body, bundles = SCENARIOS[name]
    return S.Scenario("secureboot-" + name).run(lambda sc: body(sc, S.prepare_secureboot(sc.say, bundles)))


if __name__ == "__main__":
    sys.exit(main())
