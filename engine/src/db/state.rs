//! The shared state behind a [`Db`](super::Db) handle, and its lock table.
//!
//! State and who may change it:
//! - `wal` (mutex): the commit leader appends; memtable rotation happens
//!   under it, so a frozen memtable covers exactly the WAL segments before
//!   the one that replaced it (`write.rs`).
//! - `state` (rwlock): the active memtable, the frozen ones and the current
//!   version. Readers clone the `Arc`s and release the lock at once. Flush
//!   installs its new version and drops its frozen memtable in one write, so
//!   a reader sees the data in one place or the other, never neither.
//! - `manifest` (mutex): appending a version edit and swapping the version
//!   in happen under it, one edit at a time (`versions.rs`).
//! - `bg_work` (mutex): held for every flush, compaction and obsolete-file
//!   deletion, so versions change one edit at a time (`background.rs`).
//!
//! Lock order, where two are held: `bg_work`, then `wal`, then `manifest`,
//! then `state`; `snapshots`, `versions`, `poison_cause` and the
//! background signal are leaves (nothing else is taken while they are held).
//!
//! Fields are visible to the `db` module's files; the ones only this file
//! changes (poisoning, closing, the snapshot registry and the directory
//! lock) are private and reached through methods.

use crate::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use crate::sync::{Arc, Weak};
use crate::sync::{Condvar, Mutex, RwLock};
use std::collections::BTreeMap;
use std::path::PathBuf;

use super::stats::StatsCounters;
use crate::commit::CommitQueue;
use crate::error::{Error, Result};
use crate::fs::{FileLock, FileSystem};
use crate::manifest::ManifestWriter;
use crate::memtable::{ArtMemtable, BTreeMemtable, Memtable};
use crate::options::{BackgroundMode, MemtableKind, Options};
use crate::sync::{lock, read};
use crate::table_cache::TableCache;
use crate::txn::ConflictHistory;
use crate::types::SeqNo;
use crate::version::Version;
use crate::wal::WalWriter;

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
    /// The memtable writes go to.
    pub active: Arc<dyn Memtable>,
    /// Frozen memtables, oldest first.
    pub frozen: Vec<Frozen>,
    /// The current set of tables.
    pub version: Arc<Version>,
}

/// The WAL side of the write path, under the `wal` mutex.
#[derive(Debug)]
pub(crate) struct WalState {
    /// The segment being appended to.
    pub writer: WalWriter,
    /// Next sequence number to assign.
    pub next_seqno: SeqNo,
    /// Reused encoding buffer.
    pub buf: Vec<u8>,
}

/// The manifest side of version changes, under the `manifest` mutex.
#[derive(Debug)]
pub(crate) struct ManifestState {
    /// The manifest being appended to.
    pub writer: ManifestWriter,
    /// Last sequence number recorded in the manifest (flushed data).
    pub last_seqno: SeqNo,
    /// WAL segments below this are flushed.
    pub log_number: u64,
}

/// Commit groups publish their sequence numbers in order: a group waits on
/// `turn`, under `lock`, until the visible sequence number reaches the one
/// before its first (or the database is poisoned), and notifies `turn` when
/// it has published or failed.
#[derive(Debug, Default)]
pub(crate) struct PublishOrder {
    pub lock: Mutex<()>,
    pub turn: Condvar,
}

/// Signals between writers and the background thread.
#[derive(Debug, Default)]
pub(crate) struct BgSignal {
    /// What the background thread should do next.
    pub flags: Mutex<BgFlags>,
    /// Notified when work is pending, on shutdown, and after every finished
    /// background step (stalled writers wait on it).
    pub wake: Condvar,
}

impl BgSignal {
    /// Wakes every waiter. The flags lock is taken first, so a waiter that
    /// checked its condition under that lock is already waiting: the
    /// wake-up cannot fall between its check and its wait.
    pub(crate) fn notify(&self) {
        drop(lock(&self.flags));
        self.wake.notify_all();
    }
}

/// The background thread's instructions.
#[derive(Debug, Default)]
pub(crate) struct BgFlags {
    /// Work may be waiting.
    pub pending: bool,
    /// The thread must exit.
    pub shutdown: bool,
}

/// Everything one open database shares between its handle, its snapshots,
/// its iterators and its background thread.
#[derive(Debug)]
pub(crate) struct DbInner {
    pub(super) dir: PathBuf,
    pub(super) opts: Options,
    pub(super) fs: Arc<dyn FileSystem>,
    /// The directory lock; released by `close` and by dropping the `Db`,
    /// even while snapshots still reference this state.
    dir_lock: Mutex<Option<Box<dyn FileLock>>>,
    pub(super) queue: CommitQueue,
    pub(super) wal: Mutex<WalState>,
    pub(super) state: RwLock<State>,
    pub(super) manifest: Mutex<ManifestState>,
    pub(super) bg_work: Mutex<()>,
    pub(super) bg_signal: BgSignal,
    pub(super) tables: Arc<TableCache>,
    /// Every version ever installed that may still be referenced.
    pub(super) versions: Mutex<Vec<Weak<Version>>>,
    /// Set when a reader let go of the last hold on a version that is no
    /// longer current: its tables may be deletable now, though no flush or
    /// compaction is coming to delete them ([`DbInner::release_version`]).
    pub(super) tables_released: AtomicBool,
    /// Tables a compaction failed to read, confirmed by a second full read
    /// (so not a transient read fault): number -> (file, offset, reason) of
    /// the first failure. Compactions that would read one are skipped for
    /// the rest of this open instead of failing again and again; reads of
    /// their intact blocks go on. Empty at every open.
    pub(super) corrupt_tables: Mutex<BTreeMap<u64, (PathBuf, u64, String)>>,
    pub(super) next_file_number: AtomicU64,
    /// While non-zero, background steps flush but do not compact.
    pub(super) compactions_paused: AtomicU64,
    /// Highest sequence number readers may see.
    pub(super) visible_seqno: AtomicU64,
    /// Orders the groups' publications of `visible_seqno` (see
    /// `DbInner::publish`).
    pub(super) publish: PublishOrder,
    /// Set once a write, sync or background step fails; writes are refused
    /// until reopen.
    poisoned: AtomicBool,
    poison_cause: Mutex<Option<String>>,
    /// Set by `close` or dropping the handle; shared with iterators, which
    /// then return `Closed` like snapshots do.
    pub(super) closed: Arc<AtomicBool>,
    /// Live snapshots: sequence number -> count.
    pub(super) snapshots: Mutex<BTreeMap<SeqNo, usize>>,
    /// Keys committed since the oldest live transaction's snapshot, for
    /// transactions' conflict checks. Lock order: after `wal`.
    pub(super) txn_history: Mutex<ConflictHistory>,
    pub(super) stats: StatsCounters,
    /// Opened with `Db::open_read_only`.
    pub(super) read_only: bool,
    /// Calls in flight on the handle (`Db::close` waits for them).
    pub(super) gate: super::gate::CallGate,
}

/// The parts of a [`DbInner`] that recovery produces.
pub(super) struct Recovered {
    pub dir: PathBuf,
    pub opts: Options,
    /// None when opened read-only (no lock is taken).
    pub dir_lock: Option<Box<dyn FileLock>>,
    pub version: Arc<Version>,
    pub manifest: ManifestState,
    pub wal: WalWriter,
    /// The last sequence number recovered.
    pub last_seqno: SeqNo,
    pub next_file_number: u64,
    pub tables: Arc<TableCache>,
    pub stats: StatsCounters,
    /// The memtable replay filled (read-only opens), else a new one.
    pub active: Option<Arc<dyn Memtable>>,
    /// Opened read-only: every write refused, nothing on disk changed.
    pub read_only: bool,
}

/// A new, empty memtable of `kind`.
pub(crate) fn new_memtable(kind: MemtableKind) -> Arc<dyn Memtable> {
    match kind {
        MemtableKind::BTree => Arc::new(BTreeMemtable::new()),
        MemtableKind::Art => Arc::new(ArtMemtable::new()),
    }
}

impl DbInner {
    /// The state of a freshly recovered database.
    pub(super) fn new(r: Recovered) -> DbInner {
        DbInner {
            fs: r.opts.fs.clone(),
            versions: Mutex::new(vec![Arc::downgrade(&r.version)]),
            tables_released: AtomicBool::new(false),
            corrupt_tables: Mutex::new(BTreeMap::new()),
            state: RwLock::new(State {
                active: r.active.unwrap_or_else(|| new_memtable(r.opts.memtable)),
                frozen: Vec::new(),
                version: r.version,
            }),
            manifest: Mutex::new(r.manifest),
            dir: r.dir,
            dir_lock: Mutex::new(r.dir_lock),
            read_only: r.read_only,
            gate: super::gate::CallGate::default(),
            queue: CommitQueue::default(),
            wal: Mutex::new(WalState {
                writer: r.wal,
                next_seqno: r.last_seqno + 1,
                buf: Vec::new(),
            }),
            bg_work: Mutex::new(()),
            bg_signal: BgSignal::default(),
            tables: r.tables,
            next_file_number: AtomicU64::new(r.next_file_number),
            compactions_paused: AtomicU64::new(0),
            visible_seqno: AtomicU64::new(r.last_seqno),
            publish: PublishOrder::default(),
            poisoned: AtomicBool::new(false),
            poison_cause: Mutex::new(None),
            closed: Arc::new(AtomicBool::new(false)),
            snapshots: Mutex::new(BTreeMap::new()),
            txn_history: Mutex::new(ConflictHistory::new(
                r.opts.transaction_history_max,
                r.last_seqno,
            )),
            stats: r.stats,
            opts: r.opts,
        }
    }

    /// `Closed` once the handle was closed or dropped.
    pub(crate) fn check_open(&self) -> Result<()> {
        if self.closed.load(Ordering::Acquire) {
            return Err(Error::Closed);
        }
        Ok(())
    }

    /// `Closed`, or `Poisoned` after a failed write, sync or background step.
    pub(crate) fn check_writable(&self) -> Result<()> {
        self.check_open()?;
        self.refuse_if_read_only()?;
        if self.is_poisoned() {
            return Err(self.poison_error());
        }
        Ok(())
    }

    /// Enters the call gate: `Closed` once the database is closing.
    pub(crate) fn enter(&self) -> Result<super::gate::CallGuard<'_>> {
        self.gate.enter(&self.closed)
    }

    /// `InvalidArgument` on a database opened read-only (checked before
    /// any work, so the refusal never poisons it).
    pub(crate) fn refuse_if_read_only(&self) -> Result<()> {
        if self.read_only {
            return Err(Error::InvalidArgument(format!(
                "{} was opened read-only: writes, flushes and compactions are refused",
                self.dir.display()
            )));
        }
        Ok(())
    }

    /// Whether a failure has made the database refuse writes.
    pub(super) fn is_poisoned(&self) -> bool {
        self.poisoned.load(Ordering::Acquire)
    }

    /// The error writes get once the database is poisoned.
    pub(crate) fn poison_error(&self) -> Error {
        Error::Poisoned {
            cause: lock(&self.poison_cause)
                .clone()
                .unwrap_or_else(|| "unknown".into()),
        }
    }

    /// Refuses every later write, remembering the first cause.
    pub(crate) fn poison(&self, e: &Error) {
        let mut cause = lock(&self.poison_cause);
        if cause.is_none() {
            *cause = Some(e.to_string());
            crate::probe::hit(crate::probe::Probe::Poisoned);
        }
        self.poisoned.store(true, Ordering::Release);
        drop(cause);
        // Wake writers waiting on a stall so they see it.
        self.bg_signal.notify();
    }

    /// Marks the handle closed and releases the directory lock. Snapshots
    /// may keep this state alive; reads through them end.
    pub(super) fn close_handle(&self) {
        self.closed.store(true, Ordering::Release);
        lock(&self.dir_lock).take();
    }

    /// The readers' view, cloned out of the lock. A reader outside the
    /// background steps hands the version back through
    /// [`DbInner::release_version`] when done (or borrows the state under
    /// the lock instead of cloning it).
    pub(crate) fn read_state(&self) -> State {
        read(&self.state).clone()
    }

    /// Registers a snapshot at the current visible sequence number and
    /// returns it. The sequence number is read under the registry's lock,
    /// so a compaction listing snapshots cannot miss this one.
    pub(super) fn register_snapshot(&self) -> SeqNo {
        let mut snaps = lock(&self.snapshots);
        let seqno = self.visible_seqno.load(Ordering::Acquire);
        *snaps.entry(seqno).or_insert(0) += 1;
        seqno
    }

    /// Forgets one snapshot at `seqno`.
    pub(super) fn release_snapshot(&self, seqno: SeqNo) {
        let mut snaps = lock(&self.snapshots);
        if let Some(n) = snaps.get_mut(&seqno) {
            *n -= 1;
            if *n == 0 {
                snaps.remove(&seqno);
            }
        }
    }

    /// Live snapshot sequence numbers, ascending.
    pub(crate) fn snapshot_seqnos(&self) -> Vec<SeqNo> {
        lock(&self.snapshots).keys().copied().collect()
    }

    /// A reader is done with `version`. If it held the last reference
    /// (so the version is no longer current), the tables only that version
    /// kept are obsolete: the next background step deletes them, and the
    /// background thread, if there is one, is woken to take that step.
    /// (Before, they stayed on disk until the next flush or compaction, and
    /// on an idle database, for good: the concurrent campaign's liveness
    /// phase found it.) Call it holding no engine lock: waking the thread
    /// takes the signal's lock, which a throttled writer holds while it
    /// reads the state.
    pub(crate) fn release_version(&self, version: Arc<Version>) {
        if Arc::into_inner(version).is_some() {
            self.tables_released.store(true, Ordering::Release);
            self.signal_background();
        }
    }

    /// Wakes the background thread, if there is one.
    pub(crate) fn signal_background(&self) {
        if self.opts.background == BackgroundMode::Thread {
            lock(&self.bg_signal.flags).pending = true;
            self.bg_signal.wake.notify_all();
        }
    }
}
