#!/bin/sh
# SPDX-License-Identifier: LGPL-2.1-or-later
# busybox-init counterpart of abide-boot-check.service: started from rcS
# once the agent runs; checks in the background so the boot goes on, and
# logs to the console. Arguments go to "abidectl boot-check".
ABIDECTL=${ABIDECTL:-/usr/sbin/abidectl}
CONSOLE=${ABIDE_CONSOLE:-/dev/console}

(
        echo "abide-boot-check: starting"
        "$ABIDECTL" boot-check "$@" 2>&1
        echo "abide-boot-check: finished (exit $?)"
) >>"$CONSOLE" 2>&1 </dev/null &
