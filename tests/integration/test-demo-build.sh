#!/bin/bash
# Builds recipes/demo.conf the way scripts/demo.sh does, then looks inside:
# the root image has the agent, its start-up, its health.d probe, image.json,
# abidectl and the boot-check hook, and not the QEMU test console (only
# --set Content.Layer=tree:../images/demo/testing brings it); the initramfs
# has abide-init, fsck.fat, the modules with their dependencies and the CA.
# Two builds are byte-identical.
source "$(dirname "$0")/lib.sh"
need bsdtar zstd modprobe mkfs.erofs
: "${ABIDE_BUILDDIR:?}"

B=$ABIDE_BUILD
BD=$ABIDE_BUILDDIR
export SOURCE_DATE_EPOCH=1721362140
"$B" keygen -o "$T/keys" >/dev/null
demo_build() {   # demo_build OUTDIR [--set ...]
        local out=$1; shift
        "$B" build "$ABIDE_SRCDIR/recipes/demo.conf" --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" \
                --ca "$T/keys/ca.pem" --init "$BD/bootctl/init/abide-init" \
                --set "Agent.Source=$BD/images/demo/agent-root" \
                --set "Content.Binary=$BD/bootctl/abidectl:/usr/sbin/abidectl" -o "$out" "$@"
}

note "build the demo"
bundle=$(demo_build "$T/out1")
"$B" inspect "$bundle" --cert "$T/keys/ca.pem" >"$T/inspect.txt"
grep -q "Signature: *verified" "$T/inspect.txt" || die "demo bundle does not verify"
for m in root.img root.verity root.verity-sig vmlinuz initrd; do
        grep -q "^  $m " "$T/inspect.txt" || die "payload $m missing: $(cat "$T/inspect.txt")"
done
mkdir "$T/x1"
tar -xf "$bundle" -C "$T/x1"
kver=$(basename "$(ls /boot/vmlinuz-* | sort -V | tail -1)" | sed 's/^vmlinuz-//')
cmp -s "$T/x1/vmlinuz" "/boot/vmlinuz-$kver" || die "vmlinuz is not the build machine's newest kernel $kver"

note "the root image"
mkdir "$T/mnt"
mount -o ro,loop "$T/x1/root.img" "$T/mnt" || die "cannot mount root.img"
cleanup_hooks+=("umount '$T/mnt'")
R=$T/mnt
for f in usr/sbin/sentinel etc/sentinel/content.def etc/init.d/S50abide-agent-sentinel \
        usr/lib/abide/health.d/50-agent-sentinel usr/lib/abide/image.json usr/sbin/abidectl \
        usr/lib/abide/abide-boot-check.sh bin/busybox sbin/init etc/inittab etc/init.d/rcS usr/lib/abide/keys/ca.pem \
        etc/init.d/S60abide-update usr/lib/systemd/system/abide-update.timer; do
        [ -e "$R/$f" ] || die "/$f missing from the root image"
done
[ -x "$R/usr/lib/abide/health.d/50-agent-sentinel" ] || die "health probe not executable"
# A systemd image that takes bootctl/image-root gets boot-check enabled: required by boot-complete.target
# (else systemd-bless-boot blesses a trial with no check at all), run every boot, and the update timer.
for l in boot-complete.target.requires/abide-boot-check.service multi-user.target.wants/abide-boot-check.service \
        timers.target.wants/abide-update.timer; do
        u=$R/usr/lib/systemd/system/$l
        [ -L "$u" ] && [ "$(readlink "$u")" = "../$(basename "$l")" ] && [ -f "$u" ] ||
                die "/usr/lib/systemd/system/$l is not a link to its unit: $(ls -l "$u" 2>&1)"
done
grep -qx "RequiredBy=boot-complete.target" "$R/usr/lib/systemd/system/abide-boot-check.service" ||
        die "abide-boot-check.service no longer says RequiredBy=boot-complete.target: update its links"
# The QEMU harness's command channel ships only in test images (layer images/demo/testing).
[ ! -e "$R/usr/lib/abide/test-console.sh" ] || die "the default demo build carries the test console"
leak=$(grep -rlF org.abide.test "$R" 2>/dev/null || true)
[ -z "$leak" ] || die "the default demo build has the test console's port name in: $leak"
grep -q "sentinel --health" "$R/usr/lib/abide/health.d/50-agent-sentinel" || die "probe does not run the Health= command"
grep -q "sentinel --daemon" "$R/etc/init.d/S50abide-agent-sentinel" || die "start-up does not run Exec="
grep -q '"version": "1.0.0"' "$R/usr/lib/abide/image.json" || die "image.json: $(cat "$R/usr/lib/abide/image.json")"
grep -q '"compatible": "abide-demo-x86_64"' "$R/usr/lib/abide/image.json" || die "image.json lacks compatible"
grep -q '"build_id": "' "$R/usr/lib/abide/image.json" || die "image.json lacks build_id"
cmp -s "$R/usr/lib/abide/keys/ca.pem" "$T/keys/ca.pem" || die "the image's CA is not --ca"
[ ! -e "$R/etc/abide/keys" ] || die "the image has /etc/abide/keys, which the /etc overlay on abide-data could shadow"
# abidectl runs from the image with the libraries that came along
# (with /proc, which sanitizer builds of abidectl need)
mount -t proc proc "$R/proc" && cleanup_hooks=("umount '$R/proc'" "${cleanup_hooks[@]}")
chroot "$R" /usr/sbin/abidectl --help >/dev/null || die "abidectl does not run inside the image"
umount "$R/proc" && cleanup_hooks=("${cleanup_hooks[@]:1}")
chroot "$R" /usr/sbin/sentinel --check-content | grepq "variant good$" || die "sentinel does not see good content in the image: $(chroot "$R" /usr/sbin/sentinel --check-content 2>&1)"
umount "$R"
cleanup_hooks=()

note "the initramfs"
zstd -dc "$T/x1/initrd" >"$T/initrd.cpio" || die "initrd is not zstd"
bsdtar -tf "$T/initrd.cpio" | sed 's|^\./||' | sort >"$T/initrd.list"
# /lib may be a link to usr/lib in the initramfs, as on the build machine
in_initrd() { grep -qx "$1" "$T/initrd.list" || grepq -x "usr/$1" "$T/initrd.list"; }
for f in init usr/sbin/fsck.fat etc/abide/keys/ca.pem etc/abide/modules.load "lib/modules/$kver/modules.dep"; do
        in_initrd "$f" || die "/$f missing from the initramfs"
done
grep -q "ld-linux-x86-64.so.2" "$T/initrd.list" || die "no dynamic loader in the initramfs"
mkdir "$T/ir" && bsdtar -xf "$T/initrd.cpio" -C "$T/ir"
cmp -s "$T/ir/etc/abide/keys/ca.pem" "$T/keys/ca.pem" || die "initramfs CA is not --ca"
cmp -s "$T/ir/init" "$BD/bootctl/init/abide-init" || die "/init is not abide-init"
for mod in virtio_blk dm_mod dm_verity erofs squashfs ext4 overlay efivarfs i6300esb; do
        # every module file modprobe would load for it (built-ins print "builtin")
        modprobe -S "$kver" --show-depends "$mod" 2>/dev/null | awk '$1 == "insmod" { print $2 }' | while read -r ko; do
                in_initrd "${ko#/}" || die "initramfs lacks $ko (needed by $mod)"
        done
        grep -qx "$mod" "$T/ir/etc/abide/modules.load" || modprobe -S "$kver" --show-depends "$mod" | grepq builtin ||
                die "modules.load does not list $mod"
done

note "variants, versions and the test layer through --set"
b2=$(demo_build "$T/out2" --set Content.Layer=tree:../images/demo/content/crash --set Image.Version=1.0.1 \
        --set Content.Layer=tree:../images/demo/testing)
[ "$(basename "$b2")" = abide-demo-1.0.1.abide ] || die "version not set: $b2"
mkdir "$T/x2" && tar -xf "$b2" -C "$T/x2"
mount -o ro,loop "$T/x2/root.img" "$T/mnt" || die "cannot mount crash root.img"
cleanup_hooks+=("umount '$T/mnt'")
chroot "$T/mnt" /usr/sbin/sentinel --check-content | grepq "variant crash$" || die "crash variant not applied"
[ -x "$T/mnt/usr/lib/abide/test-console.sh" ] || die "the test layer did not bring /usr/lib/abide/test-console.sh"
umount "$T/mnt"
cleanup_hooks=()

note "reproducible: a second build gives identical payloads and manifest"
b3=$(demo_build "$T/out3")
mkdir "$T/x3" && tar -xf "$b3" -C "$T/x3"
for f in manifest.json root.img root.verity vmlinuz initrd; do
        same_file "$T/x1/$f" "$T/x3/$f"
done

note "bad input"
expect_fail "abide-init|init" "$B" build "$ABIDE_SRCDIR/recipes/demo.conf" --key "$T/keys/signing.key" \
        --cert "$T/keys/signing.crt" --ca "$T/keys/ca.pem" --init "$T/no-init" \
        --set "Agent.Source=$BD/images/demo/agent-root" -o "$T/bad1"
expect_fail "--ca" "$B" build "$ABIDE_SRCDIR/recipes/demo.conf" --key "$T/keys/signing.key" \
        --cert "$T/keys/signing.crt" --init "$BD/bootctl/init/abide-init" \
        --set "Agent.Source=$BD/images/demo/agent-root" -o "$T/bad2"
expect_fail "Variant|variant|layer|Layer" demo_build "$T/bad3" --set Content.Layer=tree:../images/demo/content/nonexistent
for d in bad1 bad2 bad3; do
        [ -z "$(ls -A "$T/$d" 2>/dev/null)" ] || die "failed build left files in $d"
done
echo "demo build checks passed"
