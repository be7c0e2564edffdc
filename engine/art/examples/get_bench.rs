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

use std::collections::BTreeMap;
use std::hint::black_box;
use std::sync::RwLock;
use std::time::Instant;

use strata_art::Art;

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

/// The baseline, read the way `BTreeMemtable::get` does it.
fn btree_get(
    map: &RwLock<BTreeMap<Box<[u8]>, Versions>>,
    key: &[u8],
    at: u64,
) -> Option<(u64, Option<Vec<u8>>)> {
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
    let mut args = std::env::args().skip(1);
    let key_count: usize = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);

    let mut rng = Rng(0x6E7B_E4C4);
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
    let probes: Vec<[u8; 16]> = (0..GETS_PER_ROUND)
        .map(|_| keys[(rng.next() % key_count as u64) as usize])
        .collect();

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
    ratios.sort_by(f64::total_cmp);
    println!(
        "median speed-up btree/art over {rounds} rounds: {:.2}x (min {:.2}, max {:.2})",
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
