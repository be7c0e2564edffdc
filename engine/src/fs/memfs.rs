//! [`MemFs`]: an in-memory, fault-free [`FileSystem`].
//!
//! For tests, fuzz targets and tools that want fast, deterministic storage
//! without a temporary directory. It models no crash and injects no fault:
//! every write is durable the moment it returns and every sync succeeds
//! (the simulator's `SimFs` is the faulty disk). The whole image can be
//! copied out ([`MemFs::image`]) and loaded back ([`MemFs::from_image`]),
//! which is how a fuzz target damages a database between two opens.
//!
//! Invariants: a path is a file or a directory, never both; a file's parent
//! directory exists when the file is created or renamed into place; an open
//! handle keeps its file's bytes alive after the entry is removed or
//! replaced (as on POSIX); no file grows past [`MemFile::BYTES_MAX`], so a
//! corrupt length handed to `set_len` or `write_at` fails cleanly instead of
//! exhausting memory.

use crate::sync::Arc;
use crate::sync::{Mutex, MutexGuard};
use std::collections::{BTreeMap, BTreeSet};
use std::io;
use std::path::{Path, PathBuf};

use super::{FileLock, FileSystem, FsFile, OpenMode};

/// Locks `m`, ignoring poisoning: every critical section below leaves the
/// state consistent, so a panic elsewhere while holding it loses nothing.
fn guard<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

fn not_found(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::NotFound,
        format!("{}: no such file or directory", path.display()),
    )
}

fn is_a_directory(path: &Path) -> io::Error {
    io::Error::new(
        io::ErrorKind::IsADirectory,
        format!("{}: is a directory", path.display()),
    )
}

/// One file's bytes, shared by every handle open on it. Usable on its own
/// (without a [`MemFs`]) wherever an [`FsFile`] over given bytes is needed.
#[derive(Debug, Default)]
pub struct MemFile {
    data: Mutex<Vec<u8>>,
}

impl MemFile {
    /// The largest file, in bytes: writes and `set_len` beyond it fail with
    /// `OutOfMemory`.
    pub const BYTES_MAX: u64 = 256 << 20;

    /// A file holding `bytes`.
    pub fn with_bytes(bytes: Vec<u8>) -> Arc<MemFile> {
        Arc::new(MemFile {
            data: Mutex::new(bytes),
        })
    }

    fn too_large() -> io::Error {
        io::Error::new(
            io::ErrorKind::OutOfMemory,
            "in-memory file over MemFile::BYTES_MAX",
        )
    }
}

impl FsFile for MemFile {
    fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
        let data = guard(&self.data);
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
        if buf.is_empty() {
            // As `pwrite`: writing nothing does not extend the file.
            return Ok(());
        }
        let end = offset
            .checked_add(buf.len() as u64)
            .filter(|&e| e <= MemFile::BYTES_MAX)
            .ok_or_else(MemFile::too_large)?;
        // Both fit in usize: they are at most BYTES_MAX.
        let (start, end) = (offset as usize, end as usize);
        let mut data = guard(&self.data);
        if data.len() < end {
            data.resize(end, 0);
        }
        data[start..end].copy_from_slice(buf);
        Ok(())
    }

    fn sync_data(&self) -> io::Result<()> {
        Ok(())
    }

    fn sync_all(&self) -> io::Result<()> {
        Ok(())
    }

    fn set_len(&self, len: u64) -> io::Result<()> {
        if len > MemFile::BYTES_MAX {
            return Err(MemFile::too_large());
        }
        guard(&self.data).resize(len as usize, 0);
        Ok(())
    }

    fn len(&self) -> io::Result<u64> {
        Ok(guard(&self.data).len() as u64)
    }
}

#[derive(Debug, Default)]
struct State {
    files: BTreeMap<PathBuf, Arc<MemFile>>,
    dirs: BTreeSet<PathBuf>,
    /// Paths locked by a live [`MemLock`].
    locks: BTreeSet<PathBuf>,
}

impl State {
    /// True if `path`'s parent is an existing directory (or `path` has none).
    fn parent_exists(&self, path: &Path) -> bool {
        path.parent()
            .is_none_or(|p| p.as_os_str().is_empty() || self.dirs.contains(p))
    }
}

/// An in-memory, fault-free [`FileSystem`]. Clones share one state, so a
/// clone handed to a `Db` (through `Options::fs`) stays inspectable.
#[derive(Debug, Default, Clone)]
pub struct MemFs {
    state: Arc<Mutex<State>>,
}

/// An exclusive lock taken with [`FileSystem::lock`] on a [`MemFs`].
#[derive(Debug)]
struct MemLock {
    state: Arc<Mutex<State>>,
    path: PathBuf,
}

impl FileLock for MemLock {}

impl Drop for MemLock {
    fn drop(&mut self) {
        guard(&self.state).locks.remove(&self.path);
    }
}

impl MemFs {
    /// An empty file system (no directory exists yet).
    pub fn new() -> MemFs {
        MemFs::default()
    }

    /// A copy of every file's bytes, by path.
    pub fn image(&self) -> BTreeMap<PathBuf, Vec<u8>> {
        let st = guard(&self.state);
        st.files
            .iter()
            .map(|(p, f)| (p.clone(), guard(&f.data).clone()))
            .collect()
    }

    /// A file system holding exactly the files of `image`, and their parent
    /// directories.
    pub fn from_image(image: &BTreeMap<PathBuf, Vec<u8>>) -> MemFs {
        let fs = MemFs::new();
        {
            let mut st = guard(&fs.state);
            for (path, bytes) in image {
                st.dirs
                    .extend(path.ancestors().skip(1).map(Path::to_path_buf));
                st.files
                    .insert(path.clone(), MemFile::with_bytes(bytes.clone()));
            }
            st.dirs.remove(Path::new(""));
        }
        fs
    }
}

impl FileSystem for MemFs {
    fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
        let mut st = guard(&self.state);
        if st.dirs.contains(path) {
            return Err(is_a_directory(path));
        }
        let file = match (mode, st.files.get(path).cloned()) {
            (OpenMode::Read | OpenMode::ReadWrite, None) => return Err(not_found(path)),
            (OpenMode::CreateNew, Some(_)) => {
                return Err(io::Error::new(
                    io::ErrorKind::AlreadyExists,
                    format!("{}: file exists", path.display()),
                ))
            }
            (OpenMode::CreateTruncate, Some(f)) => {
                guard(&f.data).clear();
                f
            }
            (_, Some(f)) => f,
            (_, None) => {
                if !st.parent_exists(path) {
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
        let mut st = guard(&self.state);
        let dirs: Vec<&Path> = path
            .ancestors()
            .filter(|d| !d.as_os_str().is_empty())
            .collect();
        if let Some(file) = dirs.iter().find(|d| st.files.contains_key(**d)) {
            return Err(io::Error::new(
                io::ErrorKind::AlreadyExists,
                format!("{}: a file, not a directory", file.display()),
            ));
        }
        st.dirs.extend(dirs.into_iter().map(Path::to_path_buf));
        Ok(())
    }

    fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
        let st = guard(&self.state);
        if !st.dirs.contains(path) {
            return Err(not_found(path));
        }
        let mut names: Vec<String> = st
            .files
            .keys()
            .chain(st.dirs.iter())
            .filter(|p| p.parent() == Some(path))
            .filter_map(|p| p.file_name()?.to_str().map(str::to_string))
            .collect();
        names.sort();
        Ok(names)
    }

    fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
        let mut st = guard(&self.state);
        if !st.files.contains_key(from) {
            return Err(not_found(from));
        }
        if st.dirs.contains(to) {
            return Err(is_a_directory(to));
        }
        if !st.parent_exists(to) {
            return Err(not_found(to));
        }
        if let Some(f) = st.files.remove(from) {
            st.files.insert(to.to_path_buf(), f);
        }
        Ok(())
    }

    fn remove_file(&self, path: &Path) -> io::Result<()> {
        let mut st = guard(&self.state);
        if st.dirs.contains(path) {
            return Err(is_a_directory(path));
        }
        match st.files.remove(path) {
            Some(_) => Ok(()),
            None => Err(not_found(path)),
        }
    }

    fn sync_dir(&self, path: &Path) -> io::Result<()> {
        if guard(&self.state).dirs.contains(path) {
            Ok(())
        } else {
            Err(not_found(path))
        }
    }

    fn exists(&self, path: &Path) -> io::Result<bool> {
        let st = guard(&self.state);
        Ok(st.files.contains_key(path) || st.dirs.contains(path))
    }

    fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
        self.open(path, OpenMode::CreateOrOpen)?;
        let mut st = guard(&self.state);
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

#[cfg(test)]
mod tests {
    use super::*;

    fn kind<T: std::fmt::Debug>(r: io::Result<T>) -> io::ErrorKind {
        r.unwrap_err().kind()
    }

    /// A file system holding the directory `/d`.
    fn with_dir() -> MemFs {
        let fs = MemFs::new();
        fs.create_dir_all(Path::new("/d")).unwrap();
        fs
    }

    #[test]
    fn read_write_append_and_set_len() {
        let fs = with_dir();
        let f = fs.open(Path::new("/d/f"), OpenMode::CreateNew).unwrap();
        assert!(f.is_empty().unwrap());
        f.write_at(b"hello", 0).unwrap();
        f.append(b" world").unwrap();
        assert_eq!(f.read_all().unwrap(), b"hello world");
        // A write past the end zero-fills the gap; an empty one changes nothing.
        f.write_at(b"!", 13).unwrap();
        f.write_at(b"", 100).unwrap();
        assert_eq!(f.read_all().unwrap(), b"hello world\0\0!");
        let mut buf = [0u8; 5];
        f.read_at(&mut buf, 6).unwrap();
        assert_eq!(&buf, b"world");
        assert_eq!(kind(f.read_at(&mut buf, 10)), io::ErrorKind::UnexpectedEof);
        assert_eq!(
            kind(f.read_at(&mut buf, u64::MAX)),
            io::ErrorKind::UnexpectedEof
        );
        f.set_len(5).unwrap();
        assert_eq!(f.len().unwrap(), 5);
        f.set_len(7).unwrap();
        assert_eq!(f.read_all().unwrap(), b"hello\0\0");
        f.sync_data().unwrap();
        f.sync_all().unwrap();
        // Another handle on the same path sees the same bytes.
        let g = fs.open(Path::new("/d/f"), OpenMode::Read).unwrap();
        assert_eq!(g.read_all().unwrap(), b"hello\0\0");
    }

    #[test]
    fn lengths_past_the_cap_fail_cleanly() {
        let f = MemFile::with_bytes(b"abc".to_vec());
        let max = MemFile::BYTES_MAX;
        assert_eq!(kind(f.set_len(max + 1)), io::ErrorKind::OutOfMemory);
        assert_eq!(kind(f.write_at(b"x", max)), io::ErrorKind::OutOfMemory);
        assert_eq!(kind(f.write_at(b"x", u64::MAX)), io::ErrorKind::OutOfMemory);
        assert_eq!(f.read_all().unwrap(), b"abc");
    }

    #[test]
    fn open_modes() {
        let fs = with_dir();
        let p = Path::new("/d/f");
        assert_eq!(kind(fs.open(p, OpenMode::Read)), io::ErrorKind::NotFound);
        assert_eq!(
            kind(fs.open(p, OpenMode::ReadWrite)),
            io::ErrorKind::NotFound
        );
        fs.open(p, OpenMode::CreateNew)
            .unwrap()
            .write_at(b"abc", 0)
            .unwrap();
        assert_eq!(
            kind(fs.open(p, OpenMode::CreateNew)),
            io::ErrorKind::AlreadyExists
        );
        let kept = fs.open(p, OpenMode::CreateOrOpen).unwrap();
        assert_eq!(kept.read_all().unwrap(), b"abc");
        fs.open(p, OpenMode::CreateTruncate).unwrap();
        assert!(
            kept.is_empty().unwrap(),
            "truncation is seen by every handle"
        );
        // No file in a missing directory, and a directory is not a file.
        assert_eq!(
            kind(fs.open(Path::new("/e/f"), OpenMode::CreateOrOpen)),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            kind(fs.open(Path::new("/d"), OpenMode::Read)),
            io::ErrorKind::IsADirectory
        );
    }

    #[test]
    fn directories_list_only_their_children_sorted() {
        let fs = with_dir();
        fs.create_dir_all(Path::new("/d/sub/deeper")).unwrap();
        for name in ["b", "a", "c"] {
            fs.open(&Path::new("/d").join(name), OpenMode::CreateNew)
                .unwrap();
        }
        fs.open(Path::new("/d/sub/x"), OpenMode::CreateNew).unwrap();
        assert_eq!(
            fs.list_dir(Path::new("/d")).unwrap(),
            ["a", "b", "c", "sub"]
        );
        assert_eq!(fs.list_dir(Path::new("/d/sub")).unwrap(), ["deeper", "x"]);
        assert_eq!(fs.list_dir(Path::new("/")).unwrap(), ["d"]);
        assert_eq!(kind(fs.list_dir(Path::new("/e"))), io::ErrorKind::NotFound);
        assert_eq!(
            kind(fs.list_dir(Path::new("/d/a"))),
            io::ErrorKind::NotFound
        );
        fs.sync_dir(Path::new("/d/sub")).unwrap();
        assert_eq!(kind(fs.sync_dir(Path::new("/e"))), io::ErrorKind::NotFound);
        assert!(fs.exists(Path::new("/d/sub")).unwrap());
        assert!(fs.exists(Path::new("/d/a")).unwrap());
        assert!(!fs.exists(Path::new("/d/z")).unwrap());
        // A file is never also a directory.
        assert_eq!(
            kind(fs.create_dir_all(Path::new("/d/a/x"))),
            io::ErrorKind::AlreadyExists
        );
        assert!(!fs.exists(Path::new("/d/a/x")).unwrap());
    }

    #[test]
    fn rename_replaces_and_remove_deletes_while_handles_keep_their_bytes() {
        let fs = with_dir();
        let (a, b) = (Path::new("/d/a"), Path::new("/d/b"));
        let fa = fs.open(a, OpenMode::CreateNew).unwrap();
        fa.write_at(b"new", 0).unwrap();
        let fb = fs.open(b, OpenMode::CreateNew).unwrap();
        fb.write_at(b"old", 0).unwrap();
        fs.rename(a, b).unwrap();
        assert!(!fs.exists(a).unwrap());
        assert_eq!(
            fs.open(b, OpenMode::Read).unwrap().read_all().unwrap(),
            b"new"
        );
        assert_eq!(fb.read_all().unwrap(), b"old", "the replaced file's handle");
        assert_eq!(fs.list_dir(Path::new("/d")).unwrap(), ["b"]);
        assert_eq!(kind(fs.rename(a, b)), io::ErrorKind::NotFound);
        assert_eq!(
            kind(fs.rename(b, Path::new("/e/b"))),
            io::ErrorKind::NotFound
        );
        assert_eq!(
            kind(fs.rename(b, Path::new("/d"))),
            io::ErrorKind::IsADirectory
        );
        fs.remove_file(b).unwrap();
        assert!(!fs.exists(b).unwrap());
        assert_eq!(fa.read_all().unwrap(), b"new", "a removed file's handle");
        assert_eq!(kind(fs.remove_file(b)), io::ErrorKind::NotFound);
        assert_eq!(
            kind(fs.remove_file(Path::new("/d"))),
            io::ErrorKind::IsADirectory
        );
    }

    #[test]
    fn a_second_lock_is_refused_until_the_first_is_dropped() {
        let fs = with_dir();
        let p = Path::new("/d/LOCK");
        let held = fs.lock(p).unwrap();
        assert!(fs.exists(p).unwrap(), "locking creates the file");
        assert_eq!(kind(fs.lock(p)), io::ErrorKind::WouldBlock);
        // Clones share the lock table; other paths are independent.
        assert_eq!(kind(fs.clone().lock(p)), io::ErrorKind::WouldBlock);
        let other = fs.lock(Path::new("/d/LOCK2")).unwrap();
        drop(held);
        let again = fs.clone().lock(p).unwrap();
        assert_eq!(kind(fs.lock(p)), io::ErrorKind::WouldBlock);
        drop((again, other));
        assert_eq!(kind(fs.lock(Path::new("/e/LOCK"))), io::ErrorKind::NotFound);
    }

    #[test]
    fn image_round_trips_with_parent_directories() {
        let fs = with_dir();
        fs.create_dir_all(Path::new("/d/s")).unwrap();
        for (p, bytes) in [("/d/x", &b"1"[..]), ("/d/s/y", b"22"), ("/z", b"")] {
            fs.open(Path::new(p), OpenMode::CreateNew)
                .unwrap()
                .write_at(bytes, 0)
                .unwrap();
        }
        let image = fs.image();
        assert_eq!(image.len(), 3);
        assert_eq!(image[Path::new("/d/s/y")], b"22");
        let copy = MemFs::from_image(&image);
        assert_eq!(copy.image(), image);
        assert_eq!(copy.list_dir(Path::new("/d")).unwrap(), ["s", "x"]);
        assert_eq!(copy.list_dir(Path::new("/")).unwrap(), ["d", "z"]);
        // The copy is independent of the original.
        copy.remove_file(Path::new("/d/x")).unwrap();
        assert!(fs.exists(Path::new("/d/x")).unwrap());
    }

    #[test]
    fn a_database_round_trips_and_locks_on_mem_fs() {
        let fs = MemFs::new();
        let opts = || crate::Options {
            fs: Arc::new(fs.clone()),
            ..crate::Options::default()
        };
        let db = crate::Db::open("/db", opts()).unwrap();
        db.put(b"k", b"v", crate::WriteOptions::DURABLE).unwrap();
        assert!(
            matches!(
                crate::Db::open("/db", opts()),
                Err(crate::Error::Locked { .. })
            ),
            "a second open is locked out"
        );
        db.close().unwrap();
        let db = crate::Db::open("/db", opts()).unwrap();
        assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"v"[..]));
        assert!(fs.list_dir(Path::new("/db")).unwrap().len() >= 3);
    }
}
