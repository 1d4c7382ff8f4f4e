#!/bin/bash
# The initramfs for the installed Debian kernel: abide-init as /init with its
# libraries and loader, the CA, every required module with the dependencies
# modprobe would load, depmod indexes that work, fixed owners and times, and
# byte-identical output for the same SOURCE_DATE_EPOCH. Bad inputs leave no file.
. "$(dirname "$0")/lib.sh"
need zstd cpio modprobe depmod openssl

H="$ABIDE_TEST_HELPERS/helper-initramfs"
INIT="$ABIDE_BUILDDIR/bootctl/init/abide-init"
[ -x "$H" ] || die "missing $H"
[ -x "$INIT" ] || die "missing $INIT"
KERNEL=$(ls -1 /boot/vmlinuz-* | sort -V | tail -1)
[ -n "$KERNEL" ] || die "no kernel in /boot (install linux-image-amd64)"
KVER=${KERNEL##*/vmlinuz-}
EPOCH=1700000000
REQUIRED="virtio_blk virtio_pci dm-mod dm-verity erofs squashfs ext4 overlay efivarfs i6300esb vfat nls_cp437"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -keyout "$T/ca.key" \
        -out "$T/ca.pem" -subj /CN=abide-test-ca -days 30 2>/dev/null

build() { "$H" build --kernel "$KERNEL" --init "$INIT" --ca "$T/ca.pem" --epoch $EPOCH "$@"; }

note "build three times, in other directories and under another umask: byte-identical"
mkdir -p "$T/one" "$T/two"
build -o "$T/one/initrd"
build -o "$T/two/initrd"
same_file "$T/one/initrd" "$T/two/initrd"
mkdir -p "$T/three"
(umask 077; build -o "$T/three/initrd")
same_file "$T/one/initrd" "$T/three/initrd"
[ -z "$(ls -A "$T/one" | grep -v '^initrd$')" ] || die "work files left next to the output: $(ls -A "$T/one")"

note "zstd-compressed cpio newc, as the kernel reads it"
[ "$(head -c4 "$T/one/initrd" | od -An -tx1 | tr -d ' ')" = "28b52ffd" ] || die "not a zstd stream"
grep -q '^CONFIG_RD_ZSTD=y' "/boot/config-$KVER" || die "kernel $KVER cannot unpack a zstd initramfs"
zstd -dc "$T/one/initrd" > "$T/initrd.cpio"
[ "$(head -c6 "$T/initrd.cpio")" = "070701" ] || die "not cpio newc"
cpio -it --quiet < "$T/initrd.cpio" > "$T/list"
cpio -itv --quiet --numeric-uid-gid < "$T/initrd.cpio" > "$T/listv"
mkdir "$T/x"
(cd "$T/x" && cpio -idm --quiet --no-absolute-filenames < "$T/initrd.cpio")

note "sorted entries, owner 0:0, every mtime = $EPOCH, inodes 1..N"
LC_ALL=C sort -c "$T/list" || die "entries are not in byte order"
# Reads the newc headers themselves: cpio -t does not show inodes or exact times.
python3 - "$T/initrd.cpio" $EPOCH <<'PY' || die "cpio headers are not normalized"
import sys
data, epoch = open(sys.argv[1], "rb").read(), int(sys.argv[2])
off, n = 0, 0
while True:
    h = data[off:off + 110]
    assert h[:6] == b"070701", "bad magic at %d" % off
    f = [int(h[6 + 8 * i:14 + 8 * i], 16) for i in range(13)]
    ino, mode, uid, gid, nlink, mtime, size = f[0], f[1], f[2], f[3], f[4], f[5], f[6]
    namesize = f[11]
    name = data[off + 110:off + 110 + namesize - 1].decode()
    off = (off + 110 + namesize + 3) & ~3
    off = (off + size + 3) & ~3
    if name == "TRAILER!!!":
        break
    n += 1
    if uid or gid or mtime != epoch or ino != n:
        sys.exit("%s: uid %d gid %d mtime %d ino %d (entry %d)" % (name, uid, gid, mtime, ino, n))
print("   %d entries checked" % n)
PY

note "/init is abide-init, its libraries and loader resolve inside the archive"
cmp -s "$T/x/init" "$INIT" || die "/init is not abide-init"
[ -x "$T/x/init" ] || die "/init not executable"
interp=$(readelf -l "$INIT" | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
[ -n "$interp" ] || die "cannot read the interpreter of abide-init"
[ -f "$T/x$interp" ] || die "loader $interp missing"
for lib in $(ldd "$INIT" | awk '$2 == "=>" { print $3 }'); do
        [ -f "$T/x$lib" ] || die "library $lib of abide-init missing"
done
# The loader inside the tree must find every library inside the tree.
chroot "$T/x" "$interp" --list /init > "$T/ldlist" 2>&1 || die "loader in the initramfs cannot resolve /init: $(cat "$T/ldlist")"
grep -q 'not found' "$T/ldlist" && die "unresolved libraries: $(cat "$T/ldlist")"

note "the CA, the mount points, /dev/console"
cmp -s "$T/x/etc/abide/keys/ca.pem" "$T/ca.pem" || die "CA missing or different"
for d in dev proc sys sysroot run; do grep -qx "$d" "$T/list" || die "no /$d"; done
grep -E ' dev/console$' "$T/listv" | grepq '^crw-------.* 5, *1 ' || die "no /dev/console c 5 1: $(grep console "$T/listv")"

note "every required module and what modprobe would load with it"
MDIR="$T/x/lib/modules/$KVER"
[ -d "$MDIR" ] || die "no /lib/modules/$KVER"
for m in $REQUIRED; do
        modprobe --show-depends -S "$KVER" "$m" > "$T/deps" || die "modprobe does not know $m"
        while read -r kind path _; do
                [ "$kind" = insmod ] || continue
                rel=${path#*/lib/modules/$KVER/}
                [ -f "$MDIR/$rel" ] || die "module $m: $rel missing"
                name=$(basename "$rel" .ko); name=${name//-/_}
                grep -qx "$name" "$T/x/etc/abide/modules.load" || die "$name not in /etc/abide/modules.load"
        done < "$T/deps"
        # depmod's indexes in the initramfs resolve the same chain.
        modprobe -d "$T/x" -S "$KVER" --show-depends "$m" > "$T/deps-in" || die "initramfs indexes do not know $m"
        [ "$(grep -c ^insmod "$T/deps-in")" = "$(grep -c ^insmod "$T/deps")" ] || die "initramfs indexes resolve $m differently"
done
# Load order: each module after what it depends on.
for m in dm_verity ext4 virtio_blk; do
        pos=$(grep -nx "$m" "$T/x/etc/abide/modules.load" | cut -d: -f1)
        for d in $(modinfo -k "$KVER" -F depends "$m" | tr , ' '); do
                dpos=$(grep -nx "${d//-/_}" "$T/x/etc/abide/modules.load" | cut -d: -f1)
                [ -n "$dpos" ] && [ "$dpos" -lt "$pos" ] || die "$d is not loaded before $m"
        done
done
# Nothing beyond the closure: the host has thousands of modules.
n=$(grep -c '\.ko$' "$T/list")
[ "$n" -lt 60 ] || die "$n modules packed, expected only the closure"

note "an extra module and its dependencies"
build --module nbd -o "$T/extra"
zstd -dc "$T/extra" | cpio -it --quiet >"$T/extra.list"  # listed first: grep -q would cut the pipe short
grep -q 'kernel/drivers/block/nbd.ko$' "$T/extra.list" || die "extra module nbd missing"

note "bad input: clear error, no output file"
expect_fail "module no_such_module: not found" build --module no_such_module -o "$T/bad1"
[ ! -e "$T/bad1" ] || die "output left after a failed build"
echo "not a certificate" > "$T/bad.pem"
expect_fail "CA certificate .*bad.pem: not a PEM certificate" \
        "$H" build --kernel "$KERNEL" --init "$INIT" --ca "$T/bad.pem" -o "$T/bad2"
expect_fail "CA certificate .*missing.pem" \
        "$H" build --kernel "$KERNEL" --init "$INIT" --ca "$T/missing.pem" -o "$T/bad3"
expect_fail "cannot tell its version" \
        "$H" build --kernel /boot/kernel-without-version --init "$INIT" --ca "$T/ca.pem" -o "$T/bad4"
expect_fail "abide-init .*: No such file" \
        "$H" build --kernel "$KERNEL" --init "$T/no-init" --ca "$T/ca.pem" -o "$T/bad5"
mkdir "$T/emptymods"
expect_fail "libkmod|depmod|not found" \
        "$H" build --kernel "$KERNEL" --modules-dir "$T/emptymods" --init "$INIT" --ca "$T/ca.pem" -o "$T/bad6"
for f in bad1 bad2 bad3 bad4 bad5 bad6; do [ ! -e "$T/$f" ] || die "$f left behind"; done
[ -z "$(ls -A "$T" | grep '^\.initramfs')" ] || die "work directory left behind"

echo "OK"
