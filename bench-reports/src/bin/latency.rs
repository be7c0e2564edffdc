//! Per-operation latency of every engine (`strata_bench::latency`): HDR
//! histograms of fills, reads and synced writes, written as JSON for the
//! report.
//!
//! ```text
//! cargo run --release -p strata-bench --bin latency -- --out FILE
//!     [--entries N] [--reads N] [--synced N]
//! ```
//! Defaults: `--entries` from `STRATA_BENCH_ENGINE_ENTRIES` (200,000, the
//! engine benchmark's data set), `--reads` as many, `--synced` 4,000.
//! Databases live under `STRATA_BENCH_DIR` (default the system temp dir).

use std::path::PathBuf;

use strata_bench::engines::ENGINE_NAMES;
use strata_bench::latency::{measure_engine, to_json, PassSizes};
use strata_bench::workload::{env_count, ENGINE_ENTRIES_DEFAULT};

fn usage() -> ! {
    eprintln!("usage: latency --out FILE [--entries N] [--reads N] [--synced N]");
    std::process::exit(2)
}

fn main() {
    let entries = env_count("STRATA_BENCH_ENGINE_ENTRIES", ENGINE_ENTRIES_DEFAULT);
    let mut sizes = PassSizes {
        entries,
        reads: entries,
        synced: 4_000,
    };
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        let mut count = || val().parse::<u64>().unwrap_or_else(|_| usage());
        match a.as_str() {
            "--out" => out = Some(PathBuf::from(val())),
            "--entries" => sizes.entries = count(),
            "--reads" => sizes.reads = count(),
            "--synced" => sizes.synced = count(),
            _ => usage(),
        }
    }
    let Some(out) = out else { usage() };
    let mut rows = Vec::new();
    for &name in ENGINE_NAMES {
        match measure_engine(name, sizes) {
            Ok(r) => rows.extend(r),
            Err(e) => {
                eprintln!("latency: {name}: {e}");
                std::process::exit(1);
            }
        }
    }
    for r in &rows {
        eprintln!(
            "{:<8} {:<16} p50 {:>10} ns  p99 {:>10} ns  p99.9 {:>10} ns  max {:>10} ns",
            r.engine,
            r.op,
            r.hist.value_at_quantile(0.5),
            r.hist.value_at_quantile(0.99),
            r.hist.value_at_quantile(0.999),
            r.hist.max()
        );
    }
    let text = to_json(&rows, sizes).to_string();
    if let Err(e) = std::fs::write(&out, text) {
        eprintln!("latency: writing {}: {e}", out.display());
        std::process::exit(1);
    }
}
