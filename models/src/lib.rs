//! Reference models for Strata: a versioned key-value model on `BTreeMap`,
//! the crash oracle and the transaction oracle.
//!
//! Invariants this crate relies on and keeps:
//! - Sequence numbers are handed out consecutively from 1; a put or delete is
//!   one operation, a batch of `n` operations takes `n` consecutive numbers.
//! - The history is a list of *writes* (a single op or a batch); a write is
//!   the unit of atomicity, so a crash may only cut the history at a write
//!   boundary.
//! - The model is independent of the engine: it shares no code with `strata`.

#![warn(missing_docs)]

use std::collections::BTreeMap;
use std::fmt;
use std::ops::Bound;

mod history;
mod oracle;
mod txn;
pub use history::{describe_difference, Resolution, RoundWrites, Unresolved, Window};
pub use oracle::{Acceptance, CrashOracle, Divergence};
pub use txn::{covered, ScanRead, TxnReads};

/// A sequence number (same meaning as the engine's).
pub type SeqNo = u64;

/// One operation in a write.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Op {
    /// Sets `key` to `value`.
    Put {
        /// The key written.
        key: Vec<u8>,
        /// Its new value.
        value: Vec<u8>,
    },
    /// Deletes `key` (a tombstone version).
    Delete {
        /// The key deleted.
        key: Vec<u8>,
    },
}

impl Op {
    /// The key the op touches.
    pub fn key(&self) -> &[u8] {
        match self {
            Op::Put { key, .. } | Op::Delete { key } => key,
        }
    }
    /// The value it leaves (`None` = tombstone).
    pub fn value(&self) -> Option<&[u8]> {
        match self {
            Op::Put { value, .. } => Some(value),
            Op::Delete { .. } => None,
        }
    }
}

/// One atomic write: a single op or a batch. Op `i` has seqno `first + i`.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Write {
    /// The seqno of the first op.
    pub first: SeqNo,
    /// The ops, in the order they were applied (not empty).
    pub ops: Vec<Op>,
}

impl Write {
    /// The seqno of the last op (the one the engine returns).
    pub fn last(&self) -> SeqNo {
        self.first + self.ops.len() as u64 - 1
    }
}

/// Scan direction.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Dir {
    /// Ascending key order.
    Forward,
    /// Descending key order.
    Reverse,
}

/// The versions of one key, oldest first: `(seqno, value)`; `None` = tombstone.
type Entries = Vec<(SeqNo, Option<Vec<u8>>)>;

/// The reference model: every version of every key, plus the write history.
#[derive(Clone, Debug, Default)]
pub struct KvModel {
    versions: BTreeMap<Vec<u8>, Entries>,
    /// Writes after `base_seqno`, oldest first.
    history: Vec<Write>,
    last_seqno: SeqNo,
    /// The state at `base_seqno`: writes up to it were folded in by
    /// [`KvModel::settle`] (no crash may lose them any more).
    base: State,
    base_seqno: SeqNo,
}

/// A key-value state (what a full scan returns).
pub type State = BTreeMap<Vec<u8>, Vec<u8>>;

impl KvModel {
    /// An empty model (last seqno 0).
    pub fn new() -> Self {
        Self::default()
    }

    /// The seqno of the last applied op (0 = nothing written).
    pub fn last_seqno(&self) -> SeqNo {
        self.last_seqno
    }

    /// The write history after the settled point, oldest first.
    pub fn history(&self) -> &[Write] {
        &self.history
    }

    /// The crash oracle over the history, starting at the settled point.
    pub fn oracle(&self) -> CrashOracle<'_> {
        CrashOracle::with_base(&self.base, self.base_seqno, &self.history)
    }

    /// The seqno up to which the history was settled (0 at first).
    pub fn settled(&self) -> SeqNo {
        self.base_seqno
    }

    /// Declares that no crash can lose the writes up to `at` (a write
    /// boundary) and no reader needs their older versions any more: folds
    /// them into the base state and keeps, per key, only the newest version
    /// at or below `at`. Keeps long runs linear: the crash oracle and
    /// `truncate_to` then work on the history after `at` only. Returns false
    /// (and changes nothing) if `at` is not a boundary at or after the
    /// settled point.
    pub fn settle(&mut self, at: SeqNo) -> bool {
        if at < self.base_seqno
            || at > self.last_seqno
            || (at != self.base_seqno && !self.history.iter().any(|w| w.last() == at))
        {
            return false;
        }
        let n = self.history.partition_point(|w| w.last() <= at);
        for w in self.history.drain(..n) {
            for op in &w.ops {
                match op.value() {
                    Some(v) => {
                        self.base.insert(op.key().to_vec(), v.to_vec());
                    }
                    None => {
                        self.base.remove(op.key());
                    }
                }
            }
        }
        self.versions.retain(|_, vs| {
            let idx = vs.partition_point(|(s, _)| *s <= at);
            if idx > 1 {
                vs.drain(..idx - 1);
            }
            // A key whose only version is a settled tombstone is gone.
            !(vs.len() == 1 && vs[0].0 <= at && vs[0].1.is_none())
        });
        self.base_seqno = at;
        true
    }

    /// Applies a write and returns the seqno of its last op. Empty writes are
    /// refused (they would take no seqno and could not be told apart).
    pub fn apply(&mut self, ops: Vec<Op>) -> Option<SeqNo> {
        if ops.is_empty() {
            return None;
        }
        let first = self.last_seqno + 1;
        for (i, op) in ops.iter().enumerate() {
            let s = first + i as u64;
            self.versions
                .entry(op.key().to_vec())
                .or_default()
                .push((s, op.value().map(<[u8]>::to_vec)));
        }
        let w = Write { first, ops };
        self.last_seqno = w.last();
        self.history.push(w);
        Some(self.last_seqno)
    }

    /// A single put.
    pub fn put(&mut self, key: &[u8], value: &[u8]) -> SeqNo {
        self.apply(vec![Op::Put {
            key: key.to_vec(),
            value: value.to_vec(),
        }])
        .expect("non-empty")
    }

    /// A single delete.
    pub fn delete(&mut self, key: &[u8]) -> SeqNo {
        self.apply(vec![Op::Delete { key: key.to_vec() }])
            .expect("non-empty")
    }

    /// The value of `key` visible at seqno `at`.
    pub fn get_at(&self, key: &[u8], at: SeqNo) -> Option<&[u8]> {
        let vs = self.versions.get(key)?;
        // Entries are oldest first: the newest with seqno <= at.
        let idx = vs.partition_point(|(s, _)| *s <= at);
        if idx == 0 {
            return None;
        }
        vs[idx - 1].1.as_deref()
    }

    /// Every key the model holds a version of (live or deleted), in order.
    pub fn keys(&self) -> impl Iterator<Item = &[u8]> + '_ {
        self.versions.keys().map(Vec::as_slice)
    }

    /// The current value of `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        self.get_at(key, self.last_seqno)
    }

    /// The live pairs within bounds at seqno `at`, in `dir` order, at most
    /// `limit` of them.
    pub fn range_at(
        &self,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        dir: Dir,
        at: SeqNo,
        limit: usize,
    ) -> Vec<(Vec<u8>, Vec<u8>)> {
        if bounds_empty(lo, hi) {
            return Vec::new();
        }
        let it = self
            .versions
            .range::<[u8], _>((lo, hi))
            .filter_map(|(k, _)| self.get_at(k, at).map(|v| (k.clone(), v.to_vec())));
        match dir {
            Dir::Forward => it.take(limit).collect(),
            Dir::Reverse => {
                let mut all: Vec<_> = it.collect();
                all.reverse();
                all.truncate(limit);
                all
            }
        }
    }

    /// The full state at seqno `at`.
    pub fn state_at(&self, at: SeqNo) -> State {
        self.versions
            .keys()
            .filter_map(|k| self.get_at(k, at).map(|v| (k.clone(), v.to_vec())))
            .collect()
    }

    /// The full current state.
    pub fn state(&self) -> State {
        self.state_at(self.last_seqno)
    }

    /// Forgets every write after seqno `at`, which must be a write boundary
    /// (the settled point, 0 at first, or the last seqno of some write). Used after a crash to continue
    /// from the recovered prefix. Returns false if `at` is not a boundary.
    pub fn truncate_to(&mut self, at: SeqNo) -> bool {
        if !self.is_boundary(at) {
            return false;
        }
        self.history.retain(|w| w.last() <= at);
        for vs in self.versions.values_mut() {
            vs.retain(|(s, _)| *s <= at);
        }
        self.versions.retain(|_, vs| !vs.is_empty());
        self.last_seqno = at;
        true
    }

    /// Whether `at` is a write boundary the model still knows: the settled
    /// point, or the last seqno of a write in the history.
    pub fn is_boundary(&self, at: SeqNo) -> bool {
        at == self.base_seqno
            || (at > self.base_seqno
                && at <= self.last_seqno
                && self.history.iter().any(|w| w.last() == at))
    }

    /// Number of keys ever written (live or deleted) still in the history.
    pub fn keys_tracked(&self) -> usize {
        self.versions.len()
    }
}

/// True if `(lo, hi)` selects nothing and would make `BTreeMap::range` panic
/// (start > end, or equal with an excluded side).
pub fn bounds_empty(lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> bool {
    let (l, l_inc) = match lo {
        Bound::Unbounded => return false,
        Bound::Included(l) => (l, true),
        Bound::Excluded(l) => (l, false),
    };
    let (h, h_inc) = match hi {
        Bound::Unbounded => return false,
        Bound::Included(h) => (h, true),
        Bound::Excluded(h) => (h, false),
    };
    l > h || (l == h && !(l_inc && h_inc))
}

/// Short printable form of a key or value for reports.
pub struct Show<'a>(pub &'a [u8]);

impl fmt::Display for Show<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        const SHOWN_MAX: usize = 24;
        write!(f, "b\"")?;
        for &b in self.0.iter().take(SHOWN_MAX) {
            if b.is_ascii_graphic() && b != b'"' && b != b'\\' {
                write!(f, "{}", b as char)?;
            } else {
                write!(f, "\\x{b:02x}")?;
            }
        }
        write!(f, "\"")?;
        if self.0.len() > SHOWN_MAX {
            write!(f, "..({} bytes)", self.0.len())?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn settling_keeps_every_answer_at_or_after_the_settled_point() {
        let mut m = KvModel::new();
        m.put(b"a", b"1");
        m.put(b"b", b"1");
        m.delete(b"b");
        m.put(b"a", b"2");
        m.put(b"c", b"1");
        let full = m.clone();
        assert!(!m.settle(9), "past the end");
        assert!(m.settle(4));
        assert!(!m.settle(3), "below the settled point");
        assert_eq!(m.settled(), 4);
        assert_eq!(m.history().len(), 1);
        assert_eq!(m.keys_tracked(), 2, "b's settled tombstone is gone");
        for at in 4..=5 {
            assert_eq!(m.state_at(at), full.state_at(at), "{at}");
            assert_eq!(m.oracle().state_at(at), full.state_at(at), "{at}");
        }
        // The oracle no longer offers prefixes below the settled point.
        let at3 = full.state_at(3);
        assert!(full.oracle().check(0, &at3, Some(3)).is_ok());
        assert!(m.oracle().check(0, &at3, Some(3)).is_err());
        assert_eq!(
            m.oracle()
                .check(0, &m.state_at(4), Some(4))
                .unwrap()
                .prefix_last,
            4
        );
        assert!(!m.truncate_to(3));
        assert!(m.truncate_to(4));
        assert_eq!(m.state(), full.state_at(4));
        assert_eq!(m.put(b"d", b"1"), 5);
    }

    #[test]
    fn seqnos_batches_snapshots_and_ranges() {
        let mut m = KvModel::new();
        assert_eq!(m.put(b"a", b"1"), 1);
        assert_eq!(m.put(b"", b""), 2);
        let s = m
            .apply(vec![
                Op::Put {
                    key: b"b".to_vec(),
                    value: b"2".to_vec(),
                },
                Op::Delete { key: b"a".to_vec() },
            ])
            .unwrap();
        assert_eq!(s, 4);
        assert_eq!(m.apply(vec![]), None);
        // Empty value is distinct from a tombstone.
        assert_eq!(m.get(b""), Some(&b""[..]));
        assert_eq!(m.get(b"a"), None);
        assert_eq!(m.get_at(b"a", 3), Some(&b"1"[..]));
        assert_eq!(m.get_at(b"b", 2), None);
        let fwd = m.range_at(Bound::Unbounded, Bound::Unbounded, Dir::Forward, 3, 10);
        assert_eq!(
            fwd,
            vec![
                (b"".to_vec(), b"".to_vec()),
                (b"a".to_vec(), b"1".to_vec()),
                (b"b".to_vec(), b"2".to_vec())
            ]
        );
        let rev = m.range_at(
            Bound::Excluded(&b""[..]),
            Bound::Unbounded,
            Dir::Reverse,
            3,
            1,
        );
        assert_eq!(rev, vec![(b"b".to_vec(), b"2".to_vec())]);
        assert!(m
            .range_at(
                Bound::Excluded(&b"a"[..]),
                Bound::Excluded(&b"a"[..]),
                Dir::Forward,
                4,
                10
            )
            .is_empty());
        assert_eq!(m.state().len(), 2);
    }

    #[test]
    fn truncate_only_at_write_boundaries() {
        let mut m = KvModel::new();
        m.put(b"k", b"1");
        m.apply(vec![
            Op::Put {
                key: b"k".to_vec(),
                value: b"2".to_vec(),
            },
            Op::Put {
                key: b"j".to_vec(),
                value: b"3".to_vec(),
            },
        ]);
        assert!(!m.truncate_to(2), "2 is inside a batch");
        assert!(m.truncate_to(1));
        assert_eq!(m.get(b"k"), Some(&b"1"[..]));
        assert_eq!(m.get(b"j"), None);
        assert_eq!(m.put(b"x", b"y"), 2);
        assert_eq!(m.keys_tracked(), 2);
    }
}
