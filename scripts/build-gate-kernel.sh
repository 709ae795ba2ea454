#!/usr/bin/env bash
# Unpacks the Debian kernel source `ringspec gate --build-kernel` builds into a
# cache outside the repository and prints the source directory:
#
#   target/release/ringspec gate --build-kernel "$(scripts/build-gate-kernel.sh)"
#
#   scripts/build-gate-kernel.sh [--cache DIR] [--tarball FILE]
#
# Default tarball: /usr/src/linux-source-6.12.tar.xz (apt-get install
# linux-source-6.12; installed here when missing and running as root).
# Default cache: $RINGSPEC_SRC_CACHE, else ${XDG_CACHE_HOME:-~/.cache}/ringspec/src.
# The tree is imported into git once (one commit of every file): the gate
# builds a git work tree's HEAD plus its uncommitted changes.
# Idempotent: a tree already unpacked from the same tarball (same size and
# mtime, recorded in its .complete marker) is reused; a changed tarball is
# unpacked again. Warns (stderr) about missing kernel build dependencies.
# The last line printed (stdout) is the source directory.
set -euo pipefail

cache="${RINGSPEC_SRC_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringspec/src}"
tarball=/usr/src/linux-source-6.12.tar.xz
while [ $# -gt 0 ]; do
    case "$1" in
    --cache) cache="$2"; shift 2 ;;
    --cache=*) cache="${1#--cache=}"; shift ;;
    --tarball) tarball="$2"; shift 2 ;;
    --tarball=*) tarball="${1#--tarball=}"; shift ;;
    -h | --help) sed -n '2,15p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "build-gate-kernel: unknown argument $1" >&2; exit 2 ;;
    esac
done

if [ ! -f "$tarball" ]; then
    # /usr/src/linux-source-X.Y.tar.xz comes from the linux-source-X.Y package.
    pkg=$(basename "$tarball" | sed -n 's/^\(linux-source-[0-9][0-9.]*\)\.tar\.xz$/\1/p')
    if [ -n "$pkg" ] && [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
        echo "build-gate-kernel: $tarball missing; apt-get install $pkg" >&2
        if ! apt-cache show "$pkg" >/dev/null 2>&1; then
            apt-get update -qq
        fi
        DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "$pkg" >&2
    fi
    if [ ! -f "$tarball" ]; then
        echo "build-gate-kernel: $tarball not found (apt-get install ${pkg:-linux-source-6.12})" >&2
        exit 1
    fi
fi

# Kernel build dependencies (Debian package names): warn, the build says the rest.
missing=()
for t in make:make gcc:build-essential bc:bc bison:bison flex:flex git:git perl:perl; do
    command -v "${t%%:*}" >/dev/null 2>&1 || missing+=("${t#*:}")
done
[ -f /usr/include/gelf.h ] || missing+=(libelf-dev)
[ -f /usr/include/openssl/opensslv.h ] || missing+=(libssl-dev)
if [ ${#missing[@]} -gt 0 ]; then
    echo "build-gate-kernel: missing build dependencies: apt-get install ${missing[*]}" >&2
fi

# Makes the unpacked tree $1 a git work tree whose one commit holds every file
# (`-f`: Debian's top-level .gitignore ignores everything at the top), once.
import_into_git() {
    local dir=$1
    if git -C "$dir" rev-parse -q --verify HEAD >/dev/null 2>&1; then
        return 0
    fi
    echo "build-gate-kernel: importing $dir into git (once)" >&2
    git -C "$dir" init -q
    git -C "$dir" config gc.auto 0
    printf '/.complete\n' >>"$dir/.git/info/exclude"
    git -C "$dir" -c core.compression=1 add -f -A -- . ':(exclude).complete'
    git -C "$dir" -c user.name="ringspec import" -c user.email=ringspec-import@localhost \
        commit -q -m "$(basename "$tarball") as unpacked" >&2
}

# linux-source-6.12.tar.xz unpacks to linux-source-6.12/.
name=$(basename "$tarball")
name=${name%.tar.*}
dest="$cache/$name"
stamp="$(realpath "$tarball") $(stat -c '%s %Y' "$tarball")"
if [ -f "$dest/.complete" ] && [ "$(cat "$dest/.complete")" = "$stamp" ]; then
    echo "build-gate-kernel: $name already unpacked in $dest" >&2
    import_into_git "$dest"
    printf '%s\n' "$dest"
    exit 0
fi

mkdir -p "$cache"
work=$(mktemp -d "$cache/.unpack-$name.XXXXXX")
trap 'rm -rf "$work"' EXIT
echo "build-gate-kernel: unpacking $tarball into $dest" >&2
tar -xf "$tarball" -C "$work"
top=$(find "$work" -mindepth 1 -maxdepth 1 -type d | head -n 1)
if [ -z "$top" ] || [ ! -f "$top/Makefile" ] || [ ! -d "$top/scripts/kconfig" ]; then
    echo "build-gate-kernel: $tarball does not hold a kernel source tree" >&2
    exit 1
fi
import_into_git "$top"
printf '%s\n' "$stamp" >"$top/.complete"
rm -rf "$dest"
mv "$top" "$dest"
rm -rf "$work"
trap - EXIT
printf '%s\n' "$dest"
