#!/usr/bin/env bash
# The standing soak: long generated sequences (--max-len 1000) on tmpfs, ext4,
# xfs and btrfs, through the synchronous syscalls and through every io_uring
# submission mode. On a clean kernel it must find nothing: a confirmed
# divergence is a model gap or a kernel finding to diagnose (exit 1, with the
# saved minimal sequence and its replay command).
#
#   scripts/soak.sh [SEED]        (default 200; RINGSPEC_BIN, SOAK_SAVE_DIR)
#
# Sizes: per filesystem SOAK_SYSCALL_CASES sequences through the syscalls
# (default 5000) and SOAK_URING_CASES through the syscalls and all io_uring
# modes (default 300); about 50-80 s per filesystem here.
set -euo pipefail
cd "$(dirname "$0")/.."
seed=${1:-200}
bin=${RINGSPEC_BIN:-target/release/ringspec}
save=${SOAK_SAVE_DIR:-target/soak-findings}
syscall_cases=${SOAK_SYSCALL_CASES:-5000}
uring_cases=${SOAK_URING_CASES:-300}
[ -x "$bin" ] || cargo build -q --release -p ringspec --bin ringspec
mkdir -p "$save"
status=0
for fs in tmpfs ext4 xfs btrfs; do
  echo "=== soak: $fs, syscalls, $syscall_cases sequences of up to 1000 ops, seed $seed"
  "$bin" run --fs "$fs" --mode none --max-len 1000 --cases "$syscall_cases" --seed "$seed" \
    --save-dir "$save" || status=$?
  [ "$status" -eq 0 ] || break
  echo "=== soak: $fs, all io_uring modes, $uring_cases sequences of up to 1000 ops, seed $seed"
  "$bin" run --fs "$fs" --mode all --max-len 1000 --cases "$uring_cases" --seed "$seed" \
    --save-dir "$save" || status=$?
  [ "$status" -eq 0 ] || break
done
exit "$status"
