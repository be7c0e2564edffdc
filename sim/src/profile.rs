//! Per-seed configurations: the engine options, the workload's mix and the
//! fault rates a seed runs with.
//!
//! - [`Profile::Default`]: every seed runs the same small configuration
//!   (the one the campaign always ran; its traces and digests are
//!   unchanged).
//! - [`Profile::Swarm`]: each seed draws its own (swarm testing, Groce et
//!   al., ISSTA 2012): engine options, which op kinds and fault kinds are
//!   on and how often, key-space size and value sizes. A seed with some
//!   feature switched off explores the others more deeply, and bugs that
//!   one feature masks show up.
//! - [`Profile::Deep`]: tiny levels, a large key space and a write-heavy
//!   mix, so most seeds build trees of four or more levels (run with more
//!   ops, e.g. `--ops 20000`).
//!
//! The knobs are drawn from their own stream of the seed, so `replay`
//! reproduces them; a failing swarm or deep seed prints them.

use std::fmt;

use strata::RecoveryMode;

use crate::rng::Rng;
use crate::runner::{MemtableChoice, RunConfig, FAULT_RATES_ALL};
use crate::simfs::FaultRates;
use crate::workload::FaultMode;

/// Chance per power loss that synced data is damaged at rest, with
/// `--faults all` (per million): one power loss in fifty.
pub const AT_REST_PER_MILLION: u32 = 20_000;

/// Which configurations a campaign's seeds run with.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum Profile {
    /// One fixed small configuration.
    #[default]
    Default,
    /// A configuration drawn per seed.
    Swarm,
    /// Configurations that build deep trees.
    Deep,
}

/// The kinds of op the generator draws, in the order of their ranges.
pub const OP_KINDS: [&str; 36] = [
    "put",
    "delete",
    "batch",
    "get",
    "range",
    "snapshot",
    "snapshot_get",
    "snapshot_range",
    "drop_snapshot",
    "reopen",
    "lock_probe",
    "process_crash",
    "power_loss",
    "flush",
    "step",
    "compact",
    "power_loss_far",
    "process_kill",
    "get_tail",
    "compact_range",
    "cursor",
    "multi_get",
    "prefix",
    "first_last",
    "properties",
    "read_only_open",
    "checkpoint",
    "txn_begin",
    "txn_get",
    "txn_range",
    "txn_write",
    "txn_transfer",
    "txn_commit",
    "txn_rollback",
    "txn_skew",
    "txn_phantom",
];

/// Weights of [`OP_KINDS`] in the default mix (they add up to 1000, the
/// generator draws from).
pub const DEFAULT_MIX: [u32; OP_KINDS.len()] = [
    250, 80, 80, 122, 90, 20, 60, 30, 10, 10, 3, 4, 8, 5, 48, 3, 4, 4, 20, 2, 20, 10, 10, 10, 5, 4,
    4, 14, 14, 8, 14, 10, 14, 2, 4, 4,
];

/// What the workload generator draws.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct WorkloadKnobs {
    /// Weight per op kind ([`OP_KINDS`]); 0 switches a kind off.
    pub mix: [u32; OP_KINDS.len()],
    /// Keys added to the stress-case key pool (`k` + 6 digits).
    pub extra_keys: u32,
    /// Size of the hot subset 70% of picks come from.
    pub hot_keys: usize,
    /// Values are at most this long (the default pool goes to 9,000).
    pub value_len_max: u32,
}

impl Default for WorkloadKnobs {
    fn default() -> Self {
        WorkloadKnobs {
            mix: DEFAULT_MIX,
            extra_keys: 0,
            hot_keys: 12,
            value_len_max: u32::MAX,
        }
    }
}

/// Everything a seed's run is configured with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Knobs {
    /// Memtable implementation.
    pub memtable: MemtableChoice,
    /// `Options::memtable_bytes_max`.
    pub memtable_bytes_max: usize,
    /// `Options::frozen_memtables_max`.
    pub frozen_memtables_max: usize,
    /// `TableOptions::block_bytes_target`.
    pub block_bytes_target: usize,
    /// `TableOptions::restart_interval`.
    pub restart_interval: usize,
    /// `TableOptions::bloom_bits_per_key` (0: no filter).
    pub bloom_bits_per_key: u32,
    /// LZ4 on data and index blocks.
    pub compression: bool,
    /// `CompactionOptions::l0_compaction_trigger`.
    pub l0_compaction_trigger: usize,
    /// `CompactionOptions::l0_slowdown_trigger`.
    pub l0_slowdown_trigger: usize,
    /// `CompactionOptions::l0_stop_trigger`.
    pub l0_stop_trigger: usize,
    /// `CompactionOptions::level1_bytes_target`.
    pub level1_bytes_target: u64,
    /// `CompactionOptions::level_size_multiplier`.
    pub level_size_multiplier: u64,
    /// `CompactionOptions::target_file_bytes`.
    pub target_file_bytes: u64,
    /// `Options::block_cache_bytes`.
    pub block_cache_bytes: usize,
    /// `Options::manifest_bytes_max`.
    pub manifest_bytes_max: u64,
    /// `Options::recovery`.
    pub recovery: RecoveryMode,
    /// `Options::transaction_history_max`.
    pub transaction_history_max: usize,
    /// Fault rates while faults are on.
    pub faults: FaultRates,
    /// Chance per power loss (per million) that synced bytes of a table or
    /// WAL segment are damaged before the next open.
    pub at_rest_per_million: u32,
    /// The workload's mix, keys and values.
    pub workload: WorkloadKnobs,
}

impl Knobs {
    /// The knobs of `seed` under `cfg` (its profile, memtable and faults).
    pub fn draw(seed: u64, cfg: &RunConfig) -> Knobs {
        let base = Knobs::default_for(cfg);
        match cfg.profile {
            Profile::Default => base,
            Profile::Swarm => swarm(&mut Rng::derive(seed, 20), cfg, base),
            Profile::Deep => deep(&mut Rng::derive(seed, 20), base),
        }
    }

    /// The fixed configuration of the default profile.
    fn default_for(cfg: &RunConfig) -> Knobs {
        Knobs {
            memtable: cfg.memtable,
            memtable_bytes_max: 16 * 1024,
            frozen_memtables_max: 4,
            block_bytes_target: 1024,
            restart_interval: 4,
            bloom_bits_per_key: 10,
            compression: true,
            l0_compaction_trigger: 2,
            l0_slowdown_trigger: 4,
            l0_stop_trigger: 6,
            level1_bytes_target: 64 * 1024,
            level_size_multiplier: 4,
            target_file_bytes: 16 * 1024,
            block_cache_bytes: 256 * 1024,
            manifest_bytes_max: 8 * 1024,
            recovery: RecoveryMode::TruncateTornTail,
            transaction_history_max: 1 << 16,
            faults: match cfg.faults {
                FaultMode::All => FAULT_RATES_ALL,
                _ => FaultRates::default(),
            },
            at_rest_per_million: match cfg.faults {
                FaultMode::All => AT_REST_PER_MILLION,
                _ => 0,
            },
            workload: WorkloadKnobs::default(),
        }
    }
}

/// A value in `lo..=hi`, skewed towards small ones (log-uniform).
fn log_range(rng: &mut Rng, lo: u64, hi: u64) -> u64 {
    let bits_lo = 64 - lo.max(1).leading_zeros() as u64;
    let bits_hi = 64 - hi.leading_zeros() as u64;
    let bits = rng.range_inclusive(bits_lo, bits_hi);
    let top = (1u64 << bits).saturating_sub(1).min(hi);
    let bottom = (1u64 << (bits - 1)).max(lo);
    rng.range_inclusive(bottom.min(top), top)
}

/// `rate` scaled by a factor from 1/4 to 4, or switched off.
fn swarm_rate(rng: &mut Rng, rate: u32) -> u32 {
    match rng.below(4) {
        0 => 0,
        _ => (u64::from(rate) * rng.range_inclusive(1, 16) / 4) as u32,
    }
}

fn swarm(rng: &mut Rng, cfg: &RunConfig, mut k: Knobs) -> Knobs {
    k.memtable = if rng.coin() {
        MemtableChoice::Art
    } else {
        MemtableChoice::Btree
    };
    k.memtable_bytes_max = log_range(rng, 1024, 256 * 1024) as usize;
    k.frozen_memtables_max = rng.range_inclusive(1, 6) as usize;
    k.block_bytes_target = log_range(rng, 64, 16 * 1024) as usize;
    k.restart_interval = log_range(rng, 1, 64) as usize;
    k.bloom_bits_per_key = [0, 1, 4, 10, 20][rng.index(5)];
    k.compression = rng.coin();
    k.l0_compaction_trigger = rng.range_inclusive(1, 8) as usize;
    k.l0_slowdown_trigger = k.l0_compaction_trigger + rng.range_inclusive(0, 6) as usize;
    k.l0_stop_trigger = k.l0_slowdown_trigger + rng.range_inclusive(0, 6) as usize;
    k.level1_bytes_target = log_range(rng, 4 * 1024, 512 * 1024);
    k.level_size_multiplier = rng.range_inclusive(2, 10);
    k.target_file_bytes = log_range(rng, 1024, 128 * 1024);
    k.block_cache_bytes = [0, 4 * 1024, 64 * 1024, 1 << 20][rng.index(4)];
    k.manifest_bytes_max = log_range(rng, 512, 64 * 1024);
    // Strict recovery refuses the torn tails a crash leaves: only for
    // seeds without crashes.
    if cfg.faults == FaultMode::None && rng.coin() {
        k.recovery = RecoveryMode::Strict;
    }
    if cfg.faults == FaultMode::All {
        let r = FAULT_RATES_ALL;
        k.at_rest_per_million = [0, 50_000, 200_000, 500_000][rng.index(4)];
        k.faults = FaultRates {
            transient_per_million: swarm_rate(rng, r.transient_per_million),
            sync_failure_per_million: swarm_rate(rng, r.sync_failure_per_million),
            bit_flip_per_million: swarm_rate(rng, r.bit_flip_per_million),
            read_error_per_million: swarm_rate(rng, r.read_error_per_million),
        };
    }
    let w = &mut k.workload;
    for (i, weight) in w.mix.iter_mut().enumerate() {
        // Puts, gets and background steps stay on; any other kind may be
        // switched off; the rest are scaled by 1/4 to 3.
        let essential = matches!(OP_KINDS[i], "put" | "get" | "step");
        if !essential && rng.below(4) == 0 {
            *weight = 0;
        } else {
            *weight = ((u64::from(*weight) * rng.range_inclusive(1, 12)) / 4).max(1) as u32;
        }
    }
    w.extra_keys = [0, 0, 50, 500, 3000][rng.index(5)];
    w.hot_keys = log_range(rng, 1, 200) as usize;
    w.value_len_max = [16, 256, 4096, u32::MAX][rng.index(4)];
    // A small conflict history makes old transactions fail with
    // `HistoryExceeded`, which the runner allows only when enough writes
    // came after the oldest open transaction's snapshot.
    k.transaction_history_max = [4, 16, 64, 1 << 16][rng.index(4)];
    k
}

fn deep(rng: &mut Rng, mut k: Knobs) -> Knobs {
    k.memtable_bytes_max = 4 * 1024;
    k.block_bytes_target = 512;
    k.l0_compaction_trigger = 2;
    k.l0_slowdown_trigger = 6;
    k.l0_stop_trigger = 8;
    k.level1_bytes_target = rng.range_inclusive(4, 8) * 1024;
    k.level_size_multiplier = rng.range_inclusive(2, 3);
    k.target_file_bytes = 2 * 1024;
    k.manifest_bytes_max = 16 * 1024;
    let w = &mut k.workload;
    // Mostly writes and background steps; crashes and reopens rarer, so
    // the tree has time to grow between recoveries.
    for (i, weight) in w.mix.iter_mut().enumerate() {
        *weight = match OP_KINDS[i] {
            "put" => 450,
            "step" => 120,
            "reopen" | "process_crash" | "power_loss" | "power_loss_far" | "process_kill" => {
                (*weight).div_ceil(4)
            }
            _ => *weight,
        };
    }
    w.extra_keys = 1000;
    w.hot_keys = 40;
    w.value_len_max = 512;
    k
}

impl fmt::Display for Knobs {
    /// One line, for failure reports and traces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "memtable={:?} memtable_bytes_max={} frozen_max={} block={} restart={} bloom={} \
             lz4={} l0={}/{}/{} l1={} mult={} file={} cache={} manifest={} recovery={:?} \
             txn_history={} faults(transient={} fsync={} flip={} read={} at_rest={}) keys(+{} hot={}) value_max={} mix={:?}",
            self.memtable,
            self.memtable_bytes_max,
            self.frozen_memtables_max,
            self.block_bytes_target,
            self.restart_interval,
            self.bloom_bits_per_key,
            self.compression,
            self.l0_compaction_trigger,
            self.l0_slowdown_trigger,
            self.l0_stop_trigger,
            self.level1_bytes_target,
            self.level_size_multiplier,
            self.target_file_bytes,
            self.block_cache_bytes,
            self.manifest_bytes_max,
            self.recovery,
            self.transaction_history_max,
            self.faults.transient_per_million,
            self.faults.sync_failure_per_million,
            self.faults.bit_flip_per_million,
            self.faults.read_error_per_million,
            self.at_rest_per_million,
            self.workload.extra_keys,
            self.workload.hot_keys,
            self.workload.value_len_max,
            self.workload.mix
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_default_mix_is_the_generators_old_thousand() {
        assert_eq!(DEFAULT_MIX.iter().sum::<u32>(), 1000);
    }

    #[test]
    fn swarm_knobs_vary_by_seed_and_replay() {
        let cfg = RunConfig {
            profile: Profile::Swarm,
            ..RunConfig::default()
        };
        assert_eq!(Knobs::draw(3, &cfg), Knobs::draw(3, &cfg));
        let distinct: std::collections::BTreeSet<String> =
            (0..50).map(|s| Knobs::draw(s, &cfg).to_string()).collect();
        assert_eq!(distinct.len(), 50);
        let def = RunConfig::default();
        assert_eq!(Knobs::draw(3, &def), Knobs::draw(4, &def));
    }

    #[test]
    fn log_range_stays_in_bounds() {
        let mut rng = Rng::new(1);
        for _ in 0..10_000 {
            let v = log_range(&mut rng, 64, 16 * 1024);
            assert!((64..=16 * 1024).contains(&v), "{v}");
        }
    }
}
