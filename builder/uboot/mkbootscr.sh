#!/bin/sh
# Compiles the abide U-Boot boot script (docs/uboot.md): mkbootscr.sh [ARCH] OUTPUT
# ARCH is mkimage's (-A): arm64 (default), arm, riscv. Needs mkimage (u-boot-tools).
set -eu
here=$(dirname "$0")
if [ $# -eq 2 ]; then arch=$1; shift; else arch=arm64; fi
[ $# -eq 1 ] || { echo "usage: mkbootscr.sh [ARCH] OUTPUT" >&2; exit 2; }
out=$1
tmp=$out.tmp.$$
trap 'rm -f "$tmp"' EXIT
mkimage -A "$arch" -O linux -T script -C none -n "abide boot script" -d "$here/boot.cmd" "$tmp" >/dev/null
mv "$tmp" "$out"
trap - EXIT
