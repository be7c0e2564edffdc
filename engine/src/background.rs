//! Flush, compaction and obsolete-file deletion: the background work.
//!
//! Each unit of work is one call of [`DbInner::step`], so the simulator can
//! drive it step by step and crash inside it. All units run under
//! `bg_work`, so the version changes one edit at a time.
//!
//! Durability order of a flush: write the table, sync it (`finish`), sync
//! the directory, append the version edit to the manifest (synced), install
//! it, and only then delete the WAL segments it covered. A compaction writes
//! and syncs its outputs and the directory before its edit, and deletes its
//! inputs only after the edit is durable and no live version references them.

use std::collections::BTreeSet;
use std::ops::{Bound, ControlFlow};
use std::path::Path;
use std::sync::atomic::Ordering;
use std::sync::Arc;

use crate::compaction::{choose, CompactionChoice};
use crate::db::{lock, DbInner, Frozen};
use crate::error::{Error, Result};
use crate::filename::{parse_file_name, table_file_name, FileKind};
use crate::fs::{FileSystem, OpenMode};
use crate::gc::versions_to_keep;
use crate::memtable::Memtable;
use crate::sst::{TableBuilder, TableIter, TableOptions, TableSummary};
use crate::types::{Direction, SeqNo};
use crate::version::{FileMeta, Version, VersionEdit};

/// What one background step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackgroundStep {
    /// Nothing to do.
    Idle,
    /// A frozen memtable became table `file_number` at level 0 (`None` if
    /// it was empty and only the WAL was retired).
    Flushed {
        file_number: Option<u64>,
        entries: u64,
    },
    /// A file changed level without being rewritten.
    Moved {
        file_number: u64,
        from_level: usize,
        to_level: usize,
    },
    /// Files were merged into new files at `output_level`.
    Compacted {
        level: usize,
        output_level: usize,
        inputs: usize,
        outputs: usize,
    },
}

pub(crate) fn meta_from(number: u64, s: &TableSummary) -> FileMeta {
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

/// Creates table file `number` in `dir` and a builder writing it.
fn new_table_builder(
    fs: &dyn FileSystem,
    dir: &Path,
    table: TableOptions,
    number: u64,
) -> Result<TableBuilder> {
    let path = dir.join(table_file_name(number));
    let file = fs
        .open(&path, OpenMode::CreateNew)
        .map_err(|e| Error::io(&path, e))?;
    Ok(TableBuilder::new(file, path, table))
}

/// Writes `mem` as table `number` (synced), keeping every version a reader
/// at one of `snapshots` (ascending) or at the latest state may need.
/// Tombstones stay: older data may sit in the tables below.
pub(crate) fn write_memtable(
    fs: &dyn FileSystem,
    dir: &Path,
    table: TableOptions,
    mem: &dyn Memtable,
    number: u64,
    snapshots: &[SeqNo],
) -> Result<TableSummary> {
    let mut builder = new_table_builder(fs, dir, table, number)?;
    let mut failure: Option<Error> = None;
    mem.scan(
        Bound::Unbounded,
        Bound::Unbounded,
        Direction::Forward,
        &mut |key, versions| {
            let seqnos: Vec<SeqNo> = versions.iter().map(|v| v.seqno).collect();
            let keep =
                versions_to_keep(&seqnos, &|i| versions[i].value.is_none(), snapshots, false);
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
    builder.finish()
}

impl DbInner {
    /// The background thread: runs steps while there is work, sleeps on the
    /// signal otherwise.
    pub(crate) fn background_loop(self: Arc<Self>) {
        loop {
            {
                let mut flags = lock(&self.bg_signal.state);
                while !flags.pending && !flags.shutdown {
                    flags = self
                        .bg_signal
                        .wake
                        .wait(flags)
                        .unwrap_or_else(|p| p.into_inner());
                }
                if flags.shutdown {
                    return;
                }
                flags.pending = false;
            }
            loop {
                if lock(&self.bg_signal.state).shutdown {
                    return;
                }
                match self.step() {
                    Ok(BackgroundStep::Idle) => break,
                    Ok(_) => self.bg_signal.wake.notify_all(),
                    // `step` poisoned the database; writers see it.
                    Err(_) => break,
                }
            }
        }
    }

    /// One unit of work: flush the oldest frozen memtable, else one
    /// compaction, else delete obsolete files.
    pub(crate) fn step(&self) -> Result<BackgroundStep> {
        let _work = lock(&self.bg_work);
        let result = self.step_locked();
        if let Err(e) = &result {
            self.poison(e);
        }
        result
    }

    /// Flushes one frozen memtable if any (and nothing else).
    pub(crate) fn flush_step(&self) -> Result<BackgroundStep> {
        let _work = lock(&self.bg_work);
        self.check_writable()?;
        let result = match self.read_state().frozen.first().cloned() {
            Some(f) => self.flush_one(&f),
            None => Ok(BackgroundStep::Idle),
        };
        if let Err(e) = &result {
            self.poison(e);
        }
        result
    }

    fn step_locked(&self) -> Result<BackgroundStep> {
        self.check_writable()?;
        let st = self.read_state();
        if let Some(f) = st.frozen.first().cloned() {
            return self.flush_one(&f);
        }
        if self.compactions_paused.load(Ordering::SeqCst) > 0 {
            return Ok(BackgroundStep::Idle);
        }
        match choose(&st.version, &self.opts.compaction) {
            CompactionChoice::Nothing => Ok(BackgroundStep::Idle),
            CompactionChoice::TrivialMove {
                level,
                file_number,
                to_level,
            } => self.trivial_move(&st.version, level, file_number, to_level),
            CompactionChoice::Merge {
                level,
                inputs,
                lower_inputs,
                output_level,
                ..
            } => self.merge(&st.version, level, &inputs, &lower_inputs, output_level),
        }
    }

    fn new_table_builder(&self, number: u64) -> Result<TableBuilder> {
        new_table_builder(&*self.fs, &self.dir, self.opts.table, number)
    }

    fn sync_dir(&self) -> Result<()> {
        self.fs
            .sync_dir(&self.dir)
            .map_err(|e| Error::io(&self.dir, e))
    }

    /// Writes `frozen` as a level-0 table and retires the WAL it covered.
    fn flush_one(&self, frozen: &Frozen) -> Result<BackgroundStep> {
        let mut meta = None;
        let mut entries = 0;
        if !frozen.mem.is_empty() {
            let number = self.next_file_number.fetch_add(1, Ordering::SeqCst);
            let summary = self.write_memtable(&*frozen.mem, number)?;
            self.sync_dir()?;
            self.stats
                .table_bytes_written
                .fetch_add(summary.file_bytes, Ordering::Relaxed);
            entries = summary.entries;
            meta = Some(meta_from(number, &summary));
        }
        let file_number = meta.as_ref().map(|m| m.number);
        let edit = VersionEdit {
            added: meta.into_iter().map(|m| (0, m)).collect(),
            removed: Vec::new(),
            log_number: Some(frozen.next_log),
            next_file_number: Some(self.next_file_number.load(Ordering::SeqCst)),
            last_seqno: Some(frozen.seqno_max),
        };
        let mem = frozen.mem.clone();
        self.log_and_apply(&edit, &mut |st| {
            let first = st.frozen.remove(0);
            debug_assert!(Arc::ptr_eq(&first.mem, &mem));
        })?;
        self.stats.flushes.fetch_add(1, Ordering::Relaxed);
        self.delete_obsolete_files();
        Ok(BackgroundStep::Flushed {
            file_number,
            entries,
        })
    }

    /// Writes every version some reader may need.
    fn write_memtable(&self, mem: &dyn Memtable, number: u64) -> Result<TableSummary> {
        let snapshots = self.snapshot_seqnos();
        write_memtable(
            &*self.fs,
            &self.dir,
            self.opts.table,
            mem,
            number,
            &snapshots,
        )
    }

    fn trivial_move(
        &self,
        version: &Version,
        level: usize,
        file_number: u64,
        to_level: usize,
    ) -> Result<BackgroundStep> {
        let meta = version
            .files(level)
            .iter()
            .find(|f| f.number == file_number)
            .ok_or_else(|| {
                Error::InvalidArgument(format!("file {file_number} is not in level {level}"))
            })?;
        let edit = VersionEdit {
            added: vec![(to_level, (**meta).clone())],
            removed: vec![(level, file_number)],
            ..VersionEdit::default()
        };
        self.log_and_apply(&edit, &mut |_| {})?;
        self.stats.trivial_moves.fetch_add(1, Ordering::Relaxed);
        Ok(BackgroundStep::Moved {
            file_number,
            from_level: level,
            to_level,
        })
    }

    /// Merges the input files into new files at `output_level`, keeping
    /// only versions a reader may need and dropping tombstones where no
    /// older data can exist below.
    fn merge(
        &self,
        version: &Arc<Version>,
        level: usize,
        inputs: &[u64],
        lower_inputs: &[u64],
        output_level: usize,
    ) -> Result<BackgroundStep> {
        let find = |lvl: usize, n: u64| -> Result<Arc<FileMeta>> {
            version
                .files(lvl)
                .iter()
                .find(|f| f.number == n)
                .cloned()
                .ok_or_else(|| Error::InvalidArgument(format!("file {n} is not in level {lvl}")))
        };
        let mut metas = Vec::new();
        for &n in inputs {
            metas.push((level, find(level, n)?));
        }
        for &n in lower_inputs {
            metas.push((level + 1, find(level + 1, n)?));
        }
        let mut iters: Vec<TableIter> = Vec::with_capacity(metas.len());
        for (_, m) in &metas {
            let table = self.tables.get(m.number)?;
            let mut it = table.iter();
            it.seek_to_first()?;
            iters.push(it);
            self.stats
                .compaction_bytes_read
                .fetch_add(m.file_bytes, Ordering::Relaxed);
        }
        let snapshots = self.snapshot_seqnos();
        let target = self.opts.compaction.target_file_bytes;
        let mut outputs: Vec<FileMeta> = Vec::new();
        let mut builder: Option<(u64, TableBuilder)> = None;
        let mut key: Vec<u8> = Vec::new();
        let mut versions: Vec<(SeqNo, Option<Vec<u8>>)> = Vec::new();
        loop {
            // The smallest internal key among the inputs: user key ascending,
            // sequence number descending. Sequence numbers are unique.
            let mut best: Option<usize> = None;
            for (i, it) in iters.iter().enumerate() {
                if !it.valid() {
                    continue;
                }
                best = match best {
                    None => Some(i),
                    Some(b) => {
                        let cur = &iters[b];
                        let ord = it
                            .user_key()
                            .cmp(cur.user_key())
                            .then(cur.seqno().cmp(&it.seqno()));
                        Some(if ord.is_lt() { i } else { b })
                    }
                };
            }
            let next_key_differs = match best {
                Some(b) => iters[b].user_key() != key.as_slice(),
                None => true,
            };
            if next_key_differs && !versions.is_empty() {
                self.emit_key(
                    &key,
                    &versions,
                    &snapshots,
                    version,
                    output_level,
                    &mut builder,
                    &mut outputs,
                    target,
                )?;
                versions.clear();
            }
            let Some(b) = best else { break };
            let it = &mut iters[b];
            if next_key_differs {
                key.clear();
                key.extend_from_slice(it.user_key());
            }
            versions.push((it.seqno(), it.value().map(<[u8]>::to_vec)));
            it.next()?;
        }
        if let Some((number, b)) = builder.take() {
            let summary = b.finish()?;
            self.stats
                .table_bytes_written
                .fetch_add(summary.file_bytes, Ordering::Relaxed);
            outputs.push(meta_from(number, &summary));
        }
        self.sync_dir()?;
        let edit = VersionEdit {
            added: outputs.iter().map(|m| (output_level, m.clone())).collect(),
            removed: metas.iter().map(|(l, m)| (*l, m.number)).collect(),
            next_file_number: Some(self.next_file_number.load(Ordering::SeqCst)),
            ..VersionEdit::default()
        };
        self.log_and_apply(&edit, &mut |_| {})?;
        self.stats.compactions.fetch_add(1, Ordering::Relaxed);
        self.delete_obsolete_files();
        Ok(BackgroundStep::Compacted {
            level,
            output_level,
            inputs: metas.len(),
            outputs: outputs.len(),
        })
    }

    #[allow(clippy::too_many_arguments)]
    fn emit_key(
        &self,
        key: &[u8],
        versions: &[(SeqNo, Option<Vec<u8>>)],
        snapshots: &[SeqNo],
        version: &Version,
        output_level: usize,
        builder: &mut Option<(u64, TableBuilder)>,
        outputs: &mut Vec<FileMeta>,
        target: u64,
    ) -> Result<()> {
        let seqnos: Vec<SeqNo> = versions.iter().map(|v| v.0).collect();
        let may_drop = !version.key_may_exist_below(output_level, key);
        let keep = versions_to_keep(&seqnos, &|i| versions[i].1.is_none(), snapshots, may_drop);
        if !keep.iter().any(|k| *k) {
            return Ok(());
        }
        // Start a new output at a key boundary once the current one is full.
        if builder
            .as_ref()
            .is_some_and(|(_, b)| b.estimated_file_bytes() >= target)
        {
            let (number, b) = builder.take().expect("checked");
            let summary = b.finish()?;
            self.stats
                .table_bytes_written
                .fetch_add(summary.file_bytes, Ordering::Relaxed);
            outputs.push(meta_from(number, &summary));
        }
        if builder.is_none() {
            let number = self.next_file_number.fetch_add(1, Ordering::SeqCst);
            *builder = Some((number, self.new_table_builder(number)?));
        }
        let (_, b) = builder.as_mut().expect("set above");
        for ((seqno, value), k) in versions.iter().zip(keep) {
            if k {
                b.add(key, *seqno, value.as_deref())?;
            }
        }
        Ok(())
    }

    /// Deletes tables no live version references, WAL segments below the
    /// manifest's log number, manifests other than the live one and a stale
    /// `CURRENT.tmp`. Runs only while no flush or compaction is writing
    /// (under `bg_work`, or during open). Best effort: a file that cannot be
    /// deleted now is found again by a later call or at the next open.
    pub(crate) fn delete_obsolete_files(&self) {
        let mut live: BTreeSet<u64> = BTreeSet::new();
        {
            let mut vs = lock(&self.versions);
            vs.retain(|w| w.strong_count() > 0);
            for v in vs.iter().filter_map(|w| w.upgrade()) {
                live.extend(v.live_file_numbers());
            }
        }
        let (log_number, manifest_number) = {
            let m = lock(&self.manifest);
            (m.log_number, m.writer.manifest_number())
        };
        let Ok(names) = self.fs.list_dir(&self.dir) else {
            return;
        };
        for name in names {
            let obsolete = match parse_file_name(&name) {
                Some(FileKind::Table(n)) => !live.contains(&n),
                Some(FileKind::Wal(n)) => n < log_number,
                Some(FileKind::Manifest(n)) => n != manifest_number,
                Some(FileKind::CurrentTemp) => true,
                _ => false,
            };
            if !obsolete {
                continue;
            }
            if let Some(FileKind::Table(n)) = parse_file_name(&name) {
                self.tables.evict(n);
            }
            let path = self.dir.join(&name);
            if self.fs.remove_file(&path).is_ok() {
                self.stats
                    .obsolete_files_deleted
                    .fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
