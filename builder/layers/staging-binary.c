/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <elf.h>
#include <fcntl.h>
#include <limits.h>
#include <sys/stat.h>

#include "basic/arch.h"
#include "basic/error.h"
#include "basic/fileio.h"
#include "basic/process.h"
#include "elf-deps.h"
#include "layers.h"
#include "staging-path.h"

#define COPY_MAX_DEPTH 32
#define LDD_OUTPUT_MAX (1024 * 1024)

/* Lexically drops ".", "" and "name/.." from an absolute path, in place. */
static void path_simplify(char *path) {
        char *out = path + 1;
        const char *p = path + 1;

        while (*p) {
                const char *e = strchrnul(p, '/');
                size_t n = e - p;
                if (n == 2 && p[0] == '.' && p[1] == '.') {
                        while (out > path + 1 && *--out != '/')
                                ;
                        if (out > path + 1)
                                *out = 0;
                } else if (n > 0 && !(n == 1 && p[0] == '.')) {
                        if (out > path + 1)
                                *out++ = '/';
                        memmove(out, p, n);
                        out += n;
                }
                p = *e ? e + 1 : e;
        }
        *out = 0;
}

static char *parent_of(const char *path) {
        const char *slash = strrchr(path, '/');
        if (!slash || slash == path)
                return strdup("/");
        return strndup(path, slash - path);
}

/* A symlink target, as an absolute host path. */
static char *link_target_abs(const char *link, const char *target) {
        _cleanup_free_ char *dir = NULL;
        char *s;

        if (target[0] == '/')
                s = strdup(target);
        else if (!(dir = parent_of(link)) || asprintf(&s, "%s/%s", dir, target) < 0)
                s = NULL;
        if (s)
                path_simplify(s);
        return s;
}

/* An absolute symlink in a directory position would be refused by
 * staging-path (and point at the build machine while building), so such a
 * link is recreated relative: /lib64 -> /usr/lib64 becomes lib64 -> usr/lib64. */
static char *relative_target(const char *rel_place, const char *abs_target) {
        size_t up = 0;
        for (const char *p = rel_place; *p; p++)
                up += *p == '/';
        size_t len = up * 3 + strlen(abs_target);
        char *s = malloc(len + 2);
        if (!s)
                return NULL;
        char *o = s;
        for (size_t i = 0; i < up; i++)
                o = stpcpy(o, "../");
        strcpy(o, abs_target[1] ? abs_target + 1 : ".");
        return s;
}

static int host_dir_ensure(int root_fd, const char *hostdir, unsigned depth) {
        _cleanup_free_ char *resolved = NULL, *place = NULL, *parent = NULL;
        struct stat st;
        int r;

        if (depth > COPY_MAX_DEPTH)
                return err_set(ELOOP, "'%s': too many levels of symlinks", hostdir);
        if (streq(hostdir, "/"))
                return 0;

        r = staging_path_resolve(root_fd, hostdir + 1, true, &resolved);
        if (r < 0)
                return err_prefix(r, "'%s' in the image", hostdir);
        if (fstatat(root_fd, resolved, &st, AT_SYMLINK_NOFOLLOW) >= 0) {
                if (!S_ISDIR(st.st_mode))
                        return err_set(ENOTDIR, "'%s' in the image is not a directory", hostdir);
                return 0;
        }

        parent = parent_of(hostdir);
        if (!parent)
                return err_set(ENOMEM, "out of memory");
        r = host_dir_ensure(root_fd, parent, depth + 1);
        if (r < 0)
                return r;
        if (lstat(hostdir, &st) < 0)
                return err_set(errno, "'%s': %m", hostdir);
        r = staging_path_resolve(root_fd, hostdir + 1, false, &place);
        if (r < 0)
                return err_prefix(r, "'%s' in the image", hostdir);

        if (S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlink(hostdir, target, sizeof target - 1);
                if (n < 0)
                        return err_set(errno, "readlink %s: %m", hostdir);
                target[n] = 0;
                _cleanup_free_ char *abs = link_target_abs(hostdir, target);
                _cleanup_free_ char *rel = target[0] == '/' ? relative_target(place, target) : strdup(target);
                if (!abs || !rel)
                        return err_set(ENOMEM, "out of memory");
                if (symlinkat(rel, root_fd, place) < 0)
                        return err_set(errno, "cannot create symlink '%s' in the image: %m", hostdir);
                return host_dir_ensure(root_fd, abs, depth + 1);
        }
        if (!S_ISDIR(st.st_mode))
                return err_set(ENOTDIR, "'%s' is not a directory", hostdir);
        if (mkdirat(root_fd, place, st.st_mode & 07777) < 0 ||
            fchownat(root_fd, place, st.st_uid, st.st_gid, AT_SYMLINK_NOFOLLOW) < 0 ||
            fchmodat(root_fd, place, st.st_mode & 07777, 0) < 0)
                return err_set(errno, "cannot create '%s' in the image: %m", hostdir);
        return 0;
}

static int remove_existing(int root_fd, const char *place) {
        struct stat st;
        if (fstatat(root_fd, place, &st, AT_SYMLINK_NOFOLLOW) < 0)
                return errno == ENOENT ? 0 : err_set(errno, "'%s': %m", place);
        if (S_ISDIR(st.st_mode))
                return err_set(EISDIR, "'/%s' is a directory in the image", place);
        if (unlinkat(root_fd, place, 0) < 0)
                return err_set(errno, "cannot replace '/%s': %m", place);
        return 0;
}

static int copy_regular(int root_fd, const char *src, const char *place) {
        _cleanup_close_ int in = -EBADF, out = -EBADF;
        struct stat st;
        char buf[64 * 1024];

        in = open(src, O_RDONLY | O_CLOEXEC);
        if (in < 0 || fstat(in, &st) < 0)
                return err_set(errno, "%s: %m", src);
        if (!S_ISREG(st.st_mode))
                return err_set(EINVAL, "%s is not a regular file", src);
        int r = remove_existing(root_fd, place);
        if (r < 0)
                return r;
        out = openat(root_fd, place, O_WRONLY | O_CREAT | O_EXCL | O_NOFOLLOW | O_CLOEXEC, 0600);
        if (out < 0)
                return err_set(errno, "cannot create '/%s' in the image: %m", place);
        for (;;) {
                ssize_t n = read(in, buf, sizeof buf);
                if (n < 0)
                        return err_set(errno, "%s: %m", src);
                if (n == 0)
                        break;
                r = loop_write(out, buf, n);
                if (r < 0)
                        return err_set(r, "'/%s' in the image: %s", place, strerror(-r));
        }
        /* chown first: it clears set-id bits that fchmod then restores. */
        struct timespec ts[2] = { st.st_atim, st.st_mtim };
        if (fchown(out, st.st_uid, st.st_gid) < 0 || fchmod(out, st.st_mode & 07777) < 0 || futimens(out, ts) < 0)
                return err_set(errno, "'/%s' in the image: %m", place);
        return 0;
}

/* Copies host path src to dest (both absolute); when they are the same path
 * a symlink is recreated as such and its target copied in turn. */
static int copy_path(int root_fd, const char *src, const char *dest, unsigned depth) {
        _cleanup_free_ char *dir = parent_of(dest), *place = NULL;
        struct stat st;
        int r;

        if (!dir)
                return err_set(ENOMEM, "out of memory");
        if (depth > COPY_MAX_DEPTH)
                return err_set(ELOOP, "'%s': too many levels of symlinks", src);

        bool same = streq(src, dest);
        if (same)
                r = host_dir_ensure(root_fd, dir, 0);
        else {
                _cleanup_free_ char *resolved = NULL;
                r = staging_path_resolve(root_fd, dir + 1, true, &resolved);
                if (r >= 0)
                        r = staging_path_mkdir_p(root_fd, resolved);
        }
        if (r < 0)
                return r;
        r = staging_path_resolve(root_fd, dest + 1, false, &place);
        if (r < 0)
                return err_prefix(r, "'%s' in the image", dest);

        if (lstat(src, &st) < 0)
                return err_set(errno, "%s: %m", src);
        if (same && S_ISLNK(st.st_mode)) {
                char target[PATH_MAX];
                ssize_t n = readlink(src, target, sizeof target - 1);
                if (n < 0)
                        return err_set(errno, "readlink %s: %m", src);
                target[n] = 0;
                r = remove_existing(root_fd, place);
                if (r < 0)
                        return r;
                if (symlinkat(target, root_fd, place) < 0)
                        return err_set(errno, "cannot create symlink '%s' in the image: %m", dest);
                _cleanup_free_ char *next = link_target_abs(src, target);
                if (!next)
                        return err_set(ENOMEM, "out of memory");
                return copy_path(root_fd, next, next, depth + 1);
        }
        return copy_regular(root_fd, src, place);
}

/* Whether the ELF program asks for a dynamic loader (PT_INTERP). */
static int elf_is_dynamic(const char *path, bool *ret) {
        _cleanup_close_ int fd = open(path, O_RDONLY | O_CLOEXEC);
        Elf64_Ehdr eh;

        if (fd < 0)
                return err_set(errno, "%s: %m", path);
        if (loop_read(fd, &eh, sizeof eh) != (ssize_t) sizeof eh || memcmp(eh.e_ident, ELFMAG, SELFMAG) != 0)
                return err_set(ENOEXEC, "not an ELF program (a script needs its interpreter as another Binary=)");
        if (eh.e_ident[EI_CLASS] != ELFCLASS64 || eh.e_phentsize != sizeof(Elf64_Phdr))
                return err_set(ENOEXEC, "%s is not a 64-bit ELF program", path);
        for (unsigned i = 0; i < eh.e_phnum; i++) {
                Elf64_Phdr ph;
                if (pread(fd, &ph, sizeof ph, eh.e_phoff + (off_t) i * sizeof ph) != (ssize_t) sizeof ph)
                        return err_set(ENOEXEC, "%s: truncated ELF program headers", path);
                if (ph.p_type == PT_INTERP) {
                        *ret = true;
                        return 0;
                }
        }
        *ret = false;
        return 0;
}

/* Absolute paths of the shared objects ldd lists, the loader included. */
static int ldd_closure(const char *path, char ***ret, size_t *ret_n) {
        char tmp[] = "/tmp/abide-ldd.XXXXXX";
        _cleanup_free_ char *out = NULL;
        char **list = NULL;
        size_t n = 0, size;

        int fd = mkostemp(tmp, O_CLOEXEC);
        if (fd < 0)
                return err_set(errno, "cannot create a temporary file: %m");
        safe_close(fd);
        int r = process_run((char *const[]) { (char *) "ldd", (char *) path, NULL }, NULL, tmp);
        if (r >= 0)
                r = read_full_file(tmp, LDD_OUTPUT_MAX, &out, &size);
        (void) unlink(tmp);
        if (r < 0)
                return err_prefix(r, "%s: ldd", path);

        for (char *line = strtok(out, "\n"); line; line = strtok(NULL, "\n")) {
                line += strspn(line, " \t");
                char *arrow = strstr(line, " => ");
                char *lib = arrow ? arrow + 4 : line;
                if (arrow && strncmp(lib, "not found", 9) == 0) {
                        r = err_set(ENOENT, "%s: library %.*s not found", path, (int) (arrow - line), line);
                        break;
                }
                if (lib[0] != '/')
                        continue;       /* linux-vdso.so.1, "statically linked" */
                char *paren = strstr(lib, " (");
                if (paren)
                        *paren = 0;
                char **nl = reallocarray(list, n + 2, sizeof *nl);
                if (!nl || !(nl[n] = strdup(lib))) {
                        list = nl ?: list;
                        r = err_set(ENOMEM, "out of memory");
                        break;
                }
                list = nl;
                list[++n] = NULL;
        }
        if (r < 0) {
                for (size_t i = 0; i < n; i++)
                        free(list[i]);
                free(list);
                return r;
        }
        *ret = list;
        *ret_n = n;
        return 0;
}

/* ldd for the build machine's programs; for another architecture's (an arm64
 * abide-init on an x86-64 build machine), which ldd cannot run, the ELF
 * DT_NEEDED walk over that architecture's multiarch library directories. */
static int shared_closure(const char *path, char ***ret, size_t *ret_n) {
        uint16_t machine;
        int r = elf_machine(path, &machine);
        if (r < 0)
                return r;
        if (machine == arch_info(architecture_native())->elf_machine)
                return ldd_closure(path, ret, ret_n);
        for (Architecture a = 0; a < _ARCH_MAX; a++)
                if (arch_info(a)->elf_machine == machine)
                        return elf_needed_closure(path, arch_info(a)->lib_dirs, ret, ret_n);
        return err_set(ENOEXEC, "%s: ELF machine %u is no architecture abide builds for", path, machine);
}

int staging_copy_binary_to(const char *path, const char *dest, const char *staging_dir) {
        _cleanup_close_ int root_fd = -EBADF;
        char **libs = NULL;
        size_t n_libs = 0;
        bool dynamic = false;
        int r;

        if (path[0] != '/' || dest[0] != '/')
                return err_set(EINVAL, "binary %s: paths must be absolute", path);
        root_fd = open(staging_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return err_set(errno, "staging directory %s: %m", staging_dir);

        r = elf_is_dynamic(path, &dynamic);
        if (r < 0)
                return err_prefix(r, "binary %s", path);
        if (dynamic) {
                r = shared_closure(path, &libs, &n_libs);
                if (r < 0)
                        return err_prefix(r, "binary %s", path);
        }

        _cleanup_free_ char *src = strdup(path);
        _cleanup_free_ char *dst = strdup(dest);
        if (!src || !dst)
                r = err_set(ENOMEM, "out of memory");
        else {
                path_simplify(src);
                path_simplify(dst);
                r = copy_path(root_fd, src, dst, 0);
        }
        for (size_t i = 0; i < n_libs && r >= 0; i++)
                r = copy_path(root_fd, libs[i], libs[i], 0);
        for (size_t i = 0; i < n_libs; i++)
                free(libs[i]);
        free(libs);
        if (r < 0)
                return err_prefix(r, "binary %s", path);
        return 0;
}

int staging_copy_binary(const char *path, const char *staging_dir) {
        return staging_copy_binary_to(path, path, staging_dir);
}

int staging_copy_file_to(const char *path, const char *dest, const char *staging_dir) {
        _cleanup_close_ int root_fd = -EBADF;
        int r;

        if (path[0] != '/' || dest[0] != '/')
                return err_set(EINVAL, "file %s: paths must be absolute", path);
        root_fd = open(staging_dir, O_RDONLY | O_DIRECTORY | O_CLOEXEC);
        if (root_fd < 0)
                return err_set(errno, "staging directory %s: %m", staging_dir);
        _cleanup_free_ char *src = strdup(path);
        _cleanup_free_ char *dst = strdup(dest);
        if (!src || !dst)
                return err_set(ENOMEM, "out of memory");
        path_simplify(src);
        path_simplify(dst);
        r = copy_path(root_fd, src, dst, 0);
        if (r < 0)
                return err_prefix(r, "file %s", path);
        return 0;
}
