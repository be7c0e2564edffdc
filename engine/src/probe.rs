//! Code probes: named counters on the engine's rare paths, so a simulation
//! campaign can say which of them it reached (the idea is FoundationDB's
//! `CODE_PROBE`).
//!
//! Built without the `probes` feature (the default), [`hit`] is an empty
//! inline function and costs nothing. With it (the simulator enables it),
//! each probe is one relaxed atomic add on a process-wide counter;
//! [`counts`] reads them all. The counters are statistics, not
//! synchronisation: they are not scheduling points under the scheduler build.

#[cfg(feature = "probes")]
use crate::sync::StatCounter;

/// A rare path worth knowing a campaign reached.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Probe {
    /// Recovery cut a torn tail off the last WAL segment.
    WalTornTailTruncated,
    /// A WAL record was found damaged (reported as Corruption).
    CorruptionWal,
    /// A table block, index, filter or footer was found damaged.
    CorruptionTable,
    /// A manifest or `CURRENT` was found damaged.
    CorruptionManifest,
    /// Recovery wrote the replayed WAL as a level-0 table.
    RecoveryFlush,
    /// A memtable was written to level 0.
    Flush,
    /// A table moved to the next level without being rewritten.
    TrivialMove,
    /// A merge wrote into level 1.
    CompactionToL1,
    /// A merge wrote into level 2.
    CompactionToL2,
    /// A merge wrote into level 3.
    CompactionToL3,
    /// A merge wrote into level 4 or deeper.
    CompactionToL4Plus,
    /// A merge dropped a tombstone (nothing older below it).
    TombstoneDropped,
    /// A merge kept a tombstone because older data may exist below.
    TombstoneKept,
    /// A merge kept an older version because a snapshot still reads it.
    VersionKeptForSnapshot,
    /// A writer was slowed because level 0 backed up.
    WriteSlowdown,
    /// A writer stopped until background work caught up.
    WriteStop,
    /// The manifest grew past its limit and was rewritten.
    ManifestRolled,
    /// A table outside the current version was kept because an older
    /// version (an iterator or snapshot) still reads it.
    ObsoleteTableKeptInUse,
    /// A commit group held two or more writes.
    GroupShared,
    /// A commit group mixed durable and buffered writes.
    GroupMixed,
    /// The active memtable was rotated behind a new WAL segment.
    MemtableRotated,
    /// A failure poisoned the database (it refuses writes until reopened).
    Poisoned,
    /// A compaction met a table that a second read confirmed corrupt; its
    /// compactions are skipped for the rest of the open.
    CompactionMetCorruptTable,
    /// A transaction's commit was refused by a conflicting write.
    TxnConflict,
    /// A transaction's commit was refused because it was older than the
    /// bounded conflict history.
    TxnHistoryExceeded,
}

impl Probe {
    /// The probe of a compaction into `output_level`.
    pub fn compaction_to(output_level: usize) -> Probe {
        match output_level {
            0 | 1 => Probe::CompactionToL1,
            2 => Probe::CompactionToL2,
            3 => Probe::CompactionToL3,
            _ => Probe::CompactionToL4Plus,
        }
    }

    /// Every probe, in declaration order.
    pub const ALL: [Probe; 25] = [
        Probe::WalTornTailTruncated,
        Probe::CorruptionWal,
        Probe::CorruptionTable,
        Probe::CorruptionManifest,
        Probe::RecoveryFlush,
        Probe::Flush,
        Probe::TrivialMove,
        Probe::CompactionToL1,
        Probe::CompactionToL2,
        Probe::CompactionToL3,
        Probe::CompactionToL4Plus,
        Probe::TombstoneDropped,
        Probe::TombstoneKept,
        Probe::VersionKeptForSnapshot,
        Probe::WriteSlowdown,
        Probe::WriteStop,
        Probe::ManifestRolled,
        Probe::ObsoleteTableKeptInUse,
        Probe::GroupShared,
        Probe::GroupMixed,
        Probe::MemtableRotated,
        Probe::Poisoned,
        Probe::CompactionMetCorruptTable,
        Probe::TxnConflict,
        Probe::TxnHistoryExceeded,
    ];

    /// The probe's stable name (used in summaries and probe lists).
    pub fn name(self) -> &'static str {
        match self {
            Probe::WalTornTailTruncated => "wal_torn_tail_truncated",
            Probe::CorruptionWal => "corruption_wal",
            Probe::CorruptionTable => "corruption_table",
            Probe::CorruptionManifest => "corruption_manifest",
            Probe::RecoveryFlush => "recovery_flush",
            Probe::Flush => "flush",
            Probe::TrivialMove => "trivial_move",
            Probe::CompactionToL1 => "compaction_to_l1",
            Probe::CompactionToL2 => "compaction_to_l2",
            Probe::CompactionToL3 => "compaction_to_l3",
            Probe::CompactionToL4Plus => "compaction_to_l4_plus",
            Probe::TombstoneDropped => "tombstone_dropped",
            Probe::TombstoneKept => "tombstone_kept",
            Probe::VersionKeptForSnapshot => "version_kept_for_snapshot",
            Probe::WriteSlowdown => "write_slowdown",
            Probe::WriteStop => "write_stop",
            Probe::ManifestRolled => "manifest_rolled",
            Probe::ObsoleteTableKeptInUse => "obsolete_table_kept_in_use",
            Probe::GroupShared => "group_shared",
            Probe::GroupMixed => "group_mixed",
            Probe::MemtableRotated => "memtable_rotated",
            Probe::Poisoned => "poisoned",
            Probe::CompactionMetCorruptTable => "compaction_met_corrupt_table",
            Probe::TxnConflict => "txn_conflict",
            Probe::TxnHistoryExceeded => "txn_history_exceeded",
        }
    }
}

#[cfg(feature = "probes")]
static COUNTS: [StatCounter; Probe::ALL.len()] = [const { StatCounter::new(0) }; Probe::ALL.len()];

/// Counts one pass through `probe`'s path (nothing without the feature).
#[inline(always)]
pub fn hit(probe: Probe) {
    #[cfg(feature = "probes")]
    COUNTS[probe as usize].add(1);
    #[cfg(not(feature = "probes"))]
    let _ = probe;
}

/// Counts one pass through `probe` for each of `items` that `others` lacks
/// (for example the tables a reader keeps alive that the current version
/// no longer lists).
pub fn hit_each_missing<T: Ord>(
    probe: Probe,
    items: &std::collections::BTreeSet<T>,
    others: &std::collections::BTreeSet<T>,
) {
    for _ in items.difference(others) {
        hit(probe);
    }
}

/// Whether this build counts probes.
pub fn enabled() -> bool {
    cfg!(feature = "probes")
}

/// Every probe's name and count so far in this process (all zero without
/// the feature).
pub fn counts() -> Vec<(&'static str, u64)> {
    Probe::ALL
        .iter()
        .map(|&p| {
            #[cfg(feature = "probes")]
            let n = COUNTS[p as usize].get();
            #[cfg(not(feature = "probes"))]
            let n = 0;
            (p.name(), n)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_probe_is_listed_once_with_a_unique_name() {
        for (i, p) in Probe::ALL.iter().enumerate() {
            assert_eq!(*p as usize, i, "{p:?} out of order");
        }
        let mut names: Vec<_> = Probe::ALL.iter().map(|p| p.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Probe::ALL.len());
    }
}
