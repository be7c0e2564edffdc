//! Which versions of a key a flush or a merge must keep.
//!
//! Readers are the live snapshots plus "the latest state". A reader at `r`
//! sees the newest version with `seqno <= r`; a version no reader can see is
//! garbage. A tombstone that ends up the oldest kept version can be dropped
//! too, but only when no older data for the key can exist in a level below
//! the output (otherwise the older data would resurface).

use crate::types::SeqNo;

/// Marks which of `seqnos` (one key's versions, newest first, strictly
/// decreasing) must be kept. `snapshots` are the live snapshot sequence
/// numbers, ascending. `is_tombstone(i)` says whether version `i` is a
/// tombstone; trailing tombstones are dropped when `may_drop_tombstones`.
pub fn entries_to_keep(
    seqnos: &[SeqNo],
    is_tombstone: &dyn Fn(usize) -> bool,
    snapshots: &[SeqNo],
    may_drop_tombstones: bool,
) -> Vec<bool> {
    debug_assert!(seqnos.windows(2).all(|w| w[0] > w[1]), "newest first");
    debug_assert!(snapshots.windows(2).all(|w| w[0] <= w[1]), "ascending");
    let mut keep = vec![false; seqnos.len()];
    if seqnos.is_empty() {
        return keep;
    }
    // The latest reader sees the newest version.
    keep[0] = true;
    for &s in snapshots {
        // Newest version with seqno <= s.
        let i = seqnos.partition_point(|&q| q > s);
        if i < seqnos.len() {
            keep[i] = true;
        }
    }
    if may_drop_tombstones {
        for i in (0..seqnos.len()).rev() {
            if !keep[i] {
                continue;
            }
            if is_tombstone(i) {
                keep[i] = false;
            } else {
                break;
            }
        }
    }
    keep
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seqnos: &[SeqNo], tomb: &[usize], snaps: &[SeqNo], drop: bool) -> Vec<SeqNo> {
        let keep = entries_to_keep(seqnos, &|i| tomb.contains(&i), snaps, drop);
        seqnos
            .iter()
            .zip(keep)
            .filter(|(_, k)| *k)
            .map(|(s, _)| *s)
            .collect()
    }

    #[test]
    fn without_snapshots_only_the_newest_survives() {
        assert_eq!(run(&[9, 5, 2], &[], &[], false), vec![9]);
        assert_eq!(run(&[9, 5, 2], &[], &[], true), vec![9]);
    }

    #[test]
    fn each_snapshot_keeps_what_it_sees() {
        assert_eq!(run(&[9, 5, 2], &[], &[4], false), vec![9, 2]);
        assert_eq!(run(&[9, 5, 2], &[], &[5, 6, 100], false), vec![9, 5]);
        // A snapshot older than every version sees nothing here.
        assert_eq!(run(&[9, 5, 2], &[], &[1], false), vec![9]);
    }

    #[test]
    fn tombstones_drop_only_when_nothing_older_can_exist_below() {
        // Newest is a tombstone, no snapshot: it must stay unless dropping is allowed.
        assert_eq!(run(&[9, 5], &[0], &[], false), vec![9]);
        assert_eq!(run(&[9, 5], &[0], &[], true), Vec::<SeqNo>::new());
        // A snapshot still sees the value under the tombstone: keep both.
        assert_eq!(run(&[9, 5], &[0], &[6], true), vec![9, 5]);
        // Tombstone seen by a snapshot, below a newer value: the tombstone
        // is the oldest kept version and can go when allowed.
        assert_eq!(run(&[9, 5, 3], &[1], &[6], true), vec![9]);
        assert_eq!(run(&[9, 5, 3], &[1], &[6], false), vec![9, 5]);
    }
}
