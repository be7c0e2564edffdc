//! The database handle and its files, one per flow:
//!
//! | file | owns |
//! |---|---|
//! | `mod.rs` | the public [`Db`], [`Snapshot`] and [`CompactionPause`] |
//! | `state.rs` | `DbInner`: the shared state, its lock table, poisoning, the snapshot registry |
//! | `open.rs` | option validation, the directory lock, manifest recovery, WAL replay, the recovery table |
//! | `write.rs` | the write path: validation, throttle, the commit group, memtable rotation |
//! | `read.rs` | point lookups and range iterators at a sequence number |
//! | `transaction.rs` | optimistic transactions and their range iterator |
//! | `versions.rs` | installing version edits through the manifest |
//! | `background.rs` | which background step runs next: flush, trivial move or merge |
//! | `obsolete.rs` | deleting files nothing references |
//! | `stats.rs` | the work counters |

mod background;
mod checkpoint;
mod gate;
mod manual;
mod obsolete;
mod open;
mod properties;
mod read;
mod state;
mod stats;
mod transaction;
mod versions;
mod write;

use crate::sync::atomic::Ordering;
use crate::sync::thread::{Builder, JoinHandle};
use crate::sync::{lock, Arc, Mutex};
use std::ops::{Bound, RangeBounds};
use std::path::Path;

use crate::batch::WriteBatch;
use crate::compaction::{write_pressure, WritePressure};
use crate::cursor::{prefix_end, Cursor};
use crate::error::{Error, Result};
use crate::iter::DbIter;
use crate::options::{BackgroundMode, Options, WriteOptions};
use crate::txn::TransactionOptions;
use crate::types::SeqNo;
use state::DbInner;

pub use background::BackgroundStep;
pub use checkpoint::CheckpointReport;
pub use properties::{Properties, PROPERTY_NAMES};
pub use stats::{LevelStats, Stats};
pub use transaction::{Transaction, TxnIter};

/// An open Strata database. `Db` is `Send + Sync`: share it with `Arc`.
#[derive(Debug)]
pub struct Db {
    inner: Arc<DbInner>,
    bg_thread: Mutex<Option<JoinHandle<()>>>,
}

impl Db {
    /// Opens (or creates) the database in `path`: recovers the version from
    /// the manifest, replays the unflushed WAL segments into a new level-0
    /// table, and starts a new manifest and a new WAL segment.
    pub fn open(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let inner = Arc::new(open::open_inner(path.as_ref(), opts)?);
        let bg_thread = match inner.opts.background {
            BackgroundMode::Manual => None,
            BackgroundMode::Thread => {
                let worker = inner.clone();
                let handle = Builder::new()
                    .name("strata-background".into())
                    .spawn(move || worker.background_loop())
                    .map_err(|e| Error::io(&inner.dir, e))?;
                inner.signal_background();
                Some(handle)
            }
        };
        Ok(Db {
            inner,
            bg_thread: Mutex::new(bg_thread),
        })
    }

    /// Opens the database in `path` for reading only. Nothing on disk is
    /// created or changed, not even the `LOCK` file: the WAL left by an
    /// unclean shutdown is replayed into memory only (a torn tail is
    /// ignored where it lies), no table is written, no file deleted, no
    /// background work runs. Every write, flush and compaction returns
    /// `InvalidArgument`; reads, snapshots, cursors and properties work.
    /// A directory without a database is `InvalidArgument`.
    ///
    /// The handle reads the state of the moment it opened: every write
    /// acknowledged before the open began, and perhaps later ones that had
    /// reached the WAL, never a partial batch. It takes no lock, so a
    /// writer may be working in the directory, before or during the open:
    /// the open reads the manifest, replays the WAL, opens every live
    /// table, and starts over if a flush or compaction changed the manifest
    /// meanwhile (after 16 changed attempts in a row it gives up with an
    /// I/O error). Because its tables are open, the handle keeps reading
    /// its state after the writer's compactions delete their files (on file
    /// systems where an open file outlives its name, as on Linux and
    /// macOS). Opening every table costs one read of each table's index
    /// and filter. Reopen to see the writer's progress.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// db.put(b"k", b"v", strata::WriteOptions::DURABLE)?;
    /// drop(db); // a crash: the write is only in the WAL
    /// let ro = strata::Db::open_read_only(dir.path(), strata::Options::default())?;
    /// assert_eq!(ro.get(b"k")?, Some(b"v".to_vec()));
    /// assert!(ro.put(b"k", b"w", strata::WriteOptions::DURABLE).is_err());
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn open_read_only(path: impl AsRef<Path>, opts: Options) -> Result<Db> {
        let inner = Arc::new(open::open_read_only(path.as_ref(), opts)?);
        Ok(Db {
            inner,
            bg_thread: Mutex::new(None),
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
        let _call = self.inner.enter()?;
        self.inner.write(batch, wo)
    }

    /// The newest value of `key`.
    pub fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        let _call = self.inner.enter()?;
        self.inner.get_at(key, self.last_seqno())
    }

    /// An ordered iterator over the keys in `range`, usable from both ends.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<DbIter> {
        let _call = self.inner.enter()?;
        self.inner.range_at(&range, self.last_seqno())
    }

    /// An ordered iterator over the keys that start with `prefix`.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for k in ["user:1", "user:2", "users", "video:1"] {
    ///     db.put(k.as_bytes(), b"", strata::WriteOptions::BUFFERED)?;
    /// }
    /// let keys: Vec<Vec<u8>> = db.prefix(b"user:")?.map(|kv| kv.map(|(k, _)| k)).collect::<Result<_, _>>()?;
    /// assert_eq!(keys, [b"user:1".to_vec(), b"user:2".to_vec()]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn prefix(&self, prefix: &[u8]) -> Result<DbIter> {
        let _call = self.inner.enter()?;
        let range = (Bound::Included(prefix.to_vec()), prefix_end(prefix));
        self.inner.range_at(&range, self.last_seqno())
    }

    /// A seekable cursor over the whole database as of now (a consistent
    /// view, like an iterator's). Position it with a seek first.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for k in [b"a", b"c", b"e"] {
    ///     db.put(k, b"v", strata::WriteOptions::BUFFERED)?;
    /// }
    /// let mut c = db.cursor()?;
    /// c.seek(b"b");
    /// assert_eq!(c.key(), b"c");
    /// c.prev(); // direction changes are allowed
    /// assert_eq!(c.key(), b"a");
    /// c.seek_for_prev(b"d");
    /// assert_eq!(c.key(), b"c");
    /// c.seek_to_last();
    /// c.next();
    /// assert!(!c.valid() && c.status().is_ok()); // past the end, no error
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn cursor(&self) -> Result<Cursor> {
        let _call = self.inner.enter()?;
        let at = self.last_seqno();
        Ok(self.inner.cursor_at(Bound::Unbounded, Bound::Unbounded, at))
    }

    /// A seekable cursor confined to the keys that start with `prefix`.
    pub fn prefix_cursor(&self, prefix: &[u8]) -> Result<Cursor> {
        let _call = self.inner.enter()?;
        let at = self.last_seqno();
        let lower = Bound::Included(prefix.to_vec());
        Ok(self.inner.cursor_at(lower, prefix_end(prefix), at))
    }

    /// The values of `keys`, all read at one sequence number (a
    /// consistent view, unlike separate `get`s racing writers).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// db.put(b"a", b"1", strata::WriteOptions::BUFFERED)?;
    /// db.put(b"c", b"3", strata::WriteOptions::BUFFERED)?;
    /// let got = db.multi_get(&[&b"a"[..], b"b", b"c"])?;
    /// assert_eq!(got, [Some(b"1".to_vec()), None, Some(b"3".to_vec())]);
    /// assert!(db.contains_key(b"c")? && !db.contains_key(b"b")?);
    /// assert_eq!(db.first_key_value()?, Some((b"a".to_vec(), b"1".to_vec())));
    /// assert_eq!(db.last_key_value()?, Some((b"c".to_vec(), b"3".to_vec())));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        let _call = self.inner.enter()?;
        let at = self.last_seqno();
        keys.iter()
            .map(|k| self.inner.get_at(k.as_ref(), at))
            .collect()
    }

    /// Whether `key` has a value.
    pub fn contains_key(&self, key: &[u8]) -> Result<bool> {
        Ok(self.get(key)?.is_some())
    }

    /// The smallest key and its value, if the database holds any.
    pub fn first_key_value(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.range::<&[u8], _>(..)?.next().transpose()
    }

    /// The largest key and its value, if the database holds any.
    pub fn last_key_value(&self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        self.range::<&[u8], _>(..)?.next_back().transpose()
    }

    /// Begins a serializable optimistic transaction ([`Transaction`]) at
    /// the current state.
    pub fn transaction(&self) -> Transaction {
        self.transaction_with(TransactionOptions::default())
    }

    /// Begins an optimistic transaction at the isolation level in `opts`.
    pub fn transaction_with(&self, opts: TransactionOptions) -> Transaction {
        Transaction::begin(self.inner.clone(), opts)
    }

    /// Pins the current state: reads through the snapshot see exactly the
    /// writes with sequence numbers up to its own, until it is dropped.
    pub fn snapshot(&self) -> Snapshot {
        Snapshot {
            seqno: self.inner.register_snapshot(),
            db: self.inner.clone(),
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
        let _call = self.inner.enter()?;
        self.inner.flush_all()
    }

    /// Makes `dest`, a directory that must not exist yet, a consistent
    /// copy of the database holding every write up to one sequence number
    /// (at least every write acknowledged before the call) and none after,
    /// while other threads go on writing. Restoring is opening `dest`.
    ///
    /// The memtables are flushed first, so the copy is tables and a
    /// manifest, no WAL. Tables are hard links where the file system has
    /// them (no bytes copied; the copy and the database share them until
    /// compaction replaces the database's), copies otherwise. Every file and
    /// entry is synced before the last step writes `CURRENT`, so a
    /// checkpoint that returned `Ok` survives a power loss; one interrupted
    /// by a crash has no `CURRENT` and opens as no database (delete it).
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// # let copies = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// db.put(b"k", b"v1", strata::WriteOptions::BUFFERED)?;
    /// let copy = copies.path().join("monday");
    /// let report = db.checkpoint(&copy)?;
    /// db.put(b"k", b"v2", strata::WriteOptions::BUFFERED)?;
    /// assert_eq!(report.seqno, 1);
    /// let restored = strata::Db::open(&copy, strata::Options::default())?;
    /// assert_eq!(restored.get(b"k")?, Some(b"v1".to_vec()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn checkpoint(&self, dest: impl AsRef<Path>) -> Result<CheckpointReport> {
        let _call = self.inner.enter()?;
        self.inner.refuse_if_read_only()?;
        self.inner.flush_all()?;
        self.inner.checkpoint_to(dest.as_ref())
    }

    /// Performs one unit of background work (a flush, a compaction, or the
    /// deletion of obsolete files) and says what it did. This is how the
    /// simulator drives `BackgroundMode::Manual`; in `Thread` mode it may
    /// also be called, and is serialized with the thread.
    pub fn step_background(&self) -> Result<BackgroundStep> {
        let _call = self.inner.enter()?;
        self.inner.step()
    }

    /// Runs background steps until there is nothing left to do.
    pub fn compact(&self) -> Result<()> {
        let _call = self.inner.enter()?;
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

    /// Whether background work is due: a frozen memtable waits for its
    /// flush, or a level is over its compaction trigger (compactions held
    /// by [`Db::pause_compactions`] do not count). With
    /// `BackgroundMode::Thread` the thread is working on it or about to; a
    /// database that stays busy with no writes coming is a liveness bug.
    pub fn background_work_pending(&self) -> bool {
        self.inner.work_pending()
    }

    /// Compacts every table holding keys in `range` down to the deepest
    /// level that has data, then rewrites that level's tables in the range,
    /// so that overwritten versions and tombstones no snapshot needs are
    /// reclaimed now (automatic compaction reclaims them only when newer
    /// data overlaps their table). Memtables are flushed first. Runs on the
    /// calling thread, between background steps. `InvalidArgument` while
    /// compactions are paused.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for i in 0..100u32 {
    ///     db.put(&i.to_be_bytes(), b"old", strata::WriteOptions::BUFFERED)?;
    ///     db.put(&i.to_be_bytes(), b"new", strata::WriteOptions::BUFFERED)?;
    /// }
    /// db.compact_range::<&[u8], _>(..)?; // every old version is gone
    /// assert_eq!(db.get(&7u32.to_be_bytes())?, Some(b"new".to_vec()));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn compact_range<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<()> {
        let _call = self.inner.enter()?;
        let lo = range.start_bound().map(AsRef::as_ref);
        let hi = range.end_bound().map(AsRef::as_ref);
        self.inner.compact_range(lo, hi)
    }

    /// The database's shape, memory, caches and files now ([`Properties`]).
    pub fn properties(&self) -> Properties {
        self.inner.properties()
    }

    /// One property by name, as text (RocksDB-style names): the names in
    /// [`PROPERTY_NAMES`] and `strata.num-files-at-level<N>` /
    /// `strata.bytes-at-level<N>` for every level. `None` for an unknown
    /// name.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// db.put(b"k", b"v", strata::WriteOptions::BUFFERED)?;
    /// db.flush()?;
    /// assert_eq!(db.property("strata.num-files-at-level0").as_deref(), Some("1"));
    /// assert_eq!(db.property("strata.no-such-thing"), None);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn property(&self, name: &str) -> Option<String> {
        self.inner.properties().get(name)
    }

    /// About how many bytes of table files hold keys in `range` (memtables
    /// not counted), from the tables' indexes: a range within one data
    /// block counts as nothing.
    pub fn approximate_size<K: AsRef<[u8]>, R: RangeBounds<K>>(&self, range: R) -> Result<u64> {
        let _call = self.inner.enter()?;
        let lo = range.start_bound().map(AsRef::as_ref);
        let hi = range.end_bound().map(AsRef::as_ref);
        self.inner.approximate_size(lo, hi)
    }

    /// Work counters and the shape of the tree.
    pub fn stats(&self) -> Stats {
        self.inner.stats()
    }

    /// The current throttle on writers from the level-0 file count.
    pub fn write_pressure(&self) -> WritePressure {
        let st = crate::sync::read(&self.inner.state);
        write_pressure(&st.version, &self.inner.opts.compaction)
    }

    /// Closes the database: refuses new calls, waits for the calls in
    /// flight on this handle to return (not for open iterators, cursors or
    /// snapshots, which return `Closed` on their next use), stops
    /// background work, syncs the WAL so buffered writes are durable, ends
    /// the log with a close record (after which any damage to the log is
    /// reported as corruption at the next open, never cut off as a torn
    /// tail), and releases the lock. Takes `&self`, so a `Db` shared
    /// through `Arc` can be closed by any holder; after it every call
    /// returns `Closed`, a second `close` too. Dropping a `Db` without
    /// `close` behaves like a process crash.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// use std::sync::Arc;
    /// let db = Arc::new(strata::Db::open(dir.path(), strata::Options::default())?);
    /// let writer = {
    ///     let db = db.clone();
    ///     std::thread::spawn(move || db.put(b"k", b"v", strata::WriteOptions::BUFFERED))
    /// };
    /// writer.join().unwrap()?;
    /// let snap = db.snapshot();
    /// db.close()?; // through the shared handle; the write is durable now
    /// assert!(matches!(db.get(b"k"), Err(strata::Error::Closed)));
    /// assert!(matches!(snap.get(b"k"), Err(strata::Error::Closed)));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn close(&self) -> Result<()> {
        if !self.inner.gate.close(&self.inner.closed) {
            return Err(Error::Closed);
        }
        self.stop_background();
        let result = if self.inner.read_only {
            Ok(())
        } else if self.inner.is_poisoned() {
            Err(self.inner.poison_error())
        } else {
            self.inner.close_wal()
        };
        self.inner.close_handle();
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

    fn stop_background(&self) {
        let handle = lock(&self.bg_thread).take();
        if let Some(handle) = handle {
            self.inner.shut_down_background();
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
        self.inner.close_handle();
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

    /// An ordered iterator over the keys starting with `prefix`, as of the
    /// snapshot.
    pub fn prefix(&self, prefix: &[u8]) -> Result<DbIter> {
        self.db.check_open()?;
        let range = (Bound::Included(prefix.to_vec()), prefix_end(prefix));
        self.db.range_at(&range, self.seqno)
    }

    /// A seekable cursor as of the snapshot.
    pub fn cursor(&self) -> Result<Cursor> {
        self.db.check_open()?;
        Ok(self
            .db
            .cursor_at(Bound::Unbounded, Bound::Unbounded, self.seqno))
    }

    /// The values of `keys` as of the snapshot.
    pub fn multi_get<K: AsRef<[u8]>>(&self, keys: &[K]) -> Result<Vec<Option<Vec<u8>>>> {
        self.db.check_open()?;
        keys.iter()
            .map(|k| self.db.get_at(k.as_ref(), self.seqno))
            .collect()
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.db.release_snapshot(self.seqno);
    }
}
