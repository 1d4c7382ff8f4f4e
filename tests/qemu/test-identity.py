#!/usr/bin/python3
"""A factory disk's own UUIDs (docs/boot.md, "A device's own UUIDs").

a. The factory disk (all-zero disk GUID) boots slot A: abide-init gives the
   disk and every partition new UUIDs, says the ESP's new one, and leaves it
   in /run/abide/loader-esp-partuuid while the loader's variable still says
   the factory one; boot-check finds slot A good; v2 installed in that boot.
b. The reboot: slot B's trial (the loader now says the new ESP UUID, abide-init
   finds the disk its own), blessed.
c. On the host: the disk GUID and every partition UUID differ from the
   factory image's; places and names kept.
d. The untouched factory image attached as a second disk (a reflash stick
   left in): the device boots its own disk, slot B good, the stick unchanged.
   (Before this, every boot failed here: both disks carried the ESP's UUID.)
e. One byte of the primary GPT flipped (as a power cut inside the first
   boot's write leaves it): the boot is healthy and the table whole again.
"""

import hashlib
import json
import os
import re
import subprocess
import sys

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402

ZERO = "00000000-0000-0000-0000-000000000000"
FIRST = "first boot: the factory image's disk GUID and partition UUIDs replaced by its own"


def table(disk):
    return json.loads(subprocess.run(["sfdisk", "--json", disk], check=True, capture_output=True,
                                     text=True).stdout)["partitiontable"]


def sha256(path):
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for b in iter(lambda: f.read(1 << 20), b""):
            h.update(b)
    return h.hexdigest()


def body(sc):
    prep = S.prepare(sc.say)
    disk = S.factory_disk(prep, os.path.join(sc.work, "disk.img"))
    stick = os.path.join(sc.work, "stick.img")
    subprocess.run(["cp", "--sparse=always", disk, stick], check=True)
    factory = table(disk)
    check(factory["id"] == ZERO, "the factory disk's GUID is %s, not all zero" % factory["id"])
    factory_esp = factory["partitions"][0]["uuid"].lower()

    with sc.machine(disk, drives=[prep.drives["v2"]], max_boots=2, deadline=600) as vm:
        # a. the first boot
        secs, text = S.healthy_boot(sc, vm, 1, "a", "1.0.0")
        text = text.replace("\r", "")
        check(re.search(r"^abide-init: disk /dev/vda: " + re.escape(FIRST) + "$", text, re.M),
              "boot 1: abide-init did not give the factory disk its own UUIDs: %s" % re.findall(r"abide-init: .*", text))
        m = re.search(r"^abide-init: the loader's ESP ([0-9a-f-]+) is now ([0-9a-f-]+)$", text, re.M)
        check(m and m.group(1) == factory_esp, "boot 1: no word of the ESP's new UUID (factory %s): %s"
              % (factory_esp, re.findall(r"abide-init: .*ESP.*", text)))
        new_esp = m.group(2)
        check(new_esp != factory_esp, "boot 1: the ESP kept its UUID")
        check("the kernel keeps the old partition UUIDs" not in text, "boot 1: the kernel did not re-read the table")
        rc, out = vm.run("cat /run/abide/loader-esp-partuuid")
        check(rc == 0 and out.strip() == new_esp, "boot 1: the note says %r, expected %s" % (out.strip(), new_esp))
        # The loader's variable (UTF-16) still names the factory ESP: the note is what is right this boot.
        rc, out = vm.run("tail -c +5 /sys/firmware/efi/efivars/LoaderDevicePartUUID-4a67b082-0a4c-41cf-b6c7-440b29bb8c4f"
                         " | tr -d '\\000'")
        check(rc == 0 and out.strip().lower() == factory_esp, "boot 1: LoaderDevicePartUUID is %r" % out.strip())
        S.install(sc, vm, "/dev/vdb", "2.0.0", "b")
        S.reboot(vm)

        # b. the reboot: the loader says the new UUID
        secs, text = S.healthy_boot(sc, vm, 2, "b", "2.0.0")
        check(("abide-init: loader started from the ESP %s: looking on its disk only" % new_esp) in text,
              "boot 2: the loader did not start from the ESP %s: %s" % (new_esp, re.findall(r"abide-init: loader.*", text)))
        check(FIRST not in text, "boot 2: the disk was given new UUIDs again")
        check("Slot b is healthy: marked good" in text, "boot 2: slot b not marked good")
        rc, out = vm.run("test -e /run/abide/loader-esp-partuuid")
        check(rc != 0, "boot 2: a note without a change of UUIDs")
        vm.send("sync; poweroff")
        vm.wait_exit(60)

    # c. the partition table on the host
    own = table(disk)
    check(own["id"] != ZERO and own["id"].lower() != factory["id"].lower(), "disk GUID after: %s" % own["id"])
    check(own["partitions"][0]["uuid"].lower() == new_esp, "ESP UUID after: %s" % own["partitions"][0]["uuid"])
    for a, b in zip(factory["partitions"], own["partitions"]):
        check(a["uuid"] != b["uuid"], "%s kept its factory UUID" % a["name"])
        check((a["start"], a["size"], a["name"], a["type"]) == (b["start"], b["size"], b["name"], b["type"]),
              "%s moved or changed: %r -> %r" % (a["name"], a, b))
    sc.say("the disk's own GUID %s, ESP %s (factory %s)" % (own["id"].lower(), new_esp, factory_esp))

    # d. the factory image attached beside it
    before = sha256(stick)
    with sc.machine(disk, drives=[stick], max_boots=1, deadline=300) as vm:
        secs, text = S.healthy_boot(sc, vm, 1, "b", "2.0.0")
        check(("abide-init: loader started from the ESP %s: looking on its disk only" % new_esp) in text,
              "with the stick: the loader did not start from the device's ESP: %s" % re.findall(r"abide-init: .*", text)[:6])
        check(FIRST not in text, "with the stick: new UUIDs again")
        st = S.status(vm)
        expect_slot(st, "b", state="good", booted=True, version="2.0.0")
        expect_slot(st, "a", state="good", booted=False, version="1.0.0")
        vm.send("sync; poweroff")
        vm.wait_exit(60)
    check(sha256(stick) == before, "the factory image attached beside the disk changed")
    check(table(stick)["id"] == ZERO, "the stick lost the factory mark")

    # e. a damaged primary table (a power cut inside the first boot's write leaves one): OVMF reads the
    # backup and writes the primary back, or abide-init does (arm64-gpt-primary: U-Boot does not)
    want = subprocess.run(["sfdisk", "--dump", disk], check=True, capture_output=True, text=True).stdout
    with open(disk, "r+b") as f:
        f.seek(2 * 512 + 20)
        b = f.read(1)
        f.seek(2 * 512 + 20)
        f.write(bytes([b[0] ^ 0xff]))
    with sc.machine(disk, max_boots=1, deadline=300) as vm:
        secs, text = S.healthy_boot(sc, vm, 1, "b", "2.0.0")
        fixed = "abide-init" if "the kernel read no partition table" in text else "the firmware"
        sc.say("a damaged primary GPT: boot healthy, the table written again by %s" % fixed)
        vm.send("sync; poweroff")
        vm.wait_exit(60)
    r = subprocess.run(["sfdisk", "--dump", disk], capture_output=True, text=True)
    check(r.stdout == want and not r.stderr, "the table after the boot: %s %s" % (r.stderr, r.stdout))


if __name__ == "__main__":
    sys.exit(S.Scenario("identity-twin").run(body))
