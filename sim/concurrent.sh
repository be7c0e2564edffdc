#!/usr/bin/env bash
# The concurrent campaign: builds strata-sim with the seeded scheduler
# (RUSTFLAGS="--cfg shuttle", in its own target directory so it never mixes
# with ordinary builds) and passes every argument to it.
#
#   bash sim/concurrent.sh run --threads 4 --seeds 100
#   bash sim/concurrent.sh replay --seed 7 --threads 4 --trace
#   bash sim/concurrent.sh shrink --seed 7 --threads 4
set -euo pipefail
cd "$(dirname "$0")/.."
RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
  cargo build --release -q -p strata-sim --bin strata-sim
exec target/shuttle/release/strata-sim "$@"
