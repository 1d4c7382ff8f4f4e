/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * Reaches authenticode_verify_file() from test-authenticode.sh:
 *   helper-authenticode IMAGE DB.PEM     verify IMAGE against the certificates
 *                                        of DB.PEM; prints the signer's subject
 */
#include <stdio.h>

#include "basic/error.h"
#include "crypto/authenticode.h"

int main(int argc, char *argv[]) {
        _cleanup_free_ char *subject = NULL;
        int r;

        if (argc != 3) {
                fprintf(stderr, "Usage: helper-authenticode IMAGE DB.PEM\n");
                return 2;
        }
        r = authenticode_verify_file(argv[1], argv[2], &subject);
        if (r < 0) {
                fprintf(stderr, "helper-authenticode: %s\n", err_message(r));
                return 1;
        }
        printf("%s\n", subject);
        return 0;
}
