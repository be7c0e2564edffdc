#!/usr/bin/env bash
# Regenerates fuzz/corpus/* (seed corpora) from real engine output.
#   usage: fuzz/gen-corpus.sh [OUT_DIR]
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
out="${1:-$here/corpus}"
rm -rf "$out"
cargo run --quiet --manifest-path "$here/Cargo.toml" --bin gen-corpus -- "$out"
