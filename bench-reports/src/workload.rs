//! Workload pieces shared by the benchmarks and the space measurement:
//! the seeded PRNG, deterministic key generation, and one small trait over
//! every memtable under test.
//!
//! Keys are built from a 64-bit id written big-endian in the first 8 bytes,
//! so two ids never give the same key whatever the key size. Random keys use
//! a bijective mix of the entry index as the id; sequential keys use the
//! index itself. Bytes past the first 8 are derived from the id, so a key is
//! a pure function of `(index, size, pattern)`.

use std::ops::{Bound, ControlFlow};

use crossbeam_skiplist::map::Entry;
use crossbeam_skiplist::SkipMap;
use strata::memtable::Memtable;
use strata::types::{Direction, SeqNo};

/// Every random choice in the benchmarks comes from one of these with an
/// explicit seed: the workspace's one seeded generator.
pub use strata::testing::SplitMix64;

/// How entry indexes map to keys.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyPattern {
    /// Keys in increasing order of index.
    Sequential,
    /// Keys scattered uniformly over the key space.
    Random,
}

/// The smallest key size: the 8-byte id.
pub const KEY_ID_BYTES: usize = 8;

/// Writes key number `index` into `out` (cleared first).
pub fn key_into(out: &mut Vec<u8>, index: u64, key_bytes: usize, pattern: KeyPattern) {
    assert!(key_bytes >= KEY_ID_BYTES, "keys are at least 8 bytes");
    out.clear();
    let id = match pattern {
        KeyPattern::Sequential => index,
        KeyPattern::Random => SplitMix64::mix(index),
    };
    out.extend_from_slice(&id.to_be_bytes());
    let mut filler = SplitMix64::new(id);
    while out.len() < key_bytes {
        let word = filler.next_u64().to_le_bytes();
        let take = (key_bytes - out.len()).min(word.len());
        out.extend_from_slice(&word[..take]);
    }
    debug_assert_eq!(out.len(), key_bytes);
}

/// Key number `index` as a fresh vector.
pub fn key(index: u64, key_bytes: usize, pattern: KeyPattern) -> Vec<u8> {
    let mut out = Vec::with_capacity(key_bytes);
    key_into(&mut out, index, key_bytes, pattern);
    out
}

/// Reads a count from an environment variable, or `default`.
pub fn env_count(name: &str, default: u64) -> u64 {
    match std::env::var(name) {
        Ok(s) => match s.trim().replace('_', "").parse() {
            Ok(n) if n > 0 => n,
            _ => panic!("{name}={s:?} is not a positive integer"),
        },
        Err(_) => default,
    }
}

/// The memtable operations the benchmarks time.
pub trait BenchMap: Send + Sync {
    /// Inserts one version.
    fn put(&self, key: &[u8], seqno: SeqNo, value: &[u8]);
    /// Newest value of `key`, copied out (owned, as the engine's read path
    /// hands it to its caller).
    fn get(&self, key: &[u8]) -> Option<Vec<u8>>;
    /// Length of the newest value of `key`, read where it lies (the memtable
    /// trait's borrowed `get_with`): a lookup's cost without the copy, which
    /// is what the lookup benchmarks time.
    fn lookup(&self, key: &[u8]) -> Option<usize>;
    /// Visits up to `count` keys from `start` forward; returns how many keys
    /// were seen plus their total value length (so the work cannot be
    /// optimised away).
    fn scan(&self, start: &[u8], count: usize) -> (usize, usize);
    /// Number of distinct keys.
    fn len(&self) -> usize;
    /// True if empty.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// Any [`Memtable`] of the engine (the `RwLock<BTreeMap>` baseline, the ART).
pub struct EngineMemtable<M: Memtable>(pub M);

impl<M: Memtable> BenchMap for EngineMemtable<M> {
    fn put(&self, key: &[u8], seqno: SeqNo, value: &[u8]) {
        self.0.insert(key, seqno, Some(value));
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.0.get(key, SeqNo::MAX).and_then(|(_, v)| v)
    }

    fn lookup(&self, key: &[u8]) -> Option<usize> {
        let mut len = None;
        self.0
            .get_with(key, SeqNo::MAX, &mut |_, v| len = v.map(<[u8]>::len));
        len
    }

    fn scan(&self, start: &[u8], count: usize) -> (usize, usize) {
        let (mut keys, mut value_bytes) = (0usize, 0usize);
        if count == 0 {
            return (0, 0);
        }
        self.0.scan(
            Bound::Included(start),
            Bound::Unbounded,
            Direction::Forward,
            &mut |_, versions| {
                keys += 1;
                value_bytes += versions
                    .first()
                    .and_then(|v| v.value)
                    .map_or(0, <[u8]>::len);
                if keys == count {
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        (keys, value_bytes)
    }

    fn len(&self) -> usize {
        self.0.len()
    }
}

/// One version in [`SkipMapMemtable`]: internal key `(user key, !seqno)`.
type SkipEntry<'a> = Entry<'a, (Vec<u8>, u64), Vec<u8>>;

/// crossbeam-skiplist's `SkipMap` used the way an LSM uses a skiplist
/// memtable: one entry per version under an internal key `(user key,
/// !seqno)`, so a key's newer versions sort first.
#[derive(Default)]
pub struct SkipMapMemtable {
    map: SkipMap<(Vec<u8>, u64), Vec<u8>>,
}

impl SkipMapMemtable {
    /// An empty map.
    pub fn new() -> Self {
        Self::default()
    }

    fn internal_key(key: &[u8], seqno: SeqNo) -> (Vec<u8>, u64) {
        (key.to_vec(), !seqno)
    }

    /// The newest version of `key`: it sorts first among the key's
    /// internal keys.
    fn newest(&self, key: &[u8]) -> Option<SkipEntry<'_>> {
        let probe = Self::internal_key(key, SeqNo::MAX);
        let entry = self.map.lower_bound(Bound::Included(&probe))?;
        (entry.key().0 == key).then_some(entry)
    }
}

impl BenchMap for SkipMapMemtable {
    fn put(&self, key: &[u8], seqno: SeqNo, value: &[u8]) {
        self.map
            .insert(Self::internal_key(key, seqno), value.to_vec());
    }

    fn get(&self, key: &[u8]) -> Option<Vec<u8>> {
        self.newest(key).map(|entry| entry.value().clone())
    }

    fn lookup(&self, key: &[u8]) -> Option<usize> {
        self.newest(key).map(|entry| entry.value().len())
    }

    fn scan(&self, start: &[u8], count: usize) -> (usize, usize) {
        let probe = Self::internal_key(start, SeqNo::MAX);
        let (mut keys, mut value_bytes) = (0usize, 0usize);
        let mut previous: Option<Vec<u8>> = None;
        for entry in self.map.range(probe..) {
            if keys == count {
                break;
            }
            let user_key = entry.key().0.as_slice();
            if previous.as_deref() == Some(user_key) {
                continue; // an older version of the key just visited
            }
            previous = Some(user_key.to_vec());
            keys += 1;
            value_bytes += entry.value().len();
        }
        (keys, value_bytes)
    }

    fn len(&self) -> usize {
        // One version per key in these workloads; counting distinct keys
        // would need a scan.
        self.map.len()
    }
}

/// A named memtable constructor.
pub struct MapKind {
    /// The name benchmarks and reports use.
    pub name: &'static str,
    /// Makes an empty map of this kind.
    pub make: fn() -> Box<dyn BenchMap>,
}

fn make_art() -> Box<dyn BenchMap> {
    Box::new(EngineMemtable(strata::memtable::ArtMemtable::new()))
}

fn make_btree() -> Box<dyn BenchMap> {
    Box::new(EngineMemtable(strata::memtable::BTreeMemtable::new()))
}

fn make_skipmap() -> Box<dyn BenchMap> {
    Box::new(SkipMapMemtable::new())
}

/// Every memtable under test. The report treats `art` as the subject and the
/// others as its peers.
pub fn map_kinds() -> Vec<MapKind> {
    vec![
        MapKind {
            name: "art",
            make: make_art,
        },
        MapKind {
            name: "btree",
            make: make_btree,
        },
        MapKind {
            name: "skipmap",
            make: make_skipmap,
        },
    ]
}

/// The value stored for entry `index`: 8 bytes.
pub fn value_for(index: u64) -> [u8; 8] {
    index.to_le_bytes()
}

/// Key bytes of the engine benchmarks.
pub const ENGINE_KEY_BYTES: usize = 16;
/// Value bytes of the engine benchmarks.
pub const ENGINE_VALUE_BYTES: usize = 100;
/// Entries of the engine benchmarks' data set unless
/// `STRATA_BENCH_ENGINE_ENTRIES` says otherwise.
pub const ENGINE_ENTRIES_DEFAULT: u64 = 200_000;

/// The engine benchmarks' value for entry `index`: 100 bytes derived from
/// the index (not all-equal bytes, so LZ4 does not squeeze it to nothing;
/// still somewhat compressible).
pub fn engine_value(index: u64) -> [u8; ENGINE_VALUE_BYTES] {
    let mut v = [0u8; ENGINE_VALUE_BYTES];
    let mut r = SplitMix64::new(index);
    for chunk in v.chunks_mut(8).step_by(2) {
        let w = r.next_u64().to_le_bytes();
        chunk.copy_from_slice(&w[..chunk.len()]);
    }
    v
}

/// Inserts entries `0..n` with sequence numbers `1..=n`.
pub fn load(map: &dyn BenchMap, n: u64, key_bytes: usize, pattern: KeyPattern) {
    let mut k = Vec::with_capacity(key_bytes);
    for i in 0..n {
        key_into(&mut k, i, key_bytes, pattern);
        map.put(&k, i + 1, &value_for(i));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn keys_are_unique_sized_and_deterministic() {
        for size in [8, 16, 64] {
            for pattern in [KeyPattern::Sequential, KeyPattern::Random] {
                let keys: HashSet<Vec<u8>> = (0..2000).map(|i| key(i, size, pattern)).collect();
                assert_eq!(keys.len(), 2000);
                assert!(keys.iter().all(|k| k.len() == size));
                assert_eq!(key(77, size, pattern), key(77, size, pattern));
            }
        }
        assert!(key(1, 16, KeyPattern::Sequential) < key(2, 16, KeyPattern::Sequential));
    }

    #[test]
    fn every_map_kind_agrees_on_gets_and_scans() {
        for kind in map_kinds() {
            let map = (kind.make)();
            load(map.as_ref(), 500, 16, KeyPattern::Random);
            // A second version of one key: newest wins, still one key.
            let k3 = key(3, 16, KeyPattern::Random);
            map.put(&k3, 10_000, b"newer");
            assert_eq!(
                map.get(&k3).as_deref(),
                Some(&b"newer"[..]),
                "{}",
                kind.name
            );
            assert_eq!(map.lookup(&k3), Some(b"newer".len()), "{}", kind.name);
            let k4 = key(4, 16, KeyPattern::Random);
            assert_eq!(map.get(&k4), Some(value_for(4).to_vec()), "{}", kind.name);
            assert_eq!(map.lookup(&k4), Some(value_for(4).len()), "{}", kind.name);
            let absent = key(9999, 16, KeyPattern::Random);
            assert_eq!(map.get(&absent), None);
            assert_eq!(map.lookup(&absent), None, "{}", kind.name);
            // Scanning from the smallest key sees 100 distinct keys.
            let mut all: Vec<Vec<u8>> = (0..500).map(|i| key(i, 16, KeyPattern::Random)).collect();
            all.sort();
            let (n, bytes) = map.scan(&all[0], 100);
            assert_eq!(n, 100, "{}", kind.name);
            let newer_in_range = all[..100].contains(&k3);
            assert_eq!(bytes, 100 * 8 - if newer_in_range { 3 } else { 0 });
            // Near the end the scan runs out of keys.
            assert_eq!(map.scan(&all[495], 100).0, 5, "{}", kind.name);
        }
    }
}
