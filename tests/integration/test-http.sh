#!/bin/bash
# abidectl install URL against nginx on 127.0.0.1 (https with a CA made
# here, mutual TLS, http), through a proxy that cuts the connection every
# 8 MiB and stalls once: the install completes, slot b byte-identical to a
# file install, and no more bytes fetched than the bundle plus one read
# buffer per cut. Refused with one line, slot a untouched and b not
# bootable: 404, 500 until the deadline, a redirect loop, the wrong CA, a
# host name mismatch, no client certificate, a bundle swapped on the server
# after a cut, a truncated body, http:// with AllowHTTP=no; a 404 whose
# error page comes slowly or is large: one request, the page not read whole.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/install-lib.sh"
. "$(dirname "$0")/nginx-lib.sh"
need tar cmp script curl

# libcurl's receive buffer (FETCH_BUFFER in lib/net/http-fetch-private.h): what a cut may cost.
READ_BUFFER=$((512 * 1024))
CUT=$((8 * 1024 * 1024))

note "keys, bundles, disk, CA, nginx"
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
head -c 300000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
head -c 100000 /dev/urandom >"$T/payload/blob"
V1=$(build_bundle "$T/b1" --set Image.Version=1.0)
head -c $((40 * 1024 * 1024)) /dev/urandom >"$T/payload/blob"
GOOD=$(build_bundle "$T/b2" --set Image.Version=2.0)
head -c $((40 * 1024 * 1024 + 4096)) /dev/urandom >"$T/payload/blob"
OTHER=$(build_bundle "$T/b3" --set Image.Version=2.1)
# Another 2.0 of the very same size: no validator tells it from GOOD when its time is the same.
head -c $((40 * 1024 * 1024)) /dev/urandom >"$T/payload/blob"
TWIN=$(build_bundle "$T/b4" --set Image.Version=2.0)
SIZE=$(stat -c %s "$GOOD")
make_disk 48 2
make_config
fill_slot_a "$V1"
write_image_info 1.0 0
cp "$T/abide.conf" "$T/abide.base"
slot_a_print >"$T/a.before"

make_ca ca
make_ca other-ca
make_cert ca server IP:127.0.0.1 serverAuth
make_cert ca device DNS:device-1 clientAuth
make_cert ca wrong-name DNS:other.example serverAuth
mkdir -p "$WWW"
cp "$GOOD" "$WWW/b.abide"
head -c $((SIZE / 2)) "$GOOD" >"$WWW/truncated.abide"
printf '# the fleet token\nAuthorization: Bearer s3cret\n' >"$T/headers"
nginx_start
HTTPS=https://127.0.0.1:$HTTPS_PORT

# net_conf KEY=VALUE...: abide.conf with these [Network] keys.
net_conf() {
        cp "$T/abide.base" "$T/abide.conf"
        # The whole bundle streamed: this test is about the stream's resume (test-delta.sh does deltas).
        printf '[Network]\nDelta=no\n' >>"$T/abide.conf"
        printf '%s\n' "$@" >>"$T/abide.conf"
}
check_a() {
        slot_a_print >"$T/a.now"
        cmp -s "$T/a.before" "$T/a.now" || die "slot a changed ($1): $(diff "$T/a.before" "$T/a.now")"
}
b_print() {
        sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" "$T/esp/abide/b/vmlinuz" "$T/esp/abide/b/initrd" | awk '{print $1}'
        entry_of b
}
# fetched: the byte count of "Fetched N bytes in K requests" in $T/out
fetched() { sed -n 's/^Fetched \([0-9]*\) bytes in \([0-9]*\) requests for a \([0-9]*\)-byte bundle.*/\1/p' "$T/out"; }

note "reference: the file install"
"$ABIDECTL" install "$GOOD" >/dev/null
b_print >"$T/b.file"
check_a "file install"

# install_url URL: succeeds, b byte-identical to the file install, a untouched.
install_url() {
        rm -f "$ENTRIES"/abide-b*.conf
        "$ABIDECTL" install --force "$1" >"$T/out" 2>"$T/err" || die "install $1 failed: $(cat "$T/err")"
        grep -qx "Installed 2.0 into slot b (abide-b+3.conf)" "$T/out" || die "install $1: $(cat "$T/out")"
        b_print | cmp -s "$T/b.file" - || die "slot b after installing $1 differs from the file install"
        check_a "install $1"
        echo "   $(tail -n 1 "$T/out")"
}

# refuse_net PATTERN URL [untouched]: refused; stderr is retry lines, then one line naming the URL and the cause
# (the download's and the bundle reader's alike);
# a untouched, b without a bootable entry (a refusal before the first write leaves b's partitions alone).
refuse_net() {
        local pat=$1 url=$2 rc=0 shown
        rm -f "$ENTRIES"/abide-b*.conf
        sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" >"$T/bparts.before"
        "$ABIDECTL" install --force "$url" >/dev/null 2>"$T/err" || rc=$?
        [ $rc -ne 0 ] || die "install $url succeeded, expected a refusal /$pat/"
        shown="${url//./\\.}: "
        tail -n 1 "$T/err" | grepq -E -- "^abidectl: install: $shown($pat)" ||
                die "install $url: last line does not match /$pat/: $(cat "$T/err")"
        head -n -1 "$T/err" | grep -v '; retry [0-9]* in [0-9.]* s from byte ' &&
                die "install $url: more than retry lines before the error: $(cat "$T/err")"
        echo "   refused as expected: $(tail -n 1 "$T/err")"
        check_a "refused $url"
        b_not_bootable || die "b bootable after a refused install of $url: $(entry_of b)"
        if [ "${3:-}" = untouched ]; then
                sha256sum "$ROOT_B" "$VERITY_B" "$SIG_B" | cmp -s "$T/bparts.before" - || die "b written although $url was refused up front"
        fi
}

note "https with CAFile=, a bearer token from HeadersFile="
net_conf "CAFile=$TLS/ca.pem" "HeadersFile=$T/headers"
install_url "$HTTPS/private/b.abide"
[ ! -s "$T/err" ] || die "stderr not empty in a pipe without retries: $(cat "$T/err")"
[ "$(fetched)" -eq "$SIZE" ] || die "fetched $(fetched) bytes for a $SIZE-byte bundle"
grep -q "Bearer" "$NGX/access.log" && die "the token reached the access log"
net_conf "CAFile=$TLS/ca.pem"
refuse_net "HTTP 403 \(Forbidden\)$" "$HTTPS/private/b.abide" untouched

note "a redirect is followed; the response's headers are the final one's"
install_url "$HTTPS/redirect"
[ "$(fetched)" -eq "$SIZE" ] || die "fetched $(fetched) bytes for a $SIZE-byte bundle after a redirect"

note "mutual TLS"
net_conf "CAFile=$TLS/ca.pem" "ClientCertificate=$TLS/device.crt" "ClientKey=$TLS/device.key"
install_url "https://127.0.0.1:$MTLS_PORT/b.abide"
net_conf "CAFile=$TLS/ca.pem"
refuse_net "HTTP 400 \(No required SSL certificate was sent\)$" "https://127.0.0.1:$MTLS_PORT/b.abide" untouched

note "a server that wants the client certificate in the handshake (openssl s_server): refused at once"
SPORT=$(free_port)
openssl s_server -quiet -accept "127.0.0.1:$SPORT" -cert "$TLS/server.crt" -key "$TLS/server.key" -CAfile "$TLS/ca.pem" \
        -Verify 1 -verify_return_error -www >/dev/null 2>&1 &
SPID=$!
cleanup_hooks+=("stop_child $SPID")
wait_port "$SPORT"
refuse_net "TLS: .*alert certificate required.* \(CAFile=$TLS/ca.pem\)$" "https://127.0.0.1:$SPORT/b.abide" untouched
grep -q '; retry ' "$T/err" && die "a handshake refused for want of a client certificate was retried: $(cat "$T/err")"
stop_child "$SPID"
wait "$SPID" 2>/dev/null || true

note "cut every 8 MiB, one stall longer than StallTimeoutSec=2, over https"
net_conf "CAFile=$TLS/ca.pem" "StallTimeoutSec=2" "Retries=3"
proxy_start "$HTTPS_PORT" --cut-every $CUT --stall-at $((SIZE / 2 + 12345)) --stall-sec 6
install_url "https://127.0.0.1:$PROXY_PORT/b.abide"
cuts=$(proxy_stat cuts) stalls=$(proxy_stat stalls)
[ "$cuts" -ge 4 ] && [ "$stalls" -eq 1 ] || die "the proxy cut $cuts times and stalled $stalls times"
[ "$(grep -c '; retry [0-9]* in [0-9.]* s from byte ' "$T/err")" -eq $((cuts + stalls)) ] ||
        die "expected $((cuts + stalls)) retry lines: $(cat "$T/err")"
grep -q "no byte for StallTimeoutSec=2 at byte" "$T/err" || die "no stall reported: $(cat "$T/err")"
grep -q "connection lost at byte" "$T/err" || die "no drop reported: $(cat "$T/err")"
bound=$((SIZE + (cuts + stalls) * READ_BUFFER))
echo "   bundle $SIZE bytes, $cuts cuts + $stalls stall: abidectl fetched $(fetched) bytes in $(sed -n 's/.* in \([0-9]*\) requests.*/\1/p' "$T/out") requests (bound $bound); the proxy sent $(proxy_stat bytes) bytes (TLS included)"
[ "$(fetched)" -le "$bound" ] || die "fetched $(fetched) bytes, more than $bound"
[ "$(fetched)" -ge "$SIZE" ] || die "fetched $(fetched) bytes, less than the bundle"

note "the same over http: the proxy's own count (headers included) stays in the bound"
net_conf "StallTimeoutSec=2"
proxy_start "$HTTP_PORT" --cut-every $CUT --stall-at $((SIZE / 3)) --stall-sec 6
install_url "http://127.0.0.1:$PROXY_PORT/b.abide"
cuts=$(proxy_stat cuts) stalls=$(proxy_stat stalls)
bound=$((SIZE + (cuts + stalls + 1) * READ_BUFFER))
echo "   bundle $SIZE bytes, $cuts cuts + $stalls stall: the proxy sent $(proxy_stat bytes) bytes over $(proxy_stat connections) connections (bound $bound)"
[ "$(proxy_stat bytes)" -le "$bound" ] || die "the proxy sent $(proxy_stat bytes) bytes, more than $bound"

note "a server that ignores Range: restarted from byte 0, the delivered bytes dropped"
proxy_start "$HTTP_PORT" --cut-every $CUT --cut-limit 1
install_url "http://127.0.0.1:$PROXY_PORT/norange/b.abide"
grep -q "the server ignored Range 1 times" "$T/out" || die "no restart reported: $(cat "$T/out")"
[ "$(fetched)" -gt "$SIZE" ] || die "fetched only $(fetched) bytes although the server sent everything twice"

note "proxy from the environment (http_proxy=): the URL's port has nothing listening"
net_conf
http_proxy=http://127.0.0.1:$HTTP_PORT install_url "http://127.0.0.1:1/b.abide"
grep -q '"GET http://127.0.0.1:1/b.abide HTTP/1.1"' "$NGX/access.log" || die "the request did not go through the proxy"

note "refused"
net_conf "CAFile=$TLS/ca.pem" "TimeoutSec=3" "Retries=100"
refuse_net "HTTP 404 \(Not Found\)$" "$HTTPS/missing.abide" untouched
# The backoff is jittered: the deadline ends the fetch either before an attempt or during the last one.
refuse_net "(HTTP 500 \(Internal Server Error\); gave up after [0-9]+ attempts: the next would start past TimeoutSec=3|TimeoutSec=3 reached at byte 0 of \?)$" \
        "$HTTPS/fail/b.abide" untouched
[ "$(grep -c '; retry ' "$T/err")" -ge 2 ] || die "500s were not retried: $(cat "$T/err")"
refuse_net "more than MaxRedirects=5 redirects$" "$HTTPS/loop" untouched
closed=$(free_port)
net_conf "Retries=2"
refuse_net "Failed to connect to 127.0.0.1 port $closed .*; gave up after 3 attempts \(Retries=2\)$" \
        "http://127.0.0.1:$closed/b.abide" untouched
[ "$(grep -c '; retry ' "$T/err")" -eq 2 ] || die "expected 2 retry lines: $(cat "$T/err")"
net_conf "StallTimeoutSec=0" "TimeoutSec=3"
proxy_start "$HTTP_PORT" --stall-at $((SIZE / 4)) --stall-sec 30
refuse_net "TimeoutSec=3 reached at byte [0-9]+ of $SIZE$" "http://127.0.0.1:$PROXY_PORT/b.abide"
proxy_stop
net_conf "CAFile=$TLS/ca.pem" "MaxRedirects=0"
refuse_net "more than MaxRedirects=0 redirects$" "$HTTPS/tohttp" untouched
net_conf "CAFile=$TLS/ca.pem" "AllowHTTP=no"
refuse_net "redirected to a URL not allowed" "$HTTPS/tohttp" untouched
refuse_net "http:// is not allowed \(AllowHTTP=no in \[Network\]\); use https://$" "http://127.0.0.1:$HTTP_PORT/b.abide" untouched
net_conf "CAFile=$TLS/other-ca.pem"
refuse_net "TLS: SSL certificate problem: unable to get local issuer certificate \(CAFile=$TLS/other-ca.pem\)$" \
        "$HTTPS/b.abide" untouched
net_conf
refuse_net "TLS: SSL certificate problem: unable to get local issuer certificate \(the system CA store\)$" \
        "$HTTPS/b.abide" untouched
net_conf "CAFile=$TLS/ca.pem"
refuse_net "TLS: SSL: no alternative certificate subject name matches target host name '127.0.0.1'" \
        "https://127.0.0.1:$NAME_PORT/b.abide" untouched
refuse_net ".*([Tt]runcated|unexpected end)" "$HTTPS/truncated.abide"
refuse_net "unsupported URL scheme 'ftp'" "ftp://127.0.0.1:$HTTP_PORT/b.abide" untouched
net_conf "CAFile=$TLS/ca.pem" "HeadersFile=$T/nothing"
refuse_net "cannot read HeadersFile=$T/nothing" "$HTTPS/b.abide" untouched

note "a bundle swapped on the server after a cut"
cp "$GOOD" "$WWW/swap.abide"
touch -d '2020-01-01' "$WWW/swap.abide"
net_conf "CAFile=$TLS/ca.pem" "StallTimeoutSec=5"
proxy_start "$HTTPS_PORT" --cut-every $CUT --cut-limit 1 --on-cut "cp '$OTHER' '$WWW/swap.tmp' && mv '$WWW/swap.tmp' '$WWW/swap.abide'"
refuse_net "the bundle changed on the server between requests \(ETag \"[0-9a-f-]+\", now \"[0-9a-f-]+\"\)$" \
        "https://127.0.0.1:$PROXY_PORT/swap.abide"

note "the same swap where no validator can tell (same size, same time): the hashes refuse it"
[ "$(stat -c %s "$TWIN")" -eq "$SIZE" ] || die "the twin bundle is $(stat -c %s "$TWIN") bytes, not $SIZE"
cp "$GOOD" "$WWW/twin.abide"
cp "$TWIN" "$T/twin.abide"
touch -d '2020-01-01' "$WWW/twin.abide" "$T/twin.abide"
proxy_start "$HTTPS_PORT" --cut-every $CUT --cut-limit 1 --on-cut "cp -p '$T/twin.abide' '$WWW/twin.tmp' && mv '$WWW/twin.tmp' '$WWW/twin.abide'"
refuse_net "member 4 'root.verity': sha256 mismatch" "https://127.0.0.1:$PROXY_PORT/twin.abide"
[ "$(proxy_stat cuts)" -eq 1 ] || die "the proxy did not cut"
proxy_stop

note "a refused bundle stops the download (the reader closes the pipe early)"
cp "$WWW/b.abide" "$WWW/flip.abide"
flip_byte "$WWW/flip.abide" 700
refuse_net "manifest\.json\.sig: signature does not match the data" "$HTTPS/flip.abide" untouched
# What nginx sent of the $SIZE-byte bundle (logged once it notices that the client left): the
# manifest's refusal stops the download, so no more than what the socket buffers hold on the way.
for i in $(seq 50); do grep -q '"GET /flip.abide ' "$NGX/access.log" && break; sleep 0.1; done
sent=$(awk '$7 == "/flip.abide" { print $10 }' "$NGX/access.log")
[ "$(printf '%s\n' "$sent" | grep -c .)" = 1 ] || die "requests for the refused bundle, bytes sent for each: $sent"
echo "   nginx sent $sent bytes of the refused $SIZE-byte bundle"
[ "$sent" -lt $((SIZE / 4)) ] || die "the download went on after the bundle was refused: nginx sent $sent of $SIZE bytes"

note "cut right after the last payload, the bundle then gone from the server: installed, with one warning"
# The end-of-archive marker is all that is missing: every signed byte came and was verified
# (docs/manifest.md), so the download's later 404 must not turn the install into a failure.
cp "$GOOD" "$WWW/end.abide"
head_len=$(curl -s -o /dev/null -w '%{size_header}' "http://127.0.0.1:$HTTP_PORT/end.abide")
net_conf "Retries=1"
proxy_start "$HTTP_PORT" --cut-every $((head_len + SIZE - 1024)) --cut-limit 1 --on-cut "rm -f '$WWW/end.abide'"
rm -f "$ENTRIES"/abide-b*.conf
"$ABIDECTL" install --force "http://127.0.0.1:$PROXY_PORT/end.abide" >"$T/out" 2>"$T/err" ||
        die "an install whose every signed byte was verified failed: $(cat "$T/err")"
grep -q "connection lost at byte $((SIZE - 1024)) of $SIZE[:;]" "$T/err" || die "not cut at the marker: $(cat "$T/err")"
tail -n 1 "$T/err" | grepq -Ex "abidectl: install: warning: http://127\.0\.0\.1:$PROXY_PORT/end\.abide: HTTP 404 \(Not Found\), after the whole bundle was read and verified" ||
        die "no warning: $(cat "$T/err")"
grep -qx "Installed 2.0 into slot b (abide-b+3.conf)" "$T/out" || die "not installed: $(cat "$T/out")"
b_print | cmp -s "$T/b.file" - || die "slot b after the cut install differs from the file install"
check_a "cut at the marker"
proxy_stop
net_conf "CAFile=$TLS/ca.pem"

note "progress on a terminal"
script -qec "$ABIDECTL install --force $HTTPS/b.abide" "$T/typescript" >/dev/null
grep -q "Writing root.img to abide-root-b 100% ([0-9]*/[0-9]* MiB)" "$T/typescript" || die "no progress: $(cat -A "$T/typescript")"
grep -Eq "Writing root.img to abide-root-b 100% \([0-9]+/[0-9]+ MiB\) [0-9.]+ MiB/s" "$T/typescript" ||
        die "no rate in the progress: $(cat -A "$T/typescript")"
check_a "install on a terminal"

note "a 404 whose error page comes slowly or is large: one request, the status said, the page not read whole"
# An error page is read for its title only: its first 2 KiB (ERROR_BODY_MAX in lib/net/http-fetch-private.h).
# errpage FILE BYTES AT TITLE: an error page of BYTES bytes with <title>TITLE</title> at byte AT.
errpage() {
        python3 - "$@" <<'PY'
import sys
path, size, at, title = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), sys.argv[4]
# A comment pads the head up to AT (from 21 bytes on).
head = b"<html><head>" + (b"<!-- " + b"-" * (at - 21) + b" -->" if at >= 21 else b"")
page = head + b"<title>" + title.encode() + b"</title></head><body>\n"
line = b"<p>A long error page, read for its title only.</p>\n"
with open(path, "wb") as f:
    f.write((page + line * (size // len(line) + 1))[:size])
PY
}
# The slow page's title near the end of the 2 KiB kept, and not nginx's reason phrase ("Not Found"):
# it is read only if the page's bytes keep the fetch alive until then.
errpage "$T/slow404.html" $((48 * 1024)) 1950 "404 No such bundle"
errpage "$T/big404.html" $((1024 * 1024)) 0 "404 Not Found"
# sendfile off: limit_rate then sends a second's bytes each second (with sendfile, whole 4 KiB pages: 8 s
# apart at 512 bytes a second).
nginx_stop
nginx_serve "
                root $WWW;
                location /slow/ { error_page 404 /slow404.html; }
                location = /slow404.html { internal; root $T; limit_rate 512; sendfile off; }
                location /big/ { error_page 404 /big404.html; }
                location = /big404.html { internal; root $T; limit_rate 64k; sendfile off; }"
# nginx_logged PATH: the bytes of the page nginx sent for each request of PATH, one a line (logged once
# nginx notices that the client left).
nginx_logged() {
        local i
        for i in $(seq 50); do grep -q "\"GET $1 " "$NGX/access.log" && break; sleep 0.1; done
        awk -v p="$1" '$7 == p { print $10 }' "$NGX/access.log"
}
# 512 bytes a second: the title comes in the fifth second, after StallTimeoutSec=3, but no second is
# without a byte. They were not counted: a stall, retried with backoff, and "no byte for
# StallTimeoutSec=3 ...; gave up after 3 attempts" instead of the 404.
net_conf "Retries=2" "StallTimeoutSec=3"
refuse_net "HTTP 404 \(No such bundle\)$" "http://127.0.0.1:$HTTP_PORT/slow/missing.abide" untouched
grep -q '; retry ' "$T/err" && die "a 404 whose page comes slowly was retried: $(cat "$T/err")"
sent=$(nginx_logged /slow/missing.abide)
[ "$(printf '%s\n' "$sent" | grep -c .)" = 1 ] || die "requests for the slow 404, bytes of the page sent for each: $sent"
# A page of 1 MiB at 64 KiB a second, no stall timeout: it was read whole (16 s) for a title in its first line.
net_conf "Retries=2" "StallTimeoutSec=0"
refuse_net "HTTP 404 \(Not Found\)$" "http://127.0.0.1:$HTTP_PORT/big/missing.abide" untouched
sent=$(nginx_logged /big/missing.abide)
[ "$(printf '%s\n' "$sent" | grep -c .)" = 1 ] || die "requests for the large 404, bytes of the page sent for each: $sent"
echo "   nginx sent $sent bytes of a $(stat -c %s "$T/big404.html")-byte error page"
[ "$sent" -lt $((256 * 1024)) ] || die "nginx sent $sent bytes of the 1 MiB error page: read past its first 2 KiB"
note "ok"
