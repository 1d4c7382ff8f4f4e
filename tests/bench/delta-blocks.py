#!/usr/bin/python3
"""delta-blocks.py OLD NEW [BLOCK]: how much of NEW a device that holds OLD
must fetch, counted independently of abide: the BLOCK-byte blocks of NEW
(default 4096, dm-verity's data block) whose content occurs nowhere in OLD at
a BLOCK-aligned offset. Prints "changed TOTAL BYTES": changed blocks, all
blocks of NEW, and the bytes of the changed blocks."""
import hashlib
import sys


def blocks(path, bs):
    with open(path, "rb") as f:
        while True:
            b = f.read(bs)
            if not b:
                return
            yield hashlib.sha256(b.ljust(bs, b"\0")).digest()


def main():
    old, new = sys.argv[1], sys.argv[2]
    bs = int(sys.argv[3]) if len(sys.argv) > 3 else 4096
    have = set(blocks(old, bs))
    total = changed = 0
    for h in blocks(new, bs):
        total += 1
        if h not in have:
            changed += 1
    print(changed, total, changed * bs)


main()
