#!/bin/bash -eu
# Builds ringspec's fuzz targets for ClusterFuzzLite (and for .ci/run, which
# runs this script with SRC and OUT of its own): `cargo fuzz build -O` of
# sqe_fields and sequences, each copied to $OUT with its seed corpus as
# $OUT/<target>_seed_corpus.zip (corpus/fuzz/<target>/).
#
# Running them needs what the targets need anywhere: root, mount namespaces
# (both make private tmpfs mounts) and io_uring (not disabled by sysctl or a
# seccomp profile). Without them a target refuses to run (exit 3, with the
# reason) instead of passing.
cd "$SRC/ringspec"
# Every target of fuzz/Cargo.toml.
target_dir=${CARGO_TARGET_DIR:-$PWD/fuzz/target}
cargo fuzz build -O --target-dir "$target_dir"
for t in sqe_fields sequences; do
  bin=$target_dir/x86_64-unknown-linux-gnu/release/$t
  [ -x "$bin" ] || { echo "build.sh: $bin was not built" >&2; exit 1; }
  cp "$bin" "$OUT/"
  rm -f "$OUT/${t}_seed_corpus.zip"
  (cd "corpus/fuzz/$t" && zip -q -r "$OUT/${t}_seed_corpus.zip" .)
done
