//! Values of every length round-trip, and every allocation is freed.
//!
//! Alone in its binary on purpose: its final check counts live allocations
//! after the epoch has advanced, and a test running beside it in another
//! thread can hold the global epoch pinned and delay those frees (it failed
//! about 1 run in 6 while it lived in `basic.rs`).

use std::ops::{Bound, ControlFlow};

use strata_art::Art;

/// Values are stored inline up to 14 bytes and on the heap beyond: every
/// length on both sides of that boundary (and empty values and tombstones,
/// which differ) reads back exactly through `get`, `scan` and `versions`,
/// for a key's first version (inside the leaf) and later ones.
#[test]
fn values_of_every_length_round_trip() {
    let value = |key: u8, seqno: u64, len: usize| -> Vec<u8> {
        (0..len)
            .map(|i| key ^ (seqno as u8).wrapping_mul(31) ^ i as u8)
            .collect()
    };
    let (art, allocations) = Art::with_allocation_counter();
    for len in 0..=40u8 {
        let key = [b'k', len];
        art.insert(&key, 10, Some(&value(len, 10, len.into())));
        art.insert(&key, 20, Some(&value(len, 20, 3 * len as usize)));
        art.insert(&key, 30, None);
        art.insert(&key, 5, Some(&value(len, 5, 1000)));
    }
    for len in 0..=40u8 {
        let key = [b'k', len];
        assert_eq!(art.get(&key, u64::MAX), Some((30, None)));
        assert_eq!(
            art.get(&key, 29),
            Some((20, Some(value(len, 20, 3 * len as usize))))
        );
        assert_eq!(
            art.get(&key, 19),
            Some((10, Some(value(len, 10, len.into()))))
        );
        assert_eq!(art.get(&key, 9), Some((5, Some(value(len, 5, 1000)))));
        assert_eq!(art.get(&key, 4), None);
    }
    let mut seen = 0;
    art.scan(
        Bound::Unbounded,
        Bound::Unbounded,
        false,
        &mut |key, versions| {
            let len = key[1];
            let expected: Vec<(u64, Option<Vec<u8>>)> = vec![
                (30, None),
                (20, Some(value(len, 20, 3 * len as usize))),
                (10, Some(value(len, 10, len.into()))),
                (5, Some(value(len, 5, 1000))),
            ];
            let got: Vec<(u64, Option<Vec<u8>>)> = versions
                .iter()
                .map(|(s, v)| (*s, v.map(<[u8]>::to_vec)))
                .collect();
            assert_eq!(got, expected, "key {key:?}");
            seen += 1;
            ControlFlow::Continue(())
        },
    );
    assert_eq!(seen, 41);
    drop(art);
    // This is the only test in its binary, so no other thread holds the
    // epoch back: a few pins advance it past the retired memory.
    for _ in 0..64 {
        crossbeam_epoch::pin().flush();
    }
    assert_eq!(allocations.load(std::sync::atomic::Ordering::Relaxed), 0);
}
