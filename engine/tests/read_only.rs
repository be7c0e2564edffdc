//! `Db::open_read_only`: reads everything, changes nothing on disk.

use std::collections::BTreeMap;
use std::path::Path;

use strata::{BackgroundMode, Db, Error, Options, WriteOptions};

/// Every file of `dir` and its bytes.
fn image(dir: &Path) -> BTreeMap<String, Vec<u8>> {
    std::fs::read_dir(dir)
        .unwrap()
        .map(|e| {
            let e = e.unwrap();
            (
                e.file_name().to_string_lossy().into_owned(),
                std::fs::read(e.path()).unwrap(),
            )
        })
        .collect()
}

fn refused<T: std::fmt::Debug>(r: strata::Result<T>, what: &str) {
    match r {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("read-only"), "{what}: {m}"),
        other => panic!("{what}: expected a read-only refusal, got {other:?}"),
    }
}

#[test]
fn a_read_only_open_reads_everything_and_changes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        background: BackgroundMode::Manual,
        memtable_bytes_max: 8 * 1024,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts.clone()).unwrap();
    for i in 0..500u32 {
        db.put(
            format!("k{i:04}").as_bytes(),
            format!("v{i}").as_bytes(),
            WriteOptions::BUFFERED,
        )
        .unwrap();
    }
    db.flush().unwrap();
    for i in 0..50u32 {
        db.put(
            format!("k{i:04}").as_bytes(),
            b"newer",
            WriteOptions::BUFFERED,
        )
        .unwrap();
    }
    db.delete(b"k0499", WriteOptions::BUFFERED).unwrap();
    drop(db); // a crash: the last writes are only in the WAL
              // And a torn tail after them.
    let wal = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .max()
        .unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes.extend_from_slice(&[0xab; 40]);
    std::fs::write(&wal, &bytes).unwrap();
    let before = image(dir.path());

    let ro = Db::open_read_only(dir.path(), opts.clone()).unwrap();
    assert_eq!(ro.get(b"k0000").unwrap(), Some(b"newer".to_vec()));
    assert_eq!(ro.get(b"k0100").unwrap(), Some(b"v100".to_vec()));
    assert_eq!(ro.get(b"k0499").unwrap(), None);
    assert_eq!(ro.range::<&[u8], _>(..).unwrap().count(), 499);
    let mut c = ro.cursor().unwrap();
    c.seek_to_last();
    assert_eq!(c.key(), b"k0498");
    assert_eq!(ro.last_seqno(), 551);
    assert_eq!(ro.properties().last_seqno, 551);
    let snap = ro.snapshot();
    assert_eq!(snap.get(b"k0001").unwrap(), Some(b"newer".to_vec()));
    refused(ro.put(b"x", b"y", WriteOptions::DURABLE), "put");
    refused(ro.delete(b"x", WriteOptions::BUFFERED), "delete");
    refused(ro.flush(), "flush");
    refused(ro.compact(), "compact");
    refused(ro.compact_range::<&[u8], _>(..), "compact_range");
    refused(ro.step_background(), "step_background");
    // Not poisoned by the refusals: still readable.
    assert_eq!(ro.get(b"k0002").unwrap(), Some(b"newer".to_vec()));
    // A writer can open meanwhile (no lock is held).
    drop(snap);
    ro.close().unwrap();
    assert_eq!(image(dir.path()), before, "nothing on disk changed");

    let ro = Db::open_read_only(dir.path(), opts.clone()).unwrap();
    let rw = Db::open(dir.path(), opts.clone()).unwrap();
    assert_eq!(rw.get(b"k0000").unwrap(), Some(b"newer".to_vec()));
    assert_eq!(ro.get(b"k0003").unwrap(), Some(b"newer".to_vec()));
}

#[test]
fn a_read_only_open_of_no_database_fails_and_creates_nothing() {
    let dir = tempfile::tempdir().unwrap();
    match Db::open_read_only(dir.path(), Options::default()) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("no database"), "{m}"),
        other => panic!("{other:?}"),
    }
    assert_eq!(std::fs::read_dir(dir.path()).unwrap().count(), 0);
    assert!(Db::open_read_only(dir.path().join("missing"), Options::default()).is_err());
    assert!(!dir.path().join("missing").exists());
}

/// Options for the read-only tests with tables: no background work, so
/// the flushed tables stay as they are.
fn manual() -> Options {
    Options {
        background: BackgroundMode::Manual,
        ..Options::default()
    }
}

/// A closed database of two tables, `a` -> `1` in the first and `b` -> `2`
/// in the second; returns the tables' paths in order.
fn two_tables(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let db = Db::open(dir, manual()).unwrap();
    db.put(b"a", b"1", WriteOptions::DURABLE).unwrap();
    db.flush().unwrap();
    db.put(b"b", b"2", WriteOptions::DURABLE).unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    drop(db);
    let mut tables: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "sst"))
        .collect();
    tables.sort();
    assert_eq!(tables.len(), 2);
    tables
}

/// A table the manifest lists but the directory lacks fails the read-only
/// open at once, naming the table (a stable manifest: no retry, no "the
/// manifest changed" error); a damaged table does not fail the open, only
/// the reads that need it.
#[test]
fn a_missing_table_fails_the_open_and_a_damaged_one_only_its_reads() {
    let opts = manual;
    let dir = tempfile::tempdir().unwrap();
    let tables = two_tables(dir.path());

    // Damage: the first table's first block.
    let mut bytes = std::fs::read(&tables[0]).unwrap();
    bytes[10] ^= 0x55;
    std::fs::write(&tables[0], &bytes).unwrap();
    let ro = Db::open_read_only(dir.path(), opts()).expect("a damaged table opens");
    assert_eq!(ro.get(b"b").unwrap(), Some(b"2".to_vec()));
    assert!(ro.get(b"a").unwrap_err().is_corruption());
    drop(ro);

    // Missing: the second table.
    let name = tables[1]
        .file_name()
        .unwrap()
        .to_string_lossy()
        .into_owned();
    std::fs::remove_file(&tables[1]).unwrap();
    match Db::open_read_only(dir.path(), opts()) {
        Err(Error::Io { path, source }) => {
            assert!(path.ends_with(&name), "{}", path.display());
            assert_eq!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected the missing table named: {other:?}"),
    }
}

/// A table that cannot be read (here a directory where the file should be:
/// every read fails with an I/O error other than "not found") is left to
/// the reads that need it, like a damaged one; only a missing table means
/// the manifest moved on and fails the open.
#[test]
fn an_unreadable_table_fails_only_the_reads_that_need_it() {
    let dir = tempfile::tempdir().unwrap();
    let tables = two_tables(dir.path());
    std::fs::remove_file(&tables[0]).unwrap();
    std::fs::create_dir(&tables[0]).unwrap();
    let ro = Db::open_read_only(dir.path(), manual()).expect("an unreadable table opens");
    assert_eq!(ro.get(b"b").unwrap(), Some(b"2".to_vec()));
    match ro.get(b"a") {
        Err(Error::Io { path, source }) => {
            assert_eq!(path, tables[0]);
            assert_ne!(source.kind(), std::io::ErrorKind::NotFound);
        }
        other => panic!("expected the unreadable table named: {other:?}"),
    }
}
