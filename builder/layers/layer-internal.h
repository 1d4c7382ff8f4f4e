/* SPDX-License-Identifier: LGPL-2.1-or-later */
#pragma once

#include "layer-writer.h"

/* One per layer type; each writes through w. */
int layer_apply_tree(LayerWriter *w, const char *dir);
int layer_apply_oci(const char *layout, Architecture arch, const char *staging_dir, LayerProgressFn progress,
                    void *userdata);
