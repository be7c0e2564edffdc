#!/usr/bin/env bash
# Runs every Strata benchmark once (release), measures memtable bytes per
# entry and the simulator's campaigns' speed, and writes bench-reports/<date>-<machine>/REPORT.md with SVG plots.
#
#   bash bench-reports/run.sh [extra report arguments, e.g. --notes FILE]
#
# Environment: STRATA_BENCH_ENTRIES (memtable entries, default 1,000,000),
# STRATA_BENCH_ENGINE_ENTRIES (engine entries, default 200,000),
# STRATA_BENCH_DIR (where databases and the raw fsync file live; default the
# system temp dir), CARGO_TARGET_DIR (criterion output goes to
# $CARGO_TARGET_DIR/criterion).
# The criterion directory is emptied first so every ratio comes from one run.
set -euo pipefail
cd "$(dirname "$0")/.."
target="${CARGO_TARGET_DIR:-target}"
rm -rf "$target/criterion"
mkdir -p "$target/criterion"
# Absolute: cargo runs each benchmark binary in its package's folder.
crit="$(cd "$target/criterion" && pwd)"
# The machine is shared: record how busy it was, for the report.
{
  echo "benchmarks ran at commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' with uncommitted changes')"
  echo "load average before benches: $(cat /proc/loadavg) ($(nproc) CPUs), $(date -u +%FT%TZ)"
} > "$crit/strata-run.txt.tmp"
STRATA_BENCH_TXN_JSON="$crit/strata-txn.json" cargo bench -p strata-bench --benches
cargo run --release -q -p strata-bench --bin memtable_space -- --out "$crit/strata-memory.json"
# Per-operation latency (HDR histograms), a pass of its own outside criterion.
cargo run --release -q -p strata-bench --bin latency -- --out "$crit/strata-latency.json"
# The simulator's own speed, one worker thread each so the figures are per
# core: the single-threaded crash-recovery campaign, deep trees, and the
# engine's threads under the seeded scheduler (its build is not timed: the
# campaign's wall time starts after it).
cargo build --release -q -p strata-sim
"$target/release/strata-sim" run --seeds 1000 --jobs 1 --summary-json "$crit/strata-sim-default.json" >/dev/null
"$target/release/strata-sim" run --seeds 10 --start 2000 --profile deep --ops 5000 --jobs 1 \
  --summary-json "$crit/strata-sim-deep.json" >/dev/null
bash sim/concurrent.sh run --threads 4 --seeds 100 --jobs 1 \
  --summary-json "$crit/strata-sim-concurrent.json" >/dev/null
echo "load average after benches: $(cat /proc/loadavg), $(date -u +%FT%TZ)" >> "$crit/strata-run.txt.tmp"
mv "$crit/strata-run.txt.tmp" "$crit/strata-run.txt"
env_desc=""
for v in STRATA_BENCH_ENTRIES STRATA_BENCH_ENGINE_ENTRIES STRATA_BENCH_DIR; do
  if [ -n "${!v:-}" ]; then env_desc="$env_desc$v=${!v} "; fi
done
cargo run --release -q -p strata-bench --bin report -- --criterion-dir "$crit" \
  --bench-command "${env_desc}bash bench-reports/run.sh $*" "$@"
