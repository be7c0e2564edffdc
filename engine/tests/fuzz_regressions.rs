//! Fuzz findings kept as regression tests, and the seed corpora replayed.
//!
//! The fuzz targets' logic is the `strata-fuzz-harness` crate, the very code
//! the cargo-fuzz targets call, so a crash input replays here exactly as
//! the fuzzer ran it, on stable Rust.
//! To add a finding: minimise it (`cargo +nightly fuzz tmin TARGET FILE`),
//! paste the bytes into a test named after the bug, with a one-line
//! postmortem, calling the target's `run` (see `fuzz/README.md`).
//! The model targets' replays (`art_model`, `engine_model`, which run on
//! `strata-sim`) live in `sim/tests/fuzz_replay.rs`.

use std::path::Path;

use strata_fuzz_harness::open_corrupted::{self, build_base, check_clean, BASE_SEED};
use strata_fuzz_harness::{manifest_decode, table_decode, wal_decode};

/// Replays every file of `fuzz/corpus/TARGET` (if generated) through `run`.
fn replay_corpus(target: &str, run: &dyn Fn(&[u8])) -> usize {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let Ok(entries) = std::fs::read_dir(&dir) else {
        return 0;
    };
    let mut n = 0;
    for e in entries {
        let path = e.unwrap().path();
        let bytes = std::fs::read(&path).unwrap();
        run(&bytes);
        n += 1;
    }
    n
}

#[test]
fn base_image_opens_to_its_final_state() {
    let base = build_base(BASE_SEED);
    assert!(base
        .image
        .keys()
        .any(|p| p.to_string_lossy().ends_with(".sst")));
    assert!(base
        .image
        .keys()
        .any(|p| p.to_string_lossy().ends_with(".log")));
    check_clean(&base);
}

#[test]
fn seed_corpora_pass() {
    // The seed corpora are committed (regenerate with fuzz/gen-corpus.sh).
    assert!(replay_corpus("wal_decode", &wal_decode::run) >= 4);
    assert!(replay_corpus("table_decode", &table_decode::run) >= 2);
    assert!(replay_corpus("manifest_decode", &manifest_decode::run) >= 1);
    let base = build_base(BASE_SEED);
    assert!(replay_corpus("open_corrupted", &|d| open_corrupted::run(&base, d)) >= 1);
}

#[test]
fn every_single_mutation_of_each_file_is_survived() {
    // One flip, truncation and removal per file, as the seed corpus holds.
    let base = build_base(BASE_SEED);
    for sel in 0..base.image.len() as u8 {
        for off in [0u8, 13, 40, 200] {
            open_corrupted::run(&base, &[0, sel, off, 0, 0, 0, 0x10]);
            open_corrupted::run(&base, &[1, sel, off, 0, 0, 0]);
        }
        open_corrupted::run(&base, &[2, sel]);
    }
}

#[test]
fn checksum_fixups_make_mutations_reach_decoders() {
    // The fix-up is what lets the fuzzer past the CRCs: a flipped payload
    // byte must be rejected by the CRC, and accepted once fixed up.
    let mut rec = Vec::new();
    strata::format::wal::encode_record(
        &mut rec,
        1,
        &[strata::BatchOp::Put {
            key: b"k".to_vec(),
            value: b"v".to_vec(),
        }],
        0,
    );
    let mut seg = b"LWTS\x01\x00\x00\x00\x01\x00\x00\x00\x00\x00\x00\x00".to_vec();
    seg.extend_from_slice(&rec);
    let last = seg.len() - 1;
    seg[last] ^= 1;
    let (kind, payload) = (
        seg[16 + 8],
        &seg[16 + strata::format::wal::RECORD_HEADER_BYTES..],
    );
    let decoded = strata::format::wal::decode_payload(kind, payload, &wal_decode::LIMITS).unwrap();
    assert_eq!(decoded.ops[0].value(), Some(&b"w"[..]));
    let before = seg.clone();
    wal_decode::fix_checksums(&mut seg);
    assert_ne!(seg, before, "the CRC was rewritten");
    wal_decode::run(&seg);
}
