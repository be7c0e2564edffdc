//! The baseline memtable: a `BTreeMap` behind a reader-writer lock.

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::RwLock;
use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};

use super::{GetVisitor, Memtable, ScanVisitor};
use crate::types::{Direction, EntryRef, SeqNo};

/// Entries of one key, newest first.
type Entries = Vec<(SeqNo, Option<Box<[u8]>>)>;

/// `RwLock<BTreeMap>`: the baseline the concurrent ART is measured against.
#[derive(Debug, Default)]
pub struct BTreeMemtable {
    map: RwLock<BTreeMap<Box<[u8]>, Entries>>,
    memory_bytes: AtomicUsize,
}

impl BTreeMemtable {
    /// An empty memtable.
    pub fn new() -> Self {
        Self::default()
    }
}

/// Rough per-entry overheads for the memory estimate.
const KEY_OVERHEAD_BYTES: usize = 64;
const VERSION_OVERHEAD_BYTES: usize = 32;

impl Memtable for BTreeMemtable {
    fn insert(&self, key: &[u8], seqno: SeqNo, value: Option<&[u8]>) {
        let mut map = self.map.write().unwrap_or_else(|p| p.into_inner());
        let mut added = VERSION_OVERHEAD_BYTES + value.map_or(0, <[u8]>::len);
        let versions = match map.get_mut(key) {
            Some(v) => v,
            None => {
                added += KEY_OVERHEAD_BYTES + key.len();
                map.entry(key.into()).or_default()
            }
        };
        // Newest first; usually the new version goes to the front.
        let pos = versions.partition_point(|(s, _)| *s > seqno);
        versions.insert(pos, (seqno, value.map(Into::into)));
        self.memory_bytes.fetch_add(added, Ordering::Relaxed);
    }

    fn get_with(&self, key: &[u8], at: SeqNo, visit: &mut GetVisitor<'_>) -> bool {
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let found = map
            .get(key)
            .and_then(|versions| versions.iter().find(|(s, _)| *s <= at));
        if let Some((s, v)) = found {
            visit(*s, v.as_deref());
        }
        found.is_some()
    }

    fn scan(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        direction: Direction,
        visitor: &mut ScanVisitor<'_>,
    ) {
        if let (Bound::Included(l) | Bound::Excluded(l), Bound::Included(u) | Bound::Excluded(u)) =
            (lower, upper)
        {
            // BTreeMap::range panics on inverted or empty-excluded bounds.
            if l > u
                || (l == u && !matches!((lower, upper), (Bound::Included(_), Bound::Included(_))))
            {
                return;
            }
        }
        let map = self.map.read().unwrap_or_else(|p| p.into_inner());
        let range = map.range::<[u8], _>((lower, upper));
        fn visit<'a>(
            buf: &mut Vec<EntryRef<'a>>,
            k: &[u8],
            vs: &'a Entries,
            visitor: &mut ScanVisitor<'_>,
        ) -> ControlFlow<()> {
            buf.clear();
            buf.extend(vs.iter().map(|(s, v)| EntryRef {
                seqno: *s,
                value: v.as_deref(),
            }));
            visitor(k, buf)
        }
        let mut buf = Vec::new();
        match direction {
            Direction::Forward => {
                for (k, vs) in range {
                    if visit(&mut buf, k, vs, visitor).is_break() {
                        return;
                    }
                }
            }
            Direction::Reverse => {
                for (k, vs) in range.rev() {
                    if visit(&mut buf, k, vs, visitor).is_break() {
                        return;
                    }
                }
            }
        }
    }

    fn len(&self) -> usize {
        self.map.read().unwrap_or_else(|p| p.into_inner()).len()
    }

    fn approximate_memory(&self) -> usize {
        self.memory_bytes.load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn btree_memtable_conformance() {
        crate::memtable::testing::conformance(&BTreeMemtable::new());
    }

    #[test]
    fn inverted_bounds_visit_nothing() {
        let m = BTreeMemtable::new();
        m.insert(b"k", 1, Some(b"v"));
        let mut n = 0;
        m.scan(
            Bound::Included(b"z"),
            Bound::Included(b"a"),
            Direction::Forward,
            &mut |_, _| {
                n += 1;
                ControlFlow::Continue(())
            },
        );
        m.scan(
            Bound::Excluded(b"k"),
            Bound::Excluded(b"k"),
            Direction::Reverse,
            &mut |_, _| {
                n += 1;
                ControlFlow::Continue(())
            },
        );
        assert_eq!(n, 0);
    }
}
