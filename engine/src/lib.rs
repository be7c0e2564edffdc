//! Strata: a verification-first embedded LSM key-value engine.
//!
//! See `engine/DESIGN.md` for the on-disk formats and the protocols.

pub mod batch;
mod coding;
mod commit;
pub mod compaction;
mod db;
pub mod error;
pub mod filename;
mod flush;
pub mod fs;
mod gc;
mod iter;
pub mod manifest;
pub mod memtable;
pub mod options;
pub mod sst;
mod sync;
mod table_cache;
#[doc(hidden)]
pub mod testing;
pub mod types;
pub mod version;
pub mod wal;

pub use batch::{BatchOp, WriteBatch};
pub use compaction::{CompactionOptions, WritePressure};
pub use db::{BackgroundStep, CompactionPause, Db, LevelStats, Snapshot, Stats};
pub use error::{Error, Result};
pub use iter::DbIter;
pub use options::{BackgroundMode, MemtableKind, Options, RecoveryMode, SyncMode, WriteOptions};
pub use sst::{Compression, TableOptions};
pub use types::{Direction, SeqNo};
