//! Memtable comparison: the ART, `RwLock<BTreeMap>` and crossbeam's
//! `SkipMap`, on 16-byte random keys. Every structure is used through the
//! same shape of API (insert a version, get the newest visible version as an
//! owned value, scan 100 keys in order).
//!
//! Run: `cargo bench -p strata-bench --bench memtable -- --sample-size 10`
//! (`ART_BENCH_KEYS` sets the table size, default 1,000,000).

use std::hint::black_box;
use std::ops::{Bound, ControlFlow};

use criterion::{criterion_group, criterion_main, BatchSize, Criterion, Throughput};
use crossbeam_skiplist::SkipMap;
use strata::memtable::{ArtMemtable, BTreeMemtable, Memtable};
use strata::Direction;

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

fn keys(n: usize, seed: u64) -> Vec<[u8; 16]> {
    let mut r = Rng(seed);
    (0..n)
        .map(|_| {
            let mut k = [0u8; 16];
            k[..8].copy_from_slice(&r.next().to_be_bytes());
            k[8..].copy_from_slice(&r.next().to_be_bytes());
            k
        })
        .collect()
}

fn table_keys() -> usize {
    std::env::var("ART_BENCH_KEYS")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(1_000_000)
}

/// The SkipMap baseline, with versions keyed `(key, !seqno)`.
#[derive(Default)]
struct Skip(SkipMap<(Vec<u8>, u64), Option<Vec<u8>>>);

impl Skip {
    fn insert(&self, k: &[u8], s: u64, v: Option<&[u8]>) {
        self.0.insert((k.to_vec(), !s), v.map(<[u8]>::to_vec));
    }
    fn get(&self, k: &[u8], at: u64) -> Option<(u64, Option<Vec<u8>>)> {
        let e = self.0.lower_bound(Bound::Included(&(k.to_vec(), !at)))?;
        (e.key().0 == k).then(|| (!e.key().1, e.value().clone()))
    }
    fn scan(&self, from: &[u8], n: usize) -> usize {
        let mut seen = 0;
        for e in self.0.range((from.to_vec(), 0)..) {
            black_box(e.value());
            seen += 1;
            if seen == n {
                break;
            }
        }
        seen
    }
}

fn scan_n(m: &dyn Memtable, from: &[u8], n: usize) -> usize {
    let mut seen = 0;
    m.scan(
        Bound::Included(from),
        Bound::Unbounded,
        Direction::Forward,
        &mut |k, vs| {
            black_box((k, vs));
            seen += 1;
            if seen == n {
                ControlFlow::Break(())
            } else {
                ControlFlow::Continue(())
            }
        },
    );
    seen
}

fn bench(c: &mut Criterion) {
    let n = table_keys();
    let data = keys(n, 0x5EED);
    let probes = keys(1000, 0xFEED);
    let value = [7u8; 8];
    let art = ArtMemtable::new();
    let btree = BTreeMemtable::new();
    let skip = Skip::default();
    for (i, k) in data.iter().enumerate() {
        art.insert(k, i as u64 + 1, Some(&value));
        btree.insert(k, i as u64 + 1, Some(&value));
        skip.insert(k, i as u64 + 1, Some(&value));
    }
    let hits: Vec<[u8; 16]> = (0..1000).map(|i| data[(i * 7919) % n]).collect();

    let mut g = c.benchmark_group("get_1000_hits");
    g.throughput(Throughput::Elements(1000));
    g.bench_function("art", |b| {
        b.iter(|| {
            hits.iter()
                .filter(|k| art.get(&k[..], u64::MAX).is_some())
                .count()
        })
    });
    g.bench_function("rwlock_btreemap", |b| {
        b.iter(|| {
            hits.iter()
                .filter(|k| btree.get(&k[..], u64::MAX).is_some())
                .count()
        })
    });
    g.bench_function("skipmap", |b| {
        b.iter(|| {
            hits.iter()
                .filter(|k| skip.get(&k[..], u64::MAX).is_some())
                .count()
        })
    });
    g.finish();

    let mut g = c.benchmark_group("scan_100");
    g.throughput(Throughput::Elements(100));
    let mut i = 0;
    g.bench_function("art", |b| {
        b.iter(|| {
            i = (i + 1) % probes.len();
            scan_n(&art, &probes[i], 100)
        })
    });
    g.bench_function("rwlock_btreemap", |b| {
        b.iter(|| {
            i = (i + 1) % probes.len();
            scan_n(&btree, &probes[i], 100)
        })
    });
    g.bench_function("skipmap", |b| {
        b.iter(|| {
            i = (i + 1) % probes.len();
            skip.scan(&probes[i], 100)
        })
    });
    g.finish();

    // Inserts: 100k new keys into a fresh table.
    let fresh = keys(100_000, 0xC0DE);
    let mut g = c.benchmark_group("insert_100k");
    g.throughput(Throughput::Elements(fresh.len() as u64));
    g.bench_function("art", |b| {
        b.iter_batched(
            ArtMemtable::new,
            |m| {
                for (i, k) in fresh.iter().enumerate() {
                    m.insert(k, i as u64, Some(&value));
                }
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("rwlock_btreemap", |b| {
        b.iter_batched(
            BTreeMemtable::new,
            |m| {
                for (i, k) in fresh.iter().enumerate() {
                    m.insert(k, i as u64, Some(&value));
                }
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.bench_function("skipmap", |b| {
        b.iter_batched(
            Skip::default,
            |m| {
                for (i, k) in fresh.iter().enumerate() {
                    m.insert(k, i as u64, Some(&value));
                }
                m
            },
            BatchSize::PerIteration,
        )
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
