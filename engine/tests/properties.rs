//! Properties, property names and approximate sizes.

use strata::{
    BackgroundMode, CompactionOptions, Compression, Db, Options, TableOptions, WriteOptions,
};

const W: WriteOptions = WriteOptions::BUFFERED;

fn opts() -> Options {
    Options {
        background: BackgroundMode::Manual,
        memtable_bytes_max: 1 << 20,
        table: TableOptions {
            compression: Compression::None,
            block_bytes_target: 1024,
            ..TableOptions::default()
        },
        compaction: CompactionOptions {
            l0_compaction_trigger: 2,
            ..CompactionOptions::default()
        },
        block_cache_bytes: 1 << 20,
        ..Options::default()
    }
}

#[test]
fn properties_follow_the_database() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let p = db.properties();
    assert_eq!(p.live_table_files, 0);
    assert_eq!(p.levels.len(), 7);
    assert!(p.levels.iter().all(|l| l.files == 0 && l.bytes == 0));
    let empty_memtables = p.memtable_bytes;
    for i in 0..1000u32 {
        db.put(format!("key{i:05}").as_bytes(), &[7; 100], W)
            .unwrap();
    }
    let p = db.properties();
    assert!(p.memtable_bytes >= empty_memtables + 100_000, "{p:?}");
    assert!(p.wal_bytes > 0, "{p:?}");
    assert_eq!(p.last_seqno, 1000);
    db.flush().unwrap();
    for i in 0..1000u32 {
        db.put(format!("key{i:05}").as_bytes(), &[8; 100], W)
            .unwrap();
    }
    db.flush().unwrap();
    let p = db.properties();
    assert_eq!(p.levels[0].files, 2);
    assert_eq!(p.live_table_files, 2);
    assert!(p.background_work_pending);
    assert_eq!(
        p.pending_compaction_bytes, p.levels[0].bytes,
        "level 0 at its trigger"
    );
    assert_eq!(
        db.property("strata.num-files-at-level0").as_deref(),
        Some("2")
    );
    assert_eq!(
        db.property("strata.bytes-at-level0"),
        Some(p.levels[0].bytes.to_string())
    );
    assert_eq!(
        db.property("strata.compaction-pending").as_deref(),
        Some("1")
    );
    // An iterator pins the tables a compaction replaces.
    let it = db.range::<&[u8], _>(..).unwrap();
    let snap = db.snapshot();
    db.compact().unwrap();
    let p = db.properties();
    assert_eq!(p.levels[0].files, 0);
    assert_eq!(p.obsolete_table_files, 2, "{p:?}");
    assert_eq!(p.snapshots, 1);
    assert!(!p.background_work_pending);
    assert_eq!(p.pending_compaction_bytes, 0);
    drop(it);
    drop(snap);
    let p = db.properties();
    assert_eq!((p.obsolete_table_files, p.snapshots), (0, 0));
    // Reads fill the cache: a second read of a key hits it.
    db.get(b"key00500").unwrap();
    db.get(b"key00500").unwrap();
    let p = db.properties();
    assert!(
        p.block_cache_hits >= 1 && p.block_cache_misses >= 1,
        "{p:?}"
    );
    assert!(p.block_cache_used_bytes > 0 && p.block_cache_capacity == 1 << 20);
    assert!(p.block_cache_hit_rate() > 0.0 && p.block_cache_hit_rate() < 1.0);
    // Every documented name answers, an unknown one does not.
    for name in strata::PROPERTY_NAMES {
        assert!(db.property(name).is_some(), "{name}");
    }
    assert!(db.property("strata.num-files-at-level7").is_none());
    assert!(db.property("rocksdb.num-files-at-level0").is_none());
    assert!(db
        .property("strata.levelstats")
        .unwrap()
        .contains("level files bytes"));
}

#[test]
fn approximate_size_grows_with_the_range() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    for i in 0..2000u32 {
        db.put(format!("key{i:05}").as_bytes(), &[1; 100], W)
            .unwrap();
    }
    // Memtables are not counted.
    assert_eq!(db.approximate_size::<&[u8], _>(..).unwrap(), 0);
    db.compact_range::<&[u8], _>(..).unwrap();
    let all = db.approximate_size::<&[u8], _>(..).unwrap();
    let tables: u64 = db.properties().levels.iter().map(|l| l.bytes).sum();
    assert_eq!(all, tables);
    let half = db
        .approximate_size(b"key00000".as_slice()..b"key01000".as_slice())
        .unwrap();
    let tenth = db
        .approximate_size(b"key00000".as_slice()..b"key00200".as_slice())
        .unwrap();
    assert!(
        half > tables * 4 / 10 && half < tables * 6 / 10,
        "{half} of {tables}"
    );
    assert!(
        tenth > tables / 20 && tenth < tables * 3 / 20,
        "{tenth} of {tables}"
    );
    assert_eq!(db.approximate_size(b"zzz".as_slice()..).unwrap(), 0);
}

/// Bytes in the last level are where compaction leaves data, not work
/// pending: only levels 1 to 5 count their excess over the target.
#[test]
fn the_last_level_is_never_pending_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let mut o = opts();
    // Targets of 1, 2, 4, ... bytes: any table moves on down to level 6.
    o.compaction.level1_bytes_target = 1;
    o.compaction.level_size_multiplier = 2;
    let db = Db::open(dir.path(), o).unwrap();
    for round in 0..2u8 {
        for i in 0..500u32 {
            db.put(format!("key{i:05}").as_bytes(), &[round; 100], W)
                .unwrap();
        }
        db.flush().unwrap();
    }
    db.compact().unwrap();
    let p = db.properties();
    assert!(p.levels[..6].iter().all(|l| l.files == 0), "{p:?}");
    assert!(p.levels[6].bytes > 50_000, "{p:?}");
    assert!(!p.background_work_pending, "{p:?}");
    assert_eq!(p.pending_compaction_bytes, 0, "{p:?}");
}

/// `Stats::table_bytes_written` counts every byte of every table written:
/// after a flush it is the size of the flushed tables, and a compaction
/// adds exactly the size of its outputs (what the levels hold afterwards,
/// since the compaction replaced every table); `compaction_bytes_read`
/// counts the size of its inputs.
#[test]
fn table_bytes_count_flushes_compaction_inputs_and_outputs() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), opts()).unwrap();
    let level_bytes = |db: &Db| db.stats().levels.iter().map(|l| l.bytes).sum::<u64>();
    for round in 0..2u32 {
        for i in 0..500u32 {
            db.put(format!("key{i:05}").as_bytes(), &[round as u8; 100], W)
                .unwrap();
        }
        db.flush().unwrap();
    }
    let flushed = db.stats().table_bytes_written;
    assert!(flushed > 0);
    assert_eq!(
        flushed,
        level_bytes(&db),
        "two flushed tables, nothing else"
    );
    assert_eq!(db.stats().compaction_bytes_read, 0);
    db.compact_range::<&[u8], _>(..).unwrap();
    let after = db.stats();
    assert_eq!(after.levels[0].files, 0, "the compaction took every table");
    assert_eq!(after.table_bytes_written - flushed, level_bytes(&db));
    assert_eq!(
        after.compaction_bytes_read, flushed,
        "the compaction read both flushed tables"
    );
}

/// `memtable_bytes_max` is a limit the active memtable may reach, not
/// pass: a memtable holding exactly that many bytes is rotated before the
/// next write, one byte fewer is not.
#[test]
fn the_memtable_rotates_once_it_reaches_its_limit() {
    let dir = tempfile::tempdir().unwrap();
    let one_entry = {
        let db = Db::open(dir.path().join("measure"), opts()).unwrap();
        db.put(b"a", &[1; 100], W).unwrap();
        db.properties().memtable_bytes
    };
    for (limit, frozen) in [(one_entry, 1), (one_entry + 1, 0)] {
        let path = dir.path().join(format!("limit-{limit}"));
        let db = Db::open(
            path,
            Options {
                memtable_bytes_max: usize::try_from(limit).unwrap(),
                ..opts()
            },
        )
        .unwrap();
        db.put(b"a", &[1; 100], W).unwrap();
        assert_eq!(db.properties().memtable_bytes, one_entry);
        db.put(b"b", &[2; 100], W).unwrap();
        assert_eq!(
            db.properties().frozen_memtables,
            frozen,
            "limit {limit}, one entry takes {one_entry} bytes"
        );
    }
}
