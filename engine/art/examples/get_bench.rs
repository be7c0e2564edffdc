//! Point-lookup speed: random hits over 1,000,000 random 16-byte keys
//! (8-byte values), `Art::get` against a `RwLock<BTreeMap>` laid out and
//! read like `strata::memtable::BTreeMemtable` (each key maps to its
//! versions, newest first; `get` returns an owned value).
//!
//! `cargo run --release -p strata-art --example get_bench [KEYS] [ROUNDS]`
//!
//! Both structures are measured in the same process, alternating every
//! 1,000 lookups so that load from other processes hits both alike; the
//! report gives each round's ratio and the median.

use std::hint::black_box;
use std::time::Instant;

mod common;

use common::Baseline;
use strata_art::testing::SplitMix64;

/// The baseline, read the way `BTreeMemtable::get` does it.
fn btree_get(map: &Baseline, key: &[u8], at: u64) -> Option<(u64, Option<Vec<u8>>)> {
    let map = map.read().unwrap_or_else(|p| p.into_inner());
    let versions = map.get(key)?;
    versions
        .iter()
        .find(|(s, _)| *s <= at)
        .map(|(s, v)| (*s, v.as_deref().map(<[u8]>::to_vec)))
}

const GETS_PER_ROUND: usize = 1_000_000;
const CHUNK: usize = 1_000;

fn main() {
    let (key_count, rounds) = common::args();
    let mut rng = SplitMix64::new(0x6E7B_E4C4);
    let (art, btree, probes) = common::load(&mut rng, key_count, GETS_PER_ROUND);

    let mut ratios = Vec::new();
    for round in 0..rounds {
        let mut ns = [0u128; 2];
        let mut hits = [0usize; 2];
        for chunk in probes.chunks(CHUNK) {
            for (which, slot) in ns.iter_mut().enumerate() {
                let t = Instant::now();
                for k in chunk {
                    let found = if which == 0 {
                        art.get(k, u64::MAX)
                    } else {
                        btree_get(&btree, k, u64::MAX)
                    };
                    hits[which] += usize::from(black_box(found).is_some());
                }
                *slot += t.elapsed().as_nanos();
            }
        }
        // Every probe is a hit in both.
        assert_eq!(hits, [probes.len(); 2]);
        let ns_per = ns.map(|n| n as f64 / probes.len() as f64);
        let ratio = ns_per[1] / ns_per[0];
        println!(
            "round {round}: art {:.0} ns/get, btree {:.0} ns/get, btree/art {ratio:.2}x",
            ns_per[0], ns_per[1]
        );
        ratios.push(ratio);
    }
    common::summarize("speed-up btree/art", ratios);
}
