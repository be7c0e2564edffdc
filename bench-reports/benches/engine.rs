//! Engine benchmarks, Strata against fjall in the same run with comparable
//! settings (see `strata_bench::engines`): sequential fill, random fill,
//! random reads after compaction settles, reads while a writer thread writes,
//! and 100-key range scans. 16-byte keys, 100-byte values.
//!
//! `STRATA_BENCH_ENGINE_ENTRIES` (default 200,000) sets the data set size.
//! `STRATA_BENCH_DIR` (default the system temp dir) is where databases live;
//! point it at the disk under test.
//! Group and id layout (read by the report generator):
//! - `engine_fill_{sequential,random}/<engine>`: one iteration fills a fresh
//!   database with all entries (buffered writes; throughput in entries).
//! - `engine_read_random/<engine>`: one point read of a loaded key.
//! - `engine_scan100/<engine>`: one 100-key forward range scan.
//! - `engine_read_while_writing/<engine>`: one point read while another
//!   thread writes new keys as fast as it can.

use std::hint::black_box;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode, Throughput};
use strata_bench::engines::{bench_dir, open_engine, Engine, ENGINE_NAMES};
use strata_bench::workload::{
    engine_value, env_count, key_into, KeyPattern, SplitMix64, ENGINE_ENTRIES_DEFAULT,
    ENGINE_KEY_BYTES as KEY_BYTES,
};

mod common;

const SCAN_KEYS: usize = 100;

fn entries() -> u64 {
    env_count("STRATA_BENCH_ENGINE_ENTRIES", ENGINE_ENTRIES_DEFAULT)
}

fn fill(engine: &dyn Engine, from: u64, n: u64, pattern: KeyPattern) {
    let mut k = Vec::with_capacity(KEY_BYTES);
    for i in from..from + n {
        key_into(&mut k, i, KEY_BYTES, pattern);
        engine.put(&k, &engine_value(i), false).expect("put");
    }
}

fn fills(c: &mut Criterion) {
    let n = entries();
    for (pattern, group_name) in [
        (KeyPattern::Sequential, "engine_fill_sequential"),
        (KeyPattern::Random, "engine_fill_random"),
    ] {
        let mut group = c.benchmark_group(group_name);
        group.sampling_mode(SamplingMode::Flat);
        group.throughput(Throughput::Elements(n));
        for &name in ENGINE_NAMES {
            group.bench_function(name, |b| {
                b.iter_custom(|iters| {
                    let mut total = Duration::ZERO;
                    for _ in 0..iters {
                        let dir = bench_dir();
                        let engine = open_engine(name, dir.path()).expect("open");
                        let start = Instant::now();
                        fill(engine.as_ref(), 0, n, pattern);
                        total += start.elapsed();
                        drop(engine); // closing is not timed
                    }
                    total
                })
            });
        }
        group.finish();
    }
}

fn reads(c: &mut Criterion) {
    let n = entries();
    let mut loaded = Vec::new();
    for &name in ENGINE_NAMES {
        let dir = bench_dir();
        let engine = open_engine(name, dir.path()).expect("open");
        fill(engine.as_ref(), 0, n, KeyPattern::Random);
        engine.settle().expect("settle");
        loaded.push((name, dir, engine));
    }

    let mut group = c.benchmark_group("engine_read_random");
    group.throughput(Throughput::Elements(1));
    for (name, _, engine) in &loaded {
        let mut rng = SplitMix64::new(0xEAD);
        let mut k = Vec::new();
        group.bench_function(*name, |b| {
            b.iter(|| {
                key_into(&mut k, rng.below(n), KEY_BYTES, KeyPattern::Random);
                let v = engine.get(&k).expect("get");
                debug_assert!(v.is_some());
                black_box(v)
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("engine_scan100");
    group.throughput(Throughput::Elements(SCAN_KEYS as u64));
    for (name, _, engine) in &loaded {
        let mut rng = SplitMix64::new(0x5CA);
        let mut k = Vec::new();
        group.bench_function(*name, |b| {
            b.iter(|| {
                key_into(&mut k, rng.below(n), KEY_BYTES, KeyPattern::Random);
                black_box(engine.scan(&k, SCAN_KEYS).expect("scan"))
            })
        });
    }
    group.finish();

    let mut group = c.benchmark_group("engine_read_while_writing");
    group.throughput(Throughput::Elements(1));
    for (name, _, engine) in &loaded {
        let stop = Arc::new(AtomicBool::new(false));
        let written = Arc::new(AtomicU64::new(0));
        let writer = {
            let (engine, stop, written) = (Arc::clone(engine), stop.clone(), written.clone());
            std::thread::spawn(move || {
                let mut k = Vec::new();
                let mut i = n;
                while !stop.load(Ordering::Relaxed) {
                    key_into(&mut k, i, KEY_BYTES, KeyPattern::Random);
                    engine.put(&k, &engine_value(i), false).expect("put");
                    i += 1;
                }
                written.store(i - n, Ordering::Relaxed);
            })
        };
        let mut rng = SplitMix64::new(0xAB);
        let mut k = Vec::new();
        let start = Instant::now();
        group.bench_function(*name, |b| {
            b.iter(|| {
                key_into(&mut k, rng.below(n), KEY_BYTES, KeyPattern::Random);
                black_box(engine.get(&k).expect("get"))
            })
        });
        stop.store(true, Ordering::Relaxed);
        writer.join().expect("writer thread");
        let secs = start.elapsed().as_secs_f64();
        eprintln!(
            "engine_read_while_writing/{name}: background writer did {:.0} writes/s",
            written.load(Ordering::Relaxed) as f64 / secs
        );
    }
    group.finish();
}

criterion_group! {
    name = benches;
    config = common::config(Duration::from_secs(4));
    targets = fills, reads
}
criterion_main!(benches);
