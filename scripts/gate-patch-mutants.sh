#!/usr/bin/env bash
# Gates the proposed-opcode patches (kernel/patches/*.patch) and each
# deliberately buggy variant in kernel/patches/mutants/: the good series must
# pass (exit 0) and every mutant must be rejected (exit 1). A mutant whose
# results are wrong (m1-m5) must fail rows naming the op of its
# Ringspec-Failing-Op: trailer; one whose results stay correct but which
# leaves the kernel unhealthy has a Ringspec-Expected-Alarm: <class> trailer
# and must fail a row `kernel-log <class>` (opcode "kernel-log", property the
# class), which only a debug kernel (--debug) reports. A mutant is applied on
# top of the good series, as 0004-<name>.patch. Prints a table and the wall
# time; exit 0 when the good series passed and every mutant was rejected, 1
# otherwise.
#
#   scripts/gate-patch-mutants.sh [--cases N] [--fs tmpfs,ext4] [--only NAMES]
#                                 [--src DIR] [--out DIR] [--debug] [--filter F]
#
# --filter: scenario name filter passed to the gate (e.g. cfr_,getdents,mknod:
# the families of the proposed opcodes, which is where the mutants live).
# --debug: build and boot the debug kernel (`ringspec gate --debug-kernel`:
# kernel/gate-debug.config over gate.config; KASAN, lockdep, kmemleak, ...),
# whose kernel-log rows the Expected-Alarm mutants need.
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
debug=()
filter=()
while [ $# -gt 0 ]; do
    case "$1" in
    --cases) cases="$2"; shift 2 ;;
    --fs) fs="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    --src) src="$2"; shift 2 ;;
    --out) out="$2"; shift 2 ;;
    --debug) debug=(--debug-kernel); shift ;;
    --filter) filter=(--filter "$2"); shift 2 ;;
    -h | --help) sed -n '2,/^set -euo/p' "$0" | sed '$d' | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gate-patch-mutants: unknown argument $1" >&2; exit 2 ;;
    esac
done

bin=target/release/ringspec
cargo build -q --release -p ringspec --bin ringspec
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
# m1, m2, ..., m10 (version order, not m1, m10, m11, m2).
while IFS= read -r m; do
    name=$(basename "$m" .patch)
    wanted "$name" || continue
    mkdir -p "$out/patches/$name"
    cp kernel/patches/*.patch "$out/patches/$name/"
    cp "$m" "$out/patches/$name/0004-$name.patch"
    names+=("$name")
done < <(printf '%s\n' kernel/patches/mutants/*.patch | sort -V)

started=$(date +%s)
ok=1
table="| variant | expected | expected alarm | alarm row | gate exit | verdict | build s | gate s | failing rows (op: count) |\n|---|---|---|---|---:|---|---:|---:|---|\n"
for name in "${names[@]}"; do
    t0=$(date +%s)
    set +e
    # Without sequences the baseline's sequence rows would all be "gone".
    baseline=()
    [ "$cases" != 0 ] || baseline=(--no-baseline)
    "$bin" gate --build-kernel "$src" --patches "$out/patches/$name" \
        --cases "$cases" --fs "$fs" "${baseline[@]}" ${debug[@]+"${debug[@]}"} ${filter[@]+"${filter[@]}"} \
        --out "$out/$name" >"$out/$name.log" 2>&1
    rc=$?
    set -e
    t1=$(date +%s)
    build=$(sed -n 's/.*ringspec gate: kernel .* \(built\|from the cache\) in \([0-9.]*\) s.*/\2/p' "$out/$name.log" | head -1)
    # The Ringspec-Expected-Alarm: trailer (m6 on): the kernel-log class.
    alarm=$(sed -n 's/^Ringspec-Expected-Alarm: *//p' "$out/patches/$name/0004-$name.patch" 2>/dev/null | head -1 || true)
    # Line 1: failing rows per op; line 2: "yes" when a failing row
    # `kernel-log <alarm>` (opcode "kernel-log", property the class) exists,
    # else "no" (or "-" without an expected alarm).
    summary=$(python3 - "$out/$name/report.json" "$alarm" <<'PY'
import collections, json, sys
alarm = sys.argv[2]
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"(no report: {e})"); print("no" if alarm else "-"); sys.exit()
fails = [row for row in r.get("result", {}).get("rows", []) if row.get("status") == "fail"]
# kernel-log rows are counted per class ("kernel-log lockdep: 1").
c = collections.Counter(
    f"kernel-log {row.get('property')}" if row.get("opcode") == "kernel-log" else row.get("opcode")
    for row in fails
)
print(", ".join(f"{k}: {v}" for k, v in c.most_common()) or "-")
if not alarm:
    print("-")
else:
    hit = any(row.get("opcode") == "kernel-log" and row.get("property") == alarm for row in fails)
    print("yes" if hit else "no")
PY
)
    rows=$(printf '%s\n' "$summary" | sed -n 1p)
    alarm_row=$(printf '%s\n' "$summary" | sed -n 2p)
    # The op a mutant breaks (its Ringspec-Failing-Op: trailer) must be among
    # the failing rows: a mutant rejected only for unrelated rows survived.
    op=$(sed -n 's/^Ringspec-Failing-Op: *//p' "$out/patches/$name/0004-$name.patch" 2>/dev/null | head -1 || true)
    # A mutant with an expected alarm is rejected by the kernel-log row of
    # that class (its results stay correct: rows of its op are not expected).
    if [ "$name" = good ]; then
        expected="pass (0)"
        [ "$rc" = 0 ] && verdict=ok || { verdict="WRONG"; ok=0; }
    elif [ -n "$alarm" ]; then
        expected="reject (1)"
        if [ "$rc" = 1 ] && [ "$alarm_row" = yes ]; then
            verdict="caught (kernel-log $alarm)"
        elif [ ${#debug[@]} = 0 ]; then
            verdict="SURVIVED (no --debug)"; ok=0
        else
            verdict="SURVIVED"; ok=0
        fi
    else
        expected="reject (1)"
        if [ "$rc" = 1 ] && [[ "$rows" == *"$op: "* ]]; then
            verdict="caught ($op)"
        else
            verdict="SURVIVED"; ok=0
        fi
    fi
    table+="| $name | $expected | ${alarm:--} | $alarm_row | $rc | $verdict | ${build:-?} | $((t1 - t0)) | $rows |\n"
    echo "gate-patch-mutants: $name: exit $rc ($verdict) in $((t1 - t0)) s; $rows" >&2
done
total=$(( $(date +%s) - started ))
printf "%b" "$table" | tee "$out/table.md"
echo "wall time: ${total} s (cases $cases, fs $fs${debug[@]+, debug kernel})" | tee -a "$out/table.md"
[ "$ok" = 1 ]
