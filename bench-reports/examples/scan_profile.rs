//! Profiling aid: 100-key scans over 1M random 16-byte keys, ART vs
//! `RwLock<BTreeMap>`. `cargo run --release -p strata-bench --example scan_profile`.

use std::hint::black_box;
use std::ops::{Bound, ControlFlow};
use std::time::Instant;

use strata::memtable::{ArtMemtable, BTreeMemtable, Memtable};
use strata::Direction;

fn main() {
    let mut x = 0x5EEDu64;
    let mut next = move || {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        x
    };
    let keys: Vec<[u8; 16]> = (0..1_000_000)
        .map(|_| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&next().to_be_bytes());
            k[8..].copy_from_slice(&next().to_be_bytes());
            k
        })
        .collect();
    let art = ArtMemtable::new();
    let bt = BTreeMemtable::new();
    for (i, k) in keys.iter().enumerate() {
        art.insert(k, i as u64, Some(&[1; 8]));
        bt.insert(k, i as u64, Some(&[1; 8]));
    }
    let which = std::env::args().nth(1).unwrap_or_default();
    for (name, m) in [
        ("art", &art as &dyn Memtable),
        ("btree", &bt as &dyn Memtable),
    ] {
        if !which.is_empty() && which != name {
            continue;
        }
        let t = Instant::now();
        let mut n = 0;
        for i in 0..200_000 {
            let from = &keys[(i * 7919) % keys.len()];
            let mut c = 0;
            m.scan(
                Bound::Included(&from[..]),
                Bound::Unbounded,
                Direction::Forward,
                &mut |k, vs| {
                    black_box((k, vs));
                    c += 1;
                    if c == 100 {
                        ControlFlow::Break(())
                    } else {
                        ControlFlow::Continue(())
                    }
                },
            );
            n += c;
        }
        println!(
            "{name}: {:.1} ns/key",
            t.elapsed().as_nanos() as f64 / n as f64
        );
    }
}
