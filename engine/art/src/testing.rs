//! Test support: the one seeded generator of the workspace, so every random
//! choice in a test, an example or a benchmark comes from an explicit `u64`
//! seed. It lives here, not in `strata`, because `strata` depends on this
//! crate: the ART's own tests use it too, and `strata::testing` re-exports it.

/// SplitMix64 (Steele, Lea and Flood, 2014): a tiny, fast, seedable
/// generator. The same seed gives the same sequence on every platform.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SplitMix64(pub u64);

impl SplitMix64 {
    /// A generator starting from `seed`.
    pub fn new(seed: u64) -> Self {
        SplitMix64(seed)
    }

    /// The next 64 random bits.
    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        Self::mix(self.0)
    }

    /// A number in `0..n` (`n > 0`; the modulo bias is irrelevant for tests).
    pub fn below(&mut self, n: u64) -> u64 {
        self.next_u64() % n
    }

    /// The generator's output function on its own: a bijection on `u64`
    /// that scatters nearby inputs (a random-looking key id from an index).
    pub fn mix(mut z: u64) -> u64 {
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_seed_same_sequence_and_known_first_value() {
        let mut a = SplitMix64::new(0);
        let mut b = SplitMix64::new(0);
        let xs: Vec<u64> = (0..4).map(|_| a.next_u64()).collect();
        let ys: Vec<u64> = (0..4).map(|_| b.next_u64()).collect();
        assert_eq!(xs, ys);
        // The published first output of SplitMix64 seeded with 0.
        assert_eq!(xs[0], 0xe220_a839_7b1d_cdaf);
        assert!((0..1000).all(|_| a.below(7) < 7));
    }

    #[test]
    fn mix_is_the_output_function_and_separates_neighbours() {
        assert_eq!(
            SplitMix64::mix(0x9e37_79b9_7f4a_7c15),
            0xe220_a839_7b1d_cdaf
        );
        let outs: std::collections::BTreeSet<u64> = (0..1000).map(SplitMix64::mix).collect();
        assert_eq!(outs.len(), 1000);
    }
}
