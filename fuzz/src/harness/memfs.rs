//! A small in-memory [`FileSystem`] for the fuzz targets and their regression
//! tests: no crash or fault modelling (that is `strata-sim`'s job), just fast,
//! deterministic storage whose whole image can be copied out and back in.
//!
//! Invariants: a path is a file or a directory, never both; an open handle
//! keeps its file's bytes alive after the entry is removed or replaced (as on
//! POSIX); every length is capped at [`FILE_BYTES_MAX`] so a corrupt length
//! the engine passes to `set_len` cannot exhaust memory.

use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex, MutexGuard};

use strata::fs::{FileLock, FileSystem, FsFile, OpenMode};

/// Largest file this file system holds.
pub const FILE_BYTES_MAX: u64 = 256 << 20;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock is a fuzz finding already; keep going.
    m.lock().unwrap_or_else(|p| p.into_inner())
}

/// One file's bytes, shared by every open handle.
#[derive(Debug, Default)]
pub struct MemFile {
    data: Mutex<Vec<u8>>,
}

impl MemFile {
    /// A file holding `bytes`.
    pub fn with_bytes(bytes: Vec<u8>) -> Arc<MemFile> {
        Arc::new(MemFile {
            data: Mutex::new(bytes),
        })
    }

    fn too_large() -> io::Error {
        io::Error::new(io::ErrorKind::OutOfMemory, "file over FILE_BYTES_MAX")
    }
}

impl FsFile for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let data = lock(&self.data);
        let start = usize::try_from(offset).unwrap_or(usize::MAX);
        match start.checked_add(buf.len()) {
            Some(end) if end <= data.len() => {
                buf.copy_from_slice(&data[start..end]);
                Ok(())
            }
            _ => Err(io::Error::new(
                io::ErrorKind::UnexpectedEof,
                "read past end of file",
            )),
        }
    }

    fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= FILE_BYTES_MAX)
            .ok_or_else(MemFile::too_large)?;
        let mut data = lock(&self.data);
        if (data.len() as u64) < end {
            data.resize(end as usize, 0);
        }
        data[offset as usize..end as usize].copy_from_slice(buf);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if len > FILE_BYTES_MAX {
            return Err(MemFile::too_large());
        }
        lock(&self.data).resize(len as usize, 0);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(lock(&self.data).len() as u64)
    }
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Arc<MemFile>>,
    dirs: BTreeSet<PathBuf>,
    locks: BTreeSet<PathBuf>,
}

/// The in-memory file system. Clones share one state.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

#[derive(Debug)]
struct MemLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        lock(&self.state).locks.remove(&self.path);
    }
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file", path.display()),
    )
}

impl MemFs {
    /// An empty file system.
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// A copy of every file's bytes, by path.
    pub fn image(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let st = lock(&self.state);
        st.files
            .iter()
            .map(|(p, f)| (p.clone(), lock(&f.data).clone()))
            .collect()
    }

    /// A file system holding exactly `image` (parent directories included).
    pub fn from_image(image: &BTreeMap<PathBuf, Vec<u8>>) -> MemFs {
        let fs = MemFs::new();
        {
            let mut st = lock(&fs.state);
            for (path, bytes) in image {
                let mut dir = path.parent();
                while let Some(d) = dir {
                    st.dirs.insert(d.to_path_buf());
                    dir = d.parent();
                }
                st.files
                    .insert(path.clone(), MemFile::with_bytes(bytes.clone()));
            }
        }
        fs
    }
}

impl FileSystem for MemFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut st = lock(&self.state);
        if st.dirs.contains(path) {
            return Err(io::Error::new(
                io::ErrorKind::IsADirectory,
                "is a directory",
            ));
        }
        let parent_ok = path
            .parent()
            .is_none_or(|p| p.as_os_str().is_empty() || st.dirs.contains(p));
        let existing = st.files.get(path).cloned();
        let file = match (mode, existing) {
            (OpenMode::Read | OpenMode::ReadWrite, Some(f)) => f,
            (OpenMode::Read | OpenMode::ReadWrite, None) => return Err(not_found(path)),
            (OpenMode::CreateNew, Some(_)) => {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "file exists"))
            }
            (OpenMode::CreateOrOpen, Some(f)) => f,
            (OpenMode::CreateTruncate, Some(f)) => {
                lock(&f.data).clear();
                f
            }
            (_, None) => {
                if !parent_ok {
                    return Err(not_found(path));
                }
                let f = Arc::new(MemFile::default());
                st.files.insert(path.to_path_buf(), Arc::clone(&f));
                f
            }
        };
        Ok(file)
    }

    fn create_dir_all(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let mut dir = Some(path);
        while let Some(d) = dir.filter(|d| !d.as_os_str().is_empty()) {
            if st.files.contains_key(d) {
                return Err(io::Error::new(io::ErrorKind::AlreadyExists, "a file"));
            }
            st.dirs.insert(d.to_path_buf());
            dir = d.parent();
        }
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let st = lock(&self.state);
        if !st.dirs.contains(path) {
            return Err(not_found(path));
        }
        let children = st.files.keys().chain(st.dirs.iter());
        let mut names: Vec<String> = children
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        let f = st.files.remove(from).ok_or_else(|| not_found(from))?;
        st.files.insert(to.to_path_buf(), f);
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = lock(&self.state);
        st.files
            .remove(path)
            .map(drop)
            .ok_or_else(|| not_found(path))
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if lock(&self.state).dirs.contains(path) {
            Ok(())
        } else {
            Err(not_found(path))
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let st = lock(&self.state);
        Ok(st.files.contains_key(path) || st.dirs.contains(path))
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.open(path, OpenMode::CreateOrOpen)?;
        let mut st = lock(&self.state);
        if !st.locks.insert(path.to_path_buf()) {
            return Err(io::Error::new(
                io::ErrorKind::WouldBlock,
                "lock held by another handle",
            ));
        }
        Ok(Box::new(MemLock {
            state: Arc::clone(&self.state),
            path: path.to_path_buf(),
        }))
    }
}
