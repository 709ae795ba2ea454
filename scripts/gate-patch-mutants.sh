#!/usr/bin/env bash
# Gates the proposed-opcode patches (kernel/patches/*.patch) and each
# deliberately buggy variant in kernel/patches/mutants/: the good series must
# pass (exit 0) and every mutant must be rejected (exit 1, with failing rows
# naming the op of its Ringspec-Failing-Op: trailer). A mutant is applied on
# top of the good series, as
# 0004-<name>.patch. Prints a table and the wall time; exit 0 when the good
# series passed and every mutant was rejected, 1 otherwise.
#
#   scripts/gate-patch-mutants.sh [--cases N] [--fs tmpfs,ext4] [--only NAMES]
#                                 [--src DIR] [--out DIR]
#
# --cases: campaign sequences per target and filesystem (default 100; 0 runs
# the scenarios and the named checks only, without a baseline; otherwise the
# gate compares with corpus/baselines/<release>.json). --only: comma-separated names
# among "good" and the mutant file names without .patch (default: all).
# Builds share the incremental cache of `ringspec gate --build-kernel`
# (~/.cache/ringspec/build): each switch rebuilds only what the patch touches.
set -euo pipefail
cd "$(dirname "$0")/.."

cases=100
fs=tmpfs,ext4
only=""
src=""
out=target/gate-mutants
while [ $# -gt 0 ]; do
    case "$1" in
    --cases) cases="$2"; shift 2 ;;
    --fs) fs="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --src) src="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    -h | --help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gate-patch-mutants: unknown argument $1" >&2; exit 2 ;;
    esac
done

bin=target/release/ringspec
cargo build -q --release -p oracle --bin ringspec
[ -n "$src" ] || src=$(scripts/build-gate-kernel.sh)
rm -rf "$out"
mkdir -p "$out"

wanted() { [ -z "$only" ] || [[ ",$only," == *",$1,"* ]]; }

# name -> patch directory
declare -a names=()
if wanted good; then
    mkdir -p "$out/patches/good"
    cp kernel/patches/*.patch "$out/patches/good/"
    names+=(good)
fi
for m in kernel/patches/mutants/*.patch; do
    name=$(basename "$m" .patch)
    wanted "$name" || continue
    mkdir -p "$out/patches/$name"
    cp kernel/patches/*.patch "$out/patches/$name/"
    cp "$m" "$out/patches/$name/0004-$name.patch"
    names+=("$name")
done

started=$(date +%s)
ok=1
table="| variant | expected | gate exit | verdict | build s | gate s | failing rows (op: count) |\n|---|---|---:|---|---:|---:|---|\n"
for name in "${names[@]}"; do
    t0=$(date +%s)
    set +e
    # Without sequences the baseline's sequence rows would all be "gone".
    baseline=()
    [ "$cases" != 0 ] || baseline=(--no-baseline)
    "$bin" gate --build-kernel "$src" --patches "$out/patches/$name" \
        --cases "$cases" --fs "$fs" "${baseline[@]}" --out "$out/$name" >"$out/$name.log" 2>&1
    rc=$?
    set -e
    t1=$(date +%s)
    build=$(sed -n 's/.*ringspec gate: kernel .* \(built\|from the cache\) in \([0-9.]*\) s.*/\2/p' "$out/$name.log" | head -1)
    rows=$(python3 - "$out/$name/report.json" <<'PY'
import collections, json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"(no report: {e})"); sys.exit()
fails = [row for row in r.get("result", {}).get("rows", []) if row["status"] == "fail"]
c = collections.Counter(row["opcode"] for row in fails)
print(", ".join(f"{k}: {v}" for k, v in c.most_common()) or "-")
PY
)
    # The op a mutant breaks (its Ringspec-Failing-Op: trailer) must be among
    # the failing rows: a mutant rejected only for unrelated rows survived.
    op=$(sed -n 's/^Ringspec-Failing-Op: *//p' "$out/patches/$name/0004-$name.patch" 2>/dev/null | head -1 || true)
    if [ "$name" = good ]; then
        expected="pass (0)"
        [ "$rc" = 0 ] && verdict=ok || { verdict="WRONG"; ok=0; }
    else
        expected="reject (1)"
        if [ "$rc" = 1 ] && [[ "$rows" == *"$op: "* ]]; then
            verdict="caught ($op)"
        else
            verdict="SURVIVED"; ok=0
        fi
    fi
    table+="| $name | $expected | $rc | $verdict | ${build:-?} | $((t1 - t0)) | $rows |\n"
    echo "gate-patch-mutants: $name: exit $rc ($verdict) in $((t1 - t0)) s; $rows" >&2
done
total=$(( $(date +%s) - started ))
printf "%b" "$table" | tee "$out/table.md"
echo "wall time: ${total} s (cases $cases, fs $fs)" | tee -a "$out/table.md"
[ "$ok" = 1 ]
