//! Compaction: deciding what to compact ([`strategy`], a pure function of
//! the current [`Version`](crate::version::Version) and the options) is kept
//! apart from carrying it out ([`executor`], which does the I/O and returns
//! the version edit for the caller to install).

pub(crate) mod executor;
pub mod strategy;

pub use strategy::{
    choose, level_target_bytes, scores, write_pressure, CompactionChoice, CompactionOptions,
    LevelScore, WritePressure,
};
