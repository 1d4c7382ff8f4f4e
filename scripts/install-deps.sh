#!/bin/bash
# Installs what abide needs to build, test and run its demo on Debian 12.
# Idempotent: installs only packages that are missing; does nothing when all are there.
set -euo pipefail

packages=(
        # build
        gcc libc6-dev meson ninja-build pkg-config
        libarchive-dev libssl-dev libblkid-dev libfdisk-dev libefivar-dev libefiboot-dev libcryptsetup-dev
        libjson-c-dev libinih-dev libkmod-dev libcmocka-dev libcurl4-openssl-dev libubootenv-dev libubootenv-tool u-boot-tools
        zlib1g-dev
        # dm-verity leaves in several SHA-256 lanes (lib/crypto/sha256-many.c; x86-64 only, no :arm64)
        libipsec-mb-dev
        # fuzzing (scripts/fuzz.sh, the test suite 'fuzz'): clang and libFuzzer
        clang libclang-rt-dev
        # image tools
        erofs-utils squashfs-tools cryptsetup-bin openssl kmod
        fdisk e2fsprogs mtools dosfstools util-linux mount binutils
        # pgrep: test-build.sh looks for the tools of an interrupted build (a minimal Debian lacks procps)
        procps
        zstd xz-utils gzip cpio libarchive-tools attr dpkg-dev python3 bc jq
        # the lint tests list the tracked files (test-no-pinned-versions.sh, test-pipe-lint.sh)
        git
        # network install tests (tests/integration/test-http.sh): a real web server
        nginx-light curl
        # delta benchmark (tests/bench/bench-delta.sh): casync as the reference, apt for .deb downloads
        casync apt
        # demo image inputs: busybox, a kernel, the loader (and its linuxx64.efi.stub for UKIs),
        # the CA bundle the demo image trusts for HTTPS updates (recipes/demo.conf, docs/network.md)
        busybox-static linux-image-amd64 systemd-boot-efi ca-certificates
        # Secure Boot (docs/secure-boot.md): keygen --secure-boot's .auth files, signing and checking EFI binaries;
        # faketime holds sbsign's clock at the build date (reproducible UKIs)
        efitools sbsigntool faketime
        # whole-system tests; qemu-img makes the bundle drives (qcow2 overlays, no copy of a bundle)
        qemu-system-x86 qemu-utils ovmf systemd-container
        # arm64 whole-system tests (qemu/abideqemu.py arch=arm64): QEMU aarch64 and Debian's U-Boot (qemu_arm64)
        qemu-system-arm u-boot-qemu
        # arm64 cross builds (cross/aarch64-linux-gnu.ini, scripts/build-arm64.sh): the cross
        # compiler and the :arm64 -dev packages abide links (multiarch, beside the amd64 ones).
        # The arm64 demo's busybox-static, dosfstools and kernel are not installed: the recipe
        # takes them as deb: layers fetched with `apt-get download` (busybox-static:arm64
        # would replace the build machine's busybox).
        crossbuild-essential-arm64
        libarchive-dev:arm64 libssl-dev:arm64 libblkid-dev:arm64 libfdisk-dev:arm64 libefivar-dev:arm64 libefiboot-dev:arm64 libcryptsetup-dev:arm64
        libjson-c-dev:arm64 libinih-dev:arm64 libkmod-dev:arm64 libcmocka-dev:arm64 libcurl4-openssl-dev:arm64
        libubootenv-dev:arm64 zlib1g-dev:arm64
)

missing=()
for p in "${packages[@]}"; do
        if ! dpkg-query -W -f='${Status}\n' "$p" 2>/dev/null | grep '^install ok installed$' >/dev/null; then
                missing+=("$p")
        fi
done

[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
        echo "install-deps: missing packages: ${missing[*]}; run as root to install them" >&2
        exit 1
fi

echo "install-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
# The :arm64 packages (and `apt-get download PKG:arm64`) need arm64 in dpkg's architectures.
if ! dpkg --print-foreign-architectures | grep -x arm64 >/dev/null; then
        dpkg --add-architecture arm64
fi
apt-get update -q
apt-get install -y -q --no-install-recommends "${missing[@]}"
