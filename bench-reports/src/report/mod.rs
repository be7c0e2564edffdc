//! The report generator: reads criterion's output directory and writes
//! `REPORT.md` plus SVG plots (plotters) into an output directory.
//!
//! Input layout (criterion 0.5-0.7): `<dir>/<group>/<function>[/<value>]/new/`
//! holding `benchmark.json` (ids, throughput), `estimates.json` (mean and
//! median in nanoseconds per iteration) and `sample.json` (iterations and
//! total nanoseconds per sample). The benchmark ids this module knows are
//! documented at the top of each file in `benches/`.
//!
//! Ratios are speedups: the peer's time per iteration divided by the
//! subject's, so above 1 means the subject (the ART, or Strata) is faster.
//! Every ratio comes from one criterion directory, so from one run.
//!
//! This file owns the options, the error type and [`generate`], which runs
//! the three stages in order:
//! - `load`: criterion's JSON and `memtable_space`'s JSON into typed
//!   figures ([`BenchResult`], [`MemoryRow`], [`Results`]);
//! - `judge`: ratios between them and the targets they are held to
//!   ([`TargetOutcome`]);
//! - `render`: the Markdown report, drawing its plots with `plot` and
//!   printing numbers with `format`.

use std::fmt;
use std::path::PathBuf;

use crate::machine::MachineInfo;

mod baseline;
mod format;
mod judge;
mod load;
mod plot;
mod render;

pub use plot::{stacked_shares, StackedRow};

pub use baseline::{
    bands_to_json, compare, load_bands, ratios, run_to_run_bands, Direction, Movement, Ratio,
};
pub use format::{fmt_ns, fmt_rate, fmt_ratio};
pub use judge::{evaluate_targets, Requirement, TargetOutcome};
pub use load::{
    group_counts, load_criterion, load_memory, load_sim_runs, read_bench, BenchResult, MemoryRow,
    Results, SimRun,
};

/// The memtable every other memtable is compared against.
pub const MEMTABLE_SUBJECT: &str = "art";
/// The engine compared against its peer.
pub const ENGINE_SUBJECT: &str = "strata";
/// The engine Strata is compared against.
pub const ENGINE_PEER: &str = "fjall";
/// The second peer (the `rocksdb` feature of the benchmarks).
pub const ENGINE_PEER_ROCKSDB: &str = "rocksdb";
/// The baseline the memtable targets name.
pub const MEMTABLE_BASELINE: &str = "btree";

/// An error from reading criterion output or writing the report.
#[derive(Debug)]
pub struct ReportError(pub String);

impl fmt::Display for ReportError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ReportError {}

pub(crate) type Result<T> = std::result::Result<T, ReportError>;

pub(crate) fn err(msg: impl Into<String>) -> ReportError {
    ReportError(msg.into())
}

/// Everything the generator needs besides the criterion directory.
#[derive(Clone, Debug)]
pub struct ReportOptions {
    /// Criterion's output directory (usually `target/criterion`).
    pub criterion_dir: PathBuf,
    /// Where `REPORT.md` and the SVG plots are written; created if absent.
    pub out_dir: PathBuf,
    /// `memtable_space` output; skipped when absent.
    pub memory_json: Option<PathBuf>,
    /// An earlier run's criterion directory (or a report directory holding
    /// `criterion/`) to compare every ratio with (`baseline`).
    pub baseline: Option<PathBuf>,
    /// Run-to-run noise bands (`report noise`) that widen the comparison's.
    pub noise: Option<PathBuf>,
    /// Hand-written notes appended under "Notes".
    pub notes: Option<PathBuf>,
    /// Run conditions recorded by `run.sh` (one line each), if present.
    pub run_info: Option<PathBuf>,
    /// The machine the report states.
    pub machine: MachineInfo,
    /// The commit the report states it was generated at.
    pub commit: String,
    /// The date in the title, `YYYY-MM-DD`.
    pub date: String,
    /// The command that produced the benchmark data.
    pub bench_command: String,
    /// The command that regenerates this report from that data.
    pub report_command: String,
}

/// What the generator wrote.
#[derive(Debug)]
pub struct ReportSummary {
    /// The `REPORT.md` written.
    pub report: PathBuf,
    /// The SVG plots written, in the order the report shows them.
    pub svgs: Vec<PathBuf>,
    /// Every target with its verdict, in the order of the report's table.
    pub targets: Vec<TargetOutcome>,
    /// Every ratio against the baseline run; empty without one.
    pub movements: Vec<Movement>,
}

/// Generates the report: loads the results, judges the targets and writes
/// `REPORT.md` and its plots into `opts.out_dir`. Nothing is written when
/// the criterion directory holds no results.
pub fn generate(opts: &ReportOptions) -> Result<ReportSummary> {
    let res = Results::new(load_criterion(&opts.criterion_dir)?);
    if res.benches.is_empty() {
        return Err(err(format!(
            "no benchmark results under {}",
            opts.criterion_dir.display()
        )));
    }
    std::fs::create_dir_all(&opts.out_dir)
        .map_err(|e| err(format!("creating {}: {e}", opts.out_dir.display())))?;
    let memory = match &opts.memory_json {
        Some(p) if p.exists() => Some(load_memory(p)?),
        _ => None,
    };
    let targets = evaluate_targets(&res);
    let movements = match &opts.baseline {
        Some(dir) => {
            let dir = baseline_criterion_dir(dir);
            let base = Results::new(load_criterion(&dir)?);
            if base.benches.is_empty() {
                return Err(err(format!(
                    "no benchmark results under the baseline {}",
                    dir.display()
                )));
            }
            let bands = match &opts.noise {
                Some(p) => load_bands(p)?,
                None => Default::default(),
            };
            compare(&res, &base, &bands)
        }
        None => Vec::new(),
    };
    let (report, svgs) = render::write_report(opts, &res, memory.as_ref(), &targets, &movements)?;
    Ok(ReportSummary {
        report,
        svgs,
        targets,
        movements,
    })
}

/// A baseline given as a report directory means its `criterion/`.
pub fn baseline_criterion_dir(dir: &std::path::Path) -> PathBuf {
    let inner = dir.join("criterion");
    if inner.is_dir() {
        inner
    } else {
        dir.to_path_buf()
    }
}
