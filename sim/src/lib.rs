//! Strata's deterministic crash-recovery simulator.
//!
//! - [`simfs`]: the simulated disk (`SimFs`), with power loss, torn writes,
//!   volatile directory entries, sticky fsync failures and media faults.
//! - [`rng`]: the SplitMix64 PRNG and the trace digest.

pub mod rng;
pub mod simfs;

pub use rng::{Digest, Rng};
pub use simfs::{CrashReport, CrashSite, FaultRates, FileClass, SimFs, SimStats};
pub mod runner;
pub mod workload;

pub use runner::{
    execute, run_seed, DiskModel, Failure, MemtableChoice, RunConfig, RunOutcome, RunStats,
};
pub use workload::{generate, FaultMode, KeyBound, Scan, SimOp, Val};
pub mod shrink;
