//! The `art_model` and `engine_model` fuzz targets on stable Rust: their
//! seed corpora replayed, and their findings kept as named regressions.
//!
//! The targets' logic is the `strata-fuzz-harness` crate, the very code the
//! cargo-fuzz targets call, so an input replays here exactly as the fuzzer
//! ran it. To add a finding: minimise it (`cargo +nightly fuzz tmin TARGET
//! FILE`), paste the bytes into a test named after the bug with a one-line
//! postmortem (see `fuzz/README.md`).

use std::path::Path;

use strata::testing::SplitMix64;
use strata_fuzz_harness::{art_model, engine_model, prng_bytes};
use strata_sim::SimOp;

/// The files of `fuzz/corpus/TARGET`, sorted by name.
fn corpus(target: &str) -> Vec<(String, Vec<u8>)> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../fuzz/corpus")
        .join(target);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|e| {
            let path = e.unwrap().path();
            let name = path.file_name().unwrap().to_string_lossy().into_owned();
            (name, std::fs::read(&path).unwrap())
        })
        .collect();
    files.sort();
    files
}

#[test]
fn art_model_seed_corpus_passes() {
    let files = corpus("art_model");
    assert!(files.len() >= 12, "{} seeds", files.len());
    let (mut ops_total, mut fan_max, mut keys_max) = (0, 0, 0);
    for (_, data) in &files {
        ops_total += art_model::decode(data).len();
        let sum = art_model::run(data);
        assert!(sum.inner_nodes >= 1);
        fan_max = fan_max.max(sum.fan_max);
        keys_max = keys_max.max(sum.keys_max);
    }
    assert!(ops_total >= 1000, "the seeds decode to {ops_total} ops");
    assert!(fan_max > 48, "no node grew past 48 children ({fan_max})");
    assert!(keys_max >= 100, "at most {keys_max} keys at once");
}

#[test]
fn art_model_seed_corpus_is_what_the_generator_writes() {
    // The committed corpus is `gen-corpus` output (fuzz/gen-corpus.sh).
    let files = corpus("art_model");
    for (name, data) in art_model::seed_inputs() {
        assert!(files.contains(&(name.clone(), data)), "{name} differs");
    }
}

#[test]
fn engine_model_seed_corpus_passes_with_crashes_and_faults() {
    let files = corpus("engine_model");
    assert!(files.len() >= 12, "{} seeds", files.len());
    let (mut power_losses, mut recoveries, mut flushes, mut reads) = (0, 0, 0, 0);
    let (mut txns, mut faulted) = (0, false);
    for (name, data) in &files {
        let (ops, out) = engine_model::execute_input(data);
        if let Some(f) = &out.failure {
            panic!(
                "{name}: failure at op {}: {}\n{}",
                f.op_index,
                f.message,
                out.trace.join("\n")
            );
        }
        assert!(ops.iter().any(|o| matches!(
            o,
            SimOp::PowerLoss { .. } | SimOp::ProcessCrash | SimOp::ProcessKill { .. }
        )));
        eprintln!(
            "{name}: {} ops, {} writes acked, {} power losses, {} process crashes, {} kills, {} recoveries, {} flushes",
            ops.len(),
            out.stats.writes_acked,
            out.stats.power_losses,
            out.stats.process_crashes,
            out.stats.process_kills,
            out.stats.recoveries,
            out.stats.flushes
        );
        power_losses += out.stats.power_losses;
        recoveries += out.stats.recoveries;
        flushes += out.stats.flushes;
        reads += out.stats.reads_checked;
        txns += out.stats.txns_begun;
        let s = &out.stats.sim;
        faulted |= s.transient_errors + s.sync_failures + s.bit_flips + s.read_errors > 0;
    }
    assert!(
        power_losses >= files.len() as u64,
        "{power_losses} power losses"
    );
    assert!(recoveries >= 3, "{recoveries} recoveries");
    assert!(flushes >= 3, "{flushes} flushes");
    assert!(reads >= 20, "{reads} reads checked");
    assert!(faulted, "no fault was injected");
    assert!(txns >= files.len() as u64, "{txns} transactions begun");
}

#[test]
fn engine_model_decoding_is_total_and_bounded() {
    // Any bytes decode (short inputs to an empty run) and a run is
    // deterministic: the same input gives the same trace digest.
    let mut rng = SplitMix64::new(7);
    for len in [0usize, 1, 5, 13, 64, 300, 5000] {
        let data = prng_bytes(&mut rng, len);
        let (_, cfg, ops) = engine_model::decode(&data);
        assert!(ops.len() <= engine_model::OPS_MAX);
        assert_eq!(cfg.ops, ops.len());
        let (_, a) = engine_model::execute_input(&data);
        let (_, b) = engine_model::execute_input(&data);
        assert_eq!(a.digest, b.digest, "len {len}");
        assert!(a.failure.is_none(), "len {len}: {:?}", a.failure);
    }
}

#[test]
fn engine_model_seeds_catch_a_lying_disk() {
    // The oracle is live through the fuzz decoding: with syncs that persist
    // nothing, the seeds' power losses must be caught.
    let mut caught = 0;
    for (_, data) in corpus("engine_model") {
        let (seed, mut cfg, ops) = engine_model::decode(&data);
        cfg.disk = strata_sim::DiskModel::LyingSync;
        if strata_sim::execute(seed, &ops, &cfg, false)
            .failure
            .is_some()
        {
            caught += 1;
        }
    }
    assert!(caught >= 3, "only {caught} seeds caught the lying disk");
}
