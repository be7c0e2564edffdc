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
#   bash sim/mutants.sh triage-check  # every triaged mutant: a reason, a match
#   bash sim/mutants.sh triaged       # the names the triage list leaves out
#   bash sim/mutants.sh ci            # CI's slice: fails on an untriaged miss
#   bash sim/mutants.sh shuttle -F 'in DbInner::throttle' -o out/sched
#                                     # the scheduler pass, on named mutants
#   bash sim/mutants.sh rerun-missed out/core-1 -- -o out/core-1-after
#                                     # a run's misses again, after triage
#   bash sim/mutants.sh detect-only --shard 0/48 -o out/detect
#                                     # the campaigns alone judge a sample
#
# Shards are 0-based and round-robin (mutant i runs on shard i % n; set in
# .cargo/mutants.toml), so every shard samples every file.
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

# Every mutant, the triaged ones included: the list under the configuration
# without the triage entries.
list_untriaged() {
  local plain
  plain=$(mktemp --suffix=.toml)
  awk '/# -- triage: begin/{skip=1} /# -- triage: end/{skip=0} !skip || /^[[:space:]]*#/' \
    .cargo/mutants.toml > "$plain"
  cargo mutants --list --config "$plain" "$@"
  rm -f "$plain"
}

# The triage list: the entries between the markers of exclude_re in
# .cargo/mutants.toml, each `'regex',  # reason`. Fails when an entry has no
# reason or matches no mutant of the tree as it is now (the code it excused
# changed: the entry must be re-checked, not kept by habit).
triage_check() {
  local config=.cargo/mutants.toml
  local block entries=0 bad=0
  block=$(sed -n '/# -- triage: begin/,/# -- triage: end/p' "$config" | grep -v '^[[:space:]]*#' || true)
  local untriaged
  untriaged=$(mktemp)
  list_untriaged > "$untriaged"
  while IFS= read -r line; do
    [[ -z ${line//[[:space:]]/} ]] && continue
    entries=$((entries + 1))
    local re reason
    re=$(sed -n "s/^[[:space:]]*'\([^']*\)',.*/\1/p" <<< "$line")
    reason=$(sed -n "s/^[[:space:]]*'[^']*',[[:space:]]*#[[:space:]]*\(.*[^[:space:]]\).*/\1/p" <<< "$line")
    if [[ -z $re || -z $reason ]]; then
      echo "triage entry without a pattern and a reason: $line" >&2
      bad=1
      continue
    fi
    local n
    n=$(grep -cP -- "$re" "$untriaged" || true)
    if [[ $n -eq 0 ]]; then
      echo "stale triage entry (matches no mutant now): '$re'  # $reason" >&2
      bad=1
    else
      echo "triaged ($n): $re  # $reason"
    fi
  done <<< "$block"
  rm -f "$untriaged"
  echo "$entries triage entries checked"
  return $bad
}

set_name=${1:-}
shift || true
args=()
case "$set_name" in
  triage-check)
    triage_check
    exit
    ;;
  triaged)
    # The names of the mutants the triage list leaves out (for the score:
    # `mutants --triaged FILE`).
    comm -23 <(list_untriaged | sort) <(cargo mutants --list | sort)
    exit
    ;;
  ci)
    # A small fixed slice, so the configuration and the detector cannot
    # rot: cargo-mutants exits 0 when every mutant was caught, 3 when some
    # timed out (caught: a hang is a failure the campaign sees), 2 when one
    # was missed (not in the triage list, or it would not have run).
    set +e
    cargo mutants --file engine/src/gc.rs --file engine/src/flush.rs -o target/mutants-ci "$@"
    rc=$?
    set -e
    if [[ $rc -eq 0 || $rc -eq 3 ]]; then exit 0; fi
    echo "mutation slice failed (cargo-mutants exit $rc); missed mutants:" >&2
    cat target/mutants-ci/mutants.out/missed.txt >&2 || true
    exit 1
    ;;
  rerun-missed)
    # The mutants earlier runs missed, run again on the tree as it is now
    # (after their triage): `rerun-missed OUT_DIR... -- [cargo mutants
    # arguments]`. Each missed mutant is named by file and description
    # (lines move as code changes); its file is examined and its
    # description selected with -F. Pass the result after the runs it
    # corrects to the score tool.
    dirs=()
    while [[ $# -gt 0 && $1 != -- ]]; do dirs+=("$1"); shift; done
    [[ ${1:-} == -- ]] && shift
    if [[ ${#dirs[@]} -eq 0 ]]; then
      echo "usage: bash sim/mutants.sh rerun-missed OUT_DIR... [-- cargo mutants arguments]" >&2
      exit 2
    fi
    files=() res=()
    for d in "${dirs[@]}"; do
      m="$d/mutants.out/missed.txt"
      [[ -f $m ]] || m="$d/missed.txt"
      [[ -f $m ]] || { echo "no missed.txt in $d" >&2; exit 2; }
      while IFS= read -r line; do
        [[ -z $line ]] && continue
        files+=("${line%%:*}")
        desc=${line#*: }
        # A literal match of the description, anchored at its end.
        res+=("$(printf '%s' "$desc" | sed 's/[][\.^$*+?(){}|/]/\\&/g')\$")
      done < "$m"
    done
    [[ ${#res[@]} -eq 0 ]] && { echo "nothing was missed"; exit 0; }
    mapfile -t files < <(printf '%s\n' "${files[@]}" | sort -u)
    for f in "${files[@]}"; do args+=(--file "$f"); done
    re=$(IFS='|'; echo "${res[*]}")
    exec cargo mutants "${args[@]}" -F "$re" "$@"
    ;;
  shuttle)
    # The scheduler pass (.cargo/mutants-shuttle.toml): named mutants built
    # with `--cfg shuttle` and judged by the tests of that build, e.g. the
    # main pass's misses that only matter when threads race.
    # cargo-mutants' baseline runs the mutated package's tests only, and
    # `strata` has no `concurrent` test: the baseline is skipped (CI and
    # sim/concurrent.sh run that test green) and the time limit is fixed.
    RUSTFLAGS="${RUSTFLAGS:-} --cfg shuttle" exec cargo mutants --config .cargo/mutants-shuttle.toml \
      --baseline=skip --timeout 600 "$@"
    ;;
  detect-only)
    # The core's mutants judged by the simulator's detect campaigns alone
    # (sim/tests/detect.rs), without the unit and integration tests that
    # run before them in the main pass and take the credit: how much the
    # campaigns catch by themselves. The main configuration with its judge
    # replaced; the baseline is skipped (the mutated package has no
    # `detect` target) and the time limit fixed, as in the scheduler pass.
    # A sample: `detect-only --shard 0/48 -o out/detect`.
    cfg=$(mktemp --suffix=.toml)
    sed -e 's/^test_package = .*/test_package = ["strata-sim"]/' \
      -e 's/^additional_cargo_test_args = .*/additional_cargo_test_args = ["--test", "detect"]/' \
      .cargo/mutants.toml > "$cfg"
    # Both lines must have been replaced, or the pass would silently run
    # the main judge.
    if [[ $(grep -c -e '^test_package = \["strata-sim"\]$' \
      -e '^additional_cargo_test_args = \["--test", "detect"\]$' "$cfg") -ne 2 ]]; then
      echo "detect-only: could not replace the judge in .cargo/mutants.toml" >&2
      rm -f "$cfg"
      exit 2
    fi
    for f in "${CORE[@]}"; do args+=(--file "$f"); done
    set +e
    cargo mutants --config "$cfg" --baseline=skip --timeout 120 "${args[@]}" "$@"
    rc=$?
    rm -f "$cfg"
    exit $rc
    ;;
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
    echo "usage: bash sim/mutants.sh core|other|all|shuttle|detect-only|rerun-missed [cargo mutants arguments]" >&2
    exit 2
    ;;
esac
exec cargo mutants "${args[@]}" "$@"
