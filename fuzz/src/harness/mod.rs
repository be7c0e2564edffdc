//! The fuzz targets' logic, as plain functions over bytes.
//!
//! This directory depends only on `strata`, `crc32c` and `lz4_flex` (all
//! dependencies of the engine), so the engine's
//! `tests/fuzz_regressions.rs` includes it with `#[path]` and replays crash
//! inputs through exactly the code the fuzzer ran, on stable Rust.

pub mod db;
pub mod manifest;
pub mod memfs;
pub mod table;
pub mod wal;
