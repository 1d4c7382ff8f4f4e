/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "report/report-event.h"

/*
 * The spool ([Report] Spool=, docs/report.md): one file per event,
 * "<seq>-<event>.json", and "seq", the last sequence number given out,
 * which only grows. Every file is written to a temporary name, fsynced,
 * renamed and the directory fsynced, so after a power cut an event is
 * either spooled whole or not at all.
 */

/*
 * Spools e (machine_id and compatible set) under the next sequence number.
 * random is the id's random part. Creates the directory when missing.
 */
int report_spool_add(const char *dir, const ReportEvent *e, uint32_t random, uint64_t *ret_seq);

/* The spooled events in sequence order; a missing directory holds none. */
int report_spool_list(const char *dir, ReportSpoolEntry **ret, size_t *ret_n);

/*
 * The bytes of a spooled event. -EBADMSG when the entry cannot be one of
 * ours (not a regular file, a symlink, larger than REPORT_MAX_SIZE): the
 * sender sets it aside. -ENOENT when it is gone; anything else is an error
 * of the file system (-EIO, -ENOMEM, ...).
 */
int report_spool_read(const char *dir, const ReportSpoolEntry *e, char **ret, size_t *ret_len);
/* Unlinks a sent event and fsyncs the directory. */
int report_spool_remove(const char *dir, const ReportSpoolEntry *e);

/*
 * "last-error": why the last send stopped; NULL msg clears it. Only under
 * REPORT_SPOOL_LOCK_SEND, which also makes the temporaries of last-error a
 * power cut left (".#last-error.*") its to remove; an add removes the others.
 */
int report_spool_set_error(const char *dir, const char *msg);
/* *ret NULL when the last send emptied the spool (or none failed yet). */
int report_spool_last_error(const char *dir, char **ret);

/* Adding takes the first, sending the second: an emit never waits for a send. */
#define REPORT_SPOOL_LOCK_ADD ".lock"
#define REPORT_SPOOL_LOCK_SEND ".send-lock"

/* An exclusive lock (flock on "<dir>/<which>"); wait: block, else -EAGAIN when held. */
int report_spool_lock(const char *dir, const char *which, bool wait, int *ret_fd);
