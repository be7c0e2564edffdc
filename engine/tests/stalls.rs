//! Write throttling: writers are slowed, then stopped, while level 0 backs
//! up, and resume once compaction catches up.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use strata::{CompactionOptions, Db, Options, WriteOptions, WritePressure};

#[test]
fn writes_slow_then_stop_while_level0_backs_up_and_resume_after_compaction() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        memtable_bytes_max: 2048,
        frozen_memtables_max: 2,
        compaction: CompactionOptions {
            l0_compaction_trigger: 2,
            l0_slowdown_trigger: 3,
            l0_stop_trigger: 5,
            ..CompactionOptions::default()
        },
        ..Options::default()
    };
    let db = Arc::new(Db::open(dir.path(), opts).unwrap());
    let pause = db.pause_compactions();
    let written = Arc::new(AtomicU64::new(0));
    let total = 400u64;
    let writer = {
        let (db, written) = (db.clone(), written.clone());
        std::thread::spawn(move || {
            for i in 0..total {
                db.put(
                    format!("k{i:05}").as_bytes(),
                    &[7u8; 100],
                    WriteOptions::BUFFERED,
                )
                .unwrap();
                written.fetch_add(1, Ordering::SeqCst);
            }
        })
    };
    // With compactions paused, flushes pile files into level 0 until writers stop.
    let deadline = Instant::now() + Duration::from_secs(30);
    while db.write_pressure() != WritePressure::Stop || db.stats().write_stops == 0 {
        assert!(
            Instant::now() < deadline,
            "writers never stopped: {:?}",
            db.stats()
        );
        std::thread::sleep(Duration::from_millis(5));
    }
    let stats = db.stats();
    assert!(stats.write_slowdowns > 0, "{stats:?}");
    assert!(stats.levels[0].files >= 5, "{stats:?}");
    // Stopped: no progress while compaction is held.
    let before = written.load(Ordering::SeqCst);
    std::thread::sleep(Duration::from_millis(100));
    assert_eq!(written.load(Ordering::SeqCst), before, "writes must stop");
    assert!(before < total);
    drop(pause);
    writer.join().unwrap();
    assert_eq!(written.load(Ordering::SeqCst), total);
    db.compact().unwrap();
    assert_eq!(db.write_pressure(), WritePressure::Normal);
    for i in 0..total {
        assert_eq!(
            db.get(format!("k{i:05}").as_bytes()).unwrap(),
            Some(vec![7u8; 100])
        );
    }
}

#[test]
fn background_work_pending_says_whether_a_step_would_find_work() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        background: strata::BackgroundMode::Manual,
        memtable_bytes_max: 2048,
        frozen_memtables_max: 8,
        compaction: CompactionOptions {
            l0_compaction_trigger: 2,
            l0_slowdown_trigger: 20,
            l0_stop_trigger: 30,
            ..CompactionOptions::default()
        },
        ..Options::default()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    assert!(!db.background_work_pending(), "a new database has no work");
    let mut i = 0u32;
    while db.stats().memtable_rotations < 3 {
        db.put(
            format!("k{i:05}").as_bytes(),
            &[1; 100],
            WriteOptions::BUFFERED,
        )
        .unwrap();
        i += 1;
    }
    assert!(db.background_work_pending(), "frozen memtables wait");
    // Flush only: level 0 then holds three tables, over its trigger of two,
    // which counts only while compactions are not paused.
    let pause = db.pause_compactions();
    let mut steps = 0;
    while db.background_work_pending() {
        assert_ne!(db.step_background().unwrap(), strata::BackgroundStep::Idle);
        steps += 1;
    }
    assert_eq!(steps, 3, "three flushes, then nothing while paused");
    assert_eq!(db.step_background().unwrap(), strata::BackgroundStep::Idle);
    drop(pause);
    assert!(db.background_work_pending(), "level 0 is over its trigger");
    while db.background_work_pending() {
        assert_ne!(db.step_background().unwrap(), strata::BackgroundStep::Idle);
    }
    assert_eq!(db.step_background().unwrap(), strata::BackgroundStep::Idle);
    assert!(db.stats().levels[0].files < 2);
}

/// With level 0 far below its triggers, no write is slowed or stopped (the
/// slowdown is for level-0 pressure only). With a background thread: in
/// manual mode writes are never throttled at all.
#[test]
fn writes_without_level0_pressure_are_never_slowed() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    for i in 0..200u32 {
        db.put(&i.to_be_bytes(), b"v", WriteOptions::BUFFERED)
            .unwrap();
    }
    let stats = db.stats();
    assert_eq!(
        (stats.write_slowdowns, stats.write_stops),
        (0, 0),
        "{stats:?}"
    );
}
