/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/*
 * Keeps an interrupted build from leaving its work directory behind (a whole
 * staged tree and a partial image, in the output directory). Forks: the child
 * returns 0 and does the build in a process group of its own; the parent never
 * returns. It waits, exits as the child exited, and on SIGINT, SIGTERM or
 * SIGHUP kills the child's group, removes workdir and dies of that signal.
 * A signal handler cannot remove a tree safely; a parent that only waits can.
 * A SIGKILL of the parent (and of the caller's group) is caught by a watcher
 * process in a group of its own, which then does the same. Returns < 0 when
 * it cannot fork.
 */
int build_guard(const char *workdir);
