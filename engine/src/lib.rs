//! Strata: a verification-first embedded LSM key-value engine.
//!
//! See `engine/DESIGN.md` for the on-disk formats and the protocols.

pub mod error;
pub mod fs;
pub mod memtable;
pub mod options;
pub mod sst;
pub mod types;

pub use error::{Error, Result};
pub use options::{BackgroundMode, MemtableKind, Options, RecoveryMode, SyncMode, WriteOptions};
pub use types::{Direction, SeqNo};
