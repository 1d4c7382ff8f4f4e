#!/usr/bin/env python3
"""Whether a device serves reads beside a flush or after it (bench-install.sh).

    flush-probe.py IMAGE DEVICE

Writes IMAGE onto DEVICE with O_DIRECT and no flush, starts fdatasync() of
DEVICE in a thread, and 20 ms into it reads the same bytes back with
O_DIRECT. Prints one line: the flush's time, the read's time, and how long
after the flush the read ended. A read that ends about its own time after
the flush waited for it: on such a device an install that reads back what
it wrote before its flush cannot overlap the two (docs/install.md).
"""
import mmap
import os
import sys
import threading
import time

CHUNK = 4 << 20


def read_back(fd, buf, size, device):
    """Reads [0, size) of fd with O_DIRECT into buf, chunk by chunk: the seconds it took."""
    t0 = time.monotonic()
    for off in range(0, size, CHUNK):
        n = min(CHUNK, size - off)
        if os.preadv(fd, [memoryview(buf)[:n]], off) != n:
            sys.exit(f"flush-probe: short read of {device} at {off}")
    return time.monotonic() - t0


def main():
    image, device = sys.argv[1], sys.argv[2]
    size = os.path.getsize(image) // 4096 * 4096
    buf = mmap.mmap(-1, CHUNK)  # page aligned, as O_DIRECT wants
    src = os.open(image, os.O_RDONLY)
    fd = os.open(device, os.O_RDWR | os.O_DIRECT)
    try:
        for off in range(0, size, CHUNK):
            n = min(CHUNK, size - off)
            buf.seek(0)
            buf.write(os.pread(src, n, off))
            os.pwrite(fd, memoryview(buf)[:n], off)
        flush = {}

        def run_flush():
            flush['start'] = time.monotonic()
            os.fdatasync(fd)
            flush['end'] = time.monotonic()

        t = threading.Thread(target=run_flush)
        t.start()
        time.sleep(0.02)
        r0 = time.monotonic()
        took = read_back(fd, buf, size, device)
        t.join()
        # The read again alone, the flush done: its own time on this device.
        alone = read_back(fd, buf, size, device)
    finally:
        os.close(fd)
        os.close(src)
    after = r0 + took - flush['end']
    if flush['end'] <= r0:
        verdict = 'the flush was over before the read began: nothing shown'
    elif after > 0.5 * alone:
        verdict = 'reads wait for the flush here'
    else:
        verdict = 'reads go beside the flush here'
    print(f"flush probe: fdatasync {flush['end'] - flush['start']:.3f} s; an O_DIRECT read of the same "
          f"{size >> 20} MiB issued 20 ms into it took {took:.3f} s and ended {after:.3f} s after it "
          f"({alone:.3f} s alone): {verdict}")


if __name__ == '__main__':
    main()
