#!/bin/bash
# abide-init: the partition and signature steps (--test-verify-slot) on a
# factory disk image and a loop device: a good signature is accepted; another
# CA, a tampered rootHash, a wrong fingerprint, malformed JSON, a missing or
# ambiguous partition are refused; a partition appearing during the wait is
# found. Then QEMU (TCG, the host kernel, the disk's initrd) boots the demo
# disk up to its /sbin/init, and checks that an empty slot, a missing
# abide.slot= and a corrupt root block each end in a reboot.
. "$(dirname "$0")/lib.sh"
need sfdisk losetup partx mknod debugfs e2fsck python3 dd mcopy qemu-system-x86_64 openssl timeout
: "${ABIDE_BUILDDIR:?}"
B=$ABIDE_BUILD
BD=$ABIDE_BUILDDIR
INIT=$BD/bootctl/init/abide-init
SIGN=$ABIDE_TEST_HELPERS/helper-sign
[ -x "$INIT" ] || die "abide-init not built at $INIT"
export MTOOLS_SKIP_CHECK=1

note "demo bundle and factory disk"
"$B" keygen -o "$T/keys" >/dev/null
"$B" keygen -o "$T/other" >/dev/null
mkdir "$T/ca" "$T/otherca"
cp "$T/keys/ca.pem" "$T/ca/"
cp "$T/other/ca.pem" "$T/otherca/"
"$B" build "$ABIDE_SRCDIR/recipes/demo.conf" --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" \
        --ca "$T/keys/ca.pem" --init "$INIT" \
        --set "Agent.Source=$BD/images/demo/agent-root" \
        --set "Content.Binary=$BD/bootctl/abidectl:/usr/sbin/abidectl" --set Image.SecurityVersion=2 -o "$T/out" >/dev/null
BUNDLE=$(echo "$T"/out/*.abide)
[ -f "$BUNDLE" ] || die "no bundle"
"$B" disk "$BUNDLE" --cert "$T/keys/ca.pem" -o "$T/disk.img" >/dev/null
D=$T/disk.img
RH=$("$B" inspect "$BUNDLE" --json | python3 -c 'import json,sys; print(json.load(sys.stdin)["manifest"]["verity"]["root_hash"])')
[ ${#RH} -eq 64 ] || die "no root hash from inspect: $RH"

# part LABEL [DISK]: start and size in bytes
part() { sfdisk --json "${2:-$D}" | python3 -c 'import json,sys
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == sys.argv[1]: print(p["start"] * 512, p["size"] * 512)' "$1"; }
# partno LABEL: the partition number
partno() { sfdisk --json "$D" | python3 -c 'import json,sys,re
for p in json.load(sys.stdin)["partitiontable"]["partitions"]:
    if p.get("name") == sys.argv[1]: print(re.search(r"(\d+)$", p["node"]).group(1))' "$1"; }
# put_sig FILE: FILE's bytes at the start of abide-verity-sig-a, the rest zeroed (as abidectl install leaves it)
put_sig() {
        local s n
        read -r s n < <(part abide-verity-sig-a)
        python3 - "$D" "$s" "$n" "$1" <<'EOF'
import sys
disk, start, size, src = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
data = open(src, "rb").read()
assert len(data) <= size, "signature larger than its partition"
with open(disk, "r+b") as f:
    f.seek(start)
    f.write(data + b"\0" * (size - len(data)))
EOF
}
verify() { "$INIT" --test-verify-slot "$@"; }
# vh ARGS...: the verified root hash (the test mode prints its progress lines first)
vh() { local o; o=$(verify "$@") || return 1; printf '%s\n' "$o" | tail -n 1; }

note "the factory disk's slot a verifies, with the bundle's root hash"
read -r s n < <(part abide-verity-sig-a)
dd if="$D" of="$T/sig.orig" bs=4096 iflag=skip_bytes,count_bytes skip="$s" count="$n" status=none
tr -d '\0' <"$T/sig.orig" >"$T/sig.json"
got=$(vh a --disk "$D" --keys "$T/ca") || die "the factory disk does not verify"
[ "$got" = "$RH" ] || die "verified root hash $got, expected $RH"
# The CA as one PEM file works too.
[ "$(vh a --disk "$D" --keys "$T/keys/ca.pem")" = "$RH" ] || die "PEM file as trust store"
out=$(verify a --disk "$D" --keys "$T/ca" 2>&1 >/dev/null) || die "failed: $out"
[ -z "$out" ] || die "a good slot printed on stderr: $out"

note "the signature step never waits for the kernel's random pool (docs/boot.md)"
# The shim answers as a kernel whose pool is not ready yet and logs every call
# that would wait for it. The control first: the same JSON library, seeded as
# it is by default (abide-build inspect reads the manifest with it), is caught.
shim=$ABIDE_TEST_HELPERS/helper-entropy.so
entropy() { preload "$shim" ABIDE_TEST_ENTROPY_LOG="$T/entropy.log" "$@"; }
entropy "$B" inspect "$BUNDLE" >/dev/null || die "inspect under the entropy shim failed"
grep -qx 'open /dev/urandom' "$T/entropy.log" ||
        die "control: the shim did not see json-c's seed read from /dev/urandom: $(cat "$T/entropy.log" 2>&1)"
rm "$T/entropy.log"
[ "$(entropy "$INIT" --test-verify-slot a --disk "$D" --keys "$T/ca" | tail -n 1)" = "$RH" ] ||
        die "abide-init does not verify slot a before the random pool is ready"
[ ! -e "$T/entropy.log" ] || die "abide-init waited for the random pool: $(tr '\n' ' ' <"$T/entropy.log")"

note "refused: another CA, tampered rootHash, wrong fingerprint"
expect_fail '^abide-init: slot a: verity signature not trusted: signer .*CN=abide demo signing key' \
        verify a --disk "$D" --keys "$T/otherca"
# edit_json EXPR: sig.json with a python expression applied to j, to $T/edited
edit_json() {
        python3 - "$T/sig.json" "$T/edited" "$1" <<'EOF'
import json, sys
j = json.load(open(sys.argv[1]))
exec(sys.argv[3])
open(sys.argv[2], "w").write(json.dumps(j))
EOF
}
flip_hex='lambda h: h[:10] + ("0" if h[10] != "0" else "1") + h[11:]'
edit_json "j['rootHash'] = ($flip_hex)(j['rootHash'])"
put_sig "$T/edited"
expect_fail '^abide-init: slot a: verity signature does not match the data' verify a --disk "$D" --keys "$T/ca"

fpr() { openssl x509 -in "$1" -outform DER | sha256sum | cut -d' ' -f1; }
CAFPR=$(fpr "$T/keys/ca.pem")
edit_json "j['certificateFingerprint'] = '$CAFPR'"
put_sig "$T/edited"
expect_fail "^abide-init: slot a: verity signature not trusted: certificateFingerprint $CAFPR is not the signer's certificate" \
        verify a --disk "$D" --keys "$T/ca"
edit_json "j['certificateFingerprint'] = ($flip_hex)(j['certificateFingerprint'])"
put_sig "$T/edited"
expect_fail "is not the signer's certificate" verify a --disk "$D" --keys "$T/ca"

# The right root hash signed under the other CA, with its own honest fingerprint.
printf %s "$RH" >"$T/rh"
"$SIGN" pkcs7 "$T/other/signing.key" "$T/other/signing.crt" "$T/rh" "$T/rh.other.p7"
OFPR=$(fpr "$T/other/signing.crt")
edit_json "import base64; j['signature'] = base64.b64encode(open('$T/rh.other.p7','rb').read()).decode(); j['certificateFingerprint'] = '$OFPR'"
put_sig "$T/edited"
expect_fail '^abide-init: slot a: verity signature not trusted: signer' verify a --disk "$D" --keys "$T/ca"
# ... which the other CA does accept: the refusal above is about trust, not form.
[ "$(vh a --disk "$D" --keys "$T/otherca")" = "$RH" ] || die "other CA's signature not accepted by the other CA"

# A signature made by openssl (interop), right CA, right fingerprint: accepted.
openssl smime -sign -binary -noattr -outform DER -in "$T/rh" -signer "$T/keys/signing.crt" \
        -inkey "$T/keys/signing.key" -out "$T/rh.openssl.p7"
edit_json "import base64; j['signature'] = base64.b64encode(open('$T/rh.openssl.p7','rb').read()).decode(); j['certificateFingerprint'] = '$(fpr "$T/keys/signing.crt")'"
put_sig "$T/edited"
[ "$(vh a --disk "$D" --keys "$T/ca")" = "$RH" ] || die "openssl-made signature not accepted"
# A genuine signature over another root hash does not carry over.
printf %s "$(printf %s "$RH" | tr 0-9a-f 1-9a-f0)" >"$T/rh2"
"$SIGN" pkcs7 "$T/keys/signing.key" "$T/keys/signing.crt" "$T/rh2" "$T/rh2.p7"
edit_json "import base64; j['signature'] = base64.b64encode(open('$T/rh2.p7','rb').read()).decode()"
put_sig "$T/edited"
expect_fail 'verity signature does not match the data' verify a --disk "$D" --keys "$T/ca"

note "refused: malformed partitions"
head -c 100 "$T/sig.json" >"$T/edited"
put_sig "$T/edited"
expect_fail '^abide-init: slot a: verity signature: not valid JSON' verify a --disk "$D" --keys "$T/ca"
{ cat "$T/sig.json"; printf '\0\0\0garbage'; } >"$T/edited"
put_sig "$T/edited"
expect_fail 'verity signature: unexpected data after the JSON padding' verify a --disk "$D" --keys "$T/ca"
edit_json "del j['rootHash']"
put_sig "$T/edited"
expect_fail 'verity signature: .*rootHash' verify a --disk "$D" --keys "$T/ca"
edit_json "j['signature'] = j['signature'][:40] + ('A' if j['signature'][40] != 'A' else 'B') + j['signature'][41:]"
put_sig "$T/edited"
expect_fail '^abide-init: slot a: verity signature ' verify a --disk "$D" --keys "$T/ca"
printf '' >"$T/edited"
put_sig "$T/edited"
expect_fail '^abide-init: slot a: verity signature: empty' verify a --disk "$D" --keys "$T/ca"
# Slot b of a factory disk is empty.
expect_fail '^abide-init: slot b: verity signature: empty' verify b --disk "$D" --keys "$T/ca"
put_sig "$T/sig.orig"
[ "$(vh a --disk "$D" --keys "$T/ca")" = "$RH" ] || die "original signature no longer accepted"

note "refused: missing trust store, bad options"
expect_fail '^abide-init: slot a: cannot load the trusted certificates' verify a --disk "$D" --keys "$T/nonexistent"
expect_fail '^abide-init: --test-verify-slot c: expected a or b' verify c --disk "$D"
expect_fail '^abide-init: --wait=x is not a number' verify a --disk "$D" --wait x
expect_fail '^abide-init: not PID 1' "$INIT"

note "partitions: missing after the wait, ambiguous at once, appearing during the wait"
DATA=$(partno abide-data)
ROOTB=$(partno abide-root-b)
sfdisk -q --part-label "$D" "$DATA" other-data
t0=$(date +%s)
expect_fail '^abide-init: slot a: partitions: no partition with PARTLABEL abide-data on .*\(waited 2 s\)' \
        verify a --disk "$D" --keys "$T/ca" --wait 2
t1=$(date +%s)
[ $((t1 - t0)) -ge 2 ] || die "gave up after $((t1 - t0)) s, before the 2 s wait"
[ $((t1 - t0)) -le 6 ] || die "waited $((t1 - t0)) s for a 2 s wait"
# The label comes back a second into a 20 s wait.
(sleep 1; sfdisk -q --part-label "$D" "$DATA" abide-data) &
t0=$(date +%s)
got=$(vh a --disk "$D" --keys "$T/ca" --wait 20) || die "partition appearing during the wait not found"
wait
t1=$(date +%s)
[ "$got" = "$RH" ] || die "wrong root hash after the wait: $got"
[ $((t1 - t0)) -lt 10 ] || die "took $((t1 - t0)) s although the partition appeared after 1 s"
sfdisk -q --part-label "$D" "$ROOTB" abide-root-a
t0=$(date +%s)
expect_fail '^abide-init: slot a: partitions: 2 partitions with PARTLABEL abide-root-a' \
        verify a --disk "$D" --keys "$T/ca" --wait 10
[ $(($(date +%s) - t0)) -lt 5 ] || die "an ambiguous label waited instead of failing at once"
sfdisk -q --part-label "$D" "$ROOTB" abide-root-b

note "a loop device: the partitions are found as their device nodes"
LOOP=$(losetup --show -f -P -r "$D")
cleanup_hooks+=("losetup -d $LOOP")
base=${LOOP#/dev/}
# No udev here: ask the kernel for the partitions, then make missing nodes.
[ -e "/sys/block/$base/${base}p8" ] || partx -a "$LOOP" 2>/dev/null || partx -u "$LOOP"
for i in 1 2 3 4 5 6 7 8; do
        [ -e "/sys/block/$base/${base}p$i/dev" ] || die "kernel shows no partition $i of $LOOP"
        if [ ! -b "${LOOP}p$i" ]; then
                mm=$(cat "/sys/block/$base/${base}p$i/dev")
                mknod "${LOOP}p$i" b "${mm%:*}" "${mm#*:}"
                cleanup_hooks+=("rm -f ${LOOP}p$i")
        fi
done
out=$(verify a --disk "$LOOP" --keys "$T/ca" --wait 5) || die "loop device: $out"
[ "$(printf '%s\n' "$out" | tail -n 1)" = "$RH" ] || die "loop device: wrong root hash: $out"
printf '%s\n' "$out" | grepq "root ${LOOP}p2, verity ${LOOP}p3, signature ${LOOP}p4, data ${LOOP}p8" ||
        die "loop device: partitions not reported as their nodes: $out"
for h in "${cleanup_hooks[@]}"; do eval "$h"; done
cleanup_hooks=()

note "the floor step on a tree: the EFI variable, the state file, their maximum"
FH=$ABIDE_TEST_HELPERS/helper-init-floor
R=$T/fsroot E=$T/fefivars
mkdir -p "$R/usr/lib/abide" "$R/var/lib/abide" "$E"
FVAR=$E/$FLOOR_VAR
printf '{"format":1,"name":"abide-demo","version":"1.0.0","compatible":"x","security_version":2,"build_id":"t"}\n' \
        >"$R/usr/lib/abide/image.json"
state_floor() { printf '{"format":1,"security_floor":{"security_version":%s,"version":"%s","time":1}}\n' "$1" "$2" \
        >"$R/var/lib/abide/state.json"; }
# Factory: no copy, floor 0.
[ "$("$FH" "$R" "$E")" = "sv=2 floor=0 source=none efi=0 state=0" ] || die "no floor: $("$FH" "$R" "$E" 2>&1)"
set_floor 2
[ "$("$FH" "$R" "$E")" = "sv=2 floor=2 source=efi efi=1 state=0" ] || die "EFI floor at the image: $("$FH" "$R" "$E" 2>&1)"
set_floor 3
expect_fail "^abide-init: image 1.0.0 has security version 2, below this device's floor 3 \(kept in the EFI variable AbideSecurityFloor\)$" \
        "$FH" "$R" "$E"
# The state file edited down changes nothing; the EFI variable deleted leaves the state's copy.
state_floor 1 1.0.0
expect_fail "below this device's floor 3 \(kept in the EFI variable" "$FH" "$R" "$E"
rm "$FVAR"
state_floor 4 4.0
expect_fail "^abide-init: image 1.0.0 has security version 2, below this device's floor 4 \(raised when 4.0 was blessed\)$" \
        "$FH" "$R" "$E"
# A corrupt EFI variable or state file counts as absent, not as a floor of 0 for both.
printf '\007\000\000\000\005' >"$FVAR"
expect_fail "below this device's floor 4" "$FH" "$R" "$E"
set_floor 5
echo '{"format":1,"security_floor":' >"$R/var/lib/abide/state.json"
expect_fail "below this device's floor 5 \(kept in the EFI variable" "$FH" "$R" "$E"
state_floor 2 1.0.0
set_floor 2
[ "$("$FH" "$R" "$E")" = "sv=2 floor=2 source=state efi=1 state=1" ] || die "equal copies: $("$FH" "$R" "$E" 2>&1)"
# No EFI variables at all (booted without UEFI): the state file alone.
[ "$("$FH" "$R" "$T/no-efivars")" = "sv=2 floor=2 source=state efi=0 state=1" ] || die "no efivarfs: $("$FH" "$R" "$T/no-efivars" 2>&1)"
# An image without image.json boots only without a floor.
rm "$R/usr/lib/abide/image.json"
expect_fail "^abide-init: image \(no image.json\) has no known security version, and this device's floor is 2" "$FH" "$R" "$E"
rm -f "$FVAR" "$R/var/lib/abide/state.json"
[ "$("$FH" "$R" "$E")" = "sv=unknown floor=0 source=none efi=0 state=0" ] || die "no image.json, no floor: $("$FH" "$R" "$E" 2>&1)"

note "QEMU: the demo disk boots through abide-init to /sbin/init"
KERNEL=$(ls /boot/vmlinuz-* | sort -V | tail -n 1)
mcopy -i "$D@@1M" ::/abide/a/initrd "$T/initrd"
# boot NAME APPEND UNTIL_REGEX SECONDS [LINGER]: QEMU on a copy of the disk until the regex shows up
# on the console (then it is stopped, LINGER seconds later) or QEMU exits (a reboot, -no-reboot) or
# the time runs out; $T/NAME.log.
QPID= QRC= QSECS=
boot() {
        local name=$1 append=$2 until=$3 secs=$4 linger=${5:-0} img=$T/$1.img
        [ -f "$img" ] || cp --reflink=auto "$D" "$img"
        : >"$T/$name.log"
        # One vCPU: abide-init needs no second one, and on a loaded host TCG once starved the idle
        # second vCPU's timer until the guest hung in RCU stalls before /init ran (CI, 2026-12-05).
        timeout "$secs" qemu-system-x86_64 -accel tcg -machine q35 -m 1024 -smp 1 -nographic -nodefaults \
                -monitor none -serial "file:$T/$name.log" -no-reboot \
                -drive "file=$img,format=raw,if=virtio,cache=unsafe" -device i6300esb -action watchdog=reset \
                -kernel "$KERNEL" -initrd "$T/initrd" -append "console=ttyS0 panic=5 $append" &
        QPID=$!
        cleanup_hooks+=("stop_child $QPID")
        local t0=$SECONDS
        while kill -0 "$QPID" 2>/dev/null; do
                if console_text "$T/$name.log" | grepq -aE -- "$until"; then
                        sleep "$linger"
                        stop_child "$QPID"
                        break
                fi
                sleep 0.5
        done
        QRC=0
        wait "$QPID" 2>/dev/null || QRC=$?
        QSECS=$((SECONDS - t0))
        echo "   $name: $QSECS s, qemu exit $QRC"
        console_text "$T/$name.log" >"$T/$name.txt"
}
# $T/NAME.txt: the console as the QEMU harness reads it (untangle_console), without the serial
# line's CRs.
console_text() { untangle_console <"$1" | tr -d '\r'; }
log_has() { grep -aEq -- "$2" "$T/$1.txt" || die "$1: console lacks /$2/ (log: $T/$1.log)"; }
log_lacks() { ! grep -aEq -- "$2" "$T/$1.txt" || die "$1: console shows /$2/ (log: $T/$1.log)"; }

# put_floor IMG N: the anti-rollback floor N in the state file on IMG's abide-data (raised by a bless of 9.9).
# Without OVMF there are no EFI variables: the state file's copy is the one abide-init reads.
put_floor() {
        local img=$1 s n
        read -r s n < <(part abide-data "$img")
        dd if="$img" of="$T/floor-data.ext4" bs=1M iflag=skip_bytes,count_bytes skip="$s" count="$n" status=none
        printf '{"format":1,"security_floor":{"security_version":%s,"version":"9.9","time":1}}\n' "$2" >"$T/floor-state.json"
        printf 'mkdir /var\nmkdir /var/lib\nmkdir /var/lib/abide\nrm /var/lib/abide/state.json\nwrite %s /var/lib/abide/state.json\n' \
                "$T/floor-state.json" >"$T/floor.cmds"
        debugfs -w -f "$T/floor.cmds" "$T/floor-data.ext4" >/dev/null 2>&1
        debugfs -R "cat /var/lib/abide/state.json" "$T/floor-data.ext4" 2>/dev/null | grepq "\"security_version\":$2" ||
                die "put_floor: state file not written on abide-data"
        dd if="$T/floor-data.ext4" of="$img" bs=1M oflag=seek_bytes seek="$s" conv=notrunc,fsync status=none
}

# Lingers past ext4's 5 s journal commit, so what the boot wrote on abide-data is on the disk.
# The floor equals the image's security version (2): it boots.
cp --reflink=auto "$D" "$T/good.img"
put_floor "$T/good.img" 2
boot good "abide.slot=a abide.watchdog=90" '^rcS: .*"name":"abide-demo"' 240 8
log_has good '^abide-init: slot a, watchdog 90 s, disk wait 30 s'
log_has good '^abide-init: modules: [0-9]+ loaded'
log_has good '^abide-init: watchdog: /dev/watchdog0? armed, 90 s'
log_has good "^abide-init: slot a: root /dev/vda[0-9]+, verity /dev/vda[0-9]+, signature /dev/vda[0-9]+, data /dev/vda[0-9]+"
log_has good "^abide-init: slot a: root hash ${RH:0:12}\.\.\. signed by .*CN=abide demo signing key"
log_has good '^abide-init: slot a: dm-verity active on /dev/(mapper/abide-root|dm-0)'
log_has good '^abide-init: root \(erofs\) read-only on /sysroot'
log_has good '^abide-init: slot a: security version 2, floor 2 \(state\)$'
log_has good '^abide-init: switch_root after [0-9]+\.[0-9]{2} s since kernel start$'
log_has good '^abide-init: switching to /sbin/init'
log_has good '^rcS: .*"name":"abide-demo"'
log_lacks good 'Kernel panic|timed out'
# overlayfs made its work/work directory on abide-data: /etc was overlaid from there.
read -r s n < <(part abide-data)
dd if="$D" of="$T/data0.ext4" bs=1M iflag=skip_bytes,count_bytes skip="$s" count="$n" status=none
debugfs -R "stat /etc-overlay/work" "$T/data0.ext4" 2>/dev/null | grepq "Type: directory" || die "factory abide-data lacks etc-overlay/work"
! debugfs -R "stat /etc-overlay/work/work" "$T/data0.ext4" 2>/dev/null | grepq "Type: directory" ||
        die "factory abide-data already has etc-overlay/work/work"
read -r s n < <(part abide-data "$T/good.img")
dd if="$T/good.img" of="$T/data.ext4" bs=1M iflag=skip_bytes,count_bytes skip="$s" count="$n" status=none
# QEMU was stopped with abide-data mounted: replay its journal first.
e2fsck -fy "$T/data.ext4" >/dev/null 2>&1 || [ $? -le 1 ] || die "abide-data of the booted disk is damaged"
debugfs -R "stat /etc-overlay/work/work" "$T/data.ext4" 2>/dev/null | grepq "Type: directory" ||
        die "abide-data has no etc-overlay/work/work: the /etc overlay was not mounted from it"

note "QEMU: a floor above the image's security version: one line, then a reboot"
# As if a validly signed older image had been written into the slot by someone with the disk.
cp --reflink=auto "$D" "$T/floor.img"
put_floor "$T/floor.img" 3
boot floor "abide.slot=a" '^rcS: ' 240
log_has floor '^abide-init: slot a: dm-verity active'
log_has floor "^abide-init: slot a: image [^ ]+ has security version 2, below this device's floor 3 \(raised when 9.9 was blessed\)$"
log_has floor 'reboot: Restarting system'
log_lacks floor 'switching to|^rcS'

note "QEMU: an empty slot, no abide.slot=, a corrupt root block: one line, then a reboot"
boot emptyslot "abide.slot=b abide.wait=5" '^rcS: ' 240
log_has emptyslot '^abide-init: slot b: verity signature: empty$'
log_has emptyslot 'reboot: Restarting system'
log_lacks emptyslot 'switching to|dm-verity active|^rcS'

boot noslot "abide.wait=5" '^rcS: ' 240
log_has noslot '^abide-init: command line: no abide.slot= on the kernel command line$'
log_has noslot 'reboot: Restarting system'
log_lacks noslot 'abide-init: modules|^rcS'

# One byte of the erofs superblock's block, which mount reads first: the signature is
# fine, so activation succeeds, and the first read of the block restarts the machine.
cp --reflink=auto "$D" "$T/corrupt.img"
read -r s n < <(part abide-root-a "$T/corrupt.img")
flip_byte "$T/corrupt.img" $((s + 1100))
boot corrupt "abide.slot=a" '^rcS: ' 240
log_has corrupt '^abide-init: slot a: dm-verity active'
log_has corrupt 'device-mapper: verity: .*data block .* is corrupted'
log_has corrupt 'reboot: Restarting system'
log_lacks corrupt 'switching to|^rcS'
note "QEMU: the watchdog stays armed across switch_root: a boot that hangs in /sbin/init is reset"
"$B" build "$ABIDE_SRCDIR/recipes/demo.conf" --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" \
        --ca "$T/keys/ca.pem" --init "$INIT" \
        --set "Agent.Source=$BD/images/demo/agent-root" \
        --set "Content.Binary=$BD/bootctl/abidectl:/usr/sbin/abidectl" \
        --set Content.Layer=tree:../images/demo/content/hang -o "$T/hang-out" >/dev/null
"$B" disk "$T"/hang-out/*.abide --cert "$T/keys/ca.pem" -o "$T/hang.img" >/dev/null
# The agent never says ready, rcS waits forever, nothing pings: i6300esb resets the
# machine, which ends QEMU under -no-reboot (no kernel reboot, no timeout).
boot hang "abide.slot=a abide.watchdog=15" 'no such line' 100
[ "$QRC" -eq 0 ] || die "hang: qemu did not end by itself (exit $QRC): no watchdog reset (log: $T/hang.log)"
[ "$QSECS" -ge 15 ] || die "hang: qemu ended after $QSECS s, before the 15 s watchdog timeout"
log_has hang '^abide-init: watchdog: /dev/watchdog0? armed, 15 s'
log_has hang '^abide-init: switching to /sbin/init'
log_has hang 'abide: starting agent sentinel'
log_lacks hang 'reboot: Restarting system|Kernel panic|^rcS: .*abide-boot-check'
echo "OK"
