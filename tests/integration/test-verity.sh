#!/bin/bash
# verity_format() must write exactly what `veritysetup format` writes (root
# hash and hash file, superblock included), and verity_verify() must accept
# good images and refuse corrupt ones, for sizes whose hash tree ends in a
# partial block at each level (128 sha256 hashes fit a 4096-byte block).
. "$(dirname "$0")/lib.sh"

need veritysetup mkfs.erofs cmp truncate dd mount
H=${ABIDE_TEST_HELPERS:?}/helper-verity
[ -x "$H" ] || die "helper $H not built"

BS=4096

# make_image PATH BLOCKS: sparse, with distinct random blocks at the start,
# the end and on level boundaries, so tree blocks differ from each other.
make_image() {
        local path=$1 blocks=$2 b
        truncate -s $((blocks * BS)) "$path"
        for b in 0 1 127 128 129 16383 16384 $((blocks / 2)) $((blocks - 1)); do
                [ "$b" -lt "$blocks" ] || continue
                dd if=/dev/urandom of="$path" bs=$BS seek="$b" count=1 conv=notrunc status=none
        done
}

# check_against_veritysetup IMAGE BLOCKS [--salt HEX --uuid UUID]
check_against_veritysetup() {
        local img=$1 blocks=$2; shift 2
        local out root salt uuid n ref_root
        out=$("$H" format "$img" "$img.ours" "$@") || die "format of $img failed"
        read -r root salt uuid n <<<"$out"
        [ "$n" = "$blocks" ] || die "$img: data_blocks $n, expected $blocks"
        [ ${#root} -eq 64 ] || die "$img: root hash '$root' is not sha256 hex"

        ref_root=$(veritysetup format --hash=sha256 --data-block-size=$BS --hash-block-size=$BS \
                        --format=1 --salt="$salt" --uuid="$uuid" "$img" "$img.ref" |
                   sed -n 's/^Root hash:[[:space:]]*//p')
        [ -n "$ref_root" ] || die "$img: veritysetup printed no root hash"
        [ "$root" = "$ref_root" ] || die "$img: root hash $root, veritysetup says $ref_root"
        same_file "$img.ours" "$img.ref"
        veritysetup verify "$img" "$img.ours" "$root" || die "$img: veritysetup verify refused our hash file"
        "$H" verify "$img" "$img.ours" "$root" --salt "$salt" --uuid "$uuid" --data-blocks "$n" >/dev/null ||
                die "$img: our verify refused a good image"
        echo "   $blocks blocks: $root"
        rm -f "$img.ref"
        last_root=$root last_salt=$salt last_uuid=$uuid last_blocks=$n
}

note "root hash and hash file equal veritysetup's"
for blocks in 1 2 127 128 129 16383 16384 16385 $((16384 * 2 + 1)); do
        make_image "$T/img-$blocks" "$blocks"
        check_against_veritysetup "$T/img-$blocks" "$blocks"
        # Derived parameters: the same image formats to the same bytes.
        mv "$T/img-$blocks.ours" "$T/img-$blocks.first"
        "$H" format "$T/img-$blocks" "$T/img-$blocks.ours" >/dev/null
        same_file "$T/img-$blocks.first" "$T/img-$blocks.ours"
        rm -f "$T/img-$blocks.first" "$T/img-$blocks.ours"
        [ "$blocks" -le 129 ] || rm -f "$T/img-$blocks"
done

note "explicit salt and UUID are used"
check_against_veritysetup "$T/img-129" 129 --salt 00112233445566778899aabbccddeeff \
        --uuid 12345678-9abc-4def-8123-456789abcdef
[ "$last_salt" = 00112233445566778899aabbccddeeff ] || die "salt not taken: $last_salt"
[ "$last_uuid" = 12345678-9abc-4def-8123-456789abcdef ] || die "uuid not taken: $last_uuid"
derived=$("$H" format "$T/img-129" "$T/img-129.d")
[ "${derived%% *}" != "$last_root" ] || die "a different salt gave the same root hash"
rm -f "$T/img-129.ours" "$T/img-129.d"

note "different content gives different salt and UUID"
a=$("$H" format "$T/img-128" "$T/a.hash")
cp "$T/img-128" "$T/img-128b"
flip_byte "$T/img-128b" 5000
b=$("$H" format "$T/img-128b" "$T/b.hash")
[ "$(cut -d' ' -f2,3 <<<"$a")" != "$(cut -d' ' -f2,3 <<<"$b")" ] || die "salt/uuid did not change with the content"
rm -f "$T/a.hash" "$T/b.hash" "$T/img-128b"

note "a real erofs image"
mkdir -p "$T/tree/etc" "$T/tree/usr/bin"
echo hello >"$T/tree/etc/motd"
head -c 300000 /dev/urandom >"$T/tree/usr/bin/blob"
mkfs.erofs --quiet "$T/erofs.img" "$T/tree" >/dev/null
erofs_blocks=$(( $(stat -c %s "$T/erofs.img") / BS ))
check_against_veritysetup "$T/erofs.img" "$erofs_blocks"

note "an existing hash file is replaced, not patched"
head -c $((1024 * 1024)) /dev/urandom >"$T/erofs.img.ours"
check_against_veritysetup "$T/erofs.img" "$erofs_blocks"

# check_derived IMAGE BLOCKS [RUNNER...]: abide-build's one pass (the leaves through
# lib/crypto/sha256-many, the tree from them, the UUID from the image's SHA-256) must
# write what veritysetup writes for the same salt and UUID.
check_derived() {
        local img=$1 blocks=$2 out root salt uuid n how ref_root; shift 2
        out=$("$@" "$H" format-derived "$img" "$img.derived" --salt 5a17) || die "format-derived of $img failed"
        read -r root salt uuid n how <<<"$out"
        [ "$how" = one-pass ] && [ "$n" = "$blocks" ] || die "$img: format-derived said '$out'"
        ref_root=$(veritysetup format --hash=sha256 --data-block-size=$BS --hash-block-size=$BS \
                        --format=1 --salt="$salt" --uuid="$uuid" "$img" "$img.ref" |
                   sed -n 's/^Root hash:[[:space:]]*//p')
        [ "$root" = "$ref_root" ] || die "$img: one-pass root hash $root, veritysetup says $ref_root"
        same_file "$img.derived" "$img.ref"
        echo "   $blocks blocks, one pass${1:+, intel-ipsec-mb hidden}: $root"
        rm -f "$img.ref" "$img.derived"
}

note "abide-build's one pass equals veritysetup"
for blocks in 2 129 16385; do
        make_image "$T/derived-$blocks" "$blocks"
        check_derived "$T/derived-$blocks" "$blocks"
done

note "the trees built from leaves, with intel-ipsec-mb hidden (OpenSSL hashes the leaves)"
# lib/crypto/sha256-many.c opens intel-ipsec-mb at run time where it is installed and the
# CPU has the lanes: the unit tests (test-verity-tree, test-verity: trees built from
# leaves against libcryptsetup's) ran with them. Here /dev/null is bound over the
# library in a private mount namespace, so that it cannot be loaded there, and the same
# tests run on OpenSSL; test-sha256-many checks that the fallback happened.
if [ "$(uname -m)" = x86_64 ]; then
        need unshare ldconfig
        without=$(dirname "$0")/without-ipsec-mb.sh
        for t in test-sha256-many test-verity-tree test-verity; do
                ABIDE_TEST_NO_IPSEC_MB=1 "$without" "$ABIDE_BUILDDIR/tests/unit/$t" >"$T/hidden-$t.log" 2>&1 ||
                        die "$t with intel-ipsec-mb hidden failed: $(grep -m1 -E 'FAIL|rror' "$T/hidden-$t.log")"
                echo "   $t: $(grep -m1 -E 'PASSED' "$T/hidden-$t.log")"
        done
        grep "intel-ipsec-mb hidden; auto runs openssl" "$T/hidden-test-sha256-many.log" ||
                die "the hidden run did not fall back to OpenSSL"
        for blocks in 129 16385; do
                check_derived "$T/derived-$blocks" "$blocks" "$without"
        done
else
        echo "   $(uname -m): no intel-ipsec-mb lanes here; OpenSSL ran the unit tests"
fi

note "our verify refuses corruption"
img=$T/img-16385
make_image "$img" 16385
check_against_veritysetup "$img" 16385
good=(--salt "$last_salt" --uuid "$last_uuid" --data-blocks "$last_blocks")
root=$last_root
# Data: first block, a block in the middle, the last block.
for off in 0 $((8000 * BS + 17)) $((16385 * BS - 1)); do
        cp "$img" "$T/bad.img"
        flip_byte "$T/bad.img" "$off"
        expect_fail "does not match .*Verification of data area failed" \
                "$H" verify "$T/bad.img" "$img.ours" "$root" "${good[@]}"
done
rm -f "$T/bad.img"
# Hash file layout: superblock in block 0, then the tree from the top level
# down: root block (1), level-1 blocks (2..3), leaf blocks (4..132).
for off in $((1 * BS + 5)) $((2 * BS + 100)) $((4 * BS)) $((132 * BS + BS - 1)); do
        cp "$img.ours" "$T/bad.hash"
        flip_byte "$T/bad.hash" "$off"
        expect_fail "does not match" "$H" verify "$img" "$T/bad.hash" "$root" "${good[@]}"
done
# The superblock: salt (offset 88) and data block count (offset 72).
cp "$img.ours" "$T/bad.hash"
flip_byte "$T/bad.hash" 90
expect_fail "salt in .* differs" "$H" verify "$img" "$T/bad.hash" "$root" "${good[@]}"
cp "$img.ours" "$T/bad.hash"
flip_byte "$T/bad.hash" 72
expect_fail "covers [0-9]+ data blocks, expected 16385" "$H" verify "$img" "$T/bad.hash" "$root" "${good[@]}"
cp "$img.ours" "$T/bad.hash"
flip_byte "$T/bad.hash" 0
expect_fail "no valid superblock" "$H" verify "$img" "$T/bad.hash" "$root" "${good[@]}"
# Wrong expectations against a good hash file.
wrong_root=${root:0:63}$([ "${root:63}" = 0 ] && echo 1 || echo 0)
expect_fail "does not match .*Verification of root hash failed" "$H" verify "$img" "$img.ours" "$wrong_root" "${good[@]}"
expect_fail "expected 16384" "$H" verify "$img" "$img.ours" "$root" --salt "$last_salt" --uuid "$last_uuid" --data-blocks 16384
expect_fail "UUID of .* expected" "$H" verify "$img" "$img.ours" "$root" --salt "$last_salt" \
        --uuid 12345678-9abc-4def-8123-456789abcdef --data-blocks 16385
# A truncated image: blocks missing at the end.
cp "$img" "$T/short.img"
truncate -s $((16384 * BS)) "$T/short.img"
expect_fail "short.img holds 16384 blocks, expected 16385" "$H" verify "$T/short.img" "$img.ours" "$root" "${good[@]}"
rm -f "$T/bad.hash" "$T/short.img" "$img" "$img.ours"

note "bad inputs: one-line error, no hash file left"
P=(--salt "$last_salt" --uuid "$last_uuid")
mkdir "$T/out"
expect_no_output() {
        [ -z "$(ls -A "$T/out")" ] || die "left behind in $T/out: $(ls -A "$T/out")"
}
head -c $((BS + 1)) /dev/urandom >"$T/odd.img"
expect_fail "size of .*odd.img \(4097 bytes\) is not a multiple of the block size 4096" \
        "$H" format "$T/odd.img" "$T/out/h" "${P[@]}"
expect_no_output
head -c $((BS - 1)) /dev/urandom >"$T/small.img"
expect_fail "not a multiple of the block size" "$H" format "$T/small.img" "$T/out/h" "${P[@]}"
expect_no_output
: >"$T/empty.img"
expect_fail "empty.img is empty" "$H" format "$T/empty.img" "$T/out/h" "${P[@]}"
expect_no_output
expect_fail "cannot open data file .*missing.img: No such file" "$H" format "$T/missing.img" "$T/out/h" "${P[@]}"
expect_no_output
expect_fail "not a regular file or block device" "$H" format "$T/tree" "$T/out/h" "${P[@]}"
expect_no_output
expect_fail "cannot create hash file .*nodir/h: No such file" "$H" format "$T/img-1" "$T/out/nodir/h" "${P[@]}"
expect_no_output
mkdir "$T/out/isdir"
expect_fail "cannot write hash file .*isdir: Is a directory" "$H" format "$T/img-1" "$T/out/isdir" "${P[@]}"
[ "$(ls -A "$T/out")" = isdir ] && [ -z "$(ls -A "$T/out/isdir")" ] || die "left behind in $T/out: $(ls -A "$T/out")"
rmdir "$T/out/isdir"
# Root ignores permission bits, so take a read-only mount.
mkdir "$T/ro"
mount -t tmpfs -o ro,size=1M abide-test "$T/ro" || die "cannot mount a read-only tmpfs"
cleanup_hooks+=("umount '$T/ro'")
expect_fail "cannot create hash file .*ro/h: Read-only file system" "$H" format "$T/img-1" "$T/ro/h" "${P[@]}"
[ -z "$(ls -A "$T/ro")" ] || die "left behind in $T/ro"
# The hash file fills the disk midway: nothing may stay behind.
mkdir "$T/tiny"
mount -t tmpfs -o size=64k abide-test "$T/tiny" || die "cannot mount a small tmpfs"
cleanup_hooks+=("umount '$T/tiny'")
make_image "$T/img-big" 16385
expect_fail "hash file|format" "$H" format "$T/img-big" "$T/tiny/h" "${P[@]}"
[ -z "$(ls -A "$T/tiny")" ] || die "left behind in $T/tiny: $(ls -A "$T/tiny")"

echo "all verity checks passed"
