//! Strata's deterministic crash-recovery simulator.
//!
//! - [`simfs`]: the simulated disk (`SimFs`), with power loss, torn writes,
//!   volatile directory entries, sticky fsync failures and media faults.
//! - [`rng`]: the SplitMix64 PRNG and the trace digest.
//! - [`workload`]: the seeded workload generator.
//! - [`runner`]: runs a workload against `strata::Db` on a `SimFs` and checks
//!   every answer and every recovery.
//! - [`shrink`]: reduces a failing workload to a regression test.
//!
//! The `strata-sim` binary (default feature `cli`) runs campaigns; the
//! library itself needs neither clap nor indicatif.

#![warn(missing_docs)]

pub mod rng;
pub mod simfs;

pub use rng::{Digest, Rng};
pub use simfs::{
    AtRestDamage, AtRestKind, CrashReport, CrashSite, FaultRates, FileClass, SimFs, SimStats,
};
pub mod runner;
pub mod workload;

pub use profile::{Knobs, Profile};
pub use runner::{
    execute, run_seed, DiskModel, Failure, MemtableChoice, RunConfig, RunOutcome, RunStats,
};
pub use workload::{generate, generate_with, FaultMode, KeyBound, Scan, SimOp, Val};
pub mod concurrent;
pub mod profile;
pub mod shrink;
