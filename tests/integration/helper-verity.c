/* SPDX-License-Identifier: LGPL-2.1-or-later */
/*
 * helper-verity format IMAGE HASHFILE [--salt HEX] [--uuid UUID]
 *     prints "root_hash salt uuid data_blocks"
 * helper-verity verify IMAGE HASHFILE ROOTHASH [--salt HEX] [--uuid UUID] [--data-blocks N]
 * helper-verity format-derived IMAGE HASHFILE [--salt HEX]
 *     abide-build's one pass (verity_format_derive_uuid(): the leaves through
 *     crypto/sha256-many, the UUID from the image's SHA-256); prints
 *     "root_hash salt uuid data_blocks one-pass|libcryptsetup"
 *
 * Salt and UUID default to the ones derived from the image's SHA-256,
 * data blocks to the image size in blocks.
 */
#include <getopt.h>
#include <inttypes.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "crypto/hash.h"
#include "verity/verity.h"

static _noreturn_ void usage(void) {
        fprintf(stderr, "usage: helper-verity format IMAGE HASHFILE [--salt HEX] [--uuid UUID]\n"
                        "       helper-verity verify IMAGE HASHFILE ROOTHASH [--salt HEX] [--uuid UUID] [--data-blocks N]\n"
                        "       helper-verity format-derived IMAGE HASHFILE [--salt HEX]\n");
        exit(2);
}

static _noreturn_ void fail(int r) {
        fprintf(stderr, "helper-verity: %s\n", err_message(r));
        exit(1);
}

int main(int argc, char **argv) {
        static const struct option options[] = {
                { "salt", required_argument, NULL, 's' },
                { "uuid", required_argument, NULL, 'u' },
                { "data-blocks", required_argument, NULL, 'b' },
                {}
        };
        const char *salt = NULL, *uuid = NULL, *blocks = NULL;
        uint8_t digest[SHA256_DIGEST_SIZE];
        VerityParams p;
        int c, r;

        while ((c = getopt_long(argc, argv, "", options, NULL)) >= 0)
                switch (c) {
                case 's':
                        salt = optarg;
                        break;
                case 'u':
                        uuid = optarg;
                        break;
                case 'b':
                        blocks = optarg;
                        break;
                default:
                        usage();
                }
        argv += optind;
        argc -= optind;
        if (argc < 3)
                usage();
        bool derived = streq(argv[0], "format-derived");
        bool format = derived || streq(argv[0], "format");
        if ((format && (argc != 3 || blocks || (derived && uuid))) || (!format && (!streq(argv[0], "verify") || argc != 4)))
                usage();
        const char *image = argv[1], *hash = argv[2];

        /* Derivation only when something is left to derive: a missing image
         * must reach verity_format()'s own error. */
        memset(digest, 0, sizeof digest);
        if (!derived && (!salt || !uuid)) {
                r = sha256_file(image, digest, NULL);
                if (r < 0)
                        fail(r);
        }
        verity_params_derive(digest, &p);

        if (salt) {
                _cleanup_free_ uint8_t *s = NULL;
                size_t n;
                r = hex_decode(salt, strlen(salt), &s, &n);
                if (r < 0 || n > VERITY_SALT_SIZE)
                        fail(err_set(EINVAL, "bad salt '%s'", salt));
                memcpy(p.salt, s, n);
                p.salt_size = n;
        }
        if (uuid) {
                if (strlen(uuid) >= sizeof p.uuid)
                        fail(err_set(EINVAL, "bad uuid '%s'", uuid));
                strcpy(p.uuid, uuid);
        }

        if (format) {
                r = derived ? verity_format_derive_uuid(image, hash, &p, digest) : verity_format(image, hash, &p);
                if (r < 0)
                        fail(r);
                char salt_hex[VERITY_SALT_SIZE * 2 + 1];
                hex_encode(p.salt, p.salt_size, salt_hex);
                printf("%s %s %s %" PRIu64 "%s\n", p.root_hash, salt_hex, p.uuid, p.data_blocks,
                       !derived ? "" : r == 1 ? " one-pass" : " libcryptsetup");
                return 0;
        }

        if (strlen(argv[3]) >= sizeof p.root_hash)
                fail(err_set(EINVAL, "bad root hash '%s'", argv[3]));
        strcpy(p.root_hash, argv[3]);
        if (blocks)
                p.data_blocks = strtoull(blocks, NULL, 10);
        else {
                struct stat st;
                if (stat(image, &st) < 0)
                        fail(err_set(errno, "cannot stat %s: %m", image));
                p.data_blocks = (uint64_t) st.st_size / p.data_block_size;
        }
        r = verity_verify(image, hash, &p);
        if (r < 0)
                fail(r);
        printf("ok\n");
        return 0;
}
