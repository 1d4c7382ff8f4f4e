#!/bin/bash
# abide-build build/inspect end to end on the example recipe: signatures
# interoperate with openssl, trust is enforced, builds are reproducible, and
# bad input fails cleanly with nothing left behind.
source "$(dirname "$0")/lib.sh"
need openssl tar mkfs.erofs veritysetup setfattr getfattr setcap getcap pgrep

B=$ABIDE_BUILD
recipe=$ABIDE_SRCDIR/recipes/example.conf
export SOURCE_DATE_EPOCH=1721362140

# Two bundles must be byte-identical; when they are not, the members that differ are named.
same_bundle() {
        cmp -s "$1" "$2" && return 0
        local a=$T/differ-a b=$T/differ-b f members=
        rm -rf "$a" "$b"
        mkdir "$a" "$b"
        tar -xf "$1" -C "$a" && tar -xf "$2" -C "$b" || die "$1 and $2 differ, and one of them is no tar"
        for f in $(tar -tf "$1"); do
                cmp -s "$a/$f" "$b/$f" || members+=" $f"
        done
        die "$1 and $2 differ (members:${members:- none, the archive around them})"
}

note "keygen"
"$B" keygen -o "$T/keys" >/dev/null
K=(--key "$T/keys/signing.key" --cert "$T/keys/signing.crt")

note "build and verify"
bundle=$("$B" build "$recipe" "${K[@]}" -o "$T/out1")
[ "$bundle" = "$T/out1/abide-example-1.0.0.abide" ] || die "unexpected bundle path $bundle"
"$B" inspect "$bundle" --cert "$T/keys/ca.pem" | grepq "Signature: *verified" || die "inspect --cert did not verify"
"$B" inspect "$bundle" --cert "$T/keys" --json | grepq '"verified": true' || die "inspect --json not verified"
[ "$(tar -tf "$bundle" | tr '\n' ' ')" = "manifest.json manifest.json.sig root.img root.verity root.verity-sig " ] ||
        die "member order: $(tar -tf "$bundle" | tr '\n' ' ')"

mkdir "$T/x1"
tar -xf "$bundle" -C "$T/x1"
openssl cms -verify -binary -inform DER -in "$T/x1/manifest.json.sig" -content "$T/x1/manifest.json" \
        -CAfile "$T/keys/ca.pem" -out /dev/null 2>"$T/cms.err" || die "openssl cms rejects our signature: $(cat "$T/cms.err")"

note "the root image is the recipe's tree and veritysetup agrees with the manifest"
root_hash=$(sed -n 's/.*"root_hash": *"\([0-9a-f]*\)".*/\1/p' "$T/x1/manifest.json")
[ ${#root_hash} -eq 64 ] || die "no root hash in manifest"
veritysetup verify "$T/x1/root.img" "$T/x1/root.verity" "$root_hash" || die "veritysetup verify rejects the built image"
grep -q "\"rootHash\": *\"$root_hash\"" <(tr -d '\0' <"$T/x1/root.verity-sig") || die "verity-sig does not carry the root hash"
fsck.erofs "$T/x1/root.img" >/dev/null 2>&1 || die "fsck.erofs rejects root.img"
mkdir "$T/mnt"
if mount -o ro,loop "$T/x1/root.img" "$T/mnt" 2>/dev/null; then
        cleanup_hooks+=("umount '$T/mnt'")
        cmp "$T/mnt/usr/bin/hello" "$ABIDE_SRCDIR/images/example/rootfs/usr/bin/hello" || die "image content differs from the tree"
        [ "$(stat -c %Y "$T/mnt/usr/bin/hello")" = "$SOURCE_DATE_EPOCH" ] || die "mtime is not SOURCE_DATE_EPOCH"
        umount "$T/mnt"
        cleanup_hooks=()
else
        die "cannot loop-mount the erofs image"
fi

note "reproducible: a second build of a copy of the tree, a second later, gives an identical bundle"
cp -a "$ABIDE_SRCDIR/images/example" "$T/example-copy"
touch -d @1000000000 "$T/example-copy/rootfs/usr/bin/hello"
sed 's|^Layer=tree:.*|Layer=tree:'"$T"'/example-copy/rootfs|' "$recipe" >"$T/copy.conf"
# Whatever of the clock could get in (a signing time, in seconds) differs between the two.
sleep 1
bundle2=$("$B" build "$T/copy.conf" "${K[@]}" -o "$T/out2")
same_bundle "$bundle" "$bundle2"

note "the manifest's signature carries SOURCE_DATE_EPOCH as its signing time, not the clock"
st=$(cms_signing_time "$T/x1/manifest.json.sig")
[ "$st" = "$SOURCE_DATE_EPOCH" ] || die "manifest.json.sig: signingTime $st, not SOURCE_DATE_EPOCH"

note "without SOURCE_DATE_EPOCH the signing time is the manifest's build_date"
bn=$(SOURCE_DATE_EPOCH= "$B" build "$recipe" "${K[@]}" -o "$T/out-now")
mkdir "$T/x-now"
tar -xf "$bn" -C "$T/x-now"
bd=$(sed -n 's/.*"build_date": *"\([^"]*\)".*/\1/p' "$T/x-now/manifest.json")
[ "$(date -u -d "$bd" +%s)" -gt "$SOURCE_DATE_EPOCH" ] || die "build_date $bd without SOURCE_DATE_EPOCH"
st=$(cms_signing_time "$T/x-now/manifest.json.sig")
[ "$st" = "$(date -u -d "$bd" +%s)" ] || die "manifest.json.sig: signingTime $st, build_date $bd"

note "one tree layer is linked, not copied: the tree is left as it was, the image is the copy's"
# The recipe's single tree layer is hard-linked into the staging tree (layer_link_tree()):
# the build must not change the layer (times, links), every time in the image must be
# SOURCE_DATE_EPOCH whatever the layer's (hello is older than it, the rest newer), and
# the image must be the one the copying path makes: the same tree given twice is copied.
before=$(cd "$T/example-copy" && find . -printf '%p %y %m %U %G %n %T@ %s\n' | sort)
bundle3=$("$B" build "$T/copy.conf" "${K[@]}" -o "$T/out-linked")
after=$(cd "$T/example-copy" && find . -printf '%p %y %m %U %G %n %T@ %s\n' | sort)
[ "$before" = "$after" ] || die "building changed the layer's tree: $(diff <(echo "$before") <(echo "$after") | head -5)"
[ "$(stat -c %Y "$T/example-copy/rootfs/usr/bin/hello")" = 1000000000 ] || die "the build touched the layer's file times"
sed 's|^Layer=tree:.*|Layer=tree:'"$T"'/example-copy/rootfs\nLayer=tree:'"$T"'/example-copy/rootfs|' "$recipe" >"$T/twice.conf"
[ "$(grep -c '^Layer=' "$T/twice.conf")" = 2 ] || die "twice.conf: expected two layers"
bundle4=$("$B" build "$T/twice.conf" "${K[@]}" -o "$T/out-copied")
mkdir "$T/x-linked" "$T/x-copied"
tar -xf "$bundle3" -C "$T/x-linked"
tar -xf "$bundle4" -C "$T/x-copied"
same_bundle "$bundle" "$bundle3"
same_bundle "$bundle3" "$bundle4"
mount -o ro,loop "$T/x-linked/root.img" "$T/mnt" || die "cannot loop-mount the linked build's image"
cleanup_hooks+=("umount '$T/mnt'")
odd=$(find "$T/mnt" ! -newermt "@$SOURCE_DATE_EPOCH" -newermt "@$((SOURCE_DATE_EPOCH - 1))" -o -print | head -3)
[ -z "$odd" ] || die "image entries with a time other than SOURCE_DATE_EPOCH: $odd"
umount "$T/mnt"
cleanup_hooks=()

note "the root image is the bundle's file (no copy): its data starts on a 4 KiB block"
blk=$(tar -tvR -f "$bundle3" | sed -n 's/^block \([0-9]*\): .* root\.img$/\1/p')
[ -n "$blk" ] || die "no root.img member in $(tar -tvR -f "$bundle3")"
[ $(((blk + 1) * 512 % 4096)) = 0 ] || die "root.img data at byte $(((blk + 1) * 512)), not on a 4 KiB block"

note "on tmpfs (no hard link to the layer, no FALLOC_FL_INSERT_RANGE): the same bundle, copied"
mkdir "$T/tmpfs"
mount -t tmpfs -o size=64M tmpfs "$T/tmpfs" || die "cannot mount a tmpfs"
cleanup_hooks+=("umount '$T/tmpfs'")
bundle5=$("$B" build "$T/copy.conf" "${K[@]}" -o "$T/tmpfs/out")
same_bundle "$bundle3" "$bundle5"
[ -z "$(ls -A "$T/tmpfs/out" | grep -v '\.abide$')" ] || die "left behind in the output: $(ls -A "$T/tmpfs/out")"
umount "$T/tmpfs"
cleanup_hooks=()

note "Filesystem=squashfs with SOURCE_DATE_EPOCH set: reproducible from a linked tree"
for n in s1 s2; do
        src=$ABIDE_SRCDIR/images/example/rootfs
        [ "$n" = s1 ] || src=$T/example-copy/rootfs
        sed 's|^Layer=tree:.*|Layer=tree:'"$src"'|' "$recipe" >"$T/$n.conf"
        bs=$("$B" build "$T/$n.conf" "${K[@]}" -o "$T/$n" --set Image.Filesystem=squashfs)
        mkdir "$T/x-$n"
        tar -xf "$bs" -C "$T/x-$n"
done
same_bundle "$T"/s1/*.abide "$T"/s2/*.abide
[ "$(head -c 4 "$T/x-s1/root.img")" = hsqs ] || die "Filesystem=squashfs did not make a squashfs image"

note "reproducible whatever order a file's extended attributes were set in"
# ext4 lists a file's xattrs in the order they were set (setfattr, then setcap, or
# another tar), and mkfs.erofs and mksquashfs keep the listed order in the image.
for n in xa-ab xa-ba; do
        cp -a "$ABIDE_SRCDIR/images/example/rootfs" "$T/$n"
        : > "$T/$n/etc/marked"
done
mark() { # mark FILE ATTR... : sets the attributes in that order
        local f=$1 a; shift
        for a; do
                case $a in
                security.capability) setcap cap_net_raw+ep "$f" ;;
                # An access ACL (user 1234 may read), as setfacl writes it: version 2, then tag, perm, id.
                acl) python3 -c 'import os, struct, sys
os.setxattr(sys.argv[1], "system.posix_acl_access", struct.pack("<I", 2) + b"".join(struct.pack("<HHI", *e)
        for e in ((1, 6, 2**32 - 1), (2, 4, 1234), (4, 4, 2**32 - 1), (0x10, 4, 2**32 - 1), (0x20, 4, 2**32 - 1))))' "$f" ;;
                *) setfattr -n "$a" -v "v$a" "$f" ;;
                esac
        done
}
mark "$T/xa-ab/etc/marked" user.a user.b security.capability
mark "$T/xa-ba/etc/marked" security.capability user.b user.a
[ "$(getfattr -d -m - --absolute-names "$T/xa-ab/etc/marked" | sort)" = "$(getfattr -d -m - --absolute-names "$T/xa-ba/etc/marked" | sed 's/xa-ba/xa-ab/' | sort)" ] ||
        die "the two trees' xattrs differ in more than order"
for fs in erofs squashfs; do
        # A single tree layer (linked) and the same tree after an empty tar layer (copied).
        for n in xa-ab xa-ba; do
                sed 's|^Layer=tree:.*|Layer=tree:'"$T/$n"'|' "$recipe" >"$T/$n.conf"
                "$B" build "$T/$n.conf" "${K[@]}" -o "$T/out-$fs-$n" --set Image.Filesystem=$fs >/dev/null
        done
        tar -cf "$T/empty.tar" -T /dev/null
        sed 's|^Layer=tree:.*|Layer=tar:'"$T"'/empty.tar\nLayer=tree:'"$T"'/xa-ba|' "$recipe" >"$T/xa-copied.conf"
        "$B" build "$T/xa-copied.conf" "${K[@]}" -o "$T/out-$fs-copied" --set Image.Filesystem=$fs >/dev/null
        same_bundle "$T"/out-$fs-xa-ab/*.abide "$T"/out-$fs-xa-ba/*.abide
        same_bundle "$T"/out-$fs-xa-ab/*.abide "$T"/out-$fs-copied/*.abide
done
# The copy sets a file's ACLs after its other xattrs: a linked file listing an ACL first
# (system.posix_acl_access before user.a, in name order) is not in the copy's order either.
for n in acl-first acl-last; do
        cp -a "$ABIDE_SRCDIR/images/example/rootfs" "$T/xa-$n"
        : > "$T/xa-$n/etc/acl"
done
mark "$T/xa-acl-first/etc/acl" acl user.a
mark "$T/xa-acl-last/etc/acl" user.a acl
for n in acl-first acl-last; do
        sed 's|^Layer=tree:.*|Layer=tree:'"$T/xa-$n"'|' "$recipe" >"$T/xa-$n.conf"
        "$B" build "$T/xa-$n.conf" "${K[@]}" -o "$T/out-xa-$n" >/dev/null
done
same_bundle "$T"/out-xa-acl-first/*.abide "$T"/out-xa-acl-last/*.abide
mkdir "$T/x-xa"
tar -xf "$T"/out-erofs-xa-ba/*.abide -C "$T/x-xa"
mount -o ro,loop "$T/x-xa/root.img" "$T/mnt" || die "cannot loop-mount the xattr build's image"
cleanup_hooks+=("umount '$T/mnt'")
[ "$(getcap "$T/mnt/etc/marked" | sed 's/.* //')" = cap_net_raw=ep ] || die "file capability lost: $(getcap "$T/mnt/etc/marked")"
umount "$T/mnt"
cleanup_hooks=()
[ "$(getfattr --absolute-names --only-values -n user.b "$T/xa-ba/etc/marked")" = vuser.b ] || die "the build changed the layer's xattrs"

note "the caller's umask changes nothing in the image (its \"/\", directories a tar implies)"
python3 - "$T/nodirs.tar" <<'EOF'
import io, sys, tarfile
with tarfile.open(sys.argv[1], "w") as tf:
    data = b"x\n"; info = tarfile.TarInfo("usr/share/app/file"); info.size = len(data); info.mode = 0o644
    tf.addfile(info, io.BytesIO(data))
EOF
sed 's|^Layer=tree:.*|Layer=tree:'"$T"'/example-copy/rootfs\nLayer=tar:'"$T"'/nodirs.tar|' "$recipe" >"$T/nodirs.conf"
for u in 022 077; do
        ( umask $u; "$B" build "$T/nodirs.conf" "${K[@]}" -o "$T/out-umask-$u" >/dev/null )
done
mkdir "$T/x-umask"
tar -xf "$T"/out-umask-077/*.abide -C "$T/x-umask"
mount -o ro,loop "$T/x-umask/root.img" "$T/mnt" || die "cannot loop-mount the umask 077 build's image"
cleanup_hooks+=("umount '$T/mnt'")
modes=$(stat -c '%a' "$T/mnt" "$T/mnt/usr/share" "$T/mnt/usr/lib/abide" | tr '\n' ' ')
umount "$T/mnt"
cleanup_hooks=()
[ "$modes" = "755 755 755 " ] || die "under umask 077, the image's /, /usr/share, /usr/lib/abide have modes $modes"
same_bundle "$T"/out-umask-022/*.abide "$T"/out-umask-077/*.abide

note "Compression=lz4hc: a compressed erofs with the same tree, reproducible, verity over it"
for n in z1 z2; do
        bz=$("$B" build "$recipe" "${K[@]}" -o "$T/$n" --set Image.Compression=lz4hc)
        mkdir "$T/x-$n"
        tar -xf "$bz" -C "$T/x-$n"
done
same_bundle "$T"/z1/*.abide "$T"/z2/*.abide
dump.erofs "$T/x-z1/root.img" 2>/dev/null | grepq -i "lz4" || fsck.erofs "$T/x-z1/root.img" >/dev/null 2>&1 ||
        die "fsck.erofs rejects the lz4hc image"
zhash=$(sed -n 's/.*"root_hash": *"\([0-9a-f]*\)".*/\1/p' "$T/x-z1/manifest.json")
veritysetup verify "$T/x-z1/root.img" "$T/x-z1/root.verity" "$zhash" || die "veritysetup verify rejects the lz4hc image"
mount -o ro,loop "$T/x-z1/root.img" "$T/mnt" || die "cannot loop-mount the lz4hc erofs image"
cleanup_hooks+=("umount '$T/mnt'")
cmp "$T/mnt/usr/bin/hello" "$ABIDE_SRCDIR/images/example/rootfs/usr/bin/hello" || die "lz4hc image content differs from the tree"
umount "$T/mnt"
cleanup_hooks=()
cmp -s "$T/x1/root.img" "$T/x-z1/root.img" && die "Compression=lz4hc made the same image as none"
expect_fail "Compression=lz4 needs Filesystem=erofs" "$B" build "$recipe" "${K[@]}" -o "$T/z3" \
        --set Image.Filesystem=squashfs --set Image.Compression=lz4

note "--set overrides the version"
b3=$("$B" build "$recipe" "${K[@]}" -o "$T/out3" --set Image.Version=1.0.1)
[ "$(basename "$b3")" = abide-example-1.0.1.abide ] || die "--set Image.Version ignored: $b3"

note "SecurityVersion: up to 2^63-1, as the manifest takes; one more is refused with the recipe, before the build"
b7=$("$B" build "$recipe" "${K[@]}" -o "$T/out-sv" --set Image.SecurityVersion=9223372036854775807)
tar -xOf "$b7" manifest.json | grepq '"security_version": 9223372036854775807,' || die "SecurityVersion=2^63-1 not in the manifest"
for sv in 9223372036854775808 18446744073709551615; do
        expect_fail "^abide-build: build: $recipe: --set Image.SecurityVersion: $sv is out of range 0\\.\\.9223372036854775807$" \
                "$B" build "$recipe" "${K[@]}" -o "$T/bad-sv-$sv" --set Image.SecurityVersion=$sv
        [ ! -e "$T/bad-sv-$sv" ] || die "SecurityVersion=$sv: the refused build made $T/bad-sv-$sv ($(ls -A "$T/bad-sv-$sv"))"
done

note "trust: bundles signed outside the CA are refused; an expired release signer is not"
mk() { openssl "$@" >/dev/null 2>&1 || die "openssl $*"; }
# Release signers (abide-build refuses anything else), all but one outside the CA.
printf 'basicConstraints=critical,CA:FALSE\nkeyUsage=critical,digitalSignature\nextendedKeyUsage=codeSigning\n' >"$T/release.ext"
# self-signed signer
mk req -x509 -newkey rsa:2048 -nodes -keyout "$T/self.key" -out "$T/self.crt" -days 30 -subj "/CN=Self Signed" \
        -addext basicConstraints=critical,CA:FALSE -addext keyUsage=critical,digitalSignature -addext extendedKeyUsage=codeSigning
# another CA and a signer under it
mk req -x509 -newkey rsa:2048 -nodes -keyout "$T/other-ca.key" -out "$T/other-ca.pem" -days 30 -subj "/CN=Other CA" \
        -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign
mk req -new -newkey rsa:2048 -nodes -keyout "$T/other.key" -out "$T/other.csr" -subj "/CN=Other Signer"
mk x509 -req -in "$T/other.csr" -CA "$T/other-ca.pem" -CAkey "$T/other-ca.key" -CAcreateserial -days 30 \
        -extfile "$T/release.ext" -out "$T/other.crt"
# an expired signer under the trusted CA (openssl ca takes explicit past dates)
mk req -new -newkey rsa:2048 -nodes -keyout "$T/old.key" -out "$T/old.csr" -subj "/CN=Expired Signer"
mkdir "$T/cadb" && touch "$T/cadb/index" && echo 01 >"$T/cadb/serial"
printf '[ca]\ndefault_ca=d\n[d]\ndatabase=%s/cadb/index\nnew_certs_dir=%s/cadb\nserial=%s/cadb/serial\ndefault_md=sha256\npolicy=p\n[p]\ncommonName=supplied\n' \
        "$T" "$T" "$T" >"$T/ca.cnf"
mk ca -batch -config "$T/ca.cnf" -cert "$T/keys/ca.pem" -keyfile "$T/keys/ca.key" -in "$T/old.csr" -out "$T/old.crt" \
        -startdate 20200101000000Z -enddate 20210101000000Z -notext -extfile "$T/release.ext"

for who in self other; do
        bb=$("$B" build "$recipe" --key "$T/$who.key" --cert "$T/$who.crt" -o "$T/out-$who")
        expect_fail "not trusted" "$B" inspect "$bb" --cert "$T/keys/ca.pem"
done
# No decision on the clock (docs/trust.md): a release signer past its end still verifies.
bb=$("$B" build "$recipe" --key "$T/old.key" --cert "$T/old.crt" -o "$T/out-old")
"$B" inspect "$bb" --cert "$T/keys/ca.pem" >/dev/null || die "inspect refused a bundle of an expired release signer"

note "a signature over different bytes is refused"
cp "$bundle" "$T/resigned.abide"
mkdir "$T/x3"
tar -xf "$bundle" -C "$T/x3"
printf 'other bytes' >"$T/other.txt"
openssl cms -sign -binary -outform DER -nodetach -signer "$T/keys/signing.crt" -inkey "$T/keys/signing.key" \
        -in "$T/other.txt" -out /dev/null 2>/dev/null || true
openssl cms -sign -binary -outform DER -signer "$T/keys/signing.crt" -inkey "$T/keys/signing.key" \
        -in "$T/other.txt" -out "$T/x3/manifest.json.sig" || die "openssl cms -sign"
(cd "$T/x3" && tar --format=pax -cf "$T/resigned.abide" manifest.json manifest.json.sig root.img root.verity root.verity-sig)
expect_fail "signature|verif" "$B" inspect "$T/resigned.abide" --cert "$T/keys/ca.pem"

note "the CA goes into the image's own /usr/lib/abide/keys: a layer's symlink there is refused"
# Through a symlink from the layers, --ca's ca.pem would land on the build machine and the image
# would have no CA; even one that stays inside the image is refused (trust anchors are its files).
mkdir "$T/rb-escape"
for how in keys-abs keys-rel dir-abs; do
        rm -rf "$T/esc-tree"
        cp -a "$ABIDE_SRCDIR/images/example/rootfs" "$T/esc-tree"
        mkdir -p "$T/esc-tree/usr/lib/abide"
        case $how in
        keys-abs) ln -s "$T/rb-escape" "$T/esc-tree/usr/lib/abide/keys"; link=/usr/lib/abide/keys target=$T/rb-escape ;;
        keys-rel) ln -s ../../../etc "$T/esc-tree/usr/lib/abide/keys"; link=/usr/lib/abide/keys target=../../../etc ;;
        dir-abs) rmdir "$T/esc-tree/usr/lib/abide"; ln -s "$T/rb-escape" "$T/esc-tree/usr/lib/abide"; link=/usr/lib/abide target=$T/rb-escape ;;
        esac
        sed 's|^Layer=tree:.*|Layer=tree:'"$T"'/esc-tree|' "$recipe" >"$T/esc.conf"
        expect_fail "^abide-build: build: CA certificate: the layers' $link is a symlink to '$target' \\(a trust anchor must be a regular file in the image\\)$" \
                "$B" build "$T/esc.conf" "${K[@]}" --ca "$T/keys/ca.pem" -o "$T/esc-out-$how"
        [ -z "$(ls -A "$T/rb-escape")" ] || die "$how: the build wrote through the symlink: $(ls -A "$T/rb-escape")"
        [ -z "$(ls -A "$T/esc-out-$how" 2>/dev/null)" ] || die "$how: the refused build left $(ls -A "$T/esc-out-$how")"
done
# A layer's own ca.pem symlink is replaced in the image by the CA, not written through.
rm -rf "$T/esc-tree"
cp -a "$ABIDE_SRCDIR/images/example/rootfs" "$T/esc-tree"
mkdir -p "$T/esc-tree/usr/lib/abide/keys"
ln -s "$T/rb-escape/ca.pem" "$T/esc-tree/usr/lib/abide/keys/ca.pem"
sed 's|^Layer=tree:.*|Layer=tree:'"$T"'/esc-tree|' "$recipe" >"$T/esc.conf"
be=$("$B" build "$T/esc.conf" "${K[@]}" --ca "$T/keys/ca.pem" -o "$T/esc-out-file")
[ -z "$(ls -A "$T/rb-escape")" ] || die "the CA was written through the layer's ca.pem symlink"
[ -L "$T/esc-tree/usr/lib/abide/keys/ca.pem" ] || die "the build changed the layer's ca.pem symlink"
mkdir "$T/x-esc"
tar -xf "$be" -C "$T/x-esc"
mount -o ro,loop "$T/x-esc/root.img" "$T/mnt" || die "cannot loop-mount the image with the CA"
cleanup_hooks+=("umount '$T/mnt'")
[ -f "$T/mnt/usr/lib/abide/keys/ca.pem" ] && [ ! -L "$T/mnt/usr/lib/abide/keys/ca.pem" ] || die "the image's ca.pem is not a regular file"
cmp "$T/mnt/usr/lib/abide/keys/ca.pem" "$T/keys/ca.pem" || die "the image's ca.pem is not --ca's"
umount "$T/mnt"
cleanup_hooks=()

note "[Agent]: HealthTimeoutSec= is appended to the layers' abide.conf only as the image's own regular file"
# Read through a symlink from the layers, a file of the build machine would end up in the signed image.
printf 'host secret\n' >"$T/host-secret"
secret_sum=$(sha256sum "$T/host-secret")
agent_recipe() {
        sed 's|^Layer=tree:.*|Layer=tree:'"$T"'/agent-tree|' "$recipe" >"$T/agent.conf"
        printf '[Agent]\nName=hello\nExec=/usr/bin/hello\nHealth=/usr/bin/hello\nHealthTimeoutSec=42\n' >>"$T/agent.conf"
}
for how in abs rel fifo; do
        rm -rf "$T/agent-tree"
        cp -a "$ABIDE_SRCDIR/images/example/rootfs" "$T/agent-tree"
        mkdir -p "$T/agent-tree/usr/lib/abide"
        conf=$T/agent-tree/usr/lib/abide/abide.conf
        case $how in
        abs) ln -s "$T/host-secret" "$conf"; why="through symlink 'usr/lib/abide/abide.conf' -> '$T/host-secret'" ;;
        rel) ln -s "../../../../../../../../../..$T/host-secret" "$conf"; why="through symlink 'usr/lib/abide/abide.conf' -> '(\\.\\./)+\\.\\.$T/host-secret'" ;;
        fifo) mkfifo "$conf"; why="not a regular file" ;;
        esac
        agent_recipe
        expect_fail "^abide-build: build: \\[Agent\\] HealthTimeoutSec: cannot append to the layers' /usr/lib/abide/abide.conf: $why$" \
                "$B" build "$T/agent.conf" "${K[@]}" -o "$T/agent-out-$how"
        [ -z "$(ls -A "$T/agent-out-$how" 2>/dev/null)" ] || die "agent $how: the refused build left $(ls -A "$T/agent-out-$how")"
done
[ "$(sha256sum "$T/host-secret")" = "$secret_sum" ] || die "the build changed $T/host-secret"
# The image's own abide.conf: kept, ours appended, in the image.
rm -rf "$T/agent-tree"
cp -a "$ABIDE_SRCDIR/images/example/rootfs" "$T/agent-tree"
mkdir -p "$T/agent-tree/usr/lib/abide"
printf '[Paths]\nDisk=/dev/vda\n' >"$T/agent-tree/usr/lib/abide/abide.conf"
agent_recipe
ba=$("$B" build "$T/agent.conf" "${K[@]}" -o "$T/agent-out")
mkdir "$T/x-agent"
tar -xf "$ba" -C "$T/x-agent"
mount -o ro,loop "$T/x-agent/root.img" "$T/mnt" || die "cannot loop-mount the image with the agent"
cleanup_hooks+=("umount '$T/mnt'")
[ "$(head -2 "$T/mnt/usr/lib/abide/abide.conf")" = "$(printf '[Paths]\nDisk=/dev/vda')" ] || die "the image's abide.conf lost its own lines"
grep -qx 'TimeoutSec=42' "$T/mnt/usr/lib/abide/abide.conf" || die "HealthTimeoutSec=42 not appended to abide.conf"
umount "$T/mnt"
cleanup_hooks=()
# A busybox image pings the watchdog only after boot-check: the checks' deadline must fit in it.
expect_fail "^abide-build: build: \[Agent\] HealthTimeoutSec=100 does not fit in the boot watchdog \(abide.watchdog=120 s, .*at most 90, or raise abide.watchdog= in \[Boot\] Cmdline=$" \
        "$B" build "$T/agent.conf" "${K[@]}" -o "$T/agent-out-wd" --set Agent.HealthTimeoutSec=100
[ -z "$(ls -A "$T/agent-out-wd" 2>/dev/null)" ] || die "the refused build left $(ls -A "$T/agent-out-wd")"
"$B" build "$T/agent.conf" "${K[@]}" -o "$T/agent-out-wd" --set Agent.HealthTimeoutSec=90 >/dev/null ||
        die "HealthTimeoutSec=90 refused with the default abide.watchdog=120"

note "an interrupted build (SIGTERM, SIGINT, SIGHUP) leaves no work directory in the output"
# build_work OUT: the work directory of the build writing into OUT, once its mkfs has started the
# image (polled, up to 10 s); empty if it never did.
build_work() {
        for _ in $(seq 200); do
                compgen -G "$1/.abide-build.*/root.img" >/dev/null && break
                sleep 0.05
        done
        compgen -G "$1/.abide-build.*" || true
}
# The real mkfs.erofs makes the image, then its caller (first in PATH, its arguments naming the work
# directory) waits: the signal lands while a tool of the build runs however fast the machine is (an
# 8 MiB lz4hc image, as before, only had to take longer than the test's polling).
real_mkfs=$(command -v mkfs.erofs)
mkdir -p "$T/slow-bin"
cat >"$T/slow-bin/mkfs.erofs" <<SH
#!/bin/sh
"$real_mkfs" "\$@" || exit
while :; do sleep 1; done
SH
chmod +x "$T/slow-bin/mkfs.erofs"
# Each signal's default action restored for the build: a shell's background job ignores SIGINT, and
# the test itself may run with SIGHUP ignored (under nohup), which abide-build keeps ignored (below).
for sig in TERM INT HUP HUP-ignored; do
        out=$T/out-killed-$sig
        if [ $sig = HUP-ignored ]; then
                ( PATH=$T/slow-bin:$PATH exec env --ignore-signal=HUP --default-signal=TERM "$B" build "$recipe" "${K[@]}" -o "$out" ) &
        else
                ( PATH=$T/slow-bin:$PATH exec env --default-signal=$sig "$B" build "$recipe" "${K[@]}" -o "$out" ) &
        fi
        pid=$!
        cleanup_hooks=("stop_child $pid KILL" "${cleanup_hooks[@]}")
        work=$(build_work "$out")
        [ -n "$work" ] || die "SIG$sig: the build never started mkfs"
        for _ in $(seq 200); do
                if [ -s "$work/root.img" ] && ! pgrep -f -- "^$real_mkfs .*$work" >/dev/null; then break; fi
                sleep 0.05
        done
        [ -s "$work/root.img" ] || die "SIG$sig: mkfs.erofs never wrote its image"
        if [ $sig = HUP-ignored ]; then
                # Started with SIGHUP ignored (nohup): the hangup changes nothing, a SIGTERM still stops it.
                kill -HUP $pid
                sleep 1
                kill -0 $pid 2>/dev/null && [ -d "$work" ] || die "SIGHUP, ignored when the build started: the build stopped"
                sig=TERM
        fi
        kill -$sig $pid
        rc=0
        wait $pid || rc=$?
        [ $rc = $((128 + $(kill -l $sig))) ] || die "SIG$sig: the build exited $rc, not killed by the signal"
        [ -z "$(ls -A "$out")" ] || die "SIG$sig: the interrupted build left $(ls -A "$out")"
        sleep 0.2
        ! pgrep -f -- "$work" >/dev/null || die "SIG$sig: a tool of the interrupted build still runs: $(pgrep -af -- "$work")"
done

note "abide-build SIGKILLed, with its process group or alone (a CI job cancelled with kill -9): no tool of the build runs on, no work directory is left"
# A mkfs.erofs that never ends (first in PATH): it starts its image, then waits, so whatever outlives
# the kill is seen however slow the machine is. runs PID: the process exists and is not a zombie (an
# init that does not reap may keep those).
mkdir -p "$T/endless-bin"
cat >"$T/endless-bin/mkfs.erofs" <<'SH'
#!/bin/sh
for a; do img=$prev prev=$a; done
: >"$img"
while :; do sleep 1; done
SH
chmod +x "$T/endless-bin/mkfs.erofs"
for how in group process; do
        out=$T/out-killed9-$how
        # A session of its own: the kill of "the caller's group" kills abide-build's group, not this test.
        ( PATH=$T/endless-bin:$PATH exec setsid "$B" build "$recipe" "${K[@]}" -o "$out" ) &
        pid=$!
        # Should a check below fail: the build with its endless mkfs must not outlive the test (it
        # would hold the test's output open, and meson would wait for it until the timeout).
        cleanup_hooks=("kill -KILL -- -$pid 2>/dev/null" "${cleanup_hooks[@]}")   # pid-checked: dropped once reaped
        work=$(build_work "$out")
        [ -n "$work" ] || die "kill -9 ($how): the build never started mkfs"
        # The build's processes: abide-build's children (the build and its watcher) and mkfs, whose
        # arguments name the work directory.
        procs="$(pgrep -P $pid | tr '\n' ' ')$(pgrep -f -- "$work" | tr '\n' ' ')"
        pgrep -f -- "$work" >/dev/null || die "kill -9 ($how): mkfs does not run"
        if [ $how = group ]; then kill -KILL -- -$pid; else kill -KILL $pid; fi
        wait $pid || true
        # Reaped: its number, and once the group is gone the group's, may be given to any process.
        cleanup_hooks=("${cleanup_hooks[@]:1}")
        # Gone within 15 s (the watcher kills for 10 s at most, then removes the work directory).
        for _ in $(seq 150); do
                left=""
                for p in $(printf '%s\n' $procs $(pgrep -f -- "$work") | sort -u); do proc_runs "$p" && left+="$p "; done
                [ -z "$left" ] && [ ! -e "$work" ] && break
                sleep 0.1
        done
        if [ -n "$left" ]; then
                for p in $left; do echo "   still running: $(tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null)"; done
                kill -KILL $left 2>/dev/null || true
                die "kill -9 ($how): processes of the build still run: $left"
        fi
        [ -z "$(ls -A "$out")" ] || die "kill -9 ($how): the build left $(ls -A "$out")"
        echo "   $how: $(echo $procs | wc -w) processes gone, nothing left in the output directory"
done

note "a tree layer or [Agent] Source= holding the output directory is refused, nothing made"
# Layer=tree:. with -o ./out copied the work directory into itself until paths were too long.
mkdir -p "$T/selftree/etc"
echo hi >"$T/selftree/etc/hi"
printf '[Image]\nName=self\nVersion=1\nCompatible=c\n[Content]\nLayer=tree:.\n' >"$T/selftree/self.conf"
( cd "$T/selftree" && expect_fail "^abide-build: build: the output directory out is inside layer tree:$T/selftree/?\\.?: the build would copy itself into the image$" \
        "$B" build self.conf "${K[@]}" -o out )
[ ! -e "$T/selftree/out" ] || die "the refused build left $(find "$T/selftree/out" | head -3)"
sed 's|^Layer=tree:.*|Layer=tree:'"$T"'/example-copy/rootfs|' "$recipe" >"$T/self-agent.conf"
printf '[Agent]\nName=hello\nSource=%s\nExec=/usr/bin/hello\nHealth=/usr/bin/hello\n' "$T/selftree" >>"$T/self-agent.conf"
expect_fail "the output directory $T/selftree/out2 is inside \\[Agent\\] Source $T/selftree: " \
        "$B" build "$T/self-agent.conf" "${K[@]}" -o "$T/selftree/out2"
[ ! -e "$T/selftree/out2" ] || die "the refused build left $T/selftree/out2"

note "entries nested past PATH_MAX: refused, or failed; the work directory is removed either way"
python3 - "$T" <<'EOF'
import io, sys, tarfile
for name, path in (("deep-refused", "/".join(["d" * 200] * 25) + "/file"),
                   ("deep-staged", "/".join(["d" * 200] * 20) + "/" + "e" * 60)):
    with tarfile.open(f"{sys.argv[1]}/{name}.tar", "w", format=tarfile.PAX_FORMAT) as tf:
        data = b"x\n"; info = tarfile.TarInfo(path); info.size = len(data); tf.addfile(info, io.BytesIO(data))
EOF
for n in deep-refused deep-staged; do
        sed 's|^Layer=tree:.*|Layer=tar:'"$T/$n"'.tar|' "$recipe" >"$T/$n.conf"
done
expect_fail "layer tar:$T/deep-refused.tar: entry 'd{64}\.\.\.': its path in the image is longer than 4095 bytes$" \
        "$B" build "$T/deep-refused.conf" "${K[@]}" -o "$T/out-deep-refused"
# Short enough for the image, too long with the work directory in front: staged, then the build fails.
expect_fail "cannot stat $T/out-deep-staged/" "$B" build "$T/deep-staged.conf" "${K[@]}" -o "$T/out-deep-staged"
for n in deep-refused deep-staged; do
        [ -z "$(ls -A "$T/out-$n")" ] || die "$n: the failed build left $(ls -A "$T/out-$n")"
done

note "bad input: one line, non-zero, nothing written"
expect_fail "No such file|recipe" "$B" build "$T/missing.conf" "${K[@]}" -o "$T/bad1"
expect_fail "signing.key|key" "$B" build "$recipe" --key "$T/nokey" --cert "$T/keys/signing.crt" -o "$T/bad2"
expect_fail "key|cert" "$B" build "$recipe" --key "$T/keys/signing.crt" --cert "$T/keys/signing.key" -o "$T/bad3"
printf '[Image]\nName=x\n' >"$T/incomplete.conf"
expect_fail "incomplete.conf" "$B" build "$T/incomplete.conf" "${K[@]}" -o "$T/bad4"
SOURCE_DATE_EPOCH=yesterday expect_fail "SOURCE_DATE_EPOCH" "$B" build "$recipe" "${K[@]}" -o "$T/bad5"
expect_fail "expected one" "$B" build "${K[@]}"
# Every verb: a missing value is not an unknown option, one line (not getopt's as well), the option as written.
expect_fail "^abide-build: build: option '--key' needs a value \(see abide-build build --help\)$" "$B" build "$recipe" --key
expect_fail "^abide-build: build: option '-o' needs a value \(see abide-build build --help\)$" "$B" build "$recipe" "${K[@]}" -o
expect_fail "^abide-build: build: unknown option '--bogus' \(see abide-build build --help\)$" "$B" build "$recipe" --bogus
expect_fail "^abide-build: inspect: option '--cert' needs a value \(see abide-build inspect --help\)$" "$B" inspect x.abide --cert
expect_fail "^abide-build: inspect: option '--json' takes no value \(see abide-build inspect --help\)$" "$B" inspect x.abide --json=1
expect_fail "^abide-build: disk: option '--size' needs a value \(see abide-build disk --help\)$" "$B" disk x.abide --size
expect_fail "^abide-build: channel: option '--key' needs a value \(see abide-build channel --help\)$" "$B" channel init "$T/nochan" --key
expect_fail "^abide-build: channel: watch: option '--reports' needs a value \(see abide-build channel watch --help\)$" \
        "$B" channel watch "$T/nochan" --reports
[ ! -e "$T/nochan" ] || die "a refused option still wrote $T/nochan"
expect_fail "No such file" "$B" inspect "$T/nothing.abide"
expect_fail "^abide-build: build: $T: is a directory, not a recipe$" "$B" build "$T" "${K[@]}" -o "$T/bad12"
expect_fail "^abide-build: inspect: $T: bundle: is a directory$" "$B" inspect "$T"
# recipe errors name the file and line
printf '[Image]\nName=x\nVersion=1\nCompatible=c\n[Content]\nLayer=tree:%s\nColour=blue\n' "$ABIDE_SRCDIR/images/example/rootfs" >"$T/unknown-key.conf"
expect_fail "unknown-key.conf:7: .*Colour" "$B" build "$T/unknown-key.conf" "${K[@]}" -o "$T/bad7"
printf '[Image]\nName=x\nVersion=1\nCompatible=c\n[Content]\nLayer=zip:/x\n' >"$T/bad-value.conf"
expect_fail "bad-value.conf:6: .*Layer" "$B" build "$T/bad-value.conf" "${K[@]}" -o "$T/bad8"
printf '[Image]\nName=x\nVersion=1\nCompatible=c\n[Content]\nLayer=tree:/nonexistent/tree\n' >"$T/missing-file.conf"
expect_fail "missing-file.conf:6: .*nonexistent" "$B" build "$T/missing-file.conf" "${K[@]}" -o "$T/bad9"
printf '[Content]\nLayer=tree:%s\n' "$ABIDE_SRCDIR/images/example/rootfs" >"$T/no-image.conf"
expect_fail "no-image.conf.*Image" "$B" build "$T/no-image.conf" "${K[@]}" -o "$T/bad10"
printf '[Image]\nName=x\nVersion=1\nCompatible=c\n[Content]\nLayer=tree:/\n[Extra]\n' >"$T/unknown-section.conf"
expect_fail "unknown-section.conf:7: .*Extra" "$B" build "$T/unknown-section.conf" "${K[@]}" -o "$T/bad11"
for d in bad1 bad2 bad3 bad4 bad5 bad7 bad8 bad9 bad10 bad11; do
        [ -z "$(ls -A "$T/$d" 2>/dev/null)" ] || die "failed build left files in $d: $(ls -A "$T/$d")"
done
# a build that fails after its work directory exists (a corrupt tar layer) leaves nothing
tar -C "$ABIDE_SRCDIR/images/example" -cf "$T/layer.tar" rootfs
head -c 700 "$T/layer.tar" >"$T/broken.tar"
expect_fail "broken.tar" "$B" build "$recipe" "${K[@]}" -o "$T/bad6" --set "Content.Layer=tar:$T/broken.tar"
[ -z "$(ls -A "$T/bad6" 2>/dev/null)" ] || die "failed build left files in bad6"
echo "all build checks passed"
