//! Options: every durability and recovery choice is a named type.

use crate::sync::Arc;

use crate::compaction::CompactionOptions;
use crate::fs::{FileSystem, StdFs};
use crate::sst::TableOptions;

/// Which memtable implementation the engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum MemtableKind {
    /// `RwLock<BTreeMap>`, the baseline.
    BTree,
    /// The concurrent Adaptive Radix Tree (`strata-art`).
    #[default]
    Art,
}

/// Durability of one write.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum SyncMode {
    /// The write reached the WAL file (the OS page cache) before it is
    /// acknowledged, but may be lost by a power failure or kernel crash. It
    /// survives a process crash.
    #[default]
    Buffered,
    /// The write's WAL bytes were synced (fdatasync) before it is
    /// acknowledged: it survives power failure.
    Durable,
}

/// Options for one write call.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct WriteOptions {
    /// When the write is acknowledged: after its WAL bytes are written, or
    /// after they are synced.
    pub sync: SyncMode,
}

impl WriteOptions {
    /// Synced writes.
    pub const DURABLE: WriteOptions = WriteOptions {
        sync: SyncMode::Durable,
    };
    /// Buffered writes.
    pub const BUFFERED: WriteOptions = WriteOptions {
        sync: SyncMode::Buffered,
    };
}

/// How WAL recovery treats damaged records.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum RecoveryMode {
    /// A damaged or incomplete LAST record (a torn tail, the normal result of
    /// a crash) is cut off and the file truncated before any new append. A
    /// damaged record followed by a valid one is a Corruption error.
    #[default]
    TruncateTornTail,
    /// Any damage is a Corruption error.
    Strict,
}

/// Who runs flushes and compactions.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum BackgroundMode {
    /// A background thread.
    #[default]
    Thread,
    /// No threads: work happens only when the caller steps it with
    /// `Db::step_background`. Used by the simulator.
    Manual,
}

/// Options for [`Db::open`](crate::Db::open).
#[derive(Clone, Debug)]
pub struct Options {
    /// The storage the engine uses.
    pub fs: Arc<dyn FileSystem>,
    /// The memtable structure.
    pub memtable: MemtableKind,
    /// Create a new database (and its directory) if there is none: no
    /// `CURRENT` file in the directory. When false, opening a directory
    /// without a database (missing, empty, or the wrong path) is
    /// `InvalidArgument` and creates nothing, not even the `LOCK` file.
    pub create_if_missing: bool,
    /// Refuse to open an existing database (`InvalidArgument`, nothing
    /// touched): for callers that must start from an empty one.
    pub error_if_exists: bool,
    /// How WAL damage found at open is treated.
    pub recovery: RecoveryMode,
    /// Who runs flushes and compactions.
    pub background: BackgroundMode,
    /// Largest accepted key.
    pub key_bytes_max: usize,
    /// Largest accepted value.
    pub value_bytes_max: usize,
    /// Largest accepted write batch, encoded.
    pub batch_bytes_max: usize,
    /// The active memtable is frozen and flushed past this size.
    pub memtable_bytes_max: usize,
    /// Writers wait (in `BackgroundMode::Thread`) while this many frozen
    /// memtables wait for flush.
    pub frozen_memtables_max: usize,
    /// How tables are written.
    pub table: TableOptions,
    /// Level sizes, level-0 triggers and write throttling.
    pub compaction: CompactionOptions,
    /// Capacity of the block cache shared by all tables.
    pub block_cache_bytes: usize,
    /// The manifest is rewritten as a fresh snapshot past this size.
    pub manifest_bytes_max: u64,
    /// Most committed writes kept for transactions' conflict checks (while
    /// any transaction is live). A transaction older than the oldest kept
    /// write fails its commit with `Conflict` (kind `HistoryExceeded`)
    /// rather than pass unchecked. Each entry costs about twice its key
    /// plus 64 bytes.
    pub transaction_history_max: usize,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            fs: Arc::new(StdFs),
            memtable: MemtableKind::default(),
            create_if_missing: true,
            error_if_exists: false,
            recovery: RecoveryMode::default(),
            background: BackgroundMode::default(),
            key_bytes_max: 64 * 1024,
            value_bytes_max: 16 * 1024 * 1024,
            batch_bytes_max: 64 * 1024 * 1024,
            memtable_bytes_max: 32 * 1024 * 1024,
            frozen_memtables_max: 2,
            table: TableOptions::default(),
            compaction: CompactionOptions::default(),
            block_cache_bytes: 64 * 1024 * 1024,
            manifest_bytes_max: 4 * 1024 * 1024,
            transaction_history_max: 1 << 16,
        }
    }
}
