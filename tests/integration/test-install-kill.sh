#!/bin/bash
# SIGKILL abidectl install at 20 random points, alternating between two
# bundle versions: slot a stays intact and primary every time, slot b is
# bootable only with the complete, verified content its entry names, and
# the next clean install succeeds.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/install-lib.sh"
need tar cmp

KILLS=${KILLS:-20}
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
declare -A BUNDLE ROOTHASH KERNEL
for v in 1.0 2.0 3.0; do
        head -c 200000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
        head -c $((24 * 1024 * 1024)) /dev/urandom >"$T/payload/blob"
        BUNDLE[$v]=$(build_bundle "$T/b-$v" --set Image.Version=$v --set Image.SecurityVersion=1)
        ROOTHASH[$v]=$(manifest_field "${BUNDLE[$v]}" "['verity']['root_hash']")
        cp "$T/kernel/vmlinuz-$KVER" "$T/vmlinuz-$v"
done
make_disk 32 2
make_config
fill_slot_a "${BUNDLE[1.0]}"
write_image_info 1.0 1
slot_a_print >"$T/a.before"
install() { "$ABIDECTL" install "$@"; }
install "${BUNDLE[2.0]}" >/dev/null

# Feeds a bundle through a pipe in 256 KiB pieces over about 1.5 s.
feed() {
        python3 - "$1" <<'PY'
import os, sys, time
data = open(sys.argv[1], "rb").read()
step = 256 * 1024
pause = 1.5 / (len(data) / step)
try:
    for o in range(0, len(data), step):
        os.write(1, data[o:o + step])
        time.sleep(pause)
except BrokenPipeError:
    pass
PY
}

check_after_kill() {
        slot_a_print >"$T/a.now"
        cmp -s "$T/a.before" "$T/a.now" || die "kill $1: slot a changed: $(diff "$T/a.before" "$T/a.now")"
        [ "$(entry_of a)" = abide-a.conf ] || die "kill $1: a's entry is '$(entry_of a)'"
        [ -z "$(get_var LoaderEntryOneShot)" ] || die "kill $1: a one-shot boot was set"
        local e v
        e=$(entry_of b)
        if [ -z "$e" ]; then
                outcome=removed
                return
        fi
        # An entry of b is only acceptable over the complete content of the version it names.
        v=$(sed -n 's/^version //p' "$ENTRIES/$e")
        [ -n "${ROOTHASH[$v]:-}" ] || die "kill $1: b's entry $e names version '$v'"
        veritysetup verify "$ROOT_B" "$VERITY_B" "${ROOTHASH[$v]}" >/dev/null 2>&1 ||
                die "kill $1: b's entry $e (version $v) is bootable over content that does not verify"
        cmp -s "$T/vmlinuz-$v" "$T/esp/abide/b/vmlinuz" || die "kill $1: b's kernel is not version $v's"
        outcome="entry $v"
}

declare -A seen
for i in $(seq 1 "$KILLS"); do
        v=$([ $((i % 2)) -eq 0 ] && echo 2.0 || echo 3.0)
        if [ $((i % 4)) -lt 2 ]; then
                # Throttled: the kill lands anywhere in the stream, most often while writing.
                delay=$(python3 -c 'import random; print(round(random.uniform(0.0, 2.0), 3))')
                (exec "$ABIDECTL" install - --force < <(feed "${BUNDLE[$v]}") >/dev/null 2>&1) &
        else
                # Full speed: the kill lands in opening, writing, reading back or the entry.
                delay=$(python3 -c 'import random; print(round(random.uniform(0.0, 0.6), 3))')
                (exec "$ABIDECTL" install "${BUNDLE[$v]}" --force >/dev/null 2>&1) &
        fi
        pid=$!   # abidectl itself (exec), not a subshell
        sleep "$delay"
        stop_child $pid KILL
        wait $pid 2>/dev/null || true
        check_after_kill "$i (version $v after ${delay}s)"
        echo "   kill $i: version $v after ${delay}s: $outcome"
        seen[${outcome%% *}]=1
        # The following clean install succeeds.
        out=$(install "${BUNDLE[$v]}" --force) || die "clean install after kill $i failed"
        [ "$(entry_of b)" = abide-b+3.conf ] || die "after kill $i: clean install left '$(entry_of b)'"
        veritysetup verify "$ROOT_B" "$VERITY_B" "${ROOTHASH[$v]}" >/dev/null || die "after kill $i: b does not verify"
done
# The kills must have hit the window where b is being written at least once.
[ -n "${seen[removed]:-}" ] || die "no kill landed while b was being written"
note "OK"
