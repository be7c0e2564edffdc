//! The bloom filter over a table's distinct user keys.
//!
//! Filter block contents (stored raw, with the usual block trailer):
//! `bits [m / 8 bytes] | probes u8`. An empty filter block means "no filter"
//! (every key may be present). Bit `b` lives in byte `b / 8`, bit `b % 8`
//! (least significant first).
//!
//! Hash: [`bloom_hash64`], documented in `engine/docs/sstable.md`. Probe `i`
//! (for `i` in `0..probes`) sets bit `(h + i * d) mod m` where `h` is the 64-bit
//! hash and `d = rotate_left(h, 21) | 1` (double hashing; all arithmetic
//! wrapping on u64). Writer and reader share this one function, which is
//! what the predecessor got wrong.

use super::BLOOM_PROBES_MAX;

const MUL: u64 = 0x9e37_79b9_7f4a_7c15;

/// A 64-bit finaliser (the SplitMix64 output function): full avalanche.
#[inline]
fn mix64(mut x: u64) -> u64 {
    x ^= x >> 30;
    x = x.wrapping_mul(0xbf58_476d_1ce4_e5b9);
    x ^= x >> 27;
    x = x.wrapping_mul(0x94d0_49bb_1331_11eb);
    x ^ (x >> 31)
}

/// The filter's key hash. State starts at `(len + 1) * MUL`; each full 8-byte
/// little-endian word `w` updates `s = rotl(s ^ mix64(w), 29) * MUL`; the 0..7
/// tail bytes, zero-padded to a LE word, update it the same way; the result
/// is `mix64(s)`. (The length in the initial state keeps zero-padded tails
/// distinct.)
pub fn bloom_hash64(data: &[u8]) -> u64 {
    let mut s = (data.len() as u64).wrapping_add(1).wrapping_mul(MUL);
    let mut chunks = data.chunks_exact(8);
    for c in &mut chunks {
        let mut w = [0u8; 8];
        w.copy_from_slice(c);
        s = (s ^ mix64(u64::from_le_bytes(w)))
            .rotate_left(29)
            .wrapping_mul(MUL);
    }
    let tail = chunks.remainder();
    if !tail.is_empty() {
        let mut w = [0u8; 8];
        w[..tail.len()].copy_from_slice(tail);
        s = (s ^ mix64(u64::from_le_bytes(w)))
            .rotate_left(29)
            .wrapping_mul(MUL);
    }
    mix64(s)
}

#[inline]
fn probe_delta(h: u64) -> u64 {
    h.rotate_left(21) | 1
}

/// Number of probes for a bits-per-key budget: `round(bits * ln 2)`, clamped.
pub(crate) fn probes_for(bits_per_key: u32) -> u8 {
    let k = (f64::from(bits_per_key) * std::f64::consts::LN_2).round() as u32;
    k.clamp(1, u32::from(BLOOM_PROBES_MAX)) as u8
}

/// Builds the filter block contents from key hashes.
pub(crate) fn build_filter(hashes: &[u64], bits_per_key: u32) -> Vec<u8> {
    if bits_per_key == 0 || hashes.is_empty() {
        return Vec::new();
    }
    let bits = (hashes.len() as u64)
        .saturating_mul(u64::from(bits_per_key))
        .max(64);
    let bytes = bits.div_ceil(8) as usize;
    let m = (bytes * 8) as u64;
    let k = probes_for(bits_per_key);
    let mut out = vec![0u8; bytes + 1];
    for &h in hashes {
        let d = probe_delta(h);
        let mut g = h;
        for _ in 0..k {
            let b = g % m;
            out[(b / 8) as usize] |= 1 << (b % 8);
            g = g.wrapping_add(d);
        }
    }
    out[bytes] = k;
    out
}

/// A parsed filter. Built only from a validated filter block.
#[derive(Debug, Clone)]
pub struct BloomFilter {
    bits: Vec<u8>,
    probes: u8,
}

impl BloomFilter {
    /// Parses a filter block; `Err(reason)` if its shape is impossible.
    /// An empty block gives a filter that matches everything.
    pub(crate) fn parse(mut block: Vec<u8>) -> Result<BloomFilter, String> {
        if block.is_empty() {
            return Ok(BloomFilter {
                bits: Vec::new(),
                probes: 0,
            });
        }
        if block.len() < 2 {
            return Err(format!("filter block of {} bytes", block.len()));
        }
        let probes = block[block.len() - 1];
        if probes == 0 || probes > BLOOM_PROBES_MAX {
            return Err(format!("filter with {probes} probes"));
        }
        block.pop();
        Ok(BloomFilter {
            bits: block,
            probes,
        })
    }

    /// False only if the key is certainly absent.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.may_contain_hash(bloom_hash64(user_key))
    }

    pub(crate) fn may_contain_hash(&self, h: u64) -> bool {
        if self.bits.is_empty() {
            return true;
        }
        let m = (self.bits.len() * 8) as u64;
        let d = probe_delta(h);
        let mut g = h;
        for _ in 0..self.probes {
            let b = g % m;
            if self.bits[(b / 8) as usize] & (1 << (b % 8)) == 0 {
                return false;
            }
            g = g.wrapping_add(d);
        }
        true
    }

    /// True if this filter can reject keys.
    pub fn is_enabled(&self) -> bool {
        !self.bits.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hash_is_stable_and_distinguishes_padding() {
        // Pinned values, computed independently from the formula in
        // engine/docs/sstable.md: a change of hash is a format change.
        assert_eq!(bloom_hash64(b""), 0xe220_a839_7b1d_cdaf);
        assert_eq!(bloom_hash64(b"strata"), 0xc46e_15e6_9062_dcff);
        assert_eq!(bloom_hash64(b"0123456789abcdef!"), 0x0749_271e_ee79_e6b4);
        assert_ne!(bloom_hash64(b"a"), bloom_hash64(b"a\0"));
        assert_ne!(bloom_hash64(b"abcdefgh"), bloom_hash64(b"abcdefgh\0"));
        assert_ne!(bloom_hash64(b""), bloom_hash64(b"\0"));
        assert_eq!(probes_for(10), 7);
        assert_eq!(probes_for(1), 1);
        assert_eq!(probes_for(1000), BLOOM_PROBES_MAX);
    }

    #[test]
    fn filter_has_no_false_negatives_and_about_one_percent_false_positives() {
        let keys: Vec<Vec<u8>> = (0..20_000u32)
            .map(|i| format!("user{i:08}").into_bytes())
            .collect();
        let hashes: Vec<u64> = keys.iter().map(|k| bloom_hash64(k)).collect();
        let f = BloomFilter::parse(build_filter(&hashes, 10)).unwrap();
        assert!(keys.iter().all(|k| f.may_contain(k)));
        let trials = 100_000u32;
        let fp = (0..trials)
            .filter(|i| f.may_contain(format!("absent{i:08}").as_bytes()))
            .count();
        let rate = fp as f64 / f64::from(trials);
        // Theory for 10 bits/key and 7 probes: about 0.82%.
        assert!(rate > 0.002 && rate < 0.02, "false positive rate {rate}");
    }

    #[test]
    fn parse_rejects_impossible_shapes() {
        assert!(BloomFilter::parse(vec![0]).is_err());
        assert!(BloomFilter::parse(vec![0, 0]).is_err());
        assert!(BloomFilter::parse(vec![0, BLOOM_PROBES_MAX + 1]).is_err());
        let none = BloomFilter::parse(Vec::new()).unwrap();
        assert!(!none.is_enabled());
        assert!(none.may_contain(b"anything"));
    }
}
