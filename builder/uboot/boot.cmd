# abide boot script for U-Boot (docs/uboot.md). Compiled by builder/uboot/mkbootscr.sh:
#   mkimage -A arm64 -T script -C none -d boot.cmd boot.scr
# The same choice as lib/boot/uboot-state.c (uboot_state_boot), variables as RAUC names them:
#   BOOT_ORDER "A B"       slots with an entry, first preferred
#   BOOT_A_LEFT, BOOT_B_LEFT  unset or empty: good, not counted; else read whole (quoted) as a number,
#                          as test and setexpr read it: > 0 on trial (counted), else bad (skipped)
#   abide_once             A or B: boot it this once (abidectl switch --once); cleared here
#   abide_good             the slot last marked good: the fallback when no listed slot can boot
#   abide_cmdline_a/_b     the slot's kernel options (abidectl install writes them)
# Kernel and initrd: /abide/<slot>/vmlinuz and /abide/<slot>/initrd on the partition this
# script was loaded from (${devtype} ${devnum}:${distro_bootpart}, set by distro/standard boot).
# A slot whose files cannot be loaded (or that booti refuses) is passed over in the same boot: the
# next choice boots, with abide.unloadable=<slot> on its command line (abidectl boot-check marks the
# slot bad); nothing is saved for it, so a read that failed once costs the slot nothing. Only when no
# slot can be loaded does the script reset.
# abide.esp=<PARTUUID> names the partition the script was loaded from (part uuid), as systemd-boot's
# LoaderDevicePartUUID does under UEFI: abide-init and abidectl then look on that disk only, so a second
# disk with abide's labels (a reflash stick) does not make them ambiguous. part uuid sets an environment
# variable, deleted again at once so that no saveenv keeps it.
# Scratch variables are hush locals (name=value): never in the environment, never saved. U-Boot's
# hush (2023.01) does not clear a local with an empty assignment ("name=" keeps the old value), so
# every scratch variable holds a value: 0 or 1 for flags, - for no slot.

abide_save=0
abide_fail_a=0
abide_fail_b=0
abide_order="${BOOT_ORDER}"

# A one-time choice counts only for a listed slot; it is spent either way.
if test -n "${abide_once}"; then
	for abide_w in ${BOOT_ORDER}; do
		if test "x${abide_w}" = "x${abide_once}"; then
			abide_order="${abide_once} ${BOOT_ORDER}"
		fi
	done
	setenv abide_once
	abide_save=1
fi

# Each pass boots a slot or notes one whose files could not be loaded: two slots, three passes.
for abide_pass in 1 2 3; do
	abide_slot=-
	abide_fb=-
	# The first slot in order that is good (no counter) or has tries left; a try is counted now,
	# before the kernel starts, so a crash or a hang anywhere later has used it. The counter is
	# quoted: test and setexpr read the whole value as one number ("1 2" is 1, " 3" is 0), so a
	# value that is not a plain number is counted or skipped, never booted uncounted.
	for abide_w in ${abide_order}; do
		if test "x${abide_slot}" != "x-"; then
			true
		elif test "x${abide_w}" = "xA" && test "x${abide_fail_a}" = "x0"; then
			if test -z "${BOOT_A_LEFT}"; then
				abide_slot=a
			elif test "${BOOT_A_LEFT}" -gt 0; then
				setexpr BOOT_A_LEFT "${BOOT_A_LEFT}" - 1
				abide_slot=a
				abide_save=1
			fi
		elif test "x${abide_w}" = "xB" && test "x${abide_fail_b}" = "x0"; then
			if test -z "${BOOT_B_LEFT}"; then
				abide_slot=b
			elif test "${BOOT_B_LEFT}" -gt 0; then
				setexpr BOOT_B_LEFT "${BOOT_B_LEFT}" - 1
				abide_slot=b
				abide_save=1
			fi
		fi
	done

	# No listed slot can boot: the last good slot, else the first listed, else the factory slot A
	# when none is listed; not counted (nothing is left to fall back to). A slot that failed to
	# load is passed over; an unlisted slot other than that A is never booted (it may be half written).
	if test "x${abide_slot}" = "x-"; then
		abide_listed=0
		for abide_w in ${abide_good} ${BOOT_ORDER}; do
			if test "x${abide_w}" = "xA" || test "x${abide_w}" = "xB"; then
				abide_listed=1
				if test "x${abide_fb}" != "x-"; then
					true
				elif test "x${abide_w}" = "xA" && test "x${abide_fail_a}" = "x0"; then
					abide_fb=a
				elif test "x${abide_w}" = "xB" && test "x${abide_fail_b}" = "x0"; then
					abide_fb=b
				fi
			fi
		done
		if test "x${abide_listed}" = "x0" && test "x${abide_fail_a}" = "x0"; then
			abide_fb=a
		fi
		abide_slot=${abide_fb}
		if test "x${abide_slot}" != "x-"; then
			echo "abide: no slot in BOOT_ORDER (${BOOT_ORDER}) has tries left; falling back to slot ${abide_slot}"
		fi
	fi

	if test "x${abide_slot}" = "xa"; then
		setenv bootargs "${abide_cmdline_a} abide.slot=a"
		if test "x${abide_fail_b}" = "x1"; then
			setenv bootargs "${bootargs} abide.unloadable=b"
		fi
		# The partition this script runs from, for abide-init and abidectl to look on its disk only.
		if part uuid ${devtype} ${devnum}:${distro_bootpart} abide_esp; then
			setenv bootargs "${bootargs} abide.esp=${abide_esp}"
		fi
		setenv abide_esp
		echo "abide: slot a (BOOT_A_LEFT=${BOOT_A_LEFT})"
		if test "x${abide_save}" = "x1"; then
			abide_save=0
			saveenv
		fi
		# booti returns only when it refuses the kernel: passed over as well.
		load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} /abide/a/vmlinuz && load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} /abide/a/initrd && booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
		echo "abide: slot a cannot be loaded from ${devtype} ${devnum}:${distro_bootpart}; passing it over"
		abide_fail_a=1
	elif test "x${abide_slot}" = "xb"; then
		setenv bootargs "${abide_cmdline_b} abide.slot=b"
		if test "x${abide_fail_a}" = "x1"; then
			setenv bootargs "${bootargs} abide.unloadable=a"
		fi
		# The partition this script runs from, for abide-init and abidectl to look on its disk only.
		if part uuid ${devtype} ${devnum}:${distro_bootpart} abide_esp; then
			setenv bootargs "${bootargs} abide.esp=${abide_esp}"
		fi
		setenv abide_esp
		echo "abide: slot b (BOOT_B_LEFT=${BOOT_B_LEFT})"
		if test "x${abide_save}" = "x1"; then
			abide_save=0
			saveenv
		fi
		# booti returns only when it refuses the kernel: passed over as well.
		load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} /abide/b/vmlinuz && load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} /abide/b/initrd && booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
		echo "abide: slot b cannot be loaded from ${devtype} ${devnum}:${distro_bootpart}; passing it over"
		abide_fail_b=1
	fi
done

# No slot could be loaded: nothing was saved for it, so a reset tries again from the start.
echo "abide: no slot can be loaded; resetting"
reset
