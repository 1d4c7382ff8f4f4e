#!/bin/bash
# Layers into a staging tree: tar (plain, gz, xz, zst), .deb, directory and
# OCI layouts built with the real tools; what must survive (hard links,
# device nodes, xattrs, owners, modes, symlinks, mtimes); malicious archives
# refused with the entry named and nothing written outside the tree;
# Binary= copies a program with its libraries and the loader.
. "$(dirname "$0")/lib.sh"

need tar gzip xz zstd dpkg-deb sha256sum setfattr getfattr mknod chroot python3 ar
H=${ABIDE_TEST_HELPERS:?}/helper-layers
[ -x "$H" ] || die "helper-layers not built"

fresh() { rm -rf "$1"; mkdir -p "$1"; }

# --- a source tree with everything that must survive -----------------------
SRC=$T/src
mkdir -p "$SRC/etc/app" "$SRC/usr/bin" "$SRC/dev" "$SRC/secret"
echo "config" > "$SRC/etc/app/app.conf"
echo "tool" > "$SRC/usr/bin/tool"
ln "$SRC/usr/bin/tool" "$SRC/usr/bin/tool-link"
ln -s tool "$SRC/usr/bin/tool-sym"
ln -s /etc/app/app.conf "$SRC/etc/absolute-sym"
mknod "$SRC/dev/null" c 1 3
mknod "$SRC/dev/loop0" b 7 0
mkfifo "$SRC/dev/fifo"
chown 1234:5678 "$SRC/usr/bin/tool"
chmod 4751 "$SRC/usr/bin/tool"
chown 42:43 "$SRC/secret"
chmod 0710 "$SRC/secret"
setfattr -n user.abide -v hello "$SRC/etc/app/app.conf"
setfattr -n user.dir -v marked "$SRC/secret"
touch -h -d @981173106 "$SRC/etc/app/app.conf" "$SRC/usr/bin/tool-sym"

check_tree() {
        local s=$1 what=$2
        [ "$(cat "$s/etc/app/app.conf")" = config ] || die "$what: app.conf content"
        [ "$(stat -c %i "$s/usr/bin/tool")" = "$(stat -c %i "$s/usr/bin/tool-link")" ] || die "$what: hard link lost (different inodes)"
        [ "$(stat -c %h "$s/usr/bin/tool")" = 2 ] || die "$what: link count of tool is not 2"
        [ "$(stat -c '%u:%g %a' "$s/usr/bin/tool")" = "1234:5678 4751" ] || die "$what: owner/mode of tool: $(stat -c '%u:%g %a' "$s/usr/bin/tool")"
        [ "$(stat -c '%u:%g %a' "$s/secret")" = "42:43 710" ] || die "$what: owner/mode of secret/: $(stat -c '%u:%g %a' "$s/secret")"
        [ "$(readlink "$s/usr/bin/tool-sym")" = tool ] || die "$what: symlink tool-sym"
        [ "$(readlink "$s/etc/absolute-sym")" = /etc/app/app.conf ] || die "$what: absolute symlink"
        [ "$(stat -c '%F %t:%T' "$s/dev/null")" = "character special file 1:3" ] || die "$what: char device: $(stat -c '%F %t:%T' "$s/dev/null")"
        [ "$(stat -c '%F %t:%T' "$s/dev/loop0")" = "block special file 7:0" ] || die "$what: block device"
        [ -p "$s/dev/fifo" ] || die "$what: fifo"
        [ "$(getfattr --only-values -n user.abide "$s/etc/app/app.conf" 2>/dev/null)" = hello ] || die "$what: xattr user.abide lost"
        [ "$(getfattr --only-values -n user.dir "$s/secret" 2>/dev/null)" = marked ] || die "$what: directory xattr lost"
        [ "$(stat -c %Y "$s/etc/app/app.conf")" = 981173106 ] || die "$what: mtime of app.conf"
        [ "$(stat -c %Y "$s/usr/bin/tool-sym")" = 981173106 ] || die "$what: mtime of a symlink"
        echo "   $what: contents, hard link, owners, modes, symlinks, devices, fifo, xattrs, mtimes ok"
}

note "tar layers (.tar, .tar.gz, .tar.xz, .tar.zst)"
tar --xattrs --xattrs-include='user.*' --numeric-owner -C "$SRC" -cf "$T/base.tar" .
gzip -c "$T/base.tar" > "$T/base.tar.gz"
xz -c "$T/base.tar" > "$T/base.tar.xz"
zstd -q -c "$T/base.tar" > "$T/base.tar.zst"
for f in base.tar base.tar.gz base.tar.xz base.tar.zst; do
        fresh "$T/st"
        "$H" "$T/st" "tar:$T/$f"
        check_tree "$T/st" "tar:$f"
done

note "progress hook reports every entry"
fresh "$T/st"
"$H" --list "$T/st" "tar:$T/base.tar.gz" > "$T/progress"
n_tar=$(tar -tf "$T/base.tar.gz" | grep -vxc './')
[ "$(wc -l < "$T/progress")" -eq "$n_tar" ] || die "progress saw $(wc -l < "$T/progress") entries, archive has $n_tar"
grep -q "usr/bin/tool-link" "$T/progress" || die "progress does not name entries"

note "tree layer (directory copied, hard links kept)"
fresh "$T/st"
"$H" "$T/st" "tree:$SRC"
check_tree "$T/st" "tree:"
[ ! -e "$T/st/src" ] || die "tree layer copied the directory itself instead of its contents"
# A socket is no file: left out, as tar leaves it, never an empty executable file.
mkdir -p "$T/socktree/run"
echo kept > "$T/socktree/run/kept"
python3 -c 'import socket, sys; socket.socket(socket.AF_UNIX).bind(sys.argv[1])' "$T/socktree/run/control"
[ -S "$T/socktree/run/control" ] || die "cannot make a socket"
fresh "$T/st"
"$H" "$T/st" "tree:$T/socktree"
[ "$(cat "$T/st/run/kept")" = kept ] || die "tree with a socket: run/kept missing"
[ ! -e "$T/st/run/control" ] && [ ! -L "$T/st/run/control" ] || die "tree layer made a $(stat -c '%F %a' "$T/st/run/control") of a socket"

note "deb layers (dpkg-deb --build, gzip/xz/zstd data.tar)"
PKG=$T/pkg
mkdir -p "$PKG/DEBIAN" "$PKG/usr/bin" "$PKG/etc/app"
printf 'Package: abide-test\nVersion: 1.0\nArchitecture: all\nMaintainer: t <t@example.org>\nDescription: test\n' > "$PKG/DEBIAN/control"
echo "from deb" > "$PKG/usr/bin/debtool"
ln "$PKG/usr/bin/debtool" "$PKG/usr/bin/debtool2"
chown 7:8 "$PKG/usr/bin/debtool"
chmod 0700 "$PKG/usr/bin/debtool"
echo "deb config" > "$PKG/etc/app/app.conf"
for z in gzip xz zstd; do
        dpkg-deb -Z$z --build "$PKG" "$T/test-$z.deb" >/dev/null
        ar t "$T/test-$z.deb" | grepq "^data.tar" || die "dpkg-deb produced no data.tar member"
        fresh "$T/st"
        "$H" "$T/st" "tar:$T/base.tar.gz" "deb:$T/test-$z.deb"
        [ "$(cat "$T/st/usr/bin/debtool")" = "from deb" ] || die "deb ($z): debtool missing"
        [ "$(stat -c '%u:%g %a' "$T/st/usr/bin/debtool")" = "7:8 700" ] || die "deb ($z): owner/mode of debtool"
        [ "$(stat -c %i "$T/st/usr/bin/debtool")" = "$(stat -c %i "$T/st/usr/bin/debtool2")" ] || die "deb ($z): hard link lost"
        [ "$(cat "$T/st/etc/app/app.conf")" = "deb config" ] || die "deb ($z): the later layer did not win"
        [ "$(cat "$T/st/usr/bin/tool")" = tool ] || die "deb ($z): the earlier layer's files are gone"
        [ ! -e "$T/st/DEBIAN" ] && [ ! -e "$T/st/control" ] || die "deb ($z): control files leaked into the tree"
done
echo "   deb: data.tar.{gz,xz,zst} applied over the tar layer"
echo "not a package" > "$T/notdeb"
ar rc "$T/fake.deb" "$T/notdeb" 2>/dev/null
fresh "$T/st"
expect_fail "layer deb:.*fake.deb: not a Debian package \(first member 'notdeb'" "$H" "$T/st" "deb:$T/fake.deb"

note "deb: a package of another architecture is refused (a glob over _amd64 and _arm64 picks arm64)"
case $(uname -m) in x86_64) native=amd64 other=arm64 ;; aarch64) native=arm64 other=amd64 ;; *) die "unknown machine $(uname -m)" ;; esac
for a in $native $other; do
        sed "s/^Architecture: all$/Architecture: $a/" "$PKG/DEBIAN/control" > "$T/control.$a"
        cp -a "$PKG" "$T/pkg-$a"
        cp "$T/control.$a" "$T/pkg-$a/DEBIAN/control"
        mkdir -p "$T/debs"
        dpkg-deb --build "$T/pkg-$a" "$T/debs/abide-test_1.0_$a.deb" >/dev/null
done
fresh "$T/st"
"$H" "$T/st" "deb:$T/debs/abide-test_1.0_$native.deb"
[ "$(cat "$T/st/usr/bin/debtool")" = "from deb" ] || die "deb for $native: debtool missing"
fresh "$T/st"
expect_fail "^helper-layers: layer deb:$T/debs/abide-test_1.0_$other.deb: a package for $other, the image is .* \($native\)$" \
        "$H" "$T/st" "deb:$T/debs/abide-test_1.0_$other.deb"
[ -z "$(ls -A "$T/st")" ] || die "a refused deb still wrote $(ls -A "$T/st")"

note "OCI layout (digests, whiteouts, opaque directories, nested index)"
OCI=$T/oci
mkdir -p "$OCI/blobs/sha256" "$T/l1/a" "$T/l1/b" "$T/l1/c" "$T/l2/a" "$T/l2/b"
echo keep > "$T/l1/a/keep"; echo gone > "$T/l1/a/gone"; mkdir "$T/l1/a/gonedir"; echo x > "$T/l1/a/gonedir/x"
echo x > "$T/l1/b/x"; echo y > "$T/l1/b/y"; echo old > "$T/l1/c/old"
ln "$T/l1/c/old" "$T/l1/c/old-link"
: > "$T/l2/a/.wh.gone"; : > "$T/l2/a/.wh.gonedir"; : > "$T/l2/b/.wh..wh..opq"
echo new > "$T/l2/b/new"
tar --numeric-owner -C "$T/l1" -cf "$T/layer1.tar" .
tar --numeric-owner -C "$T/l2" -czf "$T/layer2.tar.gz" .
blob() { # blob FILE -> prints "digest size", stores the blob
        local d s
        d=$(sha256sum "$1" | cut -d' ' -f1); s=$(stat -c %s "$1")
        cp "$1" "$OCI/blobs/sha256/$d"
        echo "$d $s"
}
printf '{"architecture":"amd64","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' > "$T/config.json"
read -r cd cs < <(blob "$T/config.json")
read -r l1d l1s < <(blob "$T/layer1.tar")
read -r l2d l2s < <(blob "$T/layer2.tar.gz")
cat > "$T/manifest.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$cd","size":$cs},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$l1d","size":$l1s},
           {"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:$l2d","size":$l2s}]}
EOF
read -r md ms < <(blob "$T/manifest.json")
echo '{"imageLayoutVersion":"1.0.0"}' > "$OCI/oci-layout"
cat > "$OCI/index.json" <<EOF
{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:$md","size":$ms}]}
EOF
check_oci() {
        local s=$1 what=$2
        [ "$(cat "$s/a/keep")" = keep ] || die "$what: a/keep missing"
        [ ! -e "$s/a/gone" ] || die "$what: whiteout .wh.gone not honoured"
        [ ! -e "$s/a/gonedir" ] || die "$what: whiteout of a directory not honoured"
        [ ! -e "$s/b/x" ] && [ ! -e "$s/b/y" ] || die "$what: opaque directory b/ kept lower-layer files"
        [ "$(cat "$s/b/new")" = new ] || die "$what: b/new from the upper layer missing"
        [ "$(cat "$s/c/old")" = old ] || die "$what: c/old missing"
        [ "$(stat -c %i "$s/c/old")" = "$(stat -c %i "$s/c/old-link")" ] || die "$what: hard link lost"
        [ -z "$(find "$s" -name '.wh.*')" ] || die "$what: whiteout files written into the tree"
        echo "   $what: whiteouts, opaque dir, hard link ok"
}
fresh "$T/st"
"$H" "$T/st" "oci:$OCI"
check_oci "$T/st" "oci:"
# The same image behind a nested index (as "docker save"/skopeo write multi-arch images).
cp "$OCI/index.json" "$T/inner-index.json"
sed -i 's/"manifests":\[{/"mediaType":"application\/vnd.oci.image.index.v1+json","manifests":[{"platform":{"os":"linux","architecture":"amd64"},/' "$T/inner-index.json"
read -r id is < <(blob "$T/inner-index.json")
cp "$OCI/index.json" "$T/flat-index.json"
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.index.v1+json\",\"digest\":\"sha256:$id\",\"size\":$is}]}" > "$OCI/index.json"
fresh "$T/st"
"$H" "$T/st" "oci:$OCI"
check_oci "$T/st" "oci: (nested index)"
cp "$T/flat-index.json" "$OCI/index.json"

note "OCI: a corrupted blob is refused before anything is written"
cp "$OCI/blobs/sha256/$l2d" "$T/l2.saved"
flip_byte "$OCI/blobs/sha256/$l2d" 100
fresh "$T/st"
expect_fail "layer oci:.*: blob sha256:$l2d does not match its digest" "$H" "$T/st" "oci:$OCI"
[ -z "$(ls -A "$T/st")" ] || die "a corrupt OCI image still changed the tree"
cp "$T/l2.saved" "$OCI/blobs/sha256/$l2d"
rm "$OCI/blobs/sha256/$l1d"
expect_fail "layer oci:.*: blob sha256:$l1d: .*No such file" "$H" "$T/st" "oci:$OCI"
cp "$T/layer1.tar" "$OCI/blobs/sha256/$l1d"

note "OCI: an upper layer's file or symlink replaces a lower layer's directory and its contents"
# As "rm -rf /var/run && ln -s /run /var/run" in a Dockerfile exports: the symlink, no whiteout
# (image-spec layer.md, "Changeset over existing files": remove the path, then recreate it).
OCIR=$T/oci-replace
mkdir -p "$OCIR/blobs/sha256" "$T/r1/var/run/sub" "$T/r1/opt/app" "$T/r2/var" "$T/r2/opt"
echo pid > "$T/r1/var/run/sub/pid"; echo lib > "$T/r1/opt/app/lib"
ln -s /run "$T/r2/var/run"; echo file > "$T/r2/opt/app"
tar --numeric-owner -C "$T/r1" -cf "$T/r1.tar" .
tar --numeric-owner -C "$T/r2" -cf "$T/r2.tar" .
oblob() { # oblob FILE -> prints "digest size", stores the blob in $OCIR
        local d
        d=$(sha256sum "$1" | cut -d' ' -f1)
        cp "$1" "$OCIR/blobs/sha256/$d"
        echo "$d $(stat -c %s "$1")"
}
read -r rcd rcs < <(oblob "$T/config.json")
read -r r1d r1s < <(oblob "$T/r1.tar")
read -r r2d r2s < <(oblob "$T/r2.tar")
cat > "$T/manifest-r.json" <<EOF
{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json",
 "config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:$rcd","size":$rcs},
 "layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$r1d","size":$r1s},
           {"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:$r2d","size":$r2s}]}
EOF
read -r rmd rms < <(oblob "$T/manifest-r.json")
echo "{\"schemaVersion\":2,\"manifests\":[{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$rmd\",\"size\":$rms}]}" > "$OCIR/index.json"
fresh "$T/st"
"$H" "$T/st" "oci:$OCIR" || die "oci: a file or symlink over a lower layer's directory was refused"
[ "$(readlink "$T/st/var/run")" = /run ] || die "oci: var/run is not the upper layer's symlink"
[ -f "$T/st/opt/app" ] && [ "$(cat "$T/st/opt/app")" = file ] || die "oci: opt/app is not the upper layer's file"
# A plain tar layer keeps tar's rule: a non-empty directory is not replaced by a file.
fresh "$T/st"
expect_fail "layer tar:.*r2.tar: entry '\./var/run'" "$H" "$T/st" "tar:$T/r1.tar" "tar:$T/r2.tar"

note "OCI: a multi-platform index gives the image's architecture's image (Architecture=)"
OCIM=$T/oci-multi
mkdir -p "$OCIM/blobs/sha256"
mblob() { # mblob FILE -> prints "digest size", stores the blob in $OCIM
        local d
        d=$(sha256sum "$1" | cut -d' ' -f1)
        cp "$1" "$OCIM/blobs/sha256/$d"
        echo "$d $(stat -c %s "$1")"
}
descs=
for arch in amd64 arm64; do
        mkdir -p "$T/m-$arch/etc"
        echo "$arch" > "$T/m-$arch/etc/arch"
        tar --numeric-owner -C "$T/m-$arch" -cf "$T/m-$arch.tar" .
        printf '{"architecture":"%s","os":"linux","rootfs":{"type":"layers","diff_ids":[]}}' "$arch" > "$T/m-$arch.config"
        read -r mcd mcs < <(mblob "$T/m-$arch.config")
        read -r mld mls < <(mblob "$T/m-$arch.tar")
        printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar","digest":"sha256:%s","size":%s}]}' \
                "$mcd" "$mcs" "$mld" "$mls" > "$T/m-$arch.manifest"
        read -r mmd mms < <(mblob "$T/m-$arch.manifest")
        descs+="${descs:+,}{\"mediaType\":\"application/vnd.oci.image.manifest.v1+json\",\"digest\":\"sha256:$mmd\",\"size\":$mms,\"platform\":{\"os\":\"linux\",\"architecture\":\"$arch\"}}"
done
echo "{\"schemaVersion\":2,\"manifests\":[$descs]}" > "$OCIM/index.json"
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
for arch in x86-64 arm64; do
        printf '[Image]\nName=multi\nVersion=1\nCompatible=c\nArchitecture=%s\n[Content]\nLayer=oci:%s\n' "$arch" "$OCIM" > "$T/multi-$arch.conf"
        SOURCE_DATE_EPOCH=1 "$ABIDE_BUILD" build "$T/multi-$arch.conf" --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" \
                -o "$T/multi-out-$arch" >/dev/null
        mkdir "$T/multi-x-$arch"
        tar -xf "$T/multi-out-$arch/multi-1.abide" -C "$T/multi-x-$arch"
        fresh "$T/st"
        mount -o ro,loop "$T/multi-x-$arch/root.img" "$T/st" || die "cannot loop-mount the $arch image"
        cleanup_hooks+=("umount '$T/st'")
        got=$(cat "$T/st/etc/arch" || true)
        umount "$T/st"
        cleanup_hooks=()
        want=amd64; [ "$arch" = arm64 ] && want=arm64
        [ "$got" = "$want" ] || die "Architecture=$arch: the OCI layer gave the $got image"
done
# An index with one image for another platform is refused, not taken.
echo "{\"schemaVersion\":2,\"manifests\":[${descs%%,\{*}]}" > "$OCIM/index.json"
expect_fail "layer oci:.*: the index's one image is for linux/amd64, not linux/arm64 \(Architecture=arm64\)" \
        "$ABIDE_BUILD" build "$T/multi-arm64.conf" --key "$T/keys/signing.key" --cert "$T/keys/signing.crt" -o "$T/multi-refused"
[ ! -e "$T/multi-refused/multi-1.abide" ] || die "a refused OCI layer still gave a bundle"

note "an in-tree directory symlink (bin -> usr/bin) is followed, as dpkg does"
mkdir -p "$T/merged/usr/bin" "$T/later/bin"
ln -s usr/bin "$T/merged/bin"
echo later > "$T/later/bin/late"
tar -C "$T/merged" -cf "$T/merged.tar" .
tar -C "$T/later" -cf "$T/later.tar" .
fresh "$T/st"
"$H" "$T/st" "tar:$T/merged.tar" "tar:$T/later.tar"
[ -L "$T/st/bin" ] || die "bin -> usr/bin was replaced by a directory"
[ "$(cat "$T/st/usr/bin/late")" = later ] || die "bin/late did not land in usr/bin"

note "malicious archives are refused, naming the entry; nothing lands outside"
OUT=$T/outside
mkdir -p "$OUT"
python3 - "$T" "$OUT" <<'EOF'
import io, sys, tarfile
t, out = sys.argv[1], sys.argv[2]
def mk(name, members):
    with tarfile.open(f"{t}/{name}", "w", format=tarfile.PAX_FORMAT) as tf:
        for m in members:
            info = tarfile.TarInfo(m[1])
            if m[0] == "file":
                data = b"pwned\n"; info.size = len(data); tf.addfile(info, io.BytesIO(data))
            elif m[0] == "sym":
                info.type = tarfile.SYMTYPE; info.linkname = m[2]; tf.addfile(info)
            elif m[0] == "hard":
                info.type = tarfile.LNKTYPE; info.linkname = m[2]; tf.addfile(info)
            elif m[0] == "dir":
                info.type = tarfile.DIRTYPE; info.mode = m[2] if len(m) > 2 else 0o755; info.uid = 99; tf.addfile(info)
mk("dotdot.tar", [("file", "ok"), ("file", "../escaped")])
mk("dotdot-mid.tar", [("dir", "a"), ("file", "a/../../escaped")])
mk("absolute.tar", [("file", f"{out}/absolute")])
mk("symlink-abs.tar", [("sym", "evil", out), ("file", "evil/planted")])
mk("symlink-rel.tar", [("dir", "d"), ("sym", "d/up", "../../../../../../../.."), ("file", f"d/up{out}/planted2")])
mk("symlink-etc.tar", [("sym", "etc", "/etc"), ("file", "etc/passwd")])
mk("hardlink-shadow.tar", [("hard", "shadow", "/etc/shadow")])
mk("hardlink-dotdot.tar", [("hard", "shadow", "../../../../etc/shadow")])
mk("hardlink-symlink.tar", [("sym", "etcdir", "/etc"), ("hard", "shadow", "etcdir/shadow")])
mk("hardlink-missing.tar", [("hard", "x", "nowhere")])
mk("dir-over-symlink.tar", [("sym", "evil", out), ("dir", "evil", 0o700), ("sym", "rel", "../outside"), ("dir", "rel", 0o700)])
EOF
mkdir -p "$T/evildeb" && (cd "$T/evildeb" && echo 2.0 > debian-binary && cp "$PKG/DEBIAN/control" control && tar -czf control.tar.gz ./control &&
        gzip -c "$T/dotdot.tar" > data.tar.gz && ar rc "$T/evil.deb" debian-binary control.tar.gz data.tar.gz)
passwd_sum=$(sha256sum /etc/passwd)
shadow_links=$(stat -c %h /etc/shadow)
snapshot() { find "$T" -path "$T/st" -prune -o -print | sort; }
before=$(snapshot)
ST=$T/st
fresh "$ST"
expect_fail "^helper-layers: layer tar:$T/dotdot.tar: entry '../escaped' would land outside the image" "$H" "$ST" "tar:$T/dotdot.tar"
expect_fail "entry 'a/../../escaped' would land outside the image" "$H" "$ST" "tar:$T/dotdot-mid.tar"
expect_fail "layer tar:.*: entry '$OUT/absolute' would land outside the image \(absolute path\)" "$H" "$ST" "tar:$T/absolute.tar"
fresh "$ST"
expect_fail "entry 'evil/planted' would land outside the image \(through symlink 'evil' -> '$OUT'\)" "$H" "$ST" "tar:$T/symlink-abs.tar"
fresh "$ST"
expect_fail "entry 'd/up$OUT/planted2' would land outside the image \(through symlink 'd/up'" "$H" "$ST" "tar:$T/symlink-rel.tar"
fresh "$ST"
expect_fail "entry 'etc/passwd' would land outside the image \(through symlink 'etc' -> '/etc'\)" "$H" "$ST" "tar:$T/symlink-etc.tar"
expect_fail "entry 'shadow' is a hard link to '/etc/shadow', outside the image" "$H" "$ST" "tar:$T/hardlink-shadow.tar"
expect_fail "entry 'shadow' is a hard link to '../../../../etc/shadow', outside the image" "$H" "$ST" "tar:$T/hardlink-dotdot.tar"
fresh "$ST"
expect_fail "entry 'shadow' is a hard link to 'etcdir/shadow', outside the image \(through symlink 'etcdir' -> '/etc'\)" "$H" "$ST" "tar:$T/hardlink-symlink.tar"
expect_fail "entry 'x': hard link target 'nowhere' is not in the image" "$H" "$ST" "tar:$T/hardlink-missing.tar"
# The same refusal inside a .deb (it shares the writer).
expect_fail "layer deb:$T/evil.deb: entry '../escaped' would land outside the image" "$H" "$ST" "deb:$T/evil.deb"
# A directory entry over a symlink pointing out replaces the symlink, never chmods the target.
out_meta=$(stat -c '%a %u' "$OUT")
fresh "$ST"
"$H" "$ST" "tar:$T/dir-over-symlink.tar"
[ "$(stat -c '%a %u' "$OUT")" = "$out_meta" ] || die "a directory entry changed $OUT through a symlink"
[ -d "$ST/evil" ] && [ ! -L "$ST/evil" ] && [ "$(stat -c '%a %u' "$ST/evil")" = "700 99" ] || die "evil/ was not replaced by a directory"
[ -d "$ST/rel" ] && [ ! -L "$ST/rel" ] || die "rel/ was not replaced by a directory"
after=$(snapshot)
[ "$before" = "$after" ] || die "something was written outside the staging tree: $(diff <(echo "$before") <(echo "$after"))"
[ ! -e "$T/escaped" ] && [ ! -e "$OUT/planted" ] && [ ! -e "$OUT/absolute" ] && [ ! -e "$OUT/planted2" ] || die "a file escaped the staging tree"
[ "$(sha256sum /etc/passwd)" = "$passwd_sum" ] || die "/etc/passwd changed"
[ "$(stat -c %h /etc/shadow)" = "$shadow_links" ] || die "/etc/shadow gained a hard link"

note "OCI whiteouts cannot reach outside either"
python3 - "$T" <<'EOF'
import io, sys, tarfile
t = sys.argv[1]
with tarfile.open(f"{t}/wh.tar", "w") as tf:
    info = tarfile.TarInfo("../.wh.outside"); tf.addfile(info, io.BytesIO(b""))
EOF
read -r wd ws < <(blob "$T/wh.tar")
sed "s/$l2d/$wd/; s/\"size\":$l2s/\"size\":$ws/; s/tar+gzip/tar/" "$T/manifest.json" > "$T/manifest-evil.json"
read -r emd ems < <(blob "$T/manifest-evil.json")
sed "s/$md/$emd/; s/\"size\":$ms/\"size\":$ems/" "$T/flat-index.json" > "$OCI/index.json"
fresh "$ST"
expect_fail "layer oci:.*\(layer 2/2 sha256:.*\): entry '../.wh.outside' would land outside the image" "$H" "$ST" "oci:$OCI"
[ -d "$OUT" ] || die "an OCI whiteout deleted a directory outside the tree"

note "truncated archives fail"
head -c $(( $(stat -c %s "$T/base.tar.gz") / 2 )) "$T/base.tar.gz" > "$T/truncated.tar.gz"
head -c 5000 "$T/base.tar" > "$T/truncated.tar"
fresh "$ST"
expect_fail "layer tar:$T/truncated.tar.gz: " "$H" "$ST" "tar:$T/truncated.tar.gz"
expect_fail "layer tar:$T/truncated.tar: .*[Tt]runcated" "$H" "$ST" "tar:$T/truncated.tar"

note "Binary=: a program with its library closure and the loader"
fresh "$ST"
"$H" --binary "$ST" /bin/ls
# The loader and libc as this machine's ls names them (PT_INTERP, ldd), never a fixed path.
LOADER=$(readelf -l /bin/ls | sed -n 's/.*Requesting program interpreter: \(.*\)]/\1/p')
LIBC=$(ldd /bin/ls | awk '$1 ~ /^libc\.so/ { print $3 }')
[ -n "$LOADER" ] && [ -n "$LIBC" ] || die "cannot tell /bin/ls's loader or libc"
[ -e "$ST$LOADER" ] || die "loader $LOADER missing"
for lib in $(ldd /bin/ls | grep -o '/[^ ]*'); do
        [ -e "$ST$lib" ] || die "library $lib missing from the image"
done
chroot "$ST" /bin/ls / > "$T/ls.out" || die "chroot $ST /bin/ls failed"
grep -qx bin "$T/ls.out" || die "chrooted ls did not list /bin"
echo "   /bin/ls runs in the staging tree: $(tr '\n' ' ' < "$T/ls.out")"
# Into a tree whose /lib is a real directory (not merged-/usr), and to another path.
fresh "$ST"
mkdir "$ST/lib" "$ST/bin"
"$H" --binary "$ST" /bin/ls /opt/tools/myls
[ -d "$ST/lib" ] && [ ! -L "$ST/lib" ] || die "the tree's /lib directory was replaced"
LIBC_REL=$(echo "$LIBC" | sed -E 's#^(/usr)?/lib/##')
[ -f "$ST/lib/$LIBC_REL" ] || die "libc ($LIBC_REL) not copied into the real /lib"
chroot "$ST" /opt/tools/myls / > /dev/null || die "chroot: /opt/tools/myls failed"
# A static program needs no loader; a script is refused.
fresh "$ST"
BB=/bin/busybox   # Debian's busybox-static
"$H" --binary "$ST" "$BB"
[ ! -e "$ST/lib64" ] && [ ! -e "$ST/lib" ] || die "a static binary pulled in a loader or libraries"
chroot "$ST" "$BB" true || die "chroot: static busybox failed"
printf '#!/bin/sh\necho hi\n' > "$T/script" && chmod +x "$T/script"
expect_fail "binary $T/script: not an ELF program" "$H" --binary "$ST" "$T/script"

echo "OK"
