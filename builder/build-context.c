/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "build-context.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

#include "basic/error.h"
#include "basic/progress.h"
#include "basic/rm-rf.h"
#include "layers.h"

int build_context_new(const char *outdir, const Recipe *recipe, time_t epoch, BuildContext **ret) {
        _cleanup_(build_context_freep) BuildContext *c = calloc(1, sizeof *c);
        if (!c)
                return -ENOMEM;
        c->recipe = recipe;
        c->epoch = epoch;
        if (asprintf(&c->workdir, "%s/.abide-build.XXXXXX", outdir) < 0) {
                c->workdir = NULL;
                return -ENOMEM;
        }
        if (!mkdtemp(c->workdir)) {
                int r = err_set(errno, "cannot create a work directory in %s: %m", outdir);
                free(c->workdir);
                c->workdir = NULL;
                return r;
        }
        if (asprintf(&c->staging, "%s/root", c->workdir) < 0 ||
            asprintf(&c->root_path, "%s/root.img", c->workdir) < 0 ||
            asprintf(&c->verity_path, "%s/root.verity", c->workdir) < 0 ||
            asprintf(&c->verity_sig_path, "%s/root.verity-sig", c->workdir) < 0)
                return -ENOMEM;
        /* The staging root becomes the image's "/": 0755, owned by root. */
        if (mkdir(c->staging, 0755) < 0)
                return err_set(errno, "cannot create %s: %m", c->staging);
        *ret = TAKE_PTR(c);
        return 0;
}

BuildContext *build_context_free(BuildContext *c) {
        if (!c)
                return NULL;
        if (c->workdir)
                (void) rm_rf(c->workdir);
        free(c->workdir);
        free(c->staging);
        free(c->root_path);
        free(c->verity_path);
        free(c->verity_sig_path);
        free(c->kernel_path);
        free(c->initrd_path);
        free(c);
        return NULL;
}

int build_context_compose(BuildContext *c) {
        const Recipe *r = c->recipe;
        int k;

        for (size_t i = 0; i < r->n_layers; i++) {
                progress_step("abide-build: layer %zu/%zu %s:%s", i + 1, r->n_layers,
                              layer_type_to_string(r->layers[i].type), r->layers[i].path);
                k = layer_apply(&r->layers[i], c->staging);
                if (k < 0)
                        return k;
        }
        for (size_t i = 0; i < r->n_binaries; i++) {
                k = staging_copy_binary(r->binaries[i], c->staging);
                if (k < 0)
                        return k;
        }
        return 0;
}
