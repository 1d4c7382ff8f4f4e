#!/bin/bash
# A cleanup hook signals a process only while its number is still that process's (stop_child,
# lib.sh). Hooks such as test-init.sh's "kill $QPID", run at a test's end for every QEMU boot,
# signalled numbers whose processes were reaped minutes before; the numbers come round (pid_max
# 32768, about 100 new processes a second in the integration suite here), and a QEMU of the
# scenarios that run beside the sanitizer pass exits 0 on SIGTERM, as after a guest reboot. (Found
# while looking for why two scenarios' guests ended by themselves in a CI run of 2026-12-08; not
# shown to be that cause.)
. "$(dirname "$0")/lib.sh"
need git grep sleep

note "a running child gets the signal asked for (default TERM)"
sleep 300 &
p=$!
stop_child $p
rc=0; wait $p || rc=$?
[ $rc = 143 ] || die "stop_child: the child exited $rc, expected 143 (SIGTERM)"
sleep 300 &
p=$!
stop_child $p KILL
rc=0; wait $p || rc=$?
[ $rc = 137 ] || die "stop_child KILL: the child exited $rc, expected 137 (SIGKILL)"

note "a child signalled before its exec (right after \"cmd &\"): the test's scratch directory stays"
# Such a child is still a copy of the test's shell, with its EXIT trap (lib.sh's on_exit).
for i in $(seq 5); do
        echo $i >"$T/mark"
        sleep 300 &
        stop_child $! KILL
        wait $! 2>/dev/null || true
        sleep 300 &
        stop_child $!
        wait $! 2>/dev/null || true
        [ -s "$T/mark" ] || die "a child killed before its exec removed the scratch directory $T (round $i)"
done

note "a number that is not this shell's child is left alone (as a reaped child's number given to another process)"
# A grandchild: a process under a number this shell did not start (its parent is the subshell's,
# then init's or a subreaper's once the subshell exits).
( sleep 300 >/dev/null 2>&1 & echo $! >"$T/other.pid" )
other=$(cat "$T/other.pid")
cleanup_hooks+=("kill $other 2>/dev/null")   # this test's own, killed just below
proc_runs "$other" || die "the grandchild did not start"
stop_child "$other"
stop_child "$other" KILL
sleep 0.2
proc_runs "$other" || die "stop_child signalled process $other, which is not a child of this shell"
kill "$other"
cleanup_hooks=("${cleanup_hooks[@]:0:${#cleanup_hooks[@]}-1}")

note "a child already reaped, no number, a word: nothing happens, no error"
sleep 0.1 &
p=$!
wait $p
stop_child $p || die "stop_child of a reaped child failed"
stop_child "" || die "stop_child of nothing failed"
stop_child abc KILL || die "stop_child of a word failed"

note "no cleanup hook of a test kills by a bare number (lint)"
cd "$ABIDE_SRCDIR"
paths=('tests/*.sh' 'scripts/*.sh')
# A hook line that kills, other than through stop_child; a line that checks the number itself says so
# with "pid-checked" (test-sentinel.sh reads the command line, test-build.sh drops its group hook once
# the group is reaped).
hits=$(git grep -nE 'cleanup_hooks.*\bkill\b' -- "${paths[@]}" ":!tests/integration/$(basename "$0")" | grep -v -e stop_child -e 'pid-checked' || true)
[ -z "$hits" ] || die "a cleanup hook kills a bare number (use stop_child): $(echo "$hits" | tr '\n' ' ')"
echo "OK"
