#!/usr/bin/env bash
# Proves the gate can fail: builds the 6.12 gate kernel clean and once per
# deliberately broken patch set under kernel/broken/*/ (git format-patch files),
# gates each in a TCG guest against the clean kernel's baseline, and prints a
# table. Exit 0 only when the clean build passes (exit 0) and every broken
# build is rejected (exit 1); 1 otherwise; 2 when the tooling is missing.
#
#   scripts/gate-broken-kernels.sh [--cases N] [--fs tmpfs] [--only NAME]
#
# Builds share ringspec's kernel build cache (~/.cache/ringspec/build, one
# build at a time under its lock; switching patch sets rebuilds incrementally).
# Reports land in target/gate-broken/<name>/ (report.json, results.ktap,
# junit.xml, summary.md). Knobs: RINGSPEC_MODES, RINGSPEC_SEED are passed to
# the guest as usual.
set -uo pipefail
cd "$(dirname "$0")/.."

cases=500
fs=tmpfs
only=""
while [ $# -gt 0 ]; do
    case "$1" in
    --cases) cases="$2"; shift 2 ;;
    --fs) fs="$2"; shift 2 ;;
    --only) only="$2"; shift 2 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "gate-broken-kernels: unknown argument $1" >&2; exit 2 ;;
    esac
done

src=$(scripts/build-gate-kernel.sh) || { echo "gate-broken-kernels: no kernel source" >&2; exit 2; }
cargo build -q --release -p ringspec --bin ringspec || exit 2
ringspec=target/release/ringspec
baseline=corpus/baselines/6.12.117-gate.json
out=target/gate-broken
mkdir -p "$out"

# name|patch dir|expected exit
builds=("clean||0")
for d in kernel/broken/*/; do
    d=${d%/}
    # Absolute: the gate applies the patches from inside its build directory.
    builds+=("$(basename "$d")|$(realpath "$d")|1")
done

rows=()
bad=0
for b in "${builds[@]}"; do
    IFS='|' read -r name dir want <<<"$b"
    if [ -n "$only" ] && [ "$name" != "$only" ] && [ "$name" != clean ]; then
        continue
    fi
    args=(gate --build-kernel "$src" --baseline "$baseline" --fs "$fs" --cases "$cases" --out "$out/$name")
    [ -n "$dir" ] && args+=(--patches "$dir")
    echo "=== $name: ringspec ${args[*]}" >&2
    start=$(date +%s)
    "$ringspec" "${args[@]}" >"$out/$name.log" 2>&1
    rc=$?
    secs=$(($(date +%s) - start))
    # The rows that failed the gate (regressions and new failures), from the report.
    caught=$(python3 - "$out/$name/report.json" <<'EOF'
import json, sys
try:
    r = json.load(open(sys.argv[1]))
except Exception as e:
    print(f"no report ({e})"); sys.exit()
cmp = r.get("comparison") or {}
changes = [c for c in cmp.get("changes", []) if c.get("kind") in ("regression", "new_failure")]
keys = []
for c in changes:
    k = c.get("key", {})
    keys.append(f'{k.get("target")} {k.get("opcode")} {k.get("property")}')
if not r.get("comparison"):
    rows = (r.get("result") or {}).get("rows", [])
    keys = [f'{x["target"]} {x["opcode"]} {x["property"]}' for x in rows if x["status"] == "fail"]
if r.get("infrastructure"):
    print("infrastructure: " + r["infrastructure"].splitlines()[0][:120]); sys.exit()
known = len(cmp.get("known_failures", []))
text = f"{len(keys)} rows: " + "; ".join(keys[:4]) + (" ..." if len(keys) > 4 else "") if keys else "none"
print(text + (f" ({known} known failures of the baseline)" if known else ""))
EOF
)
    if [ "$rc" = "$want" ]; then verdict=ok; else verdict=WRONG; bad=1; fi
    rows+=("$(printf '%-34s %-8s %-4s %-6s %5ss  %s' "$name" "$([ "$want" = 0 ] && echo pass || echo reject)" "$rc" "$verdict" "$secs" "$caught")")
done

printf '%-34s %-8s %-4s %-6s %6s  %s\n' build expected exit result time "rows that failed the gate"
for r in "${rows[@]}"; do printf '%s\n' "$r"; done
if [ "$bad" != 0 ]; then
    echo "gate-broken-kernels: a broken build passed or the clean build failed (see $out/*.log)" >&2
    exit 1
fi
