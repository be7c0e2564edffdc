//! The transaction oracle.
//!
//! A transaction's reads are recorded as it makes them ([`TxnReads`]): the
//! value of every key it read from its snapshot and, for every scan, the
//! key interval the scan covered with the pairs it returned there. The
//! rules a run checks with them:
//!
//! - every read equals the model's state at the transaction's snapshot,
//!   overlaid with the transaction's own writes made before the read;
//! - a committed serializable transaction's reads also equal the state at
//!   its serialization point, the sequence number just before its first
//!   write ([`KvModel::check_reads_at`]): running the committed
//!   transactions one at a time in commit order gives the same reads;
//! - a commit is refused exactly when a write after the snapshot touched
//!   what it read (serializable) or wrote (snapshot isolation):
//!   [`KvModel::first_write_into`] says whether, and which.

use std::collections::BTreeMap;
use std::ops::Bound;

use crate::{bounds_empty, Dir, KvModel, SeqNo, Show};

/// A key interval, both ends as `std` bounds.
pub type Interval = (Bound<Vec<u8>>, Bound<Vec<u8>>);

/// One scan's covered interval and what the transaction saw in it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScanRead {
    /// The interval's lower end.
    pub lo: Bound<Vec<u8>>,
    /// Its upper end.
    pub hi: Bound<Vec<u8>>,
    /// The transaction's own writes in the interval when it scanned
    /// (`None` = delete); they hide or replace the snapshot's pairs.
    pub own: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// The pairs the scan returned in the interval, ascending.
    pub got: Vec<(Vec<u8>, Vec<u8>)>,
}

/// What a transaction read from its snapshot.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct TxnReads {
    /// Keys read with a point read, and the value read (`None` = absent);
    /// reads served from the transaction's own writes are not here.
    pub points: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// Scans, one entry per covered interval.
    pub scans: Vec<ScanRead>,
}

impl TxnReads {
    /// True if nothing was read from the snapshot.
    pub fn is_empty(&self) -> bool {
        self.points.is_empty() && self.scans.is_empty()
    }

    /// The covered intervals, as `std` bounds.
    pub fn intervals(&self) -> impl Iterator<Item = (Bound<&[u8]>, Bound<&[u8]>)> + '_ {
        self.scans.iter().map(|s| (as_ref(&s.lo), as_ref(&s.hi)))
    }
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Which scan of a zig-zag read covered what: given the bounds of a scan,
/// the keys its front end returned (ascending), the keys its back end
/// returned (descending) and whether it ran out, the intervals it covered
/// (the rule the engine's read set follows): from the start to the last
/// key the front returned, from the last key the back returned to the
/// end, or the whole range once exhausted.
pub fn covered(
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
    front_last: Option<&[u8]>,
    back_last: Option<&[u8]>,
    exhausted: bool,
) -> Vec<Interval> {
    if exhausted {
        return vec![(lo.clone(), hi.clone())];
    }
    let mut out = Vec::new();
    if let Some(k) = front_last {
        out.push((lo.clone(), Bound::Included(k.to_vec())));
    }
    if let Some(k) = back_last {
        out.push((Bound::Included(k.to_vec()), hi.clone()));
    }
    out
}

impl KvModel {
    /// Whether `reads` equal the model's state at `at` (each scan's pairs
    /// overlaid with its own writes); the first difference, in words.
    pub fn check_reads_at(&self, reads: &TxnReads, at: SeqNo) -> Result<(), String> {
        for (k, v) in &reads.points {
            let want = self.get_at(k, at);
            if want != v.as_deref() {
                return Err(format!(
                    "read of {} gave {} but the state at {at} holds {}",
                    Show(k),
                    show(v.as_deref()),
                    show(want)
                ));
            }
        }
        for s in &reads.scans {
            let (lo, hi) = (as_ref(&s.lo), as_ref(&s.hi));
            let mut want: BTreeMap<Vec<u8>, Vec<u8>> = self
                .range_at(lo, hi, Dir::Forward, at, usize::MAX)
                .into_iter()
                .collect();
            for (k, v) in &s.own {
                match v {
                    Some(v) => want.insert(k.clone(), v.clone()),
                    None => want.remove(k),
                };
            }
            let want: Vec<_> = want.into_iter().collect();
            if want != s.got {
                let first = want
                    .iter()
                    .zip(&s.got)
                    .position(|(a, b)| a != b)
                    .unwrap_or(want.len().min(s.got.len()));
                return Err(format!(
                    "scan of {:?}..{:?} returned {} pairs, the state at {at} (with its own writes) holds {}; first difference at pair {first}: got {}, want {}",
                    s.lo.as_ref().map(|k| Show(k).to_string()),
                    s.hi.as_ref().map(|k| Show(k).to_string()),
                    s.got.len(),
                    want.len(),
                    s.got.get(first).map_or("<end>".into(), |(k, _)| Show(k).to_string()),
                    want.get(first).map_or("<end>".into(), |(k, _)| Show(k).to_string()),
                ));
            }
        }
        Ok(())
    }

    /// A write with a seqno in `(from, to]` to one of `keys` or to a key in
    /// one of `intervals`, if there is one: its key and seqno (the newest
    /// such write of the first such key).
    pub fn first_write_into<'a>(
        &self,
        keys: impl IntoIterator<Item = &'a [u8]>,
        intervals: impl IntoIterator<Item = (Bound<&'a [u8]>, Bound<&'a [u8]>)>,
        from: SeqNo,
        to: SeqNo,
    ) -> Option<(Vec<u8>, SeqNo)> {
        let newest_in = |vs: &[(SeqNo, Option<Vec<u8>>)]| {
            vs.iter()
                .rev()
                .map(|(s, _)| *s)
                .find(|&s| s > from && s <= to)
        };
        for k in keys {
            if let Some(s) = self.versions.get(k).and_then(|vs| newest_in(vs)) {
                return Some((k.to_vec(), s));
            }
        }
        for (lo, hi) in intervals {
            if bounds_empty(lo, hi) {
                continue;
            }
            for (k, vs) in self.versions.range::<[u8], _>((lo, hi)) {
                if let Some(s) = newest_in(vs) {
                    return Some((k.clone(), s));
                }
            }
        }
        None
    }

    /// Whether the model holds a write of `key` at `seqno`.
    pub fn wrote(&self, key: &[u8], seqno: SeqNo) -> bool {
        self.versions
            .get(key)
            .is_some_and(|vs| vs.iter().any(|(s, _)| *s == seqno))
    }
}

fn show(v: Option<&[u8]>) -> String {
    v.map_or("<absent>".into(), |v| Show(v).to_string())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn b(s: &str) -> Vec<u8> {
        s.as_bytes().to_vec()
    }

    #[test]
    fn reads_are_checked_against_the_state_at_a_point_with_own_writes_overlaid() {
        let mut m = KvModel::new();
        m.put(b"a", b"1");
        m.put(b"c", b"1");
        let mut r = TxnReads::default();
        r.points.insert(b("a"), Some(b("1")));
        r.points.insert(b("b"), None);
        r.scans.push(ScanRead {
            lo: Bound::Included(b("a")),
            hi: Bound::Unbounded,
            own: [(b("a"), None), (b("b"), Some(b("own")))].into(),
            got: vec![(b("b"), b("own")), (b("c"), b("1"))],
        });
        assert_eq!(m.check_reads_at(&r, 2), Ok(()));
        m.put(b"b", b"2");
        assert!(m.check_reads_at(&r, 3).is_err(), "b appeared");
        m.delete(b"c");
        r.points.remove(b"b".as_slice());
        assert!(m.check_reads_at(&r, 4).is_err(), "c went");
    }

    #[test]
    fn writes_into_keys_and_intervals_after_a_point_are_found() {
        let mut m = KvModel::new();
        m.put(b"a", b"1");
        m.put(b"m", b"1");
        m.put(b"a", b"2");
        let none = std::iter::empty::<(Bound<&[u8]>, Bound<&[u8]>)>();
        assert_eq!(
            m.first_write_into([&b"a"[..]], none.clone(), 1, 3),
            Some((b("a"), 3))
        );
        assert_eq!(m.first_write_into([&b"a"[..]], none, 3, 3), None);
        let iv = (Bound::Excluded(&b"a"[..]), Bound::Included(&b"m"[..]));
        assert_eq!(m.first_write_into([], [iv], 0, 3), Some((b("m"), 2)));
        assert_eq!(m.first_write_into([], [iv], 2, 3), None);
        assert!(m.wrote(b"a", 3) && !m.wrote(b"a", 2));
    }

    #[test]
    fn a_scan_covers_what_it_returned_or_all_of_it_once_exhausted() {
        let (lo, hi) = (Bound::Included(b("a")), Bound::Excluded(b("z")));
        assert_eq!(covered(&lo, &hi, None, None, false), vec![]);
        assert_eq!(
            covered(&lo, &hi, Some(b"c"), Some(b"x"), false),
            vec![
                (lo.clone(), Bound::Included(b("c"))),
                (Bound::Included(b("x")), hi.clone())
            ]
        );
        assert_eq!(
            covered(&lo, &hi, Some(b"c"), None, true),
            vec![(lo.clone(), hi.clone())]
        );
    }
}
