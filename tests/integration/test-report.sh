#!/bin/bash
# Reports (docs/report.md) against real nginx storing them with its dav
# module (dav_methods PUT), from abidectl on a device made of files:
# boot-check's blessed, marked-bad and rolled-back, mark-bad, a failed
# install; the JSON the server stored; no URL -> kept and counted; endpoint
# down -> spooled, boot-check not held up, then sent in order; HTTP 500 ->
# kept; POST; mutual TLS; a torn temporary file left by a power cut.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/nginx-lib.sh"
need jq iconv curl

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
spooled() { (cd "$SPOOL" && ls -1 -- *.json 2>/dev/null) || true; }
stored() { (cd "$DAV/reports" && ls -1 -- *.json 2>/dev/null) || true; }
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
        cat >"$NGX/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log info;
events { worker_connections 64; }
http {
        log_format reports '\$request_method \$uri \$status';
        access_log $NGX/access.log reports;
        client_body_temp_path $NGX/tmp/body;
        proxy_temp_path $NGX/tmp/proxy;
        fastcgi_temp_path $NGX/tmp/fastcgi;
        uwsgi_temp_path $NGX/tmp/uwsgi;
        scgi_temp_path $NGX/tmp/scgi;
        server {
                listen 127.0.0.1:$HTTP_PORT;
                $common
        }
        server {
                listen 127.0.0.1:$HTTPS_PORT ssl;
                ssl_certificate $TLS/server.crt;
                ssl_certificate_key $TLS/server.key;
                $common
        }
        server {
                listen 127.0.0.1:$MTLS_PORT ssl;
                ssl_certificate $TLS/server.crt;
                ssl_certificate_key $TLS/server.key;
                ssl_client_certificate $TLS/ca.pem;
                ssl_verify_client on;
                $common
        }
}
CONF
        nginx -t -q -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" || die "nginx refused $NGX/nginx.conf: $(cat "$NGX/error.log")"
        nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -g 'daemon off;' &
        NGINX_PID=$!
        wait_port "$HTTP_PORT"
        wait_port "$HTTPS_PORT"
        wait_port "$MTLS_PORT"
}

note "nginx-light stores PUTs (dav module)"
nginx -V 2>&1 | grep -q -- --with-http_dav_module || die "nginx has no dav module: $(nginx -V 2>&1 | tail -1)"
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
"$ABIDECTL" status | grep -q "^Reports: 1 queued, kept (\[Report\] URL= not set)" || die "status: $("$ABIDECTL" status)"
"$ABIDECTL" report list | grep -q "^00000001 blessed *1.1$" || die "report list: $("$ABIDECTL" report list)"
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
"$ABIDECTL" report list | grep -qx "No reports queued" || die "list of an empty spool: $("$ABIDECTL" report list)"

note "endpoint a black hole (accepts, never answers): a failed trial's marked-bad and the rollback are spooled, boot-check is not held up"
nginx_stop
python3 -c 'import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(64); time.sleep(600)' "$HTTPS_PORT" &
HOLE_PID=$!
cleanup_hooks+=('kill $HOLE_PID 2>/dev/null')
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
kill $HOLE_PID; wait $HOLE_PID 2>/dev/null || true
[ "$(spooled | tr '\n' ' ')" = "00000002-marked-bad.json 00000003-rolled-back.json " ] || die "spool: $(spooled)"
"$ABIDECTL" status --json | jq -e '.report.queue == 2 and (.report.last_error | test("00000002-marked-bad.json: PUT https://127.0.0.1:[0-9]+/reports/.*"))' \
        >/dev/null || die "status while down: $("$ABIDECTL" status --json | jq -c .report)"
expect_fail "^abidectl: report: 2 reports not sent: 00000002-marked-bad.json: PUT https://127.0.0.1:$HTTPS_PORT/reports/$MID-00000002-[0-9a-f]{8}.json: " \
        "$ABIDECTL" report send --timeout 2
[ "$(queue)" = 2 ] || die "queue after a failed send: $(queue)"

note "endpoint back: sent in order, spool empty"
: >"$NGX/access.log"
dav_start
out=$("$ABIDECTL" report send)
[ "$out" = "Sent 2 reports, 0 queued" ] || die "report send: $out"
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

echo "PASS"
