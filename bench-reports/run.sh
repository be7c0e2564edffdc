#!/usr/bin/env bash
# Runs every Strata benchmark once (release), measures memtable bytes per
# entry, per-operation tail latency and the simulator's campaigns' speed,
# and writes bench-reports/<date>-<machine>/REPORT.md with SVG plots.
#
#   bash bench-reports/run.sh [--scale] [extra report arguments, e.g. --notes FILE]
#
# --scale also measures how cost grows with the data (fill and read rates,
# write and space amplification at 1M, 10M and 50M entries per engine;
# most of an hour on 2 cores, about 6 GB of disk per engine at the top).
#
# Environment: STRATA_BENCH_ENTRIES (memtable entries, default 1,000,000),
# STRATA_BENCH_ENGINE_ENTRIES (engine entries, default 200,000),
# STRATA_BENCH_DIR (where databases and the raw fsync file live; default the
# system temp dir), STRATA_BENCH_ROCKSDB (1, the default, runs RocksDB as a
# peer; 0 leaves it out), CARGO_TARGET_DIR (criterion output goes to
# $CARGO_TARGET_DIR/criterion).
# The criterion directory is emptied first so every ratio comes from one run.
set -euo pipefail
cd "$(dirname "$0")/.."
# Absolute, and exported: cargo resolves a relative CARGO_TARGET_DIR from
# the workspace, but criterion resolves it from the benchmark's own folder
# (bench-reports/), so with a relative one its output landed where the
# report did not look (the 2026-12-01 run).
mkdir -p "${CARGO_TARGET_DIR:-target}"
target="$(cd "${CARGO_TARGET_DIR:-target}" && pwd)"
export CARGO_TARGET_DIR="$target"
scale=0
if [ "${1:-}" = --scale ]; then
  scale=1
  shift
fi

features=()
if [ "${STRATA_BENCH_ROCKSDB:-1}" = 1 ]; then
  # The rocksdb crate builds RocksDB's C++ from source (LZ4 only), and its
  # bindings need clang and libclang.
  if ! command -v clang >/dev/null 2>&1 || ! ldconfig -p 2>/dev/null | grep -q 'libclang'; then
    sudo_cmd=""
    [ "$(id -u)" != 0 ] && sudo_cmd="sudo"
    $sudo_cmd apt-get install -y -q clang libclang-dev
  fi
  features=(--features rocksdb)
fi
# Everything is built before the clock starts: the first build (RocksDB's
# C++ takes many minutes on 2 cores) is not part of the run's duration.
cargo bench -p strata-bench "${features[@]}" --benches --no-run
cargo build --release -q -p strata-bench "${features[@]}" --bins
cargo build --release -q -p strata-sim
RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
  cargo build --release -q -p strata-sim --bin strata-sim
echo "build done; the run starts now: $(date -u +%FT%TZ)"

rm -rf "$target/criterion"
mkdir -p "$target/criterion"
crit="$target/criterion"
# The machine is shared: record how busy it was, for the report.
{
  echo "benchmarks ran at commit $(git rev-parse HEAD 2>/dev/null || echo unknown)$(git diff --quiet HEAD 2>/dev/null || echo ' with uncommitted changes')"
  echo "load average before benches: $(cat /proc/loadavg) ($(nproc) CPUs), $(date -u +%FT%TZ)"
} > "$crit/strata-run.txt.tmp"
STRATA_BENCH_TXN_JSON="$crit/strata-txn.json" STRATA_BENCH_DURABILITY_JSON="$crit/strata-durability.json" \
  cargo bench -p strata-bench "${features[@]}" --benches
cargo run --release -q -p strata-bench "${features[@]}" --bin memtable_space -- --out "$crit/strata-memory.json"
# Per-operation latency (HDR histograms), a pass of its own outside criterion.
cargo run --release -q -p strata-bench "${features[@]}" --bin latency -- --out "$crit/strata-latency.json"
if [ "$scale" = 1 ]; then
  cargo run --release -q -p strata-bench "${features[@]}" --bin scale -- --out "$crit/strata-scale.json"
fi
# The simulator's own speed, one worker thread each so the figures are per
# core: the single-threaded crash-recovery campaign, deep trees, and the
# engine's threads under the seeded scheduler.
"$target/release/strata-sim" run --seeds 1000 --jobs 1 --summary-json "$crit/strata-sim-default.json" >/dev/null
"$target/release/strata-sim" run --seeds 10 --start 2000 --profile deep --ops 5000 --jobs 1 \
  --summary-json "$crit/strata-sim-deep.json" >/dev/null
bash sim/concurrent.sh run --threads 4 --seeds 100 --jobs 1 \
  --summary-json "$crit/strata-sim-concurrent.json" >/dev/null
echo "load average after benches: $(cat /proc/loadavg), $(date -u +%FT%TZ)" >> "$crit/strata-run.txt.tmp"
mv "$crit/strata-run.txt.tmp" "$crit/strata-run.txt"
env_desc=""
for v in STRATA_BENCH_ENTRIES STRATA_BENCH_ENGINE_ENTRIES STRATA_BENCH_DIR STRATA_BENCH_ROCKSDB; do
  if [ -n "${!v:-}" ]; then env_desc="$env_desc$v=${!v} "; fi
done
cargo run --release -q -p strata-bench --bin report -- --criterion-dir "$crit" \
  --bench-command "${env_desc}bash bench-reports/run.sh$([ "$scale" = 1 ] && echo ' --scale') $*" "$@"
