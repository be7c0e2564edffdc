//! Repair after damage: the database opens again, everything still
//! readable before is readable after, nothing is deleted (it goes to
//! `lost/`), and the report names what was lost.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use strata::repair::{ManifestOutcome, LOST_DIR};
use strata::{
    repair, BackgroundMode, CompactionOptions, Db, Error, Options, TableOptions, WriteOptions,
};

type State = BTreeMap<Vec<u8>, Vec<u8>>;

fn opts() -> Options {
    Options {
        background: BackgroundMode::Manual,
        memtable_bytes_max: 16 * 1024,
        table: TableOptions {
            block_bytes_target: 1024,
            ..TableOptions::default()
        },
        compaction: CompactionOptions {
            l0_compaction_trigger: 4,
            target_file_bytes: 16 * 1024,
            ..CompactionOptions::default()
        },
        ..Options::default()
    }
}

fn key(i: u32) -> Vec<u8> {
    format!("key{i:05}").into_bytes()
}

/// 2,000 keys written, flushed and compacted down, then 2,000 overwrites
/// flushed to level 0 tables, and a WAL tail; closed cleanly.
fn build(dir: &Path) -> State {
    let db = Db::open(dir, opts()).unwrap();
    let mut want = State::new();
    for i in 0..2000 {
        let v = format!("first {i}").into_bytes();
        db.put(&key(i), &v, WriteOptions::BUFFERED).unwrap();
        want.insert(key(i), v);
    }
    db.compact().unwrap();
    for i in (0..2000).step_by(2) {
        let v = format!("second {i}").into_bytes();
        db.put(&key(i), &v, WriteOptions::BUFFERED).unwrap();
        want.insert(key(i), v);
    }
    db.flush().unwrap();
    for i in (0..2000).step_by(5) {
        let v = format!("third {i}").into_bytes();
        db.put(&key(i), &v, WriteOptions::BUFFERED).unwrap();
        want.insert(key(i), v);
    }
    db.close().unwrap();
    want
}

fn files(dir: &Path, ext: &str) -> Vec<PathBuf> {
    let mut v: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.is_file() && p.to_string_lossy().contains(ext))
        .collect();
    v.sort();
    v
}

fn flip(path: &Path, at: usize) {
    let mut b = std::fs::read(path).unwrap();
    b[at] ^= 0x40;
    std::fs::write(path, b).unwrap();
}

fn read_all(db: &Db) -> State {
    db.range::<&[u8], _>(..)
        .unwrap()
        .map(|r| r.unwrap())
        .collect()
}

/// Per key: the value a read returns, or `None` if the read fails.
fn readable(dir: &Path) -> BTreeMap<Vec<u8>, Option<Option<Vec<u8>>>> {
    let Ok(db) = Db::open_read_only(dir, opts()) else {
        return BTreeMap::new();
    };
    (0..2000).map(|i| (key(i), db.get(&key(i)).ok())).collect()
}

#[test]
fn a_healthy_database_loses_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let want = build(dir.path());
    let report = repair(dir.path(), opts()).unwrap();
    assert!(report.lost_nothing(), "{report:?}");
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(read_all(&db), want);
    db.close().unwrap();
    // Again: still nothing lost, nothing more to move.
    let again = repair(dir.path(), opts()).unwrap();
    assert!(again.lost_nothing(), "{again:?}");
}

#[test]
fn a_corrupt_table_is_salvaged_and_named_and_every_other_read_survives() {
    let dir = tempfile::tempdir().unwrap();
    let want = build(dir.path());
    let tables = files(dir.path(), ".sst");
    let victim = tables[0].clone();
    flip(&victim, 300);
    let before = readable(dir.path());
    let report = repair(dir.path(), opts()).unwrap();
    assert_eq!(report.tables_lost.len(), 1, "{report:?}");
    let lost = &report.tables_lost[0];
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(name.contains(&format!("{:06}", lost.number)));
    assert!(lost.meta.is_some(), "the manifest knew its range");
    assert!(lost.reason.contains("corruption"), "{}", lost.reason);
    let salvage = lost.salvaged.as_ref().expect("its index still reads");
    assert_eq!(salvage.lost_ranges.len(), 1, "{salvage:?}");
    // Nothing deleted: the table is in lost/.
    assert!(dir.path().join(LOST_DIR).join(name).exists());
    assert!(!victim.exists());
    let db = Db::open(dir.path(), opts()).unwrap();
    let after = read_all(&db);
    for (k, got) in &before {
        if let Some(v) = got {
            assert_eq!(
                &after.get(k).cloned(),
                v,
                "{k:?} was readable before repair"
            );
        }
    }
    // Every key whose value changed lies in the block reported lost.
    let (after_key, through) = &salvage.lost_ranges[0];
    let mut changed = 0;
    for (k, v) in &want {
        if after.get(k) != Some(v) {
            changed += 1;
            assert!(
                after_key.as_ref().is_none_or(|a| a < k) && k <= through,
                "{k:?} changed outside the reported range {after_key:?}..={through:?}"
            );
        }
    }
    assert!(
        changed > 0,
        "the damaged block held the newest version of some key"
    );
    // And the database takes writes and compacts again.
    db.put(b"new", b"value", WriteOptions::DURABLE).unwrap();
    db.compact().unwrap();
}

#[test]
fn a_database_stuck_on_a_corrupt_compaction_input_is_writable_after_repair() {
    let dir = tempfile::tempdir().unwrap();
    let w = WriteOptions::BUFFERED;
    // Two overlapping level-0 tables (their compaction reads both); the
    // first block of the first one gets damaged.
    let db = Db::open(dir.path(), opts()).unwrap();
    for round in 0..2u8 {
        for i in 0..200u32 {
            db.put(&key(i), &[round; 100], w).unwrap();
        }
        db.flush().unwrap();
    }
    db.close().unwrap();
    let damaged = files(dir.path(), ".sst")[0].clone();
    flip(&damaged, 100);
    // With a background thread and a small level 0, writers stop with the
    // corruption: the compaction that would drain level 0 cannot run.
    let threaded = Options {
        background: BackgroundMode::Thread,
        memtable_bytes_max: 4 * 1024,
        compaction: CompactionOptions {
            l0_compaction_trigger: 2,
            l0_slowdown_trigger: 3,
            l0_stop_trigger: 4,
            ..CompactionOptions::default()
        },
        ..Options::default()
    };
    let db = Db::open(dir.path(), threaded.clone()).unwrap();
    let stopped = (0..100_000u32)
        .find_map(|i| db.put(format!("e{i:06}").as_bytes(), &[3; 100], w).err())
        .expect("writers stop behind the corrupt table");
    assert!(stopped.is_corruption(), "{stopped}");
    drop(db);

    let report = repair(dir.path(), threaded.clone()).unwrap();
    assert_eq!(report.tables_lost.len(), 1, "{report:?}");
    let salvage = report.tables_lost[0]
        .salvaged
        .as_ref()
        .expect("its index reads");
    assert_eq!(
        salvage.lost_ranges.len(),
        1,
        "only the first block: {salvage:?}"
    );
    assert!(
        salvage.entries > 0 && salvage.table.is_some(),
        "{salvage:?}"
    );
    let db = Db::open(dir.path(), threaded).unwrap();
    for i in 0..20_000u32 {
        db.put(format!("f{i:06}").as_bytes(), &[4; 100], w)
            .unwrap_or_else(|e| panic!("write {i} after repair: {e}"));
    }
    // The second table's values are intact; the rest of the first's too.
    assert_eq!(db.get(&key(150)).unwrap(), Some(vec![1; 100]));
    db.close().unwrap();
}

#[test]
fn a_manifest_damaged_in_the_middle_keeps_its_earlier_state_and_the_newer_tables() {
    let dir = tempfile::tempdir().unwrap();
    let want = build(dir.path());
    let manifest = files(dir.path(), "MANIFEST-").pop().unwrap();
    // A byte inside the second record (an edit after the snapshot), with
    // more records after it: not a torn tail.
    let bytes = std::fs::read(&manifest).unwrap();
    let mut offsets = Vec::new();
    let name = manifest.file_name().unwrap().to_str().unwrap();
    let Some(strata::format::filename::FileKind::Manifest(number)) =
        strata::format::filename::parse_file_name(name)
    else {
        panic!("{name} is not a manifest")
    };
    strata::format::manifest::replay_visiting(&bytes, &manifest, number, &mut |at, _, _| {
        offsets.push(at as usize)
    })
    .unwrap();
    assert!(offsets.len() >= 4, "{offsets:?}");
    flip(
        &manifest,
        offsets[1] + strata::format::manifest::RECORD_HEADER_BYTES as usize + 1,
    );
    assert!(Db::open(dir.path(), opts()).is_err());
    let report = repair(dir.path(), opts()).unwrap();
    assert!(
        matches!(report.manifest, ManifestOutcome::CutAt { .. }),
        "{report:?}"
    );
    assert!(!report.tables_recovered.is_empty(), "{report:?}");
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(read_all(&db), want, "{report:?}");
}

#[test]
fn without_current_the_state_is_rebuilt_from_the_tables() {
    let dir = tempfile::tempdir().unwrap();
    let want = build(dir.path());
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let report = repair(dir.path(), opts()).unwrap();
    assert!(
        matches!(report.manifest, ManifestOutcome::Rebuilt { .. }),
        "{report:?}"
    );
    let db = Db::open(dir.path(), opts()).unwrap();
    assert_eq!(read_all(&db), want, "{report:?}");
}

#[test]
fn a_damaged_log_is_cut_at_the_damage_and_the_loss_reported() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    db.put(b"flushed", b"1", WriteOptions::DURABLE).unwrap();
    db.flush().unwrap();
    for i in 0..40 {
        db.put(&key(i), b"logged", WriteOptions::DURABLE).unwrap();
    }
    drop(db); // a crash: the 40 writes are only in the WAL
    let wal = files(dir.path(), ".log").pop().unwrap();
    // Damage in the middle, with synced records after it: corruption.
    let len = std::fs::metadata(&wal).unwrap().len() as usize;
    flip(&wal, len / 2);
    let err = Db::open(dir.path(), opts()).unwrap_err();
    assert!(err.is_corruption(), "{err}");
    let report = repair(dir.path(), opts()).unwrap();
    assert_eq!(report.logs_lost.len(), 1, "{report:?}");
    let loss = &report.logs_lost[0];
    let first = loss.first_seqno.expect("the first lost seqno is known");
    assert!(loss.offset.is_some());
    let db = Db::open(dir.path(), opts()).unwrap();
    // Seqno 1 is "flushed"; writes 2.. are key(0).. in order.
    assert_eq!(db.get(b"flushed").unwrap(), Some(b"1".to_vec()));
    for i in 0..40u32 {
        let seqno = u64::from(i) + 2;
        let got = db.get(&key(i)).unwrap();
        assert_eq!(got.is_some(), seqno < first, "key {i} (seqno {seqno})");
    }
    assert!(dir
        .path()
        .join(LOST_DIR)
        .join(wal.file_name().unwrap())
        .exists());
    // Writes continue after the last seqno kept.
    let s = db.put(b"later", b"x", WriteOptions::DURABLE).unwrap();
    assert_eq!(s, first);
}

#[test]
fn an_open_database_is_not_repaired() {
    let dir = tempfile::tempdir().unwrap();
    let _db = Db::open(dir.path(), opts()).unwrap();
    let err = repair(dir.path(), opts()).unwrap_err();
    assert!(matches!(err, Error::Locked { .. }), "{err}");
    let err = repair(dir.path().join("nothing"), opts()).unwrap_err();
    assert!(matches!(err, Error::InvalidArgument(_)), "{err}");
}

/// A table that holds only part of a batch (its block with the batch's
/// newest entries damaged) while the log still holds the whole batch: the
/// batch is replayed whole from its first sequence number, not cut as out
/// of sequence.
#[test]
fn a_batch_a_salvaged_table_holds_in_part_is_replayed_whole_from_the_log() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    // Keys in descending order: the smallest key, in the table's first
    // block, carries the batch's newest sequence number.
    let mut batch = strata::WriteBatch::new();
    for i in (0..300).rev() {
        batch.put(key(i), format!("batched {i}"));
    }
    db.write(batch, WriteOptions::DURABLE).unwrap();
    let wal = files(dir.path(), ".log").pop().unwrap();
    let logged = std::fs::read(&wal).unwrap();
    db.flush().unwrap();
    db.close().unwrap();
    // The log as it was before the flush retired it (a crash before its
    // deletion), no manifest to say what the tables hold, and the table's
    // first block damaged.
    std::fs::write(&wal, logged).unwrap();
    std::fs::remove_file(dir.path().join("CURRENT")).unwrap();
    let tables = files(dir.path(), ".sst");
    assert_eq!(tables.len(), 1);
    flip(&tables[0], 300);
    let report = repair(dir.path(), opts()).unwrap();
    let salvage = report.tables_lost[0].salvaged.as_ref().expect("salvaged");
    assert!(salvage.entries > 0 && salvage.entries < 300, "{salvage:?}");
    assert!(report.logs_lost.is_empty(), "{report:?}");
    let db = Db::open(dir.path(), opts()).unwrap();
    let got = read_all(&db);
    assert_eq!(got.len(), 300, "{report:?}");
    for i in 0..300 {
        assert_eq!(got[&key(i)], format!("batched {i}").into_bytes());
    }
    // The next write follows the batch.
    assert_eq!(db.put(b"later", b"x", WriteOptions::DURABLE).unwrap(), 301);
}
