# Sourced by the network tests and benchmark after lib.sh: a CA and
# certificates made here (openssl), nginx on 127.0.0.1 at free ports with a
# config written here (no default site, pid and logs in $T/nginx), and the
# fault-injecting proxy (fault-proxy.py). Nothing listens beyond 127.0.0.1.
need nginx openssl python3

NGX=$T/nginx
TLS=$T/tls
WWW=$T/www
# Traffic of the tests stays on 127.0.0.1: no proxy from the environment unless a test sets one.
unset http_proxy https_proxy HTTP_PROXY HTTPS_PROXY ALL_PROXY all_proxy no_proxy NO_PROXY

free_port() { python3 -c 'import socket; s = socket.socket(); s.bind(("127.0.0.1", 0)); print(s.getsockname()[1])'; }

# make_ca NAME: $TLS/NAME.pem, $TLS/NAME.key
make_ca() {
        mkdir -p "$TLS"
        openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 3650 -subj "/CN=$1" \
                -addext basicConstraints=critical,CA:TRUE -addext keyUsage=critical,keyCertSign,cRLSign \
                -keyout "$TLS/$1.key" -out "$TLS/$1.pem" 2>/dev/null
}

# make_cert CA NAME SAN EKU: $TLS/NAME.crt, $TLS/NAME.key signed by CA (SAN e.g. IP:127.0.0.1; EKU serverAuth|clientAuth)
make_cert() {
        openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj "/CN=$2" \
                -keyout "$TLS/$2.key" -out "$TLS/$2.csr" 2>/dev/null
        printf 'subjectAltName=%s\nextendedKeyUsage=%s\nbasicConstraints=CA:FALSE\n' "$3" "$4" >"$TLS/$2.ext"
        openssl x509 -req -in "$TLS/$2.csr" -CA "$TLS/$1.pem" -CAkey "$TLS/$1.key" -CAcreateserial -days 3650 \
                -extfile "$TLS/$2.ext" -out "$TLS/$2.crt" 2>/dev/null
}

NGINX_PID=
nginx_stop() {
        [ -n "$NGINX_PID" ] || return 0
        stop_child "$NGINX_PID"
        wait "$NGINX_PID" 2>/dev/null || true
        NGINX_PID=
}
cleanup_hooks+=(nginx_stop)

# wait_port PORT: until something accepts on 127.0.0.1:PORT (10 s)
wait_port() {
        python3 - "$1" <<'PY' || die "nothing listens on 127.0.0.1:$1"
import socket, sys, time
for _ in range(200):
    try:
        socket.create_connection(("127.0.0.1", int(sys.argv[1])), timeout=1).close()
        sys.exit(0)
    except OSError:
        time.sleep(0.05)
sys.exit(1)
PY
}

# nginx_start: serves $WWW over http on $HTTP_PORT, https on $HTTPS_PORT (server cert for IP:127.0.0.1
# from CA 'ca') and https with client certificates required on $MTLS_PORT. Also:
# /missing.abide (404), /fail/ (500), /loop (a redirect loop), /redirect (to /b.abide), /tohttp (a redirect to http://),
# /latest/channel.json and its .sig (to /chan/: a channel's files behind a pointer, its bundles not),
# /norange/ (Range ignored: 200 with everything), /onerange/ (one range a request: 200 to several), /private/ (403 without "Authorization: Bearer s3cret").
nginx_start() {
        HTTP_PORT=$(free_port) HTTPS_PORT=$(free_port) MTLS_PORT=$(free_port) NAME_PORT=$(free_port)
        mkdir -p "$NGX/tmp" "$WWW"
        # With $TLS/wrong-name.crt: https on $NAME_PORT with a certificate for another name.
        local wrong_name=
        [ ! -e "$TLS/wrong-name.crt" ] || wrong_name="server {
                listen 127.0.0.1:$NAME_PORT ssl;
                ssl_certificate $TLS/wrong-name.crt;
                ssl_certificate_key $TLS/wrong-name.key;
                root $WWW;
        }"
        local common="
                root $WWW;
                location /fail/ { return 500; }
                location = /loop { return 302 /loop; }
                location = /redirect { return 302 /b.abide; }
                location = /tohttp { return 302 http://127.0.0.1:$HTTP_PORT/b.abide; }
                location = /latest/channel.json { return 302 /chan/channel.json; }
                location = /latest/channel.json.sig { return 302 /chan/channel.json.sig; }
                location /norange/ { alias $WWW/; max_ranges 0; }
                location /onerange/ { alias $WWW/; max_ranges 1; }
                location /private/ {
                        alias $WWW/;
                        if (\$http_authorization != \"Bearer s3cret\") { return 403; }
                }"
        nginx_serve "$common" "" "$wrong_name"
        [ -z "$wrong_name" ] || wait_port "$NAME_PORT"
}

# nginx_serve COMMON [LOG_FORMAT] [EXTRA]: nginx for $NGX with COMMON (root and locations) on three
# servers, http $HTTP_PORT, https $HTTPS_PORT and https with client certificates required
# $MTLS_PORT (server certificate $TLS/server.crt); EXTRA: more server blocks; LOG_FORMAT: the
# access log's format instead of nginx's. Waits until the three listen; its PID in NGINX_PID.
nginx_serve() {
        local common=$1 fmt=${2:-} extra=${3:-}
        mkdir -p "$NGX/tmp"
        cat >"$NGX/nginx.conf" <<CONF
user root;
worker_processes 1;
pid $NGX/nginx.pid;
error_log $NGX/error.log info;
events { worker_connections 64; }
http {
        ${fmt:+log_format test '$fmt';}
        access_log $NGX/access.log${fmt:+ test};
        client_body_temp_path $NGX/tmp/body;
        proxy_temp_path $NGX/tmp/proxy;
        fastcgi_temp_path $NGX/tmp/fastcgi;
        uwsgi_temp_path $NGX/tmp/uwsgi;
        scgi_temp_path $NGX/tmp/scgi;
        default_type application/octet-stream;
        sendfile on;
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
        $extra
}
CONF
        nginx -t -q -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" || die "nginx refused $NGX/nginx.conf: $(cat "$NGX/error.log")"
        nginx -p "$NGX" -c "$NGX/nginx.conf" -e "$NGX/error.log" -g 'daemon off;' &
        NGINX_PID=$!
        wait_port "$HTTP_PORT"
        wait_port "$HTTPS_PORT"
        wait_port "$MTLS_PORT"
}

PROXY_PID=
proxy_stop() {
        [ -n "$PROXY_PID" ] || return 0
        stop_child "$PROXY_PID"
        wait "$PROXY_PID" 2>/dev/null || true
        PROXY_PID=
}
cleanup_hooks+=(proxy_stop)

# proxy_start UPSTREAM_PORT [fault-proxy.py options]: PROXY_PORT, stats in $T/proxy.json
proxy_start() {
        proxy_stop
        local up=$1; shift
        rm -f "$T/proxy.port" "$T/proxy.json"
        python3 "$ABIDE_SRCDIR/tests/integration/fault-proxy.py" --upstream "$up" --port-file "$T/proxy.port" \
                --stats "$T/proxy.json" "$@" &
        PROXY_PID=$!
        local i
        for i in $(seq 100); do [ -s "$T/proxy.port" ] && break; sleep 0.05; done
        PROXY_PORT=$(cat "$T/proxy.port") || die "the fault proxy did not start"
}

proxy_stat() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1]))[sys.argv[2]])' "$T/proxy.json" "$1"; }
