/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "elf-deps.h"

#include <elf.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/macro.h"

#define ELF_DEPS_MAX 256
#define ELF_STR_MAX 4096

typedef struct ElfFile {
        int fd;
        Elf64_Ehdr eh;
        Elf64_Phdr *ph;
} ElfFile;

static void elf_file_done(ElfFile *f) {
        safe_close(f->fd);
        free(f->ph);
}

static int elf_open(const char *path, ElfFile *ret) {
        ElfFile f = { .fd = open(path, O_RDONLY | O_CLOEXEC) };

        if (f.fd < 0)
                return err_set(errno, "%s: %m", path);
        if (pread(f.fd, &f.eh, sizeof f.eh, 0) != (ssize_t) sizeof f.eh || memcmp(f.eh.e_ident, ELFMAG, SELFMAG) != 0 ||
            f.eh.e_ident[EI_CLASS] != ELFCLASS64 || f.eh.e_ident[EI_DATA] != ELFDATA2LSB ||
            f.eh.e_phentsize != sizeof(Elf64_Phdr) || f.eh.e_phnum == 0 || f.eh.e_phnum > 256) {
                safe_close(f.fd);
                return err_set(ENOEXEC, "%s: not a 64-bit little-endian ELF file", path);
        }
        size_t sz = (size_t) f.eh.e_phnum * sizeof(Elf64_Phdr);
        f.ph = malloc(sz);
        if (!f.ph || pread(f.fd, f.ph, sz, (off_t) f.eh.e_phoff) != (ssize_t) sz) {
                elf_file_done(&f);
                return err_set(ENOEXEC, "%s: truncated ELF program headers", path);
        }
        *ret = f;
        return 0;
}

/* A string at file offset off, NUL-terminated within ELF_STR_MAX. */
static int elf_string(const ElfFile *f, uint64_t off, char **ret) {
        char buf[ELF_STR_MAX];
        ssize_t n = pread(f->fd, buf, sizeof buf - 1, (off_t) off);
        if (n <= 0)
                return -ENOEXEC;
        buf[n] = 0;
        if (strlen(buf) == (size_t) n && n == (ssize_t) sizeof buf - 1)
                return -ENOEXEC;
        *ret = strdup(buf);
        return *ret ? 0 : -ENOMEM;
}

/* The file offset of virtual address vaddr (through the PT_LOAD segments). */
static int elf_vaddr_to_offset(const ElfFile *f, uint64_t vaddr, uint64_t *ret) {
        for (unsigned i = 0; i < f->eh.e_phnum; i++) {
                const Elf64_Phdr *p = &f->ph[i];
                if (p->p_type == PT_LOAD && vaddr >= p->p_vaddr && vaddr - p->p_vaddr < p->p_filesz) {
                        *ret = p->p_offset + (vaddr - p->p_vaddr);
                        return 0;
                }
        }
        return -ENOEXEC;
}

int elf_machine(const char *path, uint16_t *ret) {
        ElfFile f;
        int r = elf_open(path, &f);
        if (r < 0)
                return r;
        *ret = f.eh.e_machine;
        elf_file_done(&f);
        return 0;
}

typedef struct List {
        char **items;
        size_t n;
} List;

static bool list_has(const List *l, const char *s) {
        for (size_t i = 0; i < l->n; i++)
                if (streq(l->items[i], s))
                        return true;
        return false;
}

static int list_add(List *l, const char *s) {
        if (list_has(l, s))
                return 0;
        if (l->n >= ELF_DEPS_MAX)
                return err_set(E2BIG, "more than %d libraries", ELF_DEPS_MAX);
        char **n = reallocarray(l->items, l->n + 2, sizeof *n);
        if (!n)
                return -ENOMEM;
        l->items = n;
        if (!(n[l->n] = strdup(s)))
                return -ENOMEM;
        n[++l->n] = NULL;
        return 1;
}

static void list_done(List *l) {
        for (size_t i = 0; i < l->n; i++)
                free(l->items[i]);
        free(l->items);
}

static int find_lib(const char *name, const char *lib_dirs, char **ret) {
        _cleanup_free_ char *dirs = strdup(lib_dirs);
        char *save = NULL;

        if (!dirs)
                return -ENOMEM;
        for (char *d = strtok_r(dirs, ":", &save); d; d = strtok_r(NULL, ":", &save)) {
                char *p;
                if (asprintf(&p, "%s/%s", d, name) < 0)
                        return -ENOMEM;
                if (access(p, R_OK) == 0) {
                        *ret = p;
                        return 0;
                }
                free(p);
        }
        return err_set(ENOENT, "library %s not found in %s", name, lib_dirs);
}

/* Adds path's interpreter and DT_NEEDED libraries (as found) to out. */
static int elf_direct_deps(const char *path, const char *lib_dirs, List *out) {
        _cleanup_(elf_file_done) ElfFile f = { .fd = -EBADF };
        const Elf64_Phdr *dyn = NULL;
        int r;

        r = elf_open(path, &f);
        if (r < 0)
                return r;
        for (unsigned i = 0; i < f.eh.e_phnum; i++) {
                if (f.ph[i].p_type == PT_INTERP) {
                        _cleanup_free_ char *interp = NULL;
                        r = elf_string(&f, f.ph[i].p_offset, &interp);
                        if (r < 0)
                                return err_set(ENOEXEC, "%s: bad PT_INTERP", path);
                        r = list_add(out, interp);
                        if (r < 0)
                                return r;
                } else if (f.ph[i].p_type == PT_DYNAMIC)
                        dyn = &f.ph[i];
        }
        if (!dyn)
                return 0;

        size_t n = dyn->p_filesz / sizeof(Elf64_Dyn);
        if (n == 0 || n > 4096)
                return err_set(ENOEXEC, "%s: bad PT_DYNAMIC", path);
        _cleanup_free_ Elf64_Dyn *d = calloc(n, sizeof *d);
        if (!d)
                return -ENOMEM;
        if (pread(f.fd, d, n * sizeof *d, (off_t) dyn->p_offset) != (ssize_t) (n * sizeof *d))
                return err_set(ENOEXEC, "%s: truncated PT_DYNAMIC", path);

        uint64_t strtab = 0, stroff;
        for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++)
                if (d[i].d_tag == DT_STRTAB)
                        strtab = d[i].d_un.d_ptr;
        if (!strtab || elf_vaddr_to_offset(&f, strtab, &stroff) < 0)
                return err_set(ENOEXEC, "%s: no DT_STRTAB", path);
        for (size_t i = 0; i < n && d[i].d_tag != DT_NULL; i++) {
                _cleanup_free_ char *name = NULL, *lib = NULL;
                if (d[i].d_tag != DT_NEEDED)
                        continue;
                r = elf_string(&f, stroff + d[i].d_un.d_val, &name);
                if (r < 0)
                        return err_set(ENOEXEC, "%s: bad DT_NEEDED", path);
                if (strchr(name, '/'))
                        r = (lib = strdup(name)) ? 0 : -ENOMEM;
                else
                        r = find_lib(name, lib_dirs, &lib);
                if (r < 0)
                        return err_prefix(r, "%s", path);
                r = list_add(out, lib);
                if (r < 0)
                        return r;
        }
        return 0;
}

int elf_needed_closure(const char *path, const char *lib_dirs, char ***ret, size_t *ret_n) {
        List l = {};
        int r = elf_direct_deps(path, lib_dirs, &l);

        /* The list grows while walked: each library's own needs join at its end. */
        for (size_t i = 0; r >= 0 && i < l.n; i++)
                r = elf_direct_deps(l.items[i], lib_dirs, &l);
        if (r < 0) {
                list_done(&l);
                return r;
        }
        if (!l.items && !(l.items = calloc(1, sizeof *l.items)))
                return -ENOMEM;
        *ret = l.items;
        *ret_n = l.n;
        return 0;
}
