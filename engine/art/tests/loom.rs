//! loom models of the ROWEX protocol. Run with
//! `RUSTFLAGS="--cfg loom --cfg crossbeam_loom" LOOM_MAX_PREEMPTIONS=2 cargo test -p strata-art --test loom --release`.
#![cfg(loom)]

use std::ops::{Bound, ControlFlow};

use loom::sync::Arc;
use loom::thread;
use strata_art::Art;

fn model<F: Fn() + Sync + Send + 'static>(f: F) {
    let mut b = loom::model::Builder::new();
    if b.preemption_bound.is_none() {
        b.preemption_bound = Some(2);
    }
    b.check(f);
}

fn keys(art: &Art) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    art.scan(Bound::Unbounded, Bound::Unbounded, false, &mut |k, _| {
        out.push(k.to_vec());
        ControlFlow::Continue(())
    });
    out
}

/// Two writers add the 4th and 5th child of the root Node4: one fits in
/// place, the other grows the node into a Node16. The second writer then
/// reads: the old keys are always there, the other new key absent or whole.
#[test]
fn two_writers_grow_node4_to_node16() {
    model(|| {
        let art = Arc::new(Art::new());
        for k in [b"a", b"b", b"c"] {
            art.insert(k, 1, Some(k));
        }
        let other = {
            let art = art.clone();
            thread::spawn(move || {
                art.insert(b"e", 2, Some(b"e"));
                assert_eq!(art.get(b"b", 9), Some((1, Some(b"b".to_vec()))));
                let d = art.get(b"d", 9);
                assert!(d.is_none() || d == Some((2, Some(b"d".to_vec()))));
            })
        };
        art.insert(b"d", 2, Some(b"d"));
        other.join().unwrap();
        art.check();
        assert_eq!(keys(&art).len(), 5);
        assert_eq!(art.get(b"e", 9), Some((2, Some(b"e".to_vec()))));
    });
}

/// A writer splits the compressed prefix "bcd" (below byte 'a') while a
/// reader looks up keys on both sides of the split.
#[test]
fn prefix_split_while_reading() {
    model(|| {
        let art = Arc::new(Art::new());
        art.insert(b"abcd1", 1, Some(b"1"));
        art.insert(b"abcd2", 1, Some(b"2"));
        let writer = {
            let art = art.clone();
            thread::spawn(move || art.insert(b"abX", 2, Some(b"x")))
        };
        assert_eq!(art.get(b"abcd1", 9), Some((1, Some(b"1".to_vec()))));
        let x = art.get(b"abX", 9);
        assert!(x.is_none() || x == Some((2, Some(b"x".to_vec()))));
        assert_eq!(art.get(b"abcd2", 9), Some((1, Some(b"2".to_vec()))));
        writer.join().unwrap();
        art.check();
        assert_eq!(art.get(b"abX", 9), Some((2, Some(b"x".to_vec()))));
        assert_eq!(
            keys(&art),
            vec![b"abX".to_vec(), b"abcd1".to_vec(), b"abcd2".to_vec()]
        );
    });
}

/// Removing "ab" merges the node under 'a' (left with the terminal "a")
/// while another thread inserts "ac" into that very node: the insert must
/// survive the merge, and a reader never loses "a".
#[test]
fn insert_races_remove() {
    model(|| {
        let art = Arc::new(Art::new());
        art.insert(b"a", 1, Some(b"a"));
        art.insert(b"ab", 1, Some(b"ab"));
        let inserter = {
            let art = art.clone();
            thread::spawn(move || art.insert(b"ac", 2, Some(b"ac")))
        };
        assert!(art.remove(b"ab"));
        assert_eq!(art.get(b"a", 9), Some((1, Some(b"a".to_vec()))));
        inserter.join().unwrap();
        art.check();
        assert_eq!(keys(&art), vec![b"a".to_vec(), b"ac".to_vec()]);
    });
}

/// A scan racing an insert that grows the root: keys in order, each once,
/// the keys present throughout always seen, the new key whole or absent.
#[test]
fn scan_races_insert() {
    model(|| {
        let art = Arc::new(Art::new());
        for k in [b"a", b"c", b"e", b"g"] {
            art.insert(k, 1, Some(k));
        }
        let writer = {
            let art = art.clone();
            thread::spawn(move || art.insert(b"d", 2, Some(b"d")))
        };
        let mut seen = Vec::new();
        art.scan(Bound::Unbounded, Bound::Unbounded, false, &mut |k, vs| {
            assert_eq!(vs.len(), 1);
            assert_eq!(vs[0].1, Some(k));
            seen.push(k.to_vec());
            ControlFlow::Continue(())
        });
        seen.retain(|k| k != b"d");
        assert_eq!(
            seen,
            vec![b"a".to_vec(), b"c".to_vec(), b"e".to_vec(), b"g".to_vec()]
        );
        writer.join().unwrap();
        art.check();
        assert_eq!(keys(&art).len(), 5);
    });
}

/// Node4 keeps its slots unsorted and caches their byte order in one word,
/// which an in-place insert of a smaller byte rewrites. Scans in both
/// directions racing two such inserts: in order, each key once, the old
/// keys always seen.
#[test]
fn scan_races_in_place_insert_reordering_node4() {
    model(|| {
        let art = Arc::new(Art::new());
        for k in [b"b", b"d"] {
            art.insert(k, 1, Some(k));
        }
        let writer = {
            let art = art.clone();
            thread::spawn(move || {
                art.insert(b"c", 2, Some(b"c"));
                art.insert(b"a", 2, Some(b"a"));
            })
        };
        for reverse in [false, true] {
            let mut seen = Vec::new();
            art.scan(Bound::Unbounded, Bound::Unbounded, reverse, &mut |k, vs| {
                assert_eq!(vs[0].1, Some(k));
                seen.push(k.to_vec());
                ControlFlow::Continue(())
            });
            if reverse {
                seen.reverse();
            }
            assert!(seen.windows(2).all(|w| w[0] < w[1]), "{seen:?}");
            seen.retain(|k| k == b"b" || k == b"d");
            assert_eq!(seen, vec![b"b".to_vec(), b"d".to_vec()]);
        }
        writer.join().unwrap();
        art.check();
        assert_eq!(keys(&art).len(), 4);
    });
}
