//! The mutation campaign's detector: short simulation campaigns that stop
//! at the first failing seed, sized so that a clean run (beside the
//! engine's unit tests, which `.cargo/mutants.toml` runs with it) takes
//! well under a minute on two cores in the `mutants` profile.
//!
//! cargo-mutants runs `cargo test` for every mutant, not a script; this
//! test target is what it runs from the simulator (`--test detect`). Each
//! stage is its own test, so a run's log says which stage caught a mutant.
//! The seed ranges are fixed: a mutant caught once is caught every time.

use strata_sim::{run_seed, FaultMode, Profile, RunConfig};

/// Runs seeds `start..start + n` of `cfg` and panics at the first failure,
/// naming the seed and the command that replays it.
fn campaign(cfg: RunConfig, start: u64, n: u64) {
    for seed in start..start + n {
        let out = run_seed(seed, &cfg, false);
        if let Some(f) = out.failure {
            panic!(
                "seed {seed} ({:?} profile) failed at op {}: {}\n  replay: strata-sim replay --seed {seed} --ops {} --faults {:?} --profile {:?} --trace",
                cfg.profile, f.op_index, f.message, cfg.ops, cfg.faults, cfg.profile
            );
        }
    }
}

/// The default configuration: every fault, the any-subset disk.
#[test]
fn detect_default_campaign() {
    campaign(RunConfig::default(), 0, 800);
}

/// Crashes without other faults: recoveries must hold every durable write.
#[test]
fn detect_crash_campaign() {
    let cfg = RunConfig {
        faults: FaultMode::Crash,
        ..RunConfig::default()
    };
    campaign(cfg, 1000, 400);
}

/// A configuration per seed (small histories, block sizes, triggers).
#[test]
fn detect_swarm_campaign() {
    let cfg = RunConfig {
        profile: Profile::Swarm,
        ..RunConfig::default()
    };
    campaign(cfg, 2000, 600);
}

/// Deep trees: compactions down to level 3 and beyond.
#[test]
fn detect_deep_campaign() {
    let cfg = RunConfig {
        ops: 3000,
        profile: Profile::Deep,
        ..RunConfig::default()
    };
    campaign(cfg, 3000, 60);
}
