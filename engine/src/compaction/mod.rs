//! Compaction: deciding what to compact ([`strategy`], a pure function of
//! the current [`Version`](crate::version::Version) and the options) is kept
//! apart from carrying it out (the executor, which does the I/O).

pub mod strategy;

pub use strategy::{
    choose, level_target_bytes, scores, write_pressure, CompactionChoice, CompactionOptions,
    LevelScore, WritePressure,
};
