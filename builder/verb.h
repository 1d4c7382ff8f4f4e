/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

int verb_build(int argc, char *argv[]);
int verb_inspect(int argc, char *argv[]);
int verb_keygen(int argc, char *argv[]);
int verb_disk(int argc, char *argv[]);
int verb_channel(int argc, char *argv[]);
/* `abide-build channel watch ...` (builder/verb-channel-watch.c, docs/report.md):
 * verb_channel() in builder/verb-channel.c hands its argv over unchanged
 * when argv[1] is "watch", so argv[0] is "channel" and argv[1] "watch". */
int verb_channel_watch(int argc, char *argv[]);
