//! What a running database can say about itself: a typed [`Properties`]
//! snapshot, the same values by name (`Db::property("strata.…")`, in the
//! spirit of RocksDB's property strings), and the approximate on-disk size
//! of a key range.

use std::fmt::Write as _;
use std::ops::Bound;

use crate::sync::atomic::Ordering;
use crate::sync::{lock, read};

use super::state::DbInner;
use super::stats::LevelStats;
use crate::compaction::level_target_bytes;
use crate::error::Result;
use crate::version::LEVELS;

/// A reading of the database's shape, memory and caches (see
/// `Db::properties`). Counters that restart at every open are in
/// [`Stats`](crate::Stats); these describe the present.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Properties {
    /// Files and bytes per level (0..7).
    pub levels: Vec<LevelStats>,
    /// Bytes compaction would have to rewrite to bring every level under
    /// its target: all of level 0 once it reaches its trigger, plus what
    /// each deeper level holds beyond its target.
    pub pending_compaction_bytes: u64,
    /// Whether a flush or compaction is due now.
    pub background_work_pending: bool,
    /// Approximate memory of the active and frozen memtables.
    pub memtable_bytes: u64,
    /// Frozen memtables waiting for their flush.
    pub frozen_memtables: usize,
    /// The block cache's capacity.
    pub block_cache_capacity: u64,
    /// Bytes the block cache holds now.
    pub block_cache_used_bytes: u64,
    /// Data block reads served by the cache, over the tables open now.
    pub block_cache_hits: u64,
    /// Data block reads that went to the disk, over the tables open now.
    pub block_cache_misses: u64,
    /// Tables of the current version.
    pub live_table_files: usize,
    /// Tables no longer in the current version that an iterator still
    /// reads (deleted when it lets go).
    pub obsolete_table_files: usize,
    /// Bytes in the WAL segment being written.
    pub wal_bytes: u64,
    /// The last sequence number readers see.
    pub last_seqno: u64,
    /// Live snapshots (each open transaction holds one).
    pub snapshots: usize,
    /// Tables found corrupt by a compaction since this open.
    pub corrupt_tables: usize,
}

impl Properties {
    /// Cache hits over all data block reads (0 when there were none).
    pub fn block_cache_hit_rate(&self) -> f64 {
        let all = self.block_cache_hits + self.block_cache_misses;
        if all == 0 {
            0.0
        } else {
            self.block_cache_hits as f64 / all as f64
        }
    }

    /// The value named `name` (see `Db::property` for the names).
    pub fn get(&self, name: &str) -> Option<String> {
        let name = name.strip_prefix("strata.")?;
        let level = |prefix: &str| -> Option<usize> {
            let l: usize = name.strip_prefix(prefix)?.parse().ok()?;
            (l < self.levels.len()).then_some(l)
        };
        if let Some(l) = level("num-files-at-level") {
            return Some(self.levels[l].files.to_string());
        }
        if let Some(l) = level("bytes-at-level") {
            return Some(self.levels[l].bytes.to_string());
        }
        Some(match name {
            "estimate-pending-compaction-bytes" => self.pending_compaction_bytes.to_string(),
            "compaction-pending" => u8::from(self.background_work_pending).to_string(),
            "cur-size-all-mem-tables" => self.memtable_bytes.to_string(),
            "num-immutable-mem-table" => self.frozen_memtables.to_string(),
            "block-cache-capacity" => self.block_cache_capacity.to_string(),
            "block-cache-usage" => self.block_cache_used_bytes.to_string(),
            "block-cache-hit-rate" => format!("{:.4}", self.block_cache_hit_rate()),
            "num-live-table-files" => self.live_table_files.to_string(),
            "num-obsolete-table-files" => self.obsolete_table_files.to_string(),
            "wal-bytes" => self.wal_bytes.to_string(),
            "last-sequence" => self.last_seqno.to_string(),
            "num-snapshots" => self.snapshots.to_string(),
            "num-corrupt-tables" => self.corrupt_tables.to_string(),
            "levelstats" => {
                let mut s = String::from("level files bytes\n");
                for (l, ls) in self.levels.iter().enumerate() {
                    let _ = writeln!(s, "{l} {} {}", ls.files, ls.bytes);
                }
                s
            }
            _ => return None,
        })
    }
}

/// Every name `Properties::get` answers (the per-level ones for level 0).
pub const PROPERTY_NAMES: [&str; 16] = [
    "strata.num-files-at-level0",
    "strata.bytes-at-level0",
    "strata.estimate-pending-compaction-bytes",
    "strata.compaction-pending",
    "strata.cur-size-all-mem-tables",
    "strata.num-immutable-mem-table",
    "strata.block-cache-capacity",
    "strata.block-cache-usage",
    "strata.block-cache-hit-rate",
    "strata.num-live-table-files",
    "strata.num-obsolete-table-files",
    "strata.wal-bytes",
    "strata.last-sequence",
    "strata.num-snapshots",
    "strata.num-corrupt-tables",
    "strata.levelstats",
];

impl DbInner {
    pub(super) fn properties(&self) -> Properties {
        let (levels, pending, memtable_bytes, frozen, current) = {
            let st = read(&self.state);
            let levels: Vec<LevelStats> = (0..LEVELS)
                .map(|l| LevelStats {
                    files: st.version.files(l).len(),
                    bytes: st.version.level_bytes(l),
                })
                .collect();
            let c = &self.opts.compaction;
            let mut pending = 0;
            if levels[0].files >= c.l0_compaction_trigger {
                pending += levels[0].bytes;
            }
            for (l, ls) in levels.iter().enumerate().take(LEVELS - 1).skip(1) {
                pending += ls.bytes.saturating_sub(level_target_bytes(c, l));
            }
            let mem = st.active.approximate_memory() as u64
                + st.frozen
                    .iter()
                    .map(|f| f.mem.approximate_memory() as u64)
                    .sum::<u64>();
            (
                levels,
                pending,
                mem,
                st.frozen.len(),
                st.version.live_file_numbers(),
            )
        };
        let in_use = self.live_table_numbers();
        let reads = self.tables.read_stats();
        let blocks = self.tables.blocks();
        Properties {
            live_table_files: current.len(),
            obsolete_table_files: in_use.difference(&current).count(),
            levels,
            pending_compaction_bytes: pending,
            background_work_pending: self.work_pending(),
            memtable_bytes,
            frozen_memtables: frozen,
            block_cache_capacity: blocks.capacity_bytes() as u64,
            block_cache_used_bytes: blocks.used_bytes(),
            block_cache_hits: reads.data_block_reads_cache,
            block_cache_misses: reads.data_block_reads_disk,
            wal_bytes: lock(&self.wal).writer.bytes(),
            last_seqno: self.visible_seqno.load(Ordering::Acquire),
            snapshots: lock(&self.snapshots).values().sum(),
            corrupt_tables: lock(&self.corrupt_tables).len(),
        }
    }

    /// Bytes of table files holding keys in `lo..hi` (`Db::approximate_size`).
    pub(super) fn approximate_size(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<u64> {
        let version = self.read_state().version;
        let lo_key = match lo {
            Bound::Included(k) | Bound::Excluded(k) => k,
            Bound::Unbounded => &[],
        };
        let mut total = 0;
        let mut result = Ok(());
        'levels: for l in 0..LEVELS {
            for f in version.files(l) {
                let below = matches!(hi, Bound::Included(h) if f.smallest_key.as_slice() > h)
                    || matches!(hi, Bound::Excluded(h) if f.smallest_key.as_slice() >= h);
                if below || f.largest_key.as_slice() < lo_key {
                    continue;
                }
                let table = match self.tables.get(f.number) {
                    Ok(t) => t,
                    Err(e) => {
                        result = Err(e);
                        break 'levels;
                    }
                };
                let start = table.approximate_offset_of(lo_key);
                let end = match hi {
                    Bound::Included(h) | Bound::Excluded(h) => table.approximate_offset_of(h),
                    Bound::Unbounded => f.file_bytes,
                };
                total += end.saturating_sub(start);
            }
        }
        self.release_version(version);
        result.map(|()| total)
    }
}
