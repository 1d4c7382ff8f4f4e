#!/bin/bash
# abide-build channel: init, add, rollout, halt, resume, show on a channel
# directory. Every change grows the serial by one and is signed so that
# openssl verifies it; every bad input fails with one line and leaves the
# channel byte-identical (docs/channel.md). A change verifies the current
# channel.json against --ca first: tampered, unsigned, foreign-signed,
# without --ca: refused, nothing written; and --ca must verify the new one.
# A channel's signed name (init --name, refresh --name on an unnamed one,
# never renamed) and expiry (--expires-in DAYS, renewed with the same
# validity by every change, --no-expires) are kept by every change.
source "$(dirname "$0")/lib.sh"
need openssl tar python3 sha256sum mkfs.erofs veritysetup

B=$ABIDE_BUILD
recipe=$ABIDE_SRCDIR/recipes/example.conf
export SOURCE_DATE_EPOCH=1721362140
D=$T/ch

note "keys and bundles (2.0 and 3.0 at security version 2, 1.5 at 1; one from another CA)"
"$B" keygen -o "$T/keys" >/dev/null
"$B" keygen -o "$T/other" >/dev/null
K=(--key "$T/keys/signing.key" --cert "$T/keys/signing.crt")
CA=(--ca "$T/keys/ca.pem")
b20=$("$B" build "$recipe" "${K[@]}" -o "$T/b" --set Image.Version=2.0 --set Image.SecurityVersion=2)
b30=$("$B" build "$recipe" "${K[@]}" -o "$T/b" --set Image.Version=3.0 --set Image.SecurityVersion=2)
b15=$("$B" build "$recipe" "${K[@]}" -o "$T/b" --set Image.Version=1.5 --set Image.SecurityVersion=1)
bother=$("$B" build "$recipe" --key "$T/other/signing.key" --cert "$T/other/signing.crt" -o "$T/o" \
        --set Image.Version=9.0 --set Image.SecurityVersion=9)
COMPAT=abide-example-x86_64

# field NAME [COMPATIBLE]: a top-level field, or one of COMPATIBLE's release.
field() {
        python3 - "$D/channel.json" "$@" <<'EOF'
import json, sys
c = json.load(open(sys.argv[1]))
if len(sys.argv) == 3:
    v = c.get(sys.argv[2])
else:
    rel = [r for r in c["releases"] if r["compatible"] == sys.argv[3]]
    v = rel[0].get(sys.argv[2]) if rel else "NO-RELEASE"
print(json.dumps(v) if not isinstance(v, str) else v)
EOF
}

verify_sig() {
        openssl cms -verify -binary -inform DER -in "$D/channel.json.sig" -content "$D/channel.json" \
                -CAfile "$T/keys/ca.pem" -purpose any -out /dev/null 2>"$T/cms.err" ||
                die "openssl cms rejects channel.json.sig: $(cat "$T/cms.err")"
}

serial=0
# changed: the serial grew by exactly one, the signature verifies, nothing temporary is left.
changed() {
        local s
        s=$(field serial)
        [ "$s" = $((serial + 1)) ] || die "serial $s after a change from $serial"
        serial=$s
        verify_sig
        [ -z "$(find "$D" -maxdepth 1 -name '.#*')" ] || die "temporary files left in $D: $(ls -a "$D")"
}

note "init: an empty signed channel, serial 1"
"$B" channel init "$D" "${K[@]}" >/dev/null
changed
[ "$(field releases)" = "[]" ] || die "init: releases $(field releases)"
[ "$(field updated)" = "$SOURCE_DATE_EPOCH" ] || die "init: updated is not SOURCE_DATE_EPOCH"
st=$(cms_signing_time "$D/channel.json.sig")
[ "$st" = "$SOURCE_DATE_EPOCH" ] || die "init: channel.json.sig signingTime $st, not SOURCE_DATE_EPOCH"
[ "$(field format)" = 1 ] || die "init: format"
expect_fail "already exists" "$B" channel init "$D" "${K[@]}"
[ "$(field serial)" = 1 ] || die "a second init changed the channel"

note "add --copy --stages --window: fields from the verified bundle"
"$B" channel add "$D" "$b20" "${K[@]}" "${CA[@]}" --copy --stages 1,10,50,100 --window 22:00-04:00 >/dev/null
changed
want_sha=$(tar -xOf "$b20" manifest.json | sha256sum | cut -d' ' -f1)
[ "$(field manifest_sha256 $COMPAT)" = "$want_sha" ] || die "manifest_sha256 is not the SHA-256 of manifest.json as stored"
[ "$(field size $COMPAT)" = "$(stat -c %s "$b20")" ] || die "size"
[ "$(field version $COMPAT)" = 2.0 ] || die "version"
[ "$(field security_version $COMPAT)" = 2 ] || die "security_version"
[ "$(field bundle $COMPAT)" = "bundles/$(basename "$b20")" ] || die "bundle path $(field bundle $COMPAT)"
same_file "$b20" "$D/bundles/$(basename "$b20")"
[ "$(field percent $COMPAT)" = 1 ] || die "the first stage is the starting percentage"
[ "$(field stages $COMPAT)" = "[1, 10, 50, 100]" ] || die "stages $(field stages $COMPAT)"
[ "$(field window $COMPAT)" = "22:00-04:00" ] || die "window"
[ "$(field halted $COMPAT)" = false ] || die "halted"
[ "$(field published $COMPAT)" = "$SOURCE_DATE_EPOCH" ] || die "published"

"$B" channel add "$D" "$b20" "${K[@]}" "${CA[@]}" --copy --stages 1,10,50,100 --window 22:00-04:00 >/dev/null
changed
same_file "$b20" "$D/bundles/$(basename "$b20")"

note "canonical: parsing and re-serialising (show --json) gives the signed bytes"
"$B" channel show "$D" "${CA[@]}" --json >"$T/show.json"
python3 - "$T/show.json" "$D/channel.json" <<'EOF' || die "show --json disagrees with channel.json"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["verified"] is True and "abide demo" in s["signer"], s
assert s["channel"] == json.load(open(sys.argv[2]))
EOF
"$B" channel show "$D" "${CA[@]}" | grepq "^Signature: verified" || die "show --ca does not say verified"
"$B" channel show "$D" | grepq "^Signature: not verified" || die "show without --ca claims a verification"

note "add without --copy: the path relative to DIR; outside DIR it needs --copy or --url"
mkdir -p "$D/pool"
cp "$b30" "$D/pool/"
"$B" channel add "$D" "$D/pool/$(basename "$b30")" "${K[@]}" "${CA[@]}" --percent 5 >/dev/null
changed
[ "$(field bundle $COMPAT)" = "pool/$(basename "$b30")" ] || die "relative bundle path $(field bundle $COMPAT)"
[ "$(field version $COMPAT)" = 3.0 ] || die "add did not replace the release"
[ "$(field stages $COMPAT)" = "[]" ] || die "stages of the replaced release kept"
[ "$(field window $COMPAT)" = null ] || die "window of the replaced release kept"
[ "$(field percent $COMPAT)" = 5 ] || die "--percent"
[ "$(python3 -c 'import json,sys; print(len(json.load(open(sys.argv[1]))["releases"]))' "$D/channel.json")" = 1 ] ||
        die "one release per compatible"

note "add --url"
"$B" channel add "$D" "$b30" "${K[@]}" "${CA[@]}" --url https://cdn.example/os/3.0.abide >/dev/null
changed
[ "$(field bundle $COMPAT)" = https://cdn.example/os/3.0.abide ] || die "--url"
[ "$(field percent $COMPAT)" = 100 ] || die "default percentage without --stages is 100"

note "rollout, halt, resume"
"$B" channel rollout "$D" $COMPAT 25 "${K[@]}" "${CA[@]}" >/dev/null
changed
[ "$(field percent $COMPAT)" = 25 ] || die "rollout 25"
"$B" channel rollout "$D" $COMPAT 12.5 "${K[@]}" "${CA[@]}" >/dev/null
changed
[ "$(field percent $COMPAT)" = 12.5 ] || die "rollout 12.5"
"$B" channel halt "$D" $COMPAT --reason "3 of 40 rolled back" "${K[@]}" "${CA[@]}" >/dev/null
changed
[ "$(field halted $COMPAT)" = true ] || die "halt"
[ "$(field halt_reason $COMPAT)" = "3 of 40 rolled back" ] || die "halt reason"
"$B" channel show "$D" | grepq "HALTED: 3 of 40 rolled back" || die "show does not say halted"
"$B" channel resume "$D" $COMPAT "${K[@]}" "${CA[@]}" >/dev/null
changed
[ "$(field halted $COMPAT)" = false ] || die "resume"
[ "$(field halt_reason $COMPAT)" = null ] || die "resume kept the halt reason"
[ "$(field percent $COMPAT)" = 12.5 ] || die "resume changed the percentage"

note "updated is the clock without SOURCE_DATE_EPOCH"
before=$(date +%s)
SOURCE_DATE_EPOCH= "$B" channel rollout "$D" $COMPAT 20 "${K[@]}" "${CA[@]}" >/dev/null
changed
u=$(field updated)
[ "$u" -ge "$before" ] && [ "$u" -le "$(date +%s)" ] || die "updated $u is not now"
st=$(cms_signing_time "$D/channel.json.sig")
[ "$st" = "$u" ] || die "channel.json.sig signingTime $st, updated $u"

note "security version: lower refused, --force publishes it"
cp "$D/channel.json" "$T/before.json"
cp "$D/channel.json.sig" "$T/before.sig"
expect_fail "security version 1 < 2 .*--force" "$B" channel add "$D" "$b15" "${K[@]}" "${CA[@]}" --copy
same_file "$D/channel.json" "$T/before.json"
[ ! -e "$D/bundles/$(basename "$b15")" ] || die "a refused add left its bundle copy"
"$B" channel add "$D" "$b15" "${K[@]}" "${CA[@]}" --copy --force >/dev/null
changed
[ "$(field version $COMPAT)" = 1.5 ] || die "--force"

note "concurrent publishers serialise on the directory lock"
pids=()
for p in 1 2 3 4 5; do
        "$B" channel rollout "$D" $COMPAT $p "${K[@]}" "${CA[@]}" >/dev/null &
        pids+=($!)
done
for p in "${pids[@]}"; do wait "$p" || die "a concurrent rollout failed"; done
[ "$(field serial)" = $((serial + 5)) ] || die "concurrent changes lost: serial $(field serial), want $((serial + 5))"
serial=$((serial + 5))
verify_sig

note "bad inputs: one line, non-zero, channel byte-identical"
cp "$D/channel.json" "$T/before.json"
cp "$D/channel.json.sig" "$T/before.sig"
snapshot() { find "$D" -printf '%p %y %s %T@ %m\n' | sort; }
echo "another build" >"$D/bundles/$(basename "$b30")"
snapshot >"$T/before.ls"
mkdir "$T/u"
tar -xf "$b20" -C "$T/u"
(cd "$T/u" && tar --format=gnu -cf "$T/unsigned.abide" manifest.json root.img root.verity root.verity-sig)
head -c 3000 "$b20" >"$T/truncated.abide"
echo "not a bundle" >"$T/garbage.abide"
cp "$b20" "$T/flipped.abide"
flip_byte "$T/flipped.abide" $((512 + 100))
unchanged() {
        same_file "$D/channel.json" "$T/before.json"
        same_file "$D/channel.json.sig" "$T/before.sig"
        snapshot | cmp -s - "$T/before.ls" || die "the channel directory changed: $(snapshot | diff "$T/before.ls" -)"
}
bad() { expect_fail "$@"; unchanged; }
bad "exists with other content; not replaced" "$B" channel add "$D" "$b30" "${K[@]}" "${CA[@]}" --copy
bad "unsigned.abide.*manifest.json.sig" "$B" channel add "$D" "$T/unsigned.abide" "${K[@]}" "${CA[@]}" --copy
bad "truncated.abide" "$B" channel add "$D" "$T/truncated.abide" "${K[@]}" "${CA[@]}" --copy
bad "garbage.abide" "$B" channel add "$D" "$T/garbage.abide" "${K[@]}" "${CA[@]}" --copy
bad "flipped.abide" "$B" channel add "$D" "$T/flipped.abide" "${K[@]}" "${CA[@]}" --copy
bad "not trusted|signature" "$B" channel add "$D" "$bother" "${K[@]}" "${CA[@]}" --copy
bad "no-such.abide" "$B" channel add "$D" "$T/no-such.abide" "${K[@]}" "${CA[@]}"
bad "not inside .*--copy or --url" "$B" channel add "$D" "$b20" "${K[@]}" "${CA[@]}"
bad "--ca CA is required" "$B" channel add "$D" "$b20" "${K[@]}" --copy
bad "--url and --copy" "$B" channel add "$D" "$b20" "${K[@]}" "${CA[@]}" --copy --url http://x/y
bad "--percent '101'" "$B" channel add "$D" "$b20" "${K[@]}" "${CA[@]}" --copy --percent 101
bad "--window '25:00-01:00'" "$B" channel add "$D" "$b20" "${K[@]}" "${CA[@]}" --copy --window 25:00-01:00
bad "--window '01:00-01:00'" "$B" channel add "$D" "$b20" "${K[@]}" "${CA[@]}" --copy --window 01:00-01:00
bad "--stages" "$B" channel add "$D" "$b20" "${K[@]}" "${CA[@]}" --copy --stages 10,5,100
bad "--stages" "$B" channel add "$D" "$b20" "${K[@]}" "${CA[@]}" --copy --stages 1,10,50
bad "does not belong to the key" "$B" channel rollout "$D" $COMPAT 50 --key "$T/other/signing.key" --cert "$T/keys/signing.crt"
bad "does not belong to the key" "$B" channel add "$D" "$b20" --key "$T/other/signing.key" --cert "$T/keys/signing.crt" "${CA[@]}" --copy
bad "--key and --cert" "$B" channel halt "$D" $COMPAT
bad "'101' is not a percentage" "$B" channel rollout "$D" $COMPAT 101 "${K[@]}" "${CA[@]}"
bad "'-1' is not a percentage|unknown option '-1'" "$B" channel rollout "$D" $COMPAT -1 "${K[@]}" "${CA[@]}"
bad "'1.234' is not a percentage" "$B" channel rollout "$D" $COMPAT 1.234 "${K[@]}" "${CA[@]}"
# The arguments are checked before the release is looked up or the key loaded.
bad "'150' is not a percentage" "$B" channel rollout "$D" nope 150 "${K[@]}" "${CA[@]}"
bad "'150' is not a percentage" "$B" channel rollout "$D" $COMPAT 150
bad "--reason: one line" "$B" channel halt "$D" nope --reason "$(printf 'two\nlines')" "${K[@]}" "${CA[@]}"
bad "no release for compatible 'nope'" "$B" channel rollout "$D" nope 50 "${K[@]}" "${CA[@]}"
bad "no release for compatible 'nope'" "$B" channel halt "$D" nope --reason x "${K[@]}" "${CA[@]}"
bad "no release for compatible 'nope'" "$B" channel resume "$D" nope "${K[@]}" "${CA[@]}"
bad "--reason: one line" "$B" channel halt "$D" $COMPAT --reason "$(printf 'two\nlines')" "${K[@]}" "${CA[@]}"
bad "expected DIR COMPATIBLE PERCENT" "$B" channel rollout "$D" $COMPAT "${K[@]}" "${CA[@]}"
bad "unknown subcommand" "$B" channel publish "$D" "${K[@]}"
bad "SOURCE_DATE_EPOCH" env SOURCE_DATE_EPOCH=yesterday "$B" channel rollout "$D" $COMPAT 50 "${K[@]}" "${CA[@]}"
expect_fail "$T/missing.*No such file" "$B" channel rollout "$T/missing" $COMPAT 50 "${K[@]}" "${CA[@]}"
expect_fail "$T/missing.*No such file" "$B" channel add "$T/missing" "$b20" "${K[@]}" "${CA[@]}" --copy
[ ! -e "$T/missing" ] || die "a failed change created the missing DIR"
expect_fail "no channel here" "$B" channel show "$T/keys"

note "a failed save leaves no bundle copy behind (signed by a key --ca does not trust: the copy was made)"
cp -a "$D" "$T/nosig"
rm "$T/nosig/bundles/$(basename "$b30")"
cp "$T/nosig/channel.json" "$T/nosig.json"
cp "$T/nosig/channel.json.sig" "$T/nosig.sig"
expect_fail "the new signature does not verify against the CA: signature not trusted" \
        "$B" channel add "$T/nosig" "$b30" --key "$T/other/signing.key" --cert "$T/other/signing.crt" "${CA[@]}" --copy
same_file "$T/nosig/channel.json" "$T/nosig.json"
same_file "$T/nosig/channel.json.sig" "$T/nosig.sig"
[ ! -e "$T/nosig/bundles/$(basename "$b30")" ] || die "a failed add left its bundle copy"
[ -z "$(find "$T/nosig" -name '.#*')" ] || die "a failed add left temporary files: $(find "$T/nosig" -name '.#*')"

note "show --ca refuses a tampered or foreign-signed channel"
cp -a "$D" "$T/tampered"
sed -i 's/"halted": false/"halted": true/' "$T/tampered/channel.json"
expect_fail "channel.json.sig.*(not match|signature)" "$B" channel show "$T/tampered" "${CA[@]}"
expect_fail "channel.json.sig.*(trusted|signature)" "$B" channel show "$D" --ca "$T/other/ca.pem"
openssl cms -verify -binary -inform DER -in "$T/tampered/channel.json.sig" -content "$T/tampered/channel.json" \
        -CAfile "$T/keys/ca.pem" -purpose any -out /dev/null 2>/dev/null && die "openssl accepts a tampered channel"
cp "$T/before.json" "$T/tampered/channel.json"
echo '{"format": 1, "serial": 1, "updated": 1, "releases": [], "extra": 1}' >"$T/tampered/channel.json"
expect_fail "extra: unknown key" "$B" channel show "$T/tampered"
expect_fail "channel.json.sig: not verified: signature" "$B" channel rollout "$T/tampered" $COMPAT 50 "${K[@]}" "${CA[@]}"

note "every change verifies the current channel against --ca before it signs again: refused, nothing written"
# tampered: one release's halt undone in DIR; the change would sign it again.
rm -rf "$T/tampered"
cp -a "$D" "$T/tampered"
D0=$D
D=$T/tampered
sed -i 's/"percent": [0-9.]*/"percent": 100/' "$D/channel.json"
grep -q '"percent": 100' "$D/channel.json" || die "the channel was not tampered with"
cp "$D/channel.json" "$T/before.json"
cp "$D/channel.json.sig" "$T/before.sig"
rm -f "$D/bundles/$(basename "$b30")"
snapshot >"$T/before.ls"
bad "tampered/channel.json.sig: not verified: signature does not match" "$B" channel rollout "$D" $COMPAT 50 "${K[@]}" "${CA[@]}"
bad "not verified: signature does not match" "$B" channel halt "$D" $COMPAT --reason x "${K[@]}" "${CA[@]}"
bad "not verified: signature does not match" "$B" channel resume "$D" $COMPAT "${K[@]}" "${CA[@]}"
bad "not verified: signature does not match" "$B" channel add "$D" "$b30" "${K[@]}" "${CA[@]}" --copy
bad "not verified: signature does not match" "$B" channel add "$D" "$b30" "${K[@]}" "${CA[@]}" --url https://x/y.abide
# Without --ca nothing can be verified: refused as well.
bad "rollout: --ca CA is required: the current $D/channel.json is verified against it before it is signed again$" \
        "$B" channel rollout "$D" $COMPAT 50 "${K[@]}"
bad "halt: --ca CA is required" "$B" channel halt "$D" $COMPAT "${K[@]}"
bad "resume: --ca CA is required" "$B" channel resume "$D" $COMPAT "${K[@]}"
bad "add: --ca CA is required: .* and so is the bundle" "$B" channel add "$D" "$b30" "${K[@]}" --url https://x/y.abide
# Signed, but not by a release signer of --ca: the other CA's key.
cp "$D0/channel.json" "$D/channel.json"
openssl cms -sign -binary -outform DER -in "$D/channel.json" -signer "$T/other/signing.crt" -inkey "$T/other/signing.key" \
        -out "$D/channel.json.sig" || die "openssl cms -sign"
cp "$D/channel.json" "$T/before.json"
cp "$D/channel.json.sig" "$T/before.sig"
snapshot >"$T/before.ls"
bad "not verified: signature not trusted" "$B" channel rollout "$D" $COMPAT 50 "${K[@]}" "${CA[@]}"
# The other way round: DIR's own, verified against another CA.
cp "$D0/channel.json.sig" "$D/channel.json.sig"
cp "$D/channel.json.sig" "$T/before.sig"
snapshot >"$T/before.ls"
bad "not verified: signature not trusted" "$B" channel rollout "$D" $COMPAT 50 "${K[@]}" --ca "$T/other/ca.pem"
# No signature at all.
rm "$D/channel.json.sig"
snapshot >"$T/before.ls"
for args in "rollout $D $COMPAT 50" "add $D $b30 --copy"; do
        # shellcheck disable=SC2086
        expect_fail "channel.json.sig: not verified: No such file" "$B" channel $args "${K[@]}" "${CA[@]}"
        same_file "$D/channel.json" "$T/before.json"
        snapshot | cmp -s - "$T/before.ls" || die "the channel directory changed: $(snapshot | diff "$T/before.ls" -)"
done
# A key --ca does not trust cannot sign, though the current channel verifies.
cp "$D0/channel.json.sig" "$D/channel.json.sig"
cp "$D/channel.json.sig" "$T/before.sig"
snapshot >"$T/before.ls"
bad "rollout: the new signature does not verify against the CA: signature not trusted" \
        "$B" channel rollout "$D" $COMPAT 50 --key "$T/other/signing.key" --cert "$T/other/signing.crt" "${CA[@]}"
bad "init: the new signature does not verify against the CA" \
        "$B" channel init "$T/newchan" --key "$T/other/signing.key" --cert "$T/other/signing.crt" "${CA[@]}"
[ ! -e "$T/newchan" ] || die "a failed init left its directory: $(ls -a "$T/newchan")"
# Both CAs (a publisher rotating to a new CA): the old signature verifies, the new one too.
cat "$T/keys/ca.pem" "$T/other/ca.pem" >"$T/both.pem"
"$B" channel rollout "$D" $COMPAT 50 --key "$T/other/signing.key" --cert "$T/other/signing.crt" --ca "$T/both.pem" >/dev/null
openssl cms -verify -binary -inform DER -in "$D/channel.json.sig" -content "$D/channel.json" \
        -CAfile "$T/other/ca.pem" -purpose any -out /dev/null 2>/dev/null || die "the rotated channel does not verify"
# What verifies is changed: the serial grew.
[ "$(field serial)" = $(( $(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' "$T/before.json") + 1 )) ] ||
        die "the verified change: serial $(field serial)"
"$B" channel init "$T/newchan" "${K[@]}" "${CA[@]}" >/dev/null
D=$D0

note "name and expiry: init --name --expires-in; every change keeps the name and renews the expiry"
D=$T/named
serial=0
E0=$SOURCE_DATE_EPOCH
"$B" channel init "$D" "${K[@]}" --name stable --expires-in 7 >"$T/out"
changed
[ "$(field name)" = stable ] || die "init --name: $(field name)"
[ "$(field expires)" = $((E0 + 7 * 86400)) ] || die "init --expires-in 7: $(field expires)"
grep -qx "$D/channel.json: serial 1, expires $((E0 + 7 * 86400))" "$T/out" || die "init's line: $(cat "$T/out")"
[ "$(head -4 "$D/channel.json" | tr -d '\n')" = "{  \"expires\": $((E0 + 7 * 86400)),  \"format\": 1,  \"name\": \"stable\"," ] ||
        die "the keys are not in canonical order: $(head -5 "$D/channel.json")"
"$B" channel show "$D" "${CA[@]}" >"$T/out"
grep -qx "Name:      stable" "$T/out" && grep -qx "Expires:   $((E0 + 7 * 86400)) (604800 s after the update)" "$T/out" ||
        die "show: $(cat "$T/out")"
"$B" channel show "$D" "${CA[@]}" --json >"$T/show.json"
python3 - "$T/show.json" "$D/channel.json" <<'PY' || die "show --json disagrees with channel.json"
import json, sys
s = json.load(open(sys.argv[1]))
assert s["verified"] is True and s["channel"] == json.load(open(sys.argv[2])) and s["channel"]["name"] == "stable", s
PY
# Each change a day later (the publisher's clock): the name stays, expires is 7 days after it.
day=0
step() {
        day=$((day + 1))
        SOURCE_DATE_EPOCH=$((E0 + day * 86400)) "$B" channel "$@" "${K[@]}" "${CA[@]}" >/dev/null || die "channel $* failed"
        changed
        [ "$(field name)" = stable ] || die "channel $1 lost the name: $(field name)"
        [ "$(field updated)" = $((E0 + day * 86400)) ] || die "channel $1: updated $(field updated)"
        [ "$(field expires)" = $((E0 + (day + 7) * 86400)) ] || die "channel $1 did not renew the expiry: $(field expires)"
}
step add "$D" "$b20" --copy
step rollout "$D" $COMPAT 50
step halt "$D" $COMPAT --reason x
step resume "$D" $COMPAT
step refresh "$D"
step refresh "$D" --name stable
# --expires-in on any change sets a new validity, which later changes keep.
SOURCE_DATE_EPOCH=$((E0 + 10 * 86400)) "$B" channel rollout "$D" $COMPAT 60 "${K[@]}" "${CA[@]}" --expires-in 30 >/dev/null
changed
[ "$(field expires)" = $((E0 + 40 * 86400)) ] || die "--expires-in 30: $(field expires)"
SOURCE_DATE_EPOCH=$((E0 + 11 * 86400)) "$B" channel refresh "$D" "${K[@]}" "${CA[@]}" >/dev/null
changed
[ "$(field expires)" = $((E0 + 41 * 86400)) ] || die "refresh after --expires-in 30: $(field expires)"
# An expired channel is revived by signing it again (its last validity kept).
SOURCE_DATE_EPOCH=$((E0 + 100 * 86400)) "$B" channel refresh "$D" "${K[@]}" "${CA[@]}" >/dev/null
changed
[ "$(field expires)" = $((E0 + 130 * 86400)) ] || die "refresh of an expired channel: $(field expires)"
# --no-expires drops it; later changes add none.
"$B" channel refresh "$D" "${K[@]}" "${CA[@]}" --no-expires >/dev/null
changed
[ "$(field expires)" = null ] || die "--no-expires: $(field expires)"
"$B" channel rollout "$D" $COMPAT 70 "${K[@]}" "${CA[@]}" >/dev/null
changed
[ "$(field expires)" = null ] || die "an expiry came back: $(field expires)"
grep -q expires "$D/channel.json" && die "expires written without one"
"$B" channel show "$D" | grepq "^Expires:   never$" || die "show without expires"

note "refresh --name names a channel that has none, never renames one"
"$B" channel refresh "$D0" "${K[@]}" "${CA[@]}" --name edge >/dev/null
python3 -c 'import json,sys; assert json.load(open(sys.argv[1]))["name"] == "edge"' "$D0/channel.json" || die "refresh --name on an unnamed channel"
cp "$D/channel.json" "$T/before.json"
cp "$D/channel.json.sig" "$T/before.sig"
snapshot >"$T/before.ls"
bad "refresh: $D/channel.json is named 'stable', not renamed to 'edge' \(devices with \[Update\] ChannelName=stable would refuse it\)" \
        "$B" channel refresh "$D" "${K[@]}" "${CA[@]}" --name edge

note "bad names and expiries: one line, nothing written"
bad "rollout: --name is for init and refresh" "$B" channel rollout "$D" $COMPAT 5 "${K[@]}" "${CA[@]}" --name stable
bad "show: --name is for init and refresh" "$B" channel show "$D" --name stable
bad "refresh: --name: channel: name: empty" "$B" channel refresh "$D" "${K[@]}" "${CA[@]}" --name ""
bad "refresh: --name: channel: name: contains a control character" "$B" channel refresh "$D" "${K[@]}" "${CA[@]}" --name "$(printf 'st\001able')"
bad "refresh: --name: channel: name: contains a control character" "$B" channel refresh "$D" "${K[@]}" "${CA[@]}" --name "$(printf 'st\table')"
bad "refresh: --name: channel: name: longer than 256 bytes" "$B" channel refresh "$D" "${K[@]}" "${CA[@]}" --name "$(printf '%0257d' 0)"
for d in 0 -1 3651 abc 1.5 "" 7x 99999999999999999999; do
        bad "rollout: --expires-in '$d' is not a number of days in 1..3650" "$B" channel rollout "$D" $COMPAT 5 "${K[@]}" "${CA[@]}" --expires-in "$d"
done
bad "refresh: --expires-in and --no-expires exclude each other" "$B" channel refresh "$D" "${K[@]}" "${CA[@]}" --expires-in 7 --no-expires
bad "show: --expires-in and --no-expires are for the changes" "$B" channel show "$D" --expires-in 7
bad "init: --name: channel: name: empty" "$B" channel init "$T/newer" "${K[@]}" --name ""
bad "init: --expires-in '0'" "$B" channel init "$T/newer" "${K[@]}" --expires-in 0
[ ! -e "$T/newer" ] || die "a refused init made its directory"
# The last valid day: 3650.
"$B" channel refresh "$D" "${K[@]}" "${CA[@]}" --expires-in 3650 >/dev/null
changed
[ "$(field expires)" = $(( $(field updated) + 3650 * 86400 )) ] || die "--expires-in 3650: $(field expires)"
D=$D0

note "OK"
