//! Property test: random operation sequences against a `BTreeMap` model,
//! with `check()` after every mutation.

use std::collections::BTreeMap;
use std::ops::{Bound, ControlFlow};

use proptest::prelude::*;
use proptest::test_runner::RngSeed;
use strata_art::Art;

type Entries = Vec<(u64, Option<Vec<u8>>)>;

#[derive(Clone, Debug)]
enum Op {
    Insert(Vec<u8>, u64, Option<Vec<u8>>),
    Get(Vec<u8>, u64),
    Remove(Vec<u8>),
    Scan(Bound<Vec<u8>>, Bound<Vec<u8>>, bool, usize),
}

/// Keys from a tiny alphabet (shared prefixes, prefixes of one another, the
/// empty key), plus keys past 300 bytes sharing one long prefix.
fn key() -> impl Strategy<Value = Vec<u8>> {
    let short = prop::collection::vec(prop::sample::select(vec![0u8, b'a', b'b', 0xFF]), 0..5);
    let long = (
        300usize..340,
        prop::collection::vec(prop::sample::select(vec![b'a', b'z']), 0..3),
    )
        .prop_map(|(n, tail)| {
            let mut k: Vec<u8> = (0..n).map(|i| b'a' + (i % 3) as u8).collect();
            k.extend(tail);
            k
        });
    prop_oneof![4 => short, 1 => long]
}

fn bound() -> impl Strategy<Value = Bound<Vec<u8>>> {
    prop_oneof![
        1 => Just(Bound::Unbounded),
        2 => key().prop_map(Bound::Included),
        2 => key().prop_map(Bound::Excluded),
    ]
}

fn op() -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (key(), 1u64..60, prop::option::weighted(0.8, prop::collection::vec(any::<u8>(), 0..4)))
            .prop_map(|(k, s, v)| Op::Insert(k, s, v)),
        3 => (key(), 0u64..64).prop_map(|(k, s)| Op::Get(k, s)),
        2 => key().prop_map(Op::Remove),
        2 => (bound(), bound(), any::<bool>(), 1usize..40).prop_map(|(l, u, r, n)| Op::Scan(l, u, r, n)),
    ]
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

fn in_range(k: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    (match lo {
        Bound::Included(l) => k >= &l[..],
        Bound::Excluded(l) => k > &l[..],
        Bound::Unbounded => true,
    }) && (match hi {
        Bound::Included(u) => k <= &u[..],
        Bound::Excluded(u) => k < &u[..],
        Bound::Unbounded => true,
    })
}

fn run(ops: Vec<Op>) {
    let art = Art::new();
    let mut model: BTreeMap<Vec<u8>, Entries> = BTreeMap::new();
    for op in ops {
        match op {
            Op::Insert(k, s, v) => {
                let vs = model.entry(k.clone()).or_default();
                if vs.iter().any(|(x, _)| *x == s) {
                    continue; // a (key, seqno) pair is inserted at most once
                }
                let pos = vs.partition_point(|(x, _)| *x > s);
                vs.insert(pos, (s, v.clone()));
                art.insert(&k, s, v.as_deref());
                art.check();
            }
            Op::Get(k, at) => {
                let want = model
                    .get(&k)
                    .and_then(|vs| vs.iter().find(|(s, _)| *s <= at).cloned());
                assert_eq!(art.get(&k, at), want, "get {k:?} at {at}");
            }
            Op::Remove(k) => {
                assert_eq!(art.remove(&k), model.remove(&k).is_some(), "remove {k:?}");
                art.check();
            }
            Op::Scan(lo, hi, reverse, limit) => {
                let mut got: Vec<(Vec<u8>, Entries)> = Vec::new();
                art.scan(as_ref(&lo), as_ref(&hi), reverse, &mut |k, vs| {
                    got.push((
                        k.to_vec(),
                        vs.iter()
                            .map(|(s, v)| (*s, v.map(<[u8]>::to_vec)))
                            .collect(),
                    ));
                    if got.len() == limit {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                });
                let filtered = model.iter().filter(|(k, _)| in_range(k, &lo, &hi));
                let want: Vec<(Vec<u8>, Entries)> = if reverse {
                    filtered
                        .rev()
                        .take(limit)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                } else {
                    filtered
                        .take(limit)
                        .map(|(k, v)| (k.clone(), v.clone()))
                        .collect()
                };
                assert_eq!(got, want, "scan {lo:?}..{hi:?} reverse={reverse}");
            }
        }
        assert_eq!(art.len(), model.len());
    }
}

// proptest draws cases from its own generator (its shrinking needs it), not
// SplitMix64; a fixed `RngSeed` keeps each run a pure function of that seed.
proptest! {
    #![proptest_config(ProptestConfig { cases: 300, rng_seed: RngSeed::Fixed(0x05EE_DA27), ..ProptestConfig::default() })]
    #[test]
    fn art_matches_btreemap(ops in prop::collection::vec(op(), 1..150)) {
        run(ops);
    }
}

// Many keys under one byte: nodes pass through every kind both ways.
proptest! {
    #![proptest_config(ProptestConfig { cases: 40, rng_seed: RngSeed::Fixed(0x05EE_DA28), ..ProptestConfig::default() })]
    #[test]
    fn wide_fanout_matches_btreemap(ops in prop::collection::vec(
        prop_oneof![
            3 => (any::<u8>(), prop::option::of(any::<u8>()), 1u64..4)
                .prop_map(|(a, b, s)| Op::Insert(std::iter::once(a).chain(b).collect(), s, Some(vec![a]))),
            2 => (any::<u8>(), prop::option::of(any::<u8>()))
                .prop_map(|(a, b)| Op::Remove(std::iter::once(a).chain(b).collect())),
            1 => (bound(), bound(), any::<bool>()).prop_map(|(l, u, r)| Op::Scan(l, u, r, 1000)),
        ], 1..600)) {
        run(ops);
    }
}
