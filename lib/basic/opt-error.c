/* SPDX-License-Identifier: LGPL-2.1-or-later */
#include "opt-error.h"

#include "error.h"

/* The no_argument long option that "--NAME=VALUE" (or an abbreviation of NAME) names, with val v. */
static const struct option *flag_given_value(const char *arg, const struct option *options, int v) {
        if (strncmp(arg, "--", 2) != 0)
                return NULL;
        const char *name = arg + 2, *eq = strchr(name, '=');
        if (!eq)
                return NULL;
        for (const struct option *o = options; o->name; o++)
                if (o->has_arg == no_argument && !o->flag && o->val == v &&
                    strncmp(o->name, name, (size_t) (eq - name)) == 0)
                        return o;
        return NULL;
}

int opt_error(int c, char *const argv[], const struct option *options, const char *hint) {
        /* getopt_long() has moved past a long option it refused, and past a short one's word when the
         * option ended it; an unknown short option inside "-xj" is known only by optopt. */
        const char *arg = optind > 0 ? argv[optind - 1] : "";

        if (c == ':') {
                if (strncmp(arg, "--", 2) == 0)
                        return err_set(EINVAL, "option '%s' needs a value (see %s)", arg, hint);
                return err_set(EINVAL, "option '-%c' needs a value (see %s)", optopt, hint);
        }
        /* An unknown or ambiguous long option. */
        if (optopt == 0)
                return err_set(EINVAL, "unknown option '%s' (see %s)", arg, hint);
        /* A long option without a value given one sets optopt to its val, as an unknown short option does. */
        const struct option *o = flag_given_value(arg, options, optopt);
        if (o)
                return err_set(EINVAL, "option '--%s' takes no value (see %s)", o->name, hint);
        return err_set(EINVAL, "unknown option '-%c' (see %s)", optopt, hint);
}
