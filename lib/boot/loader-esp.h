/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * The ESP this boot's loader started from, as its PARTUUID reads now.
 * systemd-boot says it in LoaderDevicePartUUID, a volatile variable the
 * running system cannot change. A factory disk's first boot gives the ESP a
 * new UUID after the loader ran (docs/boot.md, "A device's own UUIDs");
 * abide-init then leaves the new one in LOADER_ESP_NOTE (/run, gone at the
 * next boot, where the loader says the new one itself), and this reads it
 * first. The note stands in for the system's variables only: with another
 * efivars directory (tests) the variable alone is read.
 */
#define LOADER_ESP_NOTE "/run/abide/loader-esp-partuuid"

/* Lowercase; -ENOENT when neither says; -EOPNOTSUPP without EFI variables. */
int loader_esp_uuid(const char *efivars_dir, char **ret);
/* The same with the note's path given (NULL: none), for tests. An empty note counts as absent. */
int loader_esp_uuid_from(const char *note, const char *efivars_dir, char **ret);
