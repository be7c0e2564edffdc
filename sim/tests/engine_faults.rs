//! The engine under deterministic faults from the simulated disk.

use std::sync::Arc;

use strata::fs::FileSystem;
use strata::{BackgroundMode, Db, Error, Options, WriteOptions};
use strata_sim::{FaultRates, Rng, SimFs};

fn opts(fs: &SimFs) -> Options {
    Options {
        fs: Arc::new(fs.clone()) as Arc<dyn FileSystem>,
        background: BackgroundMode::Manual,
        ..Options::default()
    }
}

/// fsyncgate: after a failed sync the engine fails the write, refuses every
/// later write until reopen, and never reports success for the failed one.
#[test]
fn failed_fsync_poisons_writes_until_reopen_and_is_never_retried_into_success() {
    let fs = SimFs::new(7);
    let db = Db::open("/db", opts(&fs)).unwrap();
    db.put(b"before", b"1", WriteOptions::DURABLE).unwrap();
    fs.set_faults(FaultRates {
        sync_failure_per_million: 1_000_000,
        ..FaultRates::default()
    });
    fs.set_faults_enabled(true);
    let err = db.put(b"failed", b"2", WriteOptions::DURABLE).unwrap_err();
    assert!(matches!(err, Error::Io { .. }), "{err}");
    fs.set_faults_enabled(false);
    // The disk works again, but the engine must not trust what it wrote.
    for wo in [WriteOptions::DURABLE, WriteOptions::BUFFERED] {
        let err = db.put(b"later", b"3", wo).unwrap_err();
        assert!(matches!(err, Error::Poisoned { .. }), "{err}");
        assert!(err.to_string().contains("reopen"), "{err}");
    }
    assert!(matches!(db.flush(), Err(Error::Poisoned { .. })));
    // The failed write was numbered (and moved the transaction history's
    // floor) but never became visible: a transaction begun now sits below
    // the floor, and must still begin (and fail at commit), not wait for a
    // write that will never be published.
    let mut txn = db.transaction();
    txn.put(b"txn", b"5").unwrap();
    let err = txn.commit(WriteOptions::DURABLE).unwrap_err();
    assert!(matches!(err, Error::Poisoned { .. }), "{err}");
    // Reads still work.
    assert_eq!(db.get(b"before").unwrap(), Some(b"1".to_vec()));
    drop(db);
    // A power loss: the failed write's bytes can never have become durable.
    fs.crash(&mut Rng::new(1));
    let db = Db::open("/db", opts(&fs)).unwrap();
    assert_eq!(db.get(b"before").unwrap(), Some(b"1".to_vec()));
    assert_eq!(db.get(b"failed").unwrap(), None);
    assert_eq!(db.last_seqno(), 1);
    db.put(b"after", b"4", WriteOptions::DURABLE).unwrap();
    assert_eq!(db.last_seqno(), 2);
}

/// Every media fault is an error, never wrong data: reads under heavy bit
/// flips either fail or return what was written.
#[test]
fn bit_flips_on_read_surface_as_errors_never_as_wrong_data() {
    let fs = SimFs::new(11);
    let db = Db::open("/db", opts(&fs)).unwrap();
    for i in 0..2000u32 {
        db.put(
            format!("k{i:05}").as_bytes(),
            &i.to_le_bytes().repeat(8),
            WriteOptions::BUFFERED,
        )
        .unwrap();
    }
    db.flush().unwrap();
    db.compact().unwrap();
    drop(db);
    let db = Db::open(
        "/db",
        Options {
            block_cache_bytes: 0, // every read goes to the disk
            ..opts(&fs)
        },
    )
    .unwrap();
    fs.set_faults(FaultRates {
        bit_flip_per_million: 200_000,
        ..FaultRates::default()
    });
    fs.set_faults_enabled(true);
    let (mut ok, mut errors) = (0, 0);
    for i in 0..2000u32 {
        match db.get(format!("k{i:05}").as_bytes()) {
            Ok(v) => {
                assert_eq!(v, Some(i.to_le_bytes().repeat(8)), "wrong data for key {i}");
                ok += 1;
            }
            Err(e) => {
                assert!(e.is_corruption() || e.is_io(), "{e}");
                errors += 1;
            }
        }
    }
    assert!(errors > 0, "the faults must have fired");
    assert!(ok > 0);
}
