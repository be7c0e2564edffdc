//! Strata's benchmarks and performance reports.
//!
//! - `benches/`: criterion benchmarks (memtable, engine, durability).
//! - [`workload`]: seeded keys and the memtables under test.
//! - [`engines`]: Strata and fjall behind one trait, comparable settings.
//! - [`latency`]: per-operation latency percentiles (HDR histograms).
//! - [`report`]: reads criterion's output and writes `REPORT.md` with SVG plots.
//! - [`scale`]: fill and read rates and amplification against data size.
//! - [`machine`]: what machine and commit a report was made on.
//! - [`mutation`]: cargo-mutants' outcomes merged into a per-module score.

#![warn(missing_docs)]

pub mod engines;
pub mod latency;
pub mod machine;
pub mod mutation;
pub mod report;
pub mod scale;
pub mod workload;
