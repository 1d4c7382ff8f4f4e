#!/bin/bash
# The boot.cmdline rule (docs/manifest.md): abide-build build refuses a recipe
# whose Cmdline could change the slot abide-init picks, with one line and no
# output; a bundle whose correctly signed manifest carries such a command line
# (or a key json-c would cut at \u0000) is refused by inspect and install.
source "$(dirname "$0")/lib.sh"
source "$(dirname "$0")/bootctl-lib.sh"
need openssl tar python3 mkfs.erofs veritysetup

B=$ABIDE_BUILD
recipe=$ABIDE_SRCDIR/recipes/example.conf
export SOURCE_DATE_EPOCH=1721362140
"$B" keygen -o "$T/keys" >/dev/null
K=(--key "$T/keys/signing.key" --cert "$T/keys/signing.crt")

note "build refuses the recipe, one line, nothing written"
n=0
for c in 'console=ttyS0 abide.slot=a --' 'abide.slot' 'quiet --' 'console="ttyS0"' "x='y'" 'a\b'; do
        n=$((n + 1))
        expect_fail "Boot.Cmdline must not (set abide.slot=|contain)" "$B" build "$recipe" "${K[@]}" -o "$T/bad$n" \
                --set "Boot.Cmdline=$c"
        [ -z "$(ls -A "$T/bad$n" 2>/dev/null)" ] || die "refused build left files in bad$n: $(ls -A "$T/bad$n")"
done
sed 's|^Layer=tree:|Layer=tree:'"$ABIDE_SRCDIR"'/recipes/|' "$recipe" >"$T/r.conf"
grep -q '^\[Boot\]' "$T/r.conf" || printf '[Boot]\n' >>"$T/r.conf"
printf 'Cmdline=console=ttyS0 abide.slot=b\n' >>"$T/r.conf"
line=$(grep -n '^Cmdline=' "$T/r.conf" | tail -1 | cut -d: -f1)
expect_fail "r.conf:$line: \[Boot\] Cmdline must not set abide.slot= \(abidectl adds it\)" \
        "$B" build "$T/r.conf" "${K[@]}" -o "$T/bad-file"
[ -z "$(ls -A "$T/bad-file" 2>/dev/null)" ] || die "refused build left files: $(ls -A "$T/bad-file")"

note "a good bundle, then its manifest rewritten and signed again with the release key"
bundle=$("$B" build "$recipe" "${K[@]}" -o "$T/out")
"$B" inspect "$bundle" --cert "$T/keys/ca.pem" | grepq "Signature: *verified" || die "good bundle not verified"
mkdir "$T/x"
tar -xf "$bundle" -C "$T/x"
members=$(tar -tf "$bundle")

grep -q '"cmdline": ""' "$T/x/manifest.json" || die "no empty cmdline in $(cat "$T/x/manifest.json")"
# resign NAME PYTHON-EXPR [ARG]: $T/NAME.abide with manifest.json = EXPR over its text (ARG is
# sys.argv[3]), freshly signed with the release key.
resign() {
        local name=$1 expr=$2 arg=${3:-} d=$T/$1
        cp -a "$T/x" "$d"
        python3 -c 'import json, sys; p=sys.argv[1]; text=open(p).read(); open(p, "w").write(eval(sys.argv[2]))' \
                "$d/manifest.json" "$expr" "$arg"
        cmp -s "$T/x/manifest.json" "$d/manifest.json" && die "$name: manifest unchanged"
        openssl cms -sign -binary -outform DER -signer "$T/keys/signing.crt" -inkey "$T/keys/signing.key" \
                -in "$d/manifest.json" -out "$d/manifest.json.sig" || die "openssl cms -sign"
        openssl cms -verify -binary -inform DER -in "$d/manifest.json.sig" -content "$d/manifest.json" \
                -CAfile "$T/keys/ca.pem" -out /dev/null 2>/dev/null || die "$name: the new signature does not verify"
        # shellcheck disable=SC2086
        (cd "$d" && tar --format=pax -cf "$T/$name.abide" $members)
}
# with_cmdline VALUE: a Python expression putting VALUE (JSON-encoded) in boot.cmdline.
with_cmdline() { printf 'text.replace(%s, %s)' "'\"cmdline\": \"\"'" "'\"cmdline\": ' + json.dumps(sys.argv[3])"; }
# The attack: slot b's entry would read "options console=ttyS0 abide.slot=a -- abide.slot=b".
resign slot "$(with_cmdline)" 'console=ttyS0 abide.slot=a --'
resign dashes "$(with_cmdline)" 'console=ttyS0 --'
resign quote "$(with_cmdline)" 'x="a b"'
resign tab "$(with_cmdline)" $'a\tb'
resign nulkey 'text.replace("\"name\":", "\"name\\u0000x\":")'
resign dupkey 'text.replace("\"name\":", "\"version\": \"9.9\", \"name\":")'
# The neighbours pass, which shows the re-signing itself is sound.
resign fine "$(with_cmdline)" 'console=ttyS0 panic=5 abide.slotx=1'
"$B" inspect "$T/fine.abide" --cert "$T/keys/ca.pem" | grepq "Cmdline: *console=ttyS0 panic=5 abide.slotx=1" ||
        die "re-signed manifest with an accepted cmdline refused"

expect_fail "manifest: boot.cmdline must not set abide.slot= \(abidectl adds it\)" \
        "$B" inspect "$T/slot.abide" --cert "$T/keys/ca.pem"
expect_fail "manifest: boot.cmdline must not set abide.slot=" "$B" inspect "$T/slot.abide"
expect_fail "manifest: boot.cmdline must not contain a '--' word" "$B" inspect "$T/dashes.abide" --cert "$T/keys/ca.pem"
expect_fail "manifest: boot.cmdline must not contain a quote character" "$B" inspect "$T/quote.abide" --cert "$T/keys/ca.pem"
expect_fail "manifest: boot.cmdline must not contain control character 0x09" "$B" inspect "$T/tab.abide" --cert "$T/keys/ca.pem"
expect_fail "manifest: byte [0-9]+: an object key contains a NUL character" "$B" inspect "$T/nulkey.abide" --cert "$T/keys/ca.pem"
expect_fail "manifest: not valid JSON: an object has a duplicate key" "$B" inspect "$T/dupkey.abide" --cert "$T/keys/ca.pem"

note "abidectl install refuses them and writes nothing"
make_device
mkdir -p "$T/keys-dev" && cp "$T/keys/ca.pem" "$T/keys-dev/ca.pem"
printf 'Keys=%s\n' "$T/keys-dev" >"$T/keys.conf"
sed -i "/^\[Paths\]/r $T/keys.conf" "$T/abide.conf"
export EFIVARFS_PATH=$T/efivars/
loader_boot a
sha256sum "$T"/*-b.img >"$T/b.before"
for name in slot dashes nulkey; do
        pat="boot.cmdline must not set abide.slot="
        [ $name = dashes ] && pat="boot.cmdline must not contain a '--' word"
        [ $name = nulkey ] && pat="an object key contains a NUL character"
        expect_fail "install: .*$pat" "$ABIDECTL" install "$T/$name.abide"
        expect_fail "$pat" "$ABIDECTL" install - <"$T/$name.abide"
done
sha256sum -c --quiet "$T/b.before" || die "a refused install wrote slot b"
! ls "$ENTRIES" | grepq '^abide-b' || die "a refused install left an entry for b: $(ls "$ENTRIES")"
echo "refused $n recipes and 6 re-signed manifests"
