#!/usr/bin/env bash
# Downloads and unpacks the Debian kernels `ringspec gate` boots (with their
# modules, indexed by depmod) into a cache outside the repository.
#
#   scripts/fetch-kernels.sh [--cache DIR] [PACKAGE...]
#
# Default cache: $RINGSPEC_KERNEL_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/ringspec/kernels.
# Default packages: linux-image-6.1.0-50-amd64 linux-image-6.12.100+deb12-amd64.
# Idempotent: a kernel already unpacked (its .complete marker exists) is skipped.
# Needs apt-get and dpkg (Debian), depmod (apt-get install kmod); runs
# `apt-get update` once if apt does not know a package yet (root).
#
# Layout, per kernel release R:
#   CACHE/R/vmlinuz          the image: ringspec gate --kernel CACHE/R/vmlinuz
#   CACHE/R/lib/modules/R/   its modules: ringspec gate --modules CACHE/R
# The last lines printed are one "R<TAB>CACHE/R" per kernel.
set -euo pipefail

cache="${RINGSPEC_KERNEL_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringspec/kernels}"
packages=()
while [ $# -gt 0 ]; do
    case "$1" in
    --cache) cache="$2"; shift 2 ;;
    --cache=*) cache="${1#--cache=}"; shift ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    -*) echo "fetch-kernels: unknown option $1" >&2; exit 2 ;;
    *) packages+=("$1"); shift ;;
    esac
done
if [ ${#packages[@]} -eq 0 ]; then
    packages=(linux-image-6.1.0-50-amd64 linux-image-6.12.100+deb12-amd64)
fi

for tool in apt-get dpkg depmod; do
    if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ] && [ ! -x "/sbin/$tool" ]; then
        hint=""
        [ "$tool" = depmod ] && hint=" (apt-get install kmod)"
        echo "fetch-kernels: $tool not found$hint" >&2
        exit 1
    fi
done
depmod=$(command -v depmod || echo /usr/sbin/depmod)

mkdir -p "$cache"
updated=0
results=()
for pkg in "${packages[@]}"; do
    # linux-image-6.12.100+deb12-amd64 -> release 6.12.100+deb12-amd64
    release="${pkg#linux-image-}"
    dest="$cache/$release"
    if [ -f "$dest/.complete" ]; then
        echo "fetch-kernels: $release already in $dest" >&2
        results+=("$release	$dest")
        continue
    fi
    if ! apt-cache show "$pkg" >/dev/null 2>&1; then
        if [ "$updated" = 0 ]; then
            echo "fetch-kernels: apt does not know $pkg; apt-get update" >&2
            apt-get update -qq
            updated=1
        fi
    fi
    work=$(mktemp -d "$cache/.fetch-$release.XXXXXX")
    trap 'rm -rf "$work"' EXIT
    echo "fetch-kernels: downloading $pkg" >&2
    (cd "$work" && apt-get download -qq "$pkg" 2>&1 | grep -v '^W: Download is performed unsandboxed' >&2 || true)
    deb=$(find "$work" -maxdepth 1 -name '*.deb' | head -n 1)
    if [ -z "$deb" ]; then
        echo "fetch-kernels: apt-get download $pkg produced no .deb" >&2
        exit 1
    fi
    dpkg -x "$deb" "$work/root"
    image=$(find "$work/root/boot" -maxdepth 1 -name "vmlinuz-$release" | head -n 1)
    if [ -z "$image" ] || { [ ! -d "$work/root/lib/modules/$release" ] && [ ! -d "$work/root/usr/lib/modules/$release" ]; }; then
        echo "fetch-kernels: $pkg has no boot/vmlinuz-$release or modules" >&2
        exit 1
    fi
    # Modules under lib/modules/R whatever the package's merged-/usr layout.
    if [ ! -d "$work/root/lib/modules/$release" ]; then
        mkdir -p "$work/root/lib/modules"
        mv "$work/root/usr/lib/modules/$release" "$work/root/lib/modules/"
    fi
    "$depmod" -b "$work/root" "$release"
    ln -s "boot/vmlinuz-$release" "$work/root/vmlinuz"
    printf '%s\n' "$pkg" >"$work/root/.complete"
    rm -rf "$dest"
    mv "$work/root" "$dest"
    rm -rf "$work"
    trap - EXIT
    results+=("$release	$dest")
done
printf '%s\n' "${results[@]}"
