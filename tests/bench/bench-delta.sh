#!/bin/bash
# Benchmark: delta installs (issue 11) on three real release pairs built by
# abide-build, against casync on the same root images in the same run.
#   (a) the demo image (recipes/demo.conf), one agent content file changed;
#   (b) an image of Debian packages (deb: layers, > 300 MiB), one package
#       upgraded to the other version Debian offers this machine;
#   (c) the new image of (b) with the kernel package changed to the other
#       linux-image Debian offers ([Boot] Kernel=image:, so the kernel and
#       initrd payloads change with the root's /boot and /lib/modules).
# For each pair: the bundle size; the 4 KiB blocks of the new root image whose
# content occurs nowhere in the old one (tests/bench/delta-blocks.py, computed
# here, not by abide) and root.verity's size; `abidectl install --dry-run URL`
# and `abidectl install URL` from nginx on a loop-device "device" whose running
# slot holds the old release (bytes fetched as abidectl reports them, checked
# against nginx's access log, and the time); casync make / extract --seed of
# the same root images through the same nginx (bytes from the access log,
# time); and the ratios. Not a test; prints figures. Runs as root (loop
# devices, nginx) and needs the Debian archive (apt-get download) for (b), (c).
#
#   tests/bench/bench-delta.sh [BUILDDIR]
#   ABIDE_BENCH_COMPRESSION=lz4hc tests/bench/bench-delta.sh [BUILDDIR]   # compressed erofs roots
#
# The .deb files are kept in BUILDDIR/bench-delta-debs between runs.
. "$(dirname "$0")/bench-lib.sh"
. "$top/tests/integration/nginx-lib.sh"
need curl casync apt-get apt-cache dpkg-deb
[ -x /usr/lib/casync/protocols/casync-http ] || die "casync's http helper /usr/lib/casync/protocols/casync-http is missing"
blocks=$top/tests/bench/delta-blocks.py
export SOURCE_DATE_EPOCH=1721362140
debs=$builddir/bench-delta-debs
mkdir -p "$debs"

"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
K=(--key "$T/keys/signing.key" --cert "$T/keys/signing.crt" --ca "$T/keys/ca.pem" --init "$INIT")
# [Image] Compression= of every image of the run (docs/recipe.md); default: the recipes' (none).
[ -z "${ABIDE_BENCH_COMPRESSION:-}" ] || K+=(--set "Image.Compression=$ABIDE_BENCH_COMPRESSION")
echo "bench: root images with Compression=${ABIDE_BENCH_COMPRESSION:-none}"

# --- the release pairs ------------------------------------------------------

# (a) the demo image, as tests/qemu/scenarios.py builds it; the new release lays
# a content.def with one more rule (and its body-sha256) over the good one.
build_demo() {  # build_demo OUT VERSION [LAYER]
        local out=$1 version=$2; shift 2
        "$ABIDE_BUILD" build "$ABIDE_SRCDIR/recipes/demo.conf" "${K[@]}" \
                --set "Agent.Source=$builddir/images/demo/agent-root" \
                --set "Content.Binary=$builddir/bootctl/abidectl:/usr/sbin/abidectl" \
                --set "Image.Version=$version" "$@" -o "$out" | tail -n 1
}
[ -d "$builddir/images/demo/agent-root" ] || die "no $builddir/images/demo/agent-root (build abide first)"
mkdir -p "$T/content-new/etc/sentinel"
python3 - "$ABIDE_SRCDIR/images/demo/content/good/etc/sentinel/content.def" \
        "$T/content-new/etc/sentinel/content.def" <<'PY'
import hashlib, re, sys
head, body = open(sys.argv[1], "rb").read().split(b"---\n", 1)
body += b"rule bench-delta exec:/var/tmp/*/bench\n"
head = re.sub(rb"version: [^\n]*", b"version: 2024.07.20-0000", head)
head = re.sub(rb"body-sha256: [0-9a-f]*", b"body-sha256: " + hashlib.sha256(body).hexdigest().encode(), head)
open(sys.argv[2], "wb").write(head + b"---\n" + body)
PY

# (b), (c): packages from the Debian archive, versions discovered here (never named).
# versions PKG: the versions apt offers for PKG, newest first.
versions() { apt-cache madison "$1" | awk -F'|' '{gsub(/ /, "", $2); print $2}' | sort -u -V -r; }
# fetch PKG VERSION: the .deb's path in $debs (downloaded once).
fetch() {
        # apt-get download names it PKG_VERSION_ARCH.deb, an epoch's ':' as %3a.
        local f=("$debs/$1_${2//:/%3a}_"*.deb)
        if [ ! -e "${f[0]}" ]; then
                (cd "$debs" && apt-get download -q "$1=$2" >/dev/null 2>"$T/apt.err") ||
                        die "apt-get download $1=$2: $(tail -n 1 "$T/apt.err")"
                f=("$debs/$1_${2//:/%3a}_"*.deb)
                [ -e "${f[0]}" ] || die "apt-get download $1=$2 left no $debs/$1_${2//:/%3a}_*.deb"
        fi
        echo "${f[0]}"
}
# A small Debian userland around the kernel; the kernel package's modules make
# most of the size. Python and Perl come in as the dependencies of their
# unversioned packages (two levels down), so no version is named here.
base_pkgs=(libc6 libgcc-s1 libstdc++6 zlib1g libzstd1 liblzma5 libbz2-1.0 libcrypt1 libacl1 libattr1 libselinux1
        coreutils bash dash busybox-static ca-certificates systemd libsystemd-shared libsystemd0 kmod util-linux
        libssl3)
deps() { apt-cache depends "$@" | sed -n 's/^ *\(Pre\)\{0,1\}Depends: \([a-z0-9][a-z0-9.+-]*\)$/\2/p' | sort -u; }
mapfile -t lang < <(deps perl python3-minimal libpython3-stdlib)
mapfile -t -O ${#base_pkgs[@]} base_pkgs < <(printf '%s\n' "${lang[@]}"; deps "${lang[@]}")
mapfile -t base_pkgs < <(printf '%s\n' "${base_pkgs[@]}" | sort -u)
# The upgraded package of (b): the first of these with two versions on offer.
upgrade_pkg=
for p in libssl3 openssl libc6 systemd; do
        [ "$(versions "$p" | wc -l)" -ge 2 ] && { upgrade_pkg=$p; break; }
done
[ -n "$upgrade_pkg" ] || die "apt offers no second version of libssl3, openssl, libc6 or systemd: no upgrade for pair (b) (apt-get update?)"
mapfile -t upv < <(versions "$upgrade_pkg" | head -n 2)
# The kernels of (c): the packages linux-image-amd64's two newest versions depend on.
mapfile -t kmeta < <(versions linux-image-amd64 | head -n 2)
kpkg=()
for v in "${kmeta[@]}"; do
        kpkg+=("$(apt-cache depends "linux-image-amd64=$v" | sed -n 's/^ *Depends: \(linux-image-[^ ]*\)$/\1/p' | head -n 1)")
done
[ ${#kpkg[@]} -eq 2 ] && [ -n "${kpkg[0]}" ] && [ -n "${kpkg[1]}" ] && [ "${kpkg[0]}" != "${kpkg[1]}" ] ||
        die "apt offers fewer than two linux-image-*-amd64 packages (linux-image-amd64: ${kmeta[*]:-none}): nothing to change the kernel with for pair (c)"
echo "bench: downloading .deb files into $debs (upgrade: $upgrade_pkg ${upv[1]} -> ${upv[0]}; kernels: ${kpkg[1]} -> ${kpkg[0]})"
layers_common=()
for p in "${base_pkgs[@]}"; do
        [ "$p" = "$upgrade_pkg" ] && continue
        layers_common+=(--set "Content.Layer=deb:$(fetch "$p" "$(versions "$p" | head -n 1)")")
done
up_old=$(fetch "$upgrade_pkg" "${upv[1]}") up_new=$(fetch "$upgrade_pkg" "${upv[0]}")
k_old=$(fetch "${kpkg[1]}" "$(versions "${kpkg[1]}" | head -n 1)")
k_new=$(fetch "${kpkg[0]}" "$(versions "${kpkg[0]}" | head -n 1)")
# Kernel=image: the kernel payload and the initramfs modules come from the packaged kernel, so
# in (c) the kernel, initrd and root all change, as in a real kernel update.
printf '[Image]\nName=abide-bench-deb\nVersion=1\nCompatible=abide-bench-x86_64\nFilesystem=erofs\n[Boot]\nKernel=image:/boot/vmlinuz-*\nCmdline=console=ttyS0\nTries=3\n' \
        >"$T/deb.conf"
build_deb() {  # build_deb OUT VERSION KERNEL_DEB UPGRADE_DEB
        "$ABIDE_BUILD" build "$T/deb.conf" "${K[@]}" --set "Image.Version=$2" "${layers_common[@]}" \
                --set "Content.Layer=deb:$4" --set "Content.Layer=deb:$3" -o "$1" | tail -n 1
}

echo "bench: building the bundles"
A_OLD=$(build_demo "$T/a1" 1.0.0)
A_NEW=$(build_demo "$T/a2" 1.0.1 --set "Content.Layer=tree:$T/content-new")
B_OLD=$(build_deb "$T/b1" 1.0.0 "$k_old" "$up_old")
B_NEW=$(build_deb "$T/b2" 1.0.1 "$k_old" "$up_new")
C_NEW=$(build_deb "$T/c2" 1.0.2 "$k_new" "$up_new")

# --- the device and the server -----------------------------------------------

for b in "$A_OLD" "$A_NEW" "$B_OLD" "$B_NEW" "$C_NEW"; do
        d=$T/x/$(basename "$b" .abide)
        mkdir -p "$d" && tar -C "$d" -xf "$b"
done
root_of() { echo "$T/x/$(basename "$1" .abide)/root.img"; }
max_root=0
for f in "$T"/x/*/root.img; do
        s=$(( $(stat -c %s "$f") / 1048576 + 8 ))
        [ $s -le $max_root ] || max_root=$s
done
make_disk "$max_root" $(( max_root / 64 + 4 ))
make_config
make_ca ca
make_cert ca server IP:127.0.0.1 serverAuth
mkdir -p "$WWW"
nginx_start
ACCESS=$NGX/access.log
# served PATH_PREFIX: "BYTES REQUESTS" of the access log's requests under PATH_PREFIX.
served() {
        python3 - "$ACCESS" "$1" <<'PY'
import re, sys
n = b = 0
for line in open(sys.argv[1]):
    m = re.search(r'"[A-Z]+ (\S+) [^"]*" \d+ (\d+)', line)
    if m and m.group(1).startswith(sys.argv[2]):
        n += 1
        b += int(m.group(2))
print(b, n)
PY
}
now() { date +%s.%N; }

# device_runs OLD: slot a holds OLD and is booted, slot b is zeroed (root, verity and signature: a
# stale tree over a zeroed root would promise blocks in place that are not there), no state.
device_runs() {
        local m=$T/x/$(basename "$1" .abide)/manifest.json p
        fill_slot_a "$1"
        for p in "$ROOT_B" "$VERITY_B" "$SIG_B"; do
                dd if=/dev/zero of="$p" bs=4M conv=fsync status=none 2>/dev/null || true
        done
        rm -f "$ENTRIES"/abide-b*.conf
        rm -rf "$T/var" && mkdir -p "$T/var"
        python3 - "$m" >"$T/image.json" <<'PY'
import json, sys
m = json.load(open(sys.argv[1]))
print(json.dumps({"format": 1, "name": m["name"], "version": m["version"], "compatible": m["compatible"],
                  "security_version": m.get("security_version", 0), "build_id": "bench"}, indent=2))
PY
}

failed=0
pair() {  # pair LABEL OLD NEW
        local label=$1 old=$2 new=$3
        local old_root new_root verity nb changed total cbytes
        old_root=$(root_of "$old") new_root=$(root_of "$new")
        verity=$(stat -c %s "$T/x/$(basename "$new" .abide)/root.verity")
        nb=$(stat -c %s "$new")
        read -r changed total cbytes < <(python3 "$blocks" "$old_root" "$new_root")
        # The hash tree's blocks too: those over unchanged data at unchanged offsets are in the old tree.
        local vchanged vtotal vbytes
        read -r vchanged vtotal vbytes < <(python3 "$blocks" "$T/x/$(basename "$old" .abide)/root.verity" \
                "$T/x/$(basename "$new" .abide)/root.verity")
        echo
        echo "== pair ($label): $(basename "$old") -> $(basename "$new")"
        printf '   bundle %d bytes (%.1f MiB); new root image %d blocks of 4 KiB (%.1f MiB)\n' "$nb" \
                "$(echo "$nb / 1048576" | bc -l)" "$total" "$(echo "$total * 4096 / 1048576" | bc -l)"
        printf '   changed: %d blocks = %d bytes (%.2f %% of the root) absent from the old root; root.verity %d bytes\n' \
                "$changed" "$cbytes" "$(echo "100 * $changed / $total" | bc -l)" "$verity"
        printf '   root.verity: %d of its %d blocks (%d bytes) absent from the old root.verity\n' "$vchanged" "$vtotal" "$vbytes"
        # Kernel and initrd: copied from the ESP when unchanged, else fetched whole (by casync too, in the ratios).
        local f xo=$T/x/$(basename "$old" .abide) xn=$T/x/$(basename "$new" .abide) boot=0
        for f in vmlinuz initrd; do
                [ -e "$xn/$f" ] || continue
                if cmp -s "$xo/$f" "$xn/$f"; then
                        printf '   %s: %d bytes, as in the old bundle\n' "$f" "$(stat -c %s "$xn/$f")"
                else
                        printf '   %s: %d bytes, changed\n' "$f" "$(stat -c %s "$xn/$f")"
                        boot=$((boot + $(stat -c %s "$xn/$f")))
                fi
        done

        # casync: chunk store and index of the new root served by the same nginx, the old root as seed.
        rm -rf "$WWW/store" "$WWW/new.caibx" "$T/casync-out.img"
        casync make --store="$WWW/store" "$WWW/new.caibx" "$new_root" >/dev/null
        : >"$ACCESS"
        local t0 t1 cz cn ci ct
        t0=$(now)
        casync extract --seed="$old_root" --store="http://127.0.0.1:$HTTP_PORT/store" \
                "http://127.0.0.1:$HTTP_PORT/new.caibx" "$T/casync-out.img" >/dev/null 2>"$T/casync.err" ||
                die "casync extract: $(tail -n 3 "$T/casync.err")"
        t1=$(now)
        cmp -s "$T/casync-out.img" "$new_root" || die "casync extract did not reproduce the new root image"
        read -r cz cn < <(served /store/)
        read -r ci _ < <(served /new.caibx)
        ct=$(echo "$t1 - $t0" | bc -l)
        printf '   casync: %d bytes (index %d + chunks %d in %d requests) in %.2f s\n' $((cz + ci)) "$ci" "$cz" "$cn" "$ct"

        # abide: the device runs OLD from slot a; the new bundle goes into slot b.
        rm -f "$WWW/new.abide"
        ln "$new" "$WWW/new.abide" 2>/dev/null || cp "$new" "$WWW/new.abide"
        local url=http://127.0.0.1:$HTTP_PORT/new.abide out rc line fetched reqs at sb sn
        device_runs "$old"
        rc=0; out=$("$ABIDECTL" install --dry-run "$url" 2>&1) || rc=$?
        line=$(printf '%s\n' "$out" | grep -m 1 '^Would fetch [0-9]* bytes in [0-9]* requests' || true)
        local would=
        if [ $rc -ne 0 ] || [ -z "$line" ]; then
                echo "   abide --dry-run: FAILED (exit $rc): $(printf '%s\n' "$out" | tail -n 1)"
                failed=1
        else
                echo "   abide --dry-run: $line"
                would=$(echo "$line" | awk '{print $3}')
        fi
        : >"$ACCESS"
        t0=$(now)
        rc=0; out=$("$ABIDECTL" install "$url" 2>&1) || rc=$?
        t1=$(now)
        at=$(echo "$t1 - $t0" | bc -l)
        read -r sb sn < <(served /new.abide)
        line=$(printf '%s\n' "$out" | grep -m 1 '^Fetched [0-9]* bytes in [0-9]* requests' || true)
        if [ $rc -ne 0 ] || [ -z "$line" ]; then
                echo "   abide install: FAILED (exit $rc): $(printf '%s\n' "$out" | tail -n 1)"
                failed=1

                return 0
        fi
        fetched=$(echo "$line" | awk '{print $2}') reqs=$(echo "$line" | awk '{print $5}')
        printf '   abide install: %s  [%.2f s; nginx sent %d bytes in %d requests]\n' "$line" "$at" "$sb" "$sn"
        [ -z "$would" ] || [ "$would" = "$fetched" ] ||
                echo "   NOTE: the install fetched $((fetched - would)) bytes more than --dry-run said it would"
        cmp -s -n "$(stat -c %s "$new_root")" "$ROOT_B" "$new_root" || die "slot b does not hold the new root image after the install"
        python3 - "$label" "$fetched" "$cbytes" "$verity" "$cz" "$ci" "$nb" "$boot" "$at" "$ct" <<'PY'
import sys
label = sys.argv[1]
f, c, v, cz, ci, nb, boot = map(int, sys.argv[2:9])
at, ct = map(float, sys.argv[9:11])
kb = " + changed kernel/initrd" if boot else ""
print(f"   abide / changed blocks: {f / max(c, 1):.3f}; abide / (1.02 x changed + root.verity{kb}): "
      f"{f / (1.02 * c + v + boot):.3f} (target <= 1)")
print(f"   abide / (casync{kb}) bytes: {f / (cz + ci + boot):.3f} (target < 1); time abide / casync: {at / ct:.2f}")
print(f"   abide / bundle: {100 * f / nb:.2f} %" + (" (target <= 2 %)" if label == "a" else ""))
PY
}

echo
pair a "$A_OLD" "$A_NEW"
pair b "$B_OLD" "$B_NEW"
pair c "$B_NEW" "$C_NEW"
echo
echo "load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs"
[ $failed -eq 0 ] || die "abidectl did not complete every delta install (see above)"
