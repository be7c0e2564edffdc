//! Work counters and the shape of the tree, as [`Db::stats`](super::Db::stats)
//! reports them.

use crate::sync::atomic::{AtomicU64, Ordering};

use super::state::DbInner;
use crate::version::LEVELS;

/// Files and bytes in one level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    /// Tables in the level.
    pub files: usize,
    /// Their total size in bytes.
    pub bytes: u64,
}

/// Counters describing the database's work since this open, and the
/// current shape of the tree.
///
/// The counters are not persisted: every open starts them at zero (the
/// work of recovery, such as its flushes, counts toward the new open). The
/// shape (`levels`) is the durable state and survives reopen. A caller who
/// wants totals across restarts adds up the `Stats` of each run.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Stats {
    /// Key and value bytes handed to write calls.
    pub user_bytes_written: u64,
    /// Bytes appended to WAL segments.
    pub wal_bytes_written: u64,
    /// WAL syncs issued.
    pub wal_syncs: u64,
    /// Commit groups written (writes / groups = average group size).
    pub commit_groups: u64,
    /// Commit groups with two or more members.
    pub commit_groups_shared: u64,
    /// Commit groups mixing `Durable` and `Buffered` members (synced once
    /// for all of them).
    pub commit_groups_mixed: u64,
    /// Active memtables frozen behind a new WAL segment.
    pub memtable_rotations: u64,
    /// Rotations made while another write waited in the commit queue.
    pub rotations_racing_writes: u64,
    /// Bytes of tables written by flushes and compactions.
    pub table_bytes_written: u64,
    /// Memtables written to level 0 (the recovery table at open counts).
    pub flushes: u64,
    /// Merges of tables into a lower level.
    pub compactions: u64,
    /// Tables moved to a lower level without being rewritten.
    pub trivial_moves: u64,
    /// Bytes of input tables read by compactions.
    pub compaction_bytes_read: u64,
    /// Writes delayed because level 0 was backing up.
    pub write_slowdowns: u64,
    /// Times a writer had to wait for flush or compaction to catch up.
    pub write_stops: u64,
    /// Files deleted because nothing referenced them any more.
    pub obsolete_files_deleted: u64,
    /// Tables a compaction found corrupt (confirmed by a second read);
    /// compactions that would read them are skipped until reopen.
    pub corrupt_tables_found: u64,
    /// Transactions whose commit passed its conflict check (read-only
    /// transactions, which commit without one, are not counted).
    pub transactions_committed: u64,
    /// Transaction commits refused with `Conflict`.
    pub transaction_conflicts: u64,
    /// Per level: file count and bytes.
    pub levels: Vec<LevelStats>,
    /// Frozen memtables waiting for flush.
    pub frozen_memtables: usize,
    /// Read counters of the tables open now (data block reads, bloom filter
    /// checks and negatives).
    pub table_reads: crate::sst::TableStats,
}

impl Stats {
    /// (WAL + table bytes written) / user bytes written.
    pub fn write_amplification(&self) -> f64 {
        if self.user_bytes_written == 0 {
            return 0.0;
        }
        (self.wal_bytes_written + self.table_bytes_written) as f64 / self.user_bytes_written as f64
    }
}

/// The live counters behind [`Stats`]; relaxed atomics, read as a whole
/// only for reporting.
#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    pub user_bytes_written: AtomicU64,
    pub wal_bytes_written: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub commit_groups: AtomicU64,
    pub commit_groups_shared: AtomicU64,
    pub commit_groups_mixed: AtomicU64,
    pub memtable_rotations: AtomicU64,
    pub rotations_racing_writes: AtomicU64,
    pub table_bytes_written: AtomicU64,
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub trivial_moves: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub write_slowdowns: AtomicU64,
    pub write_stops: AtomicU64,
    pub obsolete_files_deleted: AtomicU64,
    pub corrupt_tables_found: AtomicU64,
    pub transactions_committed: AtomicU64,
    pub transaction_conflicts: AtomicU64,
}

impl StatsCounters {
    /// Adds `n` to `counter`.
    pub fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Ordering::Relaxed);
    }
}

impl DbInner {
    /// A consistent-enough reading of the counters and the current shape.
    pub(super) fn stats(&self) -> Stats {
        let s = &self.stats;
        // Borrowed, not cloned: a clone of the state could be the last
        // reference to an old version, and dropping it here would not get
        // its tables deleted (`DbInner::release_version`).
        let st = crate::sync::read(&self.state);
        let levels = (0..LEVELS)
            .map(|l| LevelStats {
                files: st.version.files(l).len(),
                bytes: st.version.level_bytes(l),
            })
            .collect();
        let r = |a: &AtomicU64| a.load(Ordering::Relaxed);
        Stats {
            user_bytes_written: r(&s.user_bytes_written),
            wal_bytes_written: r(&s.wal_bytes_written),
            wal_syncs: r(&s.wal_syncs),
            commit_groups: r(&s.commit_groups),
            commit_groups_shared: r(&s.commit_groups_shared),
            commit_groups_mixed: r(&s.commit_groups_mixed),
            memtable_rotations: r(&s.memtable_rotations),
            rotations_racing_writes: r(&s.rotations_racing_writes),
            table_bytes_written: r(&s.table_bytes_written),
            flushes: r(&s.flushes),
            compactions: r(&s.compactions),
            trivial_moves: r(&s.trivial_moves),
            compaction_bytes_read: r(&s.compaction_bytes_read),
            write_slowdowns: r(&s.write_slowdowns),
            write_stops: r(&s.write_stops),
            obsolete_files_deleted: r(&s.obsolete_files_deleted),
            corrupt_tables_found: r(&s.corrupt_tables_found),
            transactions_committed: r(&s.transactions_committed),
            transaction_conflicts: r(&s.transaction_conflicts),
            levels,
            frozen_memtables: st.frozen.len(),
            table_reads: self.tables.read_stats(),
        }
    }
}
