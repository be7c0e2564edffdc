//! Multi-threaded stress: writers on overlapping keys, a churner inserting
//! and removing keys in the same nodes, readers and scanners checking what
//! they may observe. Bounded by operation counts; seeded workloads.

use std::collections::HashMap;
use std::ops::{Bound, ControlFlow};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::thread;

use strata_art::testing::SplitMix64;
use strata_art::Art;

const STABLE: u32 = 1500;
/// Operations per writer thread.
const OPS: u64 = 150_000;

/// Stable keys (even `i`) and churn keys (odd `i`) share nodes; some keys
/// are prefixes of others.
fn key(i: u32) -> Vec<u8> {
    let mut k = vec![(i % 5) as u8, b'/', (i % 251) as u8];
    k.extend_from_slice(&i.to_be_bytes()[2..]);
    if i % 4 == 0 {
        k.push(b'!');
    }
    k
}

#[test]
fn concurrent_writers_readers_scanners() {
    let art = Arc::new(Art::new());
    let seq = Arc::new(AtomicU64::new(1));
    // Half the stable keys exist before any thread starts: every scan must
    // see all of them.
    for i in (0..STABLE).step_by(4) {
        art.insert(
            &key(i * 2),
            seq.fetch_add(1, Ordering::Relaxed),
            Some(b"pre"),
        );
    }
    let done = Arc::new(AtomicBool::new(false));
    let mut handles = Vec::new();
    for w in 0..2u64 {
        let (art, seq) = (art.clone(), seq.clone());
        handles.push(thread::spawn(move || {
            let mut rng = SplitMix64::new(0xA11CE + w);
            let mut inserted = 0u64;
            for _ in 0..OPS {
                let i = rng.below(u64::from(STABLE)) as u32 * 2;
                let s = seq.fetch_add(1, Ordering::Relaxed);
                art.insert(&key(i), s, Some(&s.to_le_bytes()));
                inserted += 1;
            }
            inserted
        }));
    }
    {
        let art = art.clone();
        handles.push(thread::spawn(move || {
            let mut rng = SplitMix64::new(0xC0FFEE);
            for n in 0..OPS {
                let i = rng.below(u64::from(STABLE)) as u32 * 2 + 1;
                if rng.below(2) == 0 {
                    art.insert(&key(i), n, None);
                } else {
                    art.remove(&key(i));
                }
            }
            0
        }));
    }
    let mut readers = Vec::new();
    for r in 0..2u64 {
        let (art, done) = (art.clone(), done.clone());
        readers.push(thread::spawn(move || {
            let mut rng = SplitMix64::new(0xBEEF + r);
            let mut seen: HashMap<u32, u64> = HashMap::new();
            let mut rounds = 0u64;
            while !done.load(Ordering::Relaxed) || rounds < 100 {
                rounds += 1;
                let i = rng.below(u64::from(STABLE)) as u32 * 2;
                match art.get(&key(i), u64::MAX) {
                    Some((s, v)) => {
                        let v = v.expect("stable keys hold values");
                        assert!(v == b"pre" || v == s.to_le_bytes(), "value of seqno {s}");
                        let last = seen.entry(i).or_insert(0);
                        assert!(s >= *last, "key {i}: version went back {last} -> {s}");
                        *last = s;
                    }
                    None => assert!(!seen.contains_key(&i), "key {i} disappeared"),
                }
                if r == 1 && rounds % 50 == 0 {
                    // A scan: ordered, each key once, every pre-inserted key.
                    let mut prev: Option<Vec<u8>> = None;
                    let mut pre = 0;
                    art.scan(
                        Bound::Unbounded,
                        Bound::Unbounded,
                        rounds % 400 == 0,
                        &mut |k, vs| {
                            if let Some(p) = &prev {
                                let ordered = if rounds % 400 == 0 {
                                    k < &p[..]
                                } else {
                                    k > &p[..]
                                };
                                assert!(ordered, "scan order broken at {k:?}");
                            }
                            assert!(vs.windows(2).all(|w| w[0].0 >= w[1].0));
                            if vs.last().map(|v| v.1) == Some(Some(&b"pre"[..])) {
                                pre += 1;
                            }
                            prev = Some(k.to_vec());
                            ControlFlow::Continue(())
                        },
                    );
                    assert_eq!(
                        pre,
                        STABLE.div_ceil(4) as usize,
                        "a pre-inserted key was missed"
                    );
                }
            }
            rounds
        }));
    }
    let mut inserted = 0;
    for h in handles {
        inserted += h.join().unwrap();
    }
    done.store(true, Ordering::Relaxed);
    for r in readers {
        assert!(r.join().unwrap() >= 100);
    }
    let report = art.check();
    // Every stable version is there.
    let mut versions = 0u64;
    art.scan(Bound::Unbounded, Bound::Unbounded, false, &mut |_, vs| {
        // Stable keys hold values only; churn keys tombstones only.
        if vs[0].1.is_some() {
            versions += vs.len() as u64;
        }
        ControlFlow::Continue(())
    });
    assert_eq!(versions, inserted + u64::from(STABLE.div_ceil(4)));
    assert!(report.keys >= STABLE as usize / 2);
}
