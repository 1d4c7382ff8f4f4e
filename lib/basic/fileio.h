/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include <stdbool.h>
#include <stdint.h>
#include <sys/types.h>

#include "macro.h"

/* Reads the whole file (at most max bytes, else -EFBIG) into a NUL-terminated buffer. */
int read_full_file(const char *path, size_t max, char **ret, size_t *ret_size);
int read_full_fd(int fd, size_t max, char **ret, size_t *ret_size);

/* Reads until n bytes or EOF; returns the count read (short only at EOF). */
ssize_t loop_read(int fd, void *buf, size_t n);
/* pread() until n bytes or the end of the file: the count read, or -errno. */
ssize_t pread_full(int fd, void *buf, size_t n, uint64_t offset);
/* pread_full() of exactly n bytes: 0, -EIO where the file ends first, or -errno. */
int pread_exact(int fd, void *buf, size_t n, uint64_t offset);
int loop_write(int fd, const void *buf, size_t n);

/*
 * The size of the data behind fd: a regular file's length or a block
 * device's (BLKGETSIZE64). 0, -ENOTBLK for anything else (a directory, a
 * character device, a pipe), or the errno of fstat() or the ioctl.
 */
int fd_data_size(int fd, uint64_t *ret);

/* mkdir -p: dir and each missing parent, with mode. 0, or -errno recorded ("cannot create DIR: ..."). */
int mkdir_p(const char *dir, mode_t mode);
/* mkdir_p() of the directory holding path ("a/b/c" makes "a/b"; a bare name makes nothing). */
int mkdir_parents_of(const char *path, mode_t mode);

/*
 * An exclusive flock() on the file path (made 0644 when missing, with its
 * directory; never through a symlink), the fd in *ret_fd. Waits for another
 * holder when wait; else -EWOULDBLOCK, with no message recorded, for the
 * caller to say who holds it. Other errors recorded naming path.
 */
int lock_file(const char *path, bool wait, int *ret_fd);

int fsync_directory_of(const char *path);
/*
 * rename(from, to) made durable: the file, now named to, synced, then its
 * directory. On FAT the file's own sync matters: Linux's vfat rename writes
 * the new name's directory entry with no first cluster and size (they follow
 * with the file's inode), so with only the directory synced, a power cut
 * leaves to empty on disk until the file system is synced. 0 or -errno.
 */
int rename_durable(const char *from, const char *to);

/*
 * A file written under a temporary name in the target's directory and
 * renamed over the target only by atomic_file_commit(); freeing an
 * uncommitted AtomicFile unlinks the temporary, so an error leaves nothing.
 */
typedef struct AtomicFile {
        int fd;
        char *path;
        char *tmp_path;
} AtomicFile;

int atomic_file_open(const char *path, mode_t mode, AtomicFile **ret);
/* fsync, rename over the target, fsync the directory. Closes the fd. */
int atomic_file_commit(AtomicFile *f);
/* The same, but -EEXIST (the temporary kept, for atomic_file_free()) when the target exists by then. */
int atomic_file_commit_new(AtomicFile *f);
AtomicFile *atomic_file_free(AtomicFile *f);
DEFINE_TRIVIAL_CLEANUP_FUNC(AtomicFile *, atomic_file_free);

int write_file_atomic(const char *path, const void *data, size_t len, mode_t mode);

/* Lowercase hex of n bytes into out (2n+1 bytes). */
void hex_encode(const uint8_t *data, size_t n, char *out);
/* Decodes exactly len hex digits; -EINVAL on odd length or a non-hex digit. */
int hex_decode(const char *s, size_t len, uint8_t **ret, size_t *ret_size);
