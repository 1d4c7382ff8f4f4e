/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

/* Writes dir/ca.pem, dir/ca.key, dir/signing.key, dir/signing.crt (keys 0600,
 * unencrypted): a demo CA (RSA-3072, self-signed, 10 years) and a signing key
 * under it (RSA-3072, 5 years, codeSigning + emailProtection, so that
 * `openssl cms -verify` accepts its signatures too). Creates dir when
 * missing. Fails with -EEXIST, writing nothing, when any of the four files
 * exists; on any other failure nothing is left behind either. */
int keygen_demo(const char *dir);
