#!/bin/bash
# The U-Boot backend on a device made of a loop disk and an environment file
# with two copies: abidectl install into the inactive slot, the boot script
# (builder/uboot/boot.cmd, run by uboot-lib.sh) counting the trial, boot-check,
# mark-bad, rollback, switch, status --json, fw_printenv/fw_setenv
# cross-checks, and torn writes of either copy.
. "$(dirname "$0")/lib.sh"
. "$(dirname "$0")/bootctl-lib.sh"
. "$(dirname "$0")/install-lib.sh"
. "$(dirname "$0")/uboot-lib.sh"
need jq tar

note "boot script compiles"
"$ABIDE_SRCDIR/builder/uboot/mkbootscr.sh" "$T/boot.scr"
dumpimage -l "$T/boot.scr" | grepq 'AArch64 Linux Script' || die "boot.scr: $(dumpimage -l "$T/boot.scr")"
# U-Boot 2023.01's hush keeps a local's old value on an empty assignment ("x=1; x=; echo $x" prints
# 1; bash, which runs the script here, clears it): a scratch variable cleared that way between the
# script's passes kept the slot that failed to load, and real U-Boot chose it again, three times.
grep -nE '^[[:space:]]*[A-Za-z_][A-Za-z0-9_]*=(""|'"''"')?[[:space:]]*(#.*)?$' "$ABIDE_SRCDIR/builder/uboot/boot.cmd" &&
        die "boot.cmd clears a hush local with an empty assignment, which U-Boot ignores: give it a value (0, -)"

note "the script and lib/boot/uboot-state.c agree on every environment"
mkdir -p "$T/esp/abide/a" "$T/esp/abide/b"
touch "$T/esp/abide/a/vmlinuz" "$T/esp/abide/a/initrd" "$T/esp/abide/b/vmlinuz" "$T/esp/abide/b/initrd"
# agree ORDER A_LEFT B_LEFT ONCE GOOD [LOADS] ("-": unset; LOADS: the slots whose files load, default ab): the
# script and the state machine boot the same slot (or both reset), pass over the same slots and leave counters
# that read the same (the script saves setexpr's "%lx": "10" becomes "f").
agree() {
        local order=$1 la=$2 lb=$3 once=$4 good=$5 loads=${6:-ab} slot after fb got want noload x cmdline la_after lb_after
        {
                [ "$order" = - ] || echo "BOOT_ORDER=$order"
                [ "$la" = - ] || echo "BOOT_A_LEFT=$la"
                [ "$lb" = - ] || echo "BOOT_B_LEFT=$lb"
                [ "$once" = - ] || echo "abide_once=$once"
                [ "$good" = - ] || echo "abide_good=$good"
                echo "abide_cmdline_a=console=ttyS0 x=a"
                echo "abide_cmdline_b=console=ttyS0 x=b"
        } >"$T/env.in"
        for x in a b; do
                if [[ $loads == *$x* ]]; then touch "$T/esp/abide/$x/vmlinuz"; else rm -f "$T/esp/abide/$x/vmlinuz"; fi
        done
        RESET_OK=1 run_boot_cmd "$T/env.in" "$T/env.saved"
        # Read with bash alone (no sed, grep or $(...) per value): this runs for every one of ~1500 environments.
        read -r slot <"$T/booted"
        noload= fb=0
        while IFS= read -r x; do
                [[ $x != "abide: slot "?" cannot be loaded"* ]] || noload+=${x:12:1}
                [[ $x != *"falling back to slot $slot"* ]] || fb=1
        done <"$T/uboot.log"
        [ "$noload" != ba ] || noload=ab
        [ "$slot" != reset ] || fb=0
        if [ "$slot" != reset ]; then
                read -r cmdline <"$T/cmdline"
                x=-; [[ $cmdline != *" abide.unloadable="[ab]* ]] || { x=${cmdline#* abide.unloadable=}; x=${x:0:1}; }
                [[ $cmdline == "console=ttyS0 x=$slot abide.slot=$slot"?(" abide.unloadable=$x")" abide.esp=$PART_UUID_DEFAULT" ]] &&
                        [ "$x" = "${noload:--}" ] || die "cmdline: $cmdline (passed over: ${noload:--})"
        fi
        after=$T/env.in
        [ ! -e "$T/env.saved" ] || after=$T/env.saved
        declare -A saved=()
        while IFS= read -r x; do saved[${x%%=*}]=${x#*=}; done <"$after"
        # Saved without scratch variables.
        if [ -e "$T/env.saved" ]; then
                for x in abide_esp abide_slot abide_order abide_fb abide_save abide_fail_a abide_fail_b abide_w abide_pass \
                        abide_listed BOOT_SLOT; do
                        [ -z "${saved[$x]:-}" ] || die "scratch variables saved: $(cat "$T/env.saved")"
                done
        fi
        # BOOT_x_LEFT as the state machine reads what the script saved ("-": unset).
        read -r la_after lb_after < <("$ABIDE_TEST_HELPERS/helper-uboot" --left "${saved[BOOT_A_LEFT]:--}" "${saved[BOOT_B_LEFT]:--}")
        got="slot=$slot fallback=$fb A=$la_after B=$lb_after once=${saved[abide_once]:--} noload=${noload:--}"
        want=$("$ABIDE_TEST_HELPERS/helper-uboot" "$order" "$la" "$lb" "$once" "$good" "$loads")
        [ "$got" = "$want" ] || die "order='$order' A='$la' B='$lb' once=$once good=$good loads=$loads: script: $got; state machine: $want"
        n=$((n + 1))
}
n=0
for order in - A B "A B" "B A"; do for la in - 0 1 3; do for lb in - 0 1 3; do for once in - A B; do for good in - A B; do
        agree "$order" "$la" "$lb" "$once" "$good"
done; done; done; done; done
# A slot whose kernel cannot be loaded (a damaged FAT, a file missing): passed over in the same boot, its try (if
# counted) spent; no slot loads: reset, the counts saved.
for order in - A B "A B" "B A"; do for la in - 0 1; do for lb in - 0 3; do for once in - B; do for good in - A; do for loads in a b -; do
        agree "$order" "$la" "$lb" "$once" "$good" "$loads"
done; done; done; done; done; done
touch "$T/esp/abide/a/vmlinuz" "$T/esp/abide/b/vmlinuz"
# Counters abidectl does not write (by hand, another tool), as U-Boot reads them (uboot-lib.sh's test
# and setexpr; tests/unit/test-uboot-state.c has the boots U-Boot 2023.01 gave them).
for order in A "A B" "B A"; do for la in 10 12 08 0x5 a " 3 " "1 2" " " 9x "1 = 1" "! 1" "1;reset" '1"2'; do for lb in - 1 010; do for once in - B; do
        agree "$order" "$la" "$lb" "$once" -
done; done; done; done
echo "   $n environments"
rm -rf "$T/esp"

note "keys, bundle, disk, slot a from the factory"
"$ABIDE_BUILD" keygen -o "$T/keys" >/dev/null
mkdir -p "$T/kernel" "$T/payload"
head -c 200000 /dev/urandom >"$T/kernel/vmlinuz-$KVER"
head -c 1000000 /dev/urandom >"$T/payload/blob"
V1=$(build_bundle "$T/b1" --set Image.Version=1.0)
V2=$(build_bundle "$T/b2" --set Image.Version=2.0)
make_disk 8 1
make_config
fill_slot_a "$V1"
rm -rf "$ENTRIES"   # no loader entries on a U-Boot board
write_image_info 1.0 0
mkdir -p "$T/health.d" "$T/etc-health.d"
make_env
cat >>"$T/abide.conf" <<CONF
[Boot]
Backend=uboot
UBootEnvConfig=$ENV_CFG
[Paths]
VendorHealthDir=$T/health.d
HealthDir=$T/etc-health.d
State=$T/var/state.json
[Boot]
RebootCommand=/bin/true
CONF

note "an environment never saved: read as an error, never written over U-Boot's defaults"
expect_fail "U-Boot environment \($ENV_CFG\): no valid copy" "$ABIDECTL" status
printf 'bootcmd=run distro_bootcmd\nbootdelay=2\n' >"$T/default.env"
# libubootenv's script format is U-Boot's "env import -t": NAME=VALUE, a bare NAME= unsets.
fw_setenv -c "$ENV_CFG" -f "$T/default.env" -s - <<'SEED'
BOOT_ORDER=A
abide_good=A
abide_cmdline_a=console=ttyS0
abide_version_a=1.0
SEED
[ "$(uboot_boot)" = a ] || die "factory boot: $(cat "$T/uboot.log")"
grep -qx "console=ttyS0 abide.slot=a abide.esp=$PART_UUID_DEFAULT" "$T/cmdline" || die "factory cmdline: $(cat "$T/cmdline")"
st=$("$ABIDECTL" status --json)
[ "$(jq -r '.slots.a.state, .slots.a.booted, .slots.b.state' <<<"$st" | tr '\n' ' ')" = "good true empty " ] ||
        die "factory status: $st"

note "install into b: on trial, first in BOOT_ORDER, options and version in the environment"
"$ABIDECTL" install "$V2" >/dev/null
[ "$(env_get BOOT_ORDER)" = "B A" ] || die "BOOT_ORDER after install: $(env_get BOOT_ORDER)"
[ "$(env_get BOOT_B_LEFT)" = 3 ] || die "BOOT_B_LEFT after install (the bundle's 3 tries): $(env_get BOOT_B_LEFT)"
[ "$(env_get abide_tries_b)" = 3 ] || die "abide_tries_b after install: $(env_get abide_tries_b)"
[ "$(env_get abide_cmdline_b)" = "console=ttyS0 quiet" ] || die "abide_cmdline_b: $(env_get abide_cmdline_b)"
[ "$(env_get abide_version_b)" = 2.0 ] || die "abide_version_b: $(env_get abide_version_b)"
[ "$(env_get bootcmd)" = "run distro_bootcmd" ] || die "install lost U-Boot's own variables"
[ -z "$(env_get BOOT_A_LEFT)" ] || die "slot a got a counter"
cmp -s "$T/kernel/vmlinuz-$KVER" "$T/esp/abide/b/vmlinuz" || die "kernel not in the boot partition's abide/b"
[ -s "$T/esp/abide/b/initrd" ] || die "no initrd in abide/b"
copy_info | grep -c crc-ok | grepq -x 2 || die "both copies should be valid: $(copy_info)"

note "the script boots b and counts the try before the kernel"
[ "$(uboot_boot)" = b ] || die "trial boot: $(cat "$T/uboot.log")"
grep -qx "console=ttyS0 quiet abide.slot=b abide.esp=$PART_UUID_DEFAULT" "$T/cmdline" || die "trial cmdline: $(cat "$T/cmdline")"
[ "$(env_get BOOT_B_LEFT)" = 2 ] || die "BOOT_B_LEFT after a boot: $(env_get BOOT_B_LEFT)"
[ -z "$(env_get abide_slot)$(env_get abide_order)$(env_get BOOT_SLOT)" ] || die "scratch variables saved"
st=$("$ABIDECTL" status --json)
[ "$(jq -r '.slots.b.state, .slots.b.booted, .slots.b.tries_left, .slots.b.tries_done, .slots.b.version, .slots.b.entry' <<<"$st" | tr '\n' ' ')" = "pending true 2 1 2.0 B " ] ||
        die "status on trial: $st"

note "boot-check on the trial slot: good"
"$ABIDECTL" boot-check --timeout 10 --no-reboot >/dev/null
[ -z "$(env_get BOOT_B_LEFT)" ] || die "BOOT_B_LEFT after boot-check: $(env_get BOOT_B_LEFT)"
[ -z "$(env_get abide_tries_b)" ] || die "abide_tries_b after boot-check: $(env_get abide_tries_b)"
[ "$(env_get abide_good)" = B ] || die "abide_good: $(env_get abide_good)"
[ "$(uboot_boot)" = b ] && [ -z "$(env_get BOOT_B_LEFT)" ] || die "a good slot is counted"

note "rollback to a, switch --once to b, back to a"
"$ABIDECTL" rollback >/dev/null
[ "$(env_get BOOT_ORDER)" = "A B" ] && [ "$(env_get abide_default)" = A ] || die "rollback: $(fw_printenv -c "$ENV_CFG")"
[ "$(jq -r .next.default <<<"$("$ABIDECTL" status --json)")" = a ] || die "status next after rollback: $("$ABIDECTL" status --json)"
[ "$(uboot_boot)" = a ] || die "after rollback"
"$ABIDECTL" switch b --once >/dev/null
[ "$(env_get abide_once)" = B ] || die "switch --once: $(env_get abide_once)"
[ "$(uboot_boot)" = b ] || die "once"
[ -z "$(env_get abide_once)" ] || die "abide_once not spent"
[ "$(uboot_boot)" = a ] || die "after once"

note "mark-bad b: 0 tries, last in order, never chosen, switch refused"
"$ABIDECTL" mark-bad b >/dev/null
[ "$(env_get BOOT_B_LEFT)" = 0 ] && [ "$(env_get BOOT_ORDER)" = "A B" ] || die "mark-bad: $(fw_printenv -c "$ENV_CFG")"
expect_fail "slot b is marked bad" "$ABIDECTL" switch b --once
[ "$(uboot_boot)" = a ] || die "bad b booted"
st=$("$ABIDECTL" status --json)
[ "$(jq -r '.slots.a.state, .slots.b.state' <<<"$st" | tr '\n' ' ')" = "good bad " ] || die "status: $st"
[ "$(jq -r .backend <<<"$st")" = uboot ] || die "status backend: $st"

note "more tries than the script counts: refused before anything is written"
before=$(fw_printenv -c "$ENV_CFG")
expect_fail "too many tries for uboot: 12 \(at most 9\)" "$ABIDECTL" install --tries 12 "$V2"
[ "$(fw_printenv -c "$ENV_CFG")" = "$before" ] || die "a refused install changed the environment"

note "a new trial of b that never comes up: tries run out, a boots again"
"$ABIDECTL" install --tries 2 "$V2" >/dev/null
[ "$(env_get BOOT_ORDER)" = "B A" ] && [ -z "$(env_get abide_default)" ] || die "install after a pin: $(fw_printenv -c "$ENV_CFG")"
[ "$(uboot_boot)" = b ] && [ "$(uboot_boot)" = b ] || die "trial"
[ "$(uboot_boot)" = a ] || die "no tries left: b still booted"
[ "$(env_get BOOT_B_LEFT)" = 0 ] || die "BOOT_B_LEFT: $(env_get BOOT_B_LEFT)"
st=$("$ABIDECTL" status --json)
[ "$(jq -r '.slots.b.state, .slots.b.tries_done' <<<"$st" | tr '\n' ' ')" = "bad 2 " ] || die "status, tries run out: $st"
"$ABIDECTL" mark-good >/dev/null   # a is the booted, good slot; a no-op that writes
[ "$(env_get abide_tries_b)" = 2 ] || die "abide_tries_b after an unrelated write: $(env_get abide_tries_b)"

note "a trial whose health check fails: boot-check marks it bad, a boots next and records the rollback"
"$ABIDECTL" install --tries 3 "$V2" >/dev/null
[ "$(uboot_boot)" = b ] || die "trial"
printf '#!/bin/sh\necho "agent down" >&2\nexit 3\n' >"$T/etc-health.d/20-probe"
chmod +x "$T/etc-health.d/20-probe"
expect_fail "check '20-probe' failed: exit 3: agent down; marked bad$" "$ABIDECTL" boot-check --timeout 2 --no-reboot
[ "$(env_get BOOT_B_LEFT)" = 0 ] && [ "$(env_get BOOT_ORDER)" = "A B" ] || die "failed boot-check: $(fw_printenv -c "$ENV_CFG")"
[ "$(env_get abide_tries_b)" = 1 ] || die "a trial marked bad after one boot keeps 1 try: $(env_get abide_tries_b)"
rm "$T/etc-health.d/20-probe"
[ "$(uboot_boot)" = a ] || die "after the failed trial"
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null
st=$("$ABIDECTL" status --json)
[ "$(jq -r '.last_rollback.from, .last_rollback.to, .last_rollback.version' <<<"$st" | tr '\n' ' ')" = "b a 2.0 " ] ||
        die "rollback not recorded: $st"
[ "$(jq -r '.slots.b.state, .slots.b.tries_done, .last_rollback.reason' <<<"$st" | tr '\n' ' ')" = "bad 1 check '20-probe' failed: exit 3: agent down " ] ||
        die "status after the failed trial: $st"

note "BOOT_x_LEFT values abidectl does not write: every verb still works, status reads them as the script does"
# Set by hand or by another tool (fw_setenv, RAUC's "%x"). U-Boot's test -gt reads base 0 (0x: hex,
# a leading 0: octal, else decimal, up to the first other character), setexpr counts in hex:
# "10" boots once (then "f": not > 0), "08" is 0 (octal), "1 2" once (the script quotes it: one word).
# Slot a (booted, good) and b (bad) as the failed trial left them. set_env NAME VALUE: fw_setenv's script
# form, which takes "-1" and blanks as they are.
set_env() { printf '%s=%s\n' "$1" "$2" | fw_setenv -c "$ENV_CFG" -s -; }
# The script quotes the counter: "1 2" is one word, read as 1 (counted once, never booted uncounted), " 3 " and
# blanks as 0 (skipped), "1;reset" as 1 (no command run).
for c in "10:pending:1" "010:pending:1" "0x5:pending:5" " 3 :bad:0" "9x:pending:9" "99:pending:9" \
        "a:bad:0" "08:bad:0" "-1:bad:0" "x:bad:0" "1 2:pending:1" " :bad:0" "1;reset:pending:1"; do
        v=${c%%:*} want=${c#*:}
        set_env BOOT_B_LEFT "$v"
        [ "$(env_get BOOT_B_LEFT)" = "$v" ] || die "fw_setenv BOOT_B_LEFT '$v': $(env_get BOOT_B_LEFT)"
        st=$("$ABIDECTL" status --json) || die "status with BOOT_B_LEFT='$v'"
        got=$(jq -r '.slots.b.state + ":" + (.slots.b.tries_left // 0 | tostring)' <<<"$st")
        [ "$got" = "$want" ] || die "status with BOOT_B_LEFT='$v': $got, the script reads $want"
        # The booted slot's counter too.
        set_env BOOT_A_LEFT "$v"
        "$ABIDECTL" status >/dev/null || die "status with BOOT_A_LEFT='$v'"
        set_env BOOT_A_LEFT ""
done
echo "   read as the script reads them"
set_env BOOT_B_LEFT 08
"$ABIDECTL" mark-bad b >/dev/null
[ "$(env_get BOOT_B_LEFT)" = 0 ] || die "mark-bad did not write a clean 0: '$(env_get BOOT_B_LEFT)'"
set_env BOOT_B_LEFT "1 2"
"$ABIDECTL" mark-bad b >/dev/null
[ "$(env_get BOOT_B_LEFT)" = 0 ] || die "mark-bad over '1 2': '$(env_get BOOT_B_LEFT)'"
for v in x "1 2" 7; do
        set_env BOOT_A_LEFT "$v"
        "$ABIDECTL" mark-good >/dev/null
        [ -z "$(env_get BOOT_A_LEFT)" ] || die "mark-good of a over '$v': BOOT_A_LEFT='$(env_get BOOT_A_LEFT)'"
done
# The booted slot with a counter of "10" (one counted boot left): boot-check blesses it.
set_env BOOT_A_LEFT 10
[ "$(jq -r '.slots.a.state + ":" + (.slots.a.tries_left | tostring)' <<<"$("$ABIDECTL" status --json)")" = pending:1 ] ||
        die "status with BOOT_A_LEFT=10: $("$ABIDECTL" status --json)"
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null
[ -z "$(env_get BOOT_A_LEFT)" ] || die "boot-check left BOOT_A_LEFT='$(env_get BOOT_A_LEFT)'"
# An unrelated write rewrites an odd counter in abide's form, with the boots the script would give.
set_env BOOT_B_LEFT 0x4
"$ABIDECTL" switch a >/dev/null
[ "$(env_get BOOT_B_LEFT)" = 4 ] || die "switch a: BOOT_B_LEFT='$(env_get BOOT_B_LEFT)', want 4"
"$ABIDECTL" mark-bad b >/dev/null
set_env BOOT_B_LEFT ab
"$ABIDECTL" install --tries 2 "$V2" >/dev/null
[ "$(env_get BOOT_B_LEFT)" = 2 ] && [ "$(env_get BOOT_ORDER)" = "B A" ] || die "install over BOOT_B_LEFT=ab: $(fw_printenv -c "$ENV_CFG")"
"$ABIDECTL" mark-bad b >/dev/null
"$ABIDECTL" switch a >/dev/null
[ "$(uboot_boot)" = a ] || die "after the odd counters"

note "a write whose sync fails (write-back of the environment's device failed): the verb fails, one line"
shim=$ABIDE_TEST_HELPERS/helper-corrupt-write.so
rm -f "$T/fake.log"
expect_fail "^abidectl: switch: U-Boot environment \($ENV_CFG\): cannot write it: sync of $ENV_IMG failed: Input/output error$" \
        preload "$shim" ABIDE_TEST_FAIL_SYNC_FILE="$ENV_IMG" ABIDE_TEST_FAKE_LOG="$T/fake.log" "$ABIDECTL" switch a --once
grepq -x "failsync $ENV_IMG" "$T/fake.log" || die "no fsync of the environment failed: $(cat "$T/fake.log" 2>&1)"
[ "$(copy_info | grep -c crc-ok)" = 2 ] || die "copies after the failed sync: $(copy_info)"
"$ABIDECTL" switch a --once >/dev/null
"$ABIDECTL" switch a >/dev/null
[ "$(env_get abide_once)" = A ] || die "switch --once after the failed sync: $(env_get abide_once)"
fw_setenv -c "$ENV_CFG" abide_once

note "a fw_env.config with one copy: read, never written"
cp "$ENV_CFG" "$T/fw_env.config.two"
truncate -s "$ENV_SIZE" "$T/single.img"
echo "$T/single.img 0x0 0x4000" >"$ENV_CFG"
printf 'BOOT_ORDER=A\nabide_good=A\n' | fw_setenv -c "$ENV_CFG" -f "$T/default.env" -s - 2>/dev/null
st=$("$ABIDECTL" status --json) || die "status with one copy"
[ "$(jq -r '.slots.a.state, .slots.b.state' <<<"$st" | tr '\n' ' ')" = "good empty " ] || die "status with one copy: $st"
before=$(fw_printenv -c "$ENV_CFG")
expect_fail "one copy only; a power cut while writing it would lose" "$ABIDECTL" switch a
[ "$(fw_printenv -c "$ENV_CFG")" = "$before" ] || die "written with one copy"
cp "$T/fw_env.config.two" "$ENV_CFG"

note "a fw_env.config naming a device that is not there, or copies of two sizes: the error says which"
printf '%s 0x0 0x4000\n%s 0x4000 0x4000\n' "$T/no-such-env" "$T/no-such-env" >"$ENV_CFG"
expect_fail "U-Boot environment: $ENV_CFG: device $T/no-such-env: No such file or directory$" "$ABIDECTL" status
printf '%s 0x0 0x4000\n%s 0x4000 0x2000\n' "$ENV_IMG" "$ENV_IMG" >"$ENV_CFG"
expect_fail "U-Boot environment: $ENV_CFG: the two copies differ in size \(0x4000 and 0x2000\)$" "$ABIDECTL" status
cp "$T/fw_env.config.two" "$ENV_CFG"

note "a fw_env.config whose copies overlap: read, never written (a write would damage the other copy)"
printf '%s 0x0 0x4000\n%s 0x2000 0x4000\n' "$ENV_IMG" "$ENV_IMG" >"$ENV_CFG"
[ "$(jq -r .slots.a.state <<<"$("$ABIDECTL" status --json)")" = good ] || die "status with overlapping copies"
cp "$ENV_IMG" "$T/env.before"
expect_fail "U-Boot environment \($ENV_CFG\): the two copies overlap \($ENV_IMG at 0x0 and 0x2000, 0x4000 bytes each\)" \
        "$ABIDECTL" switch a
cmp -s "$ENV_IMG" "$T/env.before" || die "written with overlapping copies: $(copy_info)"
cp "$T/fw_env.config.two" "$ENV_CFG"

note "a copy past the end of its device (an offset that is not U-Boot's): the error names it"
printf '%s 0x0 0x4000\n%s 0x40000 0x4000\n' "$ENV_IMG" "$ENV_IMG" >"$ENV_CFG"
expect_fail "U-Boot environment \($ENV_CFG\): copy 2 \(0x4000 bytes at 0x40000\) ends past the end of $ENV_IMG \(0x8000 bytes\)" \
        "$ABIDECTL" status
cp "$T/fw_env.config.two" "$ENV_CFG"

note "an environment with no room left: refused with the sizes, nothing written"
fw_setenv -c "$ENV_CFG" abide_once
# 5 bytes left in a copy (0x4000 less CRC and flag): abide_once=A and its NUL do not fit.
pad=$((16384 - 5 - 5 - 1 - $(fw_printenv -c "$ENV_CFG" | wc -c) - 5))
fw_setenv -c "$ENV_CFG" pad "$(head -c "$pad" /dev/zero | tr '\0' x)"
cp "$ENV_IMG" "$T/env.before"
expect_fail "U-Boot environment \($ENV_CFG\) is full: its variables need 16387 bytes, a copy holds 16379 " \
        "$ABIDECTL" switch a --once
cmp -s "$ENV_IMG" "$T/env.before" || die "written although full: $(copy_info)"
fw_setenv -c "$ENV_CFG" pad
"$ABIDECTL" switch a --once >/dev/null
[ "$(env_get abide_once)" = A ] || die "switch --once with room again: $(env_get abide_once)"
fw_setenv -c "$ENV_CFG" abide_once

note "torn write of the stale copy: the current one is read, the next write repairs it"
echo "   copies: $(copy_info | tr '\n' ';')"
before=$(fw_printenv -c "$ENV_CFG" | sort)
s=$(stale_copy)
tear "$s"
copy_info | grepq "^$s crc-bad" || die "tear did not break copy $s"
[ "$(fw_printenv -c "$ENV_CFG" | sort)" = "$before" ] || die "the torn stale copy changed what is read"
[ "$(jq -r '.slots.a.state, .slots.b.state' <<<"$("$ABIDECTL" status --json)" | tr '\n' ' ')" = "good bad " ] ||
        die "status with a torn copy"
"$ABIDECTL" switch a >/dev/null
copy_info | grep -c crc-ok | grepq -x 2 || die "the write did not repair copy $s: $(copy_info)"
[ "$(current_copy)" = "$s" ] || die "the write went to the wrong copy: $(copy_info)"

note "torn write of the newest copy: the write before it is read (install's removal of b: b unbootable)"
"$ABIDECTL" switch b --once 2>/dev/null && die "switch to bad b accepted"
"$ABIDECTL" install --tries 3 "$V2" >/dev/null
[ "$(env_get BOOT_B_LEFT)" = 3 ] || die "install"
tear "$(current_copy)"
[ "$(env_get BOOT_ORDER)" = A ] && [ -z "$(env_get BOOT_B_LEFT)" ] || die "older copy not read: $(fw_printenv -c "$ENV_CFG")"
[ "$(uboot_boot)" = a ] || die "boot with the newest copy torn"
copy_info | grepq crc-bad || die "a good slot's boot saved the environment"
"$ABIDECTL" install --tries 3 "$V2" >/dev/null
copy_info | grep -c crc-ok | grepq -x 2 || die "install did not repair: $(copy_info)"
[ "$(env_get BOOT_ORDER)" = "B A" ] && [ "$(env_get BOOT_B_LEFT)" = 3 ] || die "install after the torn copy"

note "an environment saved without abide's variables: a runs through the fallback, install keeps it listed"
fw_setenv -c "$ENV_CFG" -s - <<'UNSET'
BOOT_ORDER=
BOOT_B_LEFT=
abide_good=
abide_default=
abide_once=
abide_tries_b=
UNSET
[ "$(uboot_boot)" = a ] && grepq "falling back to slot a" "$T/uboot.log" || die "fallback boot: $(cat "$T/uboot.log")"
"$ABIDECTL" install --tries 2 "$V2" >/dev/null
[ "$(env_get BOOT_ORDER)" = "B A" ] && [ -z "$(env_get BOOT_A_LEFT)" ] ||
        die "install from an unlisted slot a: $(fw_printenv -c "$ENV_CFG")"
[ "$(uboot_boot)" = b ] && [ "$(uboot_boot)" = b ] || die "trial"
[ "$(uboot_boot)" = a ] || die "no tries left: the running slot a was not fallen back to: $(cat "$T/uboot.log")"

note "the script's partition on the command line (abide.esp=); a partition table part cannot read: booted without it"
[ "$(PART_UUID=0B5E2C1A-0000-4000-8000-0123456789AB uboot_boot)" = a ] || die "boot with another partition UUID: $(cat "$T/uboot.log")"
grep -qx "console=ttyS0 abide.slot=a abide.esp=0B5E2C1A-0000-4000-8000-0123456789AB" "$T/cmdline" || die "cmdline: $(cat "$T/cmdline")"
[ "$(PART_UUID='' uboot_boot)" = a ] || die "boot without part uuid: $(cat "$T/uboot.log")"
grep -qx "console=ttyS0 abide.slot=a" "$T/cmdline" || die "cmdline without part uuid: $(cat "$T/cmdline")"
[ -z "$(env_get abide_esp)" ] || die "abide_esp saved: $(env_get abide_esp)"

note "a good slot whose kernel cannot be loaded: the other slot boots the same boot, boot-check marks it bad"
"$ABIDECTL" install --tries 2 "$V2" >/dev/null
[ "$(uboot_boot)" = b ] || die "trial"
"$ABIDECTL" boot-check --timeout 5 --no-reboot >/dev/null
[ -z "$(env_get BOOT_B_LEFT)" ] && [ "$(env_get abide_good)" = B ] || die "b not blessed: $(fw_printenv -c "$ENV_CFG")"
mv "$T/esp/abide/b/vmlinuz" "$T/vmlinuz.b"
# Before: U-Boot reset on the failed load and chose b again, forever (b good, never counted).
[ "$(uboot_boot)" = a ] || die "good b unloadable: $(cat "$T/uboot.log")"
grepq "slot b cannot be loaded" "$T/uboot.log" && grep -qx "console=ttyS0 abide.slot=a abide.unloadable=b abide.esp=$PART_UUID_DEFAULT" "$T/cmdline" ||
        die "unloadable b: $(cat "$T/uboot.log" "$T/cmdline")"
"$ABIDECTL" boot-check --timeout 5 --no-reboot >"$T/out"
[ "$(env_get BOOT_B_LEFT)" = 0 ] && [ "$(env_get BOOT_ORDER)" = "A B" ] || die "b not marked bad: $(fw_printenv -c "$ENV_CFG")"
st=$("$ABIDECTL" status --json)
[ "$(jq -r '.slots.b.state, .last_rollback.from, .last_rollback.to' <<<"$st" | tr '\n' ' ')" = "bad b a " ] ||
        die "status after the unloadable b: $st"
jq -r .last_rollback.reason <<<"$st" | grepq "the boot script could not load slot b's kernel or initrd" || die "reason: $st"
[ "$(uboot_boot)" = a ] && ! grepq "cannot be loaded" "$T/uboot.log" || die "b still tried: $(cat "$T/uboot.log")"
mv "$T/vmlinuz.b" "$T/esp/abide/b/vmlinuz"
# Both slots' kernels gone: the script resets (nothing saved); as before, nothing can boot.
mv "$T/esp/abide/a/vmlinuz" "$T/vmlinuz.a"; mv "$T/esp/abide/b/vmlinuz" "$T/vmlinuz.b"
fw_printenv -c "$ENV_CFG" >"$T/env.in"
RESET_OK=1 run_boot_cmd "$T/env.in" "$T/env.saved"
[ "$(cat "$T/booted")" = reset ] && [ ! -e "$T/env.saved" ] || die "nothing loadable: $(cat "$T/uboot.log")"
mv "$T/vmlinuz.a" "$T/esp/abide/a/vmlinuz"; mv "$T/vmlinuz.b" "$T/esp/abide/b/vmlinuz"

note "both copies torn: abidectl refuses to write"
tear 0; tear 1
expect_fail "no valid copy" "$ABIDECTL" mark-good
expect_fail "no valid copy" "$ABIDECTL" status

note "OK"
