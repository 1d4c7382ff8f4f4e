/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include <json-c/json.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/fileio.h"
#include "crypto/hash.h"
#include "layer-internal.h"
#include "staging-path.h"

/* OCI image layout: index.json -> (nested index ->) manifest -> layer blobs,
 * all addressed by sha256 digest under blobs/sha256/ and checked on use. */

#define OCI_JSON_MAX (4 * 1024 * 1024)
#define OCI_INDEX_DEPTH 4
#define READ_BLOCK (64 * 1024)

static void json_object_putp(json_object **j) {
        if (*j)
                json_object_put(*j);
}

static const char *json_str(json_object *o, const char *key) {
        json_object *v;
        if (!json_object_object_get_ex(o, key, &v) || !json_object_is_type(v, json_type_string))
                return NULL;
        return json_object_get_string(v);
}

static int oci_parse_json(const char *label, const char *path, const char *what, json_object **ret) {
        _cleanup_free_ char *text = NULL;
        size_t size;

        int r = read_full_file(path, OCI_JSON_MAX, &text, &size);
        if (r < 0)
                return err_prefix(r, "layer %s: %s", label, what);
        json_object *j = json_tokener_parse(text);
        if (!j || !json_object_is_type(j, json_type_object)) {
                if (j)
                        json_object_put(j);
                return err_set(EBADMSG, "layer %s: %s is not a JSON object", label, what);
        }
        *ret = j;
        return 0;
}

/* Checks a descriptor's digest and size against its blob; returns the blob path. */
static int oci_blob(const char *label, const char *layout, json_object *desc, char **ret) {
        const char *digest = json_str(desc, "digest");
        json_object *jsize;
        uint8_t md[SHA256_DIGEST_SIZE];
        char hex[SHA256_HEX_SIZE];
        uint64_t size;
        char *path;

        if (!digest)
                return err_set(EBADMSG, "layer %s: descriptor without a digest", label);
        if (strncmp(digest, "sha256:", 7) != 0 || strlen(digest + 7) != 64 ||
            strspn(digest + 7, "0123456789abcdef") != 64)
                return err_set(EBADMSG, "layer %s: unsupported digest '%s' (expected sha256:<64 hex>)", label, digest);
        if (!json_object_object_get_ex(desc, "size", &jsize) || !json_object_is_type(jsize, json_type_int) ||
            json_object_get_int64(jsize) < 0)
                return err_set(EBADMSG, "layer %s: descriptor of %s without a valid size", label, digest);

        if (asprintf(&path, "%s/blobs/sha256/%s", layout, digest + 7) < 0)
                return err_set(ENOMEM, "out of memory");
        int r = sha256_file(path, md, &size);
        if (r < 0) {
                err_prefix(r, "layer %s: blob %s", label, digest);
                free(path);
                return r;
        }
        hex_encode(md, sizeof md, hex);
        if (!streq(hex, digest + 7) || size != (uint64_t) json_object_get_int64(jsize)) {
                free(path);
                return err_set(EBADMSG, "layer %s: blob %s does not match its digest or size (corrupted)", label,
                               digest);
        }
        *ret = path;
        return 0;
}

static bool media_is_index(const char *m) {
        return m && (streq(m, "application/vnd.oci.image.index.v1+json") ||
                     streq(m, "application/vnd.docker.distribution.manifest.list.v2+json"));
}

/* The image's architecture as OCI's platform spells it (Go's GOARCH), which is Debian's. */
static bool oci_platform_is(json_object *platform, const ArchInfo *arch) {
        return streq_ptr(json_str(platform, "os"), "linux") &&
               streq_ptr(json_str(platform, "architecture"), arch->deb_arch);
}

/* Picks the one manifest of an index; with several, the one for the image's
 * architecture. One that names another platform is refused, never taken. */
static int oci_pick(const char *label, json_object *index, const ArchInfo *arch, json_object **ret) {
        json_object *list, *found = NULL, *platform;
        size_t n_found = 0;

        if (!json_object_object_get_ex(index, "manifests", &list) || !json_object_is_type(list, json_type_array) ||
            json_object_array_length(list) == 0)
                return err_set(EBADMSG, "layer %s: index without manifests", label);
        size_t n = json_object_array_length(list);
        if (n == 1) {
                json_object *d = json_object_array_get_idx(list, 0);
                if (json_object_object_get_ex(d, "platform", &platform) && !oci_platform_is(platform, arch))
                        return err_set(EMEDIUMTYPE, "layer %s: the index's one image is for %s/%s, not linux/%s (Architecture=%s)",
                                       label, json_str(platform, "os") ?: "?", json_str(platform, "architecture") ?: "?",
                                       arch->deb_arch, arch->name);
                *ret = d;
                return 0;
        }
        for (size_t i = 0; i < n; i++) {
                json_object *d = json_object_array_get_idx(list, i);
                if (json_object_object_get_ex(d, "platform", &platform) && oci_platform_is(platform, arch)) {
                        found = d;
                        n_found++;
                }
        }
        if (n_found != 1)
                return err_set(EBADMSG, "layer %s: index lists %zu images and %zu for linux/%s (need exactly one)",
                               label, n, n_found, arch->deb_arch);
        *ret = found;
        return 0;
}

static int oci_manifest(const char *label, const char *layout, const ArchInfo *arch, json_object **ret) {
        _cleanup_(json_object_putp) json_object *cur = NULL;
        _cleanup_free_ char *index_path = NULL;
        int r;

        if (asprintf(&index_path, "%s/index.json", layout) < 0)
                return err_set(ENOMEM, "out of memory");
        r = oci_parse_json(label, index_path, "index.json", &cur);
        if (r < 0)
                return r;

        for (unsigned depth = 0; depth < OCI_INDEX_DEPTH; depth++) {
                json_object *desc = NULL;
                _cleanup_free_ char *blob = NULL;

                r = oci_pick(label, cur, arch, &desc);
                if (r < 0)
                        return r;
                r = oci_blob(label, layout, desc, &blob);
                if (r < 0)
                        return r;
                bool nested = media_is_index(json_str(desc, "mediaType"));
                json_object *next;
                r = oci_parse_json(label, blob, nested ? "nested index" : "manifest", &next);
                if (r < 0)
                        return r;
                json_object_put(cur);
                cur = next;
                if (!nested && !media_is_index(json_str(cur, "mediaType"))) {
                        *ret = TAKE_PTR(cur);
                        return 0;
                }
        }
        return err_set(ELOOP, "layer %s: indexes nested too deeply", label);
}

static bool media_is_layer(const char *m) {
        static const char *const ok[] = {
                "application/vnd.oci.image.layer.v1.tar",
                "application/vnd.oci.image.layer.v1.tar+gzip",
                "application/vnd.oci.image.layer.v1.tar+zstd",
                "application/vnd.oci.image.layer.nondistributable.v1.tar",
                "application/vnd.oci.image.layer.nondistributable.v1.tar+gzip",
                "application/vnd.oci.image.layer.nondistributable.v1.tar+zstd",
                "application/vnd.docker.image.rootfs.diff.tar.gzip",
        };
        for (size_t i = 0; m && i < ELEMENTSOF(ok); i++)
                if (streq(m, ok[i]))
                        return true;
        return false;
}

/* Whiteouts remove what lower layers put there, so they are all applied
 * before this layer's own entries are written. */
static int oci_whiteouts(LayerWriter *w, const char *blob) {
        _cleanup_(archive_read_freep) struct archive *a = NULL;
        const char *label = layer_writer_label(w);
        int root_fd = layer_writer_root_fd(w);
        struct archive_entry *e;

        int r = layer_tar_reader_new(&a);
        if (r < 0)
                return r;
        if (archive_read_open_filename(a, blob, READ_BLOCK) != ARCHIVE_OK)
                return err_set(EIO, "layer %s: %s", label, archive_error_string(a));

        for (;;) {
                _cleanup_free_ char *norm = NULL, *target = NULL, *path = NULL;

                r = archive_read_next_header(a, &e);
                if (r == ARCHIVE_EOF)
                        return 0;
                if (r < ARCHIVE_WARN)
                        return err_set(EIO, "layer %s: %s", label, archive_error_string(a));
                const char *name = archive_entry_pathname(e);
                const char *slash = name ? strrchr(name, '/') : NULL;
                const char *base = slash ? slash + 1 : name;
                if (!base || strncmp(base, ".wh.", 4) != 0)
                        continue;

                r = staging_path_normalize(name, &norm);
                if (r < 0)
                        return layer_entry_error(label, name, r);
                char *nslash = strrchr(norm, '/');
                const char *dir = nslash ? (*nslash = 0, norm) : ".";
                bool opaque = streq(base, ".wh..wh..opq");
                const char *victim = base + 4;
                if (!opaque && (!*victim || streq(victim, ".") || streq(victim, "..")))
                        return err_set(EINVAL, "layer %s: entry '%s': invalid whiteout", label, name);
                if (opaque)
                        target = strdup(dir);
                else if (asprintf(&target, "%s/%s", dir, victim) < 0)
                        target = NULL;
                if (!target)
                        return err_set(ENOMEM, "out of memory");

                r = staging_path_resolve(root_fd, target, false, &path);
                if (r < 0)
                        return layer_entry_error(label, name, r);
                r = staging_path_remove(root_fd, path, opaque);
                if (r < 0)
                        return err_prefix(r, "layer %s: entry '%s'", label, name);
        }
}

static int oci_layer(const char *label, const char *blob, const char *staging_dir, LayerProgressFn progress,
                     void *userdata) {
        _cleanup_(layer_writer_freep) LayerWriter *w = NULL;
        _cleanup_(archive_read_freep) struct archive *a = NULL;

        int r = layer_writer_open(label, staging_dir, progress, userdata, &w);
        if (r < 0)
                return r;
        layer_writer_set_replace_dirs(w, true);
        r = oci_whiteouts(w, blob);
        if (r < 0)
                return r;
        r = layer_tar_reader_new(&a);
        if (r < 0)
                return r;
        if (archive_read_open_filename(a, blob, READ_BLOCK) != ARCHIVE_OK)
                return err_set(EIO, "layer %s: %s", label, archive_error_string(a));
        r = layer_writer_copy(w, a, true);
        if (r < 0)
                return r;
        return layer_writer_close(w);
}

int layer_apply_oci(const char *layout, Architecture architecture, const char *staging_dir, LayerProgressFn progress,
                    void *userdata) {
        _cleanup_(json_object_putp) json_object *manifest = NULL;
        _cleanup_free_ char *label = NULL;
        json_object *layers;

        if (asprintf(&label, "oci:%s", layout) < 0)
                return err_set(ENOMEM, "out of memory");
        const ArchInfo *arch = arch_info(architecture);
        if (!arch)
                return err_set(EINVAL, "layer %s: unknown architecture", label);
        int r = oci_manifest(label, layout, arch, &manifest);
        if (r < 0)
                return r;
        if (!json_object_object_get_ex(manifest, "layers", &layers) || !json_object_is_type(layers, json_type_array))
                return err_set(EBADMSG, "layer %s: manifest without layers", label);

        size_t n = json_object_array_length(layers);
        /* Check every blob before touching the tree, so a corrupt image changes nothing. */
        _cleanup_free_ char **blobs = calloc(n + 1, sizeof(char *));
        if (!blobs)
                return err_set(ENOMEM, "out of memory");
        for (size_t i = 0; i < n && r >= 0; i++) {
                json_object *d = json_object_array_get_idx(layers, i);
                const char *media = json_str(d, "mediaType");
                if (!media_is_layer(media))
                        r = err_set(EMEDIUMTYPE, "layer %s: layer %zu has unsupported media type '%s'", label, i + 1,
                                    media ?: "(none)");
                else
                        r = oci_blob(label, layout, d, &blobs[i]);
        }

        for (size_t i = 0; i < n && r >= 0; i++) {
                _cleanup_free_ char *sublabel = NULL;
                const char *digest = json_str(json_object_array_get_idx(layers, i), "digest");
                if (asprintf(&sublabel, "%s (layer %zu/%zu %.19s)", label, i + 1, n, digest) < 0)
                        r = err_set(ENOMEM, "out of memory");
                else
                        r = oci_layer(sublabel, blobs[i], staging_dir, progress, userdata);
        }

        for (size_t i = 0; i < n; i++)
                free(blobs[i]);
        return r;
}
