//! The model-checking targets' logic: operation sequences decoded with
//! `arbitrary`, run against the real structure and a reference model.
//!
//! Kept apart from `harness/` (which the engine's own tests include and
//! which must depend on nothing but the engine's dependencies): these need
//! `arbitrary`, `strata-art` and `strata-sim`. `sim/tests/fuzz_replay.rs`
//! includes this directory to replay the seed corpora on stable.

pub mod art;
pub mod engine;

/// SplitMix64: the seed corpora's only source of randomness.
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }

    /// `len` pseudo-random bytes.
    pub fn bytes(&mut self, len: usize) -> Vec<u8> {
        (0..len).map(|_| self.next_u64() as u8).collect()
    }
}
