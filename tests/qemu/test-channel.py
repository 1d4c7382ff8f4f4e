#!/usr/bin/python3
"""Issue 13: the fleet channel, the whole story in one run. Usage: test-channel.py story

On the host: nginx (Debian's nginx-light) over TLS on 127.0.0.1 at a free
port, serving a channel directory made with `abide-build channel` and
storing the devices' reports under /reports/ through its WebDAV module
(dav_methods PUT). The guest reaches it at 10.0.2.2.

Device 1 (a factory v1 disk, its own machine-id):
  1. v2 is published at 100 %; `abidectl update` (by hand once, the config
     is written after the first boot) installs it and reboots. The endpoint
     receives install-started, installed, then blessed, in that order, and
     blessed only after the reboot into v2.
  2. v3 (its agent panics the kernel) is published. The device's own timer
     (/etc/init.d/S60abide-update) finds it, installs it and reboots. nginx
     is stopped meanwhile: the endpoint is down while v3 fails Tries times
     and the device rolls back to v2 unattended.
  3. The rolled-back event is spooled at the first healthy boot of v2; the
     power is cut right after (the spool survives), the device boots v2
     again, nginx comes back on the same port, and the device's timer sends
     rolled-back with the reason. No blessed event for v3 ever arrives.
  4. `abide-build channel watch` reads the stored reports and halts v3.
Device 2 (the v2-blessed base disk, another machine-id) polls afterwards:
the decision is "halted", it stays on v2 with slot a untouched.
Figures: the channel decision's time on the device (`abidectl update
--dry-run`), seconds per step.
"""

import glob
import json
import os
import re
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402
from webserver import HOST, Nginx, guest_write, make_tls  # noqa: E402

INTERVAL_SEC = 10


def channel(prep, *args):
    """abide-build channel ARGS... signed with the demo release key."""
    return S.sh(S.ABIDE_BUILD, "channel", *args, env=dict(os.environ, SOURCE_DATE_EPOCH=str(int(time.time()))))


def sign_args(prep):
    return ["--key", prep.keys + "/signing.key", "--cert", prep.keys + "/signing.crt"]


def add_args(prep):
    """channel add verifies the bundle against the release CA; every change verifies the current channel with it."""
    return sign_args(prep) + ["--ca", prep.ca]


def reports(www):
    """The events the endpoint stored, in the device's sequence order."""
    out = []
    for p in glob.glob(os.path.join(www, "reports", "*.json")):
        with open(p) as f:
            out.append(json.load(f))
    return sorted(out, key=lambda e: (e["machine_id"], e["id"]))


def wait_reports(www, pred, timeout, what):
    end = time.monotonic() + timeout
    while True:
        got = reports(www)
        if pred(got):
            return got
        check(time.monotonic() < end, "after %d s the endpoint has no %s: %s"
              % (timeout, what, [(e["event"], e.get("to_version")) for e in got]))
        time.sleep(1)


def events(got, machine_id):
    return [(e["event"], e.get("to_version")) for e in got if e["machine_id"] == machine_id]


def device_config(url, ca):
    return ("[Network]\nCAFile=%s\n[Update]\nChannel=%s/channel/channel.json\nIntervalSec=%d\nRandomDelaySec=0\n"
            "[Report]\nURL=%s/reports/\nCAFile=%s\n" % (ca, url, INTERVAL_SEC, url, ca))


def setup_device(vm, url, ca_pem, machine_id):
    guest_write(vm, "/etc/abide/web-ca.pem", ca_pem)
    guest_write(vm, "/etc/machine-id", machine_id)
    guest_write(vm, "/etc/abide/abide.conf", device_config(url, "/etc/abide/web-ca.pem"))
    vm.run("sync", timeout=30)


def dry_run_ms(vm, n=5):
    """The channel decision's time on the device, as `abidectl update --dry-run`
    reports it: (whole run, fetch + verification) in ms, means of n runs."""
    total, fetch = [], []
    for _ in range(n):
        rc, out = vm.run("abidectl update --dry-run", timeout=120)
        m = re.search(r"^Decided in ([\d.]+) ms \(channel fetched and verified in ([\d.]+) ms\)", out, re.M)
        check(rc == 0 and m, "abidectl update --dry-run: %d %r" % (rc, out))
        total.append(float(m.group(1)))
        fetch.append(float(m.group(2)))
    return sum(total) / n, sum(fetch) / n


def body(sc, name):
    prep = S.prepare(sc.say)
    www = os.path.join(sc.work, "www")
    chan = os.path.join(www, "channel")
    os.makedirs(os.path.join(www, "reports"))
    tls = os.path.join(sc.work, "tls")
    make_tls(tls)
    with open(tls + "/ca.pem") as f:
        ca_pem = f.read()
    channel(prep, "init", chan, *sign_args(prep))
    channel(prep, "add", chan, prep.bundles["v2"], "--copy", *add_args(prep))
    ngx = Nginx(os.path.join(sc.work, "nginx"), www, tls, dav="/reports/")
    port = ngx.port
    url = "https://%s:%d" % (HOST, port)
    id1, id2 = "1" * 32, "2" * 32
    disk = S.factory_disk(prep, os.path.join(sc.work, "disk.img"))
    try:
        with sc.machine(disk, max_boots=8, deadline=1500, network=True) as vm:
            # 1. v1 -> v2 through the channel.
            S.healthy_boot(sc, vm, 1, "a", "1.0.0")
            vm.wait_for(r"^network: eth0 10\.0\.2\.15/24 via ", 60, since=vm.boot_offsets[0])
            setup_device(vm, url, ca_pem, id1)
            rc, out = vm.run("abidectl update --dry-run", timeout=120)
            check(rc == 0 and re.search(r"\binstall\b", out), "dry run: %r" % out)
            sc.say("dry run: " + " | ".join(out.strip().splitlines()))
            total, fetch = dry_run_ms(vm)
            sc.figure("channel decision on the device under TCG (abidectl update --dry-run, mean of 5)", total, "ms")
            sc.figure("  of which the channel's fetch over TLS and its verification", fetch, "ms")
            sc.figure("  the rest (reading the device's state, the decision)", total - fetch, "ms")
            t = time.monotonic()
            vm.send("abidectl update >/dev/console 2>&1")
            _, text = S.healthy_boot(sc, vm, 2, "b", "2.0.0", timeout=600)
            check("Slot b is healthy: marked good" in text, "boot 2: v2 not blessed")
            got = wait_reports(www, lambda g: ("blessed", "2.0.0") in events(g, id1), 120, "blessed for 2.0.0")
            ev = events(got, id1)
            sc.say("endpoint: %s" % ev)
            for a, b in (("install-started", "installed"), ("installed", "blessed")):
                check(ev.index((a, "2.0.0")) < ev.index((b, "2.0.0")), "%s not before %s: %s" % (a, b, ev))
            sc.figure("channel v2 published -> blessed reported", time.monotonic() - t, "s")

            # 2. v3 panics; the endpoint is down while the device rolls back.
            channel(prep, "add", chan, prep.bundles["v3-panic"], "--copy", *add_args(prep))
            t = time.monotonic()
            slot = S.boot_slot(vm, 3, timeout=300)
            check(slot == "a", "boot 3 started slot %s, expected a (v3)" % slot)
            ngx.stop()
            sc.say("v3 picked up by the device's timer after %.1f s; nginx stopped" % (time.monotonic() - t))
            n = 3
            while S.boot_slot(vm, n, timeout=300) == "a":
                check(n < 3 + S.TRIES, "slot a booted more than %d times" % S.TRIES)
                vm.wait_boot(n + 1, S.WATCHDOG_SEC + 240)
                n += 1
            check(n == 3 + S.TRIES, "slot b came back after %d boots of v3" % (n - 3))
            m = vm.wait_for(r"Rolled back from slot a \(version 3\.0\.0\) to slot b: (.*)", 240,
                            since=vm.boot_offsets[n - 1])
            reason = m.group(1).strip()
            rc, out = vm.run("ls /var/lib/abide/reports", timeout=60)
            check(rc == 0 and "rolled-back" in out, "the rolled-back event is not spooled: %r" % out)
            # 3. Power cut with the event spooled, not sent.
            vm.power_cut()
            sc.note("host: power cut with rolled-back spooled")
            ngx = Nginx(os.path.join(sc.work, "nginx"), www, tls, dav="/reports/", port=port)
            S.healthy_boot(sc, vm, n + 1, "b", "2.0.0")
            got = wait_reports(www, lambda g: ("rolled-back", "3.0.0") in events(g, id1), 120,
                               "rolled-back for 3.0.0")
            rb = [e for e in got if e["event"] == "rolled-back" and e["machine_id"] == id1]
            check(len(rb) == 1 and rb[0]["reason"] == reason and rb[0]["slot"] == "a",
                  "rolled-back event: %r (console: %r)" % (rb, reason))
            check(("blessed", "3.0.0") not in events(got, id1), "a blessed event for v3: %s" % events(got, id1))
            sc.say("endpoint after the rollback: %s" % events(got, id1))
            st = S.status(vm)
            expect_slot(st, "b", state="good", booted=True, version="2.0.0")
            expect_slot(st, "a", state="bad", version="3.0.0")
            check(st["report"]["queue"] == 0, "status: report queue %r" % st["report"])
            check(st["update"]["last_decision"]["verdict"] in ("failed-here", "up-to-date"),
                  "status: update %r" % st["update"])

        # 4. The rollout stops itself.
        out = channel(prep, "watch", chan, "--reports", os.path.join(www, "reports"), *add_args(prep))
        sc.say("watch: " + " | ".join(out.strip().splitlines()))
        with open(os.path.join(chan, "channel.json")) as f:
            doc = json.load(f)
        rel = [r for r in doc["releases"].values()] if isinstance(doc["releases"], dict) else doc["releases"]
        v3 = [r for r in rel if r["version"] == "3.0.0"]
        check(v3 and v3[0]["halted"], "watch did not halt v3: %r" % rel)

        # Device 2 polls afterwards and stays on v2.
        disk2 = os.path.join(sc.work, "disk2.img")
        S.base_v2_blessed(prep, disk2)
        with sc.machine(disk2, max_boots=1, deadline=600, network=True) as vm:
            S.healthy_boot(sc, vm, 1, "b", "2.0.0")
            vm.wait_for(r"^network: eth0 10\.0\.2\.15/24 via ", 60, since=vm.boot_offsets[0])
            setup_device(vm, url, ca_pem, id2)
            rc, out = vm.run("abidectl update", timeout=300)
            check(rc == 0 and "halted" in out, "device 2: abidectl update: %d %r" % (rc, out))
            st = S.status(vm)
            expect_slot(st, "b", state="good", booted=True, version="2.0.0")
            expect_slot(st, "a", state="good", version="1.0.0")
            check(st["update"]["last_decision"]["verdict"] == "halted", "device 2: status %r" % st["update"])
            check(not [e for e in reports(www) if e["machine_id"] == id2 and e["event"] != "update-found"]
                  and not [e for e in reports(www) if e["machine_id"] == id2], "device 2 reported %s"
                  % events(reports(www), id2))
    finally:
        ngx.stop()


if __name__ == "__main__":
    sys.exit(S.main("channel", ["story"], body))
