#!/usr/bin/env python3
"""Writes a tampered copy of a bundle: tamper-bundle.py IN OUT OP INDEX.

OP: flip (one byte in member INDEX's data), truncate (cut inside member INDEX),
swap (members INDEX and INDEX+1), dup (member INDEX twice), extra (an unknown
member after INDEX), dotdot / abs (member INDEX renamed ../x or /x),
grow (member INDEX one byte longer than declared)."""
import io, sys, tarfile

src, dst, op, idx = sys.argv[1], sys.argv[2], sys.argv[3], int(sys.argv[4])
with tarfile.open(src) as t:
    members = [(m, t.extractfile(m).read()) for m in t.getmembers()]

if op == "truncate":
    # Cut the original stream half-way into member idx's data.
    raw = open(src, "rb").read()
    with tarfile.open(src) as t:
        m = t.getmembers()[idx]
    cut = m.offset_data + max(m.size // 2, 1) if m.size else m.offset_data
    open(dst, "wb").write(raw[:cut])
    sys.exit(0)

out = [(m.name, d) for m, d in members]
name, d = out[idx]
if op == "flip":
    b = bytearray(d)
    b[len(b) // 2] ^= 0x01
    out[idx] = (name, bytes(b))
elif op == "swap":
    out[idx], out[idx + 1] = out[idx + 1], out[idx]
elif op == "dup":
    out.insert(idx + 1, (name, d))
elif op == "extra":
    out.insert(idx + 1, ("extra.bin", b"surprise\n"))
elif op == "dotdot":
    out[idx] = ("../" + name, d)
elif op == "abs":
    out[idx] = ("/" + name, d)
elif op == "grow":
    out[idx] = (name, d + b"\0")
else:
    sys.exit("unknown op " + op)

with tarfile.open(dst, "w", format=tarfile.PAX_FORMAT) as t:
    for name, d in out:
        ti = tarfile.TarInfo(name)
        ti.size, ti.mode, ti.mtime, ti.uid, ti.gid = len(d), 0o644, 0, 0, 0
        t.addfile(ti, io.BytesIO(d))
