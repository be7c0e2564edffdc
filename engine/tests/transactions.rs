//! Optimistic transactions: isolation, conflicts, durability, and the
//! mistakes of the system Strata grew from (write skew passing its check,
//! a snapshot seeing part of a commit, compaction deleting a version a
//! transaction still reads), each as a named regression.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use strata::{
    BackgroundMode, ConflictKind, Db, Error, Isolation, Options, TransactionOptions, WriteOptions,
};

const W: WriteOptions = WriteOptions::BUFFERED;

fn manual() -> Options {
    Options {
        background: BackgroundMode::Manual,
        ..Options::default()
    }
}

fn conflict_kind(r: strata::Result<u64>) -> ConflictKind {
    match r {
        Err(Error::Conflict { kind, .. }) => kind,
        other => panic!("expected a conflict, got {other:?}"),
    }
}

/// Two doctors on call; each transaction checks that the other is still
/// on call and takes itself off. Run one at a time, the second sees one
/// doctor and stays; interleaved under snapshot isolation both leave.
fn on_call_pair(db: &Db, isolation: Isolation) -> (strata::Result<u64>, strata::Result<u64>) {
    db.put(b"alice", b"on", W).unwrap();
    db.put(b"bob", b"on", W).unwrap();
    let opts = TransactionOptions { isolation };
    let mut t1 = db.transaction_with(opts);
    let mut t2 = db.transaction_with(opts);
    for t in [&mut t1, &mut t2] {
        assert_eq!(t.get(b"alice").unwrap().as_deref(), Some(&b"on"[..]));
        assert_eq!(t.get(b"bob").unwrap().as_deref(), Some(&b"on"[..]));
    }
    t1.put(b"alice", b"off").unwrap();
    t2.put(b"bob", b"off").unwrap();
    (t1.commit(W), t2.commit(W))
}

/// Postmortem (seed system): a commit could share a timestamp with a live
/// snapshot, so write skew passed the serializable check. Here the second
/// transaction must fail, and nobody is left off call.
#[test]
fn regression_write_skew_is_rejected_by_serializable_transactions() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), manual()).unwrap();
    let (first, second) = on_call_pair(&db, Isolation::Serializable);
    first.unwrap();
    assert_eq!(conflict_kind(second), ConflictKind::ReadChanged);
    let on = [&b"alice"[..], b"bob"]
        .iter()
        .filter(|k| db.get(k).unwrap().as_deref() == Some(b"on"))
        .count();
    assert_eq!(on, 1, "exactly one doctor stays on call");
    assert_eq!(db.stats().transaction_conflicts, 1);
    assert_eq!(db.stats().transactions_committed, 1);
}

/// The weaker level does what it says: write skew commits.
#[test]
fn snapshot_isolation_allows_write_skew_and_refuses_write_write() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), manual()).unwrap();
    let (first, second) = on_call_pair(&db, Isolation::Snapshot);
    first.unwrap();
    second.unwrap();
    assert_eq!(db.get(b"alice").unwrap().as_deref(), Some(&b"off"[..]));
    assert_eq!(db.get(b"bob").unwrap().as_deref(), Some(&b"off"[..]));

    let si = TransactionOptions {
        isolation: Isolation::Snapshot,
    };
    let mut t1 = db.transaction_with(si);
    let mut t2 = db.transaction_with(si);
    assert_eq!(t1.isolation(), Isolation::Snapshot);
    assert_eq!(db.transaction().isolation(), Isolation::Serializable);
    t1.put(b"alice", b"1").unwrap();
    t2.put(b"alice", b"2").unwrap();
    t1.commit(W).unwrap();
    assert_eq!(conflict_kind(t2.commit(W)), ConflictKind::WriteWrite);
    assert_eq!(db.get(b"alice").unwrap().as_deref(), Some(&b"1"[..]));
}

/// Blind writes do not conflict at the serializable level: they commute
/// in commit order, and the later commit's value wins.
#[test]
fn blind_writes_of_one_key_both_commit_in_order() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), manual()).unwrap();
    let mut t1 = db.transaction();
    let mut t2 = db.transaction();
    t1.put(b"k", b"1").unwrap();
    t2.put(b"k", b"2").unwrap();
    let s2 = t2.commit(W).unwrap();
    let s1 = t1.commit(W).unwrap();
    assert!(s1 > s2);
    assert_eq!(db.get(b"k").unwrap().as_deref(), Some(&b"1"[..]));
}

/// A key that did not exist when read, inserted by someone else, is a
/// conflict (a phantom); a key inserted inside a scanned range too, but
/// not past where a partial scan stopped.
#[test]
fn phantoms_conflict_within_the_scanned_part_of_a_range_only() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), manual()).unwrap();
    for k in ["p/1", "p/3", "p/5"] {
        db.put(k.as_bytes(), b"v", W).unwrap();
    }
    // Absent key read, then written by a plain put.
    let mut t = db.transaction();
    assert_eq!(t.get(b"nobody").unwrap(), None);
    t.put(b"out", b"x").unwrap();
    db.put(b"nobody", b"here", W).unwrap();
    assert_eq!(conflict_kind(t.commit(W)), ConflictKind::ReadChanged);

    // A whole scan, then an insert between its keys.
    let mut t = db.transaction();
    let n = t.range("p/".."p0").unwrap().count();
    assert_eq!(n, 3);
    t.put(b"count", n.to_string().as_bytes()).unwrap();
    db.put(b"p/2", b"v", W).unwrap();
    assert!(t.commit(W).is_err());

    // A scan that stopped after two keys (p/1, p/2) covered up to p/2:
    // an insert past it does not conflict, one before it does.
    let mut t = db.transaction();
    let first_two: Vec<_> = t.range("p/".."p0").unwrap().take(2).collect();
    assert_eq!(first_two.len(), 2);
    t.put(b"count", b"2").unwrap();
    db.put(b"p/4", b"v", W).unwrap();
    t.commit(W).unwrap();
    let mut t = db.transaction();
    let _ = t.range("p/".."p0").unwrap().take(2).count();
    t.put(b"count", b"2").unwrap();
    db.put(b"p/0", b"v", W).unwrap();
    assert!(t.commit(W).is_err());

    // From the back: covered from the last key returned to the end.
    let mut t = db.transaction();
    let last = t.range("p/".."p0").unwrap().next_back().unwrap().unwrap();
    assert_eq!(last.0, b"p/5");
    t.put(b"count", b"1").unwrap();
    db.put(b"p/45", b"v", W).unwrap();
    t.commit(W).unwrap();
    let mut t = db.transaction();
    let _ = t.range("p/".."p0").unwrap().next_back();
    t.put(b"count", b"1").unwrap();
    db.put(b"p/6", b"v", W).unwrap();
    assert!(t.commit(W).is_err());
}

/// Conflict detection does not depend on the memtable: a conflicting
/// write that was flushed and compacted still fails the commit.
#[test]
fn a_conflicting_write_that_was_flushed_and_compacted_still_conflicts() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), manual()).unwrap();
    db.put(b"k", b"old", W).unwrap();
    let mut t = db.transaction();
    assert_eq!(t.get(b"k").unwrap().as_deref(), Some(&b"old"[..]));
    t.put(b"j", b"x").unwrap();
    db.put(b"k", b"new", W).unwrap();
    db.flush().unwrap();
    db.compact_range::<&[u8], _>(..).unwrap();
    assert_eq!(conflict_kind(t.commit(W)), ConflictKind::ReadChanged);
}

/// Postmortem (seed system): garbage collection deleted versions a
/// snapshot still needed. A transaction's reads stay at its snapshot
/// through overwrites, deletes, flushes and full compactions.
#[test]
fn regression_compaction_keeps_the_versions_a_transaction_reads() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), manual()).unwrap();
    for i in 0..200u32 {
        db.put(&i.to_be_bytes(), b"old", W).unwrap();
    }
    db.flush().unwrap();
    let mut t = db.transaction();
    for i in 0..200u32 {
        if i % 2 == 0 {
            db.put(&i.to_be_bytes(), b"new", W).unwrap();
        } else {
            db.delete(&i.to_be_bytes(), W).unwrap();
        }
    }
    db.flush().unwrap();
    db.compact_range::<&[u8], _>(..).unwrap();
    for i in 0..200u32 {
        assert_eq!(
            t.get(&i.to_be_bytes()).unwrap().as_deref(),
            Some(&b"old"[..])
        );
    }
    assert_eq!(t.range::<&[u8], _>(..).unwrap().count(), 200);
    drop(t);
    db.compact_range::<&[u8], _>(..).unwrap();
    assert_eq!(db.range::<&[u8], _>(..).unwrap().count(), 100);
}

/// Postmortem (seed system): a commit could share its timestamp with a
/// snapshot taken at the same moment. Here a writer commits transactions
/// setting `a` and `b` to the same counter while readers take snapshots
/// and transactions: every view must see both keys equal. The writer goes
/// on committing until each reader has taken 100 views, so the views
/// overlap the commits however the threads are scheduled. (Postmortem of
/// the test itself: it committed a fixed 2,000 transactions and then
/// required each reader to have taken a view; on a loaded machine a reader
/// could start after the last commit, and the test failed with no bug.)
#[test]
fn regression_a_snapshot_taken_during_a_commit_sees_all_of_it_or_none() {
    const VIEWS: u64 = 100;
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    db.put(b"a", b"0", W).unwrap();
    db.put(b"b", b"0", W).unwrap();
    let stop = Arc::new(AtomicBool::new(false));
    let views: Arc<[AtomicU64; 2]> = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let readers: Vec<_> = (0..2)
        .map(|r| {
            let (db, stop, views) = (db.clone(), stop.clone(), views.clone());
            std::thread::spawn(move || {
                while !stop.load(Ordering::Relaxed) {
                    let (a, b) = if r == 0 {
                        let s = db.snapshot();
                        (s.get(b"a").unwrap(), s.get(b"b").unwrap())
                    } else {
                        let mut t = db.transaction();
                        (t.get(b"a").unwrap(), t.get(b"b").unwrap())
                    };
                    assert_eq!(a, b, "a view saw part of a commit");
                    views[r].fetch_add(1, Ordering::Relaxed);
                }
            })
        })
        .collect();
    let mut i = 0u32;
    // A reader that finished early failed its check: stop and report it.
    while (i < 2_000 || views.iter().any(|v| v.load(Ordering::Relaxed) < VIEWS))
        && !readers.iter().any(|r| r.is_finished())
    {
        i += 1;
        let mut t = db.transaction();
        t.put(b"a", i.to_string().as_bytes()).unwrap();
        t.put(b"b", i.to_string().as_bytes()).unwrap();
        t.commit(W).unwrap();
    }
    stop.store(true, Ordering::Relaxed);
    for r in readers {
        r.join().unwrap();
    }
}

/// Threads move units between counters in read-modify-write transactions,
/// retrying on conflict: the total never changes, in any snapshot or at
/// the end, and every conflict is a real one (each retry makes progress).
#[test]
fn concurrent_transfers_keep_the_total() {
    const COUNTERS: u32 = 4;
    const THREADS: u32 = 4;
    const TRANSFERS: u32 = 300;
    let dir = tempfile::tempdir().unwrap();
    let db = Arc::new(Db::open(dir.path(), Options::default()).unwrap());
    fn key(c: u32) -> Vec<u8> {
        format!("counter/{c}").into_bytes()
    }
    for c in 0..COUNTERS {
        db.put(&key(c), b"100", W).unwrap();
    }
    fn read(t: &mut strata::Transaction, c: u32) -> i64 {
        let v = t.get(&key(c)).unwrap().unwrap();
        std::str::from_utf8(&v).unwrap().parse().unwrap()
    }
    let threads: Vec<_> = (0..THREADS)
        .map(|th| {
            let db = db.clone();
            std::thread::spawn(move || {
                let mut conflicts = 0u64;
                for i in 0..TRANSFERS {
                    let from = (th + i) % COUNTERS;
                    let to = (th + 2 * i + 1) % COUNTERS;
                    loop {
                        let mut t = db.transaction();
                        // A scan of every counter checks the total inside the transaction.
                        let total: i64 = t
                            .range("counter/".."counter0")
                            .unwrap()
                            .map(|kv| {
                                let (_, v) = kv.unwrap();
                                std::str::from_utf8(&v).unwrap().parse::<i64>().unwrap()
                            })
                            .sum();
                        assert_eq!(total, 100 * i64::from(COUNTERS));
                        if from != to {
                            let (a, b) = (read(&mut t, from), read(&mut t, to));
                            t.put(&key(from), (a - 1).to_string().as_bytes()).unwrap();
                            t.put(&key(to), (b + 1).to_string().as_bytes()).unwrap();
                        }
                        match t.commit(W) {
                            Ok(_) => break,
                            Err(e) if e.is_conflict() => conflicts += 1,
                            Err(e) => panic!("{e}"),
                        }
                    }
                }
                conflicts
            })
        })
        .collect();
    let conflicts: u64 = threads.into_iter().map(|t| t.join().unwrap()).sum();
    let mut total = 0i64;
    for c in 0..COUNTERS {
        let v = db.get(&key(c)).unwrap().unwrap();
        total += std::str::from_utf8(&v).unwrap().parse::<i64>().unwrap();
    }
    assert_eq!(total, 100 * i64::from(COUNTERS));
    assert_eq!(db.stats().transaction_conflicts, conflicts);
}

/// The bounded history: a transaction older than the oldest kept write
/// cannot be checked and fails, never passing unchecked.
#[test]
fn a_transaction_older_than_the_bounded_history_fails_with_history_exceeded() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        transaction_history_max: 4,
        ..manual()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let mut old = db.transaction();
    assert_eq!(old.get(b"k").unwrap(), None);
    old.put(b"out", b"1").unwrap();
    let mut young = db.transaction();
    for i in 0..4u8 {
        db.put(&[b'x', i], b"v", W).unwrap();
    }
    // Four writes fit in the history: both are still checkable here.
    assert_eq!(young.get(b"k").unwrap(), None);
    db.put(b"x9", b"v", W).unwrap();
    assert_eq!(
        conflict_kind(old.commit(W)),
        ConflictKind::HistoryExceeded,
        "the fifth write pushed the oldest out"
    );
    young.put(b"out", b"2").unwrap();
    assert_eq!(
        conflict_kind(young.commit(W)),
        ConflictKind::HistoryExceeded
    );
    // Writes made while no transaction is live are not kept: a new
    // transaction starts clean.
    for i in 0..10u8 {
        db.put(&[b'y', i], b"v", W).unwrap();
    }
    let mut t = db.transaction();
    assert_eq!(t.get(b"k").unwrap(), None);
    t.put(b"out", b"3").unwrap();
    t.commit(W).unwrap();
    let zero = Options {
        transaction_history_max: 0,
        ..manual()
    };
    drop(db);
    assert!(matches!(
        Db::open(dir.path(), zero),
        Err(Error::InvalidArgument(_))
    ));
}

/// Reads see the transaction's own writes, deletes included, from both
/// ends of a range; nothing is visible outside before commit; rollback and
/// drop discard.
#[test]
fn a_transaction_reads_its_own_writes_and_keeps_them_private_until_commit() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), manual()).unwrap();
    for k in ["b", "d", "f"] {
        db.put(k.as_bytes(), b"db", W).unwrap();
    }
    let mut t = db.transaction();
    t.put(b"a", b"own").unwrap();
    t.put(b"d", b"own").unwrap();
    t.delete(b"f").unwrap();
    t.put(b"g", b"own").unwrap();
    assert_eq!(t.get(b"d").unwrap().as_deref(), Some(&b"own"[..]));
    assert_eq!(t.get(b"f").unwrap(), None);
    let fwd: Vec<_> = t
        .range::<&[u8], _>(..)
        .unwrap()
        .map(|kv| kv.unwrap())
        .collect();
    let pairs = |v: &[(Vec<u8>, Vec<u8>)]| -> Vec<(String, String)> {
        v.iter()
            .map(|(k, v)| {
                (
                    String::from_utf8(k.clone()).unwrap(),
                    String::from_utf8(v.clone()).unwrap(),
                )
            })
            .collect()
    };
    let want = vec![
        ("a".to_string(), "own".to_string()),
        ("b".into(), "db".into()),
        ("d".into(), "own".into()),
        ("g".into(), "own".into()),
    ];
    assert_eq!(pairs(&fwd), want);
    let mut back: Vec<_> = t
        .range::<&[u8], _>(..)
        .unwrap()
        .rev()
        .map(|kv| kv.unwrap())
        .collect();
    back.reverse();
    assert_eq!(pairs(&back), want);
    // Both ends of one iterator meet without repeating or skipping.
    for split in 0..=4 {
        let mut it = t.range::<&[u8], _>(..).unwrap();
        let mut front: Vec<_> = (0..split)
            .filter_map(|_| it.next())
            .map(|kv| kv.unwrap())
            .collect();
        let mut tail: Vec<_> = it.rev().map(|kv| kv.unwrap()).collect();
        tail.reverse();
        front.extend(tail);
        assert_eq!(pairs(&front), want, "split {split}");
    }
    assert_eq!(db.get(b"a").unwrap(), None, "private until commit");
    t.rollback();
    assert_eq!(db.get(b"a").unwrap(), None);
    {
        let mut t = db.transaction();
        t.put(b"a", b"dropped").unwrap();
    }
    assert_eq!(db.get(b"a").unwrap(), None);
    // A transaction that wrote nothing commits at its snapshot.
    let mut t = db.transaction();
    let s = t.snapshot_seqno();
    t.get(b"b").unwrap();
    db.put(b"b", b"changed", W).unwrap();
    assert_eq!(t.commit(W).unwrap(), s);
}

/// A committed transaction is one WAL record: after a crash (the handle
/// dropped without close) all its writes are back, with contiguous
/// sequence numbers ending at the one commit returned.
#[test]
fn a_durable_commit_survives_a_crash_whole() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), manual()).unwrap();
    db.put(b"before", b"1", W).unwrap();
    let mut t = db.transaction();
    for i in 0..50u32 {
        t.put(&i.to_be_bytes(), b"txn").unwrap();
    }
    let last = t.commit(WriteOptions::DURABLE).unwrap();
    assert_eq!(last, 51);
    drop(db);
    let db = Db::open(dir.path(), manual()).unwrap();
    assert_eq!(db.last_seqno(), 51);
    assert_eq!(db.range::<&[u8], _>(..).unwrap().count(), 51);
    db.close().unwrap();
    let mut t = db.transaction();
    assert!(matches!(t.get(b"before"), Err(Error::Closed)));
    assert!(matches!(t.put(b"x", b"y"), Err(Error::Closed)));
}

/// A transaction's values obey the same limit as a plain write: exactly
/// `value_bytes_max` is accepted (and commits), one byte more is an invalid
/// argument at `put`, before anything is buffered.
#[test]
fn a_transaction_value_at_the_limit_is_accepted_and_one_over_refused() {
    let dir = tempfile::tempdir().unwrap();
    let opts = Options {
        value_bytes_max: 100,
        ..manual()
    };
    let db = Db::open(dir.path(), opts).unwrap();
    let mut t = db.transaction();
    t.put(b"k", &[1; 100]).unwrap();
    match t.put(b"over", &[1; 101]) {
        Err(Error::InvalidArgument(m)) => assert!(m.contains("value_bytes_max"), "{m}"),
        other => panic!("expected an invalid argument, got {other:?}"),
    }
    t.commit(W).unwrap();
    assert_eq!(db.get(b"k").unwrap(), Some(vec![1; 100]));
    assert_eq!(db.get(b"over").unwrap(), None);
}
