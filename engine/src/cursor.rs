//! A seekable cursor over the database or a snapshot: position it with
//! `seek` (first key at or after), `seek_for_prev` (last key at or
//! before), `seek_to_first` or `seek_to_last`, then move with `next` and
//! `prev` in any order, as with LevelDB's and RocksDB's iterators. A
//! cursor may be confined to a range (a prefix, for `Db::prefix_cursor`).
//!
//! It reads the same merged sources as [`DbIter`](crate::DbIter): the
//! memtables and the pinned version's tables, at one sequence number. Each
//! move in the current direction takes the merge's next entry; a change of
//! direction (or a seek) opens a new merge from the current key, so a
//! direction change costs one seek per source.

use std::ops::Bound;

use crate::error::{Error, Result};
use crate::iter::{Merge, Shape, Source};
use crate::sync::atomic::{AtomicBool, Ordering};
use crate::sync::Arc;
use crate::types::{Direction, SeqNo};

/// A seekable, bidirectional cursor. Not positioned until a seek; when
/// `valid()` is false after a move, `status()` says whether that was the
/// end or an error.
pub struct Cursor {
    sources: Vec<Arc<dyn Source>>,
    /// The cursor's whole range.
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    at: SeqNo,
    /// The merge the cursor walks, and its direction; the current entry
    /// is the merge's (so a move copies nothing out of it).
    merge: Option<(Merge, Direction)>,
    error: Option<Error>,
    closed: Arc<AtomicBool>,
}

impl std::fmt::Debug for Cursor {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cursor")
            .field("at", &self.at)
            .field("key", &self.current().map(|c| c.0))
            .finish_non_exhaustive()
    }
}

/// The tighter of two lower bounds.
fn max_lower(a: &Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    tighter(a, b, std::cmp::Ordering::Greater)
}

/// The tighter of two upper bounds.
fn min_upper(a: &Bound<Vec<u8>>, b: Bound<Vec<u8>>) -> Bound<Vec<u8>> {
    tighter(a, b, std::cmp::Ordering::Less)
}

/// Of two bounds on the same side, the one whose key compares `inward`
/// with the other's (`Greater` for lower bounds, `Less` for upper ones);
/// on equal keys the excluded one.
fn tighter(a: &Bound<Vec<u8>>, b: Bound<Vec<u8>>, inward: std::cmp::Ordering) -> Bound<Vec<u8>> {
    let key = |x: &Bound<Vec<u8>>| match x {
        Bound::Unbounded => None,
        Bound::Included(k) | Bound::Excluded(k) => Some(k.clone()),
    };
    match (key(a), key(&b)) {
        (None, _) => b,
        (_, None) => a.clone(),
        (Some(x), Some(y)) if x != y => {
            if x.cmp(&y) == inward {
                a.clone()
            } else {
                b
            }
        }
        _ if matches!(a, Bound::Excluded(_)) => a.clone(),
        _ => b,
    }
}

/// The smallest key above every key starting with `prefix`, if any: the
/// exclusive end of the prefix's range.
pub(crate) fn prefix_end(prefix: &[u8]) -> Bound<Vec<u8>> {
    let mut end = prefix.to_vec();
    while let Some(last) = end.pop() {
        if last < u8::MAX {
            end.push(last + 1);
            return Bound::Excluded(end);
        }
    }
    Bound::Unbounded
}

impl Cursor {
    pub(crate) fn new(
        sources: Vec<Arc<dyn Source>>,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        at: SeqNo,
        closed: Arc<AtomicBool>,
    ) -> Cursor {
        Cursor {
            sources,
            lower,
            upper,
            at,
            merge: None,
            error: None,
            closed,
        }
    }

    /// The sequence number the cursor reads at.
    pub fn seqno(&self) -> SeqNo {
        self.at
    }

    fn current(&self) -> Option<(&[u8], &[u8])> {
        self.merge.as_ref().and_then(|(m, _)| m.current())
    }

    /// Whether the cursor is on an entry.
    pub fn valid(&self) -> bool {
        self.current().is_some()
    }

    /// The current key, borrowed until the next move. Panics if not
    /// `valid()`.
    pub fn key(&self) -> &[u8] {
        self.current().expect("cursor is not valid").0
    }

    /// The current value, borrowed until the next move: copy it into a
    /// buffer of your own (`buf.extend_from_slice(c.value())`) to keep it,
    /// so a walk need not allocate per entry. Panics if not `valid()`.
    pub fn value(&self) -> &[u8] {
        self.current().expect("cursor is not valid").1
    }

    /// The error that made the cursor invalid, if one did (`Ok` at the ends
    /// of the range). `Error::Closed` once the database was closed.
    pub fn status(&self) -> Result<()> {
        match &self.error {
            None => Ok(()),
            Some(e) => Err(e.duplicate()),
        }
    }

    /// The first key of the range.
    pub fn seek_to_first(&mut self) {
        self.start(Direction::Forward, self.lower.clone(), self.upper.clone());
    }

    /// The last key of the range.
    pub fn seek_to_last(&mut self) {
        self.start(Direction::Reverse, self.lower.clone(), self.upper.clone());
    }

    /// The first key at or after `key` (within the range).
    pub fn seek(&mut self, key: &[u8]) {
        let lower = max_lower(&self.lower, Bound::Included(key.to_vec()));
        self.start(Direction::Forward, lower, self.upper.clone());
    }

    /// The last key at or before `key` (within the range).
    pub fn seek_for_prev(&mut self, key: &[u8]) {
        let upper = min_upper(&self.upper, Bound::Included(key.to_vec()));
        self.start(Direction::Reverse, self.lower.clone(), upper);
    }

    /// The next key. Does nothing unless `valid()`.
    pub fn next(&mut self) {
        self.step(Direction::Forward);
    }

    /// The previous key. Does nothing unless `valid()`.
    pub fn prev(&mut self) {
        self.step(Direction::Reverse);
    }

    fn step(&mut self, direction: Direction) {
        let Some((key, _)) = self.current() else {
            return;
        };
        if matches!(&self.merge, Some((_, d)) if *d == direction) {
            self.advance();
            return;
        }
        // Turning round: a new merge from just past the current key.
        let from = Bound::Excluded(key.to_vec());
        match direction {
            Direction::Forward => {
                let lower = max_lower(&self.lower, from);
                self.start(direction, lower, self.upper.clone());
            }
            Direction::Reverse => {
                let upper = min_upper(&self.upper, from);
                self.start(direction, self.lower.clone(), upper);
            }
        }
    }

    fn start(&mut self, direction: Direction, lower: Bound<Vec<u8>>, upper: Bound<Vec<u8>>) {
        self.merge = None;
        self.error = None;
        if self.closed.load(Ordering::Acquire) {
            self.error = Some(Error::Closed);
            return;
        }
        match Merge::open(
            &self.sources,
            &lower,
            &upper,
            direction,
            self.at,
            Shape::KeysValues,
        ) {
            Ok(m) => {
                self.merge = Some((m, direction));
                self.advance();
            }
            Err(e) => self.error = Some(e),
        }
    }

    fn advance(&mut self) {
        if self.closed.load(Ordering::Acquire) {
            self.merge = None;
            self.error = Some(Error::Closed);
            return;
        }
        let Some((merge, _)) = self.merge.as_mut() else {
            return;
        };
        if let Err(e) = merge.next_live() {
            self.merge = None;
            self.error = Some(e);
        }
    }
}
