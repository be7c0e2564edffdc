#!/usr/bin/env bash
# Mutation campaigns over the engine (configuration: .cargo/mutants.toml;
# what is measured and how to read the results: sim/README.md, "Mutation
# campaigns"). Names a set of engine files and passes every other argument
# to `cargo mutants`.
#
#   bash sim/mutants.sh core --list | wc -l            # the correctness core
#   bash sim/mutants.sh core --shard 1/4 -o out/core-1  # one slice of it
#   bash sim/mutants.sh other --shard 1/10 -o out/s1    # a sample of the rest
#   bash sim/mutants.sh all --shard 3/8 -o out/all-3    # everything, a slice
#
# Shards use round-robin sharding (mutant i runs on shard i % n), so every
# shard samples every file and a partial campaign is a fair sample.
set -euo pipefail
cd "$(dirname "$0")/.."

# The correctness core: what decides whether an acknowledged write survives
# and reads back right (the write and commit path, the WAL, open and
# recovery, the manifest and versions, compaction's choice and execution,
# background work and version installs, file deletion, flush, transactions).
CORE=(
  engine/src/wal.rs
  engine/src/commit.rs
  engine/src/db/write.rs
  engine/src/db/open.rs
  engine/src/manifest.rs
  engine/src/version.rs
  engine/src/compaction/strategy.rs
  engine/src/compaction/executor.rs
  engine/src/db/background.rs
  engine/src/db/versions.rs
  engine/src/db/obsolete.rs
  engine/src/flush.rs
  engine/src/gc.rs
  engine/src/txn.rs
  engine/src/db/transaction.rs
)

set_name=${1:-}
shift || true
args=()
case "$set_name" in
  core)
    for f in "${CORE[@]}"; do args+=(--file "$f"); done
    ;;
  other)
    # Every engine file outside the core (the exclusions of
    # .cargo/mutants.toml still apply).
    for f in "${CORE[@]}"; do args+=(--exclude "$f"); done
    ;;
  all) ;;
  *)
    echo "usage: bash sim/mutants.sh core|other|all [cargo mutants arguments]" >&2
    exit 2
    ;;
esac
for a in "$@"; do
  if [[ $a == --shard || $a == --shard=* ]]; then args+=(--sharding round-robin); break; fi
done
exec cargo mutants "${args[@]}" "$@"
