/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

int verb_build(int argc, char *argv[]);
int verb_inspect(int argc, char *argv[]);
int verb_keygen(int argc, char *argv[]);
int verb_disk(int argc, char *argv[]);
