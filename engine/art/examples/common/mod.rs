//! Setup shared by the same-process timing examples (`get_bench`,
//! `scan_bench`): seeded random 16-byte keys loaded into an `Art` and into a
//! `RwLock<BTreeMap>` laid out like `strata::memtable::BTreeMemtable` (each
//! key maps to its versions, newest first), and the rounds summary.

use std::collections::BTreeMap;
use std::sync::RwLock;

use strata_art::testing::SplitMix64;
use strata_art::Art;

/// One key's versions, newest first, as the baseline memtable keeps them.
pub type Entries = Vec<(u64, Option<Box<[u8]>>)>;

/// The baseline structure.
pub type Baseline = RwLock<BTreeMap<Box<[u8]>, Entries>>;

/// `[KEYS] [ROUNDS]` from the command line (defaults 1,000,000 and 7).
pub fn args() -> (usize, usize) {
    let mut args = std::env::args().skip(1);
    let key_count = args
        .next()
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let rounds = args.next().and_then(|a| a.parse().ok()).unwrap_or(7);
    (key_count, rounds)
}

/// `key_count` random 16-byte keys, each with one 8-byte value, loaded into
/// both structures; then `probes` keys drawn from them.
pub fn load(
    rng: &mut SplitMix64,
    key_count: usize,
    probes: usize,
) -> (Art, Baseline, Vec<[u8; 16]>) {
    let keys: Vec<[u8; 16]> = (0..key_count)
        .map(|_| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&rng.next_u64().to_be_bytes());
            k[8..].copy_from_slice(&rng.next_u64().to_be_bytes());
            k
        })
        .collect();
    let art = Art::new();
    let btree: Baseline = RwLock::new(BTreeMap::new());
    for (i, k) in keys.iter().enumerate() {
        art.insert(k, i as u64, Some(&[1; 8]));
        btree.write().unwrap().insert(
            k[..].into(),
            vec![(i as u64, Some(Box::from(&[1u8; 8][..])))],
        );
    }
    let probes = (0..probes)
        .map(|_| keys[rng.below(key_count as u64) as usize])
        .collect();
    (art, btree, probes)
}

/// Prints the median, minimum and maximum of the rounds' ratios.
pub fn summarize(what: &str, mut ratios: Vec<f64>) {
    ratios.sort_by(f64::total_cmp);
    println!(
        "median {what} over {} rounds: {:.2} (min {:.2}, max {:.2})",
        ratios.len(),
        ratios[ratios.len() / 2],
        ratios[0],
        ratios[ratios.len() - 1]
    );
}
