//! Writing new tables: a flushed memtable becomes one level-0 table, and
//! compaction outputs are created the same way.
//!
//! Nothing here knows the database's state: callers pass the memtable, the
//! live snapshots and where files go, and install the result themselves
//! (`db/background.rs` after a flush, `db/open.rs` for the recovery table).

use crate::sync::atomic::{AtomicU64, Ordering};
use std::ops::{Bound, ControlFlow};
use std::path::Path;

use crate::error::{Error, Result};
use crate::filename::table_file_name;
use crate::fs::{FileSystem, OpenMode};
use crate::gc::entries_to_keep;
use crate::memtable::Memtable;
use crate::sst::{TableBuilder, TableOptions, TableSummary};
use crate::types::{Direction, SeqNo};
use crate::version::FileMeta;

/// Where new tables are created: the file system, the database directory,
/// the table options and the counter that hands out file numbers.
#[derive(Clone, Copy)]
pub(crate) struct TableFiles<'a> {
    pub fs: &'a dyn FileSystem,
    pub dir: &'a Path,
    pub options: TableOptions,
    pub next_file_number: &'a AtomicU64,
}

impl TableFiles<'_> {
    /// Creates the next numbered table file and a builder writing it.
    pub fn create(&self) -> Result<(u64, TableBuilder)> {
        let number = self.next_file_number.fetch_add(1, Ordering::SeqCst);
        let path = self.dir.join(table_file_name(number));
        let file = self
            .fs
            .open(&path, OpenMode::CreateNew)
            .map_err(|e| Error::io(&path, e))?;
        Ok((number, TableBuilder::new(file, path, number, self.options)))
    }

    /// Syncs the directory, making the names of finished tables durable.
    pub fn sync_dir(&self) -> Result<()> {
        self.fs
            .sync_dir(self.dir)
            .map_err(|e| Error::io(self.dir, e))
    }
}

/// The manifest's record of table `number` as the builder summarised it.
pub(crate) fn file_meta(number: u64, s: &TableSummary) -> FileMeta {
    FileMeta {
        number,
        file_bytes: s.file_bytes,
        smallest_key: s.smallest_key.clone(),
        largest_key: s.largest_key.clone(),
        seqno_min: s.seqno_min,
        seqno_max: s.seqno_max,
        entries: s.entries,
    }
}

/// Writes `mem` (not empty) as one new table, synced (the caller syncs the
/// directory). Keeps every version a reader at one of `snapshots`
/// (ascending) or at the latest state may see; tombstones stay, as older
/// data may sit in the tables below.
pub(crate) fn write_memtable(
    files: &TableFiles<'_>,
    mem: &dyn Memtable,
    snapshots: &[SeqNo],
) -> Result<FileMeta> {
    let (number, mut builder) = files.create()?;
    let mut failure: Option<Error> = None;
    mem.scan(
        Bound::Unbounded,
        Bound::Unbounded,
        Direction::Forward,
        &mut |key, versions| {
            let seqnos: Vec<SeqNo> = versions.iter().map(|v| v.seqno).collect();
            let keep = entries_to_keep(&seqnos, &|i| versions[i].value.is_none(), snapshots, false);
            for (v, k) in versions.iter().zip(keep) {
                if k {
                    if let Err(e) = builder.add(key, v.seqno, v.value) {
                        failure = Some(e);
                        return ControlFlow::Break(());
                    }
                }
            }
            ControlFlow::Continue(())
        },
    );
    if let Some(e) = failure {
        return Err(e);
    }
    let summary = builder.finish()?;
    Ok(file_meta(number, &summary))
}
