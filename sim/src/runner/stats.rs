//! Counters of a run, added up over a campaign.

use std::collections::BTreeMap;

use crate::simfs::SimStats;

/// Levels the depth counters distinguish (the engine's seven).
pub const LEVELS_SEEN: usize = 7;

/// Counters of one run (or, added up, a campaign).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    /// Seeds run.
    pub seeds: u64,
    /// Ops executed.
    pub ops: u64,
    /// Writes the Db acknowledged.
    pub writes_acked: u64,
    /// Writes that returned an error.
    pub write_errors: u64,
    /// Reads whose answer was compared with the model.
    pub reads_checked: u64,
    /// Reads that returned an accepted error (a fault was injected).
    pub read_errors: u64,
    /// Power losses, including those inside recovery.
    pub power_losses: u64,
    /// Processes crashed between calls (page cache kept).
    pub process_crashes: u64,
    /// Processes killed inside a call (page cache kept).
    pub process_kills: u64,
    /// Clean closes followed by an open.
    pub clean_reopens: u64,
    /// Recoveries the oracle accepted.
    pub recoveries: u64,
    /// Opens retried after an injected error.
    pub open_retries: u64,
    /// Second opens of the locked directory.
    pub lock_probes: u64,
    /// Repairs run after damage at rest was detected.
    pub repairs: u64,
    /// Of them, those that lost nothing.
    pub repairs_lossless: u64,
    /// Repairs a death interrupted (repair then ran again).
    pub repairs_interrupted: u64,
    /// Checkpoints that returned `Ok`.
    pub checkpoints: u64,
    /// Times a checkpoint was opened and compared with the model (after
    /// it was taken, and after each later recovery).
    pub checkpoint_checks: u64,
    /// `Db::flush` calls.
    pub flushes: u64,
    /// `Db::step_background` calls that did some work.
    pub background_steps: u64,
    /// `Db::compact` calls.
    pub compactions: u64,
    /// Flushes, steps and compactions that returned an error.
    pub background_errors: u64,
    /// `db call:file class` -> count.
    pub crash_sites: BTreeMap<String, u64>,
    /// What the simulated disk did.
    pub sim: SimStats,
    /// Runs that failed.
    pub divergences: u64,
    /// Concurrent runs: commit groups written.
    pub commit_groups: u64,
    /// Reach (concurrent runs): commit groups with two or more members.
    pub groups_shared: u64,
    /// Reach: commit groups mixing durable and buffered members.
    pub groups_mixed: u64,
    /// Reach: deaths while two or more clients were inside a `Db` call.
    pub crashes_with_threads_inside: u64,
    /// Reach: iterators advanced after a flush or compaction replaced
    /// tables under them.
    pub iterators_across_background: u64,
    /// Reach: snapshots read across a compaction.
    pub snapshots_across_compaction: u64,
    /// Reach: writes slowed or stopped by the write throttle.
    pub write_stalls: u64,
    /// Reach: memtable rotations while another write waited to commit.
    pub rotations_racing_writes: u64,
    /// Reach: a client's `close` while another client was inside a call.
    pub closes_with_calls_inside: u64,
    /// Seeds by the deepest level that held tables at some point
    /// (single-threaded runs).
    pub seeds_by_deepest_level: [u64; LEVELS_SEEN],
    /// Tables per level at the end of each seed, added up.
    pub files_per_level: [u64; LEVELS_SEEN],
    /// Damage at rest injected, by `kind:file class`.
    pub at_rest_injected: BTreeMap<String, u64>,
    /// Damage at rest the engine reported, by where it was found (the seed
    /// ends there).
    pub at_rest_detected: BTreeMap<String, u64>,
    /// Durable writes lost to damage in the torn-tail window (undetectable
    /// by design; the seed ends there).
    pub at_rest_undetectable: u64,
    /// Seeds whose liveness phase passed.
    pub liveness_checks: u64,
    /// Background steps the liveness phases took to go idle.
    pub liveness_steps: u64,
    /// Transactions begun.
    pub txns_begun: u64,
    /// Transactions whose commit applied writes.
    pub txns_committed: u64,
    /// Transaction commits refused with `Conflict` (every kind).
    pub txn_conflicts: u64,
    /// Of those, refused as older than the bounded history.
    pub txn_history_exceeded: u64,
    /// Serializable write-skew pairs whose second commit was refused.
    pub skews_refused: u64,
    /// Phantom scenarios whose commit was refused.
    pub phantoms_refused: u64,
}

impl RunStats {
    /// Adds another run's counters.
    pub fn add(&mut self, o: &RunStats) {
        self.seeds += o.seeds;
        self.ops += o.ops;
        self.writes_acked += o.writes_acked;
        self.write_errors += o.write_errors;
        self.reads_checked += o.reads_checked;
        self.read_errors += o.read_errors;
        self.power_losses += o.power_losses;
        self.process_crashes += o.process_crashes;
        self.process_kills += o.process_kills;
        self.clean_reopens += o.clean_reopens;
        self.recoveries += o.recoveries;
        self.open_retries += o.open_retries;
        self.lock_probes += o.lock_probes;
        self.checkpoints += o.checkpoints;
        self.repairs += o.repairs;
        self.repairs_lossless += o.repairs_lossless;
        self.repairs_interrupted += o.repairs_interrupted;
        self.checkpoint_checks += o.checkpoint_checks;
        self.flushes += o.flushes;
        self.background_steps += o.background_steps;
        self.compactions += o.compactions;
        self.background_errors += o.background_errors;
        for (k, v) in &o.crash_sites {
            *self.crash_sites.entry(k.clone()).or_insert(0) += v;
        }
        self.sim.add(&o.sim);
        self.divergences += o.divergences;
        self.commit_groups += o.commit_groups;
        self.groups_shared += o.groups_shared;
        self.groups_mixed += o.groups_mixed;
        self.crashes_with_threads_inside += o.crashes_with_threads_inside;
        self.iterators_across_background += o.iterators_across_background;
        self.snapshots_across_compaction += o.snapshots_across_compaction;
        self.write_stalls += o.write_stalls;
        self.rotations_racing_writes += o.rotations_racing_writes;
        self.closes_with_calls_inside += o.closes_with_calls_inside;
        for (k, v) in &o.at_rest_injected {
            *self.at_rest_injected.entry(k.clone()).or_insert(0) += v;
        }
        for (k, v) in &o.at_rest_detected {
            *self.at_rest_detected.entry(k.clone()).or_insert(0) += v;
        }
        self.at_rest_undetectable += o.at_rest_undetectable;
        self.liveness_checks += o.liveness_checks;
        self.liveness_steps += o.liveness_steps;
        self.txns_begun += o.txns_begun;
        self.txns_committed += o.txns_committed;
        self.txn_conflicts += o.txn_conflicts;
        self.txn_history_exceeded += o.txn_history_exceeded;
        self.skews_refused += o.skews_refused;
        self.phantoms_refused += o.phantoms_refused;
        for i in 0..LEVELS_SEEN {
            self.seeds_by_deepest_level[i] += o.seeds_by_deepest_level[i];
            self.files_per_level[i] += o.files_per_level[i];
        }
    }

    /// Seeds whose tree reached level `level` or deeper.
    pub fn seeds_reaching(&self, level: usize) -> u64 {
        self.seeds_by_deepest_level[level.min(LEVELS_SEEN)..]
            .iter()
            .sum()
    }

    /// The reach counters a concurrent campaign must move, by name, with
    /// their values.
    pub fn reach(&self) -> [(&'static str, u64); 8] {
        [
            ("groups_shared", self.groups_shared),
            ("groups_mixed", self.groups_mixed),
            (
                "crashes_with_threads_inside",
                self.crashes_with_threads_inside,
            ),
            (
                "iterators_across_background",
                self.iterators_across_background,
            ),
            (
                "snapshots_across_compaction",
                self.snapshots_across_compaction,
            ),
            ("write_stalls", self.write_stalls),
            ("rotations_racing_writes", self.rotations_racing_writes),
            ("closes_with_calls_inside", self.closes_with_calls_inside),
        ]
    }
}
