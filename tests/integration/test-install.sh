#!/bin/bash
# abidectl install on a GPT disk image with loop devices, booted on slot a:
# a good bundle lands in b (a byte-identical, b's entry abide-b+3.conf,
# veritysetup verify passes); every bad bundle is refused with one line,
# a untouched and b without a bootable entry.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/install-lib.sh"
need tar mkfs.ext4 mount umount cmp script

note "keys, bundles, disk"
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
"$ABIDE_BUILD" keygen -o "$T/other" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
head -c 300000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
# Root big enough for several 4 MiB chunks and a partial last one: 7, so that a ring of 1, 2 or 4
# read-back buffers is used again (below).
head -c $((26 * 1024 * 1024 + 12345)) /dev/urandom >"$T/payload/blob"
V1=$(build_bundle "$T/b1" --set Image.Version=1.0 --set Image.SecurityVersion=5)
GOOD=$(build_bundle "$T/b2" --set Image.Version=2.0 --set Image.SecurityVersion=5)
LOWER=$(build_bundle "$T/b3" --set Image.Version=2.1 --set Image.SecurityVersion=4)
COMPAT=$(build_bundle "$T/b4" --set Image.Version=2.2 --set Image.SecurityVersion=5 --set Image.Compatible=other-board)
FOREIGN=$(KEY=$T/other/signing.key CERT=$T/other/signing.crt build_bundle "$T/b5" --set Image.Version=2.3 --set Image.SecurityVersion=5)
make_disk 40 2
make_config
fill_slot_a "$V1"
write_image_info 1.0 5
slot_a_print >"$T/a.before"
cp "$ENTRIES/abide-a.conf" "$T/entry-a.before"
install() { "$ABIDECTL" install "$@"; }

check_a() {
        slot_a_print >"$T/a.now"
        cmp -s "$T/a.before" "$T/a.now" || die "slot a changed ($1): $(diff "$T/a.before" "$T/a.now")"
        same_file "$T/entry-a.before" "$ENTRIES/abide-a.conf"
}

note "good bundle into b"
head -c $((2049 * 512)) /dev/urandom >"$SIG_B"   # stale content the new signature must not leave behind
out=$(install "$GOOD" 2>"$T/err")
echo "   $out"
[ ! -s "$T/err" ] || die "install printed on stderr although it is not a terminal: $(cat "$T/err")"
[ "$out" = "Installed 2.0 into slot b (abide-b+3.conf)" ] || die "unexpected output: $out"
check_a "good install"
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "b's entry is '$(entry_of b)'"
grep -qx 'version 2.0' "$ENTRIES/abide-b+3.conf" || die "entry version: $(cat "$ENTRIES/abide-b+3.conf")"
grep -qx 'options console=ttyS0 quiet abide.slot=b' "$ENTRIES/abide-b+3.conf" || die "entry options: $(cat "$ENTRIES/abide-b+3.conf")"
same_file "$T/kernel/vmlinuz-$KVER" "$T/esp/abide/b/vmlinuz"
x=$T/x-good; mkdir -p "$x"; tar -C "$x" -xf "$GOOD"
same_file "$x/initrd" "$T/esp/abide/b/initrd"
roothash=$(manifest_field "$GOOD" "['verity']['root_hash']")
veritysetup verify "$ROOT_B" "$VERITY_B" "$roothash" || die "veritysetup verify failed on slot b"
sigsize=$(stat -c %s "$x/root.verity-sig")
cmp -n "$sigsize" "$x/root.verity-sig" "$SIG_B" || die "signature partition content"
[ "$(tail -c +$((sigsize + 1)) "$SIG_B" | tr -d '\0' | wc -c)" -eq 0 ] || die "signature partition tail not zeroed"
python3 - "$T/var/state.json" <<'PY' || die "state after install: $(cat "$T/var/state.json")"
import json, sys
b = json.load(open(sys.argv[1]))["slots"]["b"]
assert b["state"] == "pending" and b["version"] == "2.0", b
PY
ls -A "$T/esp/abide/b" | grepq '^\.#' && die "temporary files left in the ESP"

note "progress on a terminal"
script -qec "$ABIDECTL install --force $GOOD" "$T/typescript" >/dev/null
grep -q "Writing root.img to abide-root-b 100% (26/26 MiB)" "$T/typescript" || die "no progress on a terminal: $(cat -A "$T/typescript")"
grep -q "Verifying slot b" "$T/typescript" || die "no verify step on a terminal"
check_a "install on a terminal"

note "from a pipe, with --tries"
cat "$GOOD" | install - --tries 2 --force >/dev/null
[ "$(entry_of b)" = "abide-b+2.conf" ] || die "pipe install: b's entry is '$(entry_of b)'"
check_a "pipe install"

# refuse PATTERN CMD...: refused with one line; a untouched, b not bootable.
refuse() {
        expect_fail "$@"
        check_a "$*"
        b_not_bootable || die "b bootable after a refused install: $(entry_of b)"
}
# Refusals before anything is written leave b's partitions and ESP files alone too.
b_print() { sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" | awk '{print $1}'; ls -A "$T/esp/abide/b" 2>/dev/null; }
refuse_untouched() {
        rm -f "$ENTRIES"/abide-b*.conf
        b_print >"$T/b.before"
        refuse "$@"
        b_print | cmp -s "$T/b.before" - || die "b written although refused up front: $*"
}

note "refused while the booted slot is on trial: the other slot is its fallback"
# b good (what a trial of a falls back to), a's entry counting its tries.
install "$GOOD" --force >/dev/null
mv "$ENTRIES/abide-b+3.conf" "$ENTRIES/abide-b.conf"
mv "$ENTRIES/abide-a.conf" "$ENTRIES/abide-a+2-1.conf"
b_print >"$T/b.before"
expect_fail "^abidectl: install: booted slot a is on trial \(2 tries left\), not blessed yet: slot b is its fallback and is not overwritten; wait for boot-check to bless it, or run abidectl mark-good$" \
        install "$GOOD" --force
b_print | cmp -s "$T/b.before" - || die "b, the trial's fallback, written by an install"
[ "$(entry_of b)" = "abide-b.conf" ] || die "b's entry after a refused install: $(entry_of b)"
mv "$ENTRIES/abide-a+2-1.conf" "$ENTRIES/abide-a.conf"
check_a "refused on trial"
install "$GOOD" --force >/dev/null || die "install once a is good again"

note "every member flipped (with b installed before)"
members=$(tar -tf "$GOOD")
i=0
for name in $members; do
        install "$GOOD" --force >/dev/null
        python3 "$ABIDE_SRCDIR/tests/integration/tamper-bundle.py" "$GOOD" "$T/flip.abide" flip $i
        case $i in
        0|1) refuse_untouched "^abidectl: install: $T/flip\.abide: manifest.json.sig: signature (does not match|not trusted)" install "$T/flip.abide" ;;
        # root.img is proven by the read-back as it is written (docs/install.md, "One pass over root").
        2) refuse "^abidectl: install: abide-root-b and abide-verity-b: read back: root does not match its signed dm-verity tree \(a corrupt bundle, or storage that keeps other bytes\): verity: data block [0-9]+ does not match its leaf hash$" \
                install "$T/flip.abide"
           python3 -c 'import json,sys; b = json.load(open(sys.argv[1]))["slots"]["b"]; assert b["state"] == "installing", b' \
                "$T/var/state.json" || die "state of b after a failed write: $(cat "$T/var/state.json")"
           # Refused when the tree was read back, before the kernel and initrd were written.
           [ -z "$(ls -A "$T/esp/abide/b")" ] || die "kernel or initrd written after a bad root: $(ls -A "$T/esp/abide/b")" ;;
        *) refuse "^abidectl: install: $T/flip\.abide: member $((i + 1)) '$name': sha256 mismatch \(manifest says [0-9a-f]{64}, got [0-9a-f]{64}\)$" \
                install "$T/flip.abide"
           python3 -c 'import json,sys; b = json.load(open(sys.argv[1]))["slots"]["b"]; assert b["state"] == "installing", b' \
                "$T/var/state.json" || die "state of b after a failed write: $(cat "$T/var/state.json")" ;;
        esac
        i=$((i + 1))
done
[ $i -ge 7 ] || die "only $i members in the bundle"

note "a byte the device stores wrong is caught by the read-back"
# The shim flips one byte on its way to the device; the streamed bundle is intact. The one
# read-back (each root chunk as it is written, then the tree) must refuse the slot.
shim=$ABIDE_TEST_HELPERS/helper-corrupt-write.so
[ -f "$shim" ] || die "not built: $shim"
corrupt() {
        local dev=$1 offset=$2 pat=$3
        install "$GOOD" --force >/dev/null
        refuse "$pat" preload "$shim" \
                ABIDE_TEST_CORRUPT_DEV="$dev" ABIDE_TEST_CORRUPT_OFFSET="$offset" "$ABIDECTL" install --force "$GOOD"
}
corrupt "$ROOT_B" $((4096 * 1000 + 77)) \
        "^abidectl: install: abide-root-b and abide-verity-b: read back: root does not match its signed dm-verity tree \(a corrupt bundle, or storage that keeps other bytes\): verity: data block 1000 does not match its leaf hash$"
corrupt "$ROOT_B" $(( $(manifest_field "$GOOD" "['payloads'][0]['size']") - 1 )) "read back: root does not match its signed dm-verity tree \(.*\): verity: data block [0-9]+ does not match"
corrupt "$VERITY_B" $((4096 + 3)) "^abidectl: install: abide-root-b and abide-verity-b: read back: holds sha256 [0-9a-f]{64} over"
corrupt "$SIG_B" 10 "^abidectl: install: read back: abide-verity-sig-b holds sha256 [0-9a-f]{64}"
# The read-back reads root from the device itself: with O_DIRECT (never a cached copy), each
# byte once, in order, in the chunks it was written in.
rm -f "$T/reads.log"
install "$GOOD" --force >/dev/null
preload "$shim" ABIDE_TEST_READ_LOG="$T/reads.log" \
        "$ABIDECTL" install --force "$GOOD" >/dev/null || die "install under the read log failed"
rootsize=$(manifest_field "$GOOD" "['payloads'][0]['size']")
python3 - "$T/reads.log" "$(cat "/sys/class/block/${ROOT_B#/dev/}/dev")" "$rootsize" <<'PY' || die "the read-back's reads of root: $(grep -c . "$T/reads.log") lines"
import sys
log, dev, size = sys.argv[1], sys.argv[2], int(sys.argv[3])
reads = [l.split() for l in open(log) if l.split()[1] == dev]
assert reads, "root was never read back"
assert all(r[2] == "direct" for r in reads), [r for r in reads if r[2] != "direct"][:3]
spans = [(int(r[3]), int(r[4])) for r in reads]
assert [o for o, _ in spans] == sorted(o for o, _ in spans), "not in order"
end = 0
for o, n in spans:
    assert o == end, f"read at {o}, expected {end}: {spans[:8]}"
    end = o + n
assert end == size, f"read back {end} of {size} bytes"
assert len(spans) > 2, spans
PY
# A device with little memory (a ring of one chunk a hash thread) and 1, 2 or 4 CPUs (as many hash
# threads): the ring's buffers are used again and again, the threads finish chunks out of order,
# and the same read-back passes a good install and refuses a byte stored wrong in a later chunk.
for cpus in 1 2 4; do
        rm -f "$T/fake.log"
        fake=(preload "$shim"
              ABIDE_TEST_MEMAVAILABLE_KB=8192 ABIDE_TEST_CPUS=$cpus ABIDE_TEST_FAKE_LOG="$T/fake.log")
        install "$GOOD" --force >/dev/null
        refuse "^abidectl: install: abide-root-b and abide-verity-b: read back: root does not match its signed dm-verity tree \(.*\): verity: data block 2222 does not match its leaf hash$" \
                "${fake[@]}" ABIDE_TEST_CORRUPT_DEV="$ROOT_B" ABIDE_TEST_CORRUPT_OFFSET=$((4096 * 2222 + 5)) "$ABIDECTL" install --force "$GOOD"
        for round in 1 2 3; do
                "${fake[@]}" "$ABIDECTL" install --force "$GOOD" >/dev/null || die "install with $cpus CPUs and 8 MiB of memory failed"
                veritysetup verify "$ROOT_B" "$VERITY_B" "$roothash" >/dev/null || die "veritysetup verify after the install with $cpus CPUs"
        done
        grep -qx meminfo "$T/fake.log" && grep -qx cpus "$T/fake.log" || die "the install never asked for its memory and CPUs: $(sort -u "$T/fake.log")"
done
check_a "installs with little memory"
# The ESP's files are read back from the device: a kernel or initrd the ESP stores wrong is refused
# in one line, b gets no entry, no temporary is left, and the next install passes.
for f in vmlinuz initrd; do
        install "$GOOD" --force >/dev/null
        refuse "^abidectl: install: read back: $T/esp/abide/b/$f holds sha256 [0-9a-f]{64} over [0-9]+ bytes, the manifest says [0-9a-f]{64} for '[^']+'$" \
                preload "$shim" \
                ABIDE_TEST_CORRUPT_FILE="/esp/abide/b/.#$f." ABIDE_TEST_CORRUPT_OFFSET=1000 "$ABIDECTL" install --force "$GOOD"
        ! ls -A "$T/esp/abide/b" | grepq '^\.#' || die "temporaries left after a $f stored wrong: $(ls -A "$T/esp/abide/b")"
        [ -z "$(entry_of b)" ] || die "b has an entry after a $f stored wrong: $(entry_of b)"
        check_a "a $f stored wrong"
done
install "$GOOD" --force >/dev/null
same_file "$T/kernel/vmlinuz-$KVER" "$T/esp/abide/b/vmlinuz"
# Without the shim's fault the same install passes (the shim itself changes nothing else).
preload "$shim" \
        ABIDE_TEST_CORRUPT_DEV="$ROOT_B" ABIDE_TEST_CORRUPT_OFFSET=$((1 << 40)) "$ABIDECTL" install --force "$GOOD" >/dev/null
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "install under the idle shim: b's entry is '$(entry_of b)'"
check_a "install under the idle shim"

note "a one-block root: no tree levels, so libcryptsetup's verify checks the slot"
# verity-tree.c checks trees with levels; a root of one 4 KiB block (a tiny squashfs) has none, and
# the read-back falls back to libcryptsetup's verify of root and its tree (docs/install.md, "One
# read-back pass"). It passes the good install and refuses a byte the device stores wrong.
mv "$T/payload" "$T/payload.main"
mkdir "$T/payload"
echo tiny >"$T/payload/f"
TINY=$(build_bundle "$T/b-tiny" --set Image.Version=2.4 --set Image.SecurityVersion=5 --set Image.Filesystem=squashfs)
rm -r "$T/payload"
mv "$T/payload.main" "$T/payload"
[ "$(manifest_field "$TINY" "['verity']['data_blocks']")" = 1 ] || die "the tiny root is not one block"
install --force "$TINY" >/dev/null 2>"$T/err" || die "install of a one-block root failed: $(cat "$T/err")"
veritysetup verify "$ROOT_B" "$VERITY_B" "$(manifest_field "$TINY" "['verity']['root_hash']")" >/dev/null ||
        die "veritysetup verify failed after the install of a one-block root"
check_a "one-block root"
refuse "^abidectl: install: read back: verity: $ROOT_B does not match $VERITY_B and root hash [0-9a-f]{64}: " \
        preload "$shim" \
        ABIDE_TEST_CORRUPT_DEV="$ROOT_B" ABIDE_TEST_CORRUPT_OFFSET=77 "$ABIDECTL" install --force "$TINY"

note "every write to the slot is flushed before b's entry is written; a failed flush is refused"
# The shim logs, in order, each write to a block device, each flush (sync) of one, and each file
# synced. The install writes root, the tree and the signature, then flushes once per disk while it
# writes the kernel and initrd (docs/install.md): every partition written must then have a flush
# of its disk begun after its last write and done before the entry is synced, and a buffered
# write (the signature partition's end, not 4 KiB aligned here) must be written out after it.
rm -f "$T/io.log"
preload "$shim" ABIDE_TEST_IO_LOG="$T/io.log" \
        "$ABIDECTL" install --force "$GOOD" >/dev/null || die "install with the I/O log failed"
python3 - "$T/io.log" "$T/esp" "$ROOT_B" "$VERITY_B" "$SIG_B" <<'PY' || die "flush order: $(uniq -c "$T/io.log")"
import os, sys
ev = [l.split(None, 2) for l in open(sys.argv[1]).read().splitlines()]
# Each file renamed into place on the ESP (kernel, initrd, entry) is synced again under its new name:
# Linux's vfat rename leaves the new directory entry without the file's cluster and size until then.
esp = os.path.realpath(sys.argv[2]) + "/"
renamed = [(i, os.path.realpath(e[2])) for i, e in enumerate(ev) if e[0] == "rename" and os.path.realpath(e[2]).startswith(esp)]
assert sorted(os.path.basename(p) for _, p in renamed) == ["abide-b+3.conf", "initrd", "vmlinuz"], renamed
for i, path in renamed:
    assert ["syncfile", path] in ev[i + 1:], f"{path}: not synced after its rename"
def devnum(path):
    st = os.stat(path)
    return f"{os.major(st.st_rdev)}:{os.minor(st.st_rdev)}"
def disk(dev):
    p = os.path.realpath(f"/sys/dev/block/{dev}")
    return open(os.path.join(os.path.dirname(p), "dev")).read().strip() if os.path.exists(os.path.join(p, "partition")) else dev
entry = [i for i, e in enumerate(ev) if e[0] == "syncfile" and "/loader/entries/.#abide-b" in e[1]]
assert entry, "b's entry was never synced"
for path in sys.argv[3:]:
    dev = devnum(path)
    writes = [i for i, e in enumerate(ev) if e[0] == "write" and e[1] == dev]
    assert writes, f"{path}: no write logged"
    last = writes[-1]
    starts = [i for i, e in enumerate(ev) if e[0] == "syncstart" and i > last and disk(e[1]) == disk(dev)]
    assert starts, f"{path}: no flush of its disk after its last write"
    done = [i for i, e in enumerate(ev) if e[0] == "sync" and i > starts[0] and disk(e[1]) == disk(dev)]
    assert done and done[0] < entry[0], f"{path}: the entry was synced before the flush of its disk was done"
    buffered = [i for i, e in enumerate(ev) if e[0] == "write" and e[1] == dev and e[2] == "buffered"]
    if buffered:
        assert any(e[0] in ("range", "sync") and e[1] == dev for e in ev[buffered[-1] + 1:]), \
            f"{path}: its buffered write was never written out"
assert any(e[0] == "write" and e[2] == "buffered" for e in ev), "no buffered write: the unaligned end went untested"
PY
check_a "install with the I/O log"
# A flush that fails (the device's cache flush returns an error) fails the install: no entry.
refuse "^abidectl: install: cannot sync abide-root-b: Input/output error$" \
        preload "$shim" \
        ABIDE_TEST_FAIL_SYNC_DEV="$ROOT_B" "$ABIDECTL" install --force "$GOOD"
[ -z "$(entry_of b)" ] || die "b has the entry $(entry_of b) after its flush failed"
python3 -c 'import json,sys; b = json.load(open(sys.argv[1]))["slots"]["b"]; assert b["state"] == "installing", b' \
        "$T/var/state.json" || die "state of b after a failed flush: $(cat "$T/var/state.json")"
check_a "a failed flush"
# The bundle file shrinks under the install (root is written from its mapped pages, which are then
# gone): one line, no crash, a untouched, no entry for b, b left "installing".
cp "$GOOD" "$T/shrinking.bundle"
refuse "^abidectl: install: cannot write abide-root-b at offset 4194304: the bundle file shrank while it was read$" \
        preload "$shim" \
        ABIDE_TEST_SHRINK_FILE="$T/shrinking.bundle" ABIDE_TEST_SHRINK_OFFSET=4194304 ABIDE_TEST_SHRINK_TO=1048576 \
        ABIDE_TEST_SHRINK_LOG="$T/shrink.log" "$ABIDECTL" install --force "$T/shrinking.bundle"
grep -qxF "shrank $T/shrinking.bundle" "$T/shrink.log" || die "the bundle was not shrunk during the install"
python3 -c 'import json,sys; b = json.load(open(sys.argv[1]))["slots"]["b"]; assert b["state"] == "installing", b' \
        "$T/var/state.json" || die "state of b after the bundle shrank: $(cat "$T/var/state.json")"

note "refused up front"
# A bundle refused before the first write leaves an installed b exactly as it was.
install "$GOOD" --force >/dev/null
b_print >"$T/b.before"; cp "$ENTRIES/abide-b+3.conf" "$T/entry-b.before"
expect_fail "manifest.json.sig: signature not trusted" install "$FOREIGN"
b_print | cmp -s "$T/b.before" - || die "b changed by a refused bundle"
same_file "$T/entry-b.before" "$ENTRIES/abide-b+3.conf"
check_a "refused with b installed"
refuse_untouched "manifest.json.sig: signature not trusted" install "$FOREIGN"
refuse_untouched "bundle is for 'other-board', this device runs 'abide-example-x86_64'" install "$COMPAT"
refuse_untouched "bundle 2.1 has security version 4, lower than the running image's 5" install "$LOWER"
refuse_untouched "version 1.0 is already running \(use --force" install "$V1"
refuse_untouched "^abidectl: install: standard input: (not a tar archive|member 1)" sh -c "head -c 1M /dev/urandom | exec \"\$0\" install -" "$ABIDECTL"
refuse_untouched "^abidectl: install: standard input: not a tar archive" sh -c ": | exec \"\$0\" install -" "$ABIDECTL"
refuse_untouched "^abidectl: install: $T: is a directory$" install "$T"
# A bundle whose name holds a newline: still one line (expect_fail counts them), the newline shown as '?'.
printf 'not a bundle\n%.0s' {1..300} >"$T/two"$'\n'"lines.abide"
refuse_untouched "^abidectl: install: $T/two\?lines\.abide: not a tar archive" install "$T/two"$'\n'"lines.abide"
rm -f "$T/two"$'\n'"lines.abide"
sed "s|^ImageInfo=.*|ImageInfo=$T/nothing.json|" "$T/abide.conf" >"$T/noinfo.conf"
refuse_untouched "cannot read the running image's $T/nothing.json" env ABIDE_CONF="$T/noinfo.conf" "$ABIDECTL" install "$GOOD"
# The running identity comes from the verified root (or an explicit config), never from an argument.
refuse_untouched "^abidectl: install: unknown option '--image-info' \(see --help\)$" "$ABIDECTL" install --image-info "$T/image.json" "$GOOD"
help=$("$ABIDECTL" install --help)
echo "$help" | grepq -- --image-info && die "install --help still offers --image-info"
refuse_untouched "missing BUNDLE" "$ABIDECTL" install
# A misconfigured [Slots] override that points the target at the running slot's partition.
cp "$T/abide.conf" "$T/onto-a.conf"
printf '[Slots]\nRootB=%s\n' "$ROOT_A" >>"$T/onto-a.conf"
refuse_untouched "^abidectl: install: target partition abide-root-b \($ROOT_A\) is also a partition of the running slot a$" \
        env ABIDE_CONF="$T/onto-a.conf" "$ABIDECTL" install --force "$GOOD"

note "anti-rollback floor: survives a rollback to a lower slot"
# As after: b with 2.0 (security version 6) blessed, then a rollback to a (1.0, security version 5):
# running a again, the state file and the EFI variable remember the floor 6.
# state_floor N [VERSION]: the state file's copy
state_floor() {
        python3 - "$T/var/state.json" "$1" "${2:-}" <<'PY'
import json, sys
p, n, v = sys.argv[1], int(sys.argv[2]), sys.argv[3] or None
s = json.load(open(p))
s["security_floor"] = {"security_version": n, "version": v, "time": 1}
json.dump(s, open(p, "w"))
PY
}
SV6=$(build_bundle "$T/b8" --set Image.Version=2.5 --set Image.SecurityVersion=6)
state_floor 6 2.0
set_floor 6
refuse_untouched "^abidectl: install: bundle 2.0 has security version 5, below this device's floor 6 \(raised when 2.0 was blessed\)$" install "$GOOD"
refuse_untouched "bundle 2.1 has security version 4, below this device's floor 6" install "$LOWER"
# --force never lowers the floor.
refuse_untouched "below this device's floor 6" install --force "$GOOD"
# The state file edited down: the EFI variable still holds it.
state_floor 0
refuse_untouched "bundle 2.0 has security version 5, below this device's floor 6 \(kept in the EFI variable AbideSecurityFloor\)$" install "$GOOD"
# The EFI variable deleted (or NVRAM cleared): the state file's copy still holds it.
rm "$FVAR"
state_floor 6 2.0
refuse_untouched "bundle 2.0 has security version 5, below this device's floor 6 \(raised when 2.0 was blessed\)$" install "$GOOD"
# A corrupt variable counts as absent, not as 0 of both.
printf '\007\000\000\000\001' >"$FVAR"
refuse_untouched "below this device's floor 6" install "$GOOD"
set_floor 6
# At the floor: installs, and the slot's security version is recorded.
install "$SV6" >/dev/null
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "install at the floor: b's entry is '$(entry_of b)'"
python3 -c 'import json,sys; b = json.load(open(sys.argv[1]))["slots"]["b"]; assert b["security_version"] == 6, b' \
        "$T/var/state.json" || die "state after an install at the floor: $(cat "$T/var/state.json")"
# Install never raises the floor (only a bless does).
[ "$(get_floor)" = 6 ] || die "EFI floor changed by install: $(get_floor)"
check_a "install at the floor"
rm -f "$FVAR"
state_floor 0

note "running slot unknown"
mkdir "$T/vars-aside"
mv "$T/efivars/"Loader* "$T/vars-aside/"
refuse_untouched "^abidectl: install: cannot tell the booted slot: no abide.slot= in .*, no LoaderEntrySelected" install "$GOOD"
mv "$T/vars-aside/"* "$T/efivars/"

note "truncated streams"
python3 "$ABIDE_SRCDIR/tests/integration/tamper-bundle.py" "$GOOD" "$T/trunc.abide" truncate 0
refuse_untouched "member 1 'manifest.json': Truncated" sh -c "cat \"$T/trunc.abide\" | exec \"\$0\" install -" "$ABIDECTL"
# Cut inside a payload: b was being written, so it must end without an entry.
for idx in 2 3 6; do
        install "$GOOD" --force >/dev/null
        python3 "$ABIDE_SRCDIR/tests/integration/tamper-bundle.py" "$GOOD" "$T/trunc.abide" truncate $idx
        refuse "member $((idx + 1)) '[^']+': (Truncated|truncated)" sh -c "cat \"$T/trunc.abide\" | exec \"\$0\" install -" "$ABIDECTL"
done

note "target partition mounted, or held open exclusively"
# No lazy init: the kernel would zero inode tables in the background while b is fingerprinted.
mkfs.ext4 -q -E lazy_itable_init=0,lazy_journal_init=0 "$ROOT_B"
mkdir -p "$T/mnt"
# Read-only, no journal replay: a writable ext4 commits its journal and superblock
# in the background, which would change b's bytes under the fingerprint.
mount -o ro,noload "$ROOT_B" "$T/mnt"
cleanup_hooks=("umount '$T/mnt' 2>/dev/null" "${cleanup_hooks[@]}")
refuse_untouched "target partition abide-root-b \($ROOT_B\) is mounted on $T/mnt" install "$GOOD"
umount "$T/mnt"
python3 -c 'import os,sys,time; fd=os.open(sys.argv[1], os.O_RDONLY|os.O_EXCL); print("held", flush=True); time.sleep(60)' "$VERITY_B" >"$T/held" &
holder=$!
for _ in $(seq 50); do grep -q held "$T/held" && break; sleep 0.1; done
refuse_untouched "target partition abide-verity-b \($VERITY_B\) is in use" install "$GOOD"
stop_child $holder; wait $holder 2>/dev/null || true

note "payload larger than its partition"
head -c $((50 * 1024 * 1024)) /dev/urandom >"$T/payload/blob"
BIG=$(build_bundle "$T/b6" --set Image.Version=3.0 --set Image.SecurityVersion=5)
refuse_untouched "payload 'root.img' \([0-9]+ bytes\) does not fit abide-root-b" install "$BIG"

note "bundle without a kernel"
"$ABIDE_BUILD" build --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" -o "$T/b7" \
        --set Image.Version=4.0 --set Image.SecurityVersion=5 "$ABIDE_SRCDIR/recipes/example.conf" >/dev/null
refuse_untouched "bundle has no kernel payload; slot b's boot entry needs $T/esp/abide/b/vmlinuz" install "$T"/b7/*.abide

note "a state file that cannot record the trial: refused before b's entry is written"
# The first save (installing) goes through, the second (pending, on trial) fails: an entry the
# state file does not know as a trial would be booted, but its failure never recorded as a rollback.
install "$GOOD" --force >/dev/null
refuse "^abidectl: install: cannot record slot b as pending in $T/var/state.json: .*No space left on device$" \
        preload "$shim" ABIDE_TEST_FAIL_RENAME_TO=state.json ABIDE_TEST_FAIL_RENAME_SKIP=1 "$ABIDECTL" install --force "$GOOD"
python3 -c 'import json,sys; b = json.load(open(sys.argv[1]))["slots"]["b"]; assert b["state"] == "installing" and not b["trial"], b' \
        "$T/var/state.json" || die "state of b after the refused record: $(cat "$T/var/state.json")"
# The first save failing: refused before anything is written.
refuse_untouched "^abidectl: install: cannot record slot b as installing in $T/var/state.json: .*No space left on device$" \
        preload "$shim" ABIDE_TEST_FAIL_RENAME_TO=state.json "$ABIDECTL" install --force "$GOOD"

note "an ESP whose metadata cannot be synced: refused, not reported installed"
refuse "^abidectl: install: cannot sync the ESP $T/esp: Input/output error$" \
        preload "$shim" ABIDE_TEST_FAIL_SYNCFS=1 "$ABIDECTL" install --force "$GOOD"

note "a boot entry that cannot be written: refused after the verified slot, recorded as installing, the whole reason said"
# Reached through a path of 1500 bytes (a symlink to the ESP), which the message names: the reason after
# it (the failed fsync of the entry's temporary) must still end the one line.
long=$T/long
for i in 1 2 3 4 5 6; do long+=/$(printf 'd%.0s' {1..240}); done
mkdir -p "$long"
ln -s "$T/esp" "$long/esp"
sed -i "s|^ESP=.*|ESP=$long/esp|" "$T/abide.conf"
install "$GOOD" --force >/dev/null
refuse "^abidectl: install: slot b verified, but its boot entry: cannot write boot entry $long/esp/loader/entries/abide-b\\+3\\.conf: Input/output error$" \
        preload "$shim" ABIDE_TEST_FAIL_SYNC_FILE=/loader/entries/ "$ABIDECTL" install --force "$GOOD"
python3 -c 'import json,sys; b = json.load(open(sys.argv[1]))["slots"]["b"]; assert b["state"] == "installing" and not b["trial"], b' \
        "$T/var/state.json" || die "state of b after the refused entry: $(cat "$T/var/state.json")"
sed -i "s|^ESP=.*|ESP=$T/esp|" "$T/abide.conf"

note "the state file's lock: an install waits its turn, keeps what others saved, judges the floor again"
# boot-check, mark-good and mark-bad save the state file under state.json.lock while an install
# downloads. An install that saved the copy it read at its start would undo what they saved
# meanwhile (a floor raised by a bless, a first boot recorded).
# hold_state_lock: this shell holds the lock on fd 9 until release_state_lock.
hold_state_lock() { exec 9>"$T/var/state.json.lock"; flock -x 9; }
release_state_lock() { exec 9>&-; }
# install_waiting ARGS...: starts an install in the background (pid in $inst) and returns once it
# says it waits for the lock.
install_waiting() {
        : >"$T/wait.err"
        "$ABIDECTL" install "$@" >"$T/wait.out" 2>"$T/wait.err" 9>&- &
        inst=$!
        for _ in $(seq 300); do grep -q 'waiting for it' "$T/wait.err" && break; sleep 0.1; done
        grep -qxF "abidectl: install: warning: another abidectl holds $T/var/state.json.lock; waiting for it" "$T/wait.err" ||
                { stop_child $inst; release_state_lock; die "install did not wait for the state lock: $(cat "$T/wait.err")"; }
}
cleanup_hooks=("exec 9>&-" "${cleanup_hooks[@]}")
hold_state_lock
install_waiting "$GOOD" --force
# The ESP's lock is free while it waits: boot-check, mark-good and mark-bad take the state file's
# lock and then the ESP's; an install holding the ESP's while it waited would hold them out of it.
flock -n "$T/esp" true || { release_state_lock; die "the install holds the ESP's lock while it waits for the state file's"; }
# What a bless of a (1.0, security version 5) saves while the install waits: the floor 5.
state_floor 5 1.0
release_state_lock
wait $inst || die "install after the wait failed: $(cat "$T/wait.err")"
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "install after the wait: b's entry is '$(entry_of b)'"
python3 - "$T/var/state.json" <<'PY' || die "state after the wait: $(cat "$T/var/state.json")"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["security_floor"]["security_version"] == 5 and s["security_floor"]["version"] == "1.0", s
assert s["slots"]["b"]["state"] == "pending" and s["slots"]["b"]["version"] == "2.0", s
PY
# A floor raised above the bundle while the install waited: refused then, b not written.
rm -f "$ENTRIES"/abide-b*.conf
b_print >"$T/b.before"
hold_state_lock
install_waiting "$GOOD" --force
state_floor 6 2.5
release_state_lock
wait $inst && die "install went on below a floor raised while it waited"
[ "$(wc -l <"$T/wait.err")" -eq 2 ] && grep -qxF "abidectl: install: bundle 2.0 has security version 5, below this device's floor 6 (raised when 2.5 was blessed)" "$T/wait.err" ||
        die "refusal after the wait: $(cat "$T/wait.err")"
b_print | cmp -s "$T/b.before" - || die "b written although the floor refused it"
python3 -c 'import json,sys; s = json.load(open(sys.argv[1])); assert s["security_floor"]["security_version"] == 6, s' \
        "$T/var/state.json" || die "the floor after the refusal: $(cat "$T/var/state.json")"
check_a "installs that waited for the state lock"
state_floor 0

note "a clean install still works after all that, and drops a pin of ours"
# As left by "abidectl rollback" or "switch a": the loader would boot a and never try the new b.
set_var LoaderEntryDefault "abide-a*"
set_var LoaderEntryOneShot "abide-a*"
install "$GOOD" >/dev/null
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "final install: b's entry is '$(entry_of b)'"
[ -z "$(get_var LoaderEntryDefault)" ] || die "the install left LoaderEntryDefault=$(get_var LoaderEntryDefault)"
[ "$(get_var LoaderEntryOneShot)" = "abide-a*" ] || die "the install changed the one-shot choice"
# Someone else's choice of entry is theirs.
set_var LoaderEntryDefault "debian.conf"
install "$GOOD" >/dev/null
[ "$(get_var LoaderEntryDefault)" = "debian.conf" ] || die "the install removed a pin not of abide's"
rm -f "$T/efivars/LoaderEntryDefault-$GUID" "$T/efivars/LoaderEntryOneShot-$GUID"
veritysetup verify "$ROOT_B" "$VERITY_B" "$roothash" >/dev/null || die "veritysetup verify failed after the final install"
check_a "final install"
note "OK"
