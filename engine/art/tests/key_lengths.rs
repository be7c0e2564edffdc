//! Keys of every length round-trip, and every allocation is freed.
//!
//! Keys up to 22 bytes live inside the leaf; longer ones follow it in the
//! leaf's own allocation. Alone in its binary for the reason given in
//! `value_lengths.rs`: its final check counts live allocations after the
//! epoch has advanced.

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};

use strata_art::testing::SplitMix64;
use strata_art::Art;

/// Every key length from 0 to 300 bytes (and 4 KiB, 64 KiB), both as
/// nested keys (each a prefix of the next: terminal leaves) and as random
/// keys (leaves in child slots), reads back through `get` and both scan
/// directions; memory accounting counts a long key's bytes; removing keys
/// and dropping the tree frees every allocation.
#[test]
fn keys_of_every_length_round_trip() {
    let mut rng = SplitMix64::new(0x4B45_594C);
    let base: Vec<u8> = (0..65_536u32).map(|i| (i * 7 % 251) as u8).collect();
    let lengths: Vec<usize> = (0..=300).chain([4096, 65_536]).collect();
    let mut model = BTreeMap::new();
    for &len in &lengths {
        model.insert(base[..len].to_vec(), len as u64);
        let random: Vec<u8> = (0..len).map(|_| rng.below(256) as u8).collect();
        model.insert(random, len as u64 + 100_000);
    }
    let (art, allocations) = Art::with_allocation_counter();
    for (i, (key, &v)) in model.iter().enumerate() {
        art.insert(key, i as u64 + 1, Some(&v.to_le_bytes()));
    }
    art.check();
    assert_eq!(art.len(), model.len());
    for (i, (key, &v)) in model.iter().enumerate() {
        let want = Some((i as u64 + 1, Some(v.to_le_bytes().to_vec())));
        assert_eq!(art.get(key, u64::MAX), want, "key of {} bytes", key.len());
        // One byte more or less is another key, or none.
        let mut longer = key.clone();
        longer.push(0xEE);
        if !model.contains_key(&longer) {
            assert_eq!(art.get(&longer, u64::MAX), None);
        }
    }
    for reverse in [false, true] {
        let mut got = Vec::new();
        art.scan(
            Bound::Unbounded,
            Bound::Unbounded,
            reverse,
            &mut |key, versions| {
                got.push((key.to_vec(), versions.len()));
                ControlFlow::Continue(())
            },
        );
        let mut want: Vec<_> = model.keys().map(|k| (k.clone(), 1)).collect();
        if reverse {
            want.reverse();
        }
        assert!(got == want, "scan (reverse: {reverse}) differs");
    }

    // A long key's bytes are counted once it is in, and released with it.
    let before = art.approximate_memory();
    let long = vec![0xABu8; 1000];
    art.insert(&long, 1, None);
    let with = art.approximate_memory();
    assert!(with >= before + 1000, "{before} -> {with}");
    assert!(art.remove(&long));
    assert_eq!(art.approximate_memory(), before);

    for (i, key) in model.keys().enumerate() {
        if i % 2 == 0 {
            assert!(art.remove(key));
        }
    }
    art.check();
    for (i, key) in model.keys().enumerate() {
        assert_eq!(art.get(key, u64::MAX).is_some(), i % 2 == 1);
    }
    drop(art);
    for _ in 0..64 {
        crossbeam_epoch::pin().flush();
    }
    assert_eq!(allocations.load(std::sync::atomic::Ordering::Relaxed), 0);
}
