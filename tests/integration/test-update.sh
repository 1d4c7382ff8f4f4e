#!/bin/bash
# abidectl update against nginx on 127.0.0.1 serving a channel directory made
# by abide-build channel (channel.json + channel.json.sig, the bundles in
# bundles/). Slot a runs 1.0.
# - Trust, both directions: a channel signed by the release key is accepted;
#   a flipped signature byte, a changed channel.json, no channel.json.sig and
#   a channel signed under another CA are refused, nothing installed.
# - Replay: an older channel, correctly signed, served again: refused.
# - Decisions, both directions, each with its reason: rollout (bucket just
#   below / at the percentage, 0 %), halted, window (inside / outside).
# - --dry-run prints the facts and the verdict, installs and records nothing;
#   a channel URL with a query gets its signature from channel.json.sig?query.
# - The server's bundle swapped for another 2.0 signed by the same key (not
#   the build the channel names by manifest_sha256): refused before anything
#   is written (delta and full stream), slot b untouched.
# - The install: 2.0 pending in slot b, RebootCommand run; then
#   already-pending (nothing), a replayed older serial (refused, non-zero),
#   Reboot=never (installed, no reboot); Reboot=window (a reboot left for the
#   window waits outside it and happens inside it); a RebootCommand that
#   fails is a failed run, and the next run makes the reboot still owed;
#   the window is judged when the install is done (a run that decided
#   inside it and whose install ended outside it defers the reboot).
# - Booted on trial (not yet blessed): the other slot is the fallback, not written.
# - 404 and 500 for the channel: one line, non-zero, failures and the
#   backoff recorded, --timer skips until it is due; a backoff recorded
#   under a clock set ahead (2040) or one the clock went back from is
#   ignored with a warning.
# - status --json's "update" object; each poll (in backoff too) sends the
#   report spool to nginx's dav module; a refusing endpoint never fails it.
# - The demo's S60abide-update: polls with --timer every IntervalSec=, and
#   not at all without [Update] Channel=.
# - A bundle whose file name a URL must escape ('#', '%', ':', ' '), added
#   with --copy: its reference is percent-encoded, the device installs it.
# - A channel behind a redirect (/latest/channel.json to /chan/): its bundle
#   is fetched next to where the channel came from.
# - Another channel (Channel= moved from one directory to another): accepted
#   though its serial is below the last one's; a replay within it is refused.
# - Two runs at once: while one holds the update state (fetching, deciding,
#   installing), another is refused (--timer: nothing to do), so a later
#   write of the first never lowers a serial the second accepted.
# - The channel's signed name: [Update] ChannelName=stable takes stable's
#   channel, refuses edge's files served at stable's URL and an unnamed one
#   (one line, before any decision, the serial not taken); a device that
#   names none takes any and says whose. Expiry: a channel past its expires
#   is refused (expired, a failure, its serial not taken, nothing installed),
#   also 9 years ahead; a clock that is unset or decades ahead refuses
#   nothing; signed again, it is accepted.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/install-lib.sh"
. "$(dirname "$0")/nginx-lib.sh"
need tar cmp openssl

note "keys, bundles 1.0 and 2.0, disk, nginx"
export SOURCE_DATE_EPOCH=1721362140
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
"$ABIDE_BUILD" keygen -o "$T/evil" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
head -c 300000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
head -c $((4 * 1024 * 1024)) /dev/urandom >"$T/payload/blob"
V1=$(build_bundle "$T/b1" --set Image.Version=1.0)
head -c $((1024 * 1024)) /dev/urandom | dd of="$T/payload/blob" conv=notrunc status=none
V2=$(build_bundle "$T/b2" --set Image.Version=2.0)
# Another 2.0, as validly signed: only the channel's manifest_sha256 tells them apart.
head -c $((1024 * 1024)) /dev/urandom | dd of="$T/payload/blob" conv=notrunc status=none
TWIN=$(build_bundle "$T/b3" --set Image.Version=2.0)
make_disk 48 2
make_config
fill_slot_a "$V1"
write_image_info 1.0 0
slot_a_print >"$T/a.before"
COMPAT=$(manifest_field "$V2" "['compatible']")

make_ca ca
make_cert ca server IP:127.0.0.1 serverAuth
CH=$WWW/chan
KEY=(--key "$T/keys/signing.key" --cert "$T/keys/signing.crt")
mkdir -p "$CH"
"$ABIDE_BUILD" channel init "$CH" "${KEY[@]}" >/dev/null
nginx_start
CHAN=https://127.0.0.1:$HTTPS_PORT/chan/channel.json

MID=0123456789abcdef0123456789abcdef
echo "$MID" >"$T/machine-id"
cat >"$T/reboot" <<SH
#!/bin/sh
echo rebooted >>"$T/rebooted"
SH
chmod +x "$T/reboot"
cat >>"$T/abide.conf" <<CONF
[Boot]
RebootCommand=$T/reboot
[Network]
CAFile=$TLS/ca.pem
Retries=1
[Report]
Spool=$T/reports
[Update]
MachineIdFile=$T/machine-id
State=$T/var/update.json
Reboot=now
CONF
cp "$T/abide.conf" "$T/abide.nochannel"
printf 'Channel=%s\n' "$CHAN" >>"$T/abide.conf"
cp "$T/abide.conf" "$T/abide.base"

# The device's rollout bucket for 2.0 (lib/channel/channel.h): the channel's own formula, computed here.
BUCKET=$(python3 - "$MID" "$COMPAT" 2.0 <<'PY'
import hashlib, sys
d = hashlib.sha256(b"abide-rollout\0" + b"\0".join(a.encode() for a in sys.argv[1:4])).digest()
print(int.from_bytes(d[:8], "big") % 10000)
PY
)
MSHA=$(tar -xOf "$V2" manifest.json | sha256sum | cut -d' ' -f1)
now_min() { echo $(( $(date -u +%s) % 86400 / 60 )); }
hhmm() { printf '%02d:%02d' $(( ($1 + 1440) % 1440 / 60 )) $(( ($1 + 1440) % 60 )); }
INSIDE="$(hhmm $(( $(now_min) - 60 )))-$(hhmm $(( $(now_min) + 60 )))"
OUTSIDE="$(hhmm $(( $(now_min) + 120 )))-$(hhmm $(( $(now_min) + 180 )))"

# chan SUBCOMMAND ARGS...: abide-build channel SUBCOMMAND $CH ARGS with the release key.
chan() { local sub=$1; shift; "$ABIDE_BUILD" channel "$sub" "$CH" "$@" "${KEY[@]}" --ca "$T/keys/ca.pem" >/dev/null || die "channel $sub $* failed"; }
add() { chan add "$V2" --copy --force "$@"; }
serial() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["serial"])' "$CH/channel.json"; }
save_channel() { cp "$CH/channel.json" "$T/$1.json"; cp "$CH/channel.json.sig" "$T/$1.sig"; }
restore_channel() { cp "$T/$1.json" "$CH/channel.json"; cp "$T/$1.sig" "$CH/channel.json.sig"; }
pct() { python3 -c "print($1 / 100)"; }

# dav_start: a second nginx on 127.0.0.1:$DAV_PORT storing PUTs under $T/dav/reports/ (its dav module),
# /nodav/ refusing them (405).
DAV_PID=
dav_stop() { [ -z "$DAV_PID" ] || { stop_child "$DAV_PID"; wait "$DAV_PID" 2>/dev/null; DAV_PID=; }; }
cleanup_hooks+=(dav_stop)
dav_start() {
        local d=$T/ndav
        DAV_PORT=$(free_port)
        mkdir -p "$d/tmp" "$T/dav/reports" "$T/dav/nodav"
        cat >"$d/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $d/nginx.pid;
error_log $d/error.log info;
events { worker_connections 16; }
http {
        access_log $d/access.log;
        client_body_temp_path $d/tmp/body;
        proxy_temp_path $d/tmp/proxy;
        fastcgi_temp_path $d/tmp/fastcgi;
        uwsgi_temp_path $d/tmp/uwsgi;
        scgi_temp_path $d/tmp/scgi;
        server {
                listen 127.0.0.1:$DAV_PORT;
                root $T/dav;
                location /reports/ { dav_methods PUT; dav_access user:rw all:r; }
        }
}
CONF
        nginx -p "$d" -c "$d/nginx.conf" -e "$d/error.log" -g 'daemon off;' &
        DAV_PID=$!
        wait_port "$DAV_PORT"
}
conf() { cp "$T/abide.base" "$T/abide.conf"; printf '%s\n' "$@" >>"$T/abide.conf"; }
b_print() { sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" | awk '{print $1}'; entry_of b; }
check_a() { slot_a_print | cmp -s "$T/a.before" - || die "slot a changed ($1)"; }
# nothing_happened WHAT: b as before, not bootable, a untouched, no reboot.
nothing_happened() {
        b_print | cmp -s "$T/b.before" - || die "slot b changed ($1)"
        b_not_bootable || die "slot b bootable after $1: $(entry_of b)"
        check_a "$1"
        [ ! -e "$T/rebooted" ] || die "rebooted after $1"
}
ustate() { python3 -c 'import json,sys; d=json.load(open(sys.argv[1])); print(eval("d"+sys.argv[2]))' "$T/var/update.json" "$1"; }
# decide VERDICT [ARGS]: update exits 0 with "Verdict:  VERDICT: ...", nothing installed.
decide() {
        local v=$1; shift
        "$ABIDECTL" update "$@" >"$T/out" 2>"$T/err" || die "update $* ($v) failed: $(cat "$T/err")"
        grep -q "^Verdict:  $v: " "$T/out" || die "update $*: expected verdict $v: $(cat "$T/out" "$T/err")"
        echo "   $(grep '^Verdict' "$T/out")"
}
refuse() {
        local pat=$1; shift
        expect_fail "^abidectl: update: ($pat)" "$ABIDECTL" update "$@"
}
b_print >"$T/b.before"

note "no channel configured: refused; --timer: nothing to do"
cp "$T/abide.nochannel" "$T/abide.conf"
refuse "no channel: set \[Update\] Channel="
"$ABIDECTL" update --timer | grepq "No \[Update\] Channel= configured" || die "--timer without a channel"
conf

note "--dry-run: the facts and the verdict, nothing installed or recorded"
add --window "$INSIDE"
S=$(serial)
"$ABIDECTL" update --dry-run >"$T/out" 2>"$T/err" || die "dry run failed: $(cat "$T/err")"
sed 's/^/   /' "$T/out"
for l in "^Channel:  https://127.0.0.1:$HTTPS_PORT/chan/channel.json serial $S, signed by .*CN=" \
        "^Device:   $COMPAT 1.0, floor 0, machine-id $MID; slot b empty" \
        "^Release:  2.0 \(security version 0\), bundles/[^ ]*\.abide, $(stat -c %s "$V2") bytes" \
        "^Rollout:  bucket $BUCKET < 10000 \(100.00 %\): in" "^Window:   $INSIDE UTC, now [0-9:]* UTC: inside" \
        "^Verdict:  install: " "^Decided in [0-9.]* ms"; do
        grep -Eq "$l" "$T/out" || die "dry run lacks /$l/"
done
[ ! -e "$T/var/update.json" ] || die "a dry run recorded the update state"
"$ABIDECTL" update --dry-run --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["verdict"] == "install" and d["serial"] == int(sys.argv[2]) and d["release"]["version"] == "2.0", d
assert d["release"]["manifest_sha256"] == sys.argv[3], d
assert d["bucket"] == int(sys.argv[1]) and d["in_rollout"] and d["window_open"] and d["dry_run"], d
assert d["installed"] is False and d["reboot"] is None, d' "$BUCKET" "$S" "$MSHA" || die "--dry-run --json"
nothing_happened "--dry-run"
# A channel URL with a query (a CDN's token): the signature is channel.json.sig with the same query.
sed -i "s|^Channel=.*|Channel=$CHAN?t=1|" "$T/abide.conf"
"$ABIDECTL" update --dry-run >"$T/out" 2>"$T/err" || die "a channel URL with a query: $(cat "$T/err")"
grep -q '"GET /chan/channel.json.sig?t=1 ' "$NGX/access.log" || die "the signature's URL for a channel URL with a query: $(tail -2 "$NGX/access.log")"
conf

note "booted slot on trial: its fallback is not overwritten"
mv "$ENTRIES/abide-a.conf" "$ENTRIES/abide-a+2-1.conf"
decide booted-on-trial
grep -q "booted slot a is on trial (2 tries left), slot b is its fallback" "$T/out" || die "trial reason: $(cat "$T/out")"
mv "$ENTRIES/abide-a+2-1.conf" "$ENTRIES/abide-a.conf"
nothing_happened "an update on trial"
rm "$T/var/update.json"

note "trust: the channel's signature, both directions"
save_channel good
python3 - "$CH/channel.json.sig" <<'PY'
import sys
b = bytearray(open(sys.argv[1], "rb").read()); b[-10] ^= 1; open(sys.argv[1], "wb").write(b)
PY
refuse "channel https://127.0.0.1:$HTTPS_PORT/chan/channel.json: signature"
restore_channel good
sed -i 's/"percent": 100/"percent": 99/' "$CH/channel.json"
grep -q '"percent": 99' "$CH/channel.json" || die "the channel was not changed"
refuse "channel https://127.0.0.1:$HTTPS_PORT/chan/channel.json: signature does not match"
restore_channel good
rm "$CH/channel.json.sig"
refuse "channel: https://127.0.0.1:$HTTPS_PORT/chan/channel.json.sig: HTTP 404"
restore_channel good
# The evil key's publisher trusts both CAs: it verifies the release key's channel and signs its own.
cat "$T/keys/ca.pem" "$T/evil/ca.pem" >"$T/both.pem"
"$ABIDE_BUILD" channel rollout "$CH" "$COMPAT" 0 --key "$T/evil/signing.key" --cert "$T/evil/signing.crt" --ca "$T/both.pem" >/dev/null ||
        die "a channel signed by the evil key"
refuse "channel https://127.0.0.1:$HTTPS_PORT/chan/channel.json: signature not trusted"
nothing_happened "refused channels"
# The same change, signed by the release key: accepted.
restore_channel good
chan rollout "$COMPAT" 0
decide not-in-rollout
[ "$(ustate "['last_serial']")" = "$(serial)" ] || die "serial $(serial) not recorded"
[ "$(ustate "['last_decision']['verdict']")" = not-in-rollout ] || die "decision not recorded"

note "wrong compatible: no release"
cp "$T/image.json" "$T/image.keep"
sed -i "s/\"compatible\": \"$COMPAT\"/\"compatible\": \"other-board\"/" "$T/image.json"
decide no-release
grep -q "no release for compatible 'other-board'" "$T/out" || die "no-release reason: $(cat "$T/out")"
cp "$T/image.keep" "$T/image.json"

note "rollout: bucket $BUCKET at $BUCKET bp (out) and $((BUCKET + 1)) bp (in); window; halted"
chan rollout "$COMPAT" "$(pct "$BUCKET")"
decide not-in-rollout
grep -q "not in rollout: bucket $BUCKET >= $BUCKET" "$T/out" || die "the reason names the bucket: $(cat "$T/out")"
add --percent "$(pct $((BUCKET + 1)))" --window "$OUTSIDE"
decide outside-window
grep -q "^Rollout:  bucket $BUCKET < $((BUCKET + 1)) .*: in" "$T/out" || die "rollout line: $(cat "$T/out")"
grep -q "^Window:   $OUTSIDE UTC, now [0-9:]* UTC: outside" "$T/out" || die "window line: $(cat "$T/out")"
add --window "$INSIDE"
chan halt "$COMPAT" --reason "rolled back on 3 of 40"
decide halted
grep -q "halted: 2.0: rolled back on 3 of 40" "$T/out" || die "halt reason: $(cat "$T/out")"
nothing_happened "decisions that install nothing"
save_channel old

note "the server's bundle swapped for another 2.0 of the same signer: refused before anything is written"
chan resume "$COMPAT"
BFILE=$CH/$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["releases"][0]["bundle"])' "$CH/channel.json")
cp "$BFILE" "$T/v2.served"
cp "$TWIN" "$BFILE"
TSHA=$(tar -xOf "$TWIN" manifest.json | sha256sum | cut -d' ' -f1)
refuse "release 2\.0: https?://127\.0\.0\.1:[0-9]+/[^ ]*\.abide: manifest SHA-256 $TSHA is not the channel's $MSHA"
nothing_happened "a swapped bundle (delta)"
conf "[Network]" "Delta=no"
refuse "release 2\.0: https?://127\.0\.0\.1:[0-9]+/[^ ]*\.abide: manifest SHA-256 $TSHA is not the channel's $MSHA"
nothing_happened "a swapped bundle (stream)"
[ "$(ustate "['failures']")" = 2 ] || die "failures not counted: $(cat "$T/var/update.json")"
conf
cp "$T/v2.served" "$BFILE"

note "install: 2.0 into slot b, pending, RebootCommand run"
decide install
grep -q "^Installed 2.0 into slot b (abide-b+3.conf)" "$T/out" || die "install line: $(cat "$T/out")"
grep -q "^Reboot:   now" "$T/out" || die "reboot line: $(cat "$T/out")"
# The update-found event, spooled ([Report] URL= is not set): the channel's serial and the version found.
python3 - "$T/reports" "$(serial)" <<'PY' || die "no update-found report for 2.0 in $T/reports: $(ls "$T/reports")"
import glob, json, sys
evs = [json.load(open(f)) for f in sorted(glob.glob(sys.argv[1] + "/*-update-found.json"))]
assert evs and evs[-1]["to_version"] == "2.0" and evs[-1]["channel_serial"] == int(sys.argv[2]), evs
PY
[ "$(cat "$T/rebooted")" = rebooted ] || die "RebootCommand not run once"
rm "$T/rebooted"
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "slot b not pending: $(entry_of b)"
check_a "install"
[ "$(ustate "['failures']")" = 0 ] && [ "$(ustate "['next_attempt']")" = None ] || die "failures not cleared"
[ "$(ustate "['last_decision']['version']")" = 2.0 ] || die "version not recorded"
status_json | python3 -c '
import json, sys
u = json.load(sys.stdin)["update"]
assert u["channel"].endswith("/chan/channel.json") and u["serial"] == int(sys.argv[1]) and u["failures"] == 0, u
assert u["last_decision"]["verdict"] == "install" and u["last_decision"]["version"] == "2.0" and u["last_check"] > 0, u' "$(serial)" ||
        die "status --json update: $(status_json)"
b_print >"$T/b.before"

note "already pending: nothing; a replayed older channel (correctly signed): refused"
chan rollout "$COMPAT" 100
S=$(serial)
decide already-pending
[ ! -e "$T/rebooted" ] || die "rebooted while already pending"

note "Reboot=window: a reboot left for the window waits outside it, happens inside it"
conf "[Update]" "Reboot=window"
python3 - "$T/var/update.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["reboot_deferred"] = "2.0"; json.dump(d, open(sys.argv[1], "w"))
PY
add --window "$OUTSIDE"
decide already-pending
grep -q "^Reboot:   deferred" "$T/out" || die "deferred reboot line: $(cat "$T/out")"
[ ! -e "$T/rebooted" ] || die "rebooted outside the window"
[ "$(ustate "['reboot_deferred']")" = 2.0 ] || die "the deferred reboot was forgotten"
add --window "$INSIDE"
decide already-pending
grep -q "^Reboot:   now" "$T/out" || die "reboot inside the window: $(cat "$T/out")"
[ "$(cat "$T/rebooted")" = rebooted ] || die "not rebooted inside the window"
rm "$T/rebooted"
[ "$(ustate "['reboot_deferred']")" = None ] || die "the deferred reboot was not cleared"
conf
decide already-pending
[ ! -e "$T/rebooted" ] || die "rebooted again for the same install"
S=$(serial)
save_channel latest
restore_channel old
refuse "channel serial $(serial) is below $S, the last one accepted: refused as a replay"
b_print | cmp -s "$T/b.before" - || die "slot b changed by a replay"
[ "$(ustate "['last_serial']")" = "$S" ] || die "a replay lowered the serial"
[ "$(ustate "['last_decision']['verdict']")" = replay ] || die "replay not recorded"
restore_channel latest

note "a corrupt update state does not stop updates: kept aside, the run starts afresh"
for bad in 'garbage{' '{"format": 99}' "big"; do
        if [ "$bad" = big ]; then head -c 70000 /dev/zero | tr '\0' ' ' >"$T/var/update.json"; else printf '%s' "$bad" >"$T/var/update.json"; fi
        cp "$T/var/update.json" "$T/bad.json"
        # A dry run writes nothing: it warns and decides without the file.
        "$ABIDECTL" update --dry-run >"$T/out" 2>"$T/err" || die "dry run with a corrupt state ($bad): $(cat "$T/err")"
        grep -Eq "^abidectl: update: warning: .*update.json.*; starting afresh$" "$T/err" || die "dry run's warning ($bad): $(cat "$T/err")"
        cmp -s "$T/bad.json" "$T/var/update.json" && [ ! -e "$T/var/update.json.corrupt" ] || die "a dry run moved the corrupt state"
        decide already-pending
        grep -Eq "^abidectl: update: warning: .*update.json.*; moved aside, starting afresh$" "$T/err" || die "warning ($bad): $(cat "$T/err")"
        cmp -s "$T/bad.json" "$T/var/update.json.corrupt" || die "the corrupt state was not kept aside ($bad)"
        [ "$(ustate "['last_serial']")" = "$S" ] || die "state after a corrupt one ($bad): $(cat "$T/var/update.json")"
        rm "$T/var/update.json.corrupt"
done
b_print | cmp -s "$T/b.before" - || die "slot b changed by a run after a corrupt state"

note "Reboot=never: installed, not rebooted"
rm -f "$ENTRIES"/abide-b*.conf
conf "[Update]" "Reboot=never"
decide install
grep -q "^Reboot:   never" "$T/out" || die "Reboot=never line: $(cat "$T/out")"
[ ! -e "$T/rebooted" ] || die "rebooted with Reboot=never"
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "slot b not pending: $(entry_of b)"
rm -f "$ENTRIES"/abide-b*.conf
conf
"$ABIDECTL" update --reboot never >"$T/out" || die "--reboot never"
grep -q "^Reboot:   never" "$T/out" || die "--reboot never line: $(cat "$T/out")"
[ ! -e "$T/rebooted" ] || die "rebooted with --reboot never"

note "a RebootCommand that fails: a failed run for the backoff, the reboot still owed and made by the next run"
rm -f "$ENTRIES"/abide-b*.conf
printf '#!/bin/sh\necho "reboot refused" >&2\nexit 3\n' >"$T/badreboot"
chmod +x "$T/badreboot"
conf
sed -i "s|^RebootCommand=.*|RebootCommand=$T/badreboot|" "$T/abide.conf"
refuse "reboot: $T/badreboot failed \(exit 3\)"
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "slot b not pending: $(entry_of b)"
[ "$(ustate "['failures']")" = 1 ] || die "a failed reboot command not counted: $(cat "$T/var/update.json")"
ustate "['last_error']" | grepq "badreboot failed" || die "last_error: $(cat "$T/var/update.json")"
[ "$(ustate "['reboot_deferred']")" = 2.0 ] || die "the reboot owed to 2.0 was forgotten: $(cat "$T/var/update.json")"
conf
decide already-pending
grep -q "^Reboot:   now" "$T/out" || die "the owed reboot: $(cat "$T/out")"
[ "$(cat "$T/rebooted")" = rebooted ] || die "the owed reboot was not made"
rm "$T/rebooted"
[ "$(ustate "['reboot_deferred']")" = None ] && [ "$(ustate "['failures']")" = 0 ] || die "after the owed reboot: $(cat "$T/var/update.json")"

note "the server fails: one line, non-zero, backoff recorded; --timer waits for it"
rm -f "$ENTRIES"/abide-b*.conf
b_print >"$T/b.before"
conf "[Update]" "IntervalSec=600"
sed -i "s|^Channel=.*|Channel=https://127.0.0.1:$HTTPS_PORT/chan/missing.json|" "$T/abide.conf"
refuse "channel: https://127.0.0.1:$HTTPS_PORT/chan/missing.json: HTTP 404"
[ "$(ustate "['failures']")" = 1 ] || die "404 not counted"
NEXT=$(ustate "['next_attempt']") NOW=$(date +%s)
[ "$NEXT" -ge $((NOW + 299)) ] && [ "$NEXT" -le $((NOW + 601)) ] || die "backoff after 1 failure not in [300, 600] s: $((NEXT - NOW))"
sed -i "s|^Channel=.*|Channel=https://127.0.0.1:$HTTPS_PORT/fail/channel.json|" "$T/abide.conf"
refuse "channel: https://127.0.0.1:$HTTPS_PORT/fail/channel.json: .*500"
[ "$(ustate "['failures']")" = 2 ] || die "500 not counted"
NEXT=$(ustate "['next_attempt']") NOW=$(date +%s)
[ "$NEXT" -ge $((NOW + 599)) ] && [ "$NEXT" -le $((NOW + 1201)) ] || die "backoff after 2 failures not in [600, 1200] s: $((NEXT - NOW))"
ustate "['last_error']" | grepq 500 || die "last_error: $(cat "$T/var/update.json")"
"$ABIDECTL" update --timer >"$T/out" || die "--timer in backoff failed"
grep -q "^Backing off after 2 failure(s): next attempt in [0-9]* s" "$T/out" || die "--timer did not wait: $(cat "$T/out")"
[ "$(ustate "['failures']")" = 2 ] || die "--timer in backoff tried"

note "each poll sends the report spool, in backoff too; an endpoint that refuses never fails the run"
queued() { ls "$T/reports" | grep -c '\.json$' || true; }
Q=$(queued)
[ "$Q" -ge 2 ] || die "expected the update-found events queued, found $Q"
dav_start
printf '[Report]\nURL=http://127.0.0.1:%s/nodav/\n' "$DAV_PORT" >>"$T/abide.conf"
"$ABIDECTL" update --timer >"$T/out" 2>"$T/err" || die "--timer with a refusing endpoint failed: $(cat "$T/err")"
[ "$(queued)" = "$Q" ] || die "reports lost to a refusing endpoint"
grep -q "nodav/.* 405 " "$T/ndav/access.log" || die "--timer in backoff did not try to send"
# By hand: the channel fails (404 here, still in backoff's config), the send is tried and warns, one line each.
rc=0; "$ABIDECTL" update >"$T/out" 2>"$T/err" || rc=$?
[ $rc -ne 0 ] || die "update by hand with the failing channel succeeded"
grep -q "^abidectl: update: warning: reports kept in $T/reports: .*HTTP 405" "$T/err" || die "no warning for the refusing endpoint: $(cat "$T/err")"
[ "$(queued)" = "$Q" ] || die "reports lost to a refusing endpoint"
python3 - "$T/var/update.json" <<'PY'
import json, sys
import time
d = json.load(open(sys.argv[1])); d["next_attempt"] = int(time.time()) + 3600; d["failures"] = 2; json.dump(d, open(sys.argv[1], "w"))
PY
sed -i "s|/nodav/|/reports/|" "$T/abide.conf"
"$ABIDECTL" update --timer >"$T/out" 2>"$T/err" || die "--timer with the endpoint failed: $(cat "$T/err")"
[ ! -s "$T/err" ] || die "stderr when the reports were accepted: $(cat "$T/err")"
[ "$(queued)" = 0 ] || die "the spool did not drain: $(ls "$T/reports")"
python3 - "$T/dav/reports" "$Q" <<'PY' || die "the endpoint stored: $(ls "$T/dav/reports")"
import glob, json, sys
evs = [json.load(open(f))["event"] for f in glob.glob(sys.argv[1] + "/*.json")]
assert len(evs) == int(sys.argv[2]) and "update-found" in evs and "installed" in evs, evs
PY
[ "$(ustate "['failures']")" = 2 ] || die "--timer in backoff tried the channel"
# Due: the timer tries again (and the working channel clears the failures).
python3 - "$T/var/update.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d["next_attempt"] = 1; json.dump(d, open(sys.argv[1], "w"))
PY
sed -i "s|^Channel=.*|Channel=$CHAN|" "$T/abide.conf"
chan rollout "$COMPAT" 0
"$ABIDECTL" update --timer >"$T/out" || die "--timer when due failed"
grep -q "^Verdict:  not-in-rollout" "$T/out" || die "--timer when due: $(cat "$T/out")"
[ "$(ustate "['failures']")" = 0 ] || die "a success did not clear the failures"
nothing_happened "failing servers"

note "a backoff recorded under a wrong clock is ignored: one recorded in 2040, a last check after now"
# A failure while time() said 2040 (2208988800), the clock corrected since.
python3 - "$T/var/update.json" <<'PY'
import json, sys
d = json.load(open(sys.argv[1])); d.update(next_attempt=2208991359, failures=1, last_error="x"); json.dump(d, open(sys.argv[1], "w"))
PY
"$ABIDECTL" update --timer >"$T/out" 2>"$T/err" || die "--timer after a backoff in 2040 failed: $(cat "$T/err")"
grep -q "^Verdict:  not-in-rollout" "$T/out" || die "--timer held off by a backoff in 2040: $(cat "$T/out")"
[ "$(cat "$T/err")" = "abidectl: update: warning: backoff ignored: its next attempt is $((2208991359 - $(ustate "['last_check']"))) s away, more than the longest backoff (86400 s); the clock was ahead when it was recorded" ] ||
        die "the ignored backoff's note: $(cat "$T/err")"
[ "$(ustate "['failures']")" = 0 ] && [ "$(ustate "['next_attempt']")" = None ] || die "the run after a backoff in 2040 not recorded"
# A failure an hour from now, within the longest backoff, but the last check in 2040: the clock went back.
python3 - "$T/var/update.json" <<'PY'
import json, sys, time
d = json.load(open(sys.argv[1])); d.update(last_check=2208988800, next_attempt=int(time.time()) + 3600, failures=1, last_error="x"); json.dump(d, open(sys.argv[1], "w"))
PY
"$ABIDECTL" update --timer >"$T/out" 2>"$T/err" || die "--timer after the clock went back failed: $(cat "$T/err")"
grep -q "^Verdict:  not-in-rollout" "$T/out" || die "--timer held off after the clock went back: $(cat "$T/out")"
grep -qx "abidectl: update: warning: backoff ignored: the last check (2208988800) is later than the clock ([0-9]*), which went back" "$T/err" ||
        die "the ignored backoff's note: $(cat "$T/err")"
[ "$(ustate "['last_check']")" -lt 2208988800 ] && [ "$(ustate "['failures']")" = 0 ] || die "the run after the clock went back not recorded"
nothing_happened "a backoff under a wrong clock"

note "the demo's busybox timer (S60abide-update): polls with --timer every IntervalSec=, only with a channel"
S60=$ABIDE_SRCDIR/images/demo/rootfs/etc/init.d/S60abide-update
mkdir -p "$T/s60"
# The loop runs in the background: stopped whatever happens (its pid is written by the fake abidectl).
# Not a child of this shell (stop_child): the number is signalled only while it is still the loop's.
s60_stop() {
        local p
        [ -s "$T/s60/loop.pid" ] && p=$(cat "$T/s60/loop.pid") || return 0
        tr '\0' ' ' <"/proc/$p/cmdline" 2>/dev/null | grepq S60abide-update && kill "$p" 2>/dev/null || true
}
cleanup_hooks+=(s60_stop)
printf '#!/bin/sh\necho "$*" >>%s/s60/calls\necho $PPID >%s/s60/loop.pid\n' "$T" "$T" >"$T/s60/abidectl"
chmod +x "$T/s60/abidectl"
printf '[Update]\nIntervalSec=1\nRandomDelaySec=1\n[Network]\nChannel=x\n' >"$T/s60/none.conf"
ABIDE_CONF=$T/s60/none.conf ABIDECTL=$T/s60/abidectl ABIDE_CONSOLE=$T/s60/console sh "$S60" start || die "S60 start failed"
sleep 1.5
[ ! -e "$T/s60/calls" ] && [ ! -e "$T/s60/console" ] || die "S60 polled without [Update] Channel="
# Blanks around '=' as abidectl's ini parser takes them ("Channel = URL"), and none.
printf '[Update]\nChannel = %s\n  IntervalSec =1\nRandomDelaySec=1 \n' "$CHAN" >"$T/s60/on.conf"
t0=$(date +%s%N)
ABIDE_CONF=$T/s60/on.conf ABIDECTL=$T/s60/abidectl ABIDE_CONSOLE=$T/s60/console sh "$S60" start || die "S60 start failed"
# Two polls (IntervalSec=1 apart, each after at most 1 s of random delay), within 20 s on a loaded machine.
for i in $(seq 200); do [ "$(cat "$T/s60/calls" 2>/dev/null | wc -l)" -ge 2 ] && break; sleep 0.1; done
t1=$(date +%s%N)
kill "$(cat "$T/s60/loop.pid")" || die "the S60 loop is not running"
rm "$T/s60/loop.pid"
[ "$(wc -l <"$T/s60/calls")" -ge 2 ] || die "S60 did not poll twice in 20 s: $(cat "$T/s60/calls" "$T/s60/console")"
[ $(( (t1 - t0) / 1000000 )) -ge 1000 ] || die "S60 polled twice within IntervalSec=1: $(( (t1 - t0) / 1000000 )) ms"
grep -q "^abide-update: every 1s after a random delay of up to 1s" "$T/s60/console" || die "S60 console: $(cat "$T/s60/console")"
[ "$(sort -u "$T/s60/calls")" = "update --timer" ] || die "S60 ran: $(cat "$T/s60/calls")"

note "a bundle file name that a URL must escape (' ', '#', '%', ':'): published escaped, fetched and installed"
mkdir -p "$T/odd"
cp "$V2" "$T/odd/abide 2.0#1%:.abide"
chan add "$T/odd/abide 2.0#1%:.abide" --copy --force
[ "$(python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))["releases"][0]["bundle"])' "$CH/channel.json")" = \
        "bundles/abide%202.0%231%25%3A.abide" ] || die "the bundle's reference: $(grep '"bundle"' "$CH/channel.json")"
conf "[Update]" "Reboot=never"
decide install
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "slot b not pending after the escaped bundle: $(entry_of b)"
rm -f "$ENTRIES"/abide-b*.conf
conf

note "a channel reached through a redirect: its relative bundle is resolved against where it came from"
conf "[Update]" "Reboot=never"
sed -i "s|^Channel=.*|Channel=https://127.0.0.1:$HTTPS_PORT/latest/channel.json|" "$T/abide.conf"
decide install
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "slot b not pending after a redirected channel: $(entry_of b)"
grep -q '"GET /chan/bundles/' "$NGX/access.log" && ! grep -q '"GET /latest/bundles/' "$NGX/access.log" ||
        die "the bundle was not fetched next to the redirected channel: $(grep bundles "$NGX/access.log" | tail -3)"
rm -f "$ENTRIES"/abide-b*.conf
conf

note "another channel (edge to stable): its serials count on their own, the replay floor is per channel"
"$ABIDE_BUILD" channel init "$WWW/stable" "${KEY[@]}" >/dev/null
S=$(ustate "['last_serial']")
[ "$S" -gt 1 ] || die "the first channel's serial $S"
sed -i "s|^Channel=.*|Channel=https://127.0.0.1:$HTTPS_PORT/stable/channel.json|" "$T/abide.conf"
decide no-release
[ "$(ustate "['last_serial']")" = 1 ] && [ "$(ustate "['channel']")" = "https://127.0.0.1:$HTTPS_PORT/stable/channel.json" ] ||
        die "the stable channel's serial 1 not accepted and recorded: $(cat "$T/var/update.json")"
# Within the channel a replay is still one.
cp "$WWW/stable/channel.json" "$T/stable1.json"; cp "$WWW/stable/channel.json.sig" "$T/stable1.sig"
"$ABIDE_BUILD" channel add "$WWW/stable" "$V2" --ca "$T/keys/ca.pem" --copy --percent 0 "${KEY[@]}" >/dev/null
decide not-in-rollout
cp "$T/stable1.json" "$WWW/stable/channel.json"; cp "$T/stable1.sig" "$WWW/stable/channel.json.sig"
refuse "channel serial 1 is below 2, the last one accepted: refused as a replay"
# Back to the first channel: accepted again.
conf
chan rollout "$COMPAT" 0
decide not-in-rollout
[ "$(ustate "['last_serial']")" = "$(serial)" ] || die "back on the first channel: $(cat "$T/var/update.json")"

note "two runs at once: the second is refused while the first holds the state (the serial never falls)"
# A: through a proxy that holds each request 5 s, so it is still fetching the bundle while B runs.
conf "[Network]" "Delta=no"
chan rollout "$COMPAT" 100
S=$(serial)
proxy_start "$HTTP_PORT" --delay-ms 5000
cp "$T/abide.conf" "$T/abide.direct"
sed -i "s|^Channel=.*|Channel=http://127.0.0.1:$PROXY_PORT/chan/channel.json|" "$T/abide.conf"
rc=0; "$ABIDECTL" update >"$T/a.out" 2>&1 & APID=$!
# Decided on serial $S (its lines are flushed then): its bundle request is held next.
for i in $(seq 300); do grep -q "^Verdict:  install: " "$T/a.out" && break; sleep 0.1; done
grep -q "^Verdict:  install: " "$T/a.out" || die "the first run did not decide: $(cat "$T/a.out")"
# B: the channel changed meanwhile (halted, serial + 1).
chan halt "$COMPAT" --reason "halted while a run was on its way"
rc=0; ABIDE_CONF=$T/abide.direct "$ABIDECTL" update >"$T/out" 2>"$T/err" || rc=$?
[ $rc -ne 0 ] && grep -qx "abidectl: update: another abidectl update is running (it holds $T/var/update.json.lock)" "$T/err" ||
        die "a second run while the first holds the state: rc $rc: $(cat "$T/out" "$T/err")"
ABIDE_CONF=$T/abide.direct "$ABIDECTL" update --timer >"$T/out" 2>"$T/err" || die "--timer while another run holds the state failed: $(cat "$T/err")"
grep -qx "Another abidectl update is running: nothing to do" "$T/out" || die "--timer while another run: $(cat "$T/out" "$T/err")"
wait "$APID" || die "the first run failed: $(cat "$T/a.out")"
proxy_stop
grep -q "^Installed 2.0 into slot b" "$T/a.out" || die "the first run: $(cat "$T/a.out")"
[ "$(ustate "['last_serial']")" = "$S" ] || die "last_serial $(ustate "['last_serial']"), not the first run's $S"
rm -f "$T/rebooted" "$ENTRIES"/abide-b*.conf
# Once it is done, the next run goes ahead and accepts the newer channel.
ABIDE_CONF=$T/abide.direct decide halted
[ "$(ustate "['last_serial']")" = $((S + 1)) ] || die "last_serial $(ustate "['last_serial']") after the halt, not $((S + 1))"
conf

note "Reboot=window: judged when the install is done, not when the run began"
# The run decides inside the window; while its bundle request is held (5 s), its clock moves 3 h on, outside.
conf "[Network]" "Delta=no" "[Update]" "Reboot=window"
add --window "$INSIDE"
echo 0 >"$T/clock-offset"
proxy_start "$HTTP_PORT" --delay-ms 5000
sed -i "s|^Channel=.*|Channel=http://127.0.0.1:$PROXY_PORT/chan/channel.json|" "$T/abide.conf"
preload "$ABIDE_TEST_HELPERS/helper-clock.so" ABIDE_TEST_CLOCK_OFFSET="$T/clock-offset" "$ABIDECTL" update >"$T/a.out" 2>&1 & APID=$!
for i in $(seq 300); do grep -q "^Verdict:  install: .*inside window $INSIDE" "$T/a.out" && break; sleep 0.1; done
grep -q "^Verdict:  install: .*inside window $INSIDE" "$T/a.out" || die "the run did not decide inside the window: $(cat "$T/a.out")"
echo 10800 >"$T/clock-offset"
wait "$APID" || die "the install across the window's end failed: $(cat "$T/a.out")"
proxy_stop
grep -q "^Installed 2.0 into slot b" "$T/a.out" || die "not installed: $(cat "$T/a.out")"
grep -q "^Reboot:   deferred" "$T/a.out" || die "rebooted after the window closed: $(cat "$T/a.out")"
[ ! -e "$T/rebooted" ] || die "rebooted outside the window"
[ "$(ustate "['reboot_deferred']")" = 2.0 ] || die "the deferred reboot not recorded: $(cat "$T/var/update.json")"
# Back inside the window: the reboot is made.
conf "[Update]" "Reboot=window"
decide already-pending
grep -q "^Reboot:   now" "$T/out" && [ "$(cat "$T/rebooted")" = rebooted ] || die "the deferred reboot inside the window: $(cat "$T/out")"
rm -f "$T/rebooted" "$ENTRIES"/abide-b*.conf
conf

note "a release that failed here (its slot marked bad after the install): not installed again"
conf "[Update]" "Reboot=never"
decide install
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "slot b not pending: $(entry_of b)"
"$ABIDECTL" mark-bad b >/dev/null
b_print >"$T/b.before"
decide failed-here
grep -q "^Verdict:  failed-here: failed here: 2.0 was marked bad or rolled back from on this device" "$T/out" ||
        die "failed-here reason: $(cat "$T/out")"
nothing_happened "a release that failed here"
rm -f "$ENTRIES"/abide-b*.conf
conf

note "the device's own facts: running the release is up to date, a floor above it is below-floor"
b_print >"$T/b.before"
write_image_info 2.0 0
decide up-to-date
grep -q "^Verdict:  up-to-date: up to date: running 2.0$" "$T/out" || die "up-to-date reason: $(cat "$T/out")"
write_image_info 1.0 0
set_floor 1
decide below-floor
grep -q "^Verdict:  below-floor: below floor: 2.0 has security version 0 < floor 1$" "$T/out" || die "below-floor reason: $(cat "$T/out")"
rm -f "$FVAR"
nothing_happened "up to date and below the floor"

note "the channel's signed name: [Update] ChannelName= refuses another channel's files and an unnamed one"
# Two channels of the same release key, stable and edge; edge's files served at stable's URL is the
# mix-and-match a server (or a man in the middle with a copy of edge's files) could try.
for n in stable edge; do
        "$ABIDE_BUILD" channel init "$WWW/n$n" "${KEY[@]}" --name $n >/dev/null
        "$ABIDE_BUILD" channel add "$WWW/n$n" "$V2" --ca "$T/keys/ca.pem" --copy --percent 0 "${KEY[@]}" >/dev/null
done
cp -a "$WWW/nstable" "$T/nstable.good"
NSTABLE=https://127.0.0.1:$HTTPS_PORT/nstable/channel.json
# use_channel URL [LINES...]: the base config with Channel=URL and LINES.
use_channel() { local url=$1; shift; conf "$@"; sed -i "s|^Channel=.*|Channel=$url|" "$T/abide.conf"; }
use_channel "$NSTABLE" "[Update]" "ChannelName=stable"
decide not-in-rollout
grep -q "^Channel:  $NSTABLE serial 2, name 'stable', signed by " "$T/out" || die "the Channel: line: $(cat "$T/out")"
S=$(ustate "['last_serial']")
[ "$S" = 2 ] || die "the named channel's serial not accepted: $S"
"$ABIDECTL" update --dry-run --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["name"] == "stable" and d["expires"] is None and d["expiry"] is None and d["verdict"] == "not-in-rollout", d' ||
        die "--json: name"
# Edge's files, a newer serial, at stable's URL: refused before any decision, the serial not taken.
"$ABIDE_BUILD" channel rollout "$WWW/nedge" "$COMPAT" 0 "${KEY[@]}" --ca "$T/keys/ca.pem" >/dev/null
cp "$WWW/nedge/channel.json" "$WWW/nedge/channel.json.sig" "$WWW/nstable/"
refuse "channel $NSTABLE: signed name 'edge' is not \[Update\] ChannelName=stable$"
refuse "channel $NSTABLE: signed name 'edge' is not \[Update\] ChannelName=stable$" --dry-run
[ "$(ustate "['last_serial']")" = "$S" ] && [ "$(ustate "['failures']")" = 1 ] ||
        die "a channel of another name changed the state: $(cat "$T/var/update.json")"
ustate "['last_error']" | grepq "signed name 'edge'" || die "last_error: $(cat "$T/var/update.json")"
# Unnamed (the main channel's files): no proof of being stable either.
cp "$CH/channel.json" "$CH/channel.json.sig" "$WWW/nstable/"
refuse "channel $NSTABLE: no signed name, but \[Update\] ChannelName=stable$"
# The device that names no channel takes any: edge's files too, and says whose they are.
cp "$WWW/nedge/channel.json" "$WWW/nedge/channel.json.sig" "$WWW/nstable/"
use_channel "$NSTABLE"
decide not-in-rollout
grep -q "^Channel:  $NSTABLE serial 3 (last accepted 2), name 'edge', signed by " "$T/out" || die "the Channel: line: $(cat "$T/out")"
# A name no channel can have.
use_channel "$NSTABLE" "[Update]" "ChannelName=$(printf 'sta\tble')"
refuse "\[Update\] ChannelName=: channel: name: contains a control character"
rm -rf "$WWW/nstable" && cp -a "$T/nstable.good" "$WWW/nstable"
nothing_happened "channels of another name"

note "expiry: a channel past its expires is refused by a clock the device believes, never by one it does not"
# Signed 8 days ago, valid for 7: expired a day ago. Served over http: a device clock moved decades
# ahead would fail TLS (the server's certificate) before the channel is read.
EXP=http://127.0.0.1:$HTTP_PORT/nexp/channel.json
NOW=$(date +%s)
SOURCE_DATE_EPOCH=$((NOW - 8 * 86400)) "$ABIDE_BUILD" channel init "$WWW/nexp" "${KEY[@]}" --name stable --expires-in 7 >/dev/null
SOURCE_DATE_EPOCH=$((NOW - 8 * 86400)) "$ABIDE_BUILD" channel add "$WWW/nexp" "$V2" --ca "$T/keys/ca.pem" --copy --percent 0 "${KEY[@]}" >/dev/null
SOURCE_DATE_EPOCH=$((NOW - 8 * 86400)) "$ABIDE_BUILD" channel refresh "$WWW/nexp" "${KEY[@]}" --ca "$T/keys/ca.pem" --expires-in 30 >/dev/null
use_channel "$EXP" "[Update]" "ChannelName=stable"
decide not-in-rollout
S=$(ustate "['last_serial']")
grep -Eq "^Expires:  $((NOW + 22 * 86400)), in [0-9]+ s$" "$T/out" || die "the Expires: line: $(cat "$T/out")"
SOURCE_DATE_EPOCH=$((NOW - 8 * 86400)) "$ABIDE_BUILD" channel refresh "$WWW/nexp" "${KEY[@]}" --ca "$T/keys/ca.pem" --expires-in 7 >/dev/null
E=$((NOW - 86400))
refuse "channel serial $((S + 1)) expired at $E and the device clock is [0-9]*: refused, nothing installed \(its publisher re-signs it: abide-build channel refresh\)$"
[ "$(ustate "['last_serial']")" = "$S" ] || die "an expired channel's serial was accepted: $(cat "$T/var/update.json")"
[ "$(ustate "['failures']")" = 1 ] && [ "$(ustate "['last_decision']['verdict']")" = expired ] ||
        die "the expired run not recorded: $(cat "$T/var/update.json")"
ustate "['last_decision']['reason']" | grepq "^expired: channel serial $((S + 1)) expired at $E, the device clock is" ||
        die "the expired reason: $(cat "$T/var/update.json")"
"$ABIDECTL" update --dry-run >"$T/out" 2>"$T/err" || die "dry run of an expired channel: $(cat "$T/err")"
grep -Eq "^Expires:  $E, [0-9]+ s ago: refused$" "$T/out" && grep -q "^Verdict:  expired: expired: " "$T/out" &&
        grep -q "^Release:  not looked at: the channel is refused$" "$T/out" || die "dry run of an expired channel: $(cat "$T/out")"
"$ABIDECTL" update --dry-run --json | python3 -c '
import json, sys
d = json.load(sys.stdin)
assert d["verdict"] == "expired" and d["expires"] == int(sys.argv[1]) and d["expiry"] == "expired" and d["release"] is None, d' "$E" ||
        die "--json: expired"
# A clock the device does not believe refuses nothing: unset (before 2020) ...
echo $(( 1500000000 - NOW )) >"$T/clock-offset"
preload "$ABIDE_TEST_HELPERS/helper-clock.so" ABIDE_TEST_CLOCK_OFFSET="$T/clock-offset" "$ABIDECTL" update >"$T/out" 2>"$T/err" ||
        die "an expired channel refused by an unset clock: $(cat "$T/out" "$T/err")"
grep -q "^Verdict:  not-in-rollout: " "$T/out" && grep -qx "Expires:  $E, not judged: the device clock 0 is unset" "$T/out" ||
        die "unset clock: $(cat "$T/out")"
[ "$(ustate "['last_serial']")" = $((S + 1)) ] && [ "$(ustate "['failures']")" = 0 ] || die "unset clock: $(cat "$T/var/update.json")"
# ... or decades ahead (2070, a CMOS year of 70 read by a Linux guest).
echo $(( 3155760000 - NOW )) >"$T/clock-offset"
preload "$ABIDE_TEST_HELPERS/helper-clock.so" ABIDE_TEST_CLOCK_OFFSET="$T/clock-offset" "$ABIDECTL" update --dry-run >"$T/out" 2>"$T/err" ||
        die "an expired channel refused by a clock in 2070: $(cat "$T/out" "$T/err")"
grep -q "^Verdict:  not-in-rollout: " "$T/out" &&
        grep -Eqx "Expires:  $E, not judged: the device clock 31557600[0-9]{2} is more than 10 years after the channel's last update" "$T/out" ||
        die "clock in 2070: $(cat "$T/out")"
# Nine years ahead is believed: still expired.
echo $(( 9 * 365 * 86400 )) >"$T/clock-offset"
rc=0; preload "$ABIDE_TEST_HELPERS/helper-clock.so" ABIDE_TEST_CLOCK_OFFSET="$T/clock-offset" "$ABIDECTL" update --dry-run >"$T/out" 2>&1 || rc=$?
grep -q "^Verdict:  expired: " "$T/out" || die "nine years ahead: rc $rc: $(cat "$T/out")"
# Signed again by its publisher (now): accepted.
SOURCE_DATE_EPOCH= "$ABIDE_BUILD" channel refresh "$WWW/nexp" "${KEY[@]}" --ca "$T/keys/ca.pem" >/dev/null
decide not-in-rollout
[ "$(ustate "['last_serial']")" = $((S + 2)) ] && [ "$(ustate "['failures']")" = 0 ] || die "the refreshed channel: $(cat "$T/var/update.json")"
nothing_happened "expired channels"
conf

note "a machine-id that is not 32 hex digits: refused"
echo "not-a-machine-id" >"$T/machine-id"
refuse "machine-id $T/machine-id: not 32 lowercase hex digits"
echo "$MID" >"$T/machine-id"
echo "ok"
