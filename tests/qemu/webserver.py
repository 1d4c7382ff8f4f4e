"""Host-side web servers of the network scenarios: nginx (Debian's
nginx-light) on 127.0.0.1 at a free port with a config written by the test,
optionally with a WebDAV location that stores PUT reports, and the test's
fault proxy in front of it. Both are stopped by PID. QEMU guests reach them
at 10.0.2.2 (user-mode networking); no traffic leaves the host."""

import json
import os
import socket
import subprocess
import sys
import time

import scenarios as S
from scenarios import check

HOST = "10.0.2.2"
FAULT_PROXY = os.path.join(S.SRC, "tests", "integration", "fault-proxy.py")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def wait_port(port, proc, what):
    for _ in range(200):
        if proc.poll() is not None:
            raise S.ScenarioError("%s exited %d before listening" % (what, proc.returncode))
        try:
            socket.create_connection(("127.0.0.1", port), timeout=1).close()
            return
        except OSError:
            time.sleep(0.05)
    raise S.ScenarioError("%s does not listen on 127.0.0.1:%d" % (what, port))


def make_tls(d):
    """A CA and a server certificate for 10.0.2.2 (and 127.0.0.1) in d."""
    os.makedirs(d, exist_ok=True)
    S.sh("openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-days", "3650", "-subj", "/CN=abide test web CA",
         "-addext", "basicConstraints=critical,CA:TRUE", "-addext", "keyUsage=critical,keyCertSign,cRLSign",
         "-keyout", d + "/ca.key", "-out", d + "/ca.pem")
    S.sh("openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
         "-subj", "/CN=" + HOST, "-keyout", d + "/server.key", "-out", d + "/server.csr")
    with open(d + "/server.ext", "w") as f:
        f.write("subjectAltName=IP:%s,IP:127.0.0.1\nextendedKeyUsage=serverAuth\nbasicConstraints=CA:FALSE\n" % HOST)
    S.sh("openssl", "x509", "-req", "-in", d + "/server.csr", "-CA", d + "/ca.pem", "-CAkey", d + "/ca.key",
         "-CAcreateserial", "-days", "3650", "-extfile", d + "/server.ext", "-out", d + "/server.crt")


class Nginx:
    """nginx on 127.0.0.1:port over TLS, serving www; config, pid and logs in d."""

    def __init__(self, d, www, tls, dav=None, port=None):
        """dav: a URL path prefix (e.g. "/reports/") where PUT stores files under www.
        port: that port again (a server restarted where the devices expect it)."""
        self.d, self.port = d, port or free_port()
        os.makedirs(d + "/tmp", exist_ok=True)
        self.conf = d + "/nginx.conf"
        self.access = d + "/access.log"
        with open(self.conf, "w") as f:
            f.write("""user root;
worker_processes 1;
pid %(d)s/nginx.pid;
error_log %(d)s/error.log info;
events { worker_connections 64; }
http {
        access_log %(d)s/access.log;
        client_body_temp_path %(d)s/tmp/body;
        proxy_temp_path %(d)s/tmp/proxy;
        fastcgi_temp_path %(d)s/tmp/fastcgi;
        uwsgi_temp_path %(d)s/tmp/uwsgi;
        scgi_temp_path %(d)s/tmp/scgi;
        default_type application/octet-stream;
        server {
                listen 127.0.0.1:%(port)d ssl;
                ssl_certificate %(tls)s/server.crt;
                ssl_certificate_key %(tls)s/server.key;
                root %(www)s;
%(dav)s        }
}
""" % {"d": d, "port": self.port, "tls": tls, "www": www,
       "dav": "" if not dav else ("                location %s {\n                        dav_methods PUT;\n"
                                   "                        create_full_put_path on;\n"
                                   "                        dav_access user:rw group:r all:r;\n"
                                   "                }\n" % dav)})
        S.sh("nginx", "-t", "-q", "-p", d, "-c", self.conf, "-e", d + "/error.log")
        self.proc = subprocess.Popen(["nginx", "-p", d, "-c", self.conf, "-e", d + "/error.log",
                                      "-g", "daemon off;"], stdin=subprocess.DEVNULL)
        wait_port(self.port, self.proc, "nginx")

    def requests(self):
        with open(self.access) as f:
            return [l.strip() for l in f if l.strip()]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)


class Proxy:
    """The test's fault proxy in front of upstream port."""

    def __init__(self, d, upstream, *opts):
        self.portfile, self.stats = d + "/proxy.port", d + "/proxy.json"
        self.proc = subprocess.Popen([sys.executable, FAULT_PROXY, "--upstream", str(upstream),
                                      "--port-file", self.portfile, "--stats", self.stats] + list(opts),
                                     stdin=subprocess.DEVNULL)
        for _ in range(200):
            if os.path.exists(self.portfile) and os.path.getsize(self.portfile):
                break
            check(self.proc.poll() is None, "the fault proxy exited %s" % self.proc.returncode)
            time.sleep(0.05)
        with open(self.portfile) as f:
            self.port = int(f.read())

    def stat(self, key):
        with open(self.stats) as f:
            return json.load(f)[key]

    def stop(self):
        if self.proc.poll() is None:
            self.proc.terminate()
            self.proc.wait(timeout=10)




def guest_write(vm, path, text):
    """Writes text (printable lines, no single quotes) to path in the guest."""
    check("'" not in text, "guest_write: quote in the text")
    lines = " ".join("'%s'" % l for l in text.rstrip("\n").split("\n"))
    vm.run("mkdir -p %s && printf '%%s\\n' %s >%s" % (os.path.dirname(path), lines, path), timeout=60, check=True)
