#!/bin/bash
# untangle() (qemu/abideqemu.py; untangle_console in lib.sh), which every QEMU test reads the serial
# console through: a kernel message that landed inside a process's line
# (printk writes to the UART while the line is still in the tty's buffer)
# is moved out, the line made whole; nothing else changes. Two CI runs of
# 2026-12-03 lost test-init.sh to such lines.
. "$(dirname "$0")/lib.sh"
need python3 cmp

# case NAME: stdin (printf format, CR LF as the console has them) must untangle to the second argument.
case_is() {
        local name=$1 input=$2 want=$3
        printf "$input" >"$T/$name.in"
        printf "$want" >"$T/$name.want"
        untangle_console <"$T/$name.in" >"$T/$name.got"
        cmp -s "$T/$name.want" "$T/$name.got" ||
                die "$name: got $(od -c "$T/$name.got" | head -20), expected $(od -c "$T/$name.want" | head -20)"
        echo "   $name: ok"
}

# The line of the CI run (its kernel message set off by abide-init's next step).
case_is ci-watchdog \
        '[    3.525898] i6300ESB timer 0000:00:01.0: initialized.\r\nabide-init: modu[    3.600358] watchdog: watchdog0: watchdog did not stop!\r\nles: 29 loaded, 2 for absent hardware\r\nabide-init: watchdog: /dev/watchdog0 armed, 90 s\r\n' \
        '[    3.525898] i6300ESB timer 0000:00:01.0: initialized.\r\n[    3.600358] watchdog: watchdog0: watchdog did not stop!\r\nabide-init: modules: 29 loaded, 2 for absent hardware\r\nabide-init: watchdog: /dev/watchdog0 armed, 90 s\r\n'
# One line torn twice, the messages kept in their order.
case_is twice \
        'rcS: {"na[   12.000001] EXT4-fs (vda8): mounted\r\nme":"abide-d[   12.000002] random: crng init done\r\nemo"}\r\n' \
        '[   12.000001] EXT4-fs (vda8): mounted\r\n[   12.000002] random: crng init done\r\nrcS: {"name":"abide-demo"}\r\n'
# Whole lines, kernel and others, brackets in a process's line, no CRs: unchanged.
case_is untouched \
        '[    1.000000] Linux version x\r\nabide-init: slot a [b] 1.5\r\n[    2.000000] a [    3.000000] b\r\nplain\n' \
        '[    1.000000] Linux version x\r\nabide-init: slot a [b] 1.5\r\n[    2.000000] a [    3.000000] b\r\nplain\n'
# The boot loader's last line has no line end; the kernel's first message follows it (at 0 s,
# before any process): left as it is, and the lines after it too.
case_is boot \
        'Probing EDD (edd=off to disable)... ok\033c\033[2J[    0.000000] Linux version x\r\n[    0.000000] Command line: y\r\n[    0.100000] z\r\nabide-init: slot a\r\n' \
        'Probing EDD (edd=off to disable)... ok\033c\033[2J[    0.000000] Linux version x\r\n[    0.000000] Command line: y\r\n[    0.100000] z\r\nabide-init: slot a\r\n'
# The log as read while QEMU runs: the line's rest not written yet.
case_is partial \
        'abide-init: modu[    3.600358] watchdog: did not stop!\r\n' \
        '[    3.600358] watchdog: did not stop!\r\nabide-init: modu'
# Without the untangling, the torn line does not match what the tests look for.
printf 'abide-init: modu[    3.6] x\r\nles: 29 loaded\r\n' | grepq -E '^abide-init: modules: [0-9]+ loaded' &&
        die "the torn line matched as it is"
echo "OK"
