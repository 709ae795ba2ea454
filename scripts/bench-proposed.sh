#!/usr/bin/env bash
# io_uring vs syscall latency of the proposed opcodes, measured inside a guest
# running the patched kernel (oracle/src/opbench.rs):
#
#   scripts/bench-proposed.sh [--image BZIMAGE] [--ops N] [--kvm]
#
# Boots BZIMAGE (default: the newest image of `ringspec gate --build-kernel`'s
# cache, ~/.cache/ringspec/build/*/obj/arch/x86/boot/bzImage; build it with
# kernel/patches first) with virtme-ng, TCG unless --kvm, 2 CPUs, and runs
# target/release/ringspec-bench N (default 2000) inside: per opcode, the
# syscall, the opcode one request at a time and 16 per submission, and the
# ratios. The default proposed numbers apply there (6.12); RINGSPEC_PROPOSED
# is passed through.
set -euo pipefail
cd "$(dirname "$0")/.."

image=""
ops=2000
kvm=(--disable-kvm)
while [ $# -gt 0 ]; do
    case "$1" in
    --image) image="$2"; shift 2 ;;
    --ops) ops="$2"; shift 2 ;;
    --kvm) kvm=(); shift ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "bench-proposed: unknown argument $1" >&2; exit 2 ;;
    esac
done
if [ -z "$image" ]; then
    cache="${RINGSPEC_BUILD_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/ringspec/build}"
    image=$(ls -t "$cache"/*/obj/arch/x86/boot/bzImage 2>/dev/null | head -1 || true)
    [ -n "$image" ] || { echo "bench-proposed: no built kernel in $cache" >&2; exit 2; }
fi
cargo build -q --release -p ringspec --bin ringspec-bench
env_args=""
if [ -n "${RINGSPEC_PROPOSED+x}" ]; then
    env_args="RINGSPEC_PROPOSED='${RINGSPEC_PROPOSED}' "
fi
echo "bench-proposed: $image" >&2
# The tinyconfig guest has no virtio script ports: the output comes back on the
# console (--verbose), among the kernel's messages; keep the bench's lines.
log=$(mktemp)
trap 'rm -f "$log"' EXIT
vng "${kvm[@]}" --force-9p --verbose --memory 2G --cpus 2 --run "$image" \
    --exec "${env_args}$PWD/target/release/ringspec-bench $ops; echo ringspec-bench: exit \$?" \
    >"$log" 2>&1 || true
tr -d '\r' <"$log" | sed -n '/^ringspec-bench:/p; /^|/p'
grep -q '^ringspec-bench: exit 0' "$log"
