#!/bin/bash
# The arm64 demo bundle built on this (x86-64) machine: abide's programs
# cross-built (scripts/build-arm64.sh), Debian's arm64 busybox, dosfstools and
# kernel as deb: layers (versions as apt resolves them today), Kernel=image:.
# Checks the manifest's architecture and the factory disk's DPS arm64 types,
# that the kernel is a plain arm64 Image, that the initramfs carries arm64
# modules of the image's own kernel (built with the host's /lib/modules
# hidden), and that abide-init, fsck.fat, abidectl and sentinel are aarch64.
. "$(dirname "$0")/lib.sh"
need aarch64-linux-gnu-gcc apt-get apt-cache dpkg dpkg-deb file zstd cpio fsck.erofs sfdisk unshare jq sha256sum
B=$ABIDE_BUILD
A64=$ABIDE_BUILDDIR/arm64-cross
DEBS=$ABIDE_BUILDDIR/arm64-debs
dpkg --print-foreign-architectures | grepq -x arm64 || die "arm64 is not a dpkg architecture (run scripts/install-deps.sh)"

is_a64() { file -b "$1" | grepq 'ARM aarch64' || die "$2 is not aarch64: $(file -b "$1")"; }

note "the arm64 programs (cross build in $A64)"
"$ABIDE_SRCDIR/scripts/build-arm64.sh" "$A64" >/dev/null
is_a64 "$A64/bootctl/abidectl" abidectl
is_a64 "$A64/bootctl/init/abide-init" abide-init

note "the arm64 demo bundle, built with the build machine's /lib/modules hidden"
mkdir -p "$DEBS" "$T/out"
ln -s "$DEBS" "$T/out/debs"
unshare -m bash -c 'mount -t tmpfs -o ro,size=1M none /lib/modules && exec "$@"' sh \
        "$ABIDE_SRCDIR/scripts/build-demo-arm64.sh" "$B" "$A64" "$T/out" >"$T/build.log" 2>&1 ||
        die "build-demo-arm64.sh failed: $(tail -5 "$T/build.log")"
BUNDLE=$(tail -1 "$T/build.log")
[ -f "$BUNDLE" ] || die "no bundle ($BUNDLE)"
"$B" inspect "$BUNDLE" --cert "$T/out/keys/ca.pem" >"$T/inspect.txt"
grep -q '^Architecture: *arm64$' "$T/inspect.txt" || die "inspect does not say arm64"
grep -q '^Signature: *verified' "$T/inspect.txt" || die "bundle not verified"
"$B" inspect "$BUNDLE" --json >"$T/inspect.json"
[ "$(jq -r .manifest.architecture "$T/inspect.json")" = arm64 ] || die "manifest architecture is not arm64"

note "kernel: a plain arm64 Image, the linux-image deb's"
mkdir "$T/b"
tar -xf "$BUNDLE" -C "$T/b" vmlinuz initrd root.img
file -b "$T/b/vmlinuz" | grepq 'ARM64 boot executable Image' || die "kernel is not an arm64 Image: $(file -b "$T/b/vmlinuz")"
KDEB=$(ls "$DEBS"/linux-image-*_arm64.deb | sort -V | tail -1)
dpkg-deb -x "$KDEB" "$T/kdeb"
KV=$(ls "$T/kdeb/boot" | sed -n 's/^vmlinuz-//p')
[ -n "$KV" ] || die "no vmlinuz in $KDEB"
# Debian 12's arm64 vmlinuz is already a plain Image; a gzip-compressed one is decompressed.
zcat -f "$T/kdeb/boot/vmlinuz-$KV" | cmp -s - "$T/b/vmlinuz" || die "kernel payload is not the deb's vmlinuz-$KV (as an Image)"
[ "$KV" != "$(uname -r)" ] || die "the arm64 kernel version equals the build machine's"

note "initramfs: aarch64 init and fsck.fat, the deb's arm64 modules for $KV"
mkdir "$T/i"
(cd "$T/i" && zstd -dc "$T/b/initrd" | cpio -id --quiet)
is_a64 "$T/i/init" "initramfs /init"
is_a64 "$T/i/usr/sbin/fsck.fat" "initramfs fsck.fat"
MD=$T/i/lib/modules/$KV
[ -d "$MD" ] || die "initramfs has no lib/modules/$KV: $(ls "$T/i/lib/modules" 2>&1)"
[ -f "$MD/modules.dep" ] || die "initramfs modules.dep missing"
n=0
while read -r m; do
        f=$(find "$MD" -name "$m.ko*" | head -1)
        [ -n "$f" ] || continue         # built into the arm64 kernel
        rel=${f#"$MD"/}
        is_a64 "$f" "module $m"
        cmp -s "$f" "$T/kdeb/lib/modules/$KV/$rel" || die "module $rel is not the kernel deb's"
        n=$((n + 1))
done <"$T/i/etc/abide/modules.load"
[ $n -ge 10 ] || die "only $n loadable modules in the initramfs"
for m in dm_verity erofs virtio_blk; do
        grep -qx "$m" "$T/i/etc/abide/modules.load" || die "$m not in modules.load"
done
if find "$T/i/lib/modules" -name "*.ko*" -exec file -b {} + | grepq -v 'ARM aarch64'; then
        die "a module in the initramfs is not aarch64"
fi
echo "   $n arm64 modules of $KV, each byte-equal to the deb's"

note "root image: aarch64 abidectl, sentinel, busybox; Backend=uboot"
fsck.erofs --extract="$T/r" "$T/b/root.img" >/dev/null
is_a64 "$T/r/usr/sbin/abidectl" "image abidectl"
is_a64 "$T/r/usr/sbin/sentinel" "image sentinel"
is_a64 "$T/r/bin/busybox" "image busybox"
grep -qx 'Backend=uboot' "$T/r/usr/lib/abide/abide.conf" || die "image abide.conf has no Backend=uboot"
curl_lib=$(find "$T/r" -name 'libcurl.so*' -type f | head -1)
[ -n "$curl_lib" ] || die "abidectl's libcurl is not in the image"
is_a64 "$curl_lib" "image libcurl"

note "factory disk: DPS arm64 root, verity and verity-sig types"
"$B" disk "$BUNDLE" --cert "$T/out/keys/ca.pem" -o "$T/disk.img" >/dev/null
sfdisk -d "$T/disk.img" >"$T/gpt"
for p in "abide-root-a B921B045-1DF0-41C3-AF44-4C6F280D3FAE" "abide-verity-a DF3300CE-D69F-4C92-978C-9BFB0F38D820" \
         "abide-verity-sig-a 6DB69DE6-29F4-4758-A7A5-962190F00CE3" "abide-root-b B921B045-1DF0-41C3-AF44-4C6F280D3FAE"; do
        set -- $p
        grep "name=\"$1\"" "$T/gpt" | grepq -i "type=$2" || die "$1 is not of type $2: $(grep "name=\"$1\"" "$T/gpt")"
done
grep -qi 4f68bce3 "$T/gpt" && die "an x86-64 root type on the arm64 disk"

note "refused: an arm64 recipe with the build machine's kernel; image: kernel without modules"
K=(--key "$T/out/keys/signing.key" --cert "$T/out/keys/signing.crt" --ca "$T/out/keys/ca.pem" --init "$A64/bootctl/init/abide-init")
expect_fail 'Kernel= must be image:' "$B" build "$ABIDE_SRCDIR/recipes/demo-arm64.conf" "${K[@]}" -o "$T/bad" \
        --set "Boot.Kernel=$(ls /boot/vmlinuz-* | head -1)"
mkdir -p "$T/nomod/boot"
cp "$T/kdeb/boot/vmlinuz-$KV" "$T/nomod/boot/"
cat >"$T/nomod.conf" <<EOR
[Image]
Name=nomod
Version=1
Compatible=nomod
Architecture=arm64
[Content]
Layer=tree:$T/nomod
[Boot]
Kernel=image:/boot/vmlinuz-*
EOR
expect_fail "no /lib/modules/$KV" "$B" build "$T/nomod.conf" "${K[@]}" -o "$T/bad"
[ -z "$(ls -A "$T/bad" 2>/dev/null | grep -v '^\.' || true)" ] || die "a refused build left files in $T/bad"
echo "OK"
