//! The engine's threads under the seeded scheduler: only in builds with
//! `--cfg shuttle` (see `engine/src/sync.rs`), run by `.ci/run` as
//!
//! ```sh
//! RUSTFLAGS="--cfg shuttle" CARGO_TARGET_DIR=target/shuttle \
//!   cargo test --release -p strata --test shuttle_smoke
//! ```
//!
//! Two writers (durable and buffered writes, so commit groups form with
//! mixed members) race the real background thread (memtable rotation,
//! flushes, compactions) and a reader holding an iterator across them. Each
//! schedule is drawn from a fixed seed, so a failure replays.
#![cfg(shuttle)]

use std::sync::Arc;

use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{Config, Runner};
use strata::fs::{FileSystem, MemFs};
use strata::{BackgroundMode, CompactionOptions, Db, Options, WriteOptions};

const WRITERS: u64 = 2;
const WRITES: u64 = 24;

fn scenario() {
    let fs: Arc<dyn FileSystem> = Arc::new(MemFs::new());
    let opts = Options {
        fs,
        background: BackgroundMode::Thread,
        memtable_bytes_max: 2 * 1024,
        compaction: CompactionOptions {
            l0_compaction_trigger: 2,
            ..CompactionOptions::default()
        },
        ..Options::default()
    };
    let db = Arc::new(Db::open("/db", opts).unwrap());
    db.put(b"pinned", b"before", WriteOptions::DURABLE).unwrap();
    let reader = {
        let db = db.clone();
        shuttle::thread::spawn(move || {
            let snap = db.snapshot();
            let mut it = db.range::<&[u8], _>(..).unwrap();
            let first = it.next().unwrap().unwrap();
            // Tables may be flushed and compacted under the open iterator.
            shuttle::thread::yield_now();
            let rest: Vec<_> = it.collect::<strata::Result<Vec<_>>>().unwrap();
            let all = std::iter::once(first).chain(rest).collect::<Vec<_>>();
            assert!(all.windows(2).all(|w| w[0].0 < w[1].0), "ordered");
            assert_eq!(snap.get(b"pinned").unwrap(), Some(b"before".to_vec()));
        })
    };
    let writers: Vec<_> = (0..WRITERS)
        .map(|t| {
            let db = db.clone();
            shuttle::thread::spawn(move || {
                let mut last = 0;
                for i in 0..WRITES {
                    let key = format!("w{t}-{i:03}");
                    let wo = if i % 3 == 0 {
                        WriteOptions::DURABLE
                    } else {
                        WriteOptions::BUFFERED
                    };
                    let seqno = db.put(key.as_bytes(), &[t as u8; 100], wo).unwrap();
                    assert!(seqno > last, "sequence numbers increase per writer");
                    last = seqno;
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    reader.join().unwrap();
    for t in 0..WRITERS {
        for i in 0..WRITES {
            let key = format!("w{t}-{i:03}");
            assert_eq!(
                db.get(key.as_bytes()).unwrap(),
                Some(vec![t as u8; 100]),
                "{key}"
            );
        }
    }
    assert_eq!(db.last_seqno(), 1 + WRITERS * WRITES);
    let db = Arc::try_unwrap(db).expect("every thread is done");
    db.close().unwrap();
}

#[test]
fn writers_background_work_and_an_open_iterator_random_schedules() {
    let scheduler = RandomScheduler::new_from_seed(0x5eed, 60);
    Runner::new(scheduler, Config::new()).run(scenario);
}

#[test]
fn writers_background_work_and_an_open_iterator_pct_schedules() {
    let scheduler = PctScheduler::new_from_seed(0x5eed, 3, 60);
    Runner::new(scheduler, Config::new()).run(scenario);
}
