//! The logic of Strata's fuzz targets, as plain functions over bytes.
//!
//! One module per cargo-fuzz target in `fuzz/fuzz_targets/` (each target is
//! a one-line wrapper around its module's `run`). Kept in this ordinary
//! crate so that the engine's `tests/fuzz_regressions.rs` and the
//! simulator's `tests/fuzz_replay.rs` replay seed corpora and crash inputs
//! through exactly the code the fuzzer ran, on stable Rust.
//!
//! - Decoders on arbitrary bytes: [`wal_decode`], [`table_decode`],
//!   [`manifest_decode`] (through `strata::format`).
//! - A damaged database opened and read: [`open_corrupted`] (on
//!   `strata::fs::MemFs`).
//! - Model checking, with ops decoded by `arbitrary`: [`art_model`] (the ART
//!   against a `BTreeMap`) and [`engine_model`] (`Db` on the simulated disk,
//!   with crashes and faults, through `strata_sim::execute`).
//!
//! Every random choice (base workloads, generated seed inputs) comes from
//! the engine's one seeded generator, `strata::testing::SplitMix64`.

#![warn(missing_docs)]

pub mod art_model;
pub mod engine_model;
pub mod manifest_decode;
pub mod open_corrupted;
pub mod table_decode;
pub mod wal_decode;

use strata::testing::SplitMix64;

/// `len` pseudo-random bytes: the low byte of each of the next `len`
/// outputs of `rng`. The model targets' seed corpora are such bytes, so
/// this stream must not change while they are committed.
pub fn prng_bytes(rng: &mut SplitMix64, len: usize) -> Vec<u8> {
    (0..len).map(|_| rng.next_u64() as u8).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn prng_bytes_are_the_low_bytes_of_the_seeded_stream() {
        let mut rng = SplitMix64::new(0);
        let bytes = prng_bytes(&mut rng, 3);
        // SplitMix64 seeded with 0 starts 0xe220_a839_7b1d_cdaf.
        assert_eq!(bytes[0], 0xaf);
        let mut stream = SplitMix64::new(0);
        let want: Vec<u8> = (0..3).map(|_| stream.next_u64() as u8).collect();
        assert_eq!(bytes, want);
        assert_eq!(rng, stream, "one output consumed per byte");
    }
}
