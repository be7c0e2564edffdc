//! The block cache shared by all tables of a database.
//!
//! Keyed by `(file_number, block offset)`; holds verified, uncompressed
//! blocks, weighed by their size in bytes. File numbers are never reused, so a
//! deleted table's blocks are never served for another file; they age out.
//!
//! Built on `quick_cache` (a maintained, sharded, concurrent cache with
//! weight-bounded CLOCK-Pro-style eviction), which saves writing and verifying
//! a concurrent eviction policy here.

use crate::sync::Arc;
use std::fmt;

use super::block::Block;

#[derive(Clone, Copy, Debug, Default)]
struct BlockWeighter;

/// A hasher with fixed keys. The cache's default hasher is seeded at random
/// per process, and its shard count follows the machine's core count; both
/// decide which blocks are evicted, hence which reads reach the disk. The
/// simulator counts and faults every disk read, so a run must not depend on
/// either: one seed, one run, on any machine. (Keys are internal file
/// numbers and offsets, so a fixed hash key opens no flooding attack.)
type FixedHash = std::hash::BuildHasherDefault<std::collections::hash_map::DefaultHasher>;

/// Shards of the cache, fixed for the same reason.
const CACHE_SHARDS: usize = 16;

type Inner = quick_cache::sync::Cache<
    (u64, u64),
    Arc<Block>,
    BlockWeighter,
    FixedHash,
    quick_cache::sync::DefaultLifecycle<(u64, u64), Arc<Block>>,
>;

impl quick_cache::Weighter<(u64, u64), Arc<Block>> for BlockWeighter {
    fn weight(&self, _key: &(u64, u64), val: &Arc<Block>) -> u64 {
        // Count fixed overhead too, so tiny blocks still cost something.
        val.bytes() as u64 + 64
    }
}

/// A bounded cache of uncompressed blocks, shared by all tables.
pub struct BlockCache {
    capacity_bytes: usize,
    inner: Option<Inner>,
}

impl fmt::Debug for BlockCache {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockCache")
            .field("capacity_bytes", &self.capacity_bytes)
            .field("used_bytes", &self.used_bytes())
            .finish()
    }
}

impl BlockCache {
    /// A cache holding at most about `capacity_bytes` of blocks. Zero disables
    /// caching (every read goes to disk).
    pub fn new(capacity_bytes: usize) -> BlockCache {
        let inner = (capacity_bytes > 0).then(|| {
            // Estimate of item count: 4 KiB blocks.
            let items = (capacity_bytes / 4096).max(16);
            let options = quick_cache::OptionsBuilder::new()
                .estimated_items_capacity(items)
                .weight_capacity(capacity_bytes as u64)
                .shards(CACHE_SHARDS)
                .build()
                .expect("capacity and shard count are valid");
            Inner::with_options(
                options,
                BlockWeighter,
                FixedHash::default(),
                Default::default(),
            )
        });
        BlockCache {
            capacity_bytes,
            inner,
        }
    }

    /// Configured capacity.
    pub fn capacity_bytes(&self) -> usize {
        self.capacity_bytes
    }

    /// Weight currently held.
    pub fn used_bytes(&self) -> u64 {
        self.inner.as_ref().map_or(0, |c| c.weight())
    }

    /// Number of cached blocks.
    pub fn len(&self) -> usize {
        self.inner.as_ref().map_or(0, |c| c.len())
    }

    /// True if nothing is cached.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    pub(crate) fn get(&self, file_number: u64, offset: u64) -> Option<Arc<Block>> {
        self.inner.as_ref()?.get(&(file_number, offset))
    }

    pub(crate) fn insert(&self, file_number: u64, offset: u64, block: Arc<Block>) {
        if let Some(c) = &self.inner {
            c.insert((file_number, offset), block);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::SplitMix64;

    /// Which of a fixed stream of blocks a small cache still holds after a
    /// seeded mix of inserts and lookups.
    fn survivors(cache: &BlockCache) -> Vec<(u64, u64)> {
        const FILES: u64 = 200;
        const BLOCKS: u64 = 64;
        let mut rng = SplitMix64::new(42);
        let path = std::path::Path::new("t");
        for i in 0..20_000u64 {
            let key = (rng.below(FILES), rng.below(BLOCKS) * 4096);
            if cache.get(key.0, key.1).is_none() {
                // A block with an empty entry area and one restart at 0,
                // padded to a few hundred bytes.
                let mut data = vec![0u8; 64 + (i as usize % 7) * 500];
                data.extend_from_slice(&0u32.to_le_bytes());
                data.extend_from_slice(&1u32.to_le_bytes());
                let block = Block::parse(data, path, 0).expect("valid block");
                cache.insert(key.0, key.1, Arc::new(block));
            }
        }
        let mut held = Vec::new();
        for file in 0..FILES {
            for block in 0..BLOCKS {
                if cache.get(file, block * 4096).is_some() {
                    held.push((file, block * 4096));
                }
            }
        }
        held
    }

    /// Postmortem: two runs of the same 50-seed campaign (`--jobs 2`)
    /// reported different disk I/O call counts. The cache took its hasher
    /// from the cache crate's default (keyed per process or per instance)
    /// and its shard count from the core count, and both decide which
    /// blocks are evicted, so the disk reads the simulator counts and
    /// faults were not a function of the seed alone. After fixing both,
    /// nine runs agreed. Eviction must depend on the access sequence only
    /// (this test fails with a per-instance random hasher).
    #[test]
    fn eviction_is_the_same_for_the_same_accesses() {
        let first = survivors(&BlockCache::new(1 << 20));
        assert!(!first.is_empty());
        assert!(first.len() < 200 * 64, "the cache must have evicted");
        for _ in 0..4 {
            // Caches built later in the process, and on another thread.
            let again = crate::sync::thread::spawn(|| survivors(&BlockCache::new(1 << 20)))
                .join()
                .unwrap();
            assert_eq!(again, first);
        }
    }
}
