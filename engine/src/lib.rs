//! Strata: a verification-first embedded LSM key-value engine.
//!
//! The on-disk formats are documented byte by byte in `engine/docs/FORMATS.md`
//! and the documents it lists; the protocols (group commit, recovery, flush,
//! compaction, reads) in `engine/DESIGN.md`.
//!
//! # Example
//!
//! Open a database in a directory, write, read, scan and pin a snapshot.
//! Every call returns `strata::Result`. This is the example of the
//! repository README's "Use it as a library" section; a hidden part of this
//! doctest checks that the two copies are equal.
//!
//! ```rust
//! use strata::{Db, Options, WriteBatch, WriteOptions};
//!
//! let dir = tempfile::tempdir()?;
//! let db = Db::open(dir.path(), Options::default())?;
//! db.put(b"apple", b"red", WriteOptions::DURABLE)?; // synced before it returns
//! db.put(b"fig", b"purple", WriteOptions::BUFFERED)?; // survives a process crash
//! let mut batch = WriteBatch::new();
//! batch.put("cherry", "dark red").delete("fig");
//! db.write(batch, WriteOptions::DURABLE)?; // all or nothing
//!
//! let snap = db.snapshot(); // reads as of now, until dropped
//! db.put(b"apple", b"green", WriteOptions::DURABLE)?;
//! assert_eq!(db.get(b"apple")?, Some(b"green".to_vec()));
//! assert_eq!(snap.get(b"apple")?, Some(b"red".to_vec()));
//! assert_eq!(db.get(b"fig")?, None);
//!
//! for kv in db.range("a".."d")? {
//!     let (key, value) = kv?; // ascending; `.rev()` for descending
//!     println!("{} = {}", String::from_utf8_lossy(&key), String::from_utf8_lossy(&value));
//! }
//! drop(snap);
//! db.close()?; // syncs buffered writes; dropping a Db instead acts as a crash
//! # // The README shows the visible lines above: keep the two copies equal.
//! # fn visible(block: &str) -> Vec<&str> {
//! #     block.lines().filter(|l| *l != "#" && !l.starts_with("# ")).collect()
//! # }
//! # let lib = include_str!("lib.rs");
//! # let lib: String = lib.lines().skip_while(|l| *l != "//! ```rust").skip(1)
//! #     .take_while(|l| *l != "//! ```")
//! #     .map(|l| l.strip_prefix("//! ").unwrap_or(l.strip_prefix("//!").unwrap_or(l)))
//! #     .collect::<Vec<_>>().join("\n");
//! # let readme = include_str!("../../README.md");
//! # let readme = readme.split("\n```rust\n").nth(1).expect("README has a rust example");
//! # let readme = readme.split("\n```\n").next().unwrap();
//! # assert_eq!(visible(&lib), visible(readme), "README example differs from lib.rs");
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```

#![warn(missing_docs)]
#![forbid(unsafe_code)]

pub mod batch;
mod coding;
mod commit;
pub mod compaction;
mod cursor;
mod db;
pub mod error;
mod filename;
mod flush;
pub mod format;
pub mod fs;
mod gc;
mod iter;
mod manifest;
pub mod memtable;
pub mod options;
pub mod probe;
pub mod repair;
mod sst;
#[doc(hidden)]
pub mod sync;
mod table_cache;
#[doc(hidden)]
pub mod testing;
mod txn;
pub mod types;
mod version;
mod wal;

pub use batch::{BatchOp, WriteBatch};
pub use compaction::{CompactionOptions, WritePressure};
pub use cursor::Cursor;
pub use db::{
    BackgroundStep, CheckpointReport, CompactionPause, Db, LevelStats, Properties, Snapshot, Stats,
    Transaction, TxnIter, PROPERTY_NAMES,
};
pub use error::{ConflictKind, Error, Result};
pub use iter::{DbIter, KeyIter};
pub use options::{BackgroundMode, MemtableKind, Options, RecoveryMode, SyncMode, WriteOptions};
pub use repair::{repair, RepairReport};
pub use sst::{Compression, TableOptions};
pub use txn::{Isolation, TransactionOptions};
pub use types::{Direction, SeqNo};
