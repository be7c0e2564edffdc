//! WAL recovery on real files: torn tails, corruption, recovery modes and
//! the seed system's recovery mistakes as named regression tests.

use std::path::{Path, PathBuf};

use strata::{Db, Error, Options, RecoveryMode, WriteBatch, WriteOptions};

fn wal_files(dir: &Path) -> Vec<PathBuf> {
    let mut v: Vec<PathBuf> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "log"))
        .collect();
    v.sort();
    v
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let e = e.unwrap();
        if e.file_name() != "LOCK" {
            std::fs::copy(e.path(), to.join(e.file_name())).unwrap();
        }
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key-{i:05}").into_bytes()
}

/// Writes `n` durable puts (the last one a batch of two) and returns the
/// byte offset at which the last WAL record starts, and the file length.
fn write_history(dir: &Path, n: u32) -> (u64, u64) {
    let db = Db::open(dir, Options::default()).unwrap();
    for i in 0..n - 1 {
        db.put(&key(i), format!("v{i}").as_bytes(), WriteOptions::DURABLE)
            .unwrap();
    }
    let wal = wal_files(dir).pop().unwrap();
    let before = std::fs::metadata(&wal).unwrap().len();
    let mut b = WriteBatch::new();
    b.put(key(n - 1), "last").delete(key(0));
    db.write(b, WriteOptions::DURABLE).unwrap();
    let after = std::fs::metadata(&wal).unwrap().len();
    db.close().unwrap();
    (before, after)
}

#[test]
fn torn_tail_cut_at_every_byte_of_the_last_record_recovers_the_prefix() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    let n = 20;
    let (start, end) = write_history(&src, n);
    assert!(end > start + 9);
    for cut in start..end {
        let dir = base.path().join(format!("cut-{cut}"));
        copy_dir(&src, &dir);
        let wal = wal_files(&dir).pop().unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .open(&wal)
            .unwrap()
            .set_len(cut)
            .unwrap();
        let db = Db::open(&dir, Options::default())
            .unwrap_or_else(|e| panic!("cut at {cut}: open failed: {e}"));
        assert_eq!(db.last_seqno(), u64::from(n - 1), "cut at {cut}");
        // The whole batch is gone, atomically: key 0 is still there.
        assert_eq!(db.get(&key(0)).unwrap(), Some(b"v0".to_vec()));
        assert_eq!(db.get(&key(n - 1)).unwrap(), None);
        assert_eq!(
            db.get(&key(n - 2)).unwrap(),
            Some(format!("v{}", n - 2).into_bytes())
        );
        // The torn tail was cut before the next append: the segment was
        // truncated, then retired once its records were flushed at open.
        if let Ok(m) = std::fs::metadata(&wal) {
            assert_eq!(m.len(), start, "cut at {cut}");
        }
        // Regression (seed system): writes after recovery must survive a
        // further reopen instead of hiding behind the garbage.
        db.put(b"after", b"recovery", WriteOptions::DURABLE)
            .unwrap();
        drop(db);
        let db = Db::open(&dir, Options::default()).unwrap();
        assert_eq!(db.get(b"after").unwrap(), Some(b"recovery".to_vec()));
        assert_eq!(db.last_seqno(), u64::from(n));
        drop(db);
        std::fs::remove_dir_all(&dir).unwrap();
    }
}

fn flip_bit_in_middle(dir: &Path) -> u64 {
    let wal = wal_files(dir).into_iter().next().unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    let at = bytes.len() / 2;
    bytes[at] ^= 0x10;
    std::fs::write(&wal, bytes).unwrap();
    at as u64
}

#[test]
fn flipped_bit_followed_by_valid_records_is_corruption_in_default_mode() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("db");
    write_history(&dir, 50);
    flip_bit_in_middle(&dir);
    let err = Db::open(&dir, Options::default()).unwrap_err();
    match &err {
        Error::Corruption {
            file,
            offset,
            reason,
        } => {
            assert!(file.to_string_lossy().ends_with(".log"), "{err}");
            assert!(*offset > 0);
            assert!(reason.contains("written after a sync covered"), "{err}");
        }
        other => panic!("expected corruption, got {other}"),
    }
    // The message names file and offset.
    let msg = err.to_string();
    assert!(msg.contains("wal-") && msg.contains("offset"), "{msg}");
}

#[test]
fn strict_mode_rejects_a_torn_tail_that_default_mode_truncates() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("db");
    let (_, end) = write_history(&dir, 5);
    let wal = wal_files(&dir).pop().unwrap();
    std::fs::OpenOptions::new()
        .write(true)
        .open(&wal)
        .unwrap()
        .set_len(end - 3)
        .unwrap();
    let strict = Options {
        recovery: RecoveryMode::Strict,
        ..Options::default()
    };
    let err = Db::open(&dir, strict.clone()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    // The damage is in the last segment with nothing after it, and the
    // message says no more than that.
    let msg = err.to_string();
    assert!(
        !msg.contains("follow") && !msg.contains("written after a sync"),
        "{msg}"
    );
    // Nothing was changed by the failed strict open.
    assert_eq!(std::fs::metadata(&wal).unwrap().len(), end - 3);
    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(db.last_seqno(), 4);
    drop(db);
    // Once repaired, strict mode opens it too.
    Db::open(&dir, strict).unwrap();
}

#[test]
fn garbage_and_zeros_after_the_last_record_are_a_torn_tail() {
    for fill in [0u8, 0xAB] {
        let base = tempfile::tempdir().unwrap();
        let dir = base.path().join("db");
        write_history(&dir, 5);
        let wal = wal_files(&dir).pop().unwrap();
        let mut bytes = std::fs::read(&wal).unwrap();
        bytes.extend(std::iter::repeat_n(fill, 4096));
        std::fs::write(&wal, bytes).unwrap();
        let db = Db::open(&dir, Options::default()).unwrap();
        assert_eq!(db.last_seqno(), 6, "fill {fill:#x}");
    }
}

/// Postmortem: the seed system stored deletes as empty values, so deletes
/// came back as empty values after a restart.
#[test]
fn regression_delete_and_empty_value_stay_distinct_across_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"empty", b"", WriteOptions::DURABLE).unwrap();
    db.put(b"gone", b"x", WriteOptions::DURABLE).unwrap();
    db.delete(b"gone", WriteOptions::DURABLE).unwrap();
    assert_eq!(db.get(b"empty").unwrap(), Some(Vec::new()));
    assert_eq!(db.get(b"gone").unwrap(), None);
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.get(b"empty").unwrap(), Some(Vec::new()));
    assert_eq!(db.get(b"gone").unwrap(), None);
    let all: Vec<_> = db
        .range::<&[u8], _>(..)
        .unwrap()
        .map(|r| r.unwrap())
        .collect();
    assert_eq!(all, vec![(b"empty".to_vec(), Vec::new())]);
}

/// Postmortem: the seed system replayed through a hash map in arbitrary
/// order; after 50 overwrites three reopens returned three different values.
#[test]
fn regression_replay_order_after_many_overwrites_is_stable() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..50 {
        db.put(b"k", format!("v{i}").as_bytes(), WriteOptions::BUFFERED)
            .unwrap();
    }
    db.close().unwrap();
    for _ in 0..3 {
        let db = Db::open(dir.path(), Options::default()).unwrap();
        assert_eq!(db.get(b"k").unwrap(), Some(b"v49".to_vec()));
        assert_eq!(db.last_seqno(), 50);
    }
}

/// Postmortem: the seed system had no lock file; two processes on one
/// directory lost two thirds of the data.
#[test]
fn regression_second_open_is_refused_with_locked() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    let err = Db::open(dir.path(), Options::default()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    assert!(err.to_string().contains("locked"));
    drop(db);
    Db::open(dir.path(), Options::default()).unwrap();
}

#[test]
fn oversized_keys_values_and_batches_are_invalid_arguments() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        key_bytes_max: 8,
        value_bytes_max: 16,
        batch_bytes_max: 100,
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let wo = WriteOptions::BUFFERED;
    assert!(matches!(
        db.put(&[1; 9], b"v", wo),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        db.put(b"k", &[1; 17], wo),
        Err(Error::InvalidArgument(_))
    ));
    let mut b = WriteBatch::new();
    for i in 0..10u8 {
        b.put(vec![i; 8], vec![i; 16]);
    }
    assert!(matches!(db.write(b, wo), Err(Error::InvalidArgument(_))));
    // Within limits still works, and nothing was half-applied.
    db.put(&[1; 8], &[2; 16], wo).unwrap();
    assert_eq!(db.last_seqno(), 1);

    // batch_bytes_max bounds the record's payload, inclusively: a batch
    // whose payload is exactly 100 bytes is taken, one byte more is not.
    use strata::format::wal::{encoded_record_bytes, RECORD_HEADER_BYTES};
    let batch_of = |last_value: usize| {
        let mut b = WriteBatch::new();
        b.put(vec![1; 8], vec![1; 16]);
        b.put(vec![2; 8], vec![2; 16]);
        b.put(vec![3; 8], vec![3; last_value]);
        b
    };
    let payload = |b: &WriteBatch| encoded_record_bytes(b.ops()) - RECORD_HEADER_BYTES;
    let fits = (0..=16)
        .find(|&v| payload(&batch_of(v)) == 100)
        .expect("some value length makes the payload exactly 100 bytes");
    db.write(batch_of(fits), wo).unwrap();
    assert_eq!(payload(&batch_of(fits + 1)), 101);
    assert!(matches!(
        db.write(batch_of(fits + 1), wo),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn concurrent_writers_all_acknowledged_writes_survive_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let db = std::sync::Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    let threads: Vec<_> = (0..8u32)
        .map(|t| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut acked = Vec::new();
                for i in 0..200u32 {
                    let k = format!("t{t}-{i:04}");
                    let wo = if i % 4 == 0 {
                        WriteOptions::DURABLE
                    } else {
                        WriteOptions::BUFFERED
                    };
                    let s = db.put(k.as_bytes(), &i.to_le_bytes(), wo).unwrap();
                    acked.push((k, i, s));
                }
                acked
            })
        })
        .collect();
    let acked: Vec<_> = threads
        .into_iter()
        .flat_map(|t| t.join().unwrap())
        .collect();
    let mut seqnos: Vec<u64> = acked.iter().map(|a| a.2).collect();
    seqnos.sort_unstable();
    assert_eq!(
        seqnos,
        (1..=1600).collect::<Vec<_>>(),
        "seqnos are unique and dense"
    );
    let stats = db.stats();
    assert!(stats.commit_groups <= 1600);
    drop(db);
    let db = Db::open(dir.path(), Options::default()).unwrap();
    assert_eq!(db.last_seqno(), 1600);
    for (k, i, _) in &acked {
        assert_eq!(
            db.get(k.as_bytes()).unwrap(),
            Some(i.to_le_bytes().to_vec())
        );
    }
}

/// Postmortem (found by strata-sim, seed 14 of the first campaign): a disk
/// may persist unsynced writes in any order, leaving a hole of zeros inside
/// the never-synced tail with valid records after it. Recovery called that
/// corruption and refused to open; none of those records was acknowledged
/// as durable, so it is a torn tail.
#[test]
fn regression_hole_in_the_unsynced_tail_is_a_torn_tail() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("db");
    let db = Db::open(&dir, Options::default()).unwrap();
    db.put(b"durable", b"1", WriteOptions::DURABLE).unwrap();
    let wal = wal_files(&dir).pop().unwrap();
    let synced_len = std::fs::metadata(&wal).unwrap().len();
    for i in 0..10u32 {
        db.put(&key(i), b"buffered", WriteOptions::BUFFERED)
            .unwrap();
    }
    drop(db);
    // Lose the first buffered record's bytes: a hole of zeros.
    let mut bytes = std::fs::read(&wal).unwrap();
    for b in &mut bytes[synced_len as usize..synced_len as usize + 20] {
        *b = 0;
    }
    std::fs::write(&wal, bytes).unwrap();
    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(db.last_seqno(), 1, "the prefix up to the hole");
    assert_eq!(db.get(b"durable").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get(&key(5)).unwrap(), None);
    // And it stays consistent across a further reopen with new writes.
    db.put(b"after", b"x", WriteOptions::DURABLE).unwrap();
    drop(db);
    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(db.last_seqno(), 2);
    assert_eq!(db.get(b"after").unwrap(), Some(b"x".to_vec()));
}

#[test]
fn same_hole_before_a_synced_record_is_corruption() {
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("db");
    let db = Db::open(&dir, Options::default()).unwrap();
    db.put(b"durable", b"1", WriteOptions::DURABLE).unwrap();
    let wal = wal_files(&dir).pop().unwrap();
    let synced_len = std::fs::metadata(&wal).unwrap().len();
    db.put(b"buffered", b"2", WriteOptions::BUFFERED).unwrap();
    db.put(b"synced-later", b"3", WriteOptions::DURABLE)
        .unwrap();
    db.put(b"vouches", b"4", WriteOptions::BUFFERED).unwrap();
    drop(db);
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[synced_len as usize + 2] ^= 0xFF;
    std::fs::write(&wal, bytes).unwrap();
    let err = Db::open(&dir, Options::default()).unwrap_err();
    match err {
        Error::Corruption { offset, .. } => assert_eq!(offset, synced_len),
        other => panic!("expected corruption, got {other}"),
    }
}

/// Postmortem (found by tests ported from LevelDB and RocksDB): after a
/// clean `close()` that synced the WAL, one flipped bit in an early record
/// made the next open drop every later record (98 of 100 buffered writes)
/// without an error, since nothing after the damage proved a sync had
/// covered it. A clean close now ends the log with a close record whose
/// sync watermark covers everything before it.
#[test]
fn regression_damage_in_a_cleanly_closed_log_is_corruption() {
    let base = tempfile::tempdir().unwrap();
    let src = base.path().join("src");
    let db = Db::open(&src, Options::default()).unwrap();
    for i in 0..100 {
        db.put(&key(i), format!("v{i}").as_bytes(), WriteOptions::BUFFERED)
            .unwrap();
    }
    db.close().unwrap();
    let wal_len = std::fs::metadata(wal_files(&src).pop().unwrap())
        .unwrap()
        .len();
    // Intact: everything comes back.
    let clean = base.path().join("clean");
    copy_dir(&src, &clean);
    let db = Db::open(&clean, Options::default()).unwrap();
    assert_eq!(db.range::<&[u8], _>(..).unwrap().count(), 100);
    drop(db);
    // A flipped bit in the second record: corruption, naming the segment.
    let bad = base.path().join("bad");
    copy_dir(&src, &bad);
    let wal = wal_files(&bad).pop().unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    bytes[16 + 44 + 20] ^= 0x04;
    std::fs::write(&wal, &bytes).unwrap();
    match Db::open(&bad, Options::default()) {
        Err(Error::Corruption { file, reason, .. }) => {
            assert_eq!(file, wal, "{reason}");
            assert!(reason.contains("written after a sync covered"), "{reason}");
        }
        Err(other) => panic!("expected corruption, got {other}"),
        Ok(db) => panic!(
            "opened with {} of 100 keys",
            db.range::<&[u8], _>(..).unwrap().count()
        ),
    }
    // Damage to the close record alone (the last 25 bytes) loses nothing.
    let tail = base.path().join("tail");
    copy_dir(&src, &tail);
    let wal = wal_files(&tail).pop().unwrap();
    let mut bytes = std::fs::read(&wal).unwrap();
    assert_eq!(bytes.len() as u64, wal_len);
    bytes[wal_len as usize - 3] ^= 0x01;
    std::fs::write(&wal, &bytes).unwrap();
    let db = Db::open(&tail, Options::default()).unwrap();
    assert_eq!(db.range::<&[u8], _>(..).unwrap().count(), 100);
}

/// Postmortem (found by tests ported from peer engines): reopening with a
/// smaller `value_bytes_max` reported a healthy WAL as `Corruption`, and a
/// smaller `batch_bytes_max` made a healthy last record look like a torn
/// tail, dropped without an error. Both are a configuration mismatch.
#[test]
fn regression_smaller_limits_at_reopen_are_a_configuration_mismatch() {
    let base = tempfile::tempdir().unwrap();
    let mismatch = |r: strata::Result<Db>, what: &str| match r {
        Err(Error::InvalidArgument(m)) => {
            assert!(
                m.contains("configuration mismatch") && m.contains(".log"),
                "{m}"
            )
        }
        Err(other) => panic!("{what}: expected a configuration mismatch, got {other}"),
        Ok(db) => panic!(
            "{what}: opened, with {} keys",
            db.range::<&[u8], _>(..).unwrap().count()
        ),
    };
    // A large value, closed cleanly.
    let dir = base.path().join("value");
    let db = Db::open(&dir, Options::default()).unwrap();
    db.put(b"big", &[7; 1000], WriteOptions::BUFFERED).unwrap();
    db.close().unwrap();
    let small_values = Options {
        value_bytes_max: 100,
        ..Options::default()
    };
    mismatch(Db::open(&dir, small_values), "value_bytes_max");
    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(db.get(b"big").unwrap(), Some(vec![7; 1000]));
    drop(db);
    // A large batch as the last record of a log left by a crash.
    let dir = base.path().join("batch");
    let db = Db::open(&dir, Options::default()).unwrap();
    let mut b = WriteBatch::new();
    for i in 0..20 {
        b.put(key(i), [1u8; 100]);
    }
    db.write(b, WriteOptions::BUFFERED).unwrap();
    drop(db);
    let small_batches = Options {
        batch_bytes_max: 1024,
        ..Options::default()
    };
    mismatch(Db::open(&dir, small_batches), "batch_bytes_max");
    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(db.range::<&[u8], _>(..).unwrap().count(), 20);
}

/// File numbers come from one counter for every kind of file and are never
/// reused: over opens, writes, flushes and compactions, no number names two
/// files (a WAL segment and a manifest, say), so a number alone identifies
/// a file in caches, reports and repair.
#[test]
fn every_file_number_names_one_file() {
    use std::collections::BTreeMap;
    use strata::format::filename::{parse_file_name, FileKind};
    let dir = tempfile::tempdir().unwrap();
    let opts = || Options {
        background: strata::BackgroundMode::Manual,
        memtable_bytes_max: 4096,
        ..Options::default()
    };
    let mut seen: BTreeMap<u64, String> = BTreeMap::new();
    let mut record = |dir: &Path| {
        for e in std::fs::read_dir(dir).unwrap() {
            let name = e.unwrap().file_name().to_string_lossy().into_owned();
            let n = match parse_file_name(&name) {
                Some(FileKind::Wal(n) | FileKind::Table(n) | FileKind::Manifest(n)) => n,
                _ => continue,
            };
            let first = seen.entry(n).or_insert_with(|| name.clone());
            assert_eq!(*first, name, "file number {n} names two files");
        }
    };
    for round in 0..3u32 {
        let db = Db::open(dir.path(), opts()).unwrap();
        record(dir.path());
        for i in 0..50 {
            db.put(&key(round * 100 + i), b"v", WriteOptions::BUFFERED)
                .unwrap();
        }
        db.flush().unwrap();
        record(dir.path());
        db.compact_range::<&[u8], _>(..).unwrap();
        record(dir.path());
        // Fill the memtable past its limit: it rotates behind a new WAL
        // segment whose number no manifest edit has recorded yet, so the
        // next open must number its files past the segment, not only past
        // the manifest's counter.
        for i in 0..8 {
            db.put(
                &key(round * 100 + 50 + i),
                &[7; 1024],
                WriteOptions::BUFFERED,
            )
            .unwrap();
        }
        record(dir.path());
        db.close().unwrap();
    }
    let kinds: std::collections::BTreeSet<&str> = seen
        .values()
        .map(|n| n.split(['-', '.']).next().unwrap())
        .collect();
    assert_eq!(kinds.len(), 3, "every kind was seen: {seen:?}");
}

/// A segment torn inside its own header (its creation never finished) with
/// a newer segment after it holds no record: the default mode removes it and
/// replays the newer one; strict mode refuses it as damage before later
/// segments, and says so. (The simulator's seed 507 found the first case;
/// this builds it directly.)
#[test]
fn a_segment_torn_in_its_header_before_a_newer_one() {
    use strata::format::wal::{encode_record, WalWriter};
    use strata::fs::StdFs;
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("db");
    let db = Db::open(&dir, Options::default()).unwrap();
    db.put(b"k1", b"v1", WriteOptions::DURABLE).unwrap();
    db.close().unwrap();
    drop(db);
    let newest = wal_files(&dir).pop().unwrap();
    let name = newest.file_name().unwrap().to_str().unwrap();
    let n: u64 = name
        .trim_start_matches("wal-")
        .trim_end_matches(".log")
        .parse()
        .unwrap();
    let torn = dir.join(format!("wal-{:06}.log", n + 1));
    std::fs::write(&torn, [0x57, 0x41, 0x4c]).unwrap();
    let mut w = WalWriter::create(&StdFs, &dir, n + 2).unwrap();
    let mut rec = Vec::new();
    let op = strata::BatchOp::Put {
        key: b"k2".to_vec(),
        value: b"v2".to_vec(),
    };
    encode_record(&mut rec, 2, &[op], w.synced_bytes());
    w.append(&rec).unwrap();
    w.sync().unwrap();
    drop(w);

    let strict = Options {
        recovery: RecoveryMode::Strict,
        ..Options::default()
    };
    let err = Db::open(&dir, strict).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    assert!(
        err.to_string().contains("later WAL segments follow"),
        "{err}"
    );
    assert!(torn.exists(), "a refused open changes nothing");

    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(db.get(b"k1").unwrap(), Some(b"v1".to_vec()));
    assert_eq!(db.get(b"k2").unwrap(), Some(b"v2".to_vec()));
    assert!(!torn.exists(), "the torn segment is removed");
}

/// Sequence numbers run out exactly at `SEQNO_MAX`: with two numbers left a
/// two-operation batch takes both, a three-operation one is refused as an
/// invalid argument (not numbered past the limit), the next write after the
/// last number is refused too, and everything acknowledged reads back after
/// a reopen. The database is aged by appending a manifest edit that moves
/// its last sequence number to the limit (and its log past every segment).
/// Postmortem: the close record names the next number, `SEQNO_MAX + 1` once
/// the last is used, and the decoder capped every record at `SEQNO_MAX`, so
/// such a database was refused as corrupt at its next open.
#[test]
fn regression_sequence_numbers_run_out_exactly_at_the_limit() {
    use strata::format::manifest::{recover, ManifestWriter};
    use strata::format::version::VersionEdit;
    use strata::fs::StdFs;
    use strata::types::SEQNO_MAX;
    let base = tempfile::tempdir().unwrap();
    let dir = base.path().join("db");
    Db::open(&dir, Options::default()).unwrap().close().unwrap();
    let recovered = recover(&StdFs, &dir).unwrap().unwrap();
    let mut writer = ManifestWriter::reopen(&StdFs, &dir, &recovered).unwrap();
    let next = recovered.next_file_number;
    writer
        .append(&VersionEdit {
            log_number: Some(next),
            next_file_number: Some(next + 1),
            last_seqno: Some(SEQNO_MAX - 2),
            ..VersionEdit::default()
        })
        .unwrap();
    drop(writer);

    let db = Db::open(&dir, Options::default()).unwrap();
    let batch = |n: u8| {
        let mut b = WriteBatch::new();
        for i in 0..n {
            b.put([b'k', i], [b'v', n]);
        }
        b
    };
    let err = db.write(batch(3), WriteOptions::DURABLE).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("exhausted")),
        "{err}"
    );
    assert_eq!(
        db.get(b"k\0").unwrap(),
        None,
        "a refused batch writes nothing"
    );
    db.write(batch(2), WriteOptions::DURABLE)
        .expect("the last two numbers are usable");
    let err = db.put(b"late", b"v", WriteOptions::DURABLE).unwrap_err();
    assert!(
        matches!(&err, Error::InvalidArgument(m) if m.contains("exhausted")),
        "{err}"
    );
    db.close().unwrap();
    drop(db);

    let db = Db::open(&dir, Options::default()).unwrap();
    assert_eq!(db.get(b"k\0").unwrap(), Some(b"v\x02".to_vec()));
    assert_eq!(db.get(b"k\x01").unwrap(), Some(b"v\x02".to_vec()));
    assert_eq!(db.get(b"late").unwrap(), None);
}
