#!/bin/sh
# abide test console: runs shell commands sent by the QEMU test harness
# (qemu/abideqemu.py; protocol in qemu/README.md).
#
# It serves only a virtio-serial port named org.abide.test.0, which exists
# only when the harness's QEMU command line adds it; without that port this
# script exits at once and does nothing. The device's console stays without
# a shell. rcS starts it in the background: /usr/lib/abide/test-console.sh &
# It ships only in test images: the layer images/demo/testing, which
# recipes/demo.conf leaves out and the QEMU scenarios add.
NAME=org.abide.test.0

log() { echo "abide-test-console: $*" >/dev/console 2>/dev/null || echo "abide-test-console: $*" >&2; }

find_port() {
	for d in /sys/class/virtio-ports/*; do
		[ -r "$d/name" ] || continue
		if [ "$(cat "$d/name")" = "$NAME" ]; then
			echo "/dev/${d##*/}"
			return 0
		fi
	done
	return 1
}

# A virtio console PCI function (1af4:1003 legacy, 1af4:1043 modern) must be
# there before anything is loaded: no device, no test console.
have_device() {
	for d in /sys/bus/pci/devices/*; do
		[ "$(cat "$d/vendor" 2>/dev/null)" = 0x1af4 ] || continue
		case "$(cat "$d/device" 2>/dev/null)" in
		0x1003|0x1043) return 0 ;;
		esac
	done
	return 1
}

have_device || exit 0
[ -d /sys/class/virtio-ports ] || modprobe virtio_console 2>/dev/null
port=
i=0
while [ $i -lt 50 ]; do
	port=$(find_port) && [ -c "$port" ] && break
	port=
	i=$((i + 1))
	sleep 0.2
done
[ -n "$port" ] || exit 0

tmpdir=
for d in /run /tmp /var/tmp /dev/shm /dev; do
	if [ -d "$d" ] && [ -w "$d" ]; then tmpdir=$d; break; fi
done
out="$tmpdir/abide-test-console.$$"

exec 3<>"$port" || exit 1
log "serving $port"
cd /
while :; do
	# read returns EOF while the host side is not connected: wait and retry.
	while IFS= read -r line <&3; do
		id=${line%% *}
		cmd=${line#* }
		case "$id" in ''|*[!0-9]*) continue ;; esac
		sh -c "$cmd" </dev/null >"$out" 2>&1
		rc=$?
		size=$(($(wc -c <"$out")))
		printf '__ABIDE_OUT__ %s %s\n' "$id" "$size" >&3
		cat "$out" >&3
		printf '__ABIDE_RC__ %s %s\n' "$id" "$rc" >&3
		rm -f "$out"
	done
	sleep 0.5
done
