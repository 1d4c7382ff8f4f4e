/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Writes dir/ca.pem, dir/ca.key, dir/signing.key, dir/signing.crt: a demo CA
 * (self-signed, 10 years) and a code-signing key under it. Creates dir when
 * missing; refuses to overwrite existing key files. */
int keygen_demo(const char *dir);
