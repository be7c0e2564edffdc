//! Scan speed: 100-key forward scans from random start keys over 1,000,000
//! random 16-byte keys (8-byte values), `Art::scan` against a
//! `RwLock<BTreeMap>` laid out like `strata::memtable::BTreeMemtable` (each
//! key maps to its versions, newest first; the visitor gets a reused slice).
//!
//! `cargo run --release -p strata-art --example scan_bench [KEYS] [ROUNDS]`
//!
//! Both structures are measured in the same process, alternating every 500
//! scans so that load from other processes hits both alike; the report
//! gives each round's ratio and the median.

use std::collections::BTreeMap;
use std::hint::black_box;
use std::ops::{Bound, ControlFlow};
use std::sync::RwLock;
use std::time::Instant;

use strata_art::{Art, ScanVisitor};

/// SplitMix64: every key comes from a fixed seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }
}

type Versions = Vec<(u64, Option<Box<[u8]>>)>;

/// The baseline, scanned the way `BTreeMemtable::scan` does it.
fn btree_scan(
    map: &RwLock<BTreeMap<Box<[u8]>, Versions>>,
    from: &[u8],
    visitor: &mut ScanVisitor<'_>,
) {
    let map = map.read().unwrap_or_else(|p| p.into_inner());
    let mut buf = Vec::new();
    for (k, vs) in map.range::<[u8], _>((Bound::Included(from), Bound::Unbounded)) {
        buf.clear();
        buf.extend(vs.iter().map(|(s, v)| (*s, v.as_deref())));
        if visitor(k, &buf).is_break() {
            return;
        }
    }
}

const SCAN_KEYS: usize = 100;
const SCANS_PER_ROUND: usize = 50_000;
const CHUNK: usize = 500;

fn main() {
    let mut args = std::env::args().skip(1);
    let key_count: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);

    let mut rng = Rng(0x5CA7_BE4C);
    let keys: Vec<[u8; 16]> = (0..key_count)
        .map(|_| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&rng.next().to_be_bytes());
            k[8..].copy_from_slice(&rng.next().to_be_bytes());
            k
        })
        .collect();
    let art = Art::new();
    let btree: RwLock<BTreeMap<Box<[u8]>, Versions>> = RwLock::new(BTreeMap::new());
    for (i, k) in keys.iter().enumerate() {
        art.insert(k, i as u64, Some(&[1; 8]));
        btree.write().unwrap().insert(
            k[..].into(),
            vec![(i as u64, Some(Box::from(&[1u8; 8][..])))],
        );
    }
    let probes: Vec<[u8; 16]> = (0..SCANS_PER_ROUND)
        .map(|_| keys[(rng.next() % key_count as u64) as usize])
        .collect();

    let mut ratios = Vec::new();
    for round in 0..rounds {
        // Alternate every CHUNK scans, so a burst of load from other
        // processes hits both structures alike.
        let mut ns = [0u128; 2];
        let mut seen_total = [0usize; 2];
        for chunk in probes.chunks(CHUNK) {
            for (which, slot) in ns.iter_mut().enumerate() {
                let t = Instant::now();
                for from in chunk {
                    let mut seen = 0;
                    let mut visit = |k: &[u8], vs: &[(u64, Option<&[u8]>)]| {
                        black_box((k, vs));
                        seen += 1;
                        if seen == SCAN_KEYS {
                            ControlFlow::Break(())
                        } else {
                            ControlFlow::Continue(())
                        }
                    };
                    if which == 0 {
                        art.scan(Bound::Included(from), Bound::Unbounded, false, &mut visit);
                    } else {
                        btree_scan(&btree, from, &mut visit);
                    }
                    seen_total[which] += seen;
                }
                *slot += t.elapsed().as_nanos();
            }
        }
        // Both saw the same keys (scans near the end stop short of 100).
        assert_eq!(seen_total[0], seen_total[1]);
        let us = ns.map(|n| n as f64 / probes.len() as f64 / 1e3);
        let ratio = us[0] / us[1];
        println!(
            "round {round}: art {:.2} us/scan, btree {:.2} us/scan, ratio {ratio:.2}",
            us[0], us[1]
        );
        ratios.push(ratio);
    }
    ratios.sort_by(f64::total_cmp);
    println!(
        "median ratio art/btree over {rounds} rounds: {:.2} (min {:.2}, max {:.2})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
