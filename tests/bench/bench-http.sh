#!/bin/bash
# Benchmark: `abidectl install URL` of a ~1 GiB bundle from nginx on
# 127.0.0.1 (http and https) against, in the same run, `curl -o /dev/null`
# of the same URL and the file install of the same bundle. Prints both
# ratios (target: network install <= 1.10 x max(curl, file install)).
# Not a test. Runs as root (loop devices, nginx).
#
#   tests/bench/bench-http.sh [BUILDDIR] [SIZE_MIB] [ROUNDS]
. "$(dirname "$0")/bench-lib.sh"
. "$top/tests/integration/nginx-lib.sh"
need curl
bench_device
make_ca ca
make_cert ca server IP:127.0.0.1 serverAuth
mkdir -p "$WWW"
ln "$BIG" "$WWW/b.abide" 2>/dev/null || cp "$BIG" "$WWW/b.abide"
printf '[Network]\nCAFile=%s\n' "$TLS/ca.pem" >>"$T/abide.conf"
nginx_start

# timed CMD...: the wall time; the CPU time (user + system) of CMD goes to $T/cpu.
timed() {
        python3 - "$T/cpu" "$@" <<'PY'
import resource, subprocess, sys, time
t0 = time.monotonic()
subprocess.run(sys.argv[2:], stdout=subprocess.DEVNULL, check=True)
wall = time.monotonic() - t0
r = resource.getrusage(resource.RUSAGE_CHILDREN)
open(sys.argv[1], "w").write(f"{r.ru_utime + r.ru_stime:.2f}")
print(f"{wall:.3f}")
PY
}
run_file() { "$ABIDECTL" install --force "$BIG"; }
run_url() { "$ABIDECTL" install --force "$1"; }
run_curl() { curl -sS --fail --cacert "$TLS/ca.pem" -o /dev/null "$1"; }
export -f run_file run_url run_curl
export ABIDECTL BIG TLS
HTTP=http://127.0.0.1:$HTTP_PORT/b.abide
HTTPS=https://127.0.0.1:$HTTPS_PORT/b.abide

# The bundle in the page cache and the partition written once, so no side pays for that.
cat "$WWW/b.abide" >/dev/null
run_file >/dev/null
# On a shared machine the rounds differ more than the programs do: each round's own ratio is printed too,
# and their median, next to the ratio of the best times; and the CPU time of each run, which the
# neighbours' load changes less than the wall time.
round_ratios=()
declare -A best=([file]=999 [http]=999 [curl_http]=999 [https]=999 [curl_https]=999)
for r in $(seq 1 "$rounds"); do
        t_file=$(timed bash -c run_file); c_file=$(cat "$T/cpu")
        t_http=$(timed bash -c 'run_url "$0"' "$HTTP"); c_http=$(cat "$T/cpu")
        t_curl_http=$(timed bash -c 'run_curl "$0"' "$HTTP"); c_curl_http=$(cat "$T/cpu")
        t_https=$(timed bash -c 'run_url "$0"' "$HTTPS"); c_https=$(cat "$T/cpu")
        t_curl_https=$(timed bash -c 'run_curl "$0"' "$HTTPS"); c_curl_https=$(cat "$T/cpu")
        echo "round $r CPU seconds (user+system): file install $c_file; http: install $c_http, curl $c_curl_http; https: install $c_https, curl $c_curl_https"
        ratios=$(python3 -c "print(f'{$t_http / max($t_curl_http, $t_file):.2f} {$t_https / max($t_curl_https, $t_file):.2f}')")
        echo "round $r: file install ${t_file}s; http: install ${t_http}s, curl ${t_curl_http}s; https: install ${t_https}s, curl ${t_curl_https}s; install URL / max(curl, file install): http ${ratios% *}, https ${ratios#* }"
        round_ratios+=("$ratios")
        for k in file http curl_http https curl_https; do
                v=t_$k
                best[$k]=$(python3 -c "print(min(${best[$k]}, ${!v}))")
        done
done
echo "best of $rounds rounds (load: $(cut -d' ' -f1-3 /proc/loadavg), $(nproc) CPUs):"
python3 - "${round_ratios[@]}" <<'PY'
import statistics, sys
pairs = [tuple(map(float, a.split())) for a in sys.argv[1:]]
print(f"median of the rounds' install URL / max(curl, file install): http {statistics.median(p[0] for p in pairs):.2f}, "
      f"https {statistics.median(p[1] for p in pairs):.2f}  (target <= 1.10)")
PY
python3 - "$bundle_bytes" "${best[file]}" "${best[http]}" "${best[curl_http]}" "${best[https]}" "${best[curl_https]}" <<'PY'
import sys
bb = int(sys.argv[1])
tf, th, tch, ts, tcs = map(float, sys.argv[2:7])
mib = bb / 2**20
print(f"file install:          {mib:.0f} MiB in {tf:.3f} s = {mib / tf:.0f} MiB/s")
for name, ti, tc in (("http", th, tch), ("https", ts, tcs)):
    ref = max(tc, tf)
    print(f"{name + ':':6} install URL {ti:.3f} s = {mib / ti:.0f} MiB/s; curl -o /dev/null {tc:.3f} s = {mib / tc:.0f} MiB/s")
    print(f"       ratio install URL / curl: {ti / tc:.2f}; install URL / file install: {ti / tf:.2f}; "
          f"install URL / max(curl, file install): {ti / ref:.2f}  (target <= 1.10)")
PY
