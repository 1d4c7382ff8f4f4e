#!/bin/bash
# Reports (docs/report.md) against real nginx storing them with its dav
# module (dav_methods PUT), from abidectl on a device made of files:
# boot-check's blessed, marked-bad and rolled-back, mark-bad, a failed
# install; the JSON the server stored; no URL -> kept and counted; endpoint
# down -> spooled, boot-check not held up, then sent in order; HTTP 500 ->
# kept; POST; mutual TLS; a torn temporary file left by a power cut.
# abide-build channel watch on a channel directory and stored fixture
# reports: waits, advances a stage on blessed, halts on failures, leaves a
# halted release alone, skips malformed reports, refuses bad arguments, a
# tampered channel and a missing --ca; keeps the channel's name and expiry.
# A real install on a loop device: install-started and installed (not for
# --dry-run), install-failed for a bundle of another signer.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/nginx-lib.sh"
. "$(dirname "$0")/install-lib.sh"
need jq iconv openssl mkfs.erofs veritysetup

make_device
export EFIVARFS_PATH=$T/efivars/
use_image_info
MID=0123456789abcdef0123456789abcdef
echo "$MID" >"$T/machine-id"
SPOOL=$T/var/lib/abide/reports
DAV=$T/dav
printf '[Update]\nMachineIdFile=%s/machine-id\n[Report]\nSpool=%s\n' "$T" "$SPOOL" >>"$T/abide.conf"
cp "$T/abide.conf" "$T/abide.base"
printf '#!/bin/sh\necho fine\n' >"$T/health.d/10-ok"; chmod +x "$T/health.d/10-ok"

# report_conf KEY=VALUE...: abide.conf with these [Report] keys.
report_conf() {
        cp "$T/abide.base" "$T/abide.conf"
        printf '[Report]\n' >>"$T/abide.conf"
        printf '%s\n' "$@" >>"$T/abide.conf"
}
queue() { "$ABIDECTL" status --json | jq -r .report.queue; }
spooled() { (cd "$SPOOL" 2>/dev/null && ls -1 -- *.json 2>/dev/null) || true; }
stored() { (cd "$DAV/reports" 2>/dev/null && ls -1 -- *.json 2>/dev/null) || true; }
# stored_event EVENT: the one stored report of that event.
stored_event() {
        local f n
        n=$(grep -l "\"event\":\"$1\"" "$DAV"/reports/*.json 2>/dev/null | wc -l)
        [ "$n" -eq 1 ] || die "$n stored $1 reports, expected 1: $(stored)"
        f=$(grep -l "\"event\":\"$1\"" "$DAV"/reports/*.json)
        cat "$f"
}

# dav_start: nginx on 127.0.0.1 storing PUTs under $DAV (http $HTTP_PORT, https $HTTPS_PORT,
# https with client certificates required $MTLS_PORT); /fail/ answers 500; POSTs to /post/
# are kept as files in $NGX/post (client_body_in_file_only) and answered 201.
dav_start() {
        [ -n "${HTTP_PORT:-}" ] || HTTP_PORT=$(free_port) HTTPS_PORT=$(free_port) MTLS_PORT=$(free_port)
        mkdir -p "$NGX/tmp" "$NGX/post" "$DAV"
        local common="
                root $DAV;
                location /reports/ {
                        dav_methods PUT;
                        create_full_put_path on;
                        dav_access user:rw group:r all:r;
                }
                location /fail/ { return 500; }
                location /post/ {
                        client_body_in_file_only on;
                        client_body_temp_path $NGX/post;
                        proxy_pass http://127.0.0.1:$HTTP_PORT/accepted;
                }
                location = /accepted { return 201; }"
        nginx_serve "$common" '$request_method $uri $status'
}

note "nginx-light stores PUTs (dav module)"
nginx -V 2>&1 | grepq -- --with-http_dav_module || die "nginx has no dav module: $(nginx -V 2>&1 | tail -1)"
make_ca ca
make_cert ca server IP:127.0.0.1 serverAuth
make_cert ca device DNS:device-1 clientAuth
dav_start
HTTPS=https://127.0.0.1:$HTTPS_PORT

note "no URL: the blessed event is spooled and counted, send says why it cannot"
"$HELPER" install b 1.1 3
loader_boot b
"$ABIDECTL" boot-check --timeout 10 --no-reboot >/dev/null
[ "$(spooled)" = "00000001-blessed.json" ] || die "spool after the bless: $(spooled)"
[ "$(queue)" = 1 ] || die "status queue: $("$ABIDECTL" status --json | jq -c .report)"
"$ABIDECTL" status --json | jq -e '.report.url == null and .report.last_error == null' >/dev/null ||
        die "status report: $("$ABIDECTL" status --json | jq -c .report)"
"$ABIDECTL" status | grepq "^Reports: 1 queued, kept (\[Report\] URL= not set)" || die "status: $("$ABIDECTL" status)"
"$ABIDECTL" report list | grepq "^00000001 blessed *1.1$" || die "report list: $("$ABIDECTL" report list)"
"$ABIDECTL" report list --json | jq -e '.queue == 1 and .events[0].event == "blessed" and .events[0].seq == 1
        and .events[0].to_version == "1.1"' >/dev/null || die "report list --json: $("$ABIDECTL" report list --json)"
expect_fail "^abidectl: report: 1 report not sent: 1 event queued in .*, and \[Report\] URL= is not set$" \
        "$ABIDECTL" report send
jq -e --arg m "$MID" '.format == 1 and .event == "blessed" and .machine_id == $m and .compatible == "x"
        and .to_version == "1.1" and .slot == "b" and .boot.tries_done == 1 and .boot.tries_left == 2
        and .reason == null and .check == null and .channel_serial == null and (.time | type) == "number"
        and (.id | test("^" + $m + "-00000001-[0-9a-f]{8}$"))' "$SPOOL/00000001-blessed.json" >/dev/null ||
        die "spooled blessed: $(cat "$SPOOL/00000001-blessed.json")"

note "https with the CA: sent as PUT <URL>/<id>.json, stored by nginx, spool empty"
report_conf "URL=$HTTPS/reports/" "CAFile=$TLS/ca.pem"
out=$("$ABIDECTL" report send)
[ "$out" = "Sent 1 report, 0 queued" ] || die "report send: $out"
[ -z "$(spooled)" ] || die "spool not empty after the send: $(spooled)"
id=$(stored_event blessed | jq -r .id)
[ "$(stored)" = "$id.json" ] || die "stored: $(stored), expected $id.json"
stored_event blessed | jq -e '.event == "blessed" and .to_version == "1.1" and .slot == "b"' >/dev/null ||
        die "stored blessed: $(stored_event blessed)"
[ "$(queue)" = 0 ] || die "queue after the send: $(queue)"
"$ABIDECTL" status --json | jq -e --arg u "$HTTPS/reports/" '.report.url == $u and .report.last_error == null' >/dev/null ||
        die "status report: $("$ABIDECTL" status --json | jq -c .report)"
"$ABIDECTL" report list | grepq -x "No reports queued" || die "list of an empty spool: $("$ABIDECTL" report list)"

note "endpoint a black hole (accepts, never answers): a failed trial's marked-bad and the rollback are spooled, boot-check is not held up"
nginx_stop
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(600)' "$HTTPS_PORT" &
HOLE_PID=$!
cleanup_hooks+=('stop_child $HOLE_PID')
wait_port "$HTTPS_PORT"
"$HELPER" install a 1.2 3
loader_boot a
printf '#!/bin/sh\necho "agent down: port 8080 closed" >&2\nexit 3\n' >"$T/etc-health.d/20-probe"
chmod +x "$T/etc-health.d/20-probe"
start=$(date +%s%N)
"$ABIDECTL" boot-check --timeout 2 --no-reboot >/dev/null 2>&1 && die "failing boot-check exited 0"
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "   failing trial (2 s of checks) with the endpoint a black hole: $ms ms"
# The sends are bounded at 3 s (REPORT_SEND_BUDGET_MS) for the whole run.
[ "$ms" -lt 6500 ] || die "boot-check held up by a dead endpoint: $ms ms"
rm "$T/etc-health.d/20-probe"
loader_boot b
start=$(date +%s%N)
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null
ms=$(( ($(date +%s%N) - start) / 1000000 ))
echo "   rollback recorded with the endpoint a black hole: $ms ms"
[ "$ms" -lt 4500 ] || die "boot-check held up by a dead endpoint: $ms ms"
stop_child $HOLE_PID; wait $HOLE_PID 2>/dev/null || true
[ "$(spooled | tr '\n' ' ')" = "00000002-marked-bad.json 00000003-rolled-back.json " ] || die "spool: $(spooled)"
"$ABIDECTL" status --json | jq -e '.report.queue == 2 and (.report.last_error | test("00000002-marked-bad.json: PUT https://127.0.0.1:[0-9]+/reports/.*"))' \
        >/dev/null || die "status while down: $("$ABIDECTL" status --json | jq -c .report)"
expect_fail "^abidectl: report: 2 reports not sent: 00000002-marked-bad.json: PUT https://127.0.0.1:$HTTPS_PORT/reports/$MID-00000002-[0-9a-f]{8}.json: " \
        "$ABIDECTL" report send --timeout 2
[ "$(queue)" = 2 ] || die "queue after a failed send: $(queue)"

note "endpoint back: the timer's run (update --timer, even without a channel) sends them in order, spool empty"
: >"$NGX/access.log"
dav_start
"$ABIDECTL" update --timer >/dev/null
[ -z "$(spooled)" ] || die "spool: $(spooled)"
grep -o 'PUT /reports/[^ ]*-0000000[0-9]-' "$NGX/access.log" | sed 's/.*-\(0000000[0-9]\)-$/\1/' | tr '\n' ' ' >"$T/order"
[ "$(cat "$T/order")" = "00000002 00000003 " ] || die "order at the server: $(cat "$T/order") ($(cat "$NGX/access.log"))"
stored_event marked-bad | jq -e '.to_version == "1.2" and .from_version == "1.1" and .slot == "a" and .check == "20-probe"
        and (.reason | test("agent down: port 8080 closed")) and .boot.tries_left == 0 and .boot.tries_done == 1' >/dev/null ||
        die "stored marked-bad: $(stored_event marked-bad)"
stored_event rolled-back | jq -e '.to_version == "1.2" and .from_version == "1.1" and .slot == "a"
        and (.reason | test("^check .20-probe. failed: exit 3: agent down"))' >/dev/null ||
        die "stored rolled-back: $(stored_event rolled-back)"
"$ABIDECTL" status --json | jq -e '.report.queue == 0 and .report.last_error == null' >/dev/null ||
        die "status after the send: $("$ABIDECTL" status --json | jq -c .report)"

note "emitted while the endpoint is up: sent at once (mark-bad)"
"$HELPER" install a 1.3 3
"$ABIDECTL" mark-bad a >/dev/null
[ -z "$(spooled)" ] || die "mark-bad's report not sent at once: $(spooled)"
grep -l '"event":"marked-bad"' "$DAV"/reports/*.json | xargs jq -c 'select(.to_version == "1.3")' |
        jq -e '.check == "mark-bad" and .slot == "a"' >/dev/null || die "mark-bad report not stored"

note "HTTP 500: kept, the error names the event and the status"
report_conf "URL=$HTTPS/fail/" "CAFile=$TLS/ca.pem"
"$ABIDECTL" install "$T/nonexistent.abide" >/dev/null 2>&1 && die "install of a missing file succeeded"
[ "$(spooled)" = "00000005-install-failed.json" ] || die "spool: $(spooled)"
jq -e '.event == "install-failed" and .to_version == null and .from_version == "1.0" and (.reason | test("nonexistent.abide"))' \
        "$SPOOL/00000005-install-failed.json" >/dev/null || die "install-failed: $(cat "$SPOOL/00000005-install-failed.json")"
expect_fail "00000005-install-failed.json: PUT https://127.0.0.1:$HTTPS_PORT/fail/$MID-00000005-[0-9a-f]{8}.json: HTTP 500 \(Internal Server Error\)$" \
        "$ABIDECTL" report send --timeout 3
[ "$(spooled)" = "00000005-install-failed.json" ] || die "a 500 removed the report: $(spooled)"

note "the wrong CA: refused, kept"
report_conf "URL=$HTTPS/reports/" "CAFile=$T/keys-none.pem"
expect_fail "cannot read \[Report\] CAFile=" "$ABIDECTL" report send
make_ca other-ca
report_conf "URL=$HTTPS/reports/" "CAFile=$TLS/other-ca.pem"
expect_fail "PUT https://127.0.0.1:$HTTPS_PORT/reports/.*(certificate|SSL)" "$ABIDECTL" report send
[ "$(queue)" = 1 ] || die "queue: $(queue)"

note "mutual TLS: without a client certificate refused, with it sent"
report_conf "URL=https://127.0.0.1:$MTLS_PORT/reports/" "CAFile=$TLS/ca.pem"
expect_fail "HTTP 400" "$ABIDECTL" report send
report_conf "URL=https://127.0.0.1:$MTLS_PORT/reports/" "CAFile=$TLS/ca.pem" \
        "ClientCertificate=$TLS/device.crt" "ClientKey=$TLS/device.key"
"$ABIDECTL" report send >/dev/null
[ -z "$(spooled)" ] || die "spool: $(spooled)"
stored_event install-failed >/dev/null

note "POST: one request per event to the URL itself, body as spooled; headers from a file"
report_conf "URL=http://127.0.0.1:$HTTP_PORT/post/" "Method=POST" "HeadersFile=$T/headers"
printf '# fleet token\nAuthorization: Bearer s3cret\n' >"$T/headers"
"$HELPER" install a 1.4 3
"$ABIDECTL" mark-bad a >/dev/null
[ -z "$(spooled)" ] || die "POST: spool: $(spooled)"
grep -q "^POST /post/ 201$" "$NGX/access.log" || die "no POST in the access log: $(cat "$NGX/access.log")"
body=$(cat "$NGX"/post/*)
echo "$body" | jq -e '.event == "marked-bad" and .to_version == "1.4"' >/dev/null ||
        die "POST body: $body"
printf 'Range: bytes=0-\n' >"$T/headers"
"$HELPER" install a 1.5 3
"$ABIDECTL" mark-bad a >/dev/null 2>&1
expect_fail "HeadersFile=$T/headers:1: header 'Range' is set by the fetch itself" "$ABIDECTL" report send

note "http:// refused with [Network] AllowHTTP=no"
report_conf "URL=http://127.0.0.1:$HTTP_PORT/reports/"
printf '[Network]\nAllowHTTP=no\n' >>"$T/abide.conf"
expect_fail "\[Report\] URL=: http:// is not allowed" "$ABIDECTL" report send

note "a power cut mid-write leaves a temporary file: never sent, cleared, sequence goes on"
report_conf "URL=$HTTPS/reports/" "CAFile=$TLS/ca.pem"
printf '{"format":1,"id":"torn' >"$SPOOL/.#00000009-blessed.json.AbCdEf"
"$ABIDECTL" report send >/dev/null
"$HELPER" install a 1.6 3
"$ABIDECTL" mark-bad a >/dev/null
[ ! -e "$SPOOL/.#00000009-blessed.json.AbCdEf" ] || die "stale temporary file kept"
[ "$(cat "$SPOOL/seq")" = 8 ] || die "seq: $(cat "$SPOOL/seq")"
grep -l '"to_version":"1.6"' "$DAV"/reports/*.json >/dev/null || die "1.6 report not sent"

note "a lost counter never reuses a queued number"
nginx_stop
"$HELPER" install a 1.7 3
"$ABIDECTL" mark-bad a >/dev/null 2>&1
rm "$SPOOL/seq"
"$HELPER" install a 1.8 3
"$ABIDECTL" mark-bad a >/dev/null 2>&1
[ "$(spooled | tr '\n' ' ')" = "00000009-marked-bad.json 00000010-marked-bad.json " ] || die "spool: $(spooled)"

note "a counter or a queued name above 2^62 is garbage: the name set aside, the numbering goes on after the highest sane one"
printf '18446744073709551615\n' >"$SPOOL/seq"
cp "$SPOOL/00000010-marked-bad.json" "$SPOOL/9999999999999999999-blessed.json"
"$HELPER" install a 1.9 3
"$ABIDECTL" mark-bad a >/dev/null 2>"$T/err" || die "mark-bad: $(cat "$T/err")"
grep "cannot spool" "$T/err" && die "mark-bad's report not spooled"
[ "$(spooled | tr '\n' ' ')" = "00000009-marked-bad.json 00000010-marked-bad.json 00000011-marked-bad.json " ] || die "spool: $(spooled)"
[ "$(cat "$SPOOL/seq")" = 11 ] || die "seq: $(cat "$SPOOL/seq")"
[ -e "$SPOOL/9999999999999999999-blessed.json.corrupt" ] || die "19-digit name not set aside: $(ls "$SPOOL")"
[ "$(queue)" = 3 ] || die "queue: $(queue)"

note "queued names that are no report (over 64 KiB, a directory, a link, a FIFO) are set aside as *.corrupt; the events after them are sent"
head -c 70000 /dev/zero | tr '\0' x >"$SPOOL/00000001-blessed.json"
mkdir "$SPOOL/00000002-blessed.json"
cp "$SPOOL/00000009-marked-bad.json" "$T/elsewhere.json"
ln -s "$T/elsewhere.json" "$SPOOL/00000003-blessed.json"
mkfifo "$SPOOL/00000004-blessed.json"
dav_start
out=$("$ABIDECTL" report send)
[ "$out" = "Sent 3 reports, 0 queued, 4 set aside as *.corrupt" ] || die "report send: $out"
[ -z "$(spooled)" ] || die "spool: $(spooled)"
[ "$(cd "$SPOOL" && ls -1d -- 0*.corrupt | tr '\n' ' ')" = "00000001-blessed.json.corrupt 00000002-blessed.json.corrupt 00000003-blessed.json.corrupt 00000004-blessed.json.corrupt " ] ||
        die "set aside: $(ls -la "$SPOOL")"
[ -d "$SPOOL/00000002-blessed.json.corrupt" ] && [ -L "$SPOOL/00000003-blessed.json.corrupt" ] &&
        [ -p "$SPOOL/00000004-blessed.json.corrupt" ] || die "set aside: $(ls -la "$SPOOL")"
grep -l '"to_version":"1.7"' "$DAV"/reports/*.json >/dev/null || die "1.7 report not sent"
grep -l '"to_version":"1.8"' "$DAV"/reports/*.json >/dev/null || die "1.8 report not sent"
grep -l '"to_version":"1.9"' "$DAV"/reports/*.json >/dev/null || die "1.9 report not sent"
"$ABIDECTL" status --json | jq -e '.report.queue == 0 and .report.last_error == null' >/dev/null ||
        die "status after the send: $("$ABIDECTL" status --json | jq -c .report)"
rm -r "$SPOOL"/*.corrupt
nginx_stop


note "watch: a channel with 2.0 for abide-example-x86_64 planned at 5, 25, 100 %"
B=$ABIDE_BUILD
CH=$T/channel
R=$T/stored
export SOURCE_DATE_EPOCH=1721362140
"$B" keygen -o "$T/keys" >/dev/null
K=(--key "$T/keys/signing.key" --cert "$T/keys/signing.crt")
b20=$("$B" build "$ABIDE_SRCDIR/recipes/example.conf" "${K[@]}" -o "$T/b" --set Image.Version=2.0)
bo=$("$B" build "$ABIDE_SRCDIR/recipes/example.conf" "${K[@]}" -o "$T/o" --set Image.Version=7.0 \
        --set Image.Compatible=other-board)
"$B" channel init "$CH" "${K[@]}" --name fleet --expires-in 7 >/dev/null
"$B" channel add "$CH" "$b20" "${K[@]}" --ca "$T/keys/ca.pem" --url https://cdn.example/b20.abide --stages 5,25,100 >/dev/null
"$B" channel add "$CH" "$bo" "${K[@]}" --ca "$T/keys/ca.pem" --url https://cdn.example/bo.abide --stages 50,100 >/dev/null
COMPAT=abide-example-x86_64
mkdir -p "$R"
rel() { jq -c --arg c "$1" '.releases[] | select(.compatible == $c) | {percent, halted, halt_reason}' "$CH/channel.json"; }
serial() { jq .serial "$CH/channel.json"; }
verify_sig() {
        openssl cms -verify -binary -inform DER -in "$CH/channel.json.sig" -content "$CH/channel.json" \
                -CAfile "$T/keys/ca.pem" -purpose any -out /dev/null 2>"$T/cms.err" ||
                die "openssl cms rejects channel.json.sig: $(cat "$T/cms.err")"
}
watch() { "$B" channel watch "$CH" --reports "$R" "${K[@]}" --ca "$T/keys/ca.pem" "$@"; }

# fixture DEVICE SEQ EVENT [VERSION [COMPATIBLE]]: a report as a device sends it (docs/report.md), stored as <id>.json.
fixture() {
        local mid seq id
        mid=$(printf 'dev%029d' "$1"); seq=$(printf '%08d' "$2")
        id=$mid-$seq-$(printf '%08x' $((RANDOM * RANDOM)))
        jq -n -c --arg id "$id" --arg ev "$3" --arg mid "$mid" --arg to "${4:-2.0}" --arg c "${5:-$COMPAT}" \
                '{format: 1, id: $id, event: $ev, time: 1721362200, machine_id: $mid, compatible: $c,
                  from_version: "1.0", to_version: $to, slot: "b", boot: {tries_done: 1, tries_left: 2},
                  reason: (if $ev == "rolled-back" then "no healthy boot in 3 tries" else null end),
                  check: null, channel_serial: 3}' >"$R/$id.json"
}
# took N FIRST: devices FIRST..FIRST+N-1 started and installed 2.0.
took() { local i; for i in $(seq "$2" $(($2 + $1 - 1))); do fixture "$i" 1 install-started; fixture "$i" 2 installed; done; }
blessed() { local i; for i in $(seq "$2" $(($2 + $1 - 1))); do fixture "$i" 3 blessed; done; }

note "watch: no reports yet -> no change, nothing written"
s0=$(serial); cp "$CH/channel.json" "$T/ch.before"
out=$(watch)
echo "$out"
echo "$out" | grepq "^$COMPAT 2.0: no change: no device took it yet (stage 5%)$" || die "watch: $out"
echo "$out" | grepq "^other-board 7.0: no change: no device took it yet" || die "watch: $out"
same_file "$T/ch.before" "$CH/channel.json"

note "watch: 10 took it, 5 blessed, update-found alone and other releases' reports do not count -> waiting"
took 10 1
blessed 5 1
fixture 50 1 update-found
fixture 51 1 install-started 1.9
fixture 51 2 rolled-back 1.9
fixture 52 1 rolled-back 7.0 other-board
out=$(watch)
echo "$out" | grepq "^$COMPAT 2.0: no change: waiting at stage 5%: 5 of 10 blessed (needs 90% and at least 1), 0 failed$" ||
        die "watch: $out"
echo "$out" | grepq "^other-board 7.0: halt: 1 of 1 devices that took it failed" ||
        die "other-board's rollback not counted for its own release: $out"
# The other board's halt was written; 2.0 stayed where it was.
[ "$(serial)" = $((s0 + 1)) ] || die "serial $(serial) after the other board's halt"
verify_sig
[ "$(rel $COMPAT)" = '{"percent":5,"halted":false,"halt_reason":null}' ] || die "2.0: $(rel $COMPAT)"
rel other-board | jq -e '.halted == true and (.halt_reason | test("^watch: 1 of 1 devices that took it failed \\(1 rolled back"))' >/dev/null ||
        die "other-board: $(rel other-board)"

note "watch: 9 of 10 blessed (90 %), --min-devices 10 -> still waiting; --dry-run says advance, writes nothing"
blessed 4 6
s1=$(serial); cp "$CH/channel.json" "$T/ch.before"
out=$(watch --min-devices 10)
echo "$out" | grepq "^$COMPAT 2.0: no change: waiting at stage 5%: 9 of 10 blessed (needs 90% and at least 10)" || die "watch: $out"
out=$("$B" channel watch "$CH" --reports "$R" --dry-run)
echo "$out" | grepq "^$COMPAT 2.0: advance 5% -> 25%: 9 of 10 blessed, 0 failed" || die "dry run: $out"
echo "$out" | grepq "^other-board 7.0: no change: halted already" || die "dry run: $out"
echo "$out" | grepq "not written" || die "dry run: $out"
same_file "$T/ch.before" "$CH/channel.json"

note "watch: advances 5 -> 25 %, serial + 1, signed (a day after the channel was made)"
out=$(SOURCE_DATE_EPOCH=$((SOURCE_DATE_EPOCH + 86400)) watch --ca "$T/keys/ca.pem")
echo "$out"
echo "$out" | grepq "^$COMPAT 2.0: advance 5% -> 25%: 9 of 10 blessed, 0 failed: stage 5% -> 25%$" || die "watch: $out"
[ "$(serial)" = $((s1 + 1)) ] || die "serial $(serial) after the advance from $s1"
verify_sig
# Signing again keeps the channel's name and renews its expiry (7 days after the change).
jq -e '.name == "fleet" and .updated == '$((SOURCE_DATE_EPOCH + 86400))' and .expires - .updated == 604800' "$CH/channel.json" >/dev/null ||
        die "the watch's change lost the name or the expiry: $(jq -c '{name, updated, expires}' "$CH/channel.json")"
[ "$(rel $COMPAT)" = '{"percent":25,"halted":false,"halt_reason":null}' ] || die "2.0 after the advance: $(rel $COMPAT)"

note "watch: at 25 %: 20 took it, 1 failed (5 %, not more) -> no halt; a failed install retried and blessed is a success"
took 10 11
blessed 8 11
fixture 20 3 install-failed
fixture 21 1 install-started; fixture 21 2 install-failed; fixture 21 3 install-started; fixture 21 4 blessed
out=$(watch)
echo "$out" | grepq "^$COMPAT 2.0: no change: waiting at stage 25%: 18 of 21 blessed (needs 90% and at least 1), 1 failed$" ||
        die "watch: $out"

note "watch: 2 of 22 failed (9 %) -> halted, with the counts, serial + 1"
took 1 22
fixture 22 3 marked-bad
s2=$(serial)
out=$(watch)
echo "$out" | grepq "^$COMPAT 2.0: halt: 2 of 22 devices that took it failed (0 rolled back, 1 marked bad, 1 install failed), more than 5% at stage 25%$" ||
        die "watch: $out"
[ "$(serial)" = $((s2 + 1)) ] || die "serial $(serial) after the halt"
verify_sig
rel $COMPAT | jq -e '.percent == 25 and .halted == true and (.halt_reason | test("^watch: 2 of 22 devices"))' >/dev/null ||
        die "2.0 after the halt: $(rel $COMPAT)"
"$B" channel show "$CH" --ca "$T/keys/ca.pem" --json | jq -e '.verified == true' >/dev/null || die "show does not verify"

note "watch: a halted release is left alone, even when more devices blessed it"
fixture 10 3 blessed; fixture 19 3 blessed
cp "$CH/channel.json" "$T/ch.before"
out=$(watch)
echo "$out" | grepq "^$COMPAT 2.0: no change: halted already" || die "watch: $out"
same_file "$T/ch.before" "$CH/channel.json"

note "watch: malformed, oversized, foreign and linked files are skipped with a warning"
printf '{"format":1,"id":' >"$R/torn.json"
printf '{"format":2}' >"$R/future.json"
echo '[]' >"$R/array.json"
head -c 70000 /dev/zero | tr '\0' ' ' >"$R/big.json"
fixture 90 1 install-started
jq -c '.machine_id = "someone-else"' "$R"/dev*90-00000001-*.json >"$R/forged.json"
ln -s /etc/passwd "$R/link.json"
echo "not a report" >"$R/README.txt"
"$B" channel resume "$CH" $COMPAT "${K[@]}" --ca "$T/keys/ca.pem" >/dev/null
out=$(watch --dry-run 2>"$T/err")
echo "$out" | head -1
cat "$T/err"
[ "$(grep -c "warning: .*skipped$" "$T/err")" = 6 ] || die "expected 6 skipped files: $(cat "$T/err")"
grep -q "torn.json: report: not valid JSON (truncated), skipped" "$T/err" || die "torn: $(cat "$T/err")"
grep -q "future.json: report: format 2 is not 1, skipped" "$T/err" || die "future: $(cat "$T/err")"
grep -q "big.json: larger than a report, skipped" "$T/err" || die "big: $(cat "$T/err")"
grep -q "forged.json: report id .* is not of machine-id someone-else, skipped" "$T/err" || die "forged: $(cat "$T/err")"
grep -q "link.json: not a regular file, skipped" "$T/err" || die "link: $(cat "$T/err")"
echo "$out" | grepq "(6 skipped)" || die "watch: $out"
echo "$out" | grepq "^$COMPAT 2.0: halt: 2 of 23 devices" || die "after resume, the failures still count: $out"

note "watch: bad arguments fail with one line, the channel untouched"
cp "$CH/channel.json" "$T/ch.before"
expect_fail "watch: cannot read the reports directory $T/none: No such file" watch --reports "$T/none"
expect_fail "watch: .*$T/no-channel" "$B" channel watch "$T/no-channel" --reports "$R" "${K[@]}"
expect_fail "watch: --key and --cert are required" "$B" channel watch "$CH" --reports "$R"
expect_fail "watch: --reports RDIR is required" "$B" channel watch "$CH" "${K[@]}"
expect_fail "watch: --ca CA is required: the current $CH/channel.json is verified against it before it is signed again \(or --dry-run\)" \
        "$B" channel watch "$CH" --reports "$R" "${K[@]}"
expect_fail "watch: invalid --max-failure-percent '101'" watch --max-failure-percent 101
"$B" keygen -o "$T/other" >/dev/null
expect_fail "watch: " watch --ca "$T/other/ca.pem"
same_file "$T/ch.before" "$CH/channel.json"

note "watch: a channel.json changed in DIR (its rollout raised to 100 %) is not signed again"
cp "$CH/channel.json.sig" "$T/sig.before"
sed "/\"compatible\": \"$COMPAT\"/,/}/s/\"percent\": [0-9.]*/\"percent\": 100/" "$T/ch.before" >"$CH/channel.json"
[ "$(rel "$COMPAT" | jq .percent)" = 100 ] || die "the channel was not tampered with: $(rel "$COMPAT")"
cp "$CH/channel.json" "$T/tampered.json"
expect_fail "watch: $CH/channel.json.sig: not verified: signature does not match" watch
same_file "$T/tampered.json" "$CH/channel.json"
same_file "$T/sig.before" "$CH/channel.json.sig"
cp "$T/ch.before" "$CH/channel.json"

note "install: a real install on a loop device reports install-started, then installed (pending); --dry-run nothing"
rm -rf "$T/esp" "$T/efivars" "$T/var"
mkdir -p "$T/kernel" "$T/payload"
head -c 300000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
head -c 100000 /dev/urandom >"$T/payload/blob"
V1=$(build_bundle "$T/i1" --set Image.Version=1.0)
V2=$(build_bundle "$T/i2" --set Image.Version=2.0)
FOREIGN=$(KEY=$T/other/signing.key CERT=$T/other/signing.crt build_bundle "$T/i3" --set Image.Version=2.1)
make_disk 24 2
make_config
fill_slot_a "$V1"
write_image_info 1.0 0
MID2=fedcba9876543210fedcba9876543210
echo "$MID2" >"$T/machine-id"
SPOOL=$T/var/reports
printf '[Update]\nMachineIdFile=%s/machine-id\n[Report]\nSpool=%s\nURL=%s/reports/\nCAFile=%s/ca.pem\n' \
        "$T" "$SPOOL" "$HTTPS" "$TLS" >>"$T/abide.conf"
dav_start
mine() { grep -l "\"machine_id\":\"$MID2\"" "$DAV"/reports/*.json 2>/dev/null | xargs -r cat | jq -c -s 'sort_by(.id)'; }
"$ABIDECTL" install --dry-run "$V2" >/dev/null
[ "$(mine)" = "[]" ] && [ -z "$(spooled)" ] || die "--dry-run reported: $(mine) $(spooled)"
"$ABIDECTL" install "$V2" >"$T/out"
cat "$T/out"
entry=$(entry_of b)
left=${entry#abide-b+}; left=${left%.conf}
mine | jq -e --arg m "$MID2" --argjson left "$left" 'length == 2
        and (.[0] | .event == "install-started" and .to_version == "2.0" and .from_version == "1.0" and .slot == "b"
                and .compatible == "abide-example-x86_64" and (.id | test("^" + $m + "-00000001-")))
        and (.[1] | .event == "installed" and .to_version == "2.0" and .slot == "b" and .boot.tries_left == $left
                and .boot.tries_done == 0)' >/dev/null || die "install reports: $(mine)"
[ -z "$(spooled)" ] || die "spool after the install: $(spooled)"

note "install: a bundle of another signer reports install-failed with the error, nothing started"
"$ABIDECTL" install "$FOREIGN" >/dev/null 2>"$T/err" && die "foreign bundle installed"
err=$(sed -n 's/^abidectl: install: //p' "$T/err")
[ -n "$err" ] || die "no error line: $(cat "$T/err")"
mine | jq -e --arg e "$err" 'length == 3 and (.[2] | .event == "install-failed" and .to_version == null
        and .slot == null and .reason == $e)' >/dev/null || die "install-failed: $(mine) (error: $err)"

echo "PASS"
