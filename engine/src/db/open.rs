//! Opening a database: option validation, the directory and its lock,
//! version recovery from the manifest, WAL replay, and the recovery table
//! (rules and their order in `engine/DESIGN.md`, "Recovery rules").

use crate::sync::atomic::AtomicU64;
use crate::sync::Arc;
use std::path::Path;

use super::state::{new_memtable, DbInner, ManifestState, Recovered};
use super::stats::StatsCounters;
use crate::error::{Error, Result};
use crate::filename::{parse_file_name, wal_file_name, FileKind, CURRENT_FILE};
use crate::flush::{self, TableFiles};
use crate::fs::lock_dir;
use crate::fs::{FileSystem, OpenMode};
use crate::manifest::{self, ManifestWriter};
use crate::memtable::Memtable;
use crate::options::{Options, RecoveryMode};
use crate::sst::BlockCache;
use crate::table_cache::TableCache;
use crate::types::SeqNo;
use crate::version::{Version, VersionEdit, LEVELS};
use crate::wal::{self, WalLimits, WalWriter};

/// Checks the options a database cannot work with.
fn validate_options(opts: &Options) -> Result<()> {
    let bad = |m: &str| Err(Error::InvalidArgument(m.to_string()));
    if opts.key_bytes_max == 0 || opts.key_bytes_max > u32::MAX as usize {
        return bad("key_bytes_max must be in 1..=u32::MAX");
    }
    if opts.value_bytes_max > u32::MAX as usize {
        return bad("value_bytes_max must fit in u32");
    }
    if opts.batch_bytes_max > u32::MAX as usize || opts.batch_bytes_max < 64 {
        return bad("batch_bytes_max must be in 64..=u32::MAX");
    }
    if opts.memtable_bytes_max == 0 {
        return bad("memtable_bytes_max must be positive");
    }
    if opts.frozen_memtables_max == 0 {
        return bad("frozen_memtables_max must be positive");
    }
    if opts.transaction_history_max == 0 {
        return bad("transaction_history_max must be positive");
    }
    let t = &opts.table;
    if t.block_bytes_target < 64 || t.block_bytes_target > crate::sst::BLOCK_BYTES_MAX {
        return bad("table.block_bytes_target must be in 64..=BLOCK_BYTES_MAX");
    }
    if t.restart_interval == 0 || t.restart_interval > 1 << 16 {
        return bad("table.restart_interval must be in 1..=65536");
    }
    if t.bloom_bits_per_key > 64 {
        return bad("table.bloom_bits_per_key must be at most 64");
    }
    opts.compaction.validate()
}

/// Applies `create_if_missing` and `error_if_exists` before anything is
/// created or locked: a database exists where `CURRENT` does. (Before, an
/// existing empty directory counted as a database, so a wrong or unmounted
/// path opened as a new database even with `create_if_missing: false`.)
fn check_existence(fs: &dyn FileSystem, dir: &Path, opts: &Options) -> Result<()> {
    let current = dir.join(CURRENT_FILE);
    let exists = fs.exists(&current).map_err(|e| Error::io(&current, e))?;
    if exists && opts.error_if_exists {
        return Err(Error::InvalidArgument(format!(
            "a database exists in {} and error_if_exists is set",
            dir.display()
        )));
    }
    if !exists && !opts.create_if_missing {
        let dir_exists = fs.exists(dir).map_err(|e| Error::io(dir, e))?;
        return Err(Error::InvalidArgument(format!(
            "no database in {} ({}) and create_if_missing is false",
            dir.display(),
            if dir_exists {
                "the directory has no CURRENT file"
            } else {
                "the directory does not exist"
            }
        )));
    }
    Ok(())
}

/// What the manifest says, or the state of a new database.
struct ManifestFacts {
    /// Whether a manifest was found (else this is a new database).
    existed: bool,
    version: Version,
    log_number: u64,
    next_file_number: u64,
    last_seqno: SeqNo,
}

/// Recovers the version from the manifest. With no `CURRENT`, the directory
/// must hold no WAL or table file: data files without a manifest are not
/// ours to guess about.
fn recover_manifest(fs: &dyn FileSystem, dir: &Path, kinds: &[FileKind]) -> Result<ManifestFacts> {
    let facts = match manifest::recover(fs, dir)? {
        Some(r) => ManifestFacts {
            existed: true,
            version: r.version,
            log_number: r.log_number,
            next_file_number: r.next_file_number,
            last_seqno: r.last_seqno,
        },
        None => {
            // A new database, or the debris of a crash while creating one.
            if kinds
                .iter()
                .any(|k| matches!(k, FileKind::Wal(_) | FileKind::Table(_)))
            {
                return Err(Error::corruption(
                    dir.join(CURRENT_FILE),
                    0,
                    "CURRENT is missing but the directory holds WAL or table files",
                ));
            }
            ManifestFacts {
                existed: false,
                version: Version::new(),
                log_number: 0,
                next_file_number: 1,
                last_seqno: 0,
            }
        }
    };
    facts.version.check()?;
    Ok(facts)
}

/// Opens (or creates) the database in `dir`; see `Db::open`.
pub(super) fn open_inner(dir: &Path, opts: Options) -> Result<DbInner> {
    validate_options(&opts)?;
    let dir = dir.to_path_buf();
    let fs = opts.fs.clone();
    check_existence(&*fs, &dir, &opts)?;
    let dir_lock = lock_dir(&*fs, &dir)?;
    let names = fs.list_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    let kinds: Vec<FileKind> = names.iter().filter_map(|n| parse_file_name(n)).collect();
    let max_file_number = kinds.iter().filter_map(FileKind::number).max().unwrap_or(0);
    let facts = recover_manifest(&*fs, &dir, &kinds)?;
    // Again under the lock: a database created meanwhile by someone else.
    if facts.existed && opts.error_if_exists {
        return Err(Error::InvalidArgument(format!(
            "a database exists in {} and error_if_exists is set",
            dir.display()
        )));
    }

    // Numbers for the new manifest and the new WAL segment, then any table.
    let next_file = facts.next_file_number.max(max_file_number + 1);
    let manifest_number = next_file;
    let wal_number = next_file + 1;
    let next_file_number = AtomicU64::new(next_file + 2);
    let stats = StatsCounters::default();
    // Replay the WAL segments not yet flushed.
    let segments = segments_from(&kinds, facts.log_number);
    let (last_seqno, sink) = replay_log(
        &opts,
        &dir,
        &segments,
        facts.last_seqno,
        &next_file_number,
        &stats,
        false,
    )?;
    let version = sink.finish(facts.version)?;
    let next_file_number = next_file_number.into_inner();

    // The fresh manifest: the recovered version (with the recovery table),
    // every existing segment retired. An old segment left referenced could
    // also carry state of a failed earlier recovery attempt, e.g. a
    // truncation whose sync failed. Only then the fresh segment.
    let mut snapshot = version.snapshot_edit();
    snapshot.log_number = Some(wal_number);
    snapshot.next_file_number = Some(next_file_number);
    snapshot.last_seqno = Some(last_seqno);
    let manifest_writer = ManifestWriter::create(&*fs, &dir, manifest_number, &snapshot)?;
    let wal = WalWriter::create(&*fs, &dir, wal_number)?;

    let blocks = Arc::new(BlockCache::new(opts.block_cache_bytes));
    let inner = DbInner::new(Recovered {
        tables: Arc::new(TableCache::new(fs.clone(), dir.clone(), blocks)),
        dir,
        dir_lock: Some(dir_lock),
        version: Arc::new(version),
        manifest: ManifestState {
            writer: manifest_writer,
            last_seqno,
            log_number: wal_number,
        },
        wal,
        last_seqno,
        next_file_number,
        stats,
        opts,
        active: None,
        read_only: false,
    });
    // Files no version references (a crash's leftovers, older manifests,
    // retired WAL segments) go now that the new manifest is durable.
    inner.delete_obsolete_files();
    Ok(inner)
}

/// Read-only opens in a row that may find the manifest changed (a writer
/// flushing or compacting beside them) before giving up.
const READ_ONLY_ATTEMPTS: usize = 16;

/// Opens the database in `dir` read-only (see `Db::open_read_only`): no
/// lock, no new manifest or WAL segment, no recovery table; the WAL is
/// replayed into the memtable only, and a torn tail is ignored in place.
///
/// A writer may be working in the directory. A flush or compaction commits
/// its manifest edit before it deletes the WAL segments or tables it made
/// obsolete, so an open that reads the manifest, replays the WAL, opens
/// every live table and then finds the manifest unchanged has read one
/// consistent state (a prefix of the writes: segments created after the
/// listing hold only later ones); if the manifest changed, it starts over.
pub(super) fn open_read_only(dir: &Path, opts: Options) -> Result<DbInner> {
    validate_options(&opts)?;
    let dir = dir.to_path_buf();
    let fs = opts.fs.clone();
    let mut last_error = None;
    for _ in 0..READ_ONLY_ATTEMPTS {
        let Some(manifest) = manifest::recover(&*fs, &dir)? else {
            return Err(Error::InvalidArgument(format!(
                "no database in {} (no CURRENT file) to open read-only",
                dir.display()
            )));
        };
        let attempt = read_only_attempt(&dir, &opts, &manifest);
        let again = manifest::recover(&*fs, &dir)?;
        let unchanged = again.is_some_and(|m| {
            (m.manifest_number, m.valid_bytes) == (manifest.manifest_number, manifest.valid_bytes)
        });
        match attempt {
            Ok(inner) if unchanged => return Ok(inner),
            Err(e) if unchanged => return Err(e),
            Ok(_) => {}
            Err(e) => last_error = Some(e),
        }
    }
    let why = last_error.map_or(String::new(), |e| format!(" (last: {e})"));
    Err(Error::io(
        dir.join(CURRENT_FILE),
        std::io::Error::other(format!(
            "the manifest changed during each of {READ_ONLY_ATTEMPTS} read-only opens: a \
             writer is flushing or compacting faster than the open can read{why}"
        )),
    ))
}

/// One read-only open against the manifest state `manifest`.
fn read_only_attempt(
    dir: &Path,
    opts: &Options,
    manifest: &manifest::Recovered,
) -> Result<DbInner> {
    let fs = opts.fs.clone();
    manifest.version.check()?;
    let names = fs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
    let kinds: Vec<FileKind> = names.iter().filter_map(|n| parse_file_name(n)).collect();
    let segments = segments_from(&kinds, manifest.log_number);
    let stats = StatsCounters::default();
    let unused = AtomicU64::new(0);
    let (last_seqno, sink) = replay_log(
        opts,
        dir,
        &segments,
        manifest.last_seqno,
        &unused,
        &stats,
        true,
    )?;
    let active = sink.mem;
    let blocks = Arc::new(BlockCache::new(opts.block_cache_bytes));
    let tables = Arc::new(TableCache::new(fs.clone(), dir.to_path_buf(), blocks));
    // Every live table is opened now, so the handle reads this state even
    // after a writer deletes the files (an open file outlives its name). A
    // missing one means the manifest moved on (the caller starts over); a
    // damaged one is left to the reads that need it, which report it, so
    // the reads that do not still work.
    for level in 0..LEVELS {
        for f in manifest.version.files(level) {
            match tables.get(f.number) {
                Err(Error::Io { source, .. }) if source.kind() == std::io::ErrorKind::NotFound => {
                    return Err(Error::io(
                        dir.join(crate::filename::table_file_name(f.number)),
                        source,
                    ))
                }
                Ok(_) | Err(_) => {}
            }
        }
    }
    let inner = DbInner::new(Recovered {
        tables,
        dir: dir.to_path_buf(),
        dir_lock: None,
        version: Arc::new(manifest.version.clone()),
        manifest: ManifestState {
            writer: ManifestWriter::detached(manifest),
            last_seqno,
            log_number: manifest.log_number,
        },
        wal: WalWriter::detached(0),
        last_seqno,
        next_file_number: manifest.next_file_number,
        stats,
        opts: opts.clone(),
        active: Some(active),
        read_only: true,
    });
    Ok(inner)
}

/// The WAL segments numbered from `log_number` on, ascending: those not
/// yet flushed.
fn segments_from(kinds: &[FileKind], log_number: u64) -> Vec<u64> {
    let mut segments: Vec<u64> = kinds
        .iter()
        .filter_map(|k| match k {
            FileKind::Wal(n) if *n >= log_number => Some(*n),
            _ => None,
        })
        .collect();
    segments.sort_unstable();
    segments
}

/// Replays `segments` after `last_seqno`; returns the last sequence number
/// replayed and the sink holding the result. `read_only` keeps it all in
/// the sink's memtable and changes no file; otherwise tables are written
/// as the sink fills (numbered from `next_file_number`).
fn replay_log<'a>(
    opts: &'a Options,
    dir: &'a Path,
    segments: &[u64],
    last_seqno: SeqNo,
    next_file_number: &'a AtomicU64,
    stats: &'a StatsCounters,
    read_only: bool,
) -> Result<(SeqNo, RecoverySink<'a>)> {
    let fs: &'a dyn FileSystem = &*opts.fs;
    let limits = WalLimits {
        key_bytes_max: opts.key_bytes_max,
        value_bytes_max: opts.value_bytes_max,
        record_bytes_max: opts.batch_bytes_max,
    };
    let mut sink = RecoverySink {
        files: TableFiles {
            fs,
            dir,
            options: opts.table,
            next_file_number,
        },
        kind: opts.memtable,
        // A read-only open keeps it all in memory.
        bytes_max: if read_only {
            u64::MAX
        } else {
            (opts.memtable_bytes_max as u64).min(opts.compaction.target_file_bytes)
        },
        mem: new_memtable(opts.memtable),
        tables: Vec::new(),
        stats,
    };
    let replay = Replay {
        fs,
        dir,
        limits: &limits,
        mode: opts.recovery,
        read_only,
    };
    let last = replay.run(segments, last_seqno, &mut sink)?;
    Ok((last, sink))
}

/// Where replayed records go: a memtable, written out as a level-0 table
/// each time it reaches `bytes_max` (the smaller of the memtable limit and
/// the compaction's target file size), as the flushes before the crash
/// would have, so a long log becomes several tables with ascending,
/// disjoint sequence ranges instead of one table of any size. (Before, the
/// whole log became one table, which compaction then moved down unsplit.)
///
/// The tables are written and synced BEFORE the new segment exists; the
/// caller's fresh manifest adds them and retires every replayed segment in
/// one durable step. The replayed bytes may sit in the page cache without
/// being durable (a tail never synced, or a failed fsync, after which a
/// later fsync may report success without writing them: "fsyncgate"), so
/// syncing the old segment again proves nothing. Were the new segment
/// created first, a power loss before the tables are durable would leave a
/// damaged tail in a segment that is no longer the last, which recovery
/// must call corruption. This keeps the invariant rotation keeps: a segment
/// is created only when every older segment is durable or retired. (Tables
/// written before a crash or a failed replay and not yet named by a
/// manifest are deleted as obsolete by the next open.)
struct RecoverySink<'a> {
    files: TableFiles<'a>,
    kind: crate::options::MemtableKind,
    bytes_max: u64,
    mem: Arc<dyn Memtable>,
    tables: Vec<crate::version::FileMeta>,
    stats: &'a StatsCounters,
}

impl RecoverySink<'_> {
    /// Called after each replayed record: writes the memtable out once it
    /// is full (records are never split across tables).
    fn record_done(&mut self) -> Result<()> {
        if self.mem.approximate_memory() as u64 >= self.bytes_max {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<()> {
        if self.mem.is_empty() {
            return Ok(());
        }
        let meta = flush::write_memtable(&self.files, &*self.mem, &[])?;
        StatsCounters::add(&self.stats.flushes, 1);
        crate::probe::hit(crate::probe::Probe::RecoveryFlush);
        StatsCounters::add(&self.stats.table_bytes_written, meta.file_bytes);
        self.tables.push(meta);
        self.mem = new_memtable(self.kind);
        Ok(())
    }

    /// Writes what is left and makes the tables' names durable; returns
    /// `version` with them added at level 0.
    fn finish(mut self, version: Version) -> Result<Version> {
        self.write_out()?;
        if self.tables.is_empty() {
            return Ok(version);
        }
        self.files.sync_dir()?;
        version.apply(&VersionEdit {
            added: self.tables.into_iter().map(|m| (0, m)).collect(),
            ..VersionEdit::default()
        })
    }
}

/// WAL replay: where the segments are and how to treat damage.
struct Replay<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    limits: &'a WalLimits,
    mode: RecoveryMode,
    /// Change nothing on disk: a torn tail is ignored, not truncated.
    read_only: bool,
}

impl Replay<'_> {
    /// Replays `segments` (sorted) into `sink`, starting after `last_seqno`;
    /// returns the last sequence number replayed. Applies the recovery mode
    /// to damage and truncates a torn tail durably.
    fn run(&self, segments: &[u64], last_seqno: SeqNo, sink: &mut RecoverySink) -> Result<SeqNo> {
        let mut last = last_seqno;
        for (i, &number) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            last = self.segment(number, is_last, last, sink)?;
        }
        Ok(last)
    }

    /// Replays one segment; returns the last sequence number replayed.
    fn segment(
        &self,
        number: u64,
        is_last: bool,
        last_seqno: SeqNo,
        sink: &mut RecoverySink,
    ) -> Result<SeqNo> {
        let path = self.dir.join(wal_file_name(number));
        let mode = if self.read_only {
            OpenMode::Read
        } else {
            OpenMode::ReadWrite
        };
        let file = self.fs.open(&path, mode).map_err(|e| Error::io(&path, e))?;
        let mut last = last_seqno;
        let scan = wal::scan_segment(&*file, &path, number, self.limits, &mut |offset, rec| {
            if rec.seqno_first != last + 1 {
                return Err(Error::corruption(
                    &path,
                    offset,
                    format!(
                        "record starts at sequence number {}, expected {} (replay must be contiguous)",
                        rec.seqno_first,
                        last + 1
                    ),
                ));
            }
            for (j, op) in rec.ops.iter().enumerate() {
                sink.mem
                    .insert(op.key(), rec.seqno_first + j as u64, op.value());
            }
            last = rec.seqno_last();
            sink.record_done()?;
            Ok(())
        })?;
        let Some(damage) = scan.damage.clone() else {
            return Ok(last);
        };
        if self.mode == RecoveryMode::TruncateTornTail
            && scan.file_bytes <= wal::SEGMENT_HEADER_BYTES as u64
        {
            if self.read_only {
                return Ok(last);
            }
            // Torn while being created (its header sync failed or never
            // ran): there is no byte a record could be in, so it cannot hide
            // data, wherever it sits in the sequence. Remove it durably, or
            // it would read as damage once a newer segment follows it.
            drop(file);
            self.fs
                .remove_file(&path)
                .map_err(|e| Error::io(&path, e))?;
            self.fs
                .sync_dir(self.dir)
                .map_err(|e| Error::io(self.dir, e))?;
            return Ok(last);
        }
        // Damage is a crash artifact (a torn or never-synced tail) only in
        // the last segment, and only if no record after it proves a sync
        // completed over the damaged bytes.
        if self.mode == RecoveryMode::Strict || damage.synced_record_after.is_some() || !is_last {
            let follow = match (damage.synced_record_after, damage.valid_record_after) {
                (Some(at), _) => format!(
                    "; a valid record at offset {at} was written after a sync covered the damaged bytes"
                ),
                (None, Some(at)) => format!("; a valid record follows at offset {at}"),
                (None, None) if !is_last => "; later WAL segments follow".to_string(),
                (None, None) => String::new(),
            };
            return Err(Error::corruption(
                &path,
                damage.offset,
                format!("{}{follow}", damage.reason),
            ));
        }
        // A torn tail of the last segment: cut it off durably before any new
        // append (appending after the garbage would lose later commits at
        // the next restart). Truncating destroys bytes for good, so first
        // read the segment again: a transient read fault (a flipped bit on
        // the way) must not pass for a torn tail.
        let again = wal::scan_segment(&*file, &path, number, self.limits, &mut |_, _| Ok(()))?;
        if again != scan {
            return Err(crate::manifest::read_back_differently(&path));
        }
        if self.read_only {
            return Ok(last); // the tail is ignored, the file left as it is
        }
        file.set_len(scan.valid_bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&path, e))?;
        crate::probe::hit(crate::probe::Probe::WalTornTailTruncated);
        Ok(last)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every bound `validate_options` checks is inclusive: the bound itself
    /// is accepted, one past it refused.
    #[test]
    fn option_bounds_are_inclusive() {
        let u32_max = u32::MAX as usize;
        type Set = fn(&mut Options, usize);
        let cases: [(&str, Set, usize, usize); 10] = [
            (
                "key_bytes_max",
                |o, v| o.key_bytes_max = v,
                u32_max,
                u32_max + 1,
            ),
            ("key_bytes_max", |o, v| o.key_bytes_max = v, 1, 0),
            (
                "value_bytes_max",
                |o, v| o.value_bytes_max = v,
                u32_max,
                u32_max + 1,
            ),
            (
                "batch_bytes_max",
                |o, v| o.batch_bytes_max = v,
                u32_max,
                u32_max + 1,
            ),
            ("batch_bytes_max", |o, v| o.batch_bytes_max = v, 64, 63),
            (
                "table.block_bytes_target",
                |o, v| o.table.block_bytes_target = v,
                crate::sst::BLOCK_BYTES_MAX,
                crate::sst::BLOCK_BYTES_MAX + 1,
            ),
            (
                "table.block_bytes_target",
                |o, v| o.table.block_bytes_target = v,
                64,
                63,
            ),
            (
                "table.restart_interval",
                |o, v| o.table.restart_interval = v,
                1 << 16,
                (1 << 16) + 1,
            ),
            (
                "table.restart_interval",
                |o, v| o.table.restart_interval = v,
                1,
                0,
            ),
            (
                "table.bloom_bits_per_key",
                |o, v| o.table.bloom_bits_per_key = v as u32,
                64,
                65,
            ),
        ];
        for (name, set, ok, bad) in cases {
            let mut o = Options::default();
            set(&mut o, ok);
            assert!(validate_options(&o).is_ok(), "{name} = {ok} is allowed");
            set(&mut o, bad);
            match validate_options(&o) {
                Err(Error::InvalidArgument(m)) => assert!(m.contains(name), "{name}: {m}"),
                other => panic!("{name} = {bad} must be refused: {other:?}"),
            }
        }
    }
}
