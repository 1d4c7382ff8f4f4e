# Sourced by the install tests and benchmark after lib.sh and bootctl-lib.sh:
# a GPT disk image on a loop device with the DESIGN.md partition labels, a
# directory as ESP, an efivarfs-format directory with the loader's
# variables, slot a filled from a bundle and "booted", slot b empty.
need sfdisk losetup partx veritysetup python3 sha256sum iconv

W=$(dirname "$ABIDECTL")/..
INIT=${ABIDE_INIT:-$W/bootctl/init/abide-init}
[ -x "$INIT" ] || die "abide-init not built: $INIT"

# Fake kernels are named after the installed one, whose modules the initramfs takes.
KVER=$(host_kernel_version)

LOOP=
made_nodes=()
detach_loop() {
        for n in "${made_nodes[@]}"; do rm -f "$n"; done
        [ -z "$LOOP" ] || losetup -d "$LOOP"
}
cleanup_hooks+=(detach_loop)

# make_disk ROOT_MIB VERITY_MIB: disk.img, attached, partition nodes present.
# The signature partitions are 2049 sectors: an end that is not 4 KiB aligned.
make_disk() {
        local root=$1 verity=$2
        truncate -s $((16 + 2 * (root + verity + 1) + 8))M "$T/disk.img"
        sfdisk -q "$T/disk.img" <<SF
label: gpt
size=4M, type=c12a7328-f81f-11d2-ba4b-00a0c93ec93b, name=esp
size=${root}M, type=4f68bce3-e8cd-4db1-96e7-fbcaf984b709, name=abide-root-a
size=${verity}M, type=2c7357ed-ebd2-46d9-aec1-23d437ec2bf5, name=abide-verity-a
size=2049, type=41092b05-9fc8-4523-994f-2def0408b176, name=abide-verity-sig-a
size=${root}M, type=4f68bce3-e8cd-4db1-96e7-fbcaf984b709, name=abide-root-b
size=${verity}M, type=2c7357ed-ebd2-46d9-aec1-23d437ec2bf5, name=abide-verity-b
size=2049, type=41092b05-9fc8-4523-994f-2def0408b176, name=abide-verity-sig-b
size=4M, type=4d21b016-b534-45c2-a9fb-5c16e091fd2d, name=abide-data
SF
        LOOP=$(losetup -P --show -f "$T/disk.img")
        local base=${LOOP#/dev/} i
        # No udev here: ask the kernel for the partitions, then make missing nodes.
        [ -e "/sys/block/$base/${base}p8" ] || partx -a "$LOOP" 2>/dev/null || partx -u "$LOOP"
        for i in 1 2 3 4 5 6 7 8; do
                [ -e "/sys/block/$base/${base}p$i/dev" ] || die "kernel shows no partition $i of $LOOP"
                if [ ! -b "${LOOP}p$i" ]; then
                        local mm; mm=$(cat "/sys/block/$base/${base}p$i/dev")
                        mknod "${LOOP}p$i" b "${mm%:*}" "${mm#*:}"
                        made_nodes+=("${LOOP}p$i")
                fi
        done
        ROOT_A=${LOOP}p2 VERITY_A=${LOOP}p3 SIG_A=${LOOP}p4
        ROOT_B=${LOOP}p5 VERITY_B=${LOOP}p6 SIG_B=${LOOP}p7
}

# make_config: abide.conf, keys, efivars (booted a), running image.json.
make_config() {
        mkdir -p "$ENTRIES" "$T/efivars" "$T/var" "$T/keys-dev"
        cp "$T/keys/ca.pem" "$T/keys-dev/ca.pem"
        cat >"$T/abide.conf" <<CONF
[Paths]
ESP=$T/esp
EfiVars=$T/efivars
State=$T/var/state.json
Keys=$T/keys-dev
Disk=$LOOP
Cmdline=$T/cmdline
ImageInfo=$T/image.json
[Boot]
Tries=5
[Update]
MachineIdFile=$T/machine-id
[Report]
Spool=$T/var/reports
CONF
        # The verbs spool reports (docs/report.md): here, never in the host's /var/lib/abide.
        echo 0123456789abcdef0123456789abcdef >"$T/machine-id"
        echo "console=ttyS0" >"$T/cmdline"
        export ABIDE_CONF=$T/abide.conf EFIVARFS_PATH=$T/efivars/
}

# build_bundle OUTDIR [--set ...]: the example recipe with a kernel and $T/payload in it.
build_bundle() {
        local out=$1; shift
        "$ABIDE_BUILD" build --key "${KEY:-$T/keys/signing.key}" --cert "${CERT:-$T/keys/signing.crt}" -o "$out" \
                --ca "$T/keys/ca.pem" --init "$INIT" \
                --set "Boot.Kernel=$T/kernel/vmlinuz-$KVER" --set "Boot.Cmdline=console=ttyS0 quiet" \
                --set "Content.Layer=tree:$T/payload" "$@" "$ABIDE_SRCDIR/recipes/example.conf" >/dev/null
        ls "$out"/*.abide
}

# fill_slot_a BUNDLE: what the factory does: payloads dd'ed, kernel files, a good entry.
fill_slot_a() {
        local x=$T/x-a
        mkdir -p "$x" "$T/esp/abide/a"
        tar -C "$x" -xf "$1"
        python3 - "$x/manifest.json" >"$T/a-payloads" <<'PY'
import json, sys
for p in json.load(open(sys.argv[1]))["payloads"]:
    print(p["role"], p["name"])
PY
        while read -r role name; do
                case $role in
                root) dd if="$x/$name" of="$ROOT_A" bs=1M conv=fsync status=none ;;
                verity) dd if="$x/$name" of="$VERITY_A" bs=1M conv=fsync status=none ;;
                verity-sig) dd if="$x/$name" of="$SIG_A" bs=1M conv=fsync status=none ;;
                kernel) cp "$x/$name" "$T/esp/abide/a/vmlinuz" ;;
                initrd) cp "$x/$name" "$T/esp/abide/a/initrd" ;;
                esac
        done <"$T/a-payloads"
        printf 'title abide 1.0 (slot a)\nversion 1.0\nsort-key abide\nlinux /abide/a/vmlinuz\ninitrd /abide/a/initrd\noptions console=ttyS0 abide.slot=a\n' \
                >"$ENTRIES/abide-a.conf"
        loader_boot a
}

# The running image: slot a's identity ([Paths] ImageInfo=).
write_image_info() {
        printf '{\n  "format": 1,\n  "name": "abide-example",\n  "version": "%s",\n  "compatible": "abide-example-x86_64",\n  "security_version": %s,\n  "build_id": "test"\n}\n' \
                "$1" "$2" >"$T/image.json"
}

# Fingerprint of everything of slot a: partitions, ESP files, entry, loader variables.
slot_a_print() {
        sha256sum "$ROOT_A" "$VERITY_A" "$SIG_A" "$T/esp/abide/a/vmlinuz" "$T/esp/abide/a/initrd" \
                "$ENTRIES/abide-a.conf" | awk '{print $1}'
        ls "$ENTRIES" | grep '^abide-a' || true
        get_var LoaderEntryDefault
}

# No entry of slot b that the loader could boot (none, or one at +0).
b_not_bootable() {
        local e; e=$(entry_of b)
        [ -z "$e" ] || [[ $e =~ ^abide-b\+0(-[0-9]+)?\.conf$ ]]
}

manifest_field() { tar -xOf "$1" manifest.json | python3 -c "import json,sys; d=json.load(sys.stdin); print(eval('d'+sys.argv[1]))" "$2"; }
