#!/usr/bin/env python3
"""A TCP proxy for tests, between abidectl and a local web server, that
injects faults into the server-to-client direction. 127.0.0.1 only.

  fault-proxy.py --upstream PORT --port-file FILE --stats FILE
                 [--cut-every BYTES [--cut-limit N] [--on-cut CMD]]
                 [--stall-at BYTES --stall-sec S]
                 [--flip HEX [--flip-limit N]]
                 [--delay-ms MS] [--status-multi CODE [--status-limit N] [--status-skip N]]
                 [--hold-multi SEC] [--hold-one SEC] [--hold-depth K] [--hold-limit N]
                 [--drop-reuse N]

Counts the bytes sent to clients over all connections (--stats, JSON,
rewritten at every event). --cut-every closes the connection each time that
count crosses a multiple of BYTES (at most --cut-limit times); --on-cut runs
a shell command after the first cut, before the client can reconnect (to
swap the file on the server). --stall-at holds the connection once, sends
nothing for --stall-sec seconds, then closes it. --flip inverts the first
byte of each of the first --flip-limit occurrences (all when 0) of the byte
string HEX in what the server sends (wrong bytes in a response, with the
length and the connection intact; "flips" in the stats). --delay-ms holds
what the client sends for MS milliseconds before passing it on, so each
request costs a round trip of a slower link ("requests" in the stats: the
client's reads that were held). --status-multi gives the answer to a
request for several ranges (a Range header with a comma) the status CODE
instead of 206, for the first --status-limit such answers (all when 0;
"statuses" in the stats) after the first --status-skip: a server that
turns several ranges down.
--hold-multi holds each answer to a request for several ranges, from the
second such request on, until a request comes on another connection, at
most SEC seconds: "overlaps" in the stats counts the answers so released,
each one proof that a client had two requests on their way at once
("hold_timeouts" the others). --hold-one does the same for each answer to
a request for one range once an answer to several was a 200 (one range a
request from then on). --hold-depth K releases a held answer only once
requests came on K other connections after its own: each overlap then
proves K + 1 requests on their way at once. --hold-limit N holds the first
N answers only. Like --flip, these see into plain http only.
--drop-reuse N closes each connection when its request N + 1 comes,
without passing it on or answering it: a server or middlebox that closed
a kept connection just as the client reused it ("drops" in the stats).
--max-connections N answers the first request of a connection opened
while N others are open "503 Service Unavailable" and closes it, without
passing anything on: a server's limit of connections a client ("busy" in
the stats; "most_open" counts the most connections open at once that
were let through). A connection held by --stall-at counts as open until
its --stall-sec are up, whether the client left it or not: a server that
learns of a dropped connection only at its own timeout.
"""
import argparse
import asyncio
import json
import os
import socket
import subprocess

ap = argparse.ArgumentParser()
ap.add_argument("--upstream", type=int, required=True)
ap.add_argument("--port-file", required=True)
ap.add_argument("--stats", required=True)
ap.add_argument("--cut-every", type=int, default=0)
ap.add_argument("--cut-limit", type=int, default=0)
ap.add_argument("--on-cut", default="")
ap.add_argument("--stall-at", type=int, default=0)
ap.add_argument("--stall-sec", type=float, default=0)
ap.add_argument("--flip", default="")
ap.add_argument("--flip-limit", type=int, default=0)
ap.add_argument("--delay-ms", type=float, default=0)
ap.add_argument("--status-multi", type=int, default=0)
ap.add_argument("--status-limit", type=int, default=0)
ap.add_argument("--status-skip", type=int, default=0)
ap.add_argument("--hold-multi", type=float, default=0)
ap.add_argument("--hold-one", type=float, default=0)
ap.add_argument("--hold-depth", type=int, default=1)
ap.add_argument("--hold-limit", type=int, default=0)
ap.add_argument("--drop-reuse", type=int, default=0)
ap.add_argument("--max-connections", type=int, default=0)
args = ap.parse_args()
FLIP = bytes.fromhex(args.flip)

BUF = 64 * 1024
st = {"bytes": 0, "connections": 0, "cuts": 0, "stalls": 0, "flips": 0, "requests": 0, "statuses": 0,
      "multi": 0, "overlaps": 0, "hold_timeouts": 0, "drops": 0, "busy": 0, "most_open": 0}
# --hold-multi, --hold-one: the number of each connection's last request (all counted in order); a 200
# to several ranges seen; the answers held so far (--hold-limit).
seen = {"n": 0, "last": {}, "refused": False, "holds": 0, "open": 0}
next_cut = args.cut_every


def save():
    tmp = args.stats + ".tmp"
    with open(tmp, "w") as f:
        json.dump(st, f)
    os.replace(tmp, args.stats)


async def send(w, data):
    w.write(data)
    await w.drain()
    st["bytes"] += len(data)


def range_header(request):
    """The Range header line of request's head, lower case, or b""."""
    head = request.split(b"\r\n\r\n", 1)[0]
    return next((line.lower() for line in head.split(b"\r\n") if line.lower().startswith(b"range:")), b"")


async def up(r, w, conn):
    try:
        while data := await r.read(BUF):
            # curl sends a request only after the last answer ended: the next answer is this one's.
            rng = range_header(data)
            several = b"," in rng
            if data.startswith((b"GET ", b"HEAD ")):
                conn["served"] += 1
                if args.drop_reuse and conn["served"] > args.drop_reuse:
                    st["drops"] += 1
                    save()
                    conn["client"].close()
                    return
                seen["n"] += 1
                seen["last"][conn["id"]] = seen["n"]
                conn["request"] = seen["n"]
                conn["several"] = several
                conn["hold"] = 0
                if several:
                    st["multi"] += 1
                    if st["multi"] > 1:
                        conn["hold"] = args.hold_multi
                elif rng and seen["refused"]:
                    conn["hold"] = args.hold_one
                if args.hold_limit and seen["holds"] >= args.hold_limit:
                    conn["hold"] = 0
                if conn["hold"]:
                    seen["holds"] += 1
                # The stats as of each request: a test reads them as soon as its client is done.
                save()
            conn["rewrite"] = bool(args.status_multi) and several and st["multi"] > args.status_skip and \
                (not args.status_limit or st["statuses"] < args.status_limit)
            if args.delay_ms:
                st["requests"] += 1
                await asyncio.sleep(args.delay_ms / 1000)
            w.write(data)
            await w.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        w.close()


def flip(data, carry):
    """data with the pattern's first byte inverted where it occurs; carry: the
    bytes already sent just before data (a pattern may straddle two reads,
    then only its part in data can change: the first byte of it there)."""
    if not FLIP or (args.flip_limit and st["flips"] >= args.flip_limit):
        return data
    buf = bytearray(carry + data)
    start = 0
    while (i := bytes(buf).find(FLIP, start)) >= 0:
        if args.flip_limit and st["flips"] >= args.flip_limit:
            break
        j = max(i, len(carry))
        buf[j] ^= 0xFF
        st["flips"] += 1
        start = i + 1
    return bytes(buf[len(carry):])


def other_since(conn):
    """Whether requests came on --hold-depth other connections after conn's last one."""
    return sum(n > conn["request"] for c, n in seen["last"].items() if c != conn["id"]) >= args.hold_depth


async def hold(conn):
    loop = asyncio.get_running_loop()
    end = loop.time() + conn["hold"]
    conn["hold"] = 0
    while not other_since(conn):
        if loop.time() >= end:
            st["hold_timeouts"] += 1
            save()
            return
        await asyncio.sleep(0.002)
    st["overlaps"] += 1
    save()


async def down(r, w, conn):
    global next_cut
    carry = b""
    try:
        while data := await r.read(BUF):
            if conn["several"] and data.startswith(b"HTTP/1.1 200 "):
                seen["refused"] = True
            conn["several"] = False
            if conn["hold"]:
                await hold(conn)
            if conn["rewrite"] and data.startswith(b"HTTP/1.1 206 "):
                data = data[:9] + b"%03d" % args.status_multi + data[12:]
                conn["rewrite"] = False
                st["statuses"] += 1
                save()
            if FLIP:
                sent = data
                data = flip(data, carry)
                carry = (carry + sent)[-(len(FLIP) - 1):] if len(FLIP) > 1 else b""
            cutting = args.cut_every and st["bytes"] + len(data) >= next_cut and \
                (not args.cut_limit or st["cuts"] < args.cut_limit)
            if cutting:
                await send(w, data[:next_cut - st["bytes"]])
                next_cut += args.cut_every
                st["cuts"] += 1
                save()
                if args.on_cut and st["cuts"] == 1:
                    subprocess.run(args.on_cut, shell=True, check=True)
                return
            if args.stall_at and not st["stalls"] and st["bytes"] + len(data) >= args.stall_at:
                await send(w, data[:args.stall_at - st["bytes"]])
                st["stalls"] += 1
                save()
                await asyncio.sleep(args.stall_sec)
                return
            await send(w, data)
    except (ConnectionError, OSError):
        pass
    finally:
        save()
        w.close()


async def refuse(cr, cw):
    """--max-connections: the first request answered 503, the connection closed."""
    try:
        await cr.read(BUF)
        st["busy"] += 1
        save()
        cw.write(b"HTTP/1.1 503 Service Unavailable\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await cw.drain()
    except (ConnectionError, OSError):
        pass
    finally:
        cw.close()


async def handle(cr, cw):
    st["connections"] += 1
    # Its number now: connections accepted while this one waits for its upstream must not share it.
    cid = st["connections"]
    save()
    if args.max_connections and seen["open"] >= args.max_connections:
        await refuse(cr, cw)
        return
    seen["open"] += 1
    st["most_open"] = max(st["most_open"], seen["open"])
    try:
        await serve(cr, cw, cid)
    finally:
        seen["open"] -= 1


async def serve(cr, cw, cid):
    try:
        sr, sw = await asyncio.open_connection("127.0.0.1", args.upstream)
    except OSError:
        cw.close()
        return
    # No Nagle on either side: a response's last small segment must not wait for an ACK that the
    # client delays (40 ms a request on Linux), or the proxy itself would be the slow link.
    for w in (cw, sw):
        w.get_extra_info("socket").setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    conn = {"rewrite": False, "hold": 0, "several": False, "id": cid, "request": 0, "served": 0, "client": cw}
    t_up = asyncio.create_task(up(cr, sw, conn))
    await down(sr, cw, conn)
    # A cut or a stall ends both directions at once.
    sw.close()
    t_up.cancel()


async def main():
    sock = socket.socket()
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.bind(("127.0.0.1", 0))
    server = await asyncio.start_server(handle, sock=sock)
    save()
    with open(args.port_file + ".tmp", "w") as f:
        f.write(str(sock.getsockname()[1]))
    os.replace(args.port_file + ".tmp", args.port_file)
    async with server:
        await server.serve_forever()

asyncio.run(main())
