#!/usr/bin/python3
"""Issues 10 and 11: a device installs from a web server. Usage: test-network.py {https,cuts,delta}

On the host: a CA made here and a server certificate for IP:10.0.2.2 (the
host's loopback as the guest sees it through QEMU's user-mode network);
nginx (Debian's nginx-light) on 127.0.0.1 at a free port with a config
written here, serving the v2 bundle over https; for `cuts`, the test's fault
proxy (tests/integration/fault-proxy.py) in front of nginx, cutting the
connection twice in the middle of the download. Both are stopped by PID.

In the guest (a factory v1 disk with a virtio NIC; the demo image's
S10network gets its address by DHCP):
  https  the system CA store (the demo image's ca-certificates bundle) does
         not know the test's CA: the install is refused with one line, slot B
         stays unbootable. With [Network] CAFile= the test CA in
         /etc/abide/abide.conf: install, reboot, v2 blessed.
  cuts   the same install through the proxy: two "retry" lines, each resumed
         from the byte reached; no more fetched than the bundle plus one read
         buffer per cut; reboot, v2 blessed.
  (both stream the whole bundle: [Network] Delta=no)
  delta  from the v2-blessed base disk (slot b runs 2.0.0), v3 with one agent
         content file changed, as a delta ([Network] Delta= default): a dry
         run first (nothing written), then the install fetches only the
         blocks the device lacks (a few % of the bundle, printed), reboot,
         v3 boots in slot a and is blessed.
No traffic leaves the host: the guest talks to 10.0.2.2 only.
"""

import os
import re
import shutil
import sys
import time

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import scenarios as S  # noqa: E402
from scenarios import check, expect_slot  # noqa: E402
from webserver import HOST, Nginx, Proxy, guest_write, make_tls  # noqa: E402

READ_BUFFER = 512 * 1024          # abidectl's libcurl buffer (tests/integration/test-http.sh)


def guest_install(sc, vm, url, timeout=600):
    """abidectl install URL in the guest; returns (rc, output, seconds)."""
    t = time.monotonic()
    rc, out = vm.run("abidectl install %s" % url, timeout=timeout)
    secs = time.monotonic() - t
    sc.say("abidectl install %s: exit %d after %.1f s" % (url, rc, secs))
    return rc, out, secs


def installed(sc, vm, out, rc, size):
    """The install succeeded into slot B; returns the bytes it fetched."""
    check(rc == 0, "install exited %d: %s" % (rc, out.strip()[-800:]))
    want = "Installed 2.0.0 into slot b (abide-b+%d.conf)" % S.TRIES
    check(want in out, "install said %r, expected %r" % (out.strip()[-800:], want))
    m = re.search(r"^Fetched (\d+) bytes in (\d+) requests for a (\d+)-byte bundle", out, re.M)
    check(m, "no 'Fetched ...' line: %r" % out.strip()[-800:])
    check(int(m.group(3)) == size, "abidectl saw a %s-byte bundle, the file has %d" % (m.group(3), size))
    st = S.status(vm)
    expect_slot(st, "b", state="pending", version="2.0.0", tries_left=S.TRIES, booted=False)
    expect_slot(st, "a", state="good", booted=True, version="1.0.0")
    return int(m.group(1)), int(m.group(2))


def body(sc, name):
    prep = S.prepare(sc.say)
    bundle = prep.bundles["v2"]
    size = os.path.getsize(bundle)
    www = os.path.join(sc.work, "www")
    os.makedirs(www)
    try:
        os.link(bundle, os.path.join(www, "v2.abide"))
    except OSError:
        shutil.copyfile(bundle, os.path.join(www, "v2.abide"))
    tls = os.path.join(sc.work, "tls")
    make_tls(tls)
    with open(tls + "/ca.pem") as f:
        ca_pem = f.read()
    if name == "delta":
        return delta_body(sc, prep, tls, ca_pem)
    disk = S.factory_disk(prep, os.path.join(sc.work, "disk.img"))
    servers = []
    try:
        ngx = Nginx(os.path.join(sc.work, "nginx"), www, tls)
        servers.append(ngx)
        port = ngx.port
        proxy = None
        if name == "cuts":
            # Two cuts, at about a third and two thirds of the bundle.
            proxy = Proxy(sc.work, ngx.port, "--cut-every", str(size // 3 + 4096), "--cut-limit", "2")
            servers.append(proxy)
            port = proxy.port
        url = "https://%s:%d/v2.abide" % (HOST, port)
        with sc.machine(disk, max_boots=2, deadline=900, network=True) as vm:
            S.healthy_boot(sc, vm, 1, "a", "1.0.0")
            m = vm.wait_for(r"^network: eth0 (\S+) via (\S+)", 60, since=vm.boot_offsets[0])
            check(m.group(1) == "10.0.2.15/24" and m.group(2) == HOST, "DHCP lease: %s via %s" % m.groups())
            sc.say("guest network: eth0 %s via %s" % m.groups())

            if name == "https":
                # Trust in the other direction: the system store does not know the test CA.
                rc, out, _ = guest_install(sc, vm, url)
                lines = [l for l in out.strip().splitlines() if l.strip()]
                check(rc != 0, "installed from a server whose CA the device does not trust: %r" % out)
                check(len(lines) == 1 and lines[0].startswith("abidectl: install: %s: " % url)
                      and "certificate" in lines[0], "refusal not one line naming the URL and the certificate: %r" % out)
                sc.say("refused as expected: %s" % lines[0])
                st = S.status(vm)
                check(st["slots"]["b"]["entry"] is None, "slot b has an entry after a refused install: %r"
                      % st["slots"]["b"])
                expect_slot(st, "a", state="good", booted=True, version="1.0.0")

            guest_write(vm, "/etc/abide/web-ca.pem", ca_pem)
            guest_write(vm, "/etc/abide/abide.conf", "[Network]\nCAFile=/etc/abide/web-ca.pem\nDelta=no\n")
            rc, out, secs = guest_install(sc, vm, url)
            fetched, requests = installed(sc, vm, out, rc, size)
            sc.figure("abidectl install %s (%d bytes, %d requests)" % (name, size, requests), secs, "s")
            gets = [l for l in ngx.requests() if '"GET /v2.abide ' in l]
            check(gets, "nginx logged no GET of the bundle: %r" % ngx.requests())
            if name == "https":
                check(fetched == size and requests == 1, "fetched %d bytes in %d requests for a %d-byte bundle"
                      % (fetched, requests, size))
                check(len(gets) == 1 and re.search(r'" 200 %d ' % size, gets[0]),
                      "nginx: expected one whole GET: %r" % gets)
            else:
                cuts = proxy.stat("cuts")
                retries = re.findall(r"^abidectl: install: %s: (.*); retry (\d+) in [0-9.]+ s from byte (\d+) of "
                                     % re.escape(url), out, re.M)
                check(cuts == 2, "the proxy cut %d times, expected 2" % cuts)
                check(len(retries) == 2, "expected 2 retry lines: %r" % out.strip()[-1500:])
                for why, _, offset in retries:
                    check(why.startswith("connection lost at byte") and 0 < int(offset) < size,
                          "retry line: %r from byte %s" % (why, offset))
                    sc.say("resumed after: %s (from byte %s)" % (why, offset))
                ranged = [l for l in gets if '" 206 ' in l]
                check(len(ranged) == 2, "nginx: expected two Range requests (206): %r" % gets)
                bound = size + cuts * READ_BUFFER
                check(size <= fetched <= bound, "fetched %d bytes for a %d-byte bundle (bound %d)"
                      % (fetched, size, bound))
                sc.figure("bytes fetched over %d connections (bundle %d, bound %d)" % (requests, size, bound),
                          fetched)
            S.reboot(vm)
            _, text = S.healthy_boot(sc, vm, 2, "b", "2.0.0")
            check("Slot b is healthy: marked good" in text, "boot 2: slot b not marked good")
            st = S.status(vm)
            expect_slot(st, "b", state="good", booted=True, version="2.0.0")
            expect_slot(st, "a", state="good", booted=False, version="1.0.0")
    finally:
        for s in servers:
            s.stop()


def delta_body(sc, prep, tls, ca_pem):
    bundle = prep.bundles["v3-update"]
    size = os.path.getsize(bundle)
    www = os.path.join(sc.work, "www")
    try:
        os.link(bundle, os.path.join(www, "v3.abide"))
    except OSError:
        shutil.copyfile(bundle, os.path.join(www, "v3.abide"))
    disk = os.path.join(sc.work, "disk.img")
    S.base_v2_blessed(prep, disk)
    ngx = Nginx(os.path.join(sc.work, "nginx"), www, tls)
    url = "https://%s:%d/v3.abide" % (HOST, ngx.port)
    try:
        with sc.machine(disk, max_boots=2, deadline=900, network=True) as vm:
            S.healthy_boot(sc, vm, 1, "b", "2.0.0")
            vm.wait_for(r"^network: eth0 10\.0\.2\.15/24 via ", 60, since=vm.boot_offsets[0])
            guest_write(vm, "/etc/abide/web-ca.pem", ca_pem)
            guest_write(vm, "/etc/abide/abide.conf", "[Network]\nCAFile=/etc/abide/web-ca.pem\n")

            rc, out = vm.run("abidectl install --dry-run %s" % url, timeout=300)
            check(rc == 0, "dry run exited %d: %s" % (rc, out.strip()[-800:]))
            m = re.search(r"^Would fetch (\d+) bytes in (\d+) requests for a (\d+)-byte bundle$", out, re.M)
            check(m and int(m.group(3)) == size, "dry run: %r" % out.strip()[-800:])
            would, would_requests = int(m.group(1)), int(m.group(2))
            sc.say("dry run: %s" % m.group(0))
            st = S.status(vm)
            expect_slot(st, "a", state="good", version="1.0.0", booted=False)

            dry_gets = len([l for l in ngx.requests() if '"GET /v3.abide ' in l])
            rc, out, secs = guest_install(sc, vm, url)
            check(rc == 0, "install exited %d: %s" % (rc, out.strip()[-800:]))
            want = "Installed 3.0.0 into slot a (abide-a+%d.conf)" % S.TRIES
            check(want in out, "install said %r, expected %r" % (out.strip()[-800:], want))
            m = re.search(r"^Fetched (\d+) bytes in (\d+) requests for a (\d+)-byte bundle$", out, re.M)
            check(m and int(m.group(3)) == size, "no 'Fetched ...' line: %r" % out.strip()[-800:])
            fetched, requests = int(m.group(1)), int(m.group(2))
            for line in out.strip().splitlines():
                sc.say("  " + line)
            plan = re.search(r"root\.img (\d+) blocks: (\d+) fetched in (\d+) ranges", out)
            check(plan, "no delta summary: %r" % out)
            check(fetched == would, "fetched %d bytes, the dry run said %d" % (fetched, would))
            # nginx answers several ranges a request: as many requests as the dry run said.
            check(requests == would_requests, "%d requests, the dry run said %d" % (requests, would_requests))
            check(fetched * 20 < size, "fetched %d of %d bytes: not a delta" % (fetched, size))
            sc.figure("delta: bytes fetched (bundle %d bytes, %d requests)" % (size, requests), fetched)
            sc.figure("delta: per mille of the bundle", round(fetched * 1000 / size, 1))
            sc.figure("delta: root.img blocks fetched of %s" % plan.group(1), int(plan.group(2)))
            sc.figure("abidectl install (delta)", secs, "s")
            gets = [l for l in ngx.requests() if '"GET /v3.abide ' in l]
            check(gets and all('" 206 ' in l for l in gets), "nginx: not all Range requests: %r" % gets)
            check(len(gets) - dry_gets == requests,
                  "nginx logged %d GETs for the install's %d requests: %r" % (len(gets) - dry_gets, requests, gets))
            st = S.status(vm)
            expect_slot(st, "a", state="pending", version="3.0.0", booted=False)
            check(st["slots"]["a"]["fetch"] == {"delta": True, "bytes": fetched, "bundle_size": size},
                  "status: fetch of slot a: %r" % st["slots"]["a"].get("fetch"))

            S.reboot(vm)
            _, text = S.healthy_boot(sc, vm, 2, "a", "3.0.0")
            check("Slot a is healthy: marked good" in text, "boot 2: slot a not marked good")
            check("version 2024.07.19-0409" in text or "2024.07.19-0409" in vm.run("cat /etc/sentinel/content.def")[1],
                  "boot 2: the new content file is not there")
            st = S.status(vm)
            expect_slot(st, "a", state="good", booted=True, version="3.0.0")
            expect_slot(st, "b", state="good", booted=False, version="2.0.0")
    finally:
        ngx.stop()


if __name__ == "__main__":
    sys.exit(S.main("network", ["https", "cuts", "delta"], body))
