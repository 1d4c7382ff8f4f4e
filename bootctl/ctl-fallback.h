/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "ctl.h"

/*
 * On a Secure Boot device ([Paths] SecureBootCert= exists, systemd-boot):
 * makes sure the firmware's fallback boot options to the good slots' UKIs
 * exist and follow the option that runs systemd-boot (lib/boot/efi-bootopt.h,
 * docs/secure-boot.md). Once per boot, from boot-check. Failing costs only
 * the fallback: a warning, never an error.
 */
void ctl_fallback_options(Ctl *ctl);
