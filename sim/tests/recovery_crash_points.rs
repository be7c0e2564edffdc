//! A power loss at every I/O call of a recovery `open`.
//!
//! The setup leaves a WAL whose tail was never synced: durable writes, then
//! buffered ones, then a process crash (the page cache, and so the unsynced
//! tail, survives). The next `open` replays that tail, writes it out and
//! starts a new segment; a power loss at any of its I/O calls must leave a
//! directory that opens again and holds every durable write plus a prefix of
//! the buffered ones. Run on both disk models: the full one (any subset of
//! unsynced writes survives) and the prefix one.

use std::sync::Arc;

use strata::fs::FileSystem;
use strata::{BackgroundMode, Db, Options, WriteOptions};
use strata_models::{KvModel, State};
use strata_sim::{Rng, SimFs};

/// Power-loss outcomes tried per crash point.
const CRASH_DRAWS: u64 = 4;
/// No recovery open makes more I/O calls than this in this setup.
const IO_CALLS_MAX: u64 = 400;

fn opts(fs: &SimFs) -> Options {
    Options {
        fs: Arc::new(fs.clone()) as Arc<dyn FileSystem>,
        background: BackgroundMode::Manual,
        ..Options::default()
    }
}

/// Writes 5 durable then 40 buffered values and crashes the process.
/// Returns the disk and the model of what was written.
fn setup(full_disk: bool) -> (SimFs, KvModel) {
    let fs = SimFs::new(1);
    fs.set_reordering(full_disk);
    let mut model = KvModel::new();
    let db = Db::open("/db", opts(&fs)).unwrap();
    for i in 0..45u32 {
        let key = format!("key{:03}", i % 30).into_bytes();
        let value = vec![i as u8; 100 + (i as usize * 37) % 900];
        let wo = if i < 5 {
            WriteOptions::DURABLE
        } else {
            WriteOptions::BUFFERED
        };
        let seqno = db.put(&key, &value, wo).unwrap();
        assert_eq!(seqno, model.put(&key, &value));
    }
    drop(db);
    fs.restart_process();
    (fs, model)
}

fn full_state(db: &Db) -> State {
    db.range::<Vec<u8>, _>(..)
        .unwrap()
        .collect::<strata::Result<Vec<_>>>()
        .unwrap()
        .into_iter()
        .collect()
}

/// Crashes the recovery open at I/O call `k` with power-loss draw `draw`;
/// returns false once `k` is past the open's last I/O call.
fn crash_recovery_at(full_disk: bool, k: u64, draw: u64) -> bool {
    let (fs, model) = setup(full_disk);
    let durable_mark = 5;
    let context = format!(
        "disk {}, power loss at I/O call {k} of the recovery open, draw {draw}",
        if full_disk { "full" } else { "prefix" }
    );
    fs.crash_after(k);
    let first = Db::open("/db", opts(&fs));
    if !fs.is_dead() {
        // The open finished before call k: nothing left to try.
        fs.crash_at_io(None);
        let db = first.unwrap_or_else(|e| panic!("{context}: open failed: {e}"));
        assert_eq!(full_state(&db), model.state(), "{context}");
        return false;
    }
    drop(first);
    fs.crash(&mut Rng::new(draw));
    let db = Db::open("/db", opts(&fs))
        .unwrap_or_else(|e| panic!("{context}: the open after the power loss failed: {e}"));
    let state = full_state(&db);
    model
        .oracle()
        .check(durable_mark, &state, Some(db.last_seqno()))
        .unwrap_or_else(|d| panic!("{context}: {d:?}"));
    // And the database stays usable: a new durable write survives another
    // power loss.
    db.put(b"after", b"x", WriteOptions::DURABLE)
        .unwrap_or_else(|e| panic!("{context}: write after recovery: {e}"));
    drop(db);
    fs.restart_process();
    fs.crash(&mut Rng::new(draw + 100));
    let db = Db::open("/db", opts(&fs))
        .unwrap_or_else(|e| panic!("{context}: the open after a second power loss failed: {e}"));
    assert_eq!(db.get(b"after").unwrap(), Some(b"x".to_vec()), "{context}");
    true
}

fn every_crash_point(full_disk: bool) {
    for k in 1..=IO_CALLS_MAX {
        let mut reached = false;
        for draw in 0..CRASH_DRAWS {
            reached |= crash_recovery_at(full_disk, k, draw);
        }
        if !reached {
            assert!(k > 10, "the recovery open made only {} I/O calls", k - 1);
            return;
        }
    }
    panic!("the recovery open made more than {IO_CALLS_MAX} I/O calls");
}

#[test]
fn power_loss_at_every_io_call_of_a_recovery_open_full_disk() {
    every_crash_point(true);
}

#[test]
fn power_loss_at_every_io_call_of_a_recovery_open_prefix_disk() {
    every_crash_point(false);
}
