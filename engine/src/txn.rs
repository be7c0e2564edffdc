//! Optimistic transactions' conflict checking (protocol in
//! `engine/DESIGN.md`, "Transactions").
//!
//! A transaction reads at a snapshot `s` and, at commit, must not have
//! read anything written after `s` (serializable) or, at the weaker level,
//! must not write a key written after `s` (snapshot isolation). The commit
//! group's leader checks each transaction in the group against the
//! [`ConflictHistory`], the keys committed after the oldest live
//! transaction's snapshot, and records the writes it lets through, all
//! before it assigns the next group's sequence numbers: check and seqno
//! assignment are one step under the WAL lock.
//!
//! The history does not read memtables or tables, so a conflicting write
//! that was flushed (or compacted away) still counts. It is bounded: past
//! `Options::transaction_history_max` entries the oldest are dropped and
//! the history's *floor* rises past them; a transaction whose snapshot is
//! below the floor cannot be checked and gets `Conflict` (kind
//! `HistoryExceeded`), never a false success.

use std::collections::{BTreeMap, BTreeSet, VecDeque};
use std::ops::Bound;

use crate::error::{ConflictKind, Error, Result};
use crate::types::SeqNo;

/// How strictly a transaction's commit is checked.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Isolation {
    /// Commit fails if anything the transaction read (keys read, absent
    /// keys included, and the scanned part of every range) was written
    /// after its snapshot. Committed transactions are then equivalent to
    /// running one at a time in commit (sequence number) order. The
    /// default.
    #[default]
    Serializable,
    /// Commit fails only if a key the transaction writes was written after
    /// its snapshot (first committer wins). Reads see one consistent
    /// snapshot, but two transactions that each read what the other
    /// writes may both commit ("write skew"): choose it knowingly.
    Snapshot,
}

/// Options for [`Db::transaction_with`](crate::Db::transaction_with).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub struct TransactionOptions {
    /// The isolation level.
    pub isolation: Isolation,
}

/// A key interval a scan covered, both ends as `std` bounds.
pub(crate) type KeyInterval = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// What a committing transaction asks the commit leader to check.
#[derive(Debug, Default)]
pub(crate) struct TxnCheck {
    pub snapshot: SeqNo,
    pub isolation: Isolation,
    /// Keys read (present or not), not counting reads of its own writes.
    pub reads: BTreeSet<Vec<u8>>,
    /// Key intervals scanned, both ends as the scan covered them.
    pub ranges: Vec<KeyInterval>,
    /// Keys written (checked at the `Snapshot` level).
    pub writes: Vec<Vec<u8>>,
}

impl TxnCheck {
    /// True when there is nothing to check at this level (a serializable
    /// transaction that only wrote blindly): it commits whatever the
    /// history holds.
    fn is_empty(&self) -> bool {
        match self.isolation {
            Isolation::Serializable => self.reads.is_empty() && self.ranges.is_empty(),
            Isolation::Snapshot => self.writes.is_empty(),
        }
    }
}

/// Committed keys newer than the oldest live transaction's snapshot.
#[derive(Debug)]
pub(crate) struct ConflictHistory {
    /// Newest committed seqno per key.
    latest: BTreeMap<Vec<u8>, SeqNo>,
    /// The same writes in commit order, for pruning and eviction.
    order: VecDeque<(SeqNo, Vec<u8>)>,
    /// Every write with a seqno above this is in `latest`.
    floor: SeqNo,
    /// Snapshots of the live transactions: seqno -> count.
    live: BTreeMap<SeqNo, usize>,
    /// Most entries kept.
    max: usize,
}

impl ConflictHistory {
    /// An empty history over a database whose last seqno is `last`.
    pub fn new(max: usize, last: SeqNo) -> Self {
        ConflictHistory {
            latest: BTreeMap::new(),
            order: VecDeque::new(),
            floor: last,
            live: BTreeMap::new(),
            max,
        }
    }

    /// The floor: writes above it are all recorded. A transaction may take
    /// a snapshot only at or above it (the caller waits for an in-flight
    /// group that was not recorded to become visible).
    pub fn floor(&self) -> SeqNo {
        self.floor
    }

    /// A transaction with snapshot `s` began.
    pub fn begin(&mut self, s: SeqNo) {
        *self.live.entry(s).or_insert(0) += 1;
    }

    /// A transaction with snapshot `s` ended (committed, rolled back or
    /// dropped): entries no live transaction can conflict with go.
    pub fn end(&mut self, s: SeqNo) {
        if let Some(n) = self.live.get_mut(&s) {
            *n -= 1;
            if *n == 0 {
                self.live.remove(&s);
            }
        }
        self.prune();
    }

    /// Whether writes must be recorded (some transaction is live).
    pub fn recording(&self) -> bool {
        !self.live.is_empty()
    }

    /// Checks `t` against the writes committed after its snapshot.
    pub fn check(&self, t: &TxnCheck) -> Result<()> {
        if t.is_empty() {
            return Ok(());
        }
        if t.snapshot < self.floor {
            return Err(Error::Conflict {
                kind: ConflictKind::HistoryExceeded,
                key: Vec::new(),
                seqno: self.floor,
            });
        }
        let newer = |k: &[u8]| self.latest.get(k).copied().filter(|&s| s > t.snapshot);
        let conflict = |kind, key: &[u8], seqno| Error::Conflict {
            kind,
            key: key.to_vec(),
            seqno,
        };
        match t.isolation {
            Isolation::Serializable => {
                for k in &t.reads {
                    if let Some(s) = newer(k) {
                        return Err(conflict(ConflictKind::ReadChanged, k, s));
                    }
                }
                for (lo, hi) in &t.ranges {
                    if bounds_empty(lo, hi) {
                        continue;
                    }
                    let hit = self
                        .latest
                        .range::<Vec<u8>, _>((lo.as_ref(), hi.as_ref()))
                        .find(|(_, &s)| s > t.snapshot);
                    if let Some((k, &s)) = hit {
                        return Err(conflict(ConflictKind::ReadChanged, k, s));
                    }
                }
            }
            Isolation::Snapshot => {
                for k in &t.writes {
                    if let Some(s) = newer(k) {
                        return Err(conflict(ConflictKind::WriteWrite, k, s));
                    }
                }
            }
        }
        Ok(())
    }

    /// Records a committed write of `key` at `seqno` (seqnos come in
    /// increasing order). With no live transaction nothing is kept: the
    /// floor moves to `seqno` instead.
    pub fn record(&mut self, key: &[u8], seqno: SeqNo) {
        debug_assert!(seqno > self.floor);
        if !self.recording() {
            self.floor = seqno;
            return;
        }
        self.latest.insert(key.to_vec(), seqno);
        self.order.push_back((seqno, key.to_vec()));
        while self.order.len() > self.max {
            self.pop_oldest();
        }
    }

    /// Drops the entries at or below the oldest live snapshot (no live
    /// transaction can conflict with them); all of them when none is live.
    fn prune(&mut self) {
        match self.live.keys().next().copied() {
            Some(oldest) => {
                while self.order.front().is_some_and(|(s, _)| *s <= oldest) {
                    self.pop_oldest();
                }
            }
            None => {
                if let Some((s, _)) = self.order.back() {
                    self.floor = self.floor.max(*s);
                }
                self.order.clear();
                self.latest.clear();
            }
        }
    }

    fn pop_oldest(&mut self) {
        if let Some((s, k)) = self.order.pop_front() {
            if self.latest.get(&k) == Some(&s) {
                self.latest.remove(&k);
            }
            self.floor = self.floor.max(s);
        }
    }

    /// Entries held now.
    #[cfg(test)]
    fn len(&self) -> usize {
        self.order.len()
    }
}

/// True if `(lo, hi)` holds no key (and would make `BTreeMap::range`
/// panic): start above end, or equal with either side excluded.
pub(crate) fn bounds_empty(lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    match (lo, hi) {
        (Bound::Included(a), Bound::Included(b)) => a > b,
        (Bound::Included(a) | Bound::Excluded(a), Bound::Excluded(b))
        | (Bound::Excluded(a), Bound::Included(b)) => a >= b,
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(snapshot: SeqNo, keys: &[&str]) -> TxnCheck {
        TxnCheck {
            snapshot,
            reads: keys.iter().map(|k| k.as_bytes().to_vec()).collect(),
            ..TxnCheck::default()
        }
    }

    fn kind(r: Result<()>) -> Option<ConflictKind> {
        match r {
            Ok(()) => None,
            Err(Error::Conflict { kind, .. }) => Some(kind),
            Err(e) => panic!("{e}"),
        }
    }

    #[test]
    fn a_read_key_written_after_the_snapshot_conflicts_and_an_older_write_does_not() {
        let mut h = ConflictHistory::new(100, 0);
        h.begin(0);
        h.record(b"a", 1);
        h.begin(1);
        h.record(b"b", 2);
        assert_eq!(
            kind(h.check(&reads(0, &["a"]))),
            Some(ConflictKind::ReadChanged)
        );
        assert_eq!(kind(h.check(&reads(1, &["a"]))), None);
        assert_eq!(
            kind(h.check(&reads(1, &["b"]))),
            Some(ConflictKind::ReadChanged)
        );
        assert_eq!(kind(h.check(&reads(2, &["a", "b"]))), None);
    }

    #[test]
    fn a_scanned_range_conflicts_with_a_new_key_inside_it_only() {
        let mut h = ConflictHistory::new(100, 0);
        h.begin(0);
        h.record(b"m", 1);
        let scan = |lo: Bound<&str>, hi: Bound<&str>| TxnCheck {
            ranges: vec![(
                lo.map(|k| k.as_bytes().to_vec()),
                hi.map(|k| k.as_bytes().to_vec()),
            )],
            ..TxnCheck::default()
        };
        use Bound::*;
        assert!(kind(h.check(&scan(Included("a"), Included("m")))).is_some());
        assert!(kind(h.check(&scan(Included("a"), Excluded("m")))).is_none());
        assert!(kind(h.check(&scan(Excluded("m"), Unbounded))).is_none());
        assert!(kind(h.check(&scan(Unbounded, Unbounded))).is_some());
        // An empty interval (a scan that returned nothing of a reversed
        // range) holds nothing and must not panic.
        assert!(kind(h.check(&scan(Included("z"), Included("a")))).is_none());
    }

    #[test]
    fn snapshot_isolation_checks_written_keys_only() {
        let mut h = ConflictHistory::new(100, 0);
        h.begin(0);
        h.record(b"a", 1);
        let mut t = reads(0, &["a"]);
        t.isolation = Isolation::Snapshot;
        t.writes = vec![b"b".to_vec()];
        assert_eq!(kind(h.check(&t)), None, "a read-write conflict is allowed");
        t.writes.push(b"a".to_vec());
        assert_eq!(kind(h.check(&t)), Some(ConflictKind::WriteWrite));
    }

    #[test]
    fn past_the_bound_an_old_snapshot_conflicts_instead_of_passing() {
        let mut h = ConflictHistory::new(3, 0);
        h.begin(0);
        for s in 1..=4 {
            h.record(format!("k{s}").as_bytes(), s);
        }
        assert_eq!(h.len(), 3);
        // k1 was evicted: a reader of k1 at snapshot 0 cannot be cleared.
        assert_eq!(
            kind(h.check(&reads(0, &["k1"]))),
            Some(ConflictKind::HistoryExceeded)
        );
        assert_eq!(kind(h.check(&reads(1, &["k1"]))), None);
        // A transaction with nothing to check is never refused.
        assert_eq!(kind(h.check(&reads(0, &[]))), None);
    }

    #[test]
    fn entries_go_once_no_live_snapshot_is_older_and_writes_without_transactions_move_the_floor() {
        let mut h = ConflictHistory::new(100, 0);
        h.begin(0);
        h.record(b"a", 1);
        h.begin(1);
        h.record(b"b", 2);
        h.end(0);
        assert_eq!(h.len(), 1, "a@1 is at or below the oldest live snapshot");
        assert_eq!(
            kind(h.check(&reads(1, &["b"]))),
            Some(ConflictKind::ReadChanged)
        );
        h.end(1);
        assert_eq!(h.len(), 0);
        assert_eq!(h.floor(), 2);
        h.record(b"c", 3);
        assert_eq!((h.len(), h.floor()), (0, 3));
        assert!(!h.recording());
    }
}
