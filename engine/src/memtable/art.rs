//! The concurrent Adaptive Radix Tree memtable: [`strata_art::Art`] behind
//! the [`Memtable`] trait. Readers never lock; writers lock only the tree
//! nodes they change (see `engine/art/DESIGN.md`).

use std::ops::Bound;

use strata_art::Art;

use super::{GetVisitor, Memtable, ScanVisitor};
use crate::types::{Direction, EntryRef, SeqNo};

/// The ART memtable.
#[derive(Debug, Default)]
pub struct ArtMemtable {
    art: Art,
}

impl ArtMemtable {
    /// An empty memtable.
    pub fn new() -> Self {
        Self::default()
    }

    /// The tree, for invariant checks in tests.
    #[doc(hidden)]
    pub fn art(&self) -> &Art {
        &self.art
    }
}

impl Memtable for ArtMemtable {
    fn insert(&self, key: &[u8], seqno: SeqNo, value: Option<&[u8]>) {
        self.art.insert(key, seqno, value);
    }

    fn get_with(&self, key: &[u8], at: SeqNo, visit: &mut GetVisitor<'_>) -> bool {
        self.art.get_with(key, at, visit).is_some()
    }

    fn scan(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        direction: Direction,
        visitor: &mut ScanVisitor<'_>,
    ) {
        let pinned = self.art.pin();
        let mut buf: Vec<EntryRef<'_>> = Vec::new();
        let reverse = direction == Direction::Reverse;
        pinned.scan(lower, upper, reverse, |key, versions| {
            buf.clear();
            buf.extend(versions.map(|v| EntryRef {
                seqno: v.seqno,
                value: v.value,
            }));
            visitor(key, &buf)
        });
    }

    fn len(&self) -> usize {
        self.art.len()
    }

    fn approximate_memory(&self) -> usize {
        self.art.approximate_memory()
    }
}

#[cfg(test)]
mod tests {
    use std::ops::ControlFlow;

    use super::*;

    #[test]
    fn art_memtable_conformance() {
        let m = ArtMemtable::new();
        crate::memtable::testing::conformance(&m);
        m.art().check();
    }

    #[test]
    fn inverted_bounds_visit_nothing() {
        let m = ArtMemtable::new();
        m.insert(b"k", 1, Some(b"v"));
        let mut n = 0;
        for (lo, hi) in [(&b"z"[..], &b"a"[..]), (b"k", b"k")] {
            m.scan(
                Bound::Excluded(lo),
                Bound::Excluded(hi),
                Direction::Forward,
                &mut |_, _| {
                    n += 1;
                    ControlFlow::Continue(())
                },
            );
        }
        assert_eq!(n, 0);
    }
}
