#!/bin/bash
# without-ipsec-mb.sh CMD [ARG...]: runs CMD where intel-ipsec-mb's library cannot be
# loaded, so that lib/crypto/sha256-many.c falls back to OpenSSL: /dev/null is bound
# over the library in a private mount namespace (as root). Used by test-verity.sh and
# tests/bench/bench-leaves.sh; a script, not a function, so that /usr/bin/time can run it.
set -euo pipefail
lib=$(ldconfig -p | awk '/libIPSec_MB\.so\.[0-9]+ / && !found { print $NF; found = 1 }')
[ -n "$lib" ] || { echo "without-ipsec-mb: intel-ipsec-mb's library is not installed (run scripts/install-deps.sh)" >&2; exit 1; }
exec unshare -m --propagation private sh -c 'mount --bind /dev/null "$1" && shift && exec "$@"' sh "$(readlink -f "$lib")" "$@"
