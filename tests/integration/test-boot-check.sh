#!/bin/bash
# abidectl boot-check on a device made of files: healthy trial -> good,
# failing check -> +0-N with the check recorded, rollback recorded and
# reported exactly once, loader-burnt trial, bounded checks, corrupt state.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
need jq iconv
make_device
# The system's variable store is this directory: libefivar reads and writes it.
export EFIVARFS_PATH=$T/efivars/
use_image_info

note "healthy trial: entry loses its counter, state good"
"$HELPER" install b 1.1 3
[ "$(entry_of b)" = "abide-b+3.conf" ] || die "install wrote $(entry_of b)"
grep -qx 'options console=ttyS0 abide.slot=b' "$ENTRIES/abide-b+3.conf" || die "entry options wrong"
loader_boot b
[ "$(entry_of b)" = "abide-b+2-1.conf" ] || die "loader stand-in broken"
printf '#!/bin/sh\necho fine\n' >"$T/health.d/10-ok"; chmod +x "$T/health.d/10-ok"
# As early in a boot as it runs, the kernel's random pool may not be ready: the
# shim (helper-entropy.c) answers so and logs what would wait for it. Nothing
# may (docs/boot.md, "Never waiting for entropy").
out=$(preload "$ABIDE_TEST_HELPERS/helper-entropy.so" ABIDE_TEST_ENTROPY_LOG="$T/entropy.log" \
        "$ABIDECTL" boot-check --timeout 10 --no-reboot)
echo "$out"
[ ! -e "$T/entropy.log" ] || die "boot-check waited for the random pool: $(tr '\n' ' ' <"$T/entropy.log")"
[ "$(entry_of b)" = "abide-b.conf" ] || die "healthy: entry is $(entry_of b)"
[ "$(state_json | jq -r .slots.b.state)" = good ] || die "healthy: state not good"
[ "$(status_json | jq -r '.slots.b.state, .slots.b.booted, .slots.b.version' | tr '\n' ' ')" = "good true 1.1 " ] ||
        die "status after the healthy trial: $(status_json)"
echo "$out" | grepq "Rolled back" && die "rollback reported on a healthy trial"

note "a second run on a good slot changes nothing"
cp "$T/var/lib/abide/state.json" "$T/state.before"
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null
same_file "$T/state.before" "$T/var/lib/abide/state.json"

note "a healthy trial whose state file cannot be written: blessed, not rebooted, the file caught up later"
"$HELPER" install a 1.3 3
loader_boot a
preload "$ABIDE_TEST_HELPERS/helper-corrupt-write.so" ABIDE_TEST_FAIL_RENAME_TO=state.json \
        "$ABIDECTL" boot-check --timeout 10 >"$T/out" 2>"$T/err" || die "a blessed slot's boot-check failed: $(cat "$T/err")"
[ ! -e "$T/reboots" ] || die "a healthy slot was rebooted for its state file"
[ "$(entry_of a)" = "abide-a.conf" ] || die "not blessed: entry is $(entry_of a)"
grep -qx "abidectl: boot-check: warning: slot a is good, but the state file does not say so yet: cannot write state file $T/var/lib/abide/state.json: No space left on device" "$T/err" ||
        die "no warning naming the state file: $(cat "$T/err")"
[ "$(state_json | jq -r .slots.a.state)" = pending ] || die "the shim let the state through"
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null
[ "$(state_json | jq -r '.slots.a.state, .slots.a.trial' | tr '\n' ' ')" = "good false " ] || die "state not caught up: $(state_json)"

note "a bless cut short after the entry's rename (power cut): the next boot-check reports it"
"$HELPER" install a 1.3 3
loader_boot a
# What boot_mark_good() leaves when the power goes before the state file and the report are written.
mv "$ENTRIES/abide-a+2-1.conf" "$ENTRIES/abide-a.conf"
blessed() { grep -l '"event":"blessed"' "$T"/var/lib/abide/reports/*-blessed.json 2>/dev/null | wc -l; }
before=$(blessed)
"$ABIDECTL" boot-check --timeout 5 --no-reboot | grepq "Slot a is good" || die "the cut bless: not good"
[ "$(state_json | jq -r '.slots.a.state, .slots.a.trial' | tr '\n' ' ')" = "good false " ] || die "state: $(state_json)"
[ "$(blessed)" -eq $((before + 1)) ] || die "no blessed report for the cut bless ($before before, $(blessed) after)"
jq -e '.slot == "a" and .to_version == "1.3"' "$(ls "$T"/var/lib/abide/reports/*-blessed.json | tail -1)" >/dev/null ||
        die "blessed report: $(cat "$(ls "$T"/var/lib/abide/reports/*-blessed.json | tail -1)")"
# Told once: the next run has nothing to say.
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null
[ "$(blessed)" -eq $((before + 1)) ] || die "blessed reported again"

note "failing check: entry +0-N, failure recorded with the check's name and output, reboot"
"$HELPER" install a 1.2 3
loader_boot a
printf '#!/bin/sh\necho "probing port 8080" >&2\necho "agent down: port 8080 closed" >&2\nexit 3\n' >"$T/etc-health.d/20-probe"
chmod +x "$T/etc-health.d/20-probe"
expect_fail "check '20-probe' failed: exit 3: probing port 8080 agent down: port 8080 closed; marked bad$" \
        "$ABIDECTL" boot-check --timeout 2 --no-reboot
[ "$(entry_of a)" = "abide-a+0-1.conf" ] || die "failing: entry is $(entry_of a)"
[ "$(state_json | jq -r .slots.a.state)" = bad ] || die "failing: state not bad"
[ "$(state_json | jq -r .slots.a.failure.check)" = 20-probe ] || die "failing: check not recorded"
state_json | jq -r .slots.a.failure.output | grepq "agent down: port 8080 closed" || die "failing: output not recorded"
[ ! -e "$T/reboots" ] || die "rebooted despite --no-reboot"
# Without --no-reboot the same failure reboots (the fake reboot command records it).
"$HELPER" install a 1.2 3
loader_boot a
"$ABIDECTL" boot-check --timeout 2 >"$T/out" 2>"$T/err" && die "failing boot-check exited 0"
[ "$(cat "$T/reboots")" = rebooted ] || die "no reboot after a failed check"
grep -q "rebooting" "$T/err" || die "no reboot message: $(cat "$T/err")"
[ "$(entry_of a)" = "abide-a+0-1.conf" ] || die "failing (reboot): entry is $(entry_of a)"

note "the loader falls back to b: rollback recorded and reported exactly once"
cat >"$T/hooks/50-log" <<HOOK
#!/bin/sh
echo "\$ABIDE_ROLLBACK_FROM \$ABIDE_ROLLBACK_TO \$ABIDE_ROLLBACK_VERSION \$ABIDE_ROLLBACK_REASON" >>$T/hook.log
HOOK
chmod +x "$T/hooks/50-log"
rm "$T/etc-health.d/20-probe"
loader_boot b
out1=$("$ABIDECTL" boot-check --timeout 5 --no-reboot)
out2=$("$ABIDECTL" boot-check --timeout 5 --no-reboot)
echo "$out1"
# The reason is one line: the last of the check's output.
echo "$out1" | grepq "^Rolled back from slot a (version 1.2) to slot b: check '20-probe' failed: agent down: port 8080 closed$" ||
        die "first run did not report the rollback: $out1"
echo "$out2" | grepq "Rolled back" && die "second run reported the rollback again: $out2"
[ "$(wc -l <"$T/hook.log")" -eq 1 ] || die "hooks ran $(wc -l <"$T/hook.log") times"
grep -q "^a b 1.2 check '20-probe' failed" "$T/hook.log" || die "hook environment: $(cat "$T/hook.log")"
status_json | jq -e '.last_rollback | .from == "a" and .to == "b" and .version == "1.2" and .reported == true
        and (.reason | test("20-probe"))' >/dev/null || die "status --json rollback: $(status_json)"
status_json | jq -e '.slots.a.state == "bad" and .slots.a.tries_done == 1 and .slots.a.last_failure.check == "20-probe"' \
        >/dev/null || die "status --json slot a: $(status_json)"
"$ABIDECTL" status | grepq "^Last rollback: .*from slot a (version 1.2) to slot b: check '20-probe'" ||
        die "status does not show the rollback"

note "a trial the loader burnt (no boot-check ran): no healthy boot in N tries"
"$HELPER" install a 1.3 2
loader_boot a
loader_boot a
[ "$(entry_of a)" = "abide-a+0-2.conf" ] || die "loader stand-in: $(entry_of a)"
loader_boot b
out=$("$ABIDECTL" boot-check --timeout 5 --no-reboot)
echo "$out" | grepq "^Rolled back from slot a (version 1.3) to slot b: no healthy boot in 2 tries$" ||
        die "burnt trial not reported: $out"
out=$("$ABIDECTL" boot-check --timeout 5 --no-reboot)
echo "$out" | grepq "Rolled back" && die "burnt trial reported twice: $out"
[ "$(wc -l <"$T/hook.log")" -eq 2 ] || die "hooks: $(cat "$T/hook.log")"

note "checks are bounded: a hanging check is killed with its process group"
"$HELPER" install a 1.4 3
loader_boot a
cat >"$T/health.d/30-hang" <<HANG
#!/bin/sh
sleep 300 &
echo \$! >$T/child.pid
echo "hanging"
sleep 300
HANG
chmod +x "$T/health.d/30-hang"
start=$(date +%s)
# The bound is what is left of the 3 s deadline when the check starts (2.9 s on a loaded machine).
expect_fail "check '30-hang' failed: timed out after (2\.[5-9]|3\.0) s: hanging" "$ABIDECTL" boot-check --timeout 3 --no-reboot
[ $(( $(date +%s) - start )) -lt 20 ] || die "boot-check took too long"
# Dead means gone, or a zombie waiting for init to reap it.
for i in $(seq 20); do proc_runs "$(cat "$T/child.pid")" || break; sleep 0.1; done
! proc_runs "$(cat "$T/child.pid")" || die "the check's background child survived"
[ "$(entry_of a)" = "abide-a+0-1.conf" ] || die "hang: entry is $(entry_of a)"
rm "$T/health.d/30-hang"

note "a check that lets a process out of its group (setsid, a double fork): killed when the check ends"
"$HELPER" install a 1.4 3
loader_boot a
cat >"$T/health.d/31-escape" <<ESCAPE
#!/bin/sh
setsid sleep 301 >/dev/null 2>&1 </dev/null &
echo \$! >$T/setsid.pid
( setsid sleep 302 >/dev/null 2>&1 </dev/null & echo \$! >$T/double.pid )
exit 0
ESCAPE
chmod +x "$T/health.d/31-escape"
"$ABIDECTL" boot-check --timeout 20 --no-reboot >"$T/out" 2>&1 || die "31-escape exits 0, boot-check failed: $(cat "$T/out")"
for f in setsid double; do
        p=$(cat "$T/$f.pid")
        ! proc_runs "$p" || die "the check's $f process ($p, session $(awk '{print $6}' "/proc/$p/stat")) survived boot-check"
done
rm "$T/health.d/31-escape"

note "a check that prints without end: its output is read as it comes, only the tail kept"
"$HELPER" install a 1.4 3
loader_boot a
printf '#!/bin/sh\nhead -c 268435456 /dev/zero\necho; echo "the end"\ntouch %s/written\nsleep 2\nexit 2\n' "$T" >"$T/health.d/32-loud"
chmod +x "$T/health.d/32-loud"
"$ABIDECTL" boot-check --timeout 8 --no-reboot >"$T/out" 2>&1 &
check=$!
for i in $(seq 100); do [ -e "$T/written" ] && break; sleep 0.1; done
[ -e "$T/written" ] || die "32-loud never wrote its output"
# 256 MiB printed; abidectl holds no more of it than the state file takes (a memfd held all of it).
for f in /proc/$check/fd/*; do
        size=$(stat -L -c %s "$f" 2>/dev/null || echo 0)
        [ "$size" -lt 1048576 ] || die "boot-check holds $size bytes of a check's output in $(readlink "$f")"
done
rss=$(awk '/^VmRSS:/ {print $2}' /proc/$check/status)
[ "$rss" -lt 65536 ] || die "boot-check's resident memory is $rss KiB"
wait "$check" && die "32-loud exited 2, boot-check passed"
grep -q "check '32-loud' failed: exit 2: ?* the end; marked" "$T/out" || die "failure: $(tail -c 300 "$T/out")"
state_json | jq -e '.slots.a.failure.output | (length <= 1024) and endswith("the end")' >/dev/null ||
        die "recorded output: $(state_json | jq -c .slots.a.failure.output | tail -c 200)"
rm "$T/health.d/32-loud" "$T/written"

note "checks start with no signal ignored, though the image's script runs boot-check as a background job"
"$HELPER" install a 1.4 3
loader_boot a
printf '#!/bin/sh\ngrep "^SigIgn:" /proc/$$/status >%s/sigign\n' "$T" >"$T/health.d/33-signals"
chmod +x "$T/health.d/33-signals"
# A shell's background job ignores SIGINT and SIGQUIT (POSIX), and ignored signals survive exec.
ABIDE_CONSOLE=$T/console ABIDE_WATCHDOG_DEV=$T/no-watchdog \
        sh "$ABIDE_SRCDIR/bootctl/image-root/usr/lib/abide/abide-boot-check.sh" --timeout 10 --no-reboot
for i in $(seq 100); do grep -qs "finished" "$T/console" && break; sleep 0.1; done
grep -q "abide-boot-check: finished (exit 0)" "$T/console" || die "abide-boot-check.sh: $(cat "$T/console")"
[ "$(entry_of a)" = "abide-a.conf" ] || die "signals: entry is $(entry_of a)"
grep -Eq '^SigIgn:[[:space:]]+0+$' "$T/sigign" || die "a check started with signals ignored: $(cat "$T/sigign")"
rm "$T/health.d/33-signals" "$T/sigign" "$T/console"

note "a check that failed, then hangs past the deadline: its failure stays, not the deadline's cut"
"$HELPER" install a 1.4 3
loader_boot a
# The first run fails at once ("not ready: "; its trailing space dropped as the console's line drops
# it); the second, in the next round, hangs and is killed when the 3 s deadline comes, well before
# CheckTimeoutSec= (10 s): a check cut short by the deadline gave no verdict of its own.
printf '#!/bin/sh\n[ -e %s/stuck ] && exec sleep 300\ntouch %s/stuck\nprintf "not ready: "; exit 1\n' "$T" "$T" >"$T/health.d/35-stuck"
chmod +x "$T/health.d/35-stuck"
expect_fail "check '35-stuck' failed: exit 1: not ready:; marked bad$" "$ABIDECTL" boot-check --timeout 3 --no-reboot
[ -e "$T/stuck" ] || die "35-stuck never ran"
grep -q '"output": *"exit 1: not ready:"' "$T/var/lib/abide/state.json" || die "state.json: $(cat "$T/var/lib/abide/state.json")"
[ "$(entry_of a)" = "abide-a+0-1.conf" ] || die "stuck: entry is $(entry_of a)"
rm "$T/health.d/35-stuck" "$T/stuck"

note "a check that failed, then passed, is not blamed when another is cut by the deadline"
"$HELPER" install a 1.4 3
loader_boot a
# Round 1: 36-first fails. Round 2: it passes, and 37-slow hangs until the 4 s deadline cuts it.
printf '#!/bin/sh\n[ -e %s/once ] && exit 0\ntouch %s/once\necho "not ready yet"; exit 1\n' "$T" "$T" >"$T/health.d/36-first"
printf '#!/bin/sh\necho "waiting for the uplink"\nexec sleep 300\n' >"$T/health.d/37-slow"
chmod +x "$T/health.d/36-first" "$T/health.d/37-slow"
expect_fail "check '37-slow' failed: timed out after [0-9.]+ s: waiting for the uplink; marked bad$" \
        "$ABIDECTL" boot-check --timeout 4 --no-reboot
[ "$(state_json | jq -r .slots.a.failure.check)" = 37-slow ] || die "blamed: $(state_json | jq -c .slots.a.failure)"
rm "$T/health.d/36-first" "$T/health.d/37-slow" "$T/once"

note "a check that fails first and passes before the deadline is healthy"
"$HELPER" install a 1.5 3
loader_boot a
printf '#!/bin/sh\n[ -e %s/ready ] && exit 0\ntouch %s/ready\necho not yet; exit 1\n' "$T" "$T" >"$T/health.d/40-late"
chmod +x "$T/health.d/40-late"
"$ABIDECTL" boot-check --timeout 10 --no-reboot >/dev/null
[ "$(entry_of a)" = "abide-a.conf" ] || die "late check: entry is $(entry_of a)"
rm "$T/health.d/40-late"

note "local checks run after the image's, each directory in name order; a local name never hides the image's"
"$HELPER" install a 1.5 3
loader_boot a
for c in health.d/50-image health.d/20-image etc-health.d/00-local etc-health.d/50-image; do
        printf '#!/bin/sh\necho %s >>%s/order\n' "$c" "$T" >"$T/$c"
        chmod +x "$T/$c"
done
"$ABIDECTL" boot-check --timeout 10 --no-reboot >/dev/null
[ "$(tr '\n' ' ' <"$T/order")" = "health.d/20-image health.d/50-image etc-health.d/00-local etc-health.d/50-image " ] ||
        die "checks ran in the order: $(tr '\n' ' ' <"$T/order")"
[ "$(entry_of a)" = "abide-a.conf" ] || die "ordered checks: entry is $(entry_of a)"
rm "$T/order" "$T/health.d/50-image" "$T/health.d/20-image" "$T/etc-health.d/00-local" "$T/etc-health.d/50-image"

note "two boot-checks at once: the later never blesses a slot the other marked bad"
"$HELPER" install a 1.5 3
loader_boot a
printf '#!/bin/sh\n[ -e %s/go ] && exit 0\necho not ready; exit 1\n' "$T" >"$T/health.d/45-ready"
chmod +x "$T/health.d/45-ready"
# The longer run would pass once 'go' appears, after the shorter one failed the slot.
"$ABIDECTL" boot-check --timeout 4 --no-reboot >"$T/long.out" 2>&1 &
long=$!
"$ABIDECTL" boot-check --timeout 1 --no-reboot >"$T/short.out" 2>&1 || true
touch "$T/go"
wait "$long" || true
[ "$(entry_of a)" = "abide-a+0-1.conf" ] || die "two at once: entry is $(entry_of a): $(cat "$T/short.out" "$T/long.out")"
[ "$(state_json | jq -r '.slots.a.state, .slots.a.failure.check' | tr '\n' ' ')" = "bad 45-ready " ] ||
        die "two at once: state $(state_json | jq -c .slots.a)"

note "mark-bad while boot-check waits for the checks: the slot stays bad"
rm "$T/go"
"$HELPER" install a 1.5 3
loader_boot a
printf '#!/bin/sh\ntouch %s/waiting\n[ -e %s/go ] && exit 0\necho not ready; exit 1\n' "$T" "$T" >"$T/health.d/45-ready"
"$ABIDECTL" boot-check --timeout 10 --no-reboot >"$T/check.out" 2>&1 &
check=$!
for i in $(seq 100); do [ -e "$T/waiting" ] && break; sleep 0.1; done
[ -e "$T/waiting" ] || die "the check never ran"
(sleep 1; touch "$T/go") &
"$ABIDECTL" mark-bad >/dev/null 2>"$T/mark.err" || die "mark-bad failed: $(cat "$T/mark.err")"
wait "$check" || true
wait
# Bad whichever came first: +0-1 (the trial's count) or +0 (marked bad after the bless).
[[ $(entry_of a) =~ ^abide-a\+0(-1)?\.conf$ ]] || die "marked bad during the check: entry is $(entry_of a): $(cat "$T/check.out")"
[ "$(state_json | jq -r .slots.a.state)" = bad ] || die "marked bad during the check: state $(state_json | jq -c .slots.a)"
rm "$T/go" "$T/waiting" "$T/health.d/45-ready"
"$HELPER" install a 1.5 3
loader_boot a
"$ABIDECTL" boot-check --timeout 10 --no-reboot >/dev/null
[ "$(entry_of a)" = "abide-a.conf" ] || die "a not blessed again: $(entry_of a)"

note "CheckTimeoutSec= bounds each check: one that hangs once is killed after it and run again"
"$HELPER" install a 1.55 3
loader_boot a
sed -i 's/^CheckTimeoutSec=.*/CheckTimeoutSec=1/' "$T/abide.conf"
printf '#!/bin/sh\n[ -e %s/hung ] && exit 0\ntouch %s/hung\nexec sleep 300\n' "$T" "$T" >"$T/health.d/45-once"
chmod +x "$T/health.d/45-once"
# Bounded only by the 20 s deadline, the hang would use it up, and the slot be marked bad.
start=$(date +%s)
"$ABIDECTL" boot-check --timeout 20 --no-reboot >/dev/null || die "a check that hung once past CheckTimeoutSec=1 failed the trial"
[ $(( $(date +%s) - start )) -lt 15 ] || die "CheckTimeoutSec=1 did not cut the hanging check short"
[ -e "$T/hung" ] || die "45-once never ran"
[ "$(entry_of a)" = "abide-a.conf" ] || die "CheckTimeoutSec: entry is $(entry_of a)"
rm "$T/health.d/45-once" "$T/hung"
sed -i 's/^CheckTimeoutSec=.*/CheckTimeoutSec=10/' "$T/abide.conf"

note "the agent probe from abide.conf runs first"
"$HELPER" install b 1.6 3
loader_boot b
printf '[Health]\nAgent=/bin/sh -c "echo agent says no; exit 1"\n' >>"$T/abide.conf"
# A health.d check fails too: the first check of each round is the one whose failure is recorded
# (a round stops there), so the agent's failure shows only if the agent runs before 05-early.
printf '#!/bin/sh\necho early check failed; exit 1\n' >"$T/health.d/05-early"
chmod +x "$T/health.d/05-early"
expect_fail "check 'agent' failed: exit 1: agent says no; marked bad$" "$ABIDECTL" boot-check --timeout 2 --no-reboot
[ "$(entry_of b)" = "abide-b+0-1.conf" ] || die "agent: entry is $(entry_of b)"
rm "$T/health.d/05-early"
sed -i '/^Agent=/d' "$T/abide.conf"

note "Agent= is split into words as a shell would, with no substitutions: \$HOME, ~ and /* as written"
"$HELPER" install b 1.6 3
loader_boot b
# shellcheck disable=SC2016 # the words are for abidectl to split, not this shell
printf '%s\n' '[Health]' 'Agent=/bin/sh -c '\''echo "agent got $#:" "$@"; exit 1'\'' sh $HOME "${HOME}" ~ /* a\ b' >>"$T/abide.conf"
# shellcheck disable=SC2016
expect_fail 'check .agent. failed: exit 1: agent got 5: \$HOME \$\{HOME\} ~ /\* a b; marked bad$' "$ABIDECTL" boot-check --timeout 2 --no-reboot
sed -i '/^Agent=/d' "$T/abide.conf"
# An unterminated quote: refused with the reason, no check run, the entry left to the loader's count.
"$HELPER" install b 1.6 3
loader_boot b
printf '%s\n' '[Health]' 'Agent=/bin/sh -c '\''touch '"$T"'/agent-ran' >>"$T/abide.conf"
expect_fail "^abidectl: boot-check: \[Health\] Agent=: unterminated single quote: /bin/sh -c 'touch " "$ABIDECTL" boot-check --timeout 2 --no-reboot
[ ! -e "$T/agent-ran" ] || die "an Agent= with an unterminated quote ran"
[ "$(entry_of b)" = "abide-b+2-1.conf" ] || die "unterminated quote: entry is $(entry_of b)"
sed -i '/^Agent=/d' "$T/abide.conf"

note "health.d: a local check named as a vendor check runs beside it, never instead of it"
# docs/abide-conf.md, HealthDir=: local configuration may add checks, never switch one off.
"$HELPER" install b 1.65 3
loader_boot b
printf '#!/bin/sh\necho vendor says no; exit 1\n' >"$T/health.d/15-vendor"
printf '#!/bin/sh\nexit 0\n' >"$T/etc-health.d/15-vendor"
chmod +x "$T/health.d/15-vendor" "$T/etc-health.d/15-vendor"
expect_fail "check '15-vendor' failed: exit 1: vendor says no; marked bad$" "$ABIDECTL" boot-check --timeout 2 --no-reboot
[ "$(entry_of b)" = "abide-b+0-1.conf" ] || die "vendor check switched off: entry is $(entry_of b)"
rm "$T/health.d/15-vendor" "$T/etc-health.d/15-vendor"
note "health.d: only executable files run, no dotfiles"
"$HELPER" install b 1.66 3
loader_boot b
printf '#!/bin/sh\nexit 1\n' >"$T/health.d/README"
printf '#!/bin/sh\nexit 1\n' >"$T/health.d/.15-editor-backup"
chmod +x "$T/health.d/.15-editor-backup"
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null 2>"$T/err" || die "a file boot-check should skip was run: $(cat "$T/err")"
[ "$(entry_of b)" = "abide-b.conf" ] || die "skipped files: entry is $(entry_of b)"
rm "$T/health.d/README" "$T/health.d/.15-editor-backup"

note "a corrupt state file does not stop the check, and is kept aside"
"$HELPER" install b 1.7 3
loader_boot b
echo '{"format":1,"slots":' >"$T/var/lib/abide/state.json"
expect_fail "status: state file .*state.json: corrupt: not valid JSON" "$ABIDECTL" status
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null 2>"$T/err"
grep -q "warning: state file .*corrupt.*moved aside" "$T/err" || die "no warning: $(cat "$T/err")"
[ "$(entry_of b)" = "abide-b.conf" ] || die "corrupt state: entry is $(entry_of b)"
[ -e "$T/var/lib/abide/state.json.corrupt" ] || die "corrupt file not kept"
[ "$(state_json | jq -r .slots.b.state)" = good ] || die "state not rebuilt"

note "anti-rollback floor: a trial below it is never blessed, at it is"
# b is good and booted. The floor is 5 (EFI variable only: written through libefivar here).
set_floor 5
"$HELPER" install a 9.0 3
loader_boot a
running 9.0 4
expect_fail "^abidectl: boot-check: slot a \(9.0\) has security version 4, below this device's floor 5 \(kept in the EFI variable AbideSecurityFloor\); marked bad$" \
        "$ABIDECTL" boot-check --timeout 5 --no-reboot
[ "$(entry_of a)" = "abide-a+0-1.conf" ] || die "below the floor: entry is $(entry_of a)"
state_json | jq -e '.slots.a.state == "bad" and .slots.a.failure.check == "security-floor"
        and (.slots.a.failure.output | test("below this device.s floor 5"))' >/dev/null || die "state: $(state_json)"
[ "$(get_floor)" = 5 ] || die "floor changed: $(get_floor)"
# Without --no-reboot: rebooted at once (the loader then falls back to b).
"$HELPER" install a 9.0 3
loader_boot a
rm -f "$T/reboots"
"$ABIDECTL" boot-check --timeout 5 >/dev/null 2>"$T/err" && die "boot-check below the floor exited 0"
[ "$(cat "$T/reboots")" = rebooted ] || die "no reboot below the floor"
grep -q "below this device's floor 5" "$T/err" || die "reason: $(cat "$T/err")"
# A good entry booted below the floor (an initramfs that did not enforce it) loses its bless too.
"$HELPER" install a 9.0 3
loader_boot a
"$ABIDECTL" mark-good >/dev/null 2>&1 && die "mark-good blessed an image below the floor"
mv "$ENTRIES/abide-a+2-1.conf" "$ENTRIES/abide-a.conf"
expect_fail "boot-check: slot a \(9.0\) has security version 4, below this device's floor 5 .*; marked bad$" \
        "$ABIDECTL" boot-check --no-reboot
[ "$(entry_of a)" = "abide-a+0.conf" ] || die "good entry below the floor: $(entry_of a)"
# At the floor: blessed, the floor stays; above it: raised in both copies.
"$HELPER" install a 9.1 3
loader_boot a
running 9.1 5
"$ABIDECTL" boot-check --timeout 5 --no-reboot | grepq "Slot a is healthy: marked good" || die "at the floor: not blessed"
[ "$(get_floor)" = 5 ] && [ "$(state_json | jq .security_floor.security_version)" = 5 ] || die "floor at 5: $(get_floor) $(state_json)"
"$HELPER" install b 9.2 3
loader_boot b
running 9.2 6
"$ABIDECTL" boot-check --timeout 5 --no-reboot | grepq "^Security floor raised to 6$" || die "not raised"
[ "$(get_floor)" = 6 ] || die "EFI floor: $(get_floor)"
state_json | jq -e '.security_floor.security_version == 6 and .security_floor.version == "9.2" and .slots.b.security_version == 6
        and .slots.a.security_version == 5 and .slots.a.state == "bad"' >/dev/null || die "state: $(state_json)"
[ "$(entry_of a)" = "abide-a+0.conf" ] || die "a (5) below the floor 6 not marked bad: $(entry_of a)"

note "which slot booted: LoaderEntrySelected with or without .conf, else LoaderBootCountPath, else abide.slot="
rm -f "$T/efivars/"Loader*
set_var LoaderEntrySelected "abide-b"
"$ABIDECTL" boot-check --no-reboot | grepq "Slot b is good" || die "LoaderEntrySelected without .conf"
rm -f "$T/efivars/"Loader*
set_var LoaderBootCountPath '\loader\entries\abide-b.conf'
[ "$(status_json | jq -r .booted)" = b ] || die "LoaderBootCountPath not used"
set_var LoaderEntrySelected "debian.conf"
expect_fail "booted entry 'debian.conf' is not an abide slot entry" "$ABIDECTL" boot-check --no-reboot
[ "$(status_json | jq -r .booted)" = null ] || die "status booted should be null for a foreign entry"
rm -f "$T/efivars/"Loader*
expect_fail "boot-check: cannot tell the booted slot" "$ABIDECTL" boot-check --no-reboot
echo "console=ttyS0 abide.slot=b" >"$T/cmdline"
"$ABIDECTL" boot-check --no-reboot | grepq "Slot b is good" || die "abide.slot= on the command line not used"
echo "abide.slot=c" >"$T/cmdline"
expect_fail "$T/cmdline: abide.slot=c: expected a or b" "$ABIDECTL" boot-check --no-reboot
# Read as abide-init reads it (the slot it mounted): the last abide.slot= wins, quotes are
# removed, what follows a lone "--" is init's. The first one taken would bless or roll back
# the wrong slot.
for line in 'abide.slot=a abide.slot=b' 'abide.slot="b"' 'abide.slot=b -- abide.slot=a' '"abide.slot=b"'; do
        echo "console=ttyS0 $line" >"$T/cmdline"
        [ "$(status_json | jq -r .booted)" = b ] || die "'$line': booted $(status_json | jq -r .booted), abide-init boots b"
done
echo 'console=ttyS0 abide.slot="b' >"$T/cmdline"
expect_fail "$T/cmdline: unterminated quote in the kernel command line" "$ABIDECTL" boot-check --no-reboot

echo "PASS"
