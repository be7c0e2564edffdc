//! The memtable abstraction and its implementations.
//!
//! A memtable holds recently written versions in memory, ordered by key, each
//! key with all its versions (newest first) so a flush can write every version
//! a live snapshot may still need. Two implementations sit behind the
//! [`Memtable`] trait, selected by [`MemtableKind`](crate::MemtableKind):
//! the `RwLock<BTreeMap>` baseline ([`BTreeMemtable`]) and the concurrent
//! Adaptive Radix Tree.

use std::fmt;
use std::ops::{Bound, ControlFlow};

use crate::types::{Direction, EntryRef, SeqNo};

mod art;
mod btree;
pub use art::ArtMemtable;
pub use btree::BTreeMemtable;

/// Visitor passed to [`Memtable::scan`]: receives a key and its versions,
/// newest first; returning `Break` stops the scan.
pub type ScanVisitor<'v> = dyn FnMut(&[u8], &[EntryRef<'_>]) -> ControlFlow<()> + 'v;

/// What [`Memtable::get_with`] calls with the version it found.
pub type GetVisitor<'a> = dyn FnMut(SeqNo, Option<&[u8]>) + 'a;

/// An ordered, versioned, concurrent in-memory table.
///
/// Contract shared by every implementation (checked by
/// [`testing::conformance`]):
/// - `insert` may be called from many threads; a `(key, seqno)` pair is
///   inserted at most once. Entries of a key are kept newest first whatever
///   the insertion order.
/// - `get(key, at)` returns the newest version with `seqno <= at`;
///   `get_with` lends that same version to a visitor.
/// - `scan` visits keys within the bounds in key order (bytewise), each once.
pub trait Memtable: Send + Sync + fmt::Debug {
    /// Inserts one version; `None` is a tombstone.
    fn insert(&self, key: &[u8], seqno: SeqNo, value: Option<&[u8]>);
    /// Newest version of `key` visible at `at`: `Some((seqno, None))` is a
    /// tombstone, `None` means the memtable knows nothing of the key at `at`.
    /// The value is copied out; [`Memtable::get_with`] lends it instead.
    fn get(&self, key: &[u8], at: SeqNo) -> Option<(SeqNo, Option<Vec<u8>>)> {
        let mut found = None;
        self.get_with(key, at, &mut |seqno, value| {
            found = Some((seqno, value.map(<[u8]>::to_vec)));
        });
        found
    }
    /// Like [`Memtable::get`], but hands the version to `visit` borrowed,
    /// without copying or allocating; `visit` is not called if there is no
    /// such version (`None` for the value is a tombstone). Returns whether
    /// it was called.
    fn get_with(&self, key: &[u8], at: SeqNo, visit: &mut GetVisitor<'_>) -> bool;
    /// Visits the keys within `(lower, upper)` in `direction` order.
    fn scan(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        direction: Direction,
        visitor: &mut ScanVisitor<'_>,
    );
    /// Number of distinct keys.
    fn len(&self) -> usize;
    /// True if no key was inserted.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Approximate heap bytes used, for the flush trigger.
    fn approximate_memory(&self) -> usize;
}

/// A conformance suite every memtable implementation must pass.
#[doc(hidden)]
pub mod testing {
    use super::*;
    use std::collections::BTreeMap;

    /// Owned versions of one key, newest first.
    pub type OwnedVersions = Vec<(SeqNo, Option<Vec<u8>>)>;

    fn collect(
        m: &dyn Memtable,
        lo: Bound<&[u8]>,
        hi: Bound<&[u8]>,
        d: Direction,
    ) -> Vec<(Vec<u8>, OwnedVersions)> {
        let mut out = Vec::new();
        m.scan(lo, hi, d, &mut |k, vs| {
            out.push((
                k.to_vec(),
                vs.iter()
                    .map(|v| (v.seqno, v.value.map(<[u8]>::to_vec)))
                    .collect(),
            ));
            ControlFlow::Continue(())
        });
        out
    }

    /// Runs the shared checks against a fresh, empty memtable.
    pub fn conformance(m: &dyn Memtable) {
        assert!(m.is_empty());
        assert_eq!(m.get(b"", 10), None);
        // Empty key, prefixes of each other, an empty value and a tombstone.
        m.insert(b"", 1, Some(b"empty-key"));
        m.insert(b"a", 2, Some(b""));
        m.insert(b"ab", 3, Some(b"x"));
        m.insert(b"abc", 4, None);
        m.insert(b"a", 6, Some(b"a6"));
        m.insert(b"a", 5, None); // out of order insertion is kept sorted
        m.insert(b"b", 7, Some(b"b7"));
        assert_eq!(m.len(), 5);
        assert!(m.approximate_memory() > 0);

        assert_eq!(m.get(b"", 1), Some((1, Some(b"empty-key".to_vec()))));
        assert_eq!(m.get(b"", 0), None);
        assert_eq!(m.get(b"a", 2), Some((2, Some(Vec::new()))));
        assert_eq!(m.get(b"a", 4), Some((2, Some(Vec::new()))));
        assert_eq!(m.get(b"a", 5), Some((5, None)));
        assert_eq!(m.get(b"a", 100), Some((6, Some(b"a6".to_vec()))));
        assert_eq!(m.get(b"abc", 100), Some((4, None)));
        assert_eq!(m.get(b"abcd", 100), None);
        assert_eq!(m.get(b"aa", 100), None);
        // The borrowed lookup lends the same versions, and calls its visitor
        // only when there is one.
        for (key, at) in [
            (&b"a"[..], 100),
            (b"a", 5),
            (b"a", 2),
            (b"abc", 9),
            (b"aa", 9),
            (b"", 0),
        ] {
            let mut lent = Vec::new();
            let found = m.get_with(key, at, &mut |s, v| lent.push((s, v.map(<[u8]>::to_vec))));
            assert_eq!(lent.first().cloned(), m.get(key, at), "{key:?} at {at}");
            assert_eq!(found, !lent.is_empty());
            assert!(lent.len() <= 1);
        }

        let all = collect(m, Bound::Unbounded, Bound::Unbounded, Direction::Forward);
        let keys: Vec<&[u8]> = all.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(keys, vec![&b""[..], b"a", b"ab", b"abc", b"b"]);
        assert_eq!(
            all[1].1,
            vec![(6, Some(b"a6".to_vec())), (5, None), (2, Some(Vec::new()))]
        );
        let rev = collect(m, Bound::Unbounded, Bound::Unbounded, Direction::Reverse);
        let rkeys: Vec<&[u8]> = rev.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(rkeys, vec![&b"b"[..], b"abc", b"ab", b"a", b""]);

        let mid = collect(
            m,
            Bound::Excluded(b"a"),
            Bound::Included(b"abc"),
            Direction::Forward,
        );
        let mkeys: Vec<&[u8]> = mid.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(mkeys, vec![&b"ab"[..], b"abc"]);
        let mid_rev = collect(
            m,
            Bound::Included(b"a"),
            Bound::Excluded(b"abc"),
            Direction::Reverse,
        );
        let mrkeys: Vec<&[u8]> = mid_rev.iter().map(|(k, _)| k.as_slice()).collect();
        assert_eq!(mrkeys, vec![&b"ab"[..], b"a"]);

        // Early stop.
        let mut n = 0;
        m.scan(
            Bound::Unbounded,
            Bound::Unbounded,
            Direction::Forward,
            &mut |_, _| {
                n += 1;
                if n == 2 {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        assert_eq!(n, 2);

        // A bigger randomised comparison against a BTreeMap (fixed seed).
        let mut model: BTreeMap<Vec<u8>, OwnedVersions> = BTreeMap::new();
        for (k, vs) in &all {
            model.insert(k.clone(), vs.clone());
        }
        let mut x: u64 = 0x9E37_79B9_7F4A_7C15;
        let mut next = || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        for seq in 100..3000u64 {
            let r = next();
            let len = (r % 5) as usize;
            let key: Vec<u8> = (0..len)
                .map(|i| b"abcd"[((r >> (8 + i * 2)) % 4) as usize])
                .collect();
            let value = if r % 7 == 0 {
                None
            } else {
                Some(seq.to_le_bytes()[..(r % 9) as usize].to_vec())
            };
            m.insert(&key, seq, value.as_deref());
            let e = model.entry(key).or_default();
            e.insert(0, (seq, value));
        }
        assert_eq!(m.len(), model.len());
        let got = collect(m, Bound::Unbounded, Bound::Unbounded, Direction::Forward);
        let want: Vec<_> = model.clone().into_iter().collect();
        assert_eq!(got, want);
        for (k, vs) in &model {
            for at in [0, 3, 150, 1500, 2999, u64::MAX] {
                let expect = vs.iter().find(|(s, _)| *s <= at).cloned();
                assert_eq!(m.get(k, at), expect, "key {k:?} at {at}");
            }
        }
    }
}
