//! Strata: a verification-first embedded LSM key-value engine.
//!
//! See `engine/DESIGN.md` for the on-disk formats and the protocols.

pub mod compaction;
pub mod error;
pub mod fs;
pub mod manifest;
pub mod memtable;
pub mod options;
pub mod types;
pub mod version;

pub use error::{Error, Result};
pub use options::{BackgroundMode, MemtableKind, Options, RecoveryMode, SyncMode, WriteOptions};
pub use types::{Direction, SeqNo};
