/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "uki-osrel.h"

#include <fcntl.h>
#include <stdint.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"

#define HEADERS_MAX (64U * 1024)
#define OSREL_MAX (16U * 1024)
#define SECTION_HEADER_SIZE 40U

static uint16_t le16(const uint8_t *p) {
        return (uint16_t) (p[0] | p[1] << 8);
}

static uint32_t le32(const uint8_t *p) {
        return (uint32_t) p[0] | (uint32_t) p[1] << 8 | (uint32_t) p[2] << 16 | (uint32_t) p[3] << 24;
}


int uki_osrel_version(const char *text, size_t len, char **ret) {
        static const char *const keys[] = { "IMAGE_VERSION", "VERSION", "VERSION_ID", "BUILD_ID" };
        for (size_t k = 0; k < ELEMENTSOF(keys); k++)
                for (size_t i = 0; i < len;) {
                        const char *line = text + i, *end = memchr(line, '\n', len - i);
                        size_t n = end ? (size_t) (end - line) : len - i, kl = strlen(keys[k]);
                        i += n + 1;
                        if (n <= kl + 1 || strncmp(line, keys[k], kl) != 0 || line[kl] != '=')
                                continue;
                        const char *v = line + kl + 1;
                        size_t vl = n - kl - 1;
                        if (vl >= 2 && (v[0] == '"' || v[0] == '\'') && v[vl - 1] == v[0]) {
                                v++;
                                vl -= 2;
                        }
                        if (vl == 0 || memchr(v, 0, vl))
                                continue;
                        return (*ret = strndup(v, vl)) ? 0 : -ENOMEM;
                }
        return -ENOENT;
}

int uki_read_version(const char *path, char **ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        _cleanup_free_ uint8_t *h = NULL;
        _cleanup_free_ char *osrel = NULL;
        size_t got;
        int r;

        if (fd < 0)
                return err_set(errno, "%s: %m", path);
        h = malloc(HEADERS_MAX);
        if (!h)
                return -ENOMEM;
        ssize_t k = pread_full(fd, h, HEADERS_MAX, 0);
        if (k < 0)
                return err_set((int) k, "%s: %s", path, strerror((int) -k));
        got = (size_t) k;
        if (got < 0x40 || h[0] != 'M' || h[1] != 'Z')
                return err_set(EBADMSG, "%s: not a PE image", path);
        uint32_t pe = le32(h + 0x3c);
        if (pe > got || got - pe < 24 || memcmp(h + pe, "PE\0\0", 4) != 0)
                return err_set(EBADMSG, "%s: not a PE image", path);
        uint16_t n_sections = le16(h + pe + 6), opt_size = le16(h + pe + 20);
        uint64_t table = (uint64_t) pe + 24 + opt_size;
        if (table + (uint64_t) n_sections * SECTION_HEADER_SIZE > got)
                return err_set(EBADMSG, "%s: PE section table beyond the headers read", path);
        for (unsigned i = 0; i < n_sections; i++) {
                const uint8_t *s = h + table + (uint64_t) i * SECTION_HEADER_SIZE;
                if (memcmp(s, ".osrel\0\0", 8) != 0)
                        continue;
                uint32_t vsize = le32(s + 8), raw_size = le32(s + 16), raw_off = le32(s + 20);
                uint32_t size = vsize && vsize < raw_size ? vsize : raw_size;
                if (size > OSREL_MAX)
                        return err_set(EBADMSG, "%s: .osrel of %u bytes", path, size);
                osrel = malloc(size + 1);
                if (!osrel)
                        return -ENOMEM;
                k = pread_full(fd, osrel, size, raw_off);
                if (k < 0)
                        return err_set((int) k, "%s: %s", path, strerror((int) -k));
                if ((size_t) k != size)
                        return err_set(EBADMSG, "%s: .osrel beyond the end of the file", path);
                r = uki_osrel_version(osrel, size, ret);
                return r == -ENOENT ? err_set(ENOENT, "%s: no version in .osrel", path) : r;
        }
        return err_set(ENOENT, "%s: no .osrel section", path);
}
