//! `Db::close(&self)` on a database shared through `Arc`: it waits for the
//! calls in flight, every call after it is `Closed`, and every write
//! acknowledged before it survives.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use strata::{Db, Error, Options, WriteOptions};

#[test]
fn close_through_an_arc_waits_for_calls_and_keeps_every_acknowledged_write() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        memtable_bytes_max: 16 * 1024,
        ..Options::default()
    };
    let db = Arc::new(Db::open(dir.path(), opts.clone()).unwrap());
    let acked = Arc::new(Mutex::new(Vec::<Vec<u8>>::new()));
    let count = Arc::new(AtomicU64::new(0));
    let mut threads = Vec::new();
    for t in 0..4u32 {
        let (db, acked, count) = (db.clone(), acked.clone(), count.clone());
        threads.push(std::thread::spawn(move || {
            for i in 0u32.. {
                let key = format!("t{t}-{i:06}").into_bytes();
                let wo = if i % 3 == 0 {
                    WriteOptions::DURABLE
                } else {
                    WriteOptions::BUFFERED
                };
                match db.put(&key, &[t as u8; 64], wo) {
                    Ok(_) => {
                        acked.lock().unwrap().push(key);
                        count.fetch_add(1, Ordering::SeqCst);
                    }
                    Err(Error::Closed) => return,
                    Err(e) => panic!("writer {t}: {e}"),
                }
            }
        }));
    }
    for r in 0..2u32 {
        let db = db.clone();
        threads.push(std::thread::spawn(move || loop {
            let res = if r == 0 {
                db.get(b"t0-000000").map(|_| ())
            } else {
                db.range::<&[u8], _>(..).map(|it| {
                    let _ = it.take(20).count();
                })
            };
            match res {
                Ok(()) => {}
                Err(Error::Closed) => return,
                Err(e) => panic!("reader {r}: {e}"),
            }
        }));
    }
    let mut it = db.range::<&[u8], _>(..).unwrap();
    // Let the writers get going (an event, not a duration).
    while count.load(Ordering::SeqCst) < 2000 {
        std::thread::yield_now();
    }
    db.close().unwrap();
    // Nothing is written after close returns: the calls in flight were
    // waited for, and the rest are refused.
    let sizes = |d: &std::path::Path| -> Vec<(std::ffi::OsString, u64)> {
        let mut v: Vec<_> = std::fs::read_dir(d)
            .unwrap()
            .map(|e| {
                let e = e.unwrap();
                (e.file_name(), e.metadata().unwrap().len())
            })
            .collect();
        v.sort();
        v
    };
    let at_close = sizes(dir.path());
    for t in threads {
        t.join().unwrap();
    }
    assert_eq!(
        sizes(dir.path()),
        at_close,
        "files changed after close returned"
    );
    // After close: Closed everywhere, a second close included.
    assert!(matches!(
        db.put(b"k", b"v", WriteOptions::DURABLE),
        Err(Error::Closed)
    ));
    assert!(matches!(db.get(b"k"), Err(Error::Closed)));
    assert!(matches!(db.range::<&[u8], _>(..), Err(Error::Closed)));
    assert!(matches!(db.cursor(), Err(Error::Closed)));
    assert!(matches!(db.flush(), Err(Error::Closed)));
    assert!(matches!(db.compact(), Err(Error::Closed)));
    assert!(matches!(db.close(), Err(Error::Closed)));
    assert!(matches!(it.next(), Some(Err(Error::Closed))));
    drop(db);
    // Every acknowledged write, buffered ones too, survived the close.
    let db = Db::open(dir.path(), opts).unwrap();
    let acked = acked.lock().unwrap();
    assert!(acked.len() >= 2000);
    for key in acked.iter() {
        assert!(
            db.get(key).unwrap().is_some(),
            "{}",
            String::from_utf8_lossy(key)
        );
    }
}
