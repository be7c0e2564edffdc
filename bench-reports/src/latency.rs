//! Per-operation latency, the figure db_bench and YCSB users read: every
//! operation of a pass timed on its own and recorded in an HDR histogram
//! (the `hdrhistogram` crate: 3 significant digits from 1 ns to 60 s), then
//! reported as percentiles. Criterion's means stay the throughput figures;
//! this pass is separate and untimed by criterion.
//!
//! Passes per engine, each on its own fresh database:
//! - `fill`: buffered writes of `entries` random 16-byte keys with 100-byte
//!   values (the engine benchmark's data set);
//! - `read`: point reads of random loaded keys after the fill settles;
//! - `synced-write`: durable 4 KiB writes from 1 writer, then from 4
//!   writers at once (`synced-write-4`, one histogram over all of them).
//!
//! Output (`--out FILE`, JSON): `{"method": TEXT, "entries": N, "rows":
//! [{"engine", "op", "count", "mean_ns", "p50_ns", "p99_ns", "p999_ns",
//! "max_ns", "curve": [[nines, ns], ...]}]}`, where a curve point at
//! `nines` = k is the latency at percentile `100 * (1 - 10^-k)` (1 is p90,
//! 2 is p99, 3 is p99.9), in steps of a quarter nine up to the largest the
//! count resolves, then the maximum.

use std::sync::Arc;
use std::time::Instant;

use hdrhistogram::Histogram;
use serde_json::{json, Value};

use crate::engines::{bench_dir, open_engine, BoxError, Engine};
use crate::workload::{engine_value, key_into, KeyPattern, SplitMix64, ENGINE_KEY_BYTES};

/// The payload of one synced write, as in the durability benchmark.
const SYNCED_PAYLOAD_BYTES: usize = 4096;

/// One operation's latencies on one engine.
#[derive(Debug)]
pub struct LatencyRow {
    /// The engine, e.g. `strata`.
    pub engine: String,
    /// The operation: `fill`, `read`, `synced-write`, `synced-write-4`.
    pub op: String,
    /// Every operation's latency, nanoseconds.
    pub hist: Histogram<u64>,
}

/// A histogram for nanosecond latencies from 1 ns to 60 s.
fn new_histogram() -> Histogram<u64> {
    Histogram::new_with_bounds(1, 60_000_000_000, 3).expect("valid histogram bounds")
}

/// Records how long `f` took, in nanoseconds (at least 1).
fn timed<T>(hist: &mut Histogram<u64>, f: impl FnOnce() -> T) -> T {
    let start = Instant::now();
    let out = f();
    let ns = u64::try_from(start.elapsed().as_nanos()).unwrap_or(u64::MAX);
    hist.saturating_record(ns.max(1));
    out
}

/// How many operations each pass runs.
#[derive(Clone, Copy, Debug)]
pub struct PassSizes {
    /// Entries written by the fill (and the key space of the reads).
    pub entries: u64,
    /// Point reads after the fill.
    pub reads: u64,
    /// Synced writes per pass (split over the writers of the 4-writer pass).
    pub synced: u64,
}

/// Runs every pass on `engine_name` and returns its rows.
pub fn measure_engine(engine_name: &str, sizes: PassSizes) -> Result<Vec<LatencyRow>, BoxError> {
    let row = |op: &str, hist| LatencyRow {
        engine: engine_name.to_string(),
        op: op.to_string(),
        hist,
    };
    let mut rows = Vec::new();
    {
        let dir = bench_dir();
        let engine = open_engine(engine_name, dir.path())?;
        let mut fill = new_histogram();
        let mut k = Vec::with_capacity(ENGINE_KEY_BYTES);
        for i in 0..sizes.entries {
            key_into(&mut k, i, ENGINE_KEY_BYTES, KeyPattern::Random);
            let v = engine_value(i);
            timed(&mut fill, || engine.put(&k, &v, false))?;
        }
        engine.settle()?;
        let mut read = new_histogram();
        let mut rng = SplitMix64::new(0x1A7E);
        for _ in 0..sizes.reads {
            key_into(
                &mut k,
                rng.below(sizes.entries.max(1)),
                ENGINE_KEY_BYTES,
                KeyPattern::Random,
            );
            let got = timed(&mut read, || engine.get(&k))?;
            if got.is_none() && sizes.entries > 0 {
                return Err(format!("{engine_name}: a loaded key read back as absent").into());
            }
        }
        rows.push(row("fill", fill));
        rows.push(row("read", read));
    }
    for writers in [1u64, 4] {
        let dir = bench_dir();
        let engine = open_engine(engine_name, dir.path())?;
        let hist = synced_writes(&engine, writers, sizes.synced)?;
        let op = if writers == 1 {
            "synced-write".to_string()
        } else {
            format!("synced-write-{writers}")
        };
        rows.push(row(&op, hist));
    }
    Ok(rows)
}

/// `total` synced writes split over `writers` threads, one histogram.
fn synced_writes(
    engine: &Arc<dyn Engine>,
    writers: u64,
    total: u64,
) -> Result<Histogram<u64>, BoxError> {
    let value = vec![0x5Au8; SYNCED_PAYLOAD_BYTES - ENGINE_KEY_BYTES];
    let per_writer = total / writers;
    let parts: Vec<Result<Histogram<u64>, String>> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..writers)
            .map(|w| {
                let (engine, value) = (Arc::clone(engine), &value);
                s.spawn(move || {
                    let mut hist = new_histogram();
                    let mut k = Vec::with_capacity(ENGINE_KEY_BYTES);
                    for i in w * per_writer..(w + 1) * per_writer {
                        key_into(&mut k, i, ENGINE_KEY_BYTES, KeyPattern::Random);
                        timed(&mut hist, || engine.put(&k, value, true))
                            .map_err(|e| e.to_string())?;
                    }
                    Ok(hist)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| h.join().unwrap_or_else(|_| Err("writer panicked".into())))
            .collect()
    });
    let mut all = new_histogram();
    for part in parts {
        all.add(part?)
            .map_err(|e| format!("merging histograms: {e}"))?;
    }
    Ok(all)
}

/// The percentile curve: latency at `nines` = 0, 0.25, 0.5, ... while the
/// count resolves that percentile (at least one operation beyond it), then
/// the maximum at the next quarter.
pub fn curve(hist: &Histogram<u64>) -> Vec<(f64, u64)> {
    let mut out = Vec::new();
    let count = hist.len() as f64;
    if count == 0.0 {
        return out;
    }
    let mut nines = 0.0f64;
    while count * 10f64.powf(-nines) >= 1.0 {
        let q = 1.0 - 10f64.powf(-nines);
        out.push((nines, hist.value_at_quantile(q)));
        nines += 0.25;
    }
    out.push((nines, hist.max()));
    out
}

/// The rows as the JSON document described at the top of this module.
pub fn to_json(rows: &[LatencyRow], sizes: PassSizes) -> Value {
    let rows: Vec<Value> = rows
        .iter()
        .map(|r| {
            let h = &r.hist;
            json!({
                "engine": r.engine,
                "op": r.op,
                "count": h.len(),
                "mean_ns": h.mean(),
                "p50_ns": h.value_at_quantile(0.5),
                "p99_ns": h.value_at_quantile(0.99),
                "p999_ns": h.value_at_quantile(0.999),
                "max_ns": h.max(),
                "curve": curve(h).iter().map(|(n, ns)| json!([n, ns])).collect::<Vec<_>>(),
            })
        })
        .collect();
    json!({
        "method": format!(
            "every operation timed on its own (std::time::Instant around the call) and recorded \
             in an HDR histogram (3 significant digits); fill: {} buffered writes of 16 B keys \
             and 100 B values in random order; read: {} random point reads of loaded keys after \
             the fill settles; synced-write: {} durable 4 KiB writes from 1 writer, and split \
             over 4 writers for synced-write-4; each pass on a fresh database",
            sizes.entries, sizes.reads, sizes.synced
        ),
        "entries": sizes.entries,
        "rows": rows,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_operation_is_counted_and_the_percentiles_are_ordered() {
        let sizes = PassSizes {
            entries: 2_000,
            reads: 1_000,
            synced: 40,
        };
        let rows = measure_engine("strata", sizes).unwrap();
        let ops: Vec<(&str, u64)> = rows.iter().map(|r| (r.op.as_str(), r.hist.len())).collect();
        assert_eq!(
            ops,
            [
                ("fill", 2_000),
                ("read", 1_000),
                ("synced-write", 40),
                ("synced-write-4", 40)
            ]
        );
        let doc = to_json(&rows, sizes);
        for r in doc["rows"].as_array().unwrap() {
            let at = |k: &str| r[k].as_u64().unwrap();
            assert!(at("p50_ns") >= 1, "{r}");
            assert!(at("p50_ns") <= at("p99_ns") && at("p99_ns") <= at("p999_ns"));
            assert!(at("p999_ns") <= at("max_ns"), "{r}");
            let curve = r["curve"].as_array().unwrap();
            let ns: Vec<u64> = curve.iter().map(|p| p[1].as_u64().unwrap()).collect();
            assert!(ns.windows(2).all(|w| w[0] <= w[1]), "{r}");
            assert_eq!(*ns.last().unwrap(), at("max_ns"));
        }
    }

    #[test]
    fn the_curve_stops_where_the_count_stops_resolving() {
        let mut h = new_histogram();
        for v in 1..=1000u64 {
            h.record(v * 1000).unwrap();
        }
        let c = curve(&h);
        // 1,000 values resolve up to 3 nines (p99.9), then the maximum.
        assert_eq!(c.first().unwrap().0, 0.0);
        assert_eq!(c[c.len() - 2].0, 3.0);
        assert_eq!(c.last().unwrap(), &(3.25, h.max()));
        let p99 = c.iter().find(|p| p.0 == 2.0).unwrap().1;
        assert!((990_000..=991_000).contains(&p99), "{p99}");
    }
}
