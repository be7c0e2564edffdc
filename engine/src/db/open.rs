//! Opening a database: option validation, the directory and its lock,
//! version recovery from the manifest, WAL replay, and the recovery table
//! (rules and their order in `engine/DESIGN.md`, "Recovery rules").

use crate::sync::atomic::AtomicU64;
use crate::sync::Arc;
use std::path::Path;

use super::state::{new_memtable, DbInner, ManifestState, Recovered};
use super::stats::StatsCounters;
use crate::error::{Error, Result};
use crate::filename::{parse_file_name, wal_file_name, FileKind, CURRENT_FILE, LOCK_FILE};
use crate::flush::{self, TableFiles};
use crate::fs::{FileLock, FileSystem, OpenMode};
use crate::manifest::{self, ManifestWriter};
use crate::memtable::Memtable;
use crate::options::{Options, RecoveryMode};
use crate::sst::BlockCache;
use crate::table_cache::TableCache;
use crate::types::SeqNo;
use crate::version::{Version, VersionEdit};
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

/// Creates the directory if allowed and needed, and takes its lock.
fn lock_dir(fs: &dyn FileSystem, dir: &Path, opts: &Options) -> Result<Box<dyn FileLock>> {
    if !fs.exists(dir).map_err(|e| Error::io(dir, e))? {
        if !opts.create_if_missing {
            return Err(Error::InvalidArgument(format!(
                "database directory {} does not exist and create_if_missing is false",
                dir.display()
            )));
        }
        fs.create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        if let Some(parent) = dir.parent() {
            if !parent.as_os_str().is_empty() {
                fs.sync_dir(parent).map_err(|e| Error::io(parent, e))?;
            }
        }
    }
    let lock_path = dir.join(LOCK_FILE);
    fs.lock(&lock_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked {
                path: dir.to_path_buf(),
            }
        } else {
            Error::io(&lock_path, e)
        }
    })
}

/// What the manifest says, or the state of a new database.
struct ManifestFacts {
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
    let dir_lock = lock_dir(&*fs, &dir, &opts)?;
    let names = fs.list_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    let kinds: Vec<FileKind> = names.iter().filter_map(|n| parse_file_name(n)).collect();
    let max_file_number = kinds.iter().filter_map(FileKind::number).max().unwrap_or(0);
    let facts = recover_manifest(&*fs, &dir, &kinds)?;

    // Replay the WAL segments not yet flushed.
    let mut segments: Vec<u64> = kinds
        .iter()
        .filter_map(|k| match k {
            FileKind::Wal(n) if *n >= facts.log_number => Some(*n),
            _ => None,
        })
        .collect();
    segments.sort_unstable();
    let limits = WalLimits {
        key_bytes_max: opts.key_bytes_max,
        value_bytes_max: opts.value_bytes_max,
        record_bytes_max: opts.batch_bytes_max,
    };
    let recovered = new_memtable(opts.memtable);
    let replay = Replay {
        fs: &*fs,
        dir: &dir,
        limits: &limits,
        mode: opts.recovery,
    };
    let last_seqno = replay.run(&segments, facts.last_seqno, &*recovered)?;

    // Numbers for the new manifest and the new WAL segment, then any table.
    let next_file = facts.next_file_number.max(max_file_number + 1);
    let manifest_number = next_file;
    let wal_number = next_file + 1;
    let next_file_number = AtomicU64::new(next_file + 2);
    let files = TableFiles {
        fs: &*fs,
        dir: &dir,
        options: opts.table,
        next_file_number: &next_file_number,
    };
    let stats = StatsCounters::default();
    let version = write_recovery_table(&files, facts.version, &*recovered, &stats)?;
    drop(recovered);
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
        dir_lock,
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
    });
    // Files no version references (a crash's leftovers, older manifests,
    // retired WAL segments) go now that the new manifest is durable.
    inner.delete_obsolete_files();
    Ok(inner)
}

/// Re-persists what replay recovered as a level-0 table, BEFORE the new
/// segment exists; the caller's fresh manifest adds it and retires every
/// replayed segment in one durable step. The replayed bytes may sit in the
/// page cache without being durable (a tail never synced, or a failed
/// fsync, after which a later fsync may report success without writing
/// them: "fsyncgate"), so syncing the old segment again proves nothing.
/// Were the new segment created first, a power loss before the table is
/// durable would leave a damaged tail in a segment that is no longer the
/// last, which recovery must call corruption. This keeps the invariant
/// rotation keeps: a segment is created only when every older segment is
/// durable or retired. (A table written before a crash and not yet named by
/// a manifest is deleted as obsolete by the next open.)
fn write_recovery_table(
    files: &TableFiles<'_>,
    version: Version,
    recovered: &dyn Memtable,
    stats: &StatsCounters,
) -> Result<Version> {
    if recovered.is_empty() {
        return Ok(version);
    }
    let meta = flush::write_memtable(files, recovered, &[])?;
    files.sync_dir()?;
    StatsCounters::add(&stats.flushes, 1);
    crate::probe::hit(crate::probe::Probe::RecoveryFlush);
    StatsCounters::add(&stats.table_bytes_written, meta.file_bytes);
    version.apply(&VersionEdit {
        added: vec![(0, meta)],
        ..VersionEdit::default()
    })
}

/// WAL replay: where the segments are and how to treat damage.
struct Replay<'a> {
    fs: &'a dyn FileSystem,
    dir: &'a Path,
    limits: &'a WalLimits,
    mode: RecoveryMode,
}

impl Replay<'_> {
    /// Replays `segments` (sorted) into `mem`, starting after `last_seqno`;
    /// returns the last sequence number replayed. Applies the recovery mode
    /// to damage and truncates a torn tail durably.
    fn run(&self, segments: &[u64], last_seqno: SeqNo, mem: &dyn Memtable) -> Result<SeqNo> {
        let mut last = last_seqno;
        for (i, &number) in segments.iter().enumerate() {
            let is_last = i + 1 == segments.len();
            last = self.segment(number, is_last, last, mem)?;
        }
        Ok(last)
    }

    /// Replays one segment; returns the last sequence number replayed.
    fn segment(
        &self,
        number: u64,
        is_last: bool,
        last_seqno: SeqNo,
        mem: &dyn Memtable,
    ) -> Result<SeqNo> {
        let path = self.dir.join(wal_file_name(number));
        let file = self
            .fs
            .open(&path, OpenMode::ReadWrite)
            .map_err(|e| Error::io(&path, e))?;
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
                mem.insert(op.key(), rec.seqno_first + j as u64, op.value());
            }
            last = rec.seqno_last();
            Ok(())
        })?;
        let Some(damage) = scan.damage.clone() else {
            return Ok(last);
        };
        if self.mode == RecoveryMode::TruncateTornTail
            && scan.file_bytes <= wal::SEGMENT_HEADER_BYTES as u64
        {
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
        file.set_len(scan.valid_bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&path, e))?;
        crate::probe::hit(crate::probe::Probe::WalTornTailTruncated);
        Ok(last)
    }
}
