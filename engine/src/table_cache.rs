//! Open tables, shared by readers, flush and compaction.

use crate::sync::Arc;
use crate::sync::{Mutex, MutexGuard};
use std::collections::HashMap;
use std::path::PathBuf;

use crate::error::{Error, Result};
use crate::filename::table_file_name;
use crate::fs::{FileSystem, OpenMode};
use crate::sst::{BlockCache, Table, TableStats};
use crate::sync::lock;

/// Keeps each live table open once; evicted when the file is deleted.
#[derive(Debug)]
pub(crate) struct TableCache {
    fs: Arc<dyn FileSystem>,
    dir: PathBuf,
    blocks: Arc<BlockCache>,
    open: Mutex<HashMap<u64, Arc<Table>>>,
}

impl TableCache {
    pub fn new(fs: Arc<dyn FileSystem>, dir: PathBuf, blocks: Arc<BlockCache>) -> Self {
        TableCache {
            fs,
            dir,
            blocks,
            open: Mutex::new(HashMap::new()),
        }
    }

    /// The open table `number`, opening it on first use.
    pub fn get(&self, number: u64) -> Result<Arc<Table>> {
        if let Some(t) = self.open_tables().get(&number) {
            return Ok(t.clone());
        }
        let path = self.dir.join(table_file_name(number));
        let file = self
            .fs
            .open(&path, OpenMode::Read)
            .map_err(|e| Error::io(&path, e))?;
        let table = Arc::new(Table::open(file, path, number, self.blocks.clone())?);
        Ok(self.open_tables().entry(number).or_insert(table).clone())
    }

    /// The block cache the tables share.
    pub fn blocks(&self) -> &BlockCache {
        &self.blocks
    }

    /// Read counters summed over the tables open now.
    pub fn read_stats(&self) -> TableStats {
        let mut sum = TableStats::default();
        for t in self.open_tables().values() {
            let s = t.stats();
            sum.data_block_reads_disk += s.data_block_reads_disk;
            sum.data_block_reads_cache += s.data_block_reads_cache;
            sum.bloom_negatives += s.bloom_negatives;
            sum.bloom_checks += s.bloom_checks;
        }
        sum
    }

    /// Forgets table `number` (its file is being deleted).
    pub fn evict(&self, number: u64) {
        self.open_tables().remove(&number);
    }

    fn open_tables(&self) -> MutexGuard<'_, HashMap<u64, Arc<Table>>> {
        lock(&self.open)
    }
}
