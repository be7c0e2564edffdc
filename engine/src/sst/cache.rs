//! The block cache shared by all tables of a database.
//!
//! Keyed by `(file_number, block offset)`; holds verified, uncompressed
//! blocks, weighed by their size in bytes. File numbers are never reused, so a
//! deleted table's blocks are never served for another file; they age out.
//!
//! Built on `quick_cache` (a maintained, sharded, concurrent cache with
//! weight-bounded CLOCK-Pro-style eviction), which saves writing and verifying
//! a concurrent eviction policy here.

use std::fmt;
use std::sync::Arc;

use super::block::Block;

#[derive(Clone, Copy, Debug, Default)]
struct BlockWeighter;

impl quick_cache::Weighter<(u64, u64), Arc<Block>> for BlockWeighter {
    fn weight(&self, _key: &(u64, u64), val: &Arc<Block>) -> u64 {
        // Count fixed overhead too, so tiny blocks still cost something.
        val.bytes() as u64 + 64
    }
}

/// A bounded cache of uncompressed blocks, shared by all tables.
pub struct BlockCache {
    capacity_bytes: usize,
    inner: Option<quick_cache::sync::Cache<(u64, u64), Arc<Block>, BlockWeighter>>,
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
            quick_cache::sync::Cache::with_weighter(items, capacity_bytes as u64, BlockWeighter)
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
