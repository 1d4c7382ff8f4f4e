#!/bin/bash
# sentinel, the demo agent: each content variant does what the demo needs
# (good: healthy; crash: never healthy; panic and hang: recognised without
# being run on the host), and broken content is refused with one clear line.
. "$(dirname "$0")/lib.sh"
need sha256sum readelf

S="$ABIDE_BUILDDIR/images/demo/sentinel"
C="$ABIDE_SRCDIR/images/demo/content"
ROOT="$ABIDE_BUILDDIR/images/demo/agent-root"
[ -x "$S" ] || die "missing $S"
pids=()
# KILL: a hung variant ignores TERM (the scratch goes, so no daemon may outlive the test);
# only a pid that is still a sentinel, not one reused since.
cleanup_hooks+=('for p in "${pids[@]}"; do grep -qs sentinel "/proc/$p/cmdline" && kill -KILL "$p" 2>/dev/null; done')   # pid-checked

start() {   # start VARIANT: daemon with a private run dir, records its pid
        local v=$1
        "$S" --daemon --content "$C/$v/etc/sentinel/content.def" --run-dir "$T/run-$v" > "$T/start-$v" 2>&1
}
pid_of() { cat "$T/run-$1/sentinel.pid"; }
# Running, and not a zombie nobody reaped yet (the daemons here are orphans).

note "the agent's Source tree for recipes"
[ -x "$ROOT/usr/sbin/sentinel" ] || die "agent-root/usr/sbin/sentinel missing"
# Static: no program interpreter, so the busybox image needs no libraries for it.
readelf -l "$ROOT/usr/sbin/sentinel" | grepq 'Requesting program interpreter' && die "sentinel is not statically linked"
cmp -s "$ROOT/usr/sbin/sentinel" "$S" && die "agent-root's sentinel is not stripped"

note "every shipped variant passes --check-content and says which it is"
for v in good crash panic hang; do
        out=$("$S" --check-content --content "$C/$v/etc/sentinel/content.def")
        echo "   $out"
        [[ "$out" == *"variant $v"* ]] || die "--check-content does not report variant $v: $out"
done
# The content update the delta scenario ships: a newer good file.
out=$("$S" --check-content --content "$C/update/etc/sentinel/content.def")
[[ "$out" == *"5 rules, variant good"* ]] || die "content/update: $out"

note "good: starts, healthy, heartbeat advances, stops cleanly"
start good
pids+=("$(pid_of good)")
grep -q "started" "$T/start-good" || die "no start line: $(cat "$T/start-good")"
"$S" --health --run-dir "$T/run-good" || die "good variant unhealthy"
hb1=$(cat "$T/run-good/heartbeat"); sleep 2.2; hb2=$(cat "$T/run-good/heartbeat")
[ "$hb2" -gt "$hb1" ] || die "heartbeat does not advance ($hb1 -> $hb2)"
"$S" --health --run-dir "$T/run-good" >/dev/null || die "good variant unhealthy after 2 s"
kill -STOP "$(pid_of good)"
sleep 4
expect_fail "heartbeat .* is stale" "$S" --health --max-age 2 --run-dir "$T/run-good"
kill -CONT "$(pid_of good)"
kill "$(pid_of good)"
for _ in $(seq 20); do [ -e "$T/run-good/sentinel.pid" ] || break; sleep 0.1; done
expect_fail "unhealthy: no pidfile" "$S" --health --run-dir "$T/run-good"

note "a daemon that is gone is unhealthy even with fresh files left behind"
start good
p=$(pid_of good); pids+=("$p")
kill -KILL "$p"; sleep 0.2
expect_fail "daemon not running" "$S" --health --run-dir "$T/run-good"

note "crash: boot goes on (start returns 0), health never passes"
start crash || die "crash variant: start should return once 'ready': $(cat "$T/start-crash")"
grep -q "variant crash" "$T/start-crash" || die "crash variant did not say why: $(cat "$T/start-crash")"
sleep 0.3
expect_fail "unhealthy" "$S" --health --run-dir "$T/run-crash"
proc_runs "$(pid_of crash)" && die "crash variant still running"

note "hang: start never returns (bounded here by timeout)"
rc=0; timeout 3 "$S" --daemon --content "$C/hang/etc/sentinel/content.def" --run-dir "$T/run-hang" > "$T/start-hang" 2>&1 || rc=$?
pids+=("$(pid_of hang)")
proc_runs "$(pid_of hang)" || die "hang variant daemon is not running"
[ $rc -eq 124 ] || die "hang variant: start returned ($rc) instead of blocking: $(cat "$T/start-hang")"
grep -q "never ready" "$T/start-hang" || die "hang variant did not say so"
expect_fail "unhealthy" "$S" --health --run-dir "$T/run-hang"
# Stuck for good: SIGTERM only sets its stop flag, which the stuck loop never reads. Only KILL ends it.
p=$(pid_of hang)
kill -KILL "$p"
for _ in $(seq 1 50); do proc_runs "$p" || break; sleep 0.1; done
proc_runs "$p" && die "hang variant daemon survived SIGKILL"

note "panic: never run on the host; the content is recognised as panic above"
grep -qx 'variant: panic' "$C/panic/etc/sentinel/content.def" || die "panic content does not say so"

note "broken content is refused with one clear line, and the daemon does not start"
seal() {   # seal FILE: rewrites body-sha256 to match the body
        local sum
        sum=$(sed '1,/^---$/d' "$1" | sha256sum | cut -d' ' -f1)
        sed -i "s/^body-sha256: .*/body-sha256: $sum/" "$1"
}
cp "$C/good/etc/sentinel/content.def" "$T/flipped.def"
sed -i 's/rule cred-dump/rule cred-dumq/' "$T/flipped.def"
expect_fail "body checksum mismatch" "$S" --check-content --content "$T/flipped.def"
expect_fail "body checksum mismatch" "$S" --daemon --content "$T/flipped.def" --run-dir "$T/run-bad"
[ ! -e "$T/run-bad/sentinel.pid" ] || die "daemon started on corrupt content"

head -c 60 "$C/good/etc/sentinel/content.def" > "$T/trunc.def"
expect_fail "truncated" "$S" --check-content --content "$T/trunc.def"
head -n -1 "$C/good/etc/sentinel/content.def" > "$T/short.def"
expect_fail "body checksum mismatch" "$S" --check-content --content "$T/short.def"
sed 's/^SENTINEL-CONTENT 1$/SENTINEL-CONTENT 2/' "$C/good/etc/sentinel/content.def" > "$T/magic.def"
expect_fail "not a sentinel content file" "$S" --check-content --content "$T/magic.def"
sed 's/^variant: good$/variant: evil/' "$C/good/etc/sentinel/content.def" > "$T/variant.def"
expect_fail "unknown variant" "$S" --check-content --content "$T/variant.def"
sed '/^channel:/d' "$C/good/etc/sentinel/content.def" > "$T/nochan.def"
expect_fail "lacks channel" "$S" --check-content --content "$T/nochan.def"
sed 's/^version:/flavour:/' "$C/good/etc/sentinel/content.def" > "$T/key.def"
expect_fail "unknown header key" "$S" --check-content --content "$T/key.def"
{ cat "$C/good/etc/sentinel/content.def"; echo "not a rule"; } > "$T/rule.def"; seal "$T/rule.def"
expect_fail "not a rule line" "$S" --check-content --content "$T/rule.def"
sed '/^rule /d' "$C/good/etc/sentinel/content.def" > "$T/norules.def"; seal "$T/norules.def"
expect_fail "no rules" "$S" --check-content --content "$T/norules.def"
head -c 2000000 /dev/zero | tr '\0' '#' > "$T/big.def"
expect_fail "larger than" "$S" --check-content --content "$T/big.def"
printf 'SENTINEL-CONTENT 1\nchannel: 1\x00\n' > "$T/nul.def"
expect_fail "NUL byte" "$S" --check-content --content "$T/nul.def"
expect_fail "No such file" "$S" --check-content --content "$T/missing.def"
# The seal helper itself must produce content that loads: the checks above fail for their own reason.
cp "$C/good/etc/sentinel/content.def" "$T/resealed.def"; seal "$T/resealed.def"
"$S" --check-content --content "$T/resealed.def" >/dev/null || die "resealed good content refused"

note "usage errors"
expect_fail "one of --daemon" "$S"
expect_fail "exclude each other" "$S" --daemon --health

echo "OK"
