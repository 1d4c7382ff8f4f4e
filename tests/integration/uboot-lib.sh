# Sourced by the U-Boot tests after lib.sh: a U-Boot environment in a file
# (two copies, fw_env.config) and a stand-in for U-Boot running
# builder/uboot/boot.cmd. The script's syntax (if/elif/for, test, ||) is
# valid bash as well as U-Boot hush, so bash runs the very file the builder
# compiles, with U-Boot's commands (test, setenv, setexpr, saveenv, load,
# booti, reset) as functions over the environment read with fw_printenv;
# test and setexpr read numbers as U-Boot does (checked against Debian's
# U-Boot 2023.01 for the counters of test-uboot-env.sh and
# test-uboot-state.c: "10", "08", "0x5", "1 2" ...).
need fw_printenv fw_setenv mkimage dumpimage python3
ENV_IMG=$T/uboot-env.img
ENV_CFG=$T/fw_env.config
ENV_SIZE=16384
BOOT_CMD=$ABIDE_SRCDIR/builder/uboot/boot.cmd

# make_env: two empty (invalid) copies at 0 and 0x4000 of one file, as on an eMMC boot area.
make_env() {
        truncate -s $((2 * ENV_SIZE)) "$ENV_IMG"
        printf '%s 0x0 0x4000\n%s 0x4000 0x4000\n' "$ENV_IMG" "$ENV_IMG" >"$ENV_CFG"
}

env_get() { fw_printenv -c "$ENV_CFG" -n "$1" 2>/dev/null || true; }

# copy_info: per copy "N crc-ok|crc-bad FLAGS" (the redundant layout: CRC32, flags byte, data).
copy_info() {
        python3 - "$ENV_IMG" "$ENV_SIZE" <<'PY'
import struct, sys, zlib
img, size = open(sys.argv[1], "rb").read(), int(sys.argv[2])
for i in range(2):
    c = img[i * size:(i + 1) * size]
    crc, flags = struct.unpack("<IB", c[:5])
    print(i, "crc-ok" if zlib.crc32(c[5:]) == crc else "crc-bad", flags)
PY
}

# current_copy / stale_copy: the copy libubootenv reads (valid, higher flag) and the other one.
current_copy() { copy_info | awk '$2 == "crc-ok" {print $3, $1}' | sort -n | tail -1 | awk '{print $2}'; }
stale_copy() { echo $((1 - $(current_copy))); }

# tear COPY: a write of COPY cut short: the start of its variables is garbage, the header intact.
tear() {
        head -c 64 /dev/urandom | dd of="$ENV_IMG" bs=1 seek=$(($1 * ENV_SIZE + 5)) conv=notrunc status=none
}

# uboot_strtoul VAR VALUE BASE, uboot_strtol VAR VALUE: U-Boot's simple_strtoul/simple_strtol (lib/strto.c,
# 2020.07 on; base 0 for strtol, as test passes it) into VAR: "0x" hex, a leading 0 octal for base 0, else
# decimal, up to the first other character; wraps at 64 bits, as bash's signed integer. Into a variable, not
# printed: the script reads numbers thousands of times in test-uboot-env.sh, and $(...) forks each time.
uboot_strtoul() {
        local -n _r=$1
        local s=$2 base=$3 d
        _r=0
        if [[ $s == 0[xX]* ]]; then base=16 s=${s:2}; elif [[ $s == 0* && $base == 0 ]]; then base=8; fi
        [ "$base" != 0 ] || base=10
        while [ -n "$s" ]; do
                case ${s:0:1} in [0-9a-fA-F]) d=$((16#${s:0:1})) ;; *) break ;; esac
                [ "$d" -lt "$base" ] || break
                _r=$((_r * base + d)) s=${s:1}
        done
}
uboot_strtol() {
        if [[ $2 == -* ]]; then uboot_strtoul "$1" "${2:1}" 0; local -n _n=$1; _n=$((0 - _n)); else uboot_strtoul "$1" "$2" 0; fi
}

# What the emulated "part uuid" says the script's partition is, unless PART_UUID is set.
PART_UUID_DEFAULT=4ab1014a-9d19-44f8-8c04-dc0c415ad46d

# run_boot_cmd ENV_IN SAVED: runs boot.cmd over the NAME=VALUE lines of ENV_IN; saveenv writes the
# whole environment to SAVED (NAME= for an unset one); booti writes the kernel's command line
# to $T/cmdline (abidectl's Cmdline=) and its abide.slot= to $T/booted. Log in $T/uboot.log.
run_boot_cmd() {
        rm -f "$T/booted" "$2"
        (
                set +eu
                names=" "
                while IFS= read -r line; do
                        k=${line%%=*}
                        [[ $k =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
                        printf -v "$k" '%s' "${line#*=}"
                        names+="$k "
                done <"$1"
                setenv() {
                        [[ $names == *" $1 "* ]] || names+="$1 "
                        if [ $# -ge 2 ]; then printf -v "$1" '%s' "$2"; else unset "$1"; fi
                }
                # U-Boot's test (cmd/test.c): its own expression grammar, integers read by simple_strtol(v, NULL, 0),
                # an expression it cannot parse is true; -e (a file) is not used by the script.
                test() {
                        local -a ap=("$@")
                        local left=$# i=0 expr=0 last_expr=-1 not=0 binop= op adv a b
                        [ $# -ge 2 ] || return 1
                        while [ "$left" -gt 0 ]; do
                                op=
                                if [ "$left" -gt 1 ]; then
                                        case ${ap[i + 1]} in =|!=|'<'|'>'|-eq|-ne|-lt|-le|-gt|-ge) op=${ap[i + 1]} adv=3 ;; esac
                                fi
                                if [ -z "$op" ]; then
                                        case ${ap[i]} in '!'|-o|-a) op=${ap[i]} adv=1 ;; -z|-n) op=${ap[i]} adv=2 ;; -e) exit 9 ;; esac
                                fi
                                if [ -z "$op" ] || [ "$left" -lt "$adv" ]; then expr=1; break; fi
                                case $op in
                                -z) expr=0; [ -n "${ap[i + 1]}" ] || expr=1 ;;
                                -n) expr=0; [ -z "${ap[i + 1]}" ] || expr=1 ;;
                                =|!=|'<'|'>') expr=0; [ "${ap[i]}" "$op" "${ap[i + 2]}" ] && expr=1 ;;
                                -eq|-ne|-lt|-le|-gt|-ge)
                                        uboot_strtol a "${ap[i]}"; uboot_strtol b "${ap[i + 2]}"
                                        expr=0; [ "$a" "$op" "$b" ] && expr=1 ;;
                                esac
                                case $op in
                                -o|-a) last_expr=$expr binop=$op ;;
                                '!') not=$((1 - not)) ;;
                                *)
                                        [ "$not" = 0 ] || { expr=$((1 - expr)); not=0; }
                                        if [ "$binop" = -o ]; then [ "$last_expr" = 1 ] && expr=1;
                                        elif [ "$binop" = -a ]; then [ "$last_expr" = 1 ] || expr=0; fi
                                        binop= ;;
                                esac
                                i=$((i + adv)) left=$((left - adv))
                        done
                        [ "$expr" = 1 ]
                }
                # U-Boot's setexpr (cmd/setexpr.c) for "setexpr NAME VALUE - 1": hexadecimal in, "%lx" out;
                # other argument counts are refused (a usage message, the variable unchanged).
                setexpr() {
                        case $2 in fmt|sub|gsub|'*'*) echo "setexpr: $* not emulated" >&2; exit 9 ;; esac
                        if [ $# -ne 4 ]; then echo "setexpr: usage ($*)"; return 1; fi
                        [ "$3" = - ] || { echo "setexpr: $* not emulated" >&2; exit 9; }
                        local x y
                        uboot_strtoul x "$2" 16; uboot_strtoul y "$4" 16
                        printf -v x %x $((x - y))
                        setenv "$1" "$x"
                }
                saveenv() {
                        local n
                        for n in $names; do
                                if [ -n "${!n+x}" ]; then printf '%s=%s\n' "$n" "${!n}"; else printf '%s=\n' "$n"; fi
                        done >"$SAVED"
                }
                load() {
                        [ "$1 $2" = "mmc 0:1" ] || { echo "load from $1 $2" >&2; return 1; }
                        [ -f "$T/esp$4" ] || { echo "load: no $4" >&2; return 1; }
                }
                # U-Boot's "part uuid IFACE DEV:PART VAR" for the script's partition: PART_UUID (unset: a
                # fixed one; empty: the command fails, as on a partition table it cannot read).
                part() {
                        [ "$1" = uuid ] && [ $# = 4 ] || { echo "part $* not emulated" >&2; exit 9; }
                        [ "$2 $3" = "mmc 0:1" ] || { echo "part uuid of $2 $3" >&2; return 1; }
                        local u=${PART_UUID-$PART_UUID_DEFAULT}
                        [ -n "$u" ] || { echo "part: no partition table" >&2; return 1; }
                        setenv "$4" "$u"
                }
                booti() {
                        local n w
                        # Scratch variables are hush locals: none of them may be in the environment.
                        for n in abide_slot abide_order abide_fb abide_save abide_fail_a abide_fail_b abide_w abide_pass abide_listed; do
                                [[ $names != *" $n "* ]] || { echo "$n in the environment at booti" >&2; exit 5; }
                        done
                        # part uuid's variable: set in the environment, deleted before the boot.
                        [ -z "${abide_esp+x}" ] || { echo "abide_esp in the environment at booti" >&2; exit 5; }
                        printf '%s\n' "$bootargs" >"$T/cmdline"
                        for w in $bootargs; do [[ $w != abide.slot=* ]] || echo "${w#abide.slot=}" >"$T/booted"; done
                        exit 0
                }
                # RESET_OK=1: a reset ends the run (U-Boot would start again), $T/booted says "reset".
                reset() {
                        echo "U-Boot: reset" >&2
                        [ -z "$RESET_OK" ] || { echo reset >"$T/booted"; exit 0; }
                        exit 7
                }
                SAVED=$2
                devtype=mmc devnum=0 distro_bootpart=1 kernel_addr_r=0x40400000 ramdisk_addr_r=0x44000000
                fdtcontroladdr=0x7ff00000
                # shellcheck disable=SC1090
                . "$BOOT_CMD"
                exit 6
        ) >"$T/uboot.log" 2>&1 || { cat "$T/uboot.log" >&2; die "boot script did not boot (see above)"; }
}

# uboot_boot: what U-Boot does on power-on, on the environment file; prints the booted slot.
uboot_boot() {
        fw_printenv -c "$ENV_CFG" >"$T/env.in"
        run_boot_cmd "$T/env.in" "$T/env.saved"
        [ ! -e "$T/env.saved" ] || fw_setenv -c "$ENV_CFG" -s "$T/env.saved" || die "fw_setenv -s failed"
        cat "$T/booted"
}
