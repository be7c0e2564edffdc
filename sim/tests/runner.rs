//! The runner against the real engine: determinism, the checker catching a
//! lying disk, clean runs passing, crash counts, and the shrinker.

use strata_sim::shrink::{regression_test, shrink};
use strata_sim::{execute, generate, run_seed, DiskModel, FaultMode, MemtableChoice, RunConfig};

fn cfg(ops: usize, faults: FaultMode, disk: DiskModel) -> RunConfig {
    RunConfig {
        ops,
        memtable: MemtableChoice::Btree,
        faults,
        disk,
        profile: Default::default(),
    }
}

#[test]
fn a_seed_replays_byte_for_byte() {
    for faults in [FaultMode::Crash, FaultMode::All] {
        let c = cfg(400, faults, DiskModel::Full);
        let a = run_seed(7, &c, true);
        let b = run_seed(7, &c, true);
        assert_eq!(a.digest, b.digest);
        assert_eq!(a.trace, b.trace);
        assert_eq!(a.stats, b.stats);
        assert_eq!(a.failure, b.failure);
        assert!(a.trace.len() > 400, "trace has a line per op at least");
        assert_ne!(a.digest, run_seed(8, &c, false).digest);
    }
}

#[test]
fn clean_runs_without_faults_match_the_model() {
    let c = cfg(400, FaultMode::None, DiskModel::Full);
    for seed in 0..6 {
        let out = run_seed(seed, &c, false);
        assert!(out.failure.is_none(), "seed {seed}: {:?}", out.failure);
        assert_eq!(out.stats.power_losses, 0);
        assert!(out.stats.reads_checked > 50);
        assert!(out.stats.clean_reopens > 0);
    }
}

#[test]
fn power_losses_with_prefix_loss_recover_to_an_acceptable_prefix() {
    let c = cfg(500, FaultMode::Crash, DiskModel::Prefix);
    let mut power_losses = 0;
    for seed in 0..8 {
        let out = run_seed(seed, &c, false);
        assert!(out.failure.is_none(), "seed {seed}: {:?}", out.failure);
        power_losses += out.stats.power_losses;
        let st = &out.stats;
        assert!(st.recoveries >= st.process_crashes + st.clean_reopens);
        assert!(st.recoveries + crashes_inside_recovery(st) >= st.power_losses);
    }
    assert!(
        power_losses >= 8 * 3,
        "at least 3 power losses per seed: {power_losses}"
    );
}

/// Power losses that landed in `open` do not add a recovery of their own.
fn crashes_inside_recovery(s: &strata_sim::RunStats) -> u64 {
    s.crash_sites
        .iter()
        .filter(|(k, _)| k.starts_with("open:"))
        .map(|(_, v)| v)
        .sum()
}

#[test]
fn the_checker_catches_a_disk_whose_fsync_lies() {
    let c = cfg(400, FaultMode::Crash, DiskModel::LyingSync);
    let mut caught = 0;
    for seed in 0..10 {
        let out = run_seed(seed, &c, false);
        if let Some(f) = out.failure {
            caught += 1;
            assert!(
                f.message.contains("crash oracle") || f.message.contains("recovery failed"),
                "{}",
                f.message
            );
        }
    }
    assert!(caught >= 8, "only {caught} of 10 lying-disk seeds failed");
}

#[test]
fn shrinking_keeps_the_failure_and_prints_a_test() {
    let c = cfg(300, FaultMode::Crash, DiskModel::LyingSync);
    let seed = (0..20)
        .find(|&s| run_seed(s, &c, false).failure.is_some())
        .expect("a lying disk fails some seed");
    let ops = generate(seed, c.ops, c.faults);
    let s = shrink(seed, &ops, &c, 300).expect("fails");
    assert!(s.ops.len() < ops.len() / 4, "{} ops left", s.ops.len());
    assert!(execute(seed, &s.ops, &c, false).failure.is_some());
    let text = regression_test(seed, &s.ops, &c, &s.message);
    assert!(text.contains(&format!("fn sim_regression_seed_{seed}()")));
    assert!(text.contains("DiskModel::LyingSync"));
    assert_eq!(text.matches("        SimOp::").count(), s.ops.len());
}

/// Damage at rest is injected after power losses with `--faults all`, and
/// every seed either reports it (and ends) or still matches the model.
#[test]
fn damage_at_rest_is_detected_or_harmless() {
    let c = RunConfig {
        profile: strata_sim::Profile::Swarm,
        ..cfg(600, FaultMode::All, DiskModel::Full)
    };
    let mut injected = 0;
    let mut detected = 0;
    for seed in 0..60 {
        let out = run_seed(seed, &c, false);
        assert!(out.failure.is_none(), "seed {seed}: {:?}", out.failure);
        injected += out.stats.at_rest_injected.values().sum::<u64>();
        detected += out.stats.at_rest_detected.values().sum::<u64>();
    }
    assert!(injected >= 10, "only {injected} damages in 60 swarm seeds");
    assert!(
        detected >= 5,
        "only {detected} of {injected} damages detected"
    );
}
