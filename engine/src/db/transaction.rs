//! Optimistic transactions: a snapshot to read at, a private write set,
//! and a read set checked at commit (the check itself is in `crate::txn`).

use std::collections::{BTreeMap, BTreeSet};
use std::ops::{Bound, RangeBounds};

use super::state::DbInner;
use crate::batch::WriteBatch;
use crate::error::{Error, Result};
use crate::iter::DbIter;
use crate::options::WriteOptions;
use crate::sync::{lock, Arc};
use crate::txn::{bounds_empty, Isolation, KeyInterval, TransactionOptions, TxnCheck};
use crate::types::SeqNo;

impl DbInner {
    /// Takes a transaction's snapshot and registers it with the history
    /// (so every commit checked from now on is recorded) and with the
    /// snapshot registry (so compaction keeps what it reads; the registry
    /// loads the visible sequence number under its own lock, as for any
    /// snapshot), both while holding the history's lock, under which
    /// commits are checked and recorded.
    ///
    /// A group checked while no transaction was live was not recorded; it
    /// raised the history's floor past itself instead. If such a group is
    /// not visible yet, a snapshot taken now would sit below the floor and
    /// the transaction could only fail, so the begin lets go and tries
    /// again until that group is visible (a few microseconds: the group's
    /// WAL write, and its sync if asked).
    fn begin_transaction(&self) -> SeqNo {
        loop {
            let mut history = lock(&self.txn_history);
            let s = self.register_snapshot();
            if s >= history.floor() || self.is_poisoned() || self.read_only {
                history.begin(s);
                return s;
            }
            drop(history);
            self.release_snapshot(s);
            crate::sync::thread::yield_now();
        }
    }

    fn end_transaction(&self, s: SeqNo) {
        lock(&self.txn_history).end(s);
        self.release_snapshot(s);
    }
}

/// An optimistic transaction ([`Db::transaction`](super::Db::transaction)).
///
/// It reads at the snapshot taken when it began, sees its own writes, and
/// keeps its writes private until [`commit`](Transaction::commit), which
/// applies them atomically (one WAL record, contiguous sequence numbers)
/// or fails with [`Error::Conflict`] and applies nothing. Dropping it, or
/// [`rollback`](Transaction::rollback), discards it. While it lives,
/// compaction keeps every version its snapshot reads.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let db = strata::Db::open(dir.path(), strata::Options::default())?;
/// db.put(b"alice", b"10", strata::WriteOptions::DURABLE)?;
/// // Two transactions read the same balance...
/// let mut t1 = db.transaction();
/// let mut t2 = db.transaction();
/// assert_eq!(t1.get(b"alice")?, Some(b"10".to_vec()));
/// assert_eq!(t2.get(b"alice")?, Some(b"10".to_vec()));
/// t1.put(b"alice", b"5")?;
/// t2.put(b"alice", b"7")?;
/// // ...the first to commit wins; the second read a value that changed.
/// t1.commit(strata::WriteOptions::DURABLE)?;
/// let err = t2.commit(strata::WriteOptions::DURABLE).unwrap_err();
/// assert!(err.is_conflict()); // nothing of t2 was applied: run it again
/// assert_eq!(db.get(b"alice")?, Some(b"5".to_vec()));
/// # // The README's second Rust example is this one: keep them equal.
/// # let readme = include_str!("../../../README.md");
/// # let readme = readme.split("\n```rust\n").nth(2).expect("README has a transaction example");
/// # let readme: Vec<&str> = readme.split("\n```\n").next().unwrap().lines().collect();
/// # let this = include_str!("transaction.rs");
/// # let this: Vec<&str> = this.lines().map(str::trim_start)
/// #     .skip_while(|l| !l.starts_with("/// db.put(b\"alice\""))
/// #     .take_while(|l| !l.starts_with("/// # "))
/// #     .map(|l| l.strip_prefix("/// ").unwrap()).collect();
/// # assert_eq!(readme[1..], this[..], "README transaction example differs");
/// # Ok::<(), strata::Error>(())
/// ```
#[derive(Debug)]
pub struct Transaction {
    db: Arc<DbInner>,
    snapshot: SeqNo,
    isolation: Isolation,
    /// The last write per key (`None` = delete).
    writes: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Keys read from the snapshot (not from the transaction's writes).
    reads: BTreeSet<Vec<u8>>,
    /// Intervals scanned, as far as each scan got.
    ranges: Vec<KeyInterval>,
    ended: bool,
}

impl Transaction {
    pub(super) fn begin(db: Arc<DbInner>, opts: TransactionOptions) -> Transaction {
        let snapshot = db.begin_transaction();
        Transaction {
            db,
            snapshot,
            isolation: opts.isolation,
            writes: BTreeMap::new(),
            reads: BTreeSet::new(),
            ranges: Vec::new(),
            ended: false,
        }
    }

    /// The sequence number the transaction reads at.
    pub fn snapshot_seqno(&self) -> SeqNo {
        self.snapshot
    }

    /// The isolation level its commit is checked at.
    pub fn isolation(&self) -> Isolation {
        self.isolation
    }

    /// The value of `key`: the transaction's own write if it made one,
    /// else the snapshot's. A key read from the snapshot joins the read
    /// set, present or not.
    pub fn get(&mut self, key: &[u8]) -> Result<Option<Vec<u8>>> {
        self.db.check_open()?;
        self.db.check_key(key)?;
        if let Some(own) = self.writes.get(key) {
            return Ok(own.clone());
        }
        let value = self.db.get_at(key, self.snapshot)?;
        self.reads.insert(key.to_vec());
        Ok(value)
    }

    /// An ordered iterator (both ends) over `range` as the transaction sees
    /// it: the snapshot overlaid with its own writes. The read set gains
    /// what the iterator covers: from the range's start to the last key
    /// `next` returned, from the last key `next_back` returned to its end,
    /// and the whole range once it is exhausted.
    pub fn range<K: AsRef<[u8]>, R: RangeBounds<K>>(&mut self, range: R) -> Result<TxnIter<'_>> {
        self.db.check_open()?;
        let lo = range.start_bound().map(|k| k.as_ref().to_vec());
        let hi = range.end_bound().map(|k| k.as_ref().to_vec());
        let inner = self.db.range_at(&(lo.clone(), hi.clone()), self.snapshot)?;
        let own: Vec<(Vec<u8>, Option<Vec<u8>>)> = if bounds_empty(&lo, &hi) {
            Vec::new()
        } else {
            self.writes
                .range::<Vec<u8>, _>((lo.as_ref(), hi.as_ref()))
                .map(|(k, v)| (k.clone(), v.clone()))
                .collect()
        };
        Ok(TxnIter {
            own_back: own.len(),
            own,
            own_front: 0,
            inner,
            db_front: None,
            db_back: None,
            db_done: false,
            lo,
            hi,
            front_slot: None,
            back_slot: None,
            txn: self,
        })
    }

    /// Sets `key` to `value` when the transaction commits.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> Result<()> {
        self.db.check_open()?;
        self.db.check_key(key)?;
        if value.len() > self.db.opts.value_bytes_max {
            return Err(Error::InvalidArgument(format!(
                "value of {} bytes exceeds value_bytes_max {}",
                value.len(),
                self.db.opts.value_bytes_max
            )));
        }
        self.writes.insert(key.to_vec(), Some(value.to_vec()));
        Ok(())
    }

    /// Deletes `key` when the transaction commits.
    pub fn delete(&mut self, key: &[u8]) -> Result<()> {
        self.db.check_open()?;
        self.db.check_key(key)?;
        self.writes.insert(key.to_vec(), None);
        Ok(())
    }

    /// Commits: checks that nothing the transaction depends on (see
    /// [`Isolation`]) was written after its snapshot and, in the same step,
    /// takes the sequence numbers for its writes, which go to the WAL as
    /// one record (recovered all or nothing; with `WriteOptions::DURABLE`
    /// synced before this returns). Returns the last sequence number of
    /// its writes, or its snapshot's for a transaction that wrote nothing
    /// (it commits without a check: its reads were one consistent
    /// snapshot). `Error::Conflict` means nothing was applied; run the
    /// transaction again.
    pub fn commit(mut self, wo: WriteOptions) -> Result<SeqNo> {
        let db = self.db.clone();
        let _call = db.enter()?;
        if self.writes.is_empty() {
            return Ok(self.snapshot);
        }
        let mut batch = WriteBatch::new();
        let mut written = Vec::new();
        for (k, v) in std::mem::take(&mut self.writes) {
            if self.isolation == Isolation::Snapshot {
                written.push(k.clone());
            }
            match v {
                Some(v) => batch.put(k, v),
                None => batch.delete(k),
            };
        }
        let check = TxnCheck {
            snapshot: self.snapshot,
            isolation: self.isolation,
            reads: std::mem::take(&mut self.reads),
            ranges: std::mem::take(&mut self.ranges),
            writes: written,
        };
        db.write_checked(batch, wo, Some(check))
    }

    /// Discards the transaction's writes (as dropping it does).
    pub fn rollback(self) {}
}

impl Drop for Transaction {
    fn drop(&mut self) {
        if !self.ended {
            self.ended = true;
            self.db.end_transaction(self.snapshot);
        }
    }
}

/// An iterator over a transaction's view of a range
/// ([`Transaction::range`]); it records in the transaction's read set what
/// it has covered, as it goes.
#[derive(Debug)]
pub struct TxnIter<'t> {
    txn: &'t mut Transaction,
    inner: DbIter,
    /// The transaction's writes in the range; `own[own_front..own_back]`
    /// are not returned yet.
    own: Vec<(Vec<u8>, Option<Vec<u8>>)>,
    own_front: usize,
    own_back: usize,
    /// Pairs taken from the snapshot's iterator but not returned yet.
    db_front: Option<(Vec<u8>, Vec<u8>)>,
    db_back: Option<(Vec<u8>, Vec<u8>)>,
    /// The snapshot's iterator has nothing more at either end.
    db_done: bool,
    lo: Bound<Vec<u8>>,
    hi: Bound<Vec<u8>>,
    /// Where in the transaction's `ranges` this iterator's front and back
    /// coverage are.
    front_slot: Option<usize>,
    back_slot: Option<usize>,
}

impl TxnIter<'_> {
    /// The next snapshot pair for the front (`front`) or back end, taken
    /// from the inner iterator or, once it is exhausted, from the other
    /// end's pending pair.
    fn fill(&mut self, front: bool) -> Result<()> {
        let (mine, theirs) = if front {
            (&mut self.db_front, &mut self.db_back)
        } else {
            (&mut self.db_back, &mut self.db_front)
        };
        if mine.is_some() {
            return Ok(());
        }
        if !self.db_done {
            let next = if front {
                self.inner.next()
            } else {
                self.inner.next_back()
            };
            match next {
                Some(Ok(kv)) => {
                    *mine = Some(kv);
                    return Ok(());
                }
                Some(Err(e)) => return Err(e),
                None => self.db_done = true,
            }
        }
        *mine = theirs.take();
        Ok(())
    }

    /// Records that the scan covered the range up to (front) or down to
    /// (back) `key`; `None`: the whole range.
    fn cover(&mut self, front: bool, key: Option<&[u8]>) {
        let interval = match key {
            None => (self.lo.clone(), self.hi.clone()),
            Some(k) if front => (self.lo.clone(), Bound::Included(k.to_vec())),
            Some(k) => (Bound::Included(k.to_vec()), self.hi.clone()),
        };
        let slot = if front {
            &mut self.front_slot
        } else {
            &mut self.back_slot
        };
        match *slot {
            Some(i) => self.txn.ranges[i] = interval,
            None => {
                *slot = Some(self.txn.ranges.len());
                self.txn.ranges.push(interval);
            }
        }
    }

    fn step(&mut self, front: bool) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        if let Err(e) = self.txn.db.check_open() {
            return Some(Err(e));
        }
        loop {
            if let Err(e) = self.fill(front) {
                return Some(Err(e));
            }
            let db = if front { &self.db_front } else { &self.db_back };
            let own = (self.own_front < self.own_back).then(|| {
                if front {
                    &self.own[self.own_front]
                } else {
                    &self.own[self.own_back - 1]
                }
            });
            // Which comes first in this direction; the transaction's own
            // write wins over the snapshot's pair for the same key.
            let take_own = match (db, own) {
                (None, None) => {
                    self.cover(front, None);
                    return None;
                }
                (Some(_), None) => false,
                (None, Some(_)) => true,
                (Some((dk, _)), Some((ok, _))) => match ok.cmp(dk) {
                    std::cmp::Ordering::Equal => {
                        if front {
                            self.db_front = None;
                        } else {
                            self.db_back = None;
                        }
                        true
                    }
                    // The smaller key first going forward, the larger back.
                    std::cmp::Ordering::Less => front,
                    std::cmp::Ordering::Greater => !front,
                },
            };
            let (key, value) = if take_own {
                let i = if front {
                    self.own_front += 1;
                    self.own_front - 1
                } else {
                    self.own_back -= 1;
                    self.own_back
                };
                let (k, v) = &self.own[i];
                match v {
                    Some(v) => (k.clone(), v.clone()),
                    None => continue, // deleted by the transaction
                }
            } else if front {
                self.db_front.take().expect("checked above")
            } else {
                self.db_back.take().expect("checked above")
            };
            self.cover(front, Some(&key));
            return Some(Ok((key, value)));
        }
    }
}

impl Iterator for TxnIter<'_> {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(true)
    }
}

impl DoubleEndedIterator for TxnIter<'_> {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(false)
    }
}
