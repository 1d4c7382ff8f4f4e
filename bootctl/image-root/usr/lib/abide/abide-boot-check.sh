#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# busybox-init counterpart of abide-boot-check.service, started from rcS once
# the agent runs. Checks in the background so the boot goes on, logs to the
# console. Arguments go to "abidectl boot-check".
#
# Watchdog contract (docs/boot.md): abide-init leaves the hardware watchdog
# armed. Nothing feeds it until boot-check has returned, so a boot that hangs
# before then resets the machine and the loader's counter burns a try. A
# failed check reboots from inside abidectl; on every other outcome this
# script hands the watchdog to busybox's watchdog daemon.
ABIDECTL=${ABIDECTL:-/usr/sbin/abidectl}
CONSOLE=${ABIDE_CONSOLE:-/dev/console}
WATCHDOG_DEV=${ABIDE_WATCHDOG_DEV:-/dev/watchdog}

(
        echo "abide-boot-check: starting"
        "$ABIDECTL" boot-check "$@" 2>&1
        rc=$?
        echo "abide-boot-check: finished (exit $rc)"
        if [ -c "$WATCHDOG_DEV" ]; then
                watchdog -T 60 -t 10 "$WATCHDOG_DEV" && echo "abide-boot-check: watchdog handed to the watchdog daemon"
        fi
) >>"$CONSOLE" 2>&1 </dev/null &
