/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>

#include "basic/macro.h"

/*
 * The ESP is shared boot storage: abide-init mounts it read-only, and it is
 * writable only while abidectl writes to it (DESIGN.md "Trust model",
 * docs/boot.md "The ESP"). Every writer brackets its writes with
 * esp_writable_begin()/esp_writable_end():
 *
 *   - the first begin() of this process takes an exclusive flock on the
 *     ESP directory (other abidectl processes wait, bounded), and when the
 *     ESP is a read-only mount point remounts it read-write;
 *   - nested begin()s only count;
 *   - the last end() syncs the file system (FAT: syncfs writes the FAT
 *     and directory blocks) and, when begin() made it writable, remounts
 *     it read-only again (which also clears FAT's dirty bit), then drops
 *     the lock. It fails when the sync does (the writes may not be on the
 *     disk) or the kernel forced the file system read-only; a remount that
 *     fails only leaves it writable until the next scope.
 *
 * An ESP that is not a mount point (a plain directory, as the tests'
 * [Paths] ESP= is) or that someone else mounted read-write is left as it
 * is: only the lock and the sync apply. An ESP left writable by a killed
 * abidectl (marked in ESP_RUN_DIR) is made read-only by the next scope.
 */
typedef struct EspMount {
        char *path;          /* the ESP directory */
        unsigned n_writers;  /* nested begin()s in this process */
        int lock_fd;         /* the ESP directory, flock()ed while n_writers > 0 */
        bool remounted;      /* begin() made it writable: the last end() makes it read-only again */
} EspMount;

/* Where begin() marks an ESP it made writable (tmpfs: a reboot forgets it). */
#define ESP_RUN_DIR "/run/abide"

/* How long begin() waits for another process's writes to the ESP. */
#define ESP_LOCK_TIMEOUT_SEC 60

int esp_mount_init(EspMount *m, const char *path);
/* Ends an open write scope (as the last end() would) and frees. */
void esp_mount_done(EspMount *m);

/*
 * Opens a write scope; *ret_scope = m on success, for the cleanup helper.
 * Errors name the ESP: a remount that fails (EROFS: the kernel found
 * errors in the FAT and forced it read-only; abide-init checks and repairs
 * it with fsck.fat on the next boot), or another writer past the timeout.
 */
int esp_writable_begin(EspMount *m, EspMount **ret_scope);
/*
 * Closes a scope. Fails, with a message naming the ESP, when the sync
 * fails (what was written may not be on the disk) or the kernel forced it
 * read-only inside the scope (FAT errors=remount-ro): a writer must then
 * fail. Not being made read-only again is no error: it stays writable until
 * the next scope or boot. On a cleanup path (cleanup: true, as the helper
 * below) a failed sync records no message, so the error being returned
 * keeps its own.
 */
int esp_writable_end_full(EspMount *m, bool cleanup);
static inline int esp_writable_end(EspMount *m) {
        return esp_writable_end_full(m, false);
}

static inline void esp_writable_endp(EspMount **m) {
        if (*m)
                (void) esp_writable_end_full(*m, true);
}

/* Whether path is the root of a mount (its parent is on another file system). */
int esp_is_mount_point(const char *path);
