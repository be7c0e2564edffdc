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

use std::hint::black_box;
use std::ops::{Bound, ControlFlow};
use std::time::Instant;

use strata_art::ScanVisitor;

mod common;

use common::Baseline;
use strata_art::testing::SplitMix64;

/// The baseline, scanned the way `BTreeMemtable::scan` does it.
fn btree_scan(map: &Baseline, from: &[u8], visitor: &mut ScanVisitor<'_>) {
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
    let (key_count, rounds) = common::args();
    let mut rng = SplitMix64::new(0x5CA7_BE4C);
    let (art, btree, probes) = common::load(&mut rng, key_count, SCANS_PER_ROUND);

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
    common::summarize("ratio art/btree", ratios);
}
