#!/usr/bin/env bash
# Smoke run: every fuzz target for SECONDS (default 30), one at a time, under
# AddressSanitizer. Installs cargo-fuzz if missing; regenerates the seed
# corpora if absent. Exit status is non-zero on the first crash.
#   usage: fuzz/smoke.sh [SECONDS]
set -euo pipefail
secs="${1:-30}"
here="$(cd "$(dirname "$0")" && pwd)"
cd "$here"
command -v cargo-fuzz >/dev/null 2>&1 || cargo install cargo-fuzz --locked
rustup toolchain list | grep -q '^nightly' || rustup toolchain install nightly --profile minimal
[ -d corpus ] || ./gen-corpus.sh
targets="wal_decode table_decode manifest_decode open_corrupted art_model engine_model"
# The model targets decode ops with `arbitrary`: no dictionary; art_model
# inputs past 4 KiB only add ops it drops (OPS_MAX).
declare -A dict=([wal_decode]=wal [table_decode]=sst [manifest_decode]=manifest [open_corrupted]=open_corrupted)
declare -A max_len=([art_model]=4096)
cargo +nightly fuzz build
for t in $targets; do
    echo "== $t (${secs}s)"
    # Fuzz into a scratch copy so the committed seed corpus stays small.
    work="$(mktemp -d)"
    cp -r "corpus/$t/." "$work/"
    log="$work.log"
    status=0
    dict_arg=()
    [ -n "${dict[$t]:-}" ] && dict_arg=(-dict="dicts/${dict[$t]}.dict")
    cargo +nightly fuzz run "$t" "$work" -- \
        -max_total_time="$secs" "${dict_arg[@]}" \
        -rss_limit_mb=1024 -malloc_limit_mb=256 -max_len="${max_len[$t]:-65536}" \
        -print_final_stats=1 >"$log" 2>&1 || status=$?
    grep -E '^(stat::|SUMMARY|Done)|panicked|ERROR' "$log" || true
    grep -E '^#[0-9]+.*DONE' "$log" | tail -1 || true
    rm -rf "$work" "$log"
    if [ "$status" != 0 ]; then
        echo "smoke: $t failed (artifacts in fuzz/artifacts/$t)" >&2
        exit 1
    fi
done
echo "smoke: all targets passed"
