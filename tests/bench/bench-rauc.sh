#!/bin/bash
# Benchmark: abide against RAUC 1.8 (Debian's rauc), build and install, on the
# same tree, file system and partition, with ../shared/bench/rauc-compare.sh
# (read it for how RAUC is driven). Prints its table, then abide/RAUC for
# build and install (below 1: abide is faster). Not a test. Runs as root.
#
#   tests/bench/bench-rauc.sh [BUILDDIR] [SIZE_MIB] [ROUNDS]
#
# Defaults: build/, 1024 MiB, 3 rounds; RAUC_COMPARE= another copy of the script. RAUC is only needed here, not by any
# test suite, so the Debian packages it takes (rauc, rauc-service, dbus) are
# installed by this script when missing rather than by scripts/install-deps.sh.
# Scratch: about 6x SIZE_MIB under /tmp/rauc-bench. Every timing there is a
# median with the page cache dropped before each run (it drops the whole
# machine's cache: other work on the machine slows down meanwhile).
set -euo pipefail
top=$(cd "$(dirname "$0")/../.." && pwd)
builddir=$(cd "${1:-$top/build}" && pwd)
size_mib=${2:-1024}
rounds=${3:-3}
# Beside the repository; from a git worktree elsewhere, beside its main checkout.
compare=${RAUC_COMPARE:-$top/../shared/bench/rauc-compare.sh}
if [ ! -r "$compare" ] && [ -z "${RAUC_COMPARE:-}" ]; then
        common=$(git -C "$top" rev-parse --path-format=absolute --git-common-dir 2>/dev/null || true)
        [ -z "$common" ] || compare=$(dirname "$common")/../shared/bench/rauc-compare.sh
fi

[ "$(id -u)" = 0 ] || { echo "bench-rauc: run as root (loop devices, drop_caches)" >&2; exit 1; }
[ -r "$compare" ] || { echo "bench-rauc: $compare not found (the shared benchmark, beside the repository)" >&2; exit 1; }
for x in builder/abide-build bootctl/abidectl bootctl/init/abide-init; do
        [ -x "$builddir/$x" ] || { echo "bench-rauc: build abide first (ninja -C $builddir): no $x" >&2; exit 1; }
done

missing=()
for p in rauc rauc-service dbus; do
        dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep '^install ok installed$' >/dev/null || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
        echo "bench-rauc: installing ${missing[*]}" >&2
        DEBIAN_FRONTEND=noninteractive apt-get install -y --no-install-recommends "${missing[@]}" >&2
fi

W=$(mktemp -d /tmp/bench-rauc.XXXXXX)
trap 'rm -rf "$W"' EXIT

# rauc-compare.sh passes `abidectl install --image-info FILE` (the running
# image's image.json). Where abidectl has no such option, the same file goes
# in through the config key it stands for, [Paths] ImageInfo=, by a wrapper
# around the same abidectl binary in a build directory of links.
dir=$builddir
if ! "$builddir/bootctl/abidectl" install --help 2>&1 | grep -- --image-info >/dev/null; then
        dir=$W/build
        mkdir -p "$dir/builder" "$dir/bootctl/init"
        ln -s "$builddir/builder/abide-build" "$dir/builder/abide-build"
        ln -s "$builddir/bootctl/init/abide-init" "$dir/bootctl/init/abide-init"
        cat >"$dir/bootctl/abidectl" <<EOF
#!/bin/bash
args=() info=
while [ \$# -gt 0 ]; do
        case \$1 in
        --image-info) info=\$2; shift 2 ;;
        --image-info=*) info=\${1#*=}; shift ;;
        *) args+=("\$1"); shift ;;
        esac
done
if [ -n "\$info" ] && [ -n "\${ABIDE_CONF:-}" ]; then
        conf=\$ABIDE_CONF.image-info
        [ -e "\$conf" ] || sed "/^\\[Paths\\]/a ImageInfo=\$info" "\$ABIDE_CONF" >"\$conf"
        export ABIDE_CONF=\$conf
fi
exec "$builddir/bootctl/abidectl" "\${args[@]}"
EOF
        chmod +x "$dir/bootctl/abidectl"
        echo "bench-rauc: abidectl has no --image-info; passing it as [Paths] ImageInfo= instead" >&2
fi

set +e
ROUNDS=$rounds ABIDE_BUILDDIR=$dir bash "$compare" "$size_mib" 2>&1 >"$W/out" | tee "$W/err" >&2
rc=${PIPESTATUS[0]}
set -e
cat "$W/out"
. "$top/tests/bench/common.sh"
echo
if grep -q '^build: tree -> signed bundle' "$W/out"; then
        awk '/^build: tree -> signed bundle/ { printf "bench-rauc: build   abide/RAUC %s (abide %ss, RAUC %ss)\n", $(NF - 1), $6, $7 }
             /^install: bundle -> slot/ { printf "bench-rauc: install abide/RAUC %s (abide %ss, RAUC %ss)\n", $(NF - 1), $6, $7 }' "$W/out"
else
        # The install half failed: the build rounds are in the log.
        ab=() rb=()
        while read -r a r; do ab+=("$a") rb+=("$r"); done < <(
                sed -n 's/^compare: build round [0-9]*: abide-build \([0-9.]*\)s; .* = \([0-9.]*\)s$/\1 \2/p' "$W/err")
        if [ ${#ab[@]} -gt 0 ]; then
                ma=$(median "${ab[@]}") mr=$(median "${rb[@]}")
                printf 'bench-rauc: build   abide/RAUC %.2f (abide %.3fs, RAUC %.3fs, median of %d)\n' \
                        "$(echo "$ma / $mr" | bc -l)" "$ma" "$mr" "${#ab[@]}"
        fi
        echo "bench-rauc: install: no figures, rauc-compare.sh failed (rc=$rc, see above)"
fi
echo "bench-rauc: $(nproc) CPUs, load average now $(cut -d' ' -f1-3 /proc/loadavg), $(date -u '+%Y-%m-%d %H:%M UTC')"
exit "$rc"
