//! Background work: flush, compaction and obsolete-file deletion, one unit
//! per [`DbInner::step`], so the simulator can drive it step by step and
//! crash inside it. All units run under `bg_work`, so the version changes
//! one edit at a time. What a flush writes is `crate::flush`'s; how a
//! compaction merges is `crate::compaction::executor`'s; this file decides
//! what runs and installs the results.
//!
//! Durability order of a flush: write the table, sync it, sync the
//! directory, append the version edit to the manifest (synced), install it,
//! and only then delete the WAL segments it covered. A compaction writes and
//! syncs its outputs and the directory before its edit, and deletes its
//! inputs only after the edit is durable and no live version references
//! them.

use crate::sync::atomic::Ordering;
use crate::sync::Arc;

use super::state::{DbInner, Frozen};
use super::stats::StatsCounters;
use crate::compaction::executor::{self, Merge};
use crate::compaction::{choose, CompactionChoice};
use crate::error::{Error, Result};
use crate::filename::{parse_file_name, FileKind};
use crate::flush::{self, TableFiles};
use crate::probe::{self, Probe};
use crate::sync::{lock, wait};
use crate::version::{Version, VersionEdit};

/// What one background step did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum BackgroundStep {
    /// Nothing to do.
    Idle,
    /// A frozen memtable became table `file_number` at level 0 (`None` if
    /// it was empty and only the WAL was retired).
    Flushed {
        /// The new table.
        file_number: Option<u64>,
        /// Entries written to it.
        entries: u64,
    },
    /// A file changed level without being rewritten.
    Moved {
        /// The table moved.
        file_number: u64,
        /// Its old level.
        from_level: usize,
        /// Its new level.
        to_level: usize,
    },
    /// Files were merged into new files at `output_level`.
    Compacted {
        /// The level compacted.
        level: usize,
        /// Where the outputs went (`level + 1`).
        output_level: usize,
        /// Input tables, from both levels.
        inputs: usize,
        /// Output tables.
        outputs: usize,
    },
}

impl DbInner {
    /// Where flushes and compactions create tables.
    fn table_files(&self) -> TableFiles<'_> {
        TableFiles {
            fs: &*self.fs,
            dir: &self.dir,
            options: self.opts.table,
            next_file_number: &self.next_file_number,
        }
    }

    /// The background thread: runs steps while there is work, sleeps on the
    /// signal otherwise.
    pub(super) fn background_loop(self: Arc<Self>) {
        loop {
            {
                let mut flags = lock(&self.bg_signal.flags);
                while !flags.pending && !flags.shutdown {
                    flags = wait(&self.bg_signal.wake, flags);
                }
                if flags.shutdown {
                    return;
                }
                flags.pending = false;
            }
            loop {
                if lock(&self.bg_signal.flags).shutdown {
                    return;
                }
                match self.step() {
                    Ok(BackgroundStep::Idle) => break,
                    Ok(_) => self.bg_signal.notify(),
                    // `step` poisoned the database; writers see it.
                    Err(_) => break,
                }
            }
        }
    }

    /// Asks the background thread to exit (the caller joins it).
    pub(super) fn shut_down_background(&self) {
        lock(&self.bg_signal.flags).shutdown = true;
        self.bg_signal.wake.notify_all();
    }

    /// One unit of work: flush the oldest frozen memtable, else one
    /// compaction, else nothing. A failure poisons the database.
    pub(super) fn step(&self) -> Result<BackgroundStep> {
        self.refuse_if_read_only()?;
        let _work = lock(&self.bg_work);
        let result = self.step_locked();
        self.after_step(&result);
        result
    }

    /// After a step, with the state it read dropped: a failure poisons the
    /// database; work done leaves files to delete. (Deleting inside the
    /// step, while it still held the version it started from, kept that
    /// version's tables: a compaction's inputs stayed on disk until the
    /// next step or open, found by the simulator's liveness phase.)
    /// An idle step deletes too if a reader released tables since
    /// ([`DbInner::release_version`]).
    pub(super) fn after_step(&self, result: &Result<BackgroundStep>) {
        let released = self.tables_released.swap(false, Ordering::AcqRel);
        match result {
            // A compaction input found corrupt: remembered, not poisoning
            // (the database's own state is intact); its outputs go.
            Err(e) if self.corrupt_table_named(e).is_some() => self.delete_obsolete_files(),
            // A step that found the database closing failed nothing.
            Err(Error::Closed) => {}
            Err(e) => self.poison(e),
            Ok(BackgroundStep::Idle) if !released => {}
            Ok(_) => self.delete_obsolete_files(),
        }
    }

    /// Freezes the active memtable and flushes every frozen one, on the
    /// calling thread.
    pub(super) fn flush_all(&self) -> Result<()> {
        self.freeze_active()?;
        loop {
            if self.flush_step()? == BackgroundStep::Idle {
                return Ok(());
            }
        }
    }

    /// Flushes one frozen memtable if any (and nothing else).
    pub(super) fn flush_step(&self) -> Result<BackgroundStep> {
        self.refuse_if_read_only()?;
        let _work = lock(&self.bg_work);
        self.check_writable()?;
        let result = match self.read_state().frozen.first().cloned() {
            Some(f) => self.flush_one(&f),
            None => Ok(BackgroundStep::Idle),
        };
        self.after_step(&result);
        result
    }

    /// Whether a step would find work: a frozen memtable to flush, or
    /// (unless compactions are paused) a compaction or move that is due.
    pub(super) fn work_pending(&self) -> bool {
        let st = crate::sync::read(&self.state);
        !st.frozen.is_empty()
            || (self.compactions_paused.load(Ordering::SeqCst) == 0
                && !matches!(self.next_compaction(&st.version), CompactionChoice::Nothing))
    }

    /// The compaction to run next, unless it would read a table known to
    /// be corrupt: it would fail the same way every time, so nothing runs
    /// (before, the failure poisoned the database, and every reopen ran the
    /// same compaction into the same failure).
    fn next_compaction(&self, version: &Version) -> CompactionChoice {
        let choice = choose(version, &self.opts.compaction);
        if let CompactionChoice::Merge {
            inputs,
            lower_inputs,
            ..
        } = &choice
        {
            let corrupt = lock(&self.corrupt_tables);
            if inputs
                .iter()
                .chain(lower_inputs)
                .any(|n| corrupt.contains_key(n))
            {
                return CompactionChoice::Nothing;
            }
        }
        choice
    }

    /// If `e` is corruption in a table known to be corrupt, its number.
    pub(super) fn corrupt_table_named(&self, e: &Error) -> Option<u64> {
        let Error::Corruption { file, .. } = e else {
            return None;
        };
        let name = file.file_name()?.to_str()?;
        match parse_file_name(name) {
            Some(FileKind::Table(n)) if lock(&self.corrupt_tables).contains_key(&n) => Some(n),
            _ => None,
        }
    }

    /// After a merge failed with `e`: if `e` is corruption in one of its
    /// input tables and a second, full read of that table from the disk
    /// (not the cache) fails too, the table is recorded as corrupt.
    fn note_corrupt_input(&self, e: &Error, inputs: &[u64]) {
        let Error::Corruption {
            file,
            offset,
            reason,
        } = e
        else {
            return;
        };
        let number = match file
            .file_name()
            .and_then(|n| n.to_str())
            .map(parse_file_name)
        {
            Some(Some(FileKind::Table(n))) if inputs.contains(&n) => n,
            _ => return,
        };
        if self.verify_table(number).is_ok() {
            return; // a transient read fault: the usual poisoning applies
        }
        lock(&self.corrupt_tables).insert(number, (file.clone(), *offset, reason.clone()));
        StatsCounters::add(&self.stats.corrupt_tables_found, 1);
        probe::hit(Probe::CompactionMetCorruptTable);
    }

    /// Reads every entry of table `number` from the disk.
    fn verify_table(&self, number: u64) -> Result<()> {
        crate::repair::read_table(&*self.fs, &self.dir, number).map(|_| ())
    }

    /// With writers stopped by level 0: the corruption that keeps level 0
    /// from draining, if the compaction it needs reads a corrupt table.
    pub(super) fn stall_cause(&self) -> Option<Error> {
        let st = crate::sync::read(&self.state);
        let CompactionChoice::Merge {
            inputs,
            lower_inputs,
            ..
        } = choose(&st.version, &self.opts.compaction)
        else {
            return None;
        };
        let corrupt = lock(&self.corrupt_tables);
        let (n, (file, offset, reason)) = inputs
            .iter()
            .chain(&lower_inputs)
            .find_map(|n| corrupt.get_key_value(n))?;
        // Built directly: reporting it again is not a new detection.
        Some(Error::Corruption {
            file: file.clone(),
            offset: *offset,
            reason: format!(
                "writes are stopped: level 0 cannot drain, as its compaction reads corrupt \
                 table {n} ({reason})"
            ),
        })
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
        match self.next_compaction(&st.version) {
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

    /// Writes `frozen` as a level-0 table and retires the WAL it covered.
    fn flush_one(&self, frozen: &Frozen) -> Result<BackgroundStep> {
        let mut meta = None;
        let mut entries = 0;
        if !frozen.mem.is_empty() {
            let files = self.table_files();
            let m = flush::write_memtable(&files, &*frozen.mem, &self.snapshot_seqnos())?;
            files.sync_dir()?;
            StatsCounters::add(&self.stats.table_bytes_written, m.file_bytes);
            entries = m.entries;
            meta = Some(m);
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
        StatsCounters::add(&self.stats.flushes, 1);
        probe::hit(Probe::Flush);
        Ok(BackgroundStep::Flushed {
            file_number,
            entries,
        })
    }

    fn trivial_move(
        &self,
        version: &Version,
        level: usize,
        file_number: u64,
        to_level: usize,
    ) -> Result<BackgroundStep> {
        let edit = executor::trivial_move(version, level, file_number, to_level)?;
        self.log_and_apply(&edit, &mut |_| {})?;
        StatsCounters::add(&self.stats.trivial_moves, 1);
        probe::hit(Probe::TrivialMove);
        Ok(BackgroundStep::Moved {
            file_number,
            from_level: level,
            to_level,
        })
    }

    pub(super) fn merge(
        &self,
        version: &Arc<Version>,
        level: usize,
        inputs: &[u64],
        lower_inputs: &[u64],
        output_level: usize,
    ) -> Result<BackgroundStep> {
        let snapshots = self.snapshot_seqnos();
        let merge = Merge {
            version,
            tables: &self.tables,
            files: self.table_files(),
            snapshots: &snapshots,
            target_file_bytes: self.opts.compaction.target_file_bytes,
        };
        let done = match merge.run(level, inputs, lower_inputs, output_level) {
            Ok(done) => done,
            Err(e) => {
                let all: Vec<u64> = inputs.iter().chain(lower_inputs).copied().collect();
                self.note_corrupt_input(&e, &all);
                return Err(e);
            }
        };
        StatsCounters::add(&self.stats.compaction_bytes_read, done.bytes_read);
        StatsCounters::add(&self.stats.table_bytes_written, done.bytes_written);
        self.log_and_apply(&done.edit, &mut |_| {})?;
        StatsCounters::add(&self.stats.compactions, 1);
        probe::hit(Probe::compaction_to(output_level));
        Ok(BackgroundStep::Compacted {
            level,
            output_level,
            inputs: done.inputs,
            outputs: done.outputs,
        })
    }
}
