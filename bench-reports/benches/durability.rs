//! Durability benchmarks: synced writes with 1, 2 and 4 writer threads
//! (group commit lets one fdatasync cover several writers), next to a plain
//! loop of synced 4 KiB appends on the same disk, the physical limit.
//! Each engine write carries a 16-byte key and a 4080-byte value, the same
//! 4 KiB of payload as one raw write. fjall (`persist(SyncData)` after each
//! insert) runs alongside for context.
//!
//! `STRATA_BENCH_DIR` (default the system temp dir) selects the disk.
//! Group and id layout (read by the report generator):
//! - `durability_raw_fsync_4k/loop`: one 4 KiB append plus `sync_data`.
//! - `durability_synced_writes/<engine>/<threads>`: one synced write; the
//!   iterations of a sample are split evenly over the writer threads.
//!
//! Writes per WAL sync for the engines that count their syncs (Strata),
//! over every iteration criterion ran (warm-up included), go to the JSON
//! file named by `STRATA_BENCH_DURABILITY_JSON` (`run.sh` points it into
//! the criterion directory), as `{"<engine>/<threads>": {"writes": n,
//! "syncs": m}}`.

use std::io::Write;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strata_bench::engines::{bench_dir, open_engine, ENGINE_NAMES};
use strata_bench::workload::{key_into, KeyPattern};

mod common;

const PAYLOAD_BYTES: usize = 4096;
const KEY_BYTES: usize = 16;
const THREADS: [u64; 3] = [1, 2, 4];

/// The physical baseline: std::fs directly (this is the benchmark crate, not
/// engine I/O), append 4 KiB and fdatasync, in a loop.
fn raw_fsync(c: &mut Criterion) {
    let dir = bench_dir();
    let path = dir.path().join("raw.log");
    let mut file = std::fs::File::create(&path).expect("create raw.log");
    let block = [0xA5u8; PAYLOAD_BYTES];
    let mut group = c.benchmark_group("durability_raw_fsync_4k");
    group.throughput(Throughput::Elements(1));
    group.bench_function("loop", |b| {
        b.iter(|| {
            file.write_all(&block).expect("write");
            file.sync_data().expect("sync_data");
        })
    });
    group.finish();
}

fn synced_writes(c: &mut Criterion) {
    let value = vec![0x5Au8; PAYLOAD_BYTES - KEY_BYTES];
    let mut group = c.benchmark_group("durability_synced_writes");
    let mut per_sync = Vec::new();
    group.throughput(Throughput::Elements(1));
    for &name in ENGINE_NAMES {
        for threads in THREADS {
            let dir = bench_dir();
            let engine = open_engine(name, dir.path()).expect("open");
            let next = AtomicU64::new(0);
            let syncs_before = engine.wal_syncs();
            group.bench_function(BenchmarkId::new(name, threads), |b| {
                b.iter_custom(|iters| {
                    let per_thread = iters.div_ceil(threads);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            s.spawn(|| {
                                let first = next.fetch_add(per_thread, Ordering::Relaxed);
                                let mut k = Vec::new();
                                for i in first..first + per_thread {
                                    key_into(&mut k, i, KEY_BYTES, KeyPattern::Random);
                                    engine.put(&k, &value, true).expect("synced put");
                                }
                            });
                        }
                    });
                    // Rounding up per thread may do a few extra writes;
                    // scale so the result is per requested iteration.
                    let elapsed = start.elapsed();
                    elapsed.mul_f64(iters as f64 / (per_thread * threads) as f64)
                })
            });
            if let (Some(before), Some(after)) = (syncs_before, engine.wal_syncs()) {
                let writes = next.load(Ordering::Relaxed);
                let syncs = after - before;
                eprintln!(
                    "durability_synced_writes/{name}/{threads}: {writes} writes, {syncs} WAL \
                     syncs, {:.2} writes per sync",
                    writes as f64 / syncs.max(1) as f64
                );
                per_sync.push(format!(
                    "\"{name}/{threads}\": {{\"writes\": {writes}, \"syncs\": {syncs}}}"
                ));
            }
            drop(engine);
        }
    }
    group.finish();
    if let Some(path) = std::env::var_os("STRATA_BENCH_DURABILITY_JSON") {
        let json = format!("{{{}}}\n", per_sync.join(", "));
        std::fs::write(&path, json).expect("write the writes per sync");
    }
}

criterion_group! {
    name = benches;
    config = common::config(Duration::from_secs(3));
    targets = raw_fsync, synced_writes
}
criterion_main!(benches);
