//! Test support shared by the engine's unit tests, its integration tests
//! and the simulator: one seeded generator, so every random choice in a test
//! comes from an explicit `u64` seed.
//!
//! [`SplitMix64`] is defined in `strata-art` (this crate depends on it, so
//! the ART's own tests and examples use the same generator) and re-exported
//! here.

pub use strata_art::testing::SplitMix64;
