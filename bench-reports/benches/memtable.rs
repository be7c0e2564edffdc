//! Memtable benchmarks: every kind in `strata_bench::workload::map_kinds()`
//! (the concurrent ART, `RwLock<BTreeMap>`, crossbeam's `SkipMap`) on
//! inserts (random and sequential keys), point lookups (hits and misses),
//! 100-key range scans, and mixed reads/writes on 1 and 2 threads;
//! key sizes 8, 16 and 64 bytes, 8-byte values.
//!
//! `STRATA_BENCH_ENTRIES` (default 1,000,000) sets the table size.
//! Group and id layout (read by the report generator):
//! - `memtable_insert_{random,sequential}/<kind>/<key bytes>`: one iteration
//!   inserts all entries into a fresh table (throughput in entries).
//! - `memtable_get_{hit,miss}/<kind>/<key bytes>`: one lookup, borrowed
//!   (`BenchMap::lookup`: the value is read in place, not copied out).
//! - `memtable_scan100/<kind>/<key bytes>`: one 100-key forward scan.
//! - `memtable_mixed/<kind>/<threads>`: one iteration is one insert of a new
//!   key and one lookup of a loaded key, done by one thread (1) or by a
//!   writer thread and a reader thread at once (2); 16-byte keys.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{
    criterion_group, criterion_main, BenchmarkId, Criterion, SamplingMode, Throughput,
};
use strata_bench::workload::{
    env_count, key_into, load, map_kinds, value_for, BenchMap, KeyPattern, SplitMix64,
};

mod common;

const KEY_SIZES: [usize; 3] = [8, 16, 64];
const SCAN_KEYS: usize = 100;
const MIXED_KEY_BYTES: usize = 16;
/// Fewest iterations per sample of the 2-thread mixed benchmark.
const MIXED_OPS_MIN: u64 = 20_000;

fn entries() -> u64 {
    env_count("STRATA_BENCH_ENTRIES", 1_000_000)
}

fn inserts(c: &mut Criterion) {
    let n = entries();
    for (pattern, group_name) in [
        (KeyPattern::Random, "memtable_insert_random"),
        (KeyPattern::Sequential, "memtable_insert_sequential"),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(n));
        for key_bytes in KEY_SIZES {
            // Keys are made before timing so only the inserts are measured.
            let mut keys = Vec::with_capacity(n as usize);
            let mut k = Vec::new();
            for i in 0..n {
                key_into(&mut k, i, key_bytes, pattern);
                keys.push(k.clone());
            }
            for kind in map_kinds() {
                group.bench_function(BenchmarkId::new(kind.name, key_bytes), |b| {
                    b.iter_custom(|iters| {
                        let mut total = Duration::ZERO;
                        for _ in 0..iters {
                            let map = (kind.make)();
                            let start = Instant::now();
                            for (i, key) in keys.iter().enumerate() {
                                map.put(key, i as u64 + 1, &value_for(i as u64));
                            }
                            total += start.elapsed();
                            assert_eq!(map.len(), n as usize);
                            drop(map); // untimed
                        }
                        total
                    })
                });
            }
        }
        group.finish();
    }
}

/// Lookups (hits, misses) and scans on tables loaded with `n` random keys.
fn lookups_and_scans(c: &mut Criterion) {
    let n = entries();
    for key_bytes in KEY_SIZES {
        for kind in map_kinds() {
            let map = (kind.make)();
            load(map.as_ref(), n, key_bytes, KeyPattern::Random);
            assert_eq!(map.len(), n as usize);
            lookup_group(c, "memtable_get_hit", kind.name, map.as_ref(), key_bytes, 0);
            // Indexes past n: keys never inserted.
            lookup_group(
                c,
                "memtable_get_miss",
                kind.name,
                map.as_ref(),
                key_bytes,
                n,
            );
            let mut group = c.benchmark_group("memtable_scan100");
            group.throughput(Throughput::Elements(SCAN_KEYS as u64));
            let mut rng = SplitMix64::new(0x5CA7 ^ key_bytes as u64);
            let mut k = Vec::new();
            group.bench_function(BenchmarkId::new(kind.name, key_bytes), |b| {
                b.iter(|| {
                    key_into(&mut k, rng.below(n), key_bytes, KeyPattern::Random);
                    black_box(map.scan(&k, SCAN_KEYS))
                })
            });
            group.finish();
            if key_bytes == MIXED_KEY_BYTES {
                mixed(c, kind.name, map.as_ref(), n);
            }
        }
    }
}

fn lookup_group(
    c: &mut Criterion,
    group_name: &str,
    kind: &str,
    map: &dyn BenchMap,
    key_bytes: usize,
    index_offset: u64,
) {
    let n = map.len() as u64;
    let mut group = c.benchmark_group(group_name);
    group.throughput(Throughput::Elements(1));
    let mut rng = SplitMix64::new(0x600D ^ index_offset ^ key_bytes as u64);
    let mut k = Vec::new();
    let hit = index_offset == 0;
    group.bench_function(BenchmarkId::new(kind, key_bytes), |b| {
        b.iter(|| {
            key_into(
                &mut k,
                index_offset + rng.below(n),
                key_bytes,
                KeyPattern::Random,
            );
            let got = map.lookup(&k);
            debug_assert_eq!(got.is_some(), hit);
            black_box(got)
        })
    });
    group.finish();
}

/// Mixed reads and writes on a loaded table: 1 thread doing both, or one
/// writer thread and one reader thread.
fn mixed(c: &mut Criterion, kind: &str, map: &dyn BenchMap, loaded: u64) {
    let mut group = c.benchmark_group("memtable_mixed");
    group.throughput(Throughput::Elements(2)); // one insert + one lookup
                                               // New keys come after the loaded ones; sequence numbers continue.
    let next_index = AtomicU64::new(loaded);
    let key_bytes = MIXED_KEY_BYTES;
    let write = |rng_index: u64, k: &mut Vec<u8>| {
        key_into(k, rng_index, key_bytes, KeyPattern::Random);
        map.put(k, rng_index + 1, &value_for(rng_index));
    };
    let read = |rng: &mut SplitMix64, k: &mut Vec<u8>| {
        key_into(k, rng.below(loaded), key_bytes, KeyPattern::Random);
        black_box(map.lookup(k))
    };
    group.bench_function(BenchmarkId::new(kind, 1), |b| {
        let mut rng = SplitMix64::new(0x1111);
        let mut k = Vec::new();
        b.iter_custom(|iters| {
            let first = next_index.fetch_add(iters, Ordering::Relaxed);
            let start = Instant::now();
            for i in 0..iters {
                write(first + i, &mut k);
                read(&mut rng, &mut k);
            }
            start.elapsed()
        })
    });
    group.bench_function(BenchmarkId::new(kind, 2), |b| {
        let mut seed = 0x2222u64;
        b.iter_custom(|requested| {
            // Two thread spawns cost tens of microseconds: run at least
            // MIXED_OPS_MIN iterations per sample and scale the time back.
            let iters = requested.max(MIXED_OPS_MIN);
            seed += 1;
            let first = next_index.fetch_add(iters, Ordering::Relaxed);
            let start = Instant::now();
            std::thread::scope(|s| {
                s.spawn(|| {
                    let mut k = Vec::new();
                    for i in 0..iters {
                        write(first + i, &mut k);
                    }
                });
                s.spawn(|| {
                    let mut rng = SplitMix64::new(seed);
                    let mut k = Vec::new();
                    for _ in 0..iters {
                        read(&mut rng, &mut k);
                    }
                });
            });
            start.elapsed().mul_f64(requested as f64 / iters as f64)
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(Duration::from_secs(3));
    targets = lookups_and_scans, inserts
}
criterion_main!(benches);
