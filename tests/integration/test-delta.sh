#!/bin/bash
# Delta installs driven by dm-verity (docs/delta.md), against nginx on
# 127.0.0.1. Slot a runs 1.0; 2.0 changes 1 MiB of one file.
# - From a URL into an empty slot b: only the blocks the device does not have
#   are fetched (bounded by the changed blocks + root.verity + the small
#   payloads + headers); b byte-identical to a file install; status --json
#   records the bytes fetched.
# - --dry-run: says what would be fetched, writes nothing; with nothing of root
#   to fetch, 2 requests (the headers, root.verity's upper levels and its
#   signature fetched ahead in one).
# - A new kernel and initrd: no request of their own behind root's blocks, one
#   request for both without; a byte wrong in the kernel once: fetched again
#   alone; every time: refused.
# - Slot b's old content corrupted: those blocks are fetched instead.
# - The proxy rewrites one byte of a fetched block: fetched again; rewrites
#   it every time: refused cleanly (a untouched, b not bootable).
# - A server without Range: the whole bundle, streamed.
# - Blocks changed all over a file: several ranges a request (as many requests
#   as the dry run says, nginx's log agrees), two requests on their way at
#   once (the proxy holds an answer until the next request comes), all of a
#   delta's fetches on two connections (one more after each cut); four on
#   their way at once by default (DeltaConnections=), one with 1; a server
#   of one range a request
#   (max_ranges 1), cuts inside multipart answers, a garbled delimiter (asked
#   again once; garbled again, one range a request), a 416, connections
#   closed as they are reused: still the right slot. A bundle whose headers
#   lie elsewhere (pax headers): the guess misses, still the right slot. A
#   server's limit of connections a client: lowered at once, also when the
#   refused fetch is the oldest (its resume after a stall the server still
#   counts).
# - --delta from a file: local blocks copied, the rest read (no more of the
#   file than the URL's bound).
# - A byte the device stores wrong (root's, the tree's): refused by the read-back.
# - Blocks moved within slot b: read before they are overwritten.
# - Bad invocations: one line, non-zero.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/install-lib.sh"
. "$(dirname "$0")/nginx-lib.sh"
need tar cmp

note "keys, bundles 1.0 and 2.0 (1 MiB of one file changed), disk, nginx"
# Reproducible builds, as a release pipeline makes them: the same kernel and initrd bytes in both.
export SOURCE_DATE_EPOCH=1721362140
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
head -c 300000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
for f in one two three; do head -c $((6 * 1024 * 1024)) /dev/urandom >"$T/payload/$f"; done
V1=$(build_bundle "$T/b1" --set Image.Version=1.0)
# 2.0: bytes 2..3 MiB of 'two' replaced; the marker opens the new content (the proxy looks for it).
MARKER=$(head -c 16 /dev/urandom | od -An -tx1 | tr -d ' \n')
{ head -c $((2 * 1024 * 1024)) "$T/payload/two"; printf "$(echo "$MARKER" | sed 's/../\\x&/g')"
  head -c $((1024 * 1024 - 16)) /dev/urandom; tail -c $((3 * 1024 * 1024)) "$T/payload/two"; } >"$T/two.new"
mv "$T/two.new" "$T/payload/two"
V2=$(build_bundle "$T/b2" --set Image.Version=2.0)
SIZE=$(stat -c %s "$V2")
make_disk 48 2
make_config
fill_slot_a "$V1"
write_image_info 1.0 0
slot_a_print >"$T/a.before"
make_ca ca
make_cert ca server IP:127.0.0.1 serverAuth
mkdir -p "$WWW"
cp "$V2" "$WWW/b.abide"
nginx_start
# Two requests on their way at once at the most: the connection counts below are for two; the
# default (4) and one are tried with 5.0.
printf '[Network]\nCAFile=%s\nDeltaConnections=2\n' "$TLS/ca.pem" >>"$T/abide.conf"
URL=https://127.0.0.1:$HTTPS_PORT/b.abide

# The 4 KiB blocks of 2.0's root image that 1.0's does not have anywhere: what a delta must fetch at least.
mkdir -p "$T/x1" "$T/x2"
tar -C "$T/x1" -xf "$V1"
tar -C "$T/x2" -xf "$V2"
CHANGED=$(python3 - "$T/x1/root.img" "$T/x2/root.img" <<'PY'
import hashlib, sys
def blocks(p):
    with open(p, "rb") as f:
        while b := f.read(4096):
            yield hashlib.sha256(b).digest()
old = set(blocks(sys.argv[1]))
print(sum(1 for d in blocks(sys.argv[2]) if d not in old))
PY
)
VERITY=$(stat -c %s "$T/x2/root.verity")
SIG=$(stat -c %s "$T/x2/root.verity-sig")
echo "   bundle $SIZE bytes; root.img blocks not in 1.0: $CHANGED; root.verity $VERITY bytes"

check_a() {
        slot_a_print >"$T/a.now"
        cmp -s "$T/a.before" "$T/a.now" || die "slot a changed ($1): $(diff "$T/a.before" "$T/a.now")"
}
b_print() {
        sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" "$T/esp/abide/b/vmlinuz" "$T/esp/abide/b/initrd" | awk '{print $1}'
        entry_of b
}
install() { "$ABIDECTL" install "$@"; }
# fetch_figures: "BYTES REQUESTS" of the "Fetched ..." line in $T/out
fetch_figures() { sed -n 's/^Fetched \([0-9]*\) bytes in \([0-9]*\) requests.*/\1 \2/p' "$T/out"; }
# num WHAT: the number after WHAT in $T/out
num() { sed -n "s/.*$1 \([0-9]*\).*/\1/p" "$T/out" | head -n 1; }

note "delta from the URL into an empty slot b"
"$ABIDECTL" install "$URL" >"$T/out" 2>"$T/err" || die "delta install failed: $(cat "$T/err")"
cat "$T/out" | sed 's/^/   /'
grep -qx "Installed 2.0 into slot b (abide-b+3.conf)" "$T/out" || die "delta install: $(cat "$T/out")"
fetched=$(num Fetched)
to_fetch=$(sed -n 's/.*root.img [0-9]* blocks: \([0-9]*\) fetched in.*/\1/p' "$T/out")
[ -n "$fetched" ] && [ -n "$to_fetch" ] || die "no figures: $(cat "$T/out")"
[ "$to_fetch" -ge "$CHANGED" ] || die "fetched $to_fetch blocks, $CHANGED differ"
# The target: at most 1.02 x the changed blocks, plus root.verity and root.verity-sig
# (the kernel and initrd are the running slot's, from the ESP).
bound=$(( CHANGED * 4096 * 102 / 100 + VERITY + SIG ))
echo "   fetched $fetched of $SIZE bytes ($(( fetched * 1000 / SIZE )) per mille); changed blocks + root.verity + signature: $(( CHANGED * 4096 + VERITY + SIG )); bound $bound"
[ "$fetched" -le "$bound" ] || die "fetched $fetched bytes, more than $bound"
b_print >"$T/b.delta"
check_a "delta install"
st=$("$ABIDECTL" status --json)
python3 - "$fetched" "$SIZE" <<PY || die "status --json: fetch of slot b: $st"
import json, sys
f = json.loads('''$st''')["slots"]["b"]["fetch"]
assert f == {"delta": True, "bytes": int(sys.argv[1]), "bundle_size": int(sys.argv[2])}, f
PY

note "the file install gives the same slot b"
"$ABIDECTL" install --force "$V2" >/dev/null
b_print | cmp -s "$T/b.delta" - || die "slot b after the delta install differs from the file install"
st=$("$ABIDECTL" status --json)
python3 -c 'import json,sys; f = json.loads(sys.argv[1])["slots"]["b"]["fetch"]; assert f["delta"] is False and f["bytes"] >= f["bundle_size"] - 10240, f' "$st" ||
        die "status --json after a file install: $st"

note "--dry-run: b already holds 2.0, so nothing of root.img is fetched; nothing written"
b_print >"$T/b.before"
"$ABIDECTL" install --force --dry-run "$URL" >"$T/out" 2>"$T/err" || die "dry run failed: $(cat "$T/err")"
cat "$T/out" | sed 's/^/   /'
grep -q "^Would fetch [0-9]* bytes in [0-9]* requests for a $SIZE-byte bundle$" "$T/out" || die "dry run: $(cat "$T/out")"
grep -q "root.img [0-9]* blocks: 0 to be fetched in 0 ranges" "$T/out" || die "dry run fetches root blocks: $(cat "$T/out")"
# The head, then the payloads' headers with root.verity's superblock and upper levels and
# root.verity-sig, guessed from the manifest's sizes and asked for in one request (docs/delta.md,
# step 2); the kernel and initrd are on the ESP.
grep -q "^Would fetch [0-9]* bytes in 2 requests " "$T/out" || die "dry run: not 2 requests: $(cat "$T/out")"
grep -q "^Installed" "$T/out" && die "dry run installed"
b_print | cmp -s "$T/b.before" - || die "dry run wrote slot b"

note "the running slot's kernel on the ESP a byte off: fetched from the bundle, its initrd taken"
# The ESP's copies are taken only when their size and sha256 are the manifest's (docs/delta.md).
cp -p "$T/esp/abide/a/vmlinuz" "$T/vmlinuz.a"
flip_byte "$T/esp/abide/a/vmlinuz" 1000
"$ABIDECTL" install --force "$V1" >/dev/null
"$ABIDECTL" install --force "$URL" >"$T/out" 2>"$T/err" || die "delta with a's kernel a byte off: $(cat "$T/err")"
kbytes=$(stat -c %s "$T/vmlinuz.a") ibytes=$(stat -c %s "$T/esp/abide/a/initrd")
# Fetched: the kernel and root.verity-sig.
grep -q "other payloads $((kbytes + SIG)) bytes fetched, $ibytes bytes from the ESP" "$T/out" ||
        die "a's kernel a byte off: not fetched ($kbytes bytes), or a's initrd ($ibytes bytes) not taken: $(cat "$T/out")"
b_print | cmp -s "$T/b.delta" - || die "slot b after a delta with a's kernel a byte off differs from the file install"
mv "$T/vmlinuz.a" "$T/esp/abide/a/vmlinuz"
check_a "a's kernel a byte off"
check_a "dry run"

note "slot b's old content corrupted: those blocks are fetched instead"
python3 - "$ROOT_B" <<'PY'
import sys
with open(sys.argv[1], "r+b") as f:
    for block in (3, 700, 1500):
        f.seek(block * 4096 + 100)
        b = f.read(1)
        f.seek(block * 4096 + 100)
        f.write(bytes([b[0] ^ 0xFF]))
PY
"$ABIDECTL" install --force "$URL" >"$T/out" 2>"$T/err" || die "install over a corrupted b failed: $(cat "$T/err")"
grep -q "^[0-9]* local block(s) did not match their leaf hash and were fetched instead$" "$T/out" ||
        die "no local mismatch reported: $(cat "$T/out")"
echo "   $(grep 'did not match' "$T/out")"
b_print | cmp -s "$T/b.delta" - || die "slot b after repairing corrupt blocks differs"
check_a "corrupted b"

note "an old tree's superblock that claims more blocks than its slot holds: not used, the install goes on"
# The old trees are hints read from partitions nobody signed (docs/delta.md, step 5). set_blocks DEV N:
# slot a's verity superblock (the same salt) onto DEV, its data_blocks (u64 at byte 72) set to N.
set_blocks() {
        python3 - "$VERITY_A" "$1" "$2" <<'PY' || die "cannot write a superblock onto $1"
import os, struct, sys
with open(sys.argv[1], "rb") as f:
    sb = bytearray(f.read(4096))
assert sb[:8] == b"verity\0\0", "slot a has no verity superblock"
sb[72:80] = struct.pack("<Q", int(sys.argv[3]))
with open(sys.argv[2], "r+b") as f:
    f.write(sb)
    f.flush()
    os.fsync(f.fileno())
PY
}
ROOT_BLOCKS=$(( $(blockdev --getsize64 "$ROOT_B") / 4096 ))
# 2^40 blocks: 32 TiB of leaves, which the install tried to allocate ('Cannot allocate memory'); one block
# past the root partition: a tree that fits its partition but not the data it would cover.
for n in $((1 << 40)) $((ROOT_BLOCKS + 1)); do
        set_blocks "$VERITY_B" "$n"
        "$ABIDECTL" install --force --dry-run "$URL" >"$T/out" 2>"$T/err" ||
                die "dry run over b's superblock of $n blocks failed: $(cat "$T/err")"
        grep -qx "Slot b's old blocks not used: its verity superblock covers more blocks than its root partition holds" "$T/out" ||
                die "dry run over b's superblock of $n blocks: $(cat "$T/out")"
        grep -q "^Running slot's blocks not used" "$T/out" && die "slot a's tree not used: $(cat "$T/out")"
done
echo "   $(grep 'old blocks not used' "$T/out")"
set_blocks "$VERITY_B" $((1 << 40))
"$ABIDECTL" install --force "$URL" >"$T/out" 2>"$T/err" || die "install over b's superblock of 2^40 blocks failed: $(cat "$T/err")"
grep -qx "Slot b's old blocks not used: its verity superblock covers more blocks than its root partition holds" "$T/out" ||
        die "install over b's superblock of 2^40 blocks: $(cat "$T/out")"
b_print | cmp -s "$T/b.delta" - || die "slot b after a delta over b's superblock of 2^40 blocks differs"
# The running slot's tree goes through the same check (a's superblock put back after).
dd if="$VERITY_A" of="$T/verity-a.head" bs=4096 count=1 status=none
set_blocks "$VERITY_A" $((1 << 40))
rc=0
"$ABIDECTL" install --force --dry-run "$URL" >"$T/out" 2>"$T/err" || rc=$?
dd if="$T/verity-a.head" of="$VERITY_A" bs=4096 count=1 conv=notrunc,fsync status=none
[ $rc = 0 ] || die "dry run over a's superblock of 2^40 blocks failed: $(cat "$T/err")"
grep -qx "Running slot's blocks not used: its verity superblock covers more blocks than its root partition holds" "$T/out" ||
        die "dry run over a's superblock of 2^40 blocks: $(cat "$T/out")"
check_a "old superblocks of 2^40 blocks"

note "the proxy rewrites one byte of a fetched block once: fetched again"
# b gets 1.0 (from a's content it is all local), so 2.0's changed blocks go over the proxy.
"$ABIDECTL" install --force "$V1" >/dev/null
# Over http: the proxy must see the bytes (the bundle is signed; TLS is not what protects them).
proxy_start "$HTTP_PORT" --flip "$MARKER" --flip-limit 1
"$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/b.abide" >"$T/out" 2>"$T/err" ||
        die "install with one wrong byte failed: $(cat "$T/err")"
[ "$(proxy_stat flips)" -eq 1 ] || die "the proxy flipped $(proxy_stat flips) times"
grep -q "^1 fetched block(s) did not match their leaf hash and were fetched again$" "$T/out" ||
        die "no refetch reported: $(cat "$T/out")"
b_print | cmp -s "$T/b.delta" - || die "slot b after a refetch differs"
check_a "one wrong byte"

note "the proxy rewrites it every time: refused, b not bootable"
"$ABIDECTL" install --force "$V1" >/dev/null
proxy_start "$HTTP_PORT" --flip "$MARKER"
rm -f "$ENTRIES"/abide-b*.conf
expect_fail "^abidectl: install: http://127\.0\.0\.1:$PROXY_PORT/b\.abide: 1 block\(s\) of 'root.img' fetched twice do not match their dm-verity leaf hashes" \
        install --force "http://127.0.0.1:$PROXY_PORT/b.abide"
b_not_bootable || die "b bootable after a refused delta: $(entry_of b)"
check_a "wrong bytes every time"
proxy_stop

note "a new kernel and initrd: asked for behind root's last ranges, or together; no request each"
# 2.1 twice, with the same root (reproducible) and only the kernel and initrd apart: the second's
# kernel and initrd cost bytes, not requests.
mkdir -p "$T/kernel-new"
head -c 300000 /dev/urandom >"$T/kernel-new/vmlinuz-$KVER"
cp "$INIT" "$T/init-new"
printf '\n' >>"$T/init-new"        # another file in the initramfs: another initrd
V21=$(build_bundle "$T/b21" --set Image.Version=2.1)
V21K=$(build_bundle "$T/b21k" --set Image.Version=2.1 --set "Boot.Kernel=$T/kernel-new/vmlinuz-$KVER" --init "$T/init-new")
python3 - "$V21" "$V21K" <<'PY' || die "2.1 and its new-kernel twin are not apart in the kernel and initrd only"
import json, sys, tarfile
def digests(path):
    with tarfile.open(path) as t:
        return {p["role"]: p["sha256"] for p in json.load(t.extractfile("manifest.json"))["payloads"]}
a, b = digests(sys.argv[1]), digests(sys.argv[2])
assert [r for r in a if a[r] != b[r]] == ["kernel", "initrd"], (a, b)
PY
cp "$V21" "$WWW/k0.abide"
cp "$V21K" "$WWW/k1.abide"
"$ABIDECTL" install --force "$V21K" >/dev/null
b_print >"$T/b.k1"
# delta_requests NAME: into a b that holds 1.0 (root blocks to fetch); the requests, checked against the dry run.
delta_requests() {
        "$ABIDECTL" install --force "$V1" >/dev/null
        "$ABIDECTL" install --force --dry-run "https://127.0.0.1:$HTTPS_PORT/$1" >"$T/out" 2>"$T/err" || die "dry run of $1: $(cat "$T/err")"
        local would; would=$(sed -n 's/^Would fetch [0-9]* bytes in \([0-9]*\) requests.*/\1/p' "$T/out")
        "$ABIDECTL" install --force "https://127.0.0.1:$HTTPS_PORT/$1" >"$T/out" 2>"$T/err" || die "delta of $1 failed: $(cat "$T/err")"
        read -r bytes requests < <(fetch_figures)
        [ "$requests" = "$would" ] || die "$1: $requests requests, the dry run said $would"
        echo "$requests"
}
k0=$(delta_requests k0.abide)
k1=$(delta_requests k1.abide)
b_print | cmp -s "$T/b.k1" - || die "slot b after a delta with a new kernel and initrd differs from the file install"
echo "   root's blocks and the same kernel: $k0 requests; and a new kernel and initrd: $k1"
[ "$k1" = "$k0" ] || die "a new kernel and initrd took $((k1 - k0)) request(s) of their own"
# Nothing of root to fetch: the head, the headers, then the kernel and initrd in one request.
"$ABIDECTL" install --force "$V21" >/dev/null
"$ABIDECTL" install --force --dry-run "https://127.0.0.1:$HTTPS_PORT/k1.abide" >"$T/out" 2>"$T/err" || die "dry run: $(cat "$T/err")"
grep -q "root.img [0-9]* blocks: 0 to be fetched" "$T/out" || die "2.1 over 2.1 fetches root blocks: $(cat "$T/out")"
grep -q "^Would fetch [0-9]* bytes in 3 requests " "$T/out" || die "dry run: not 3 requests: $(cat "$T/out")"
"$ABIDECTL" install --force "https://127.0.0.1:$HTTPS_PORT/k1.abide" >"$T/out" 2>"$T/err" || die "delta failed: $(cat "$T/err")"
grep -q "^Fetched [0-9]* bytes in 3 requests " "$T/out" || die "not 3 requests: $(cat "$T/out")"
b_print | cmp -s "$T/b.k1" - || die "slot b after a delta of the kernel and initrd alone differs from the file install"
# A wrong byte in the kernel: the kernel alone again; wrong every time: refused.
KMARK=$(od -An -tx1 -j 100000 -N 16 "$T/kernel-new/vmlinuz-$KVER" | tr -d ' \n')
"$ABIDECTL" install --force "$V1" >/dev/null
proxy_start "$HTTP_PORT" --flip "$KMARK" --flip-limit 1
"$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/k1.abide" >"$T/out" 2>"$T/err" || die "one wrong byte in the kernel: $(cat "$T/err")"
[ "$(proxy_stat flips)" -eq 1 ] || die "the proxy flipped $(proxy_stat flips) times"
grep -q "^1 fetched payload(s) did not match the manifest and were fetched again$" "$T/out" || die "no refetch said: $(cat "$T/out")"
read -r bytes requests < <(fetch_figures)
[ "$requests" = $((k1 + 1)) ] || die "$requests requests with one wrong byte in the kernel, $((k1 + 1)) expected"
b_print | cmp -s "$T/b.k1" - || die "slot b after the kernel fetched again differs"
proxy_start "$HTTP_PORT" --flip "$KMARK"
rm -f "$ENTRIES"/abide-b*.conf
expect_fail "^abidectl: install: http://127\.0\.0\.1:$PROXY_PORT/k1\.abide: 'vmlinuz': sha256 mismatch with the manifest" install --force "http://127.0.0.1:$PROXY_PORT/k1.abide"
[ "$(proxy_stat flips)" -eq 2 ] || die "the proxy flipped $(proxy_stat flips) times, 2 expected"
b_not_bootable || die "b bootable after a kernel fetched wrong twice: $(entry_of b)"
check_a "new kernel and initrd"
proxy_stop

note "root.verity changed on the server (the manifest still signed): refused before anything is written"
python3 - "$V2" "$WWW/bad-tree.abide" <<'PY'
import sys, tarfile
data = bytearray(open(sys.argv[1], "rb").read())
with tarfile.open(sys.argv[1]) as t:
    m = t.getmember("root.verity")
data[m.offset_data + 4096 + 40] ^= 0xFF     # the level above the leaves: what the tree fetch trusts least
open(sys.argv[2], "wb").write(data)
PY
"$ABIDECTL" install --force "$V1" >/dev/null
rm -f "$ENTRIES"/abide-b*.conf
sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" >"$T/bparts.before"
expect_fail "^abidectl: install: https://127\.0\.0\.1:$HTTPS_PORT/bad-tree\.abide: 'root.verity': sha256 mismatch with the manifest" install --force "https://127.0.0.1:$HTTPS_PORT/bad-tree.abide"
sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" | cmp -s "$T/bparts.before" - || die "b written although its new tree was refused"
b_not_bootable || die "b bootable after a refused tree"
check_a "bad tree"

note "a bundle signed by a CA the device does not trust: refused before anything is read but headers"
"$ABIDE_BUILD" keygen -o "$T/other" >/dev/null
cp "$(KEY=$T/other/signing.key CERT=$T/other/signing.crt build_bundle "$T/b-other" --set Image.Version=2.0)" "$WWW/other.abide"
expect_fail "^abidectl: install: https://127\.0\.0\.1:$HTTPS_PORT/other\.abide: manifest.json.sig: signature (does not match|not trusted)" install --force "https://127.0.0.1:$HTTPS_PORT/other.abide"
sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" | cmp -s "$T/bparts.before" - || die "b written for an untrusted bundle"
b_not_bootable || die "b bootable after an untrusted bundle"

note "the bundle replaced on the server between two of the delta's requests: refused"
cp "$V2" "$WWW/swap.abide"
# 1.0 and 2.0 have the same size: nginx's ETag (mtime-size) tells them apart only by the mtime,
# so the served copy gets an old one (a copy within the same second would keep the ETag; the
# signed hashes would still refuse it, with another message).
touch -d @1700000000 "$WWW/swap.abide"
# The proxy cuts once and swaps the file before the retry; stderr: the retry line, then the refusal.
proxy_start "$HTTP_PORT" --cut-every 12000 --cut-limit 1 --on-cut "cp '$V1' '$WWW/swap.abide'"
rm -f "$ENTRIES"/abide-b*.conf
"$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/swap.abide" >/dev/null 2>"$T/err" && die "a swapped bundle installed"
tail -n 1 "$T/err" | grepq "^abidectl: install: http://127.0.0.1:$PROXY_PORT/swap.abide: the bundle changed on the server between requests$" ||
        die "swapped bundle: $(cat "$T/err")"
head -n -1 "$T/err" | grep -v '; retry [0-9]* in [0-9.]* s from byte ' && die "more than retry lines: $(cat "$T/err")"
echo "   refused as expected: $(tail -n 1 "$T/err")"
b_not_bootable || die "b bootable after a bundle swapped mid-install"
check_a "swapped bundle"
proxy_stop

note "a server without Range: the whole bundle, streamed"
"$ABIDECTL" install --force "https://127.0.0.1:$HTTPS_PORT/norange/b.abide" >"$T/out" 2>"$T/err" ||
        die "install from a server without Range failed: $(cat "$T/err")"
grep -q "the server ignores Range requests .*; fetching the whole bundle$" "$T/err" || die "no fallback said: $(cat "$T/err")"
grep -q "^Fetched $SIZE bytes in 1 requests for a $SIZE-byte bundle$" "$T/out" || die "not a full stream: $(cat "$T/out")"
b_print | cmp -s "$T/b.delta" - || die "slot b after the fallback differs"

note "blocks changed all over a file: several ranges a request"
# 4.0: every fourth 4 KiB block of 'three' rewritten, so its changed blocks make hundreds of runs.
cp "$T/payload/three" "$T/three.orig"
python3 - "$T/payload/three" <<'PY'
import os, sys
with open(sys.argv[1], "r+b") as f:
    size = os.fstat(f.fileno()).st_size
    for block in range(0, size // 4096, 4):
        f.seek(block * 4096)
        f.write(os.urandom(4096))
PY
V4=$(build_bundle "$T/b4" --set Image.Version=4.0)
mv "$T/three.orig" "$T/payload/three"
cp "$V4" "$WWW/b4.abide"
"$ABIDECTL" install --force "$V4" >/dev/null
b_print >"$T/b.v4"
# log_gets [NAME]: the GETs of NAME (b4.abide) nginx logged since the last call, one status per line.
log_gets() { grep -o "\"GET /[a-z]*/*${1:-b4.abide} HTTP/[0-9.]*\" [0-9]*" "$NGX/access.log" | awk '{print $NF}'; : >"$NGX/access.log"; }
"$ABIDECTL" install --force "$V1" >/dev/null
"$ABIDECTL" install --force --dry-run "https://127.0.0.1:$HTTPS_PORT/b4.abide" >"$T/dry" 2>"$T/err" || die "dry run of 4.0: $(cat "$T/err")"
read -r WOULD_BYTES WOULD_REQ < <(sed -n 's/^Would fetch \([0-9]*\) bytes in \([0-9]*\) requests.*/\1 \2/p' "$T/dry")
RUNS=$(sed -n 's/.*root.img [0-9]* blocks: [0-9]* to be fetched in \([0-9]*\) ranges.*/\1/p' "$T/dry")
[ "${RUNS:-0}" -gt 256 ] || die "4.0 differs from 1.0 in ${RUNS:-no} runs: the images do not test several ranges a request"
: >"$NGX/access.log"
"$ABIDECTL" install --force "https://127.0.0.1:$HTTPS_PORT/b4.abide" >"$T/out" 2>"$T/err" || die "delta of 4.0 failed: $(cat "$T/err")"
read -r bytes requests < <(fetch_figures)
echo "   $RUNS runs of root.img blocks: fetched $bytes bytes in $requests requests (the dry run: $WOULD_BYTES in $WOULD_REQ)"
[ "$bytes" = "$WOULD_BYTES" ] && [ "$requests" = "$WOULD_REQ" ] || die "fetched $bytes bytes in $requests requests, the dry run said $WOULD_BYTES in $WOULD_REQ"
[ "$requests" -lt $((RUNS / 16)) ] || die "$requests requests for $RUNS runs"
grep -q "one range a request" "$T/out" && die "nginx was given one range a request: $(cat "$T/out")"
gets=$(log_gets)
[ "$(echo "$gets" | grep -c .)" = "$requests" ] && [ "$(echo "$gets" | grep -vc '^206$')" = 0 ] ||
        die "nginx logged $(echo "$gets" | sort | uniq -c | tr '\n' ' ') for $requests requests"
b_print | cmp -s "$T/b.v4" - || die "slot b after a delta of several ranges a request differs from the file install"

note "a bundle whose headers are not where abide-build puts them (pax headers): each asked for on its own"
# The same members and bytes, the signed manifest unchanged; an extended header in front of each
# payload's moves every header after the first payload's from where the guess puts it.
python3 - "$V4" "$WWW/pax.abide" <<'PY'
import sys, tarfile
with tarfile.open(sys.argv[1]) as src, tarfile.open(sys.argv[2], "w", format=tarfile.PAX_FORMAT) as out:
    for m in src.getmembers():
        if not m.name.startswith("manifest.json"):
            m.pax_headers = {"comment": "not where abide-build puts it"}
        out.addfile(m, src.extractfile(m))
PY
"$ABIDECTL" install --force "$V1" >/dev/null
"$ABIDECTL" install --force "http://127.0.0.1:$HTTP_PORT/pax.abide" >"$T/out" 2>"$T/err" || die "delta of a bundle with pax headers failed: $(cat "$T/err")"
read -r bytes pax_requests < <(fetch_figures)
echo "   $pax_requests requests (as abide-build wrote it: $WOULD_REQ)"
[ "$pax_requests" -gt "$WOULD_REQ" ] || die "$pax_requests requests for a bundle whose headers are elsewhere, $WOULD_REQ for the one abide-build wrote"
b_print | cmp -s "$T/b.v4" - || die "slot b after a delta of a bundle with pax headers differs"

note "the delta's fetches share two connections (https through the proxy, no faults)"
"$ABIDECTL" install --force "$V1" >/dev/null
proxy_start "$HTTPS_PORT"
"$ABIDECTL" install --force "https://127.0.0.1:$PROXY_PORT/b4.abide" >"$T/out" 2>"$T/err" || die "delta through the proxy failed: $(cat "$T/err")"
read -r bytes requests < <(fetch_figures)
echo "   $requests requests in $(proxy_stat connections) connection(s)"
[ "$requests" = "$WOULD_REQ" ] && [ "$(proxy_stat connections)" = 2 ] ||
        die "$requests requests in $(proxy_stat connections) connections, $WOULD_REQ in 2 expected"
b_print | cmp -s "$T/b.v4" - || die "slot b after a delta on two connections differs"
proxy_stop

# delta4 WHAT PROXY_OPTION...: slot b back to 1.0, then 4.0 from nginx (http) through the proxy
# started with the options; its output in $T/out and $T/err, its figures in $bytes and $requests.
delta4() {
        local what=$1
        shift
        "$ABIDECTL" install --force "$V1" >/dev/null
        proxy_start "$HTTP_PORT" "$@"
        "$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/b4.abide" >"$T/out" 2>"$T/err" ||
                die "delta $what failed: $(cat "$T/err")"
        read -r bytes requests < <(fetch_figures)
}

note "kept connections closed by the other end just as they are reused: asked again, slot right"
# A server's keepalive_timeout, a NAT or load balancer that forgets idle connections: the proxy
# closes each connection when its second request comes, unanswered.
delta4 "over dropped connections" --drop-reuse 1
echo "   $(proxy_stat drops) requests dropped with their connection; $requests requests in $(proxy_stat connections) connections"
[ "$(proxy_stat drops)" -ge 4 ] || die "the proxy dropped $(proxy_stat drops) requests: the test tests nothing"
[ "$bytes" = "$WOULD_BYTES" ] || die "fetched $bytes bytes over dropped connections, $WOULD_BYTES expected"
b_print | cmp -s "$T/b.v4" - || die "slot b after a delta over dropped connections differs"
proxy_stop

note "TimeoutSec= bounds the delta's whole download, not each of its fetches"
# Each request held 300 ms: every fetch alone ends well within 1 s, the 4.0's 7 requests do not
# (at least 4 one after another: the head, the headers with root.verity's upper levels, its leaf
# blocks, root's first runs).
cp "$T/abide.conf" "$T/abide.conf.main"
printf 'TimeoutSec=1\n' >>"$T/abide.conf"
"$ABIDECTL" install --force "$V1" >/dev/null
rm -f "$ENTRIES"/abide-b*.conf
proxy_start "$HTTP_PORT" --delay-ms 300
expect_fail "^abidectl: install: http://127.0.0.1:$PROXY_PORT/b4.abide: (TimeoutSec=1 reached at byte [0-9]+ of [0-9]+|.*: the next would start past TimeoutSec=1)$" \
        "$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/b4.abide"
b_not_bootable || die "b bootable after a delta past TimeoutSec=: $(entry_of b)"
# The same with room: it installs.
sed -i 's/^TimeoutSec=1$/TimeoutSec=60/' "$T/abide.conf"
"$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/b4.abide" >"$T/out" 2>"$T/err" || die "delta within TimeoutSec=60 failed: $(cat "$T/err")"
b_print | cmp -s "$T/b.v4" - || die "slot b after a delta within TimeoutSec= differs"
proxy_stop
mv "$T/abide.conf.main" "$T/abide.conf"
check_a "TimeoutSec="

note "two requests for several ranges on their way at once (the proxy holds each answer until another request comes)"
# Without a second request on its way, a held answer is what the install waits for: nothing would
# come to release it, and the proxy lets it go after 1 s as a hold timeout instead.
delta4 "with held answers" --hold-multi 1
echo "   $(proxy_stat multi) requests for several ranges: $(proxy_stat overlaps) answers released by the next request, $(proxy_stat hold_timeouts) after 1 s"
[ "$(proxy_stat multi)" -ge 3 ] || die "$(proxy_stat multi) requests for several ranges: too few to overlap"
[ "$(proxy_stat overlaps)" -ge 1 ] || die "no request came while an answer was held: one request at a time"
[ "$requests" = "$WOULD_REQ" ] || die "$requests requests with held answers, $WOULD_REQ expected"
b_print | cmp -s "$T/b.v4" - || die "slot b after a delta with held answers differs"
proxy_stop
: >"$NGX/access.log"

# one_range_after REASON WHAT: after WHAT, the install said it went to one range a request for
# REASON (a pattern), made more requests than there are runs, and left 4.0's slot b; its figures
# in bytes and requests.
one_range_after() {
        grep -qx "The server did not answer several ranges in one request ($1): one range a request" "$T/out" ||
                die "no fallback said after $2: $(cat "$T/out")"
        read -r bytes requests < <(fetch_figures)
        [ "$requests" -gt "$RUNS" ] || die "$requests requests for $RUNS runs one at a time after $2"
        b_print | cmp -s "$T/b.v4" - || die "slot b after $2 differs"
}

note "a server that takes one range a request (nginx max_ranges 1): the rest one range a request"
"$ABIDECTL" install --force "$V1" >/dev/null
"$ABIDECTL" install --force "https://127.0.0.1:$HTTPS_PORT/onerange/b4.abide" >"$T/out" 2>"$T/err" ||
        die "delta from a server of one range a request failed: $(cat "$T/err")"
one_range_after "HTTP 200 to a request for [0-9]* ranges" "nginx's max_ranges 1"
echo "   fetched $bytes bytes in $requests requests"
[ "$bytes" = "$WOULD_BYTES" ] || die "fetched $bytes bytes, $WOULD_BYTES expected (the 200 is cut off unread)"
gets=$(log_gets)
[ "$(echo "$gets" | grep -c '^200$')" = 1 ] || die "nginx logged $(echo "$gets" | sort | uniq -c | tr '\n' ' ')"

note "connections cut in multipart answers: resumed from the byte reached, several ranges a request"
delta4 "with cuts" --cut-every 400000 --cut-limit 3
[ "$(proxy_stat cuts)" -eq 3 ] || die "the proxy cut $(proxy_stat cuts) times"
[ "$(grep -c '; retry [0-9]* in [0-9.]* s from byte ' "$T/err")" = 3 ] || die "expected 3 retry lines: $(cat "$T/err")"
grep -q "one range a request" "$T/out" && die "a cut turned several ranges a request off: $(cat "$T/out")"
echo "   3 cuts: fetched $bytes bytes in $requests requests (without cuts: $WOULD_BYTES in $WOULD_REQ)"
[ "$requests" -le $((WOULD_REQ + 3)) ] || die "$requests requests after 3 cuts"
# Two connections for all the fetches (the bundle's head, manifest, root.verity, root's runs), and one after each cut.
[ "$(proxy_stat connections)" = 5 ] || die "$(proxy_stat connections) connections for a delta cut 3 times, 5 expected"
b_print | cmp -s "$T/b.v4" - || die "slot b after cuts in multipart answers differs"

note "a multipart answer the proxy garbles once (a delimiter): asked again as it was, slot right"
# nginx's boundaries are counters ("00000000000000000042"): the first delimiter of the first multipart
# answer loses its leading '-', so its first part is never found.
DELIM_HEX=$(printf -- '--000000000000' | od -An -tx1 | tr -d ' \n')
delta4 "with a garbled answer" --flip "$DELIM_HEX" --flip-limit 1
[ "$(proxy_stat flips)" -eq 1 ] || die "the proxy flipped $(proxy_stat flips) times"
[ "$(grep -c '; retry [0-9]* in 0.0 s from byte ' "$T/err")" = 1 ] &&
        grepq "the server left out bytes [0-9]*-[0-9]* of the ranges asked for; retry 1 in 0.0 s from byte [0-9]* of $(stat -c %s "$V4")$" <"$T/err" ||
        die "expected one retry line for the garbled answer: $(cat "$T/err")"
grep -q "one range a request" "$T/out" && die "one garbled answer turned several ranges a request off: $(cat "$T/out")"
echo "   1 garbled answer: fetched $bytes bytes in $requests requests (the dry run: $WOULD_BYTES in $WOULD_REQ)"
[ "$requests" = $((WOULD_REQ + 1)) ] || die "$requests requests after 1 garbled answer, $((WOULD_REQ + 1)) expected"
# The garbled answer's connection is given up, the next one kept to the end, beside the second.
[ "$(proxy_stat connections)" = 3 ] || die "$(proxy_stat connections) connections for a delta with one garbled answer, 3 expected"
b_print | cmp -s "$T/b.v4" - || die "slot b after a garbled multipart answer differs"
proxy_stop

note "every multipart answer garbled: asked again once, then one range a request, slot right"
delta4 "with garbled answers" --flip "$DELIM_HEX"
# Every delimiter of an answer flipped: no part is found, the answer ends short.
GARBLED="the answer to [0-9]* ranges ended before byte [0-9]*"
[ "$(grep -c '; retry [0-9]* in 0.0 s from byte ' "$T/err")" = 1 ] && grepq "$GARBLED; retry 1 in 0.0 s from byte " <"$T/err" ||
        die "expected one retry line: $(cat "$T/err")"
one_range_after "$GARBLED" "garbled multipart answers"
proxy_stop

note "a 416 to several ranges (the proxy rewrites the status): one range a request at once, slot right"
delta4 "after a 416" --status-multi 416 --status-limit 1
[ "$(proxy_stat statuses)" -eq 1 ] || die "the proxy rewrote $(proxy_stat statuses) statuses"
grep -q '; retry ' "$T/err" && die "a 416 to several ranges was retried: $(cat "$T/err")"
one_range_after "HTTP 416 to a request for [0-9]* ranges" "a 416"
proxy_stop

note "the first request for several ranges goes alone; the next request waits for the end of a long answer"
# 5.0: one file whose tree's blocks the delta fetches in one range (they all change), so its root's
# runs bring the first requests for several ranges, and more than one at the start. Its runs are
# 24 new blocks between blocks of 1.0's 'three' (copied from slot a): 128 runs, more than 8 MiB.
mv "$T/payload" "$T/payload.main"
mkdir "$T/payload"
python3 - "$T/payload.main/three" "$T/payload/five" <<'PY'
import os, sys
with open(sys.argv[1], "rb") as a, open(sys.argv[2], "wb") as out:
    for run in range(3 * 128):
        out.write(os.urandom(24 * 4096))
        out.write(a.read(4096))
PY
V5=$(build_bundle "$T/b5" --set Image.Version=5.0)
rm -r "$T/payload"
mv "$T/payload.main" "$T/payload"
cp "$V5" "$WWW/b5.abide"
"$ABIDECTL" install --force --dry-run "http://127.0.0.1:$HTTP_PORT/b5.abide" >"$T/dry" 2>"$T/err" || die "dry run of 5.0: $(cat "$T/err")"
RUNS5=$(sed -n 's/.*root.img [0-9]* blocks: [0-9]* to be fetched in \([0-9]*\) ranges.*/\1/p' "$T/dry")
[ "${RUNS5:-0}" -gt 256 ] || die "5.0 has ${RUNS5:-no} runs to fetch: too few for two requests at the start"
# From a server that answers several ranges: only root's requests ask for several, and the one
# for the headers with root.verity's upper levels (docs/delta.md, step 2).
"$ABIDECTL" install --force "$V1" >/dev/null
proxy_start "$HTTP_PORT"
"$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/b5.abide" >"$T/out" 2>"$T/err" || die "delta of 5.0 failed: $(cat "$T/err")"
[ "$(proxy_stat multi)" = $(((RUNS5 + 127) / 128 + 1)) ] ||
        die "$(proxy_stat multi) requests for several ranges for 5.0's $RUNS5 runs: root.verity's blocks not in one range?"
b_print >"$T/b.v5.delta"
# Each answer held until another request comes: for answers of more than 8 MiB none comes (the next
# request waits until at most 8 MiB of the answer before it is left), so every hold times out.
"$ABIDECTL" install --force "$V1" >/dev/null
proxy_start "$HTTP_PORT" --hold-multi 0.5
"$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/b5.abide" >"$T/out" 2>"$T/err" || die "delta of 5.0 with held answers failed: $(cat "$T/err")"
echo "   5.0's $RUNS5 runs, answers of more than 8 MiB: $(proxy_stat overlaps) answers released by the next request, $(proxy_stat hold_timeouts) after 0.5 s"
[ "$(proxy_stat overlaps)" = 0 ] && [ "$(proxy_stat hold_timeouts)" = $(($(proxy_stat multi) - 1)) ] ||
        die "a request went out while more than 8 MiB of the answer before it were left to read"
b_print | cmp -s "$T/b.v5.delta" - || die "slot b after a delta of 5.0 with held answers differs"
# nginx with max_ranges 1: one 200, then one range a request, two on their way at once (each answer
# held until the next request comes; one at a time, every hold would time out).
"$ABIDECTL" install --force "$V1" >/dev/null
proxy_start "$HTTP_PORT" --hold-one 0.2
: >"$NGX/access.log"
"$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/onerange/b5.abide" >"$T/out" 2>"$T/err" ||
        die "delta of 5.0 from a server of one range a request failed: $(cat "$T/err")"
grep -qx "The server did not answer several ranges in one request (HTTP 200 to a request for [0-9]* ranges): one range a request" "$T/out" ||
        die "no fallback said for 5.0: $(cat "$T/out")"
gets=$(log_gets b5.abide)
[ "$(proxy_stat multi)" = 1 ] && [ "$(echo "$gets" | grep -c '^200$')" = 1 ] ||
        die "$(proxy_stat multi) requests for several ranges, nginx logged $(echo "$gets" | sort | uniq -c | tr '\n' ' ')"
echo "   5.0's $RUNS5 runs from nginx with max_ranges 1: 1 request for several ranges (a 200), then $(echo "$gets" | grep -c '^206$') of one range;" \
        "$(proxy_stat overlaps) answers released by the next request, $(proxy_stat hold_timeouts) after 0.2 s"
# All but the first and the last few (a hold that met a slow moment); one at a time, none.
[ "$(proxy_stat overlaps)" -ge $((RUNS5 * 3 / 4)) ] || die "one range a request, but not two on their way at once"
b_print | cmp -s "$T/b.v5.delta" - || die "slot b after a delta of 5.0 from max_ranges 1 differs"
# onerange5 N WHAT PROXY_OPTION...: 5.0 from nginx with max_ranges 1 through the proxy, with
# DeltaConnections=N (the key left out for "default"); slot b checked, the file put back.
onerange5() {
        local n=$1 what=$2
        shift 2
        cp "$T/abide.conf" "$T/abide.conf.main"
        if [ "$n" = default ]; then
                sed -i '/^DeltaConnections=/d' "$T/abide.conf"
        else
                sed -i "s/^DeltaConnections=.*/DeltaConnections=$n/" "$T/abide.conf"
        fi
        "$ABIDECTL" install --force "$V1" >/dev/null
        proxy_start "$HTTP_PORT" "$@"
        "$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/onerange/b5.abide" >"$T/out" 2>"$T/err" ||
                die "delta of 5.0 $what failed: $(cat "$T/err")"
        mv "$T/abide.conf.main" "$T/abide.conf"
        b_print | cmp -s "$T/b.v5.delta" - || die "slot b after a delta of 5.0 $what differs"
}
# The default, DeltaConnections=4: each answer held until requests came on 3 other connections,
# which only four on their way at once release (up to 1 s: the next of them goes out only once
# the answer before it is read and written, which a slow moment of the machine's may delay).
onerange5 default "on 4 connections" --hold-one 1 --hold-depth 3
echo "   5.0 on the default 4 connections: $(proxy_stat overlaps) answers released by requests on 3 other connections," \
        "$(proxy_stat hold_timeouts) after 1 s"
[ "$(proxy_stat overlaps)" -ge $((RUNS5 * 3 / 4)) ] || die "DeltaConnections= unset, but not four requests on their way at once"
# DeltaConnections=2: never four at once, every held answer waits its 0.2 s (20 of them).
onerange5 2 "on 2 connections" --hold-one 0.2 --hold-depth 3 --hold-limit 20
[ "$(proxy_stat overlaps)" = 0 ] && [ "$(proxy_stat hold_timeouts)" = 20 ] ||
        die "DeltaConnections=2: $(proxy_stat overlaps) answers released by requests on 3 other connections, $(proxy_stat hold_timeouts) held 0.2 s"
# DeltaConnections=1: one request at a time, all on one connection (and one more for the 200 cut
# off); every held answer waits, even for one request on another connection.
onerange5 1 "on 1 connection" --hold-one 0.2 --hold-limit 20
echo "   5.0 on 1 connection: $(proxy_stat connections) connection(s), $(proxy_stat overlaps) answers released by another request," \
        "$(proxy_stat hold_timeouts) after 0.2 s"
[ "$(proxy_stat overlaps)" = 0 ] && [ "$(proxy_stat hold_timeouts)" = 20 ] && [ "$(proxy_stat connections)" = 2 ] ||
        die "DeltaConnections=1: $(proxy_stat connections) connections, $(proxy_stat overlaps) answers released by another request"
# A server that lets a client have 2 connections open (a per-client limit; the proxy answers a third
# 503 and closes it), DeltaConnections= unset (4): the first refusal with more than one request on
# its way lowers the requests at once for the rest of the install, and closes the connections
# beyond them; the install goes through with 2 connections open at the most (docs/delta.md, step 8).
onerange5 default "from a server of 2 connections a client" --max-connections 2
echo "   5.0 from a server of 2 connections a client: $(proxy_stat busy) refused, $(proxy_stat most_open) open at once at the most"
[ "$(proxy_stat most_open)" = 2 ] && [ "$(proxy_stat busy)" -ge 1 ] ||
        die "2 connections a client: $(proxy_stat busy) refused, $(proxy_stat most_open) open at once"
grep -qx "The server refused a request (HTTP 503) with [34] on their way: 2 at once from then on" "$T/out" ||
        die "no lowered connections said: $(cat "$T/out")"
# A connection that stalls halfway through the bytes, which the server goes on counting (a middlebox
# dropped it without a word: the server learns of it at its own timeout; the proxy holds it 60 s),
# under a limit of 4 connections a client, DeltaConnections= unset (4). The stalled fetch is the
# oldest by the time its 2 s are up: the reader waits for it. Its resume on a new connection is
# refused while the 3 after it keep theirs, and the refusal wakes the reader, which lowers the
# requests at once; the resume's next retry gets through. A reader that heard of it only between
# reads would wait out Retries=3 (a few seconds) and fail.
HALF=$(( $(proxy_stat bytes) / 2 ))
cp "$T/abide.conf" "$T/abide.conf.keep"
printf 'StallTimeoutSec=2\nRetries=3\n' >>"$T/abide.conf"
onerange5 default "with a stalled connection the server still counts" --max-connections 4 --stall-at "$HALF" --stall-sec 60
mv "$T/abide.conf.keep" "$T/abide.conf"
echo "   5.0 with a stall at byte $HALF, under 4 connections a client: $(proxy_stat busy) refused, $(proxy_stat most_open) open at once at the most"
[ "$(proxy_stat stalls)" = 1 ] && [ "$(proxy_stat busy)" -ge 1 ] ||
        die "a stall under 4 connections: $(proxy_stat stalls) stalls, $(proxy_stat busy) refused"
grep -q "no byte for StallTimeoutSec=2 at byte " "$T/err" || die "no stall said: $(cat "$T/err")"
grep -qx "The server refused a request (HTTP 503) with [234] on their way: [123] at once from then on" "$T/out" ||
        die "no lowered connections said after the stall: $(cat "$T/out")"
# A cut inside root's first answer to several ranges (the second request for several, after the
# headers'), then a 416 to the request that resumes it from the byte reached (inside a run): the
# rest one range a request, the first of them from that byte.
"$ABIDECTL" install --force "$V1" >/dev/null
proxy_start "$HTTP_PORT" --cut-every 2000000 --cut-limit 1 --status-multi 416 --status-skip 2 --status-limit 1
"$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/b5.abide" >"$T/out" 2>"$T/err" || die "delta of 5.0 cut, then a 416, failed: $(cat "$T/err")"
[ "$(proxy_stat cuts)" = 1 ] && [ "$(proxy_stat statuses)" = 1 ] || die "the proxy cut $(proxy_stat cuts) times, rewrote $(proxy_stat statuses) statuses"
[ "$(grep -c '; retry [0-9]* in [0-9.]* s from byte ' "$T/err")" = 1 ] || die "expected one retry line (the cut): $(cat "$T/err")"
grep -qx "The server did not answer several ranges in one request (HTTP 416 to a request for [0-9]* ranges): one range a request" "$T/out" ||
        die "no fallback said after the 416: $(cat "$T/out")"
# Every byte where it belongs the first time: none fetched again because it came wrong.
grep -q "fetched again" "$T/out" && die "blocks came wrong after the cut and the 416: $(cat "$T/out")"
b_print | cmp -s "$T/b.v5.delta" - || die "slot b after a cut and a 416 in 5.0's first answer differs"
proxy_stop
"$ABIDECTL" install --force "$V5" >/dev/null
b_print | cmp -s "$T/b.v5.delta" - || die "slot b after a delta of 5.0 differs from the file install"
# 5.0's root and tree are larger than the other releases': their partitions zeroed again, as the
# later sections' whole-partition hashes found them before.
for p in "$ROOT_B" "$VERITY_B"; do
        head -c "$(blockdev --getsize64 "$p")" /dev/zero | dd of="$p" bs=1M iflag=fullblock oflag=direct status=none ||
                die "cannot zero $p"
done
proxy_stop
check_a "several ranges a request"

note "a byte the device stores wrong is caught by the delta's read-back"
# The shim flips one byte on its way to the device; what the delta fetched or copied and checked
# is intact, so only the read-back after the writes (root's leaves, then its tree against the
# signed root hash; the tree's own bytes against the manifest) can refuse the slot.
shim=$ABIDE_TEST_HELPERS/helper-corrupt-write.so
[ -f "$shim" ] || die "not built: $shim"
# The last block where 2.0's root differs from 1.0's: one the delta writes over 1.0 in b.
LAST=$(python3 - "$T/x1/root.img" "$T/x2/root.img" <<'PY'
import sys
with open(sys.argv[1], "rb") as a, open(sys.argv[2], "rb") as b:
    i = last = 0
    while (y := b.read(4096)):
        if a.read(4096) != y:
            last = i
        i += 1
print(last)
PY
)
delta_corrupt() {
        local dev=$1 offset=$2 pat=$3
        "$ABIDECTL" install --force "$V1" >/dev/null
        rm -f "$ENTRIES"/abide-b*.conf
        expect_fail "$pat" preload "$shim" \
                ABIDE_TEST_CORRUPT_DEV="$dev" ABIDE_TEST_CORRUPT_OFFSET="$offset" "$ABIDECTL" install --force --delta "$V2"
        b_not_bootable || die "b bootable after a delta the device stored wrong: $(entry_of b)"
        check_a "delta stored wrong"
}
delta_corrupt "$ROOT_B" $((LAST * 4096 + 77)) \
        "^abidectl: install: abide-root-b and abide-verity-b: read back: root does not match its signed dm-verity tree \(a corrupt bundle, or storage that keeps other bytes\): verity: data block $LAST does not match its leaf hash$"
delta_corrupt "$VERITY_B" $((4096 + 3)) "^abidectl: install: abide-root-b and abide-verity-b: read back: holds sha256 [0-9a-f]{64} over"
# The same shim, nothing flipped: the delta installs.
"$ABIDECTL" install --force "$V1" >/dev/null
preload "$shim" \
        "$ABIDECTL" install --force --delta "$V2" >/dev/null 2>"$T/err" || die "delta under the shim failed: $(cat "$T/err")"
b_print | cmp -s "$T/b.delta" - || die "slot b after a delta under the shim differs"

note "blocks moved within slot b: read from b before they are overwritten"
# b gets 0.9 (files a1, b2); 3.0 has b2, then a1's bytes as c3. Slot a's 1.0 has neither. b2's
# blocks come earlier in 3.0's root than in b's: moved, read from b before they are overwritten.
# c3's come later than a1's: b's copy is overwritten by then (blocks are written in order), so
# they are fetched, not read (a plan that read them would count them as moved, and find them
# changed or not depending on how far the reads run ahead of the writes).
mv "$T/payload" "$T/payload.main"
mkdir "$T/payload"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/payload/a1"
head -c $((3 * 1024 * 1024)) /dev/urandom >"$T/payload/b2"
V09=$(build_bundle "$T/b09" --set Image.Version=0.9)
mv "$T/payload/a1" "$T/payload/c3"
V30=$(build_bundle "$T/b30" --set Image.Version=3.0)
rm -r "$T/payload"
mv "$T/payload.main" "$T/payload"
mkdir -p "$T/x09" "$T/x30"
tar -C "$T/x09" -xf "$V09"
tar -C "$T/x30" -xf "$V30"
# What the plan must say (docs/delta.md, step 6): not in place, not in slot a, in b further on.
read -r MOVED EARLIER < <(python3 - "$T/x1/root.img" "$T/x09/root.img" "$T/x30/root.img" <<'PY'
import hashlib, sys
def blocks(p):
    with open(p, "rb") as f:
        return [hashlib.sha256(b).digest() for b in iter(lambda: f.read(4096), b"")]
running, old, new = (blocks(p) for p in sys.argv[1:])
last = {d: j for j, d in enumerate(old)}
have = set(running)
# Neither in place nor in slot a: in b further on (moved), or only before (overwritten by then).
other = [(i, last.get(d, -1)) for i, d in enumerate(new) if not (i < len(old) and old[i] == d) and d not in have]
print(sum(1 for i, j in other if j > i), sum(1 for i, j in other if 0 <= j < i))
PY
)
[ "$MOVED" -gt 0 ] || die "3.0 has no block that b's 0.9 holds further on: the images do not test moves"
[ "$EARLIER" -gt 0 ] || die "3.0 has no block that b's 0.9 holds only before it: the images do not test overwritten sources"
"$ABIDECTL" install --force "$V09" >/dev/null
"$ABIDECTL" install --force --delta "$V30" >"$T/out" 2>"$T/err" || die "delta with moves failed: $(cat "$T/err")"
moved=$(sed -n 's/.* \([0-9]*\) moved within slot b;.*/\1/p' "$T/out")
[ "$moved" = "$MOVED" ] || die "$moved blocks moved within b, $MOVED expected: $(cat "$T/out")"
grep -q "did not match" "$T/out" && die "moved blocks did not match their leaves (read after they were overwritten?): $(cat "$T/out")"
echo "   $moved blocks moved within b; $EARLIER blocks that b held only before their place fetched"
b_print >"$T/b.moved"
"$ABIDECTL" install --force "$V30" >/dev/null
b_print | cmp -s "$T/b.moved" - || die "slot b after a delta with moves differs from the file install"
check_a "moves within b"

note "--delta from a file; Delta=no and --full stream"
"$ABIDECTL" install --force "$V1" >/dev/null
"$ABIDECTL" install --force --delta "$V2" >"$T/out" 2>"$T/err" || die "--delta FILE failed: $(cat "$T/err")"
read_bytes=$(sed -n "s/^Read \([0-9]*\) bytes for a $SIZE-byte bundle\$/\1/p" "$T/out")
[ -n "$read_bytes" ] || die "--delta FILE: $(cat "$T/out")"
# Local blocks copied: what is read of the file has the URL's bound (the changed blocks, root.verity,
# its signature, 2% for headers), far less than the bundle.
bound=$(( CHANGED * 4096 * 102 / 100 + VERITY + SIG ))
echo "   read $read_bytes of $SIZE bytes from the file; changed blocks $(( CHANGED * 4096 )), bound $bound"
[ "$read_bytes" -ge $(( CHANGED * 4096 )) ] && [ "$read_bytes" -le "$bound" ] ||
        die "--delta FILE read $read_bytes of $SIZE bytes, not between the changed blocks ($(( CHANGED * 4096 ))) and $bound"
b_print | cmp -s "$T/b.delta" - || die "slot b after --delta FILE differs"
# A new kernel and initrd read from the file with root's last blocks.
"$ABIDECTL" install --force "$V1" >/dev/null
"$ABIDECTL" install --force --delta "$V21K" >"$T/out" 2>"$T/err" || die "--delta FILE with a new kernel failed: $(cat "$T/err")"
grep -q "other payloads [0-9]* bytes fetched, 0 bytes from the ESP" "$T/out" || die "--delta FILE: the kernel and initrd not read: $(cat "$T/out")"
grep -q "did not match" "$T/out" && die "--delta FILE: read wrong: $(cat "$T/out")"
b_print | cmp -s "$T/b.k1" - || die "slot b after --delta FILE with a new kernel and initrd differs"
"$ABIDECTL" install --force --full "$URL" >"$T/out" 2>"$T/err" || die "--full failed: $(cat "$T/err")"
grep -q "^Fetched $SIZE bytes in 1 requests" "$T/out" || die "--full: $(cat "$T/out")"
printf 'Delta=no\n' >>"$T/abide.conf"
"$ABIDECTL" install --force "$URL" >"$T/out" 2>"$T/err" || die "Delta=no failed: $(cat "$T/err")"
grep -q "^Fetched $SIZE bytes in 1 requests" "$T/out" || die "Delta=no: $(cat "$T/out")"
check_a "file and full"

note "bad invocations"
expect_fail "a delta install reads the bundle at offsets: not from standard input" install --delta - </dev/null
expect_fail "a delta install reads the bundle at offsets: not from standard input" install --dry-run - </dev/null
expect_fail "--full does not go with --delta or --dry-run" install --full --dry-run "$URL"
expect_fail "cannot open $T/missing.abide: No such file or directory" install --delta "$T/missing.abide"
head -c $((SIZE / 2)) "$V2" >"$T/half.abide"
expect_fail "^abidectl: install: $T/half\.abide: " install --force --delta "$T/half.abide"
check_a "bad invocations"
note "OK"
