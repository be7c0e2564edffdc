//! Strata: a verification-first embedded LSM key-value engine.
//!
//! See `engine/DESIGN.md` for the on-disk formats and the protocols.

pub mod batch;
mod commit;
mod db;
pub mod error;
pub mod filename;
pub mod fs;
mod iter;
pub mod memtable;
pub mod options;
pub mod types;
pub mod wal;

pub use batch::{BatchOp, WriteBatch};
pub use db::{Db, Snapshot, Stats};
pub use error::{Error, Result};
pub use iter::DbIter;
pub use options::{BackgroundMode, MemtableKind, Options, RecoveryMode, SyncMode, WriteOptions};
pub use types::{Direction, SeqNo};
