//! The engine's typed error.
//!
//! Every failure a caller can see is one of these variants. Corruption names
//! the file and the byte offset where the damage was found, so a user can go
//! and look at it with a hex editor.

use std::fmt;
use std::io;
use std::path::{Path, PathBuf};

use crate::types::SeqNo;

/// Result alias used throughout the engine.
pub type Result<T, E = Error> = std::result::Result<T, E>;

/// Everything that can go wrong in Strata.
#[derive(Debug)]
pub enum Error {
    /// An I/O call failed. `path` is the file or directory it was about.
    Io {
        /// The file or directory.
        path: PathBuf,
        /// What the operating system (or the simulated disk) said.
        source: io::Error,
    },
    /// Stored bytes failed validation (checksum, framing, length, ordering).
    Corruption {
        /// The damaged file.
        file: PathBuf,
        /// Byte offset of the damage in it.
        offset: u64,
        /// What is wrong there.
        reason: String,
    },
    /// Another handle (this process or another) holds the directory's lock.
    Locked {
        /// The database directory.
        path: PathBuf,
    },
    /// The caller passed something the engine refuses (sizes, options).
    InvalidArgument(String),
    /// A sync or write failed earlier; the engine refuses writes until it is
    /// reopened, because the unsynced data must be treated as lost
    /// ("fsyncgate"). `cause` describes the original failure.
    Poisoned {
        /// The first failure's message.
        cause: String,
    },
    /// The database was closed.
    Closed,
    /// A transaction's commit found a conflicting write committed after its
    /// snapshot; nothing of it was applied. Retry it from the start.
    Conflict {
        /// What conflicted.
        kind: ConflictKind,
        /// The key of the conflicting write (empty for `HistoryExceeded`).
        key: Vec<u8>,
        /// The conflicting write's sequence number (for `HistoryExceeded`,
        /// the oldest sequence number the history still covers).
        seqno: SeqNo,
    },
}

/// Why a transaction's commit was refused ([`Error::Conflict`]).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum ConflictKind {
    /// A key the transaction read, or a key inside a range it scanned, was
    /// written after its snapshot (serializable transactions).
    ReadChanged,
    /// A key the transaction writes was written after its snapshot
    /// (snapshot-isolation transactions).
    WriteWrite,
    /// The transaction is older than the bounded history of committed
    /// writes (`Options::transaction_history_max`), so it cannot be checked.
    HistoryExceeded,
}

impl Error {
    /// Wraps an I/O error with the path it concerns.
    pub fn io(path: impl AsRef<Path>, source: io::Error) -> Self {
        Error::Io {
            path: path.as_ref().to_path_buf(),
            source,
        }
    }

    /// A corruption error naming file and offset.
    pub fn corruption(file: impl AsRef<Path>, offset: u64, reason: impl Into<String>) -> Self {
        probe_corruption(file.as_ref());
        Error::Corruption {
            file: file.as_ref().to_path_buf(),
            offset,
            reason: reason.into(),
        }
    }

    /// True for [`Error::Corruption`].
    pub fn is_corruption(&self) -> bool {
        matches!(self, Error::Corruption { .. })
    }

    /// True for [`Error::Conflict`]: the transaction may be retried.
    pub fn is_conflict(&self) -> bool {
        matches!(self, Error::Conflict { .. })
    }

    /// True for [`Error::Io`].
    pub fn is_io(&self) -> bool {
        matches!(self, Error::Io { .. })
    }

    /// A copy of this error, for an error reported more than once (to each
    /// member of a failed commit group, by a cursor's `status`): an
    /// `io::Error` is not `Clone`, so the copy keeps its kind and message.
    pub fn duplicate(&self) -> Error {
        match self {
            Error::Io { path, source } => Error::Io {
                path: path.clone(),
                source: io::Error::new(source.kind(), source.to_string()),
            },
            Error::Corruption {
                file,
                offset,
                reason,
            } => Error::Corruption {
                file: file.clone(),
                offset: *offset,
                reason: reason.clone(),
            },
            Error::Locked { path } => Error::Locked { path: path.clone() },
            Error::InvalidArgument(m) => Error::InvalidArgument(m.clone()),
            Error::Poisoned { cause } => Error::Poisoned {
                cause: cause.clone(),
            },
            Error::Closed => Error::Closed,
            Error::Conflict { kind, key, seqno } => Error::Conflict {
                kind: *kind,
                key: key.clone(),
                seqno: *seqno,
            },
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::Io { path, source } => write!(f, "I/O error on {}: {source}", path.display()),
            Error::Corruption {
                file,
                offset,
                reason,
            } => write!(
                f,
                "corruption in {} at byte offset {offset}: {reason}",
                file.display()
            ),
            Error::Locked { path } => write!(
                f,
                "database directory is locked by another handle: {}",
                path.display()
            ),
            Error::InvalidArgument(msg) => write!(f, "invalid argument: {msg}"),
            Error::Poisoned { cause } => write!(
                f,
                "database refuses writes after an earlier write/sync failure ({cause}); reopen it"
            ),
            Error::Closed => write!(f, "database is closed"),
            Error::Conflict { kind, key, seqno } => match kind {
                ConflictKind::HistoryExceeded => write!(
                    f,
                    "transaction conflict: its snapshot is older than the conflict history, which covers writes after seqno {seqno}"
                ),
                ConflictKind::ReadChanged => write!(
                    f,
                    "transaction conflict: key {} that it read was written at seqno {seqno}, after its snapshot",
                    crate::format::hex::to_hex(key)
                ),
                ConflictKind::WriteWrite => write!(
                    f,
                    "transaction conflict: key {} that it writes was written at seqno {seqno}, after its snapshot",
                    crate::format::hex::to_hex(key)
                ),
            },
        }
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io { source, .. } => Some(source),
            _ => None,
        }
    }
}

/// Counts a corruption found, by the kind of file it was found in.
fn probe_corruption(file: &Path) {
    use crate::filename::{parse_file_name, FileKind};
    use crate::probe::{hit, Probe};
    let name = file.file_name().and_then(|n| n.to_str()).unwrap_or("");
    match parse_file_name(name) {
        Some(FileKind::Wal(_)) => hit(Probe::CorruptionWal),
        Some(FileKind::Table(_)) => hit(Probe::CorruptionTable),
        Some(FileKind::Manifest(_) | FileKind::Current | FileKind::CurrentTemp) => {
            hit(Probe::CorruptionManifest)
        }
        _ => {}
    }
}
