//! Single-threaded behaviour: kinds grow and shrink, prefixes split and
//! merge, odd keys, memory accounting and reclamation.

use std::ops::{Bound, ControlFlow};

use strata_art::testing::SplitMix64;
use strata_art::Art;

fn keys_of(art: &Art, lo: Bound<&[u8]>, hi: Bound<&[u8]>, reverse: bool) -> Vec<Vec<u8>> {
    let mut out = Vec::new();
    art.scan(lo, hi, reverse, &mut |k, vs| {
        assert!(!vs.is_empty());
        out.push(k.to_vec());
        ControlFlow::Continue(())
    });
    out
}

#[test]
fn empty_key_prefixes_and_versions() {
    let art = Art::new();
    assert!(art.is_empty());
    assert_eq!(art.get(b"", 5), None);
    art.insert(b"", 1, Some(b"root"));
    art.insert(b"abc", 2, Some(b"abc"));
    art.insert(b"a", 3, Some(b""));
    art.insert(b"ab", 4, None);
    art.insert(b"a", 9, Some(b"a9"));
    art.insert(b"a", 6, Some(b"a6"));
    art.check();
    assert_eq!(art.len(), 4);
    assert_eq!(art.get(b"", 1), Some((1, Some(b"root".to_vec()))));
    assert_eq!(art.get(b"a", 2), None);
    assert_eq!(art.get(b"a", 3), Some((3, Some(vec![]))));
    assert_eq!(art.get(b"a", 8), Some((6, Some(b"a6".to_vec()))));
    assert_eq!(art.get(b"a", u64::MAX), Some((9, Some(b"a9".to_vec()))));
    assert_eq!(art.get(b"ab", 4), Some((4, None)));
    assert_eq!(art.get(b"abcd", 9), None);
    let mut seen = Vec::new();
    art.scan(Bound::Unbounded, Bound::Unbounded, false, &mut |k, vs| {
        seen.push((k.to_vec(), vs.iter().map(|v| v.0).collect::<Vec<_>>()));
        ControlFlow::Continue(())
    });
    assert_eq!(
        seen,
        vec![
            (b"".to_vec(), vec![1]),
            (b"a".to_vec(), vec![9, 6, 3]),
            (b"ab".to_vec(), vec![4]),
            (b"abc".to_vec(), vec![2]),
        ]
    );
    assert!(art.remove(b"a"));
    assert!(!art.remove(b"a"));
    assert!(art.remove(b""));
    art.check();
    assert_eq!(
        keys_of(&art, Bound::Unbounded, Bound::Unbounded, true),
        vec![b"abc".to_vec(), b"ab".to_vec()]
    );
}

#[test]
fn kinds_grow_to_node256_and_shrink_back() {
    let art = Art::new();
    for b in 0..=255u8 {
        art.insert(&[7, 7, b], u64::from(b), Some(&[b]));
        art.check();
    }
    art.insert(&[7], 1000, None); // a terminal under the shared node
    art.check();
    assert_eq!(art.len(), 257);
    for b in 0..=255u8 {
        assert_eq!(
            art.get(&[7, 7, b], u64::MAX),
            Some((u64::from(b), Some(vec![b])))
        );
    }
    let rev = keys_of(&art, Bound::Unbounded, Bound::Unbounded, true);
    assert_eq!(rev.len(), 257);
    assert!(rev.windows(2).all(|w| w[0] > w[1]));
    for b in (0..=255u8).rev() {
        assert!(art.remove(&[7, 7, b]));
        art.check();
    }
    assert_eq!(art.len(), 1);
    assert_eq!(art.get(&[7], 1000), Some((1000, None)));
}

#[test]
fn holes_are_compacted_and_slots_reused() {
    let art = Art::new();
    // Fill and empty a Node16 repeatedly with different bytes.
    for round in 0..20u8 {
        for i in 0..10u8 {
            art.insert(&[1, round.wrapping_mul(13).wrapping_add(i)], 1, Some(b"v"));
        }
        art.check();
        for i in 0..9u8 {
            assert!(art.remove(&[1, round.wrapping_mul(13).wrapping_add(i)]));
            art.check();
        }
    }
    assert_eq!(art.len(), 20);
}

#[test]
fn long_keys_split_long_prefixes() {
    let art = Art::new();
    let base: Vec<u8> = (0..3000u32).map(|i| (i % 251) as u8).collect();
    let mut keys = Vec::new();
    for cut in [3000usize, 2999, 1500, 1499, 700, 10, 0] {
        let mut k = base[..cut].to_vec();
        keys.push(k.clone());
        k.push(0xFF);
        keys.push(k);
    }
    for (i, k) in keys.iter().enumerate() {
        art.insert(k, i as u64, Some(&k[..k.len().min(5)]));
        art.check();
    }
    for (i, k) in keys.iter().enumerate() {
        assert_eq!(art.get(k, u64::MAX).map(|v| v.0), Some(i as u64));
    }
    let mut sorted = keys.clone();
    sorted.sort();
    sorted.dedup();
    assert_eq!(
        keys_of(&art, Bound::Unbounded, Bound::Unbounded, false),
        sorted
    );
    // Range starting in the middle of a long compressed prefix.
    let lo = &base[..2000];
    let got = keys_of(&art, Bound::Included(lo), Bound::Unbounded, false);
    let want: Vec<_> = sorted.iter().filter(|k| &k[..] >= lo).cloned().collect();
    assert_eq!(got, want);
    for k in &keys {
        assert!(art.remove(k));
        art.check();
    }
    assert!(art.is_empty());
}

#[test]
fn memory_accounting_moves_both_ways() {
    let art = Art::new();
    let empty = art.approximate_memory();
    for i in 0..1000u32 {
        art.insert(&i.to_be_bytes(), 1, Some(&[0; 100]));
    }
    let full = art.approximate_memory();
    assert!(full >= empty + 1000 * 104, "{full}");
    for i in 0..1000u32 {
        art.remove(&i.to_be_bytes());
    }
    assert!(art.approximate_memory() < full / 10);
}

/// Every node, leaf and version is freed: by `Drop` or by the epoch.
#[test]
fn drop_frees_everything() {
    let counter;
    {
        let (art, c) = Art::with_allocation_counter();
        counter = c;
        let mut x = 0x1234_5678_9abc_def0u64;
        for i in 0..5000u64 {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            let k = (x % 3000).to_be_bytes();
            art.insert(&k[5..], i, if x % 5 == 0 { None } else { Some(&k) });
            if x % 3 == 0 {
                art.remove(&k[6..]);
            }
        }
        assert!(counter.load(std::sync::atomic::Ordering::Relaxed) > 1000);
        art.check();
    }
    // Retired memory is freed once the epoch advances.
    for _ in 0..10_000 {
        if counter.load(std::sync::atomic::Ordering::Relaxed) == 0 {
            break;
        }
        crossbeam_epoch::pin().flush();
        std::thread::yield_now();
    }
    assert_eq!(counter.load(std::sync::atomic::Ordering::Relaxed), 0);
}

/// A chain of nested keys ("", "a", "aa", ...) makes one node per level;
/// dropping it must not overflow even a small stack.
#[test]
fn deep_tree_drops() {
    let art = Art::new();
    let key = vec![b'a'; 4_000];
    for n in (0..=key.len()).step_by(2) {
        art.insert(&key[..n], n as u64, Some(b"v"));
    }
    assert_eq!(art.len(), 2_001);
    assert_eq!(
        art.get(&key[..3000], u64::MAX),
        Some((3000, Some(b"v".to_vec())))
    );
    // 2000 levels: a recursive drop would need far more than 64 KiB.
    std::thread::Builder::new()
        .stack_size(64 * 1024)
        .spawn(move || drop(art))
        .unwrap()
        .join()
        .unwrap();
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

/// Scans with random bounds, both directions and random early stops, over a
/// tree holding every node kind (fan-outs from 2 to 256 under one byte),
/// against a sorted model: exercises the Node4/16 cached order and the
/// Node48/256 read-ahead.
#[test]
fn bounded_scans_over_every_node_kind_match_the_model() {
    let mut rng = SplitMix64::new(0xA27_5CA7);
    let art = Art::new();
    let mut model = std::collections::BTreeSet::new();
    // Under first byte `f`, a fan-out that depends on `f`: Node4 to Node256.
    for f in (0u8..=255).step_by(3) {
        let fanout = [2, 5, 15, 30, 47, 100, 256][f as usize % 7];
        for _ in 0..fanout {
            let mut k = vec![f, rng.below(256) as u8];
            if rng.below(4) == 0 {
                k.push(rng.below(256) as u8);
            }
            art.insert(&k, 1, Some(b"v"));
            model.insert(k);
        }
        if rng.below(3) == 0 {
            art.insert(&[f], 1, Some(b"t"));
            model.insert(vec![f]);
        }
    }
    art.check();
    let random_key = |rng: &mut SplitMix64| -> Vec<u8> {
        (0..rng.below(4)).map(|_| rng.below(256) as u8).collect()
    };
    let random_bound = |rng: &mut SplitMix64| match rng.below(3) {
        0 => Bound::Unbounded,
        1 => Bound::Included(random_key(rng)),
        _ => Bound::Excluded(random_key(rng)),
    };
    for _ in 0..3_000 {
        let lo = random_bound(&mut rng);
        let hi = random_bound(&mut rng);
        let reverse = rng.below(2) == 0;
        let limit = [1, 2, 7, 50, usize::MAX][rng.below(5) as usize];
        let mut got = Vec::new();
        art.scan(as_ref(&lo), as_ref(&hi), reverse, &mut |k, _| {
            got.push(k.to_vec());
            if got.len() == limit {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        });
        let in_range = |k: &Vec<u8>| {
            let above = match &lo {
                Bound::Included(l) => k >= l,
                Bound::Excluded(l) => k > l,
                Bound::Unbounded => true,
            };
            let below = match &hi {
                Bound::Included(u) => k <= u,
                Bound::Excluded(u) => k < u,
                Bound::Unbounded => true,
            };
            above && below
        };
        let want: Vec<Vec<u8>> = if reverse {
            model
                .iter()
                .rev()
                .filter(|k| in_range(k))
                .take(limit)
                .cloned()
                .collect()
        } else {
            model
                .iter()
                .filter(|k| in_range(k))
                .take(limit)
                .cloned()
                .collect()
        };
        assert_eq!(got, want, "{lo:?}..{hi:?} reverse={reverse} limit={limit}");
    }
}

/// A big tree's leaves live in chunks mapped directly (huge-page
/// candidates), and the public figure memory measurements add counts them
/// (other tests' trees can only add to it).
#[cfg(target_os = "linux")]
#[test]
fn a_big_trees_leaves_are_counted_as_mapped_memory() {
    let art = Art::new();
    // 200,000 one-line leaves: 12.8 MB, so at least four 2 MiB chunks
    // after the smaller first ones.
    for i in 0..200_000u32 {
        art.insert(&i.to_be_bytes(), 1, Some(b"v"));
    }
    let mapped = strata_art::mapped_bytes();
    assert!(mapped >= 4 * (2 << 20), "{mapped}");
    assert_eq!(
        art.get(&7u32.to_be_bytes(), 1),
        Some((1, Some(b"v".to_vec())))
    );
}
