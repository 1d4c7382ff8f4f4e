# Sourced by the integration scripts: strict mode, a scratch dir, assertions.
set -euo pipefail

: "${ABIDE_BUILD:?run through meson test}"
: "${ABIDECTL:?run through meson test}"
: "${ABIDE_SRCDIR:?run through meson test}"

T=$(mktemp -d /tmp/abide-test.XXXXXX)
cleanup_hooks=()
on_exit() {
        local rc=$?
        # Only the test's own shell: a child forked for a command and signalled before its exec (a
        # kill right after "cmd &") is a copy of this shell, whose death by the signal would run this
        # trap too, and remove the scratch directory under the test.
        [ "$BASHPID" = "$$" ] || return $rc
        for h in "${cleanup_hooks[@]}"; do eval "$h" || true; done
        if [ $rc -ne 0 ]; then
                echo "FAILED (rc=$rc), scratch kept in $T" >&2
        elif [ -n "${ABIDE_TEST_KEEP:-}" ]; then
                echo "scratch kept in $T (ABIDE_TEST_KEEP)"
        else
                rm -rf "$T"
        fi
}
trap on_exit EXIT

die() { echo "FAIL: $*" >&2; exit 1; }
note() { echo "== [${SECONDS}s] $*"; }

# stop_child PID [SIGNAL]: sends SIGNAL (default TERM) to PID only while PID is a child of this shell
# not yet reaped, so the number still names that process. Once bash has reaped a child (it does so as
# the child exits, waited for or not), the kernel gives its number to the next process that needs one
# when the counter wraps (pid_max 32768 on a small machine: minutes of a busy test suite), and a plain
# "kill $pid" in a cleanup hook signals whatever runs under it then: a QEMU of the scenarios that run
# beside the sanitizer pass exits 0 on SIGTERM, as if its guest had rebooted.
stop_child() {
        proc_runs "$1" && [ "$PROC_PPID" = "$BASHPID" ] || return 0
        kill -"${2:-TERM}" "$1" 2>/dev/null || true
}

# proc_stat PID: PROC_STATE and PROC_PPID of process PID, from /proc/PID/stat (the fields after the
# command name, which may hold blanks and parentheses); false when there is no such process.
proc_stat() {
        local stat
        [[ $1 =~ ^[0-9]+$ ]] && read -r stat 2>/dev/null <"/proc/$1/stat" || return 1
        read -r PROC_STATE PROC_PPID _ <<<"${stat##*) }"
}

# proc_runs PID: process PID exists and has not exited (neither a zombie nor dead).
proc_runs() { proc_stat "$1" && [[ $PROC_STATE != [ZX] ]]; }

# flip_byte PATH OFFSET [MASK]: the byte at OFFSET xored with MASK (default 0xff: every bit inverted), so
# the file always changes (a fixed byte written there leaves a file that already held it unchanged, 1 time
# in 256 on random data).
flip_byte() {
        local old
        old=$(od -An -tu1 -j "$2" -N1 "$1" | tr -d ' ')
        [ -n "$old" ] || die "flip_byte: $1 has no byte at $2"
        printf "$(printf '\\%03o' $(((old ^ ${3:-0xff}) & 0xff)))" |
                dd of="$1" bs=1 seek="$2" conv=notrunc status=none
}

# grepq ARGS...: "grep -q" as the last command of a pipeline. grep -q stops reading at its first
# match; under pipefail a writer with more to write then dies of SIGPIPE, and the pipeline fails
# (141) however the match went: at random, on a fast grep. grepq drains the rest of its input.
# (test-pipe-lint.sh checks that no test or script pipes into grep -q.)
grepq() {
        local rc=0
        grep -q "$@" || rc=$?
        cat >/dev/null
        return "$rc"
}

# untangle_console: stdin, a serial console's log, to stdout as the QEMU harness reads it:
# untangle() of qemu/abideqemu.py (a kernel message that landed inside a line moved out of it).
untangle_console() {
        python3 -c 'import sys; sys.path.insert(0, sys.argv[1]); import abideqemu
sys.stdout.buffer.write(abideqemu.untangle(sys.stdin.buffer.read().decode("utf-8", "replace")).encode("utf-8"))' \
                "$ABIDE_SRCDIR/qemu"
}

# The test needs a tool; in CI a missing tool is a failure, never a skip.
need() { for t in "$@"; do command -v "$t" >/dev/null || die "required tool '$t' not found (run scripts/install-deps.sh)"; done; }

# The newest kernel installed on this machine, as its version (e.g. what /boot/vmlinuz-* names):
# the one whose /lib/modules tree abide-build resolves initramfs modules from.
# Never name a version in a test; the machine CI runs on has today's kernel.
host_kernel_version() {
        local k v
        for k in $(ls -1 /boot/vmlinuz-* 2>/dev/null | sort -V -r); do
                v=${k##*/vmlinuz-}
                [ -f "/lib/modules/$v/modules.dep" ] && { echo "$v"; return 0; }
        done
        die "no kernel with a modules tree installed (/boot/vmlinuz-*, /lib/modules/*/modules.dep); run scripts/install-deps.sh"
}

# The anti-rollback floor's EFI variable (efivarfs format: NV|BS|RT, then a
# little-endian uint64) at $FVAR, which the test sets: get_floor prints it
# (nothing when unset), set_floor VALUE writes it.
FLOOR_VAR=AbideSecurityFloor-28932f22-23ff-4f25-8a72-e3e6bc8b620f
get_floor() { [ ! -e "$FVAR" ] || python3 -c 'import struct,sys; a,v = struct.unpack("<IQ", open(sys.argv[1],"rb").read()); assert a == 7; print(v)' "$FVAR"; }
set_floor() { python3 -c 'import struct,sys; open(sys.argv[1],"wb").write(struct.pack("<IQ", 7, int(sys.argv[2])))' "$FVAR" "$1"; }

# expect_fail PATTERN CMD...: CMD must exit non-zero with a one-line stderr matching PATTERN.
expect_fail() {
        local pat=$1; shift
        local out rc=0
        out=$("$@" 2>&1 >/dev/null) || rc=$?
        [ $rc -ne 0 ] || die "expected failure but succeeded: $*"
        [ "$(printf '%s\n' "$out" | grep -c .)" -eq 1 ] || die "expected one error line from '$*', got: $out"
        printf '%s\n' "$out" | grepq -E -- "$pat" || die "error of '$*' does not match /$pat/: $out"
        echo "   refused as expected: $out"
}

same_file() { cmp -s "$1" "$2" || die "$1 and $2 differ"; }
# cms_signing_time SIG: the signingTime attribute of a DER CMS signature, in seconds since 1970.
cms_signing_time() {
        local t
        t=$(openssl cms -cmsout -print -inform DER -in "$1" | sed -n '/object: signingTime/,/TIME:/s/.*TIME:\(.*\)/\1/p')
        [ -n "$t" ] || die "$1: no signingTime"
        date -u -d "$t" +%s
}
# preload SHIM [VAR=VALUE...] CMD ARGS...: CMD with the LD_PRELOAD shim SHIM (a path); ASan, when
# built in, accepts a shim loaded before its runtime.
preload() {
        local shim=$1
        shift
        env LD_PRELOAD="$shim" ASAN_OPTIONS="${ASAN_OPTIONS:+$ASAN_OPTIONS:}verify_asan_link_order=0" "$@"
}
