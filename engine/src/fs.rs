//! The file-system seam: the ONLY way the engine touches storage.
//!
//! Every engine component (WAL, SSTables, manifest, lock file) does its I/O
//! through [`FileSystem`] and [`FsFile`]. [`StdFs`] is the real implementation
//! and the only code in the engine that calls `std::fs`; [`MemFs`] is an
//! in-memory, fault-free one for tests, fuzz targets and tools; the simulator
//! (`strata-sim`) provides an in-memory implementation with crash and fault
//! injection.
//!
//! Why `Arc<dyn FileSystem>` rather than a generic parameter: the engine's types
//! (`Db`, tables, iterators) would otherwise all carry a type parameter that
//! leaks into every public signature, and the cost of a virtual call is a few
//! nanoseconds against I/O calls that take microseconds. The simulator swaps
//! the implementation at `open` time without touching engine code either way.
//!
//! Durability contract (what the engine assumes, and what `SimFs` models):
//! - bytes written with `write_at` are visible to later reads at once, but
//!   durable only after `sync_data`/`sync_all` on that file returns `Ok`;
//! - a created, renamed or removed directory entry is durable only after
//!   `sync_dir` on its parent directory returns `Ok`;
//! - `set_len` is durable after `sync_all` on the file;
//! - after a failed sync, the unsynced data must be treated as lost.

use crate::error::{Error, Result};
use crate::filename::LOCK_FILE;
use crate::sync::Arc;
use std::fmt;
use std::io;
use std::path::Path;

mod memfs;

pub use memfs::{MemFile, MemFs};

/// How to open a file.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum OpenMode {
    /// Existing file, read only.
    Read,
    /// Existing file, read and write.
    ReadWrite,
    /// Create the file if absent (keeping any contents), read and write.
    CreateOrOpen,
    /// Create the file; fail with `AlreadyExists` if it exists.
    CreateNew,
    /// Create the file, truncating it to zero length if it exists.
    CreateTruncate,
}

/// An open file. All methods take `&self`: files are shared between readers.
pub trait FsFile: Send + Sync + fmt::Debug {
    /// Fills `buf` from `offset`; a read past the end is `UnexpectedEof`.
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()>;
    /// Writes all of `buf` at `offset`, extending the file if needed.
    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()>;
    /// Makes the file's data durable (fdatasync).
    fn sync_data(&self) -> io::Result<()>;
    /// Makes the file's data and metadata (length) durable (fsync).
    fn sync_all(&self) -> io::Result<()>;
    /// Sets the file's length (truncating or zero-extending).
    fn set_len(&self, len: u64) -> io::Result<()>;
    /// The file's current length, including unsynced writes.
    fn len(&self) -> io::Result<u64>;
    /// True if the file is empty.
    fn is_empty(&self) -> io::Result<bool> {
        Ok(self.len()? == 0)
    }
    /// Appends at the current end of file.
    fn append(&self, buf: &[u8]) -> io::Result<()> {
        let at = self.len()?;
        self.write_at(buf, at)
    }
    /// Reads the whole file.
    fn read_all(&self) -> io::Result<Vec<u8>> {
        let len = usize::try_from(self.len()?)
            .map_err(|_| io::Error::new(io::ErrorKind::InvalidData, "file too large"))?;
        let mut buf = vec![0u8; len];
        self.read_at(&mut buf, 0)?;
        Ok(buf)
    }
}

/// A held exclusive lock; released on drop.
pub trait FileLock: Send + Sync + fmt::Debug {}

/// The storage interface the engine is written against.
pub trait FileSystem: Send + Sync + fmt::Debug + 'static {
    /// Opens a file.
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>>;
    /// Creates a directory and its parents (not durable until `sync_dir` of the parent).
    fn create_dir_all(&self, path: &Path) -> io::Result<()>;
    /// Names (not paths) of the entries in a directory, sorted.
    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>>;
    /// Atomically renames, replacing `to` if it exists.
    fn rename(&self, from: &Path, to: &Path) -> io::Result<()>;
    /// Removes a file.
    fn remove_file(&self, path: &Path) -> io::Result<()>;
    /// Makes the directory's entries (creates, renames, removes) durable.
    fn sync_dir(&self, path: &Path) -> io::Result<()>;
    /// True if the path exists.
    fn exists(&self, path: &Path) -> io::Result<bool>;
    /// Takes an exclusive lock on `path` (creating it). A second lock on the
    /// same path, from this process or another, fails with `WouldBlock`.
    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>>;
    /// Gives the file at `from` a second name `to` (a hard link; not
    /// durable until `sync_dir` of `to`'s directory). `AlreadyExists` if
    /// `to` exists; `Unsupported` where the file system has no links (the
    /// default), and callers then copy.
    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        let _ = (from, to);
        Err(io::Error::new(
            io::ErrorKind::Unsupported,
            "this file system has no hard links",
        ))
    }
}

/// The real file system, on `std::fs`.
#[derive(Debug, Default, Clone, Copy)]
pub struct StdFs;

#[derive(Debug)]
struct StdFile {
    file: std::fs::File,
}

#[derive(Debug)]
struct StdLock {
    // Held open: the flock is released when the descriptor closes.
    _file: std::fs::File,
}

impl FileLock for StdLock {}

impl FsFile for StdFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.read_exact_at(buf, offset)
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        use std::os::unix::fs::FileExt;
        self.file.write_all_at(buf, offset)
    }

    fn sync_data(&self) -> io::Result<()> {
        self.file.sync_data()
    }

    fn sync_all(&self) -> io::Result<()> {
        self.file.sync_all()
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        self.file.set_len(len)
    }

    fn len(&self) -> io::Result<u64> {
        Ok(self.file.metadata()?.len())
    }
}

impl FileSystem for StdFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut o = std::fs::OpenOptions::new();
        match mode {
            OpenMode::Read => o.read(true),
            OpenMode::ReadWrite => o.read(true).write(true),
            OpenMode::CreateOrOpen => o.read(true).write(true).create(true),
            OpenMode::CreateNew => o.read(true).write(true).create_new(true),
            OpenMode::CreateTruncate => o.read(true).write(true).create(true).truncate(true),
        };
        Ok(Arc::new(StdFile {
            file: o.open(path)?,
        }))
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        std::fs::create_dir_all(path)
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let mut names = Vec::new();
        for entry in std::fs::read_dir(path)? {
            let entry = entry?;
            if let Ok(name) = entry.file_name().into_string() {
                names.push(name);
            }
        }
        names.sort();
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::rename(from, to)
    }

    fn hard_link(&self, from: &Path, to: &Path) -> io::Result<()> {
        std::fs::hard_link(from, to)
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        std::fs::remove_file(path)
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        // On Linux a directory is fsynced through a read-only descriptor.
        std::fs::File::open(path)?.sync_all()
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        path.try_exists()
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        let file = std::fs::OpenOptions::new()
            .read(true)
            .write(true)
            .create(true)
            .truncate(false)
            .open(path)?;
        // flock locks belong to the open file description, so a second open
        // of the same database from this very process is refused too.
        match file.try_lock() {
            Ok(()) => Ok(Box::new(StdLock { _file: file })),
            Err(std::fs::TryLockError::WouldBlock) => Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock held by another handle",
            )),
            Err(std::fs::TryLockError::Error(e)) => Err(e),
        }
    }
}

/// Bytes copied per read by [`copy_file`].
const COPY_CHUNK_BYTES: u64 = 1 << 20;

/// Creates the directory if needed, and takes its lock.
pub(crate) fn lock_dir(fs: &dyn FileSystem, dir: &Path) -> crate::error::Result<Box<dyn FileLock>> {
    if !fs.exists(dir).map_err(|e| Error::io(dir, e))? {
        fs.create_dir_all(dir).map_err(|e| Error::io(dir, e))?;
        if let Some(parent) = dir.parent() {
            if !parent.as_os_str().is_empty() {
                fs.sync_dir(parent).map_err(|e| Error::io(parent, e))?;
            }
        }
    }
    let lock_path = dir.join(LOCK_FILE);
    fs.lock(&lock_path).map_err(|e| {
        if e.kind() == std::io::ErrorKind::WouldBlock {
            Error::Locked {
                path: dir.to_path_buf(),
            }
        } else {
            Error::io(&lock_path, e)
        }
    })
}

/// Copies `from` to the new file `to` in chunks and syncs it; returns the
/// bytes copied.
pub(crate) fn copy_file(fs: &dyn FileSystem, from: &Path, to: &Path) -> Result<u64> {
    let src = fs
        .open(from, OpenMode::Read)
        .map_err(|e| Error::io(from, e))?;
    let dst = fs
        .open(to, OpenMode::CreateNew)
        .map_err(|e| Error::io(to, e))?;
    let len = src.len().map_err(|e| Error::io(from, e))?;
    let mut buf = Vec::new();
    let mut offset = 0;
    while offset < len {
        let n = (len - offset).min(COPY_CHUNK_BYTES);
        buf.resize(n as usize, 0);
        src.read_at(&mut buf, offset)
            .map_err(|e| Error::io(from, e))?;
        dst.write_at(&buf, offset).map_err(|e| Error::io(to, e))?;
        offset += n;
    }
    dst.sync_all().map_err(|e| Error::io(to, e))?;
    Ok(len)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_fs_round_trip_and_lock_exclusion() {
        let dir = tempfile::tempdir().unwrap();
        let fs = StdFs;
        let p = dir.path().join("f");
        let f = fs.open(&p, OpenMode::CreateNew).unwrap();
        f.write_at(b"hello", 0).unwrap();
        f.append(b" world").unwrap();
        f.sync_all().unwrap();
        assert_eq!(f.read_all().unwrap(), b"hello world");
        let mut buf = [0u8; 4];
        assert_eq!(
            f.read_at(&mut buf, 9).unwrap_err().kind(),
            io::ErrorKind::UnexpectedEof
        );
        f.set_len(5).unwrap();
        assert_eq!(f.len().unwrap(), 5);
        fs.rename(&p, &dir.path().join("g")).unwrap();
        fs.sync_dir(dir.path()).unwrap();
        assert_eq!(fs.list_dir(dir.path()).unwrap(), vec!["g".to_string()]);

        let lock_path = dir.path().join("LOCK");
        let held = fs.lock(&lock_path).unwrap();
        let err = fs.lock(&lock_path).unwrap_err();
        assert_eq!(err.kind(), io::ErrorKind::WouldBlock);
        drop(held);
        fs.lock(&lock_path).unwrap();
    }
}
