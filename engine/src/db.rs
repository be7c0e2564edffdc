//! The database: open/recovery, the write path and reads.

use std::collections::BTreeMap;
use std::ops::{Bound, RangeBounds};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use crate::batch::{BatchOp, WriteBatch};
use crate::commit::{CommitQueue, Member};
use crate::error::{Error, Result};
use crate::filename::{parse_file_name, FileKind, LOCK_FILE};
use crate::fs::{FileLock, FileSystem, OpenMode};
use crate::iter::{DbIter, MemSource, Source};
use crate::memtable::{BTreeMemtable, Memtable};
use crate::options::{MemtableKind, Options, RecoveryMode, SyncMode, WriteOptions};
use crate::types::{SeqNo, SEQNO_MAX};
use crate::wal::{self, WalLimits, WalWriter};

/// An open Strata database. `Db` is `Send + Sync`: share it with `Arc`.
#[derive(Debug)]
pub struct Db {
    inner: Arc<DbInner>,
}

/// Memtables: the active one takes writes; frozen ones wait for flush.
#[derive(Debug, Clone)]
pub(crate) struct MemState {
    pub active: Arc<dyn Memtable>,
    /// Frozen memtables, oldest first.
    pub frozen: Vec<Arc<dyn Memtable>>,
}

#[derive(Debug)]
struct WalState {
    writer: WalWriter,
    /// Next sequence number to assign.
    next_seqno: SeqNo,
    /// Reused encoding buffer.
    buf: Vec<u8>,
}

#[derive(Debug)]
pub(crate) struct DbInner {
    dir: PathBuf,
    opts: Options,
    #[allow(dead_code, reason = "used by flush, next commit")]
    fs: Arc<dyn FileSystem>,
    #[allow(dead_code, reason = "used by flush, next commit")]
    limits: WalLimits,
    _lock: Box<dyn FileLock>,
    queue: CommitQueue,
    wal: Mutex<WalState>,
    mem: RwLock<MemState>,
    /// Highest sequence number readers may see.
    visible_seqno: AtomicU64,
    /// Set once a write or sync fails; writes are refused until reopen.
    poisoned: AtomicBool,
    poison_cause: Mutex<Option<String>>,
    closed: AtomicBool,
    /// Live snapshots: sequence number -> count.
    snapshots: Mutex<BTreeMap<SeqNo, usize>>,
    stats: StatsCounters,
}

#[derive(Debug, Default)]
struct StatsCounters {
    user_bytes_written: AtomicU64,
    wal_bytes_written: AtomicU64,
    wal_syncs: AtomicU64,
    commit_groups: AtomicU64,
}

/// Counters describing the database's work so far.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Stats {
    /// Key and value bytes handed to write calls.
    pub user_bytes_written: u64,
    /// Bytes appended to WAL segments.
    pub wal_bytes_written: u64,
    /// WAL syncs issued.
    pub wal_syncs: u64,
    /// Commit groups written (writes / groups = average group size).
    pub commit_groups: u64,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn new_memtable(kind: MemtableKind) -> Arc<dyn Memtable> {
    match kind {
        MemtableKind::BTree => Arc::new(BTreeMemtable::new()),
    }
}

impl Db {
    /// Opens (or creates) the database in `path`, recovering from the WAL.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let dir = path.as_ref().to_path_buf();
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

        // Replay the WAL.
        let names = fs.list_dir(&dir).map_err(|e| Error::io(&dir, e))?;
        let mut segments: Vec<u64> = names
            .iter()
            .filter_map(|n| match parse_file_name(n) {
                Some(FileKind::Wal(n)) => Some(n),
                _ => None,
            })
            .collect();
        segments.sort_unstable();
        let max_file_number = names
            .iter()
            .filter_map(|n| match parse_file_name(n) {
                Some(FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n)) => Some(n),
                _ => None,
            })
            .max()
            .unwrap_or(0);
        let recovered = new_memtable(opts.memtable);
        let last_seqno = replay_wal(
            &*fs,
            &dir,
            &segments,
            0,
            &limits,
            opts.recovery,
            &*recovered,
        )?;

        let next_file_number = max_file_number + 1;
        let writer = WalWriter::create(&*fs, &dir, next_file_number)?;
        let mut frozen = Vec::new();
        if !recovered.is_empty() {
            frozen.push(recovered);
        }
        let inner = DbInner {
            dir,
            fs,
            limits,
            _lock: lock_guard,
            queue: CommitQueue::default(),
            wal: Mutex::new(WalState {
                writer,
                next_seqno: last_seqno + 1,
                buf: Vec::new(),
            }),
            mem: RwLock::new(MemState {
                active: new_memtable(opts.memtable),
                frozen,
            }),
            visible_seqno: AtomicU64::new(last_seqno),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(None),
            closed: AtomicBool::new(false),
            snapshots: Mutex::new(BTreeMap::new()),
            stats: StatsCounters::default(),
            opts,
        };
        Ok(Db {
            inner: Arc::new(inner),
        })
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
        self.inner.range_at(&range, at, None)
    }

    /// Pins the current state: reads through the snapshot see exactly the
    /// writes with sequence numbers up to its own, until it is dropped.
    pub fn snapshot(&self) -> Snapshot {
        let seqno = self.inner.visible_seqno.load(Ordering::Acquire);
        *lock(&self.inner.snapshots).entry(seqno).or_insert(0) += 1;
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

    /// Work counters.
    pub fn stats(&self) -> Stats {
        let s = &self.inner.stats;
        Stats {
            user_bytes_written: s.user_bytes_written.load(Ordering::Relaxed),
            wal_bytes_written: s.wal_bytes_written.load(Ordering::Relaxed),
            wal_syncs: s.wal_syncs.load(Ordering::Relaxed),
            commit_groups: s.commit_groups.load(Ordering::Relaxed),
        }
    }

    /// Closes the database: syncs the WAL so buffered writes are durable, then
    /// releases the lock. Dropping a `Db` without `close` behaves like a
    /// process crash (buffered writes survive only what the OS keeps).
    pub fn close(self) -> Result<()> {
        self.inner.closed.store(true, Ordering::Release);
        if self.inner.poisoned.load(Ordering::Acquire) {
            return Err(self.inner.poison_error());
        }
        let wal = lock(&self.inner.wal);
        wal.writer.sync()
    }

    /// The directory the database lives in.
    pub fn path(&self) -> &Path {
        &self.inner.dir
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
    Ok(())
}

/// Replays WAL segments `segments` (sorted) into `mem`; returns the last
/// sequence number replayed (or `last_seqno` if none). Applies the
/// recovery mode to damage and truncates a torn tail before returning.
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
        let Some(damage) = scan.damage else { continue };
        let is_last = i + 1 == segments.len();
        let corrupt = || {
            Error::corruption(
                &path,
                damage.offset,
                format!(
                    "{}{}",
                    damage.reason,
                    match damage.valid_record_after {
                        Some(at) => format!("; a valid record follows at offset {at}"),
                        None => String::new(),
                    }
                ),
            )
        };
        if mode == RecoveryMode::Strict || damage.valid_record_after.is_some() || !is_last {
            return Err(corrupt());
        }
        // A torn tail of the last segment: cut it off durably before any
        // new append (the seed system appended after the garbage).
        file.set_len(scan.valid_bytes)
            .and_then(|()| file.sync_all())
            .map_err(|e| Error::io(&path, e))?;
    }
    Ok(last)
}

impl DbInner {
    fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    fn poison_error(&self) -> Error {
        Error::Poisoned {
            cause: lock(&self.poison_cause)
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        }
    }

    fn poison(&self, e: &Error) {
        let mut cause = lock(&self.poison_cause);
        if cause.is_none() {
            *cause = Some(e.to_string());
        }
        self.poisoned.store(true, Ordering::Release);
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
        self.check_open()?;
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poison_error());
        }
        if batch.is_empty() {
            return Ok(self.visible_seqno.load(Ordering::Acquire));
        }
        let record_bytes = self.validate_batch(&batch)?;
        self.stats
            .user_bytes_written
            .fetch_add(batch.payload_bytes() as u64, Ordering::Relaxed);
        self.queue.submit(batch, wo.sync, record_bytes, &|group| {
            self.commit_group(group)
        })
    }

    /// The leader's work for one group (see DESIGN.md, "Group commit").
    fn commit_group(&self, group: &[Arc<Member>]) -> Result<Vec<SeqNo>> {
        if self.poisoned.load(Ordering::Acquire) {
            return Err(self.poison_error());
        }
        let mut wal = lock(&self.wal);
        let wal = &mut *wal;
        let first = wal.next_seqno;
        let total_ops: u64 = group.iter().map(|m| m.batch.len() as u64).sum();
        if first + total_ops - 1 > SEQNO_MAX {
            return Err(Error::InvalidArgument("sequence numbers exhausted".into()));
        }
        wal.buf.clear();
        let mut seqnos = Vec::with_capacity(group.len());
        let mut seq = first;
        for m in group {
            wal::encode_record(&mut wal.buf, seq, m.batch.ops());
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
        let active = self
            .mem
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .active
            .clone();
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

    fn mem_state(&self) -> MemState {
        self.mem.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub(crate) fn get_at(&self, key: &[u8], at: SeqNo) -> Result<Option<Vec<u8>>> {
        let mem = self.mem_state();
        if let Some((_, v)) = mem.active.get(key, at) {
            return Ok(v);
        }
        for m in mem.frozen.iter().rev() {
            if let Some((_, v)) = m.get(key, at) {
                return Ok(v);
            }
        }
        Ok(None)
    }

    pub(crate) fn range_at<K: AsRef<[u8]>, R: RangeBounds<K>>(
        &self,
        range: &R,
        at: SeqNo,
        _snapshot: Option<&Snapshot>,
    ) -> Result<DbIter> {
        let lower = clone_bound(range.start_bound());
        let upper = clone_bound(range.end_bound());
        let mem = self.mem_state();
        let mut sources: Vec<Arc<dyn Source>> = Vec::new();
        sources.push(Arc::new(MemSource::new(mem.active.clone())));
        for m in mem.frozen.iter().rev() {
            sources.push(Arc::new(MemSource::new(m.clone())));
        }
        Ok(DbIter::new(sources, lower, upper, at))
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
        self.db.range_at(&range, self.seqno, Some(self))
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
