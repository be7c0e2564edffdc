//! How cost grows with the data (`strata_bench::scale`): every engine at
//! each size, written as JSON for the report. Run by `bench-reports/run.sh
//! --scale` (opt-in: the 50M-key fills take most of an hour on 2 cores).
//!
//! ```text
//! cargo run --release -p strata-bench --bin scale -- --out FILE
//!     [--sizes 1000000,10000000,50000000] [--reads 200000]
//! ```
//! Databases live under `STRATA_BENCH_DIR` (default the system temp dir;
//! 50M entries need about 6 GB per engine, one engine at a time).

use std::path::PathBuf;

use strata_bench::engines::ENGINE_NAMES;
use strata_bench::scale::{measure, to_json};

fn usage() -> ! {
    eprintln!("usage: scale --out FILE [--sizes N,N,...] [--reads N]");
    std::process::exit(2)
}

fn main() {
    let mut sizes: Vec<u64> = vec![1_000_000, 10_000_000, 50_000_000];
    let mut reads = 200_000u64;
    let mut out: Option<PathBuf> = None;
    let mut args = std::env::args().skip(1);
    while let Some(a) = args.next() {
        let mut val = || args.next().unwrap_or_else(|| usage());
        match a.as_str() {
            "--out" => out = Some(PathBuf::from(val())),
            "--reads" => reads = val().parse().unwrap_or_else(|_| usage()),
            "--sizes" => {
                sizes = val()
                    .split(',')
                    .map(|s| s.trim().parse().unwrap_or_else(|_| usage()))
                    .collect()
            }
            _ => usage(),
        }
    }
    let Some(out) = out else { usage() };
    let mut rows = Vec::new();
    for &entries in &sizes {
        for &name in ENGINE_NAMES {
            match measure(name, entries, reads) {
                Ok(r) => {
                    eprintln!(
                        "{name:<8} {entries:>10} entries: fill {:>9.0}/s  read {:>9.0}/s  \
                         write amp {:.2}  space amp {:.2}",
                        r.fill_ops_per_sec,
                        r.read_ops_per_sec,
                        r.write_amp(),
                        r.space_amp()
                    );
                    rows.push(r);
                }
                Err(e) => {
                    eprintln!("scale: {name} at {entries} entries: {e}");
                    std::process::exit(1);
                }
            }
        }
    }
    if let Err(e) = std::fs::write(&out, to_json(&rows, reads).to_string()) {
        eprintln!("scale: writing {}: {e}", out.display());
        std::process::exit(1);
    }
}
