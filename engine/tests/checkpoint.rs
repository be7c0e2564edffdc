//! Checkpoints: a consistent copy at one sequence number, made while a
//! writer goes on, linked on a file system with hard links and copied on
//! one without.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use strata::fs::MemFs;
use strata::{CompactionOptions, Db, Error, Options, SeqNo, WriteOptions};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn small() -> Options {
    Options {
        memtable_bytes_max: 16 * 1024,
        compaction: CompactionOptions {
            l0_compaction_trigger: 2,
            level1_bytes_target: 64 * 1024,
            target_file_bytes: 16 * 1024,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn key(i: u64) -> Vec<u8> {
    format!("key{:05}", i % 3000).into_bytes()
}

fn value(i: u64) -> Vec<u8> {
    format!("value of write {i}").repeat(4).into_bytes()
}

fn read_all(db: &Db) -> State {
    db.range::<&[u8], _>(..)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// The state after the writes with seqnos up to `at` (write `i` has seqno
/// `seqnos[i]`).
fn state_at(seqnos: &[SeqNo], at: SeqNo) -> State {
    let mut s = State::new();
    for (i, &seq) in seqnos.iter().enumerate() {
        if seq <= at {
            s.insert(key(i as u64), value(i as u64));
        }
    }
    s
}

#[test]
fn a_checkpoint_taken_while_a_writer_runs_opens_to_the_state_at_its_seqno() {
    let dir = tempfile::tempdir().unwrap();
    let copies = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), small()).unwrap());
    let stop = Arc::new(AtomicBool::new(false));
    let writer = {
        let (db, stop) = (db.clone(), stop.clone());
        std::thread::spawn(move || {
            let mut seqnos = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::Relaxed) || i < 2000 {
                seqnos.push(db.put(&key(i), &value(i), WriteOptions::BUFFERED).unwrap());
                i += 1;
            }
            seqnos
        })
    };
    let mut taken = Vec::new();
    for n in 0..4 {
        let before = db.last_seqno();
        let dest = copies.path().join(format!("copy-{n}"));
        let report = db.checkpoint(&dest).unwrap();
        assert!(
            report.seqno >= before,
            "checkpoint at {} misses writes acknowledged before it ({before})",
            report.seqno
        );
        taken.push((dest, report));
    }
    stop.store(true, Ordering::Relaxed);
    let seqnos = writer.join().unwrap();
    db.close().unwrap();
    for (dest, report) in taken {
        let copy = Db::open(&dest, small()).unwrap();
        assert_eq!(copy.last_seqno(), report.seqno, "{}", dest.display());
        assert_eq!(
            read_all(&copy),
            state_at(&seqnos, report.seqno),
            "{} at seqno {}",
            dest.display(),
            report.seqno
        );
        copy.close().unwrap();
    }
}

#[cfg(unix)]
#[test]
fn on_a_file_system_with_links_the_tables_are_linked_not_copied() {
    use std::os::unix::fs::MetadataExt;
    let dir = tempfile::tempdir().unwrap();
    let copies = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    for i in 0..3000 {
        db.put(&key(i), &value(i), WriteOptions::BUFFERED).unwrap();
    }
    let dest = copies.path().join("linked");
    let report = db.checkpoint(&dest).unwrap();
    let tables: Vec<_> = std::fs::read_dir(&dest)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    assert!(!tables.is_empty());
    assert_eq!(report.tables_linked, tables.len());
    assert_eq!((report.tables_copied, report.bytes_copied), (0, 0));
    for t in &tables {
        let original = dir.path().join(t.file_name().unwrap());
        assert_eq!(
            std::fs::metadata(t).unwrap().ino(),
            std::fs::metadata(&original).unwrap().ino(),
            "{} is not a link to {}",
            t.display(),
            original.display()
        );
    }
    // The copy outlives the database it came from.
    db.close().unwrap();
    drop(db);
    std::fs::remove_dir_all(dir.path()).unwrap();
    let copy = Db::open(&dest, small()).unwrap();
    assert_eq!(read_all(&copy).len(), 3000);
}

#[test]
fn on_a_file_system_without_links_the_tables_are_copied() {
    let fs = MemFs::new();
    let opts = Options {
        fs: Arc::new(fs.clone()),
        ..small()
    };
    let db = Db::open("/db", opts.clone()).unwrap();
    for i in 0..3000 {
        db.put(&key(i), &value(i), WriteOptions::BUFFERED).unwrap();
    }
    db.delete(&key(7), WriteOptions::BUFFERED).unwrap();
    let want = read_all(&db);
    let report = db.checkpoint("/backups/one").unwrap();
    assert_eq!(report.tables_linked, 0);
    assert!(
        report.tables_copied > 0 && report.bytes_copied > 0,
        "{report:?}"
    );
    // Later writes, flushes and compactions do not reach the copy.
    for i in 0..3000 {
        db.put(&key(i), b"later", WriteOptions::BUFFERED).unwrap();
    }
    db.compact().unwrap();
    db.close().unwrap();
    let copy = Db::open("/backups/one", opts).unwrap();
    assert_eq!(read_all(&copy), want);
    assert_eq!(copy.last_seqno(), report.seqno);
}

#[test]
fn an_existing_destination_and_a_read_only_handle_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    let copies = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), small()).unwrap();
    db.put(b"k", b"v", WriteOptions::DURABLE).unwrap();
    let err = db.checkpoint(copies.path()).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("already exists")),
        "{err}"
    );
    let ro = Db::open_read_only(dir.path(), small()).unwrap();
    let err = ro.checkpoint(copies.path().join("ro")).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
    assert!(!copies.path().join("ro").exists());
}

/// A file system whose `hard_link` (done as a copy, on a `MemFs`) first
/// runs a hook once: here, writes and a full compaction of the database
/// being checkpointed, in the middle of its checkpoint.
struct HookedFs {
    inner: MemFs,
    hook: std::sync::Mutex<Option<Box<dyn FnOnce() + Send>>>,
}

impl std::fmt::Debug for HookedFs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("HookedFs")
    }
}

impl strata::fs::FileSystem for HookedFs {
    fn open(
        &self,
        path: &std::path::Path,
        mode: strata::fs::OpenMode,
    ) -> std::io::Result<Arc<dyn strata::fs::FsFile>> {
        self.inner.open(path, mode)
    }
    fn create_dir_all(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.create_dir_all(path)
    }
    fn list_dir(&self, path: &std::path::Path) -> std::io::Result<Vec<String>> {
        self.inner.list_dir(path)
    }
    fn rename(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        self.inner.rename(from, to)
    }
    fn remove_file(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.remove_file(path)
    }
    fn sync_dir(&self, path: &std::path::Path) -> std::io::Result<()> {
        self.inner.sync_dir(path)
    }
    fn exists(&self, path: &std::path::Path) -> std::io::Result<bool> {
        self.inner.exists(path)
    }
    fn lock(&self, path: &std::path::Path) -> std::io::Result<Box<dyn strata::fs::FileLock>> {
        self.inner.lock(path)
    }
    fn hard_link(&self, from: &std::path::Path, to: &std::path::Path) -> std::io::Result<()> {
        let hook = self.hook.lock().unwrap().take();
        if let Some(hook) = hook {
            hook();
        }
        let bytes = self
            .inner
            .open(from, strata::fs::OpenMode::Read)?
            .read_all()?;
        let file = self.inner.open(to, strata::fs::OpenMode::CreateNew)?;
        file.write_at(&bytes, 0)?;
        file.sync_all()
    }
}

#[test]
fn a_compaction_in_the_middle_of_a_checkpoint_deletes_no_table_it_copies() {
    let fs = Arc::new(HookedFs {
        inner: MemFs::new(),
        hook: std::sync::Mutex::new(None),
    });
    let opts = Options {
        fs: fs.clone(),
        background: strata::BackgroundMode::Manual,
        ..small()
    };
    let db = Arc::new(Db::open("/db", opts.clone()).unwrap());
    for i in 0..3000 {
        db.put(&key(i), &value(i), WriteOptions::BUFFERED).unwrap();
    }
    db.flush().unwrap();
    let want = read_all(&db);
    let seq = db.last_seqno();
    // Overwrite everything and compact it all away while the checkpoint
    // is between choosing its tables and copying them.
    let weak = Arc::downgrade(&db);
    *fs.hook.lock().unwrap() = Some(Box::new(move || {
        let db = weak.upgrade().unwrap();
        for i in 0..3000 {
            db.put(&key(i), b"overwritten", WriteOptions::BUFFERED)
                .unwrap();
        }
        db.compact().unwrap();
    }));
    let report = db.checkpoint("/copy").unwrap();
    assert_eq!(report.seqno, seq);
    assert!(fs.hook.lock().unwrap().is_none(), "the hook ran");
    let copy = Db::open_read_only("/copy", opts).unwrap();
    assert_eq!(read_all(&copy), want);
}
