//! Transaction benchmarks: read-modify-write transactions (read two
//! counters, move one unit between them, commit; retried until it commits)
//! with 1, 2 and 4 threads, on a hot set of 16 counters (contended: the
//! abort rate is the figure) and on 100,000 counters (little contention:
//! the cost of the read set and the conflict check), next to the same
//! read-modify-write without a transaction (two gets and a two-put batch,
//! unprotected: concurrent updates may be lost), the cost floor. Writes are
//! buffered (`WriteOptions::BUFFERED`): this measures the transaction
//! path, not fsync.
//!
//! Group and id layout (read by the report generator):
//! - `txn_rmw/<workload>/<threads>`: one committed read-modify-write
//!   (conflicted attempts included in its time); `<workload>` is
//!   `txn-hot`, `txn-spread` or `plain-hot`.
//!
//! Commits and conflicts per id, over every iteration criterion ran (warm
//! up included), go to the JSON file named by `STRATA_BENCH_TXN_JSON`
//! (`run.sh` points it into the criterion directory), as
//! `{"<workload>/<threads>": {"commits": n, "conflicts": m}}`.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use strata::{Db, WriteBatch, WriteOptions};
use strata_bench::engines::{bench_dir, StrataEngine};
use strata_bench::workload::SplitMix64;

mod common;

const THREADS: [u64; 3] = [1, 2, 4];
const HOT: u64 = 16;
const SPREAD: u64 = 100_000;

fn key(i: u64) -> [u8; 16] {
    let mut k = *b"counter/00000000";
    k[8..].copy_from_slice(format!("{i:08}").as_bytes());
    k
}

fn value(v: i64) -> Vec<u8> {
    v.to_string().into_bytes()
}

fn number(v: Option<Vec<u8>>) -> i64 {
    v.and_then(|v| std::str::from_utf8(&v).ok()?.parse().ok())
        .unwrap_or(0)
}

/// Two distinct counters out of `n`.
fn pick(rng: &mut SplitMix64, n: u64) -> (u64, u64) {
    let a = rng.next_u64() % n;
    let b = (a + 1 + rng.next_u64() % (n - 1)) % n;
    (a, b)
}

/// One read-modify-write in a transaction, retried until it commits;
/// returns the conflicts it met.
fn txn_rmw(db: &Db, a: u64, b: u64) -> u64 {
    let mut conflicts = 0;
    loop {
        let mut t = db.transaction();
        let va = number(t.get(&key(a)).expect("get"));
        let vb = number(t.get(&key(b)).expect("get"));
        t.put(&key(a), &value(va - 1)).expect("put");
        t.put(&key(b), &value(vb + 1)).expect("put");
        match t.commit(WriteOptions::BUFFERED) {
            Ok(_) => return conflicts,
            Err(e) if e.is_conflict() => conflicts += 1,
            Err(e) => panic!("commit: {e}"),
        }
    }
}

/// The same without a transaction: nothing stops a lost update.
fn plain_rmw(db: &Db, a: u64, b: u64) {
    let va = number(db.get(&key(a)).expect("get"));
    let vb = number(db.get(&key(b)).expect("get"));
    let mut batch = WriteBatch::new();
    batch.put(key(a), value(va - 1)).put(key(b), value(vb + 1));
    db.write(batch, WriteOptions::BUFFERED).expect("write");
}

fn rmw(c: &mut Criterion) {
    let counts: Mutex<BTreeMap<String, (u64, u64)>> = Mutex::new(BTreeMap::new());
    let mut group = c.benchmark_group("txn_rmw");
    group.throughput(Throughput::Elements(1));
    for (workload, counters, in_txn) in [
        ("txn-hot", HOT, true),
        ("txn-spread", SPREAD, true),
        ("plain-hot", HOT, false),
    ] {
        for threads in THREADS {
            let dir = bench_dir();
            let engine = StrataEngine::open(dir.path()).expect("open");
            let db = engine.db();
            let seed = AtomicU64::new(1);
            let (commits, conflicts) = (AtomicU64::new(0), AtomicU64::new(0));
            group.bench_function(BenchmarkId::new(workload, threads), |bench| {
                bench.iter_custom(|iters| {
                    let per_thread = iters.div_ceil(threads);
                    let start = Instant::now();
                    std::thread::scope(|s| {
                        for _ in 0..threads {
                            let mut rng = SplitMix64::new(seed.fetch_add(1, Ordering::Relaxed));
                            let (commits, conflicts) = (&commits, &conflicts);
                            s.spawn(move || {
                                for _ in 0..per_thread {
                                    let (a, b) = pick(&mut rng, counters);
                                    if in_txn {
                                        conflicts.fetch_add(txn_rmw(db, a, b), Ordering::Relaxed);
                                    } else {
                                        plain_rmw(db, a, b);
                                    }
                                    commits.fetch_add(1, Ordering::Relaxed);
                                }
                            });
                        }
                    });
                    let elapsed = start.elapsed();
                    elapsed.mul_f64(iters as f64 / (per_thread * threads) as f64)
                })
            });
            if in_txn {
                // Every transfer kept the total: the transactions worked.
                let total: i64 = (0..counters.min(HOT))
                    .map(|i| number(db.get(&key(i)).expect("get")))
                    .sum();
                if counters == HOT {
                    assert_eq!(total, 0, "{workload}/{threads}: a transfer was lost");
                }
            }
            counts.lock().expect("counts").insert(
                format!("{workload}/{threads}"),
                (
                    commits.load(Ordering::Relaxed),
                    conflicts.load(Ordering::Relaxed),
                ),
            );
        }
    }
    group.finish();
    let counts = counts.into_inner().expect("counts");
    let mut json = String::from("{\n");
    for (i, (id, (commits, conflicts))) in counts.iter().enumerate() {
        let sep = if i + 1 < counts.len() { "," } else { "" };
        json.push_str(&format!(
            "  \"{id}\": {{\"commits\": {commits}, \"conflicts\": {conflicts}}}{sep}\n"
        ));
        println!(
            "txn_rmw/{id}: {commits} commits, {conflicts} conflicts ({:.1}% of attempts refused)",
            100.0 * *conflicts as f64 / (*commits + *conflicts).max(1) as f64
        );
    }
    json.push_str("}\n");
    if let Some(path) = std::env::var_os("STRATA_BENCH_TXN_JSON") {
        std::fs::write(&path, json).expect("write the commit and conflict counts");
    }
}

criterion_group! {
    name = benches;
    config = common::config(Duration::from_secs(3));
    targets = rmw
}
criterion_main!(benches);
