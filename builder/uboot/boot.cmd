# abide boot script for U-Boot (docs/uboot.md). Compiled by builder/uboot/mkbootscr.sh:
#   mkimage -A arm64 -T script -C none -d boot.cmd boot.scr
# The same choice as lib/boot/uboot-state.c (uboot_state_boot), variables as RAUC names them:
#   BOOT_ORDER "A B"       slots with an entry, first preferred
#   BOOT_A_LEFT, BOOT_B_LEFT  unset: good, not counted; N > 0: on trial; 0: bad, skipped
#   abide_once             A or B: boot it this once (abidectl switch --once); cleared here
#   abide_good             the slot last marked good: the fallback when no listed slot can boot
#   abide_cmdline_a/_b     the slot's kernel options (abidectl install writes them)
# Kernel and initrd: /abide/<slot>/vmlinuz and /abide/<slot>/initrd on the partition this
# script was loaded from (${devtype} ${devnum}:${distro_bootpart}, set by distro/standard boot).

setenv abide_slot
setenv abide_save
setenv abide_fb
setenv abide_order "${BOOT_ORDER}"

# A one-time choice counts only for a listed slot; it is spent either way.
if test -n "${abide_once}"; then
	for BOOT_SLOT in ${BOOT_ORDER}; do
		if test "x${BOOT_SLOT}" = "x${abide_once}"; then
			setenv abide_order "${abide_once} ${BOOT_ORDER}"
		fi
	done
	setenv abide_once
	setenv abide_save 1
fi

# The first slot in order that is good (no counter) or has tries left; a try is counted now,
# before the kernel starts, so a crash or a hang anywhere later has used it.
for BOOT_SLOT in ${abide_order}; do
	if test -n "${abide_slot}"; then
		true
	elif test "x${BOOT_SLOT}" = "xA"; then
		if test -z "${BOOT_A_LEFT}"; then
			setenv abide_slot a
		elif test ${BOOT_A_LEFT} -gt 0; then
			setexpr BOOT_A_LEFT ${BOOT_A_LEFT} - 1
			setenv abide_slot a
			setenv abide_save 1
		fi
	elif test "x${BOOT_SLOT}" = "xB"; then
		if test -z "${BOOT_B_LEFT}"; then
			setenv abide_slot b
		elif test ${BOOT_B_LEFT} -gt 0; then
			setexpr BOOT_B_LEFT ${BOOT_B_LEFT} - 1
			setenv abide_slot b
			setenv abide_save 1
		fi
	fi
done

# No listed slot can boot: the last good slot, else the first listed, else the factory slot A;
# not counted (nothing is left to fall back to).
if test -z "${abide_slot}"; then
	if test "x${abide_good}" = "xA" || test "x${abide_good}" = "xB"; then
		setenv abide_fb ${abide_good}
	fi
	for BOOT_SLOT in ${BOOT_ORDER}; do
		if test -z "${abide_fb}"; then
			if test "x${BOOT_SLOT}" = "xA" || test "x${BOOT_SLOT}" = "xB"; then
				setenv abide_fb ${BOOT_SLOT}
			fi
		fi
	done
	if test "x${abide_fb}" = "xB"; then
		setenv abide_slot b
	else
		setenv abide_slot a
	fi
	echo "abide: no slot in BOOT_ORDER (${BOOT_ORDER}) has tries left; falling back to slot ${abide_slot}"
fi

# Scratch variables must not reach the saved environment, abide_slot included: each branch
# names its slot's files itself.
setenv abide_order
setenv abide_fb
setenv BOOT_SLOT
if test "x${abide_slot}" = "xa"; then
	setenv abide_slot
	setenv bootargs "${abide_cmdline_a} abide.slot=a"
	echo "abide: slot a (BOOT_A_LEFT=${BOOT_A_LEFT})"
	if test -n "${abide_save}"; then
		setenv abide_save
		saveenv
	fi
	# A slot whose files cannot be loaded has spent its try: reset, the count goes on.
	load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} /abide/a/vmlinuz || reset
	load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} /abide/a/initrd || reset
else
	setenv abide_slot
	setenv bootargs "${abide_cmdline_b} abide.slot=b"
	echo "abide: slot b (BOOT_B_LEFT=${BOOT_B_LEFT})"
	if test -n "${abide_save}"; then
		setenv abide_save
		saveenv
	fi
	load ${devtype} ${devnum}:${distro_bootpart} ${kernel_addr_r} /abide/b/vmlinuz || reset
	load ${devtype} ${devnum}:${distro_bootpart} ${ramdisk_addr_r} /abide/b/initrd || reset
fi
booti ${kernel_addr_r} ${ramdisk_addr_r}:${filesize} ${fdtcontroladdr}
reset
