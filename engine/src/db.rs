//! The database: open and recovery, the write path, reads, and the wiring
//! of flush and compaction (`background.rs`).
//!
//! State and who may change it:
//! - `wal` (mutex): the commit leader appends; memtable rotation happens
//!   under it, so a frozen memtable covers exactly the WAL segments before
//!   the one that replaced it.
//! - `state` (rwlock): the active memtable, the frozen ones and the current
//!   version. Readers clone the `Arc`s and release the lock at once. Flush
//!   installs its new version and drops its frozen memtable in one write, so
//!   a reader sees the data in one place or the other, never neither.
//! - `bg_work` (mutex): held for every flush, compaction and obsolete-file
//!   deletion, so versions change one edit at a time.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, RwLock, Weak};
use std::thread::JoinHandle;
use std::time::Duration;

use crate::background;
use crate::batch::{BatchOp, WriteBatch};
use crate::commit::{CommitQueue, Member};
use crate::compaction::{write_pressure, WritePressure};
use crate::error::{Error, Result};
use crate::filename::{parse_file_name, FileKind, CURRENT_FILE, LOCK_FILE};
use crate::fs::{FileLock, FileSystem, OpenMode};
use crate::iter::{DbIter, LevelSource, MemSource, Source};
use crate::manifest::{self, ManifestWriter};
use crate::memtable::{ArtMemtable, BTreeMemtable, Memtable};
use crate::options::{BackgroundMode, MemtableKind, Options, RecoveryMode, SyncMode, WriteOptions};
use crate::sst::BlockCache;
use crate::table_cache::TableCache;
use crate::types::{SeqNo, SEQNO_MAX};
use crate::version::{Version, VersionEdit, LEVELS};
use crate::wal::{self, WalLimits, WalWriter};

pub use crate::background::BackgroundStep;

/// An open Strata database. `Db` is `Send + Sync`: share it with `Arc`.
#[derive(Debug)]
pub struct Db {
    inner: Arc<DbInner>,
    bg_thread: Option<JoinHandle<()>>,
}

/// A memtable waiting for flush.
#[derive(Debug, Clone)]
pub(crate) struct Frozen {
    pub mem: Arc<dyn Memtable>,
    /// The first WAL segment NOT covered by this memtable: once it is
    /// flushed, segments below this number are obsolete.
    pub next_log: u64,
    /// Highest sequence number in it (or before it, if it is empty).
    pub seqno_max: SeqNo,
}

/// What readers need, swapped as a whole.
#[derive(Debug, Clone)]
pub(crate) struct State {
    pub active: Arc<dyn Memtable>,
    /// Frozen memtables, oldest first.
    pub frozen: Vec<Frozen>,
    pub version: Arc<Version>,
}

#[derive(Debug)]
pub(crate) struct WalState {
    pub writer: WalWriter,
    /// Next sequence number to assign.
    pub next_seqno: SeqNo,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct ManifestState {
    pub writer: ManifestWriter,
    /// Last sequence number recorded in the manifest (flushed data).
    pub last_seqno: SeqNo,
    /// WAL segments below this are flushed.
    pub log_number: u64,
}

/// Signals between writers and the background thread.
#[derive(Debug, Default)]
pub(crate) struct BgSignal {
    pub state: Mutex<BgFlags>,
    pub wake: Condvar,
}

#[derive(Debug, Default)]
pub(crate) struct BgFlags {
    pub pending: bool,
    pub shutdown: bool,
}

#[derive(Debug)]
pub(crate) struct DbInner {
    pub dir: PathBuf,
    pub opts: Options,
    pub fs: Arc<dyn FileSystem>,
    /// The directory lock; released by `close` and by dropping the `Db`,
    /// even while snapshots still reference this state.
    lock: Mutex<Option<Box<dyn FileLock>>>,
    queue: CommitQueue,
    pub wal: Mutex<WalState>,
    pub state: RwLock<State>,
    pub manifest: Mutex<ManifestState>,
    pub bg_work: Mutex<()>,
    pub bg_signal: BgSignal,
    pub tables: Arc<TableCache>,
    /// Every version ever installed that may still be referenced.
    pub versions: Mutex<Vec<Weak<Version>>>,
    pub next_file_number: AtomicU64,
    /// While non-zero, background steps flush but do not compact.
    pub compactions_paused: AtomicU64,
    /// Highest sequence number readers may see.
    visible_seqno: AtomicU64,
    /// Set once a write, sync or background step fails; writes are refused
    /// until reopen.
    poisoned: AtomicBool,
    poison_cause: Mutex<Option<String>>,
    closed: AtomicBool,
    /// Live snapshots: sequence number -> count.
    snapshots: Mutex<BTreeMap<SeqNo, usize>>,
    pub stats: StatsCounters,
}

#[derive(Debug, Default)]
pub(crate) struct StatsCounters {
    pub user_bytes_written: AtomicU64,
    pub wal_bytes_written: AtomicU64,
    pub wal_syncs: AtomicU64,
    pub commit_groups: AtomicU64,
    pub table_bytes_written: AtomicU64,
    pub flushes: AtomicU64,
    pub compactions: AtomicU64,
    pub trivial_moves: AtomicU64,
    pub compaction_bytes_read: AtomicU64,
    pub write_slowdowns: AtomicU64,
    pub write_stops: AtomicU64,
    pub obsolete_files_deleted: AtomicU64,
}

/// Files and bytes in one level.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct LevelStats {
    pub files: usize,
    pub bytes: u64,
}

/// Counters describing the database's work so far.
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
    /// Bytes of tables written by flushes and compactions.
    pub table_bytes_written: u64,
    pub flushes: u64,
    pub compactions: u64,
    pub trivial_moves: u64,
    /// Bytes of input tables read by compactions.
    pub compaction_bytes_read: u64,
    /// Writes delayed because level 0 was backing up.
    pub write_slowdowns: u64,
    /// Times a writer had to wait for flush or compaction to catch up.
    pub write_stops: u64,
    pub obsolete_files_deleted: u64,
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

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

pub(crate) fn new_memtable(kind: MemtableKind) -> Arc<dyn Memtable> {
    match kind {
        MemtableKind::BTree => Arc::new(BTreeMemtable::new()),
        MemtableKind::Art => Arc::new(ArtMemtable::new()),
    }
}

impl Db {
    /// Opens (or creates) the database in `path`: recovers the version from
    /// the manifest, replays the unflushed WAL segments, and starts a new
    /// manifest and a new WAL segment.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let inner = Arc::new(open_inner(path.as_ref(), opts)?);
        let bg_thread = match inner.opts.background {
            BackgroundMode::Manual => None,
            BackgroundMode::Thread => {
                let worker = inner.clone();
                let handle = std::thread::Builder::new()
                    .name("strata-background".into())
                    .spawn(move || worker.background_loop())
                    .map_err(|e| Error::io(&inner.dir, e))?;
                inner.signal_background();
                Some(handle)
            }
        };
        Ok(Db { inner, bg_thread })
    }

    /// Sets `key` to `value`. Returns the write's sequence number.
    pub fn put(&self, key: &[u8], value: &[u8], wo: WriteOptions) -> Result<SeqNo> {
        let mut b = WriteBatch::new();
        b.put(key, value);
        self.write(b, wo)
    }

    /// Deletes `key`. Returns the write's sequence number.
    pub fn delete(&self, key: &[u8], wo: WriteOptions) -> Result<SeqNo> {
        let mut b = WriteBatch::new();
        b.delete(key);
        self.write(b, wo)
    }

    /// Applies `batch` atomically. Returns the sequence number of its last
    /// operation (an empty batch writes nothing and returns the current
    /// visible sequence number).
    pub fn write(&self, batch: WriteBatch, wo: WriteOptions) -> Result<SeqNo> {
        self.inner.write(batch, wo)
    }

    /// The newest value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.inner.check_open()?;
        let at = self.inner.visible_seqno.load(Ordering::Acquire);
        self.inner.get_at(key, at)
    }

    /// An ordered iterator over the keys in `range`, usable from both ends.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<DbIter> {
        self.inner.check_open()?;
        let at = self.inner.visible_seqno.load(Ordering::Acquire);
        self.inner.range_at(&range, at)
    }

    /// Pins the current state: reads through the snapshot see exactly the
    /// writes with sequence numbers up to its own, until it is dropped.
    pub fn snapshot(&self) -> Snapshot {
        // Register under the lock, reading the sequence number there too, so
        // a compaction that lists snapshots cannot miss this one.
        let mut snaps = lock(&self.inner.snapshots);
        let seqno = self.inner.visible_seqno.load(Ordering::Acquire);
        *snaps.entry(seqno).or_insert(0) += 1;
        drop(snaps);
        Snapshot {
            db: self.inner.clone(),
            seqno,
        }
    }

    /// Highest sequence number visible to readers (after open: the last
    /// recovered one).
    pub fn last_seqno(&self) -> SeqNo {
        self.inner.visible_seqno.load(Ordering::Acquire)
    }

    /// Freezes the active memtable and writes every frozen memtable to a
    /// level-0 table, on the calling thread.
    pub fn flush(&self) -> Result<()> {
        self.inner.check_open()?;
        self.inner.freeze_active()?;
        loop {
            let step = self.inner.flush_step()?;
            if step == BackgroundStep::Idle {
                return Ok(());
            }
        }
    }

    /// Performs one unit of background work (a flush, a compaction, or the
    /// deletion of obsolete files) and says what it did. This is how the
    /// simulator drives `BackgroundMode::Manual`; in `Thread` mode it may
    /// also be called, and is serialized with the thread.
    pub fn step_background(&self) -> Result<BackgroundStep> {
        self.inner.check_open()?;
        self.inner.step()
    }

    /// Runs background steps until there is nothing left to do.
    pub fn compact(&self) -> Result<()> {
        self.inner.check_open()?;
        // Bounded: every step either flushes a memtable, moves or merges
        // files towards their target, or reports Idle.
        for _ in 0..100_000 {
            if self.inner.step()? == BackgroundStep::Idle {
                return Ok(());
            }
        }
        Err(Error::InvalidArgument(
            "compaction did not settle after 100000 steps".into(),
        ))
    }

    /// Work counters and the shape of the tree.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// The current throttle on writers from the level-0 file count.
    pub fn write_pressure(&self) -> WritePressure {
        let st = self.inner.read_state();
        write_pressure(&st.version, &self.inner.opts.compaction)
    }

    /// Closes the database: stops background work, syncs the WAL so
    /// buffered writes are durable, and releases the lock. Dropping a `Db`
    /// without `close` behaves like a process crash.
    pub fn close(mut self) -> Result<()> {
        self.stop_background();
        self.inner.closed.store(true, Ordering::Release);
        let result = if self.inner.poisoned.load(Ordering::Acquire) {
            Err(self.inner.poison_error())
        } else {
            lock(&self.inner.wal).writer.sync()
        };
        lock(&self.inner.lock).take();
        result
    }

    /// Holds compactions (flushes go on) until the returned guard drops:
    /// for taking consistent file copies, and for tests of write stalls.
    pub fn pause_compactions(&self) -> CompactionPause<'_> {
        self.inner.compactions_paused.fetch_add(1, Ordering::SeqCst);
        CompactionPause { db: self }
    }

    /// The directory the database lives in.
    pub fn path(&self) -> &Path {
        &self.inner.dir
    }

    fn stop_background(&mut self) {
        if let Some(handle) = self.bg_thread.take() {
            lock(&self.inner.bg_signal.state).shutdown = true;
            self.inner.bg_signal.wake.notify_all();
            let _ = handle.join();
        }
    }
}

/// Compactions resume when this drops.
#[derive(Debug)]
pub struct CompactionPause<'a> {
    db: &'a Db,
}

impl Drop for CompactionPause<'_> {
    fn drop(&mut self) {
        self.db
            .inner
            .compactions_paused
            .fetch_sub(1, Ordering::SeqCst);
        self.db.inner.signal_background();
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        self.stop_background();
        // Snapshots may keep the state alive; the handle is gone, so reads
        // through them end and the directory is free for the next opener.
        self.inner.closed.store(true, Ordering::Release);
        lock(&self.inner.lock).take();
    }
}

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

fn open_inner(dir: &Path, opts: Options) -> Result<DbInner> {
    let dir = dir.to_path_buf();
    let fs = opts.fs.clone();
    validate_options(&opts)?;
    let exists = fs.exists(&dir).map_err(|e| Error::io(&dir, e))?;
    if !exists {
        if !opts.create_if_missing {
            return Err(Error::InvalidArgument(format!(
                "database directory {} does not exist and create_if_missing is false",
                dir.display()
            )));
        }
        fs.create_dir_all(&dir).map_err(|e| Error::io(&dir, e))?;
        if let Some(parent) = dir.parent() {
            if !parent.as_os_str().is_empty() {
                fs.sync_dir(parent).map_err(|e| Error::io(parent, e))?;
            }
        }
    }
    let lock_path = dir.join(LOCK_FILE);
    let lock_guard = fs.lock(&lock_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked { path: dir.clone() }
        } else {
            Error::io(&lock_path, e)
        }
    })?;
    let limits = WalLimits {
        key_bytes_max: opts.key_bytes_max,
        value_bytes_max: opts.value_bytes_max,
        record_bytes_max: opts.batch_bytes_max,
    };

    let names = fs.list_dir(&dir).map_err(|e| Error::io(&dir, e))?;
    let kinds: Vec<FileKind> = names.iter().filter_map(|n| parse_file_name(n)).collect();
    let max_file_number = kinds
        .iter()
        .filter_map(|k| match k {
            FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n) => Some(*n),
            _ => None,
        })
        .max()
        .unwrap_or(0);

    let (version, log_number, manifest_next, manifest_last_seqno) =
        match manifest::recover(&*fs, &dir)? {
            Some(r) => (r.version, r.log_number, r.next_file_number, r.last_seqno),
            None => {
                // No CURRENT: a new database, or the debris of a crash while
                // creating one. Data files without a manifest are not ours
                // to guess about.
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
                (Version::new(), 0, 1, 0)
            }
        };
    version.check()?;
    let mut next_file = manifest_next.max(max_file_number + 1);

    // Replay the WAL segments not yet flushed.
    let mut segments: Vec<u64> = kinds
        .iter()
        .filter_map(|k| match k {
            FileKind::Wal(n) if *n >= log_number => Some(*n),
            _ => None,
        })
        .collect();
    segments.sort_unstable();
    let recovered = new_memtable(opts.memtable);
    let last_seqno = replay_wal(
        &*fs,
        &dir,
        &segments,
        manifest_last_seqno,
        &limits,
        opts.recovery,
        &*recovered,
    )?;

    // Numbers for the new manifest and the new WAL segment.
    let manifest_number = next_file;
    let wal_number = next_file + 1;
    next_file += 2;
    // Re-persist what replay recovered as a level-0 table BEFORE the new
    // segment exists, and retire every replayed segment in the same manifest
    // that adds the table. The replayed bytes may sit in the page cache
    // without being durable (a tail never synced, or a failed fsync, after
    // which a later fsync may report success without writing them:
    // "fsyncgate"), so syncing the old segment again proves nothing. Were
    // the new segment created first, a power loss before the table is
    // durable would leave a damaged tail in a segment that is no longer the
    // last, which recovery must call corruption. This keeps the invariant
    // rotation keeps: a segment is created only when every older segment
    // is durable or retired. (A table written before a crash and not yet
    // named by a manifest is deleted as obsolete by the next open.)
    let mut version = version;
    let mut recovery_table_bytes = 0;
    if !recovered.is_empty() {
        let number = next_file;
        next_file += 1;
        let summary = background::write_memtable(&*fs, &dir, opts.table, &*recovered, number, &[])?;
        fs.sync_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        recovery_table_bytes = summary.file_bytes;
        let edit = VersionEdit {
            added: vec![(0, background::meta_from(number, &summary))],
            ..VersionEdit::default()
        };
        version = version.apply(&edit)?;
    }
    drop(recovered);
    // The fresh manifest: the recovered version (with the recovery table),
    // every existing segment retired. An old segment left referenced could
    // also carry state of a failed earlier recovery attempt, e.g. a
    // truncation whose sync failed. Only then the fresh segment.
    let log_number = wal_number;
    let mut snapshot = version.snapshot_edit();
    snapshot.log_number = Some(log_number);
    snapshot.next_file_number = Some(next_file);
    snapshot.last_seqno = Some(last_seqno);
    let manifest_writer = ManifestWriter::create(&*fs, &dir, manifest_number, &snapshot)?;
    let writer = WalWriter::create(&*fs, &dir, wal_number)?;

    let version = Arc::new(version);
    let blocks = Arc::new(BlockCache::new(opts.block_cache_bytes));
    let inner = DbInner {
        tables: Arc::new(TableCache::new(fs.clone(), dir.clone(), blocks)),
        versions: Mutex::new(vec![Arc::downgrade(&version)]),
        state: RwLock::new(State {
            active: new_memtable(opts.memtable),
            frozen: Vec::new(),
            version,
        }),
        manifest: Mutex::new(ManifestState {
            writer: manifest_writer,
            last_seqno,
            log_number,
        }),
        dir,
        fs,
        lock: Mutex::new(Some(lock_guard)),
        queue: CommitQueue::default(),
        wal: Mutex::new(WalState {
            writer,
            next_seqno: last_seqno + 1,
            buf: Vec::new(),
        }),
        bg_work: Mutex::new(()),
        bg_signal: BgSignal::default(),
        next_file_number: AtomicU64::new(next_file),
        compactions_paused: AtomicU64::new(0),
        visible_seqno: AtomicU64::new(last_seqno),
        poisoned: AtomicBool::new(false),
        poison_cause: Mutex::new(None),
        closed: AtomicBool::new(false),
        snapshots: Mutex::new(BTreeMap::new()),
        stats: StatsCounters::default(),
        opts,
    };
    if recovery_table_bytes > 0 {
        inner.stats.flushes.store(1, Ordering::Relaxed);
        inner
            .stats
            .table_bytes_written
            .store(recovery_table_bytes, Ordering::Relaxed);
    }
    // Files no version references (a crash's leftovers, older manifests,
    // flushed WAL segments) go now that the new manifest is durable.
    inner.delete_obsolete_files();
    Ok(inner)
}

/// Replays WAL segments `segments` (sorted) into `mem`, starting after
/// `last_seqno`; returns the last sequence number replayed. Applies the
/// recovery mode to damage and truncates a torn tail durably.
fn replay_wal(
    fs: &dyn FileSystem,
    dir: &Path,
    segments: &[u64],
    last_seqno: SeqNo,
    limits: &WalLimits,
    mode: RecoveryMode,
    mem: &dyn Memtable,
) -> Result<SeqNo> {
    let mut last = last_seqno;
    for (i, &number) in segments.iter().enumerate() {
        let path = dir.join(crate::filename::wal_file_name(number));
        let file = fs
            .open(&path, OpenMode::ReadWrite)
            .map_err(|e| Error::io(&path, e))?;
        let scan = wal::scan_segment(&*file, &path, number, limits, &mut |offset, rec| {
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
        if let Some(damage) = scan.damage {
            if mode == RecoveryMode::TruncateTornTail
                && scan.file_bytes <= wal::SEGMENT_HEADER_BYTES as u64
            {
                // Torn while being created (its header sync failed or never
                // ran): there is no byte a record could be in, so it cannot
                // hide data, wherever it sits in the sequence. Remove it
                // durably, or it would read as damage once a newer segment
                // follows it.
                drop(file);
                fs.remove_file(&path).map_err(|e| Error::io(&path, e))?;
                fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
                continue;
            }
            let is_last = i + 1 == segments.len();
            // Damage is a crash artifact (a torn or never-synced tail) only
            // in the last segment, and only if no record after it proves a
            // sync completed over the damaged bytes.
            if mode == RecoveryMode::Strict || damage.synced_record_after.is_some() || !is_last {
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
            // A torn tail of the last segment: cut it off durably before any
            // new append (the seed system appended after the garbage).
            file.set_len(scan.valid_bytes)
                .and_then(|()| file.sync_all())
                .map_err(|e| Error::io(&path, e))?;
        }
    }
    Ok(last)
}

impl DbInner {
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poison_error());
        }
        Ok(())
    }

    pub(crate) fn poison_error(&self) -> Error {
        Error::Poisoned {
            cause: lock(&self.poison_cause)
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        }
    }

    pub(crate) fn poison(&self, e: &Error) {
        let mut cause = lock(&self.poison_cause);
        if cause.is_none() {
            *cause = Some(e.to_string());
        }
        self.poisoned.store(true, Ordering::Release);
        drop(cause);
        // Wake writers waiting on a stall so they see it.
        self.bg_signal.wake.notify_all();
    }

    pub(crate) fn read_state(&self) -> State {
        self.state.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Live snapshot sequence numbers, ascending.
    pub(crate) fn snapshot_seqnos(&self) -> Vec<SeqNo> {
        lock(&self.snapshots).keys().copied().collect()
    }

    fn validate_batch(&self, batch: &WriteBatch) -> Result<usize> {
        for op in batch.ops() {
            if op.key().len() > self.opts.key_bytes_max {
                return Err(Error::InvalidArgument(format!(
                    "key of {} bytes exceeds key_bytes_max {}",
                    op.key().len(),
                    self.opts.key_bytes_max
                )));
            }
            if let Some(v) = op.value() {
                if v.len() > self.opts.value_bytes_max {
                    return Err(Error::InvalidArgument(format!(
                        "value of {} bytes exceeds value_bytes_max {}",
                        v.len(),
                        self.opts.value_bytes_max
                    )));
                }
            }
        }
        let record_bytes = wal::encoded_record_bytes(batch.ops());
        if record_bytes - wal::RECORD_HEADER_BYTES > self.opts.batch_bytes_max {
            return Err(Error::InvalidArgument(format!(
                "batch of {record_bytes} encoded bytes exceeds batch_bytes_max {}",
                self.opts.batch_bytes_max
            )));
        }
        Ok(record_bytes)
    }

    fn write(&self, batch: WriteBatch, wo: WriteOptions) -> Result<SeqNo> {
        self.check_writable()?;
        if batch.is_empty() {
            return Ok(self.visible_seqno.load(Ordering::Acquire));
        }
        let record_bytes = self.validate_batch(&batch)?;
        self.throttle()?;
        self.stats
            .user_bytes_written
            .fetch_add(batch.payload_bytes() as u64, Ordering::Relaxed);
        self.queue.submit(batch, wo.sync, record_bytes, &|group| {
            self.commit_group(group)
        })
    }

    /// Slows writers while level 0 backs up and stops them while too many
    /// memtables or level-0 files wait. Only with a background thread: in
    /// manual mode the caller decides when work happens.
    fn throttle(&self) -> Result<()> {
        if self.opts.background == BackgroundMode::Manual {
            return Ok(());
        }
        let mut slowed = false;
        loop {
            self.check_writable()?;
            let (frozen, pressure) = {
                let st = self.state.read().unwrap_or_else(|p| p.into_inner());
                (
                    st.frozen.len(),
                    write_pressure(&st.version, &self.opts.compaction),
                )
            };
            if frozen >= self.opts.frozen_memtables_max || pressure == WritePressure::Stop {
                self.stats.write_stops.fetch_add(1, Ordering::Relaxed);
                self.signal_background();
                let flags = lock(&self.bg_signal.state);
                // Woken by every finished background step; the timeout only
                // re-checks for robustness.
                let _ = self
                    .bg_signal
                    .wake
                    .wait_timeout(flags, Duration::from_millis(10));
                continue;
            }
            if pressure == WritePressure::Slowdown && !slowed {
                self.stats.write_slowdowns.fetch_add(1, Ordering::Relaxed);
                slowed = true;
                std::thread::sleep(Duration::from_millis(1));
                continue;
            }
            return Ok(());
        }
    }

    /// The leader's work for one group (see DESIGN.md, "Group commit").
    fn commit_group(&self, group: &[Arc<Member>]) -> Result<Vec<SeqNo>> {
        self.check_writable()?;
        let mut wal = lock(&self.wal);
        let wal = &mut *wal;
        let active = {
            let st = self.state.read().unwrap_or_else(|p| p.into_inner());
            st.active.clone()
        };
        let active = if active.approximate_memory() >= self.opts.memtable_bytes_max {
            self.rotate(wal)?;
            self.read_state().active
        } else {
            active
        };
        let first = wal.next_seqno;
        let total_ops: u64 = group.iter().map(|m| m.batch.len() as u64).sum();
        if first + total_ops - 1 > SEQNO_MAX {
            return Err(Error::InvalidArgument("sequence numbers exhausted".into()));
        }
        wal.buf.clear();
        let mut seqnos = Vec::with_capacity(group.len());
        let mut seq = first;
        for m in group {
            let synced = wal.writer.synced_bytes();
            wal::encode_record(&mut wal.buf, seq, m.batch.ops(), synced);
            seq += m.batch.len() as u64;
            seqnos.push(seq - 1);
        }
        if let Err(e) = wal.writer.append(&wal.buf) {
            self.poison(&e);
            return Err(e);
        }
        self.stats
            .wal_bytes_written
            .fetch_add(wal.buf.len() as u64, Ordering::Relaxed);
        self.stats.commit_groups.fetch_add(1, Ordering::Relaxed);
        if group.iter().any(|m| m.sync == SyncMode::Durable) {
            if let Err(e) = wal.writer.sync() {
                // Never retried: the unsynced bytes must be treated as lost.
                self.poison(&e);
                return Err(e);
            }
            self.stats.wal_syncs.fetch_add(1, Ordering::Relaxed);
        }
        let mut seq = first;
        for m in group {
            for op in m.batch.ops() {
                match op {
                    BatchOp::Put { key, value } => active.insert(key, seq, Some(value)),
                    BatchOp::Delete { key } => active.insert(key, seq, None),
                }
                seq += 1;
            }
        }
        wal.next_seqno = seq;
        self.visible_seqno.store(seq - 1, Ordering::Release);
        Ok(seqnos)
    }

    /// Freezes the active memtable behind a new WAL segment. The old segment
    /// is synced first, so a later segment's synced records never outlive
    /// an earlier segment's unsynced ones. Caller holds the WAL lock.
    fn rotate(&self, wal: &mut WalState) -> Result<()> {
        let result = (|| {
            wal.writer.sync()?;
            let number = self.next_file_number.fetch_add(1, Ordering::SeqCst);
            let writer = WalWriter::create(&*self.fs, &self.dir, number)?;
            wal.writer = writer;
            let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
            let old = std::mem::replace(&mut st.active, new_memtable(self.opts.memtable));
            st.frozen.push(Frozen {
                mem: old,
                next_log: number,
                seqno_max: wal.next_seqno - 1,
            });
            Ok(())
        })();
        if let Err(e) = &result {
            self.poison(e);
        }
        self.signal_background();
        result
    }

    /// Freezes the active memtable if it holds anything.
    pub(crate) fn freeze_active(&self) -> Result<()> {
        self.check_writable()?;
        let mut wal = lock(&self.wal);
        if self.read_state().active.is_empty() {
            return Ok(());
        }
        self.rotate(&mut wal)
    }

    pub(crate) fn signal_background(&self) {
        if self.opts.background == BackgroundMode::Thread {
            lock(&self.bg_signal.state).pending = true;
            self.bg_signal.wake.notify_all();
        }
    }

    pub(crate) fn get_at(&self, key: &[u8], at: SeqNo) -> Result<Option<Vec<u8>>> {
        let st = self.read_state();
        if let Some((_, v)) = st.active.get(key, at) {
            return Ok(v);
        }
        for f in st.frozen.iter().rev() {
            if let Some((_, v)) = f.mem.get(key, at) {
                return Ok(v);
            }
        }
        // Level 0 newest first: flushes produce disjoint, ascending sequence
        // ranges, so the first table with a visible version has the newest.
        for f in st.version.files(0) {
            if f.covers(key) {
                if let Some((_, v)) = self.tables.get(f.number)?.get(key, at)? {
                    return Ok(v);
                }
            }
        }
        for level in 1..LEVELS {
            let files = st.version.files(level);
            let i = files.partition_point(|f| f.largest_key.as_slice() < key);
            if let Some(f) = files.get(i) {
                if f.covers(key) {
                    if let Some((_, v)) = self.tables.get(f.number)?.get(key, at)? {
                        return Ok(v);
                    }
                }
            }
        }
        Ok(None)
    }

    pub(crate) fn range_at<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: &R,
        at: SeqNo,
    ) -> Result<DbIter> {
        let lower = clone_bound(range.start_bound());
        let upper = clone_bound(range.end_bound());
        let st = self.read_state();
        let mut sources: Vec<Arc<dyn Source>> = Vec::new();
        sources.push(Arc::new(MemSource::new(st.active.clone())));
        for f in st.frozen.iter().rev() {
            sources.push(Arc::new(MemSource::new(f.mem.clone())));
        }
        for f in st.version.files(0) {
            sources.push(Arc::new(LevelSource::new(
                vec![f.clone()],
                self.tables.clone(),
                st.version.clone(),
            )));
        }
        for level in 1..LEVELS {
            let files = st.version.files(level);
            if !files.is_empty() {
                sources.push(Arc::new(LevelSource::new(
                    files.to_vec(),
                    self.tables.clone(),
                    st.version.clone(),
                )));
            }
        }
        Ok(DbIter::new(sources, lower, upper, at))
    }

    fn stats(&self) -> Stats {
        let s = &self.stats;
        let st = self.read_state();
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
            table_bytes_written: r(&s.table_bytes_written),
            flushes: r(&s.flushes),
            compactions: r(&s.compactions),
            trivial_moves: r(&s.trivial_moves),
            compaction_bytes_read: r(&s.compaction_bytes_read),
            write_slowdowns: r(&s.write_slowdowns),
            write_stops: r(&s.write_stops),
            obsolete_files_deleted: r(&s.obsolete_files_deleted),
            levels,
            frozen_memtables: st.frozen.len(),
            table_reads: self.tables.read_stats(),
        }
    }

    /// Installs `edit`: checks it applies, makes it durable in the manifest,
    /// then swaps the new version in and lets `update` adjust the state in
    /// the same critical section. A manifest failure poisons the database.
    pub(crate) fn log_and_apply(
        &self,
        edit: &VersionEdit,
        update: &mut dyn FnMut(&mut State),
    ) -> Result<()> {
        let mut m = lock(&self.manifest);
        let current = self.read_state().version;
        let next = Arc::new(current.apply(edit)?);
        if let Err(e) = m.writer.append(edit) {
            self.poison(&e);
            return Err(e);
        }
        if let Some(s) = edit.last_seqno {
            m.last_seqno = m.last_seqno.max(s);
        }
        if let Some(l) = edit.log_number {
            m.log_number = m.log_number.max(l);
        }
        {
            let mut st = self.state.write().unwrap_or_else(|p| p.into_inner());
            st.version = next.clone();
            update(&mut st);
        }
        {
            let mut vs = lock(&self.versions);
            vs.retain(|w| w.strong_count() > 0);
            vs.push(Arc::downgrade(&next));
        }
        if m.writer.file_bytes() > self.opts.manifest_bytes_max {
            // Start a fresh manifest holding one snapshot of the state.
            let number = self.next_file_number.fetch_add(1, Ordering::SeqCst);
            let mut snap = next.snapshot_edit();
            snap.log_number = Some(m.log_number);
            snap.next_file_number = Some(self.next_file_number.load(Ordering::SeqCst));
            snap.last_seqno = Some(m.last_seqno);
            match ManifestWriter::create(&*self.fs, &self.dir, number, &snap) {
                Ok(w) => {
                    let old = std::mem::replace(&mut m.writer, w);
                    // Best effort: an old manifest left behind is deleted at
                    // the next open.
                    let _ = self.fs.remove_file(old.path());
                }
                Err(e) => {
                    self.poison(&e);
                    return Err(e);
                }
            }
        }
        self.bg_signal.wake.notify_all();
        Ok(())
    }
}

fn clone_bound<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// A pinned read view. Dropping it releases what it pins.
#[derive(Debug)]
pub struct Snapshot {
    db: Arc<DbInner>,
    seqno: SeqNo,
}

impl Snapshot {
    /// The snapshot's sequence number: it sees writes with sequence numbers
    /// up to and including this.
    pub fn seqno(&self) -> SeqNo {
        self.seqno
    }

    /// The value of `key` as of the snapshot.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.check_open()?;
        self.db.get_at(key, self.seqno)
    }

    /// An ordered iterator over `range` as of the snapshot.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<DbIter> {
        self.db.check_open()?;
        self.db.range_at(&range, self.seqno)
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        let mut snaps = lock(&self.db.snapshots);
        if let Some(n) = snaps.get_mut(&self.seqno) {
            *n -= 1;
            if *n == 0 {
                snaps.remove(&self.seqno);
            }
        }
    }
}
