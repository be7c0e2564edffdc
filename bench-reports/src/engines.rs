//! The engines the engine benchmarks compare, behind one small trait,
//! opened with comparable settings: the same memtable size, block cache size
//! and block compression (LZ4), writes acknowledged once in the OS page cache
//! (Strata `WriteOptions::BUFFERED`; fjall's default, which flushes its
//! journal to the OS on every write; RocksDB's default, which writes its WAL
//! to the OS without syncing) or synced (`DURABLE` / fjall's
//! `persist(SyncData)` / RocksDB's `WriteOptions::set_sync(true)`).
//!
//! RocksDB (the `rocksdb` crate, which builds RocksDB's C++ from source) is
//! behind the `rocksdb` feature, so CI and a plain `cargo test` never build
//! it; `bench-reports/run.sh` enables it. Its settings beyond the shared
//! ones match Strata's defaults: 4 KiB blocks, 10-bit bloom filters,
//! leveled compaction (its default).

use std::path::Path;
use std::sync::Arc;

use strata::{BackgroundMode, Db, MemtableKind, Options, WriteOptions};

/// Memtable size for both engines.
pub const MEMTABLE_BYTES: usize = 8 * 1024 * 1024;
/// Block cache size for both engines.
pub const BLOCK_CACHE_BYTES: usize = 64 * 1024 * 1024;

/// Either engine's error, boxed so both fit one trait.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The operations the engine benchmarks time.
pub trait Engine: Send + Sync {
    /// The engine's id in benchmark ids, one of [`ENGINE_NAMES`].
    fn name(&self) -> &'static str;
    /// One write; `durable` syncs it before returning.
    fn put(&self, key: &[u8], value: &[u8], durable: bool) -> Result<(), BoxError>;
    /// The value of `key`, if present.
    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BoxError>;
    /// Reads up to `count` pairs from `start` forward; returns how many.
    fn scan(&self, start: &[u8], count: usize) -> Result<usize, BoxError>;
    /// Flushes the memtable and compacts until the tree is settled.
    fn settle(&self) -> Result<(), BoxError>;
    /// WAL syncs so far, where the engine counts them (Strata).
    fn wal_syncs(&self) -> Option<u64> {
        None
    }
}

/// Reads up to `count` pairs from a scan, handing each to `black_box` so
/// the read is not optimised away; returns how many it read.
fn read_pairs<K, V, E: Into<BoxError>>(
    pairs: impl Iterator<Item = Result<(K, V), E>>,
    count: usize,
) -> Result<usize, BoxError> {
    let mut n = 0;
    for pair in pairs.take(count) {
        let (k, v) = pair.map_err(Into::into)?;
        std::hint::black_box((k, v));
        n += 1;
    }
    Ok(n)
}

/// Strata with the ART memtable and a background thread.
pub struct StrataEngine {
    db: Db,
}

impl StrataEngine {
    /// Opens (or creates) a database in `dir` with the shared settings.
    pub fn open(dir: &Path) -> Result<Self, BoxError> {
        let opts = Options {
            memtable: MemtableKind::Art,
            memtable_bytes_max: MEMTABLE_BYTES,
            block_cache_bytes: BLOCK_CACHE_BYTES,
            background: BackgroundMode::Thread,
            ..Options::default()
        };
        Ok(StrataEngine {
            db: Db::open(dir, opts)?,
        })
    }

    /// The database, for checks beyond the [`Engine`] operations.
    pub fn db(&self) -> &Db {
        &self.db
    }
}

impl Engine for StrataEngine {
    fn name(&self) -> &'static str {
        "strata"
    }

    fn put(&self, key: &[u8], value: &[u8], durable: bool) -> Result<(), BoxError> {
        let wo = if durable {
            WriteOptions::DURABLE
        } else {
            WriteOptions::BUFFERED
        };
        self.db.put(key, value, wo)?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(self.db.get(key)?)
    }

    fn scan(&self, start: &[u8], count: usize) -> Result<usize, BoxError> {
        read_pairs(self.db.range(start..)?, count)
    }

    fn settle(&self) -> Result<(), BoxError> {
        self.db.flush()?;
        self.db.compact()?;
        Ok(())
    }

    fn wal_syncs(&self) -> Option<u64> {
        Some(self.db.stats().wal_syncs)
    }
}

/// fjall 3 with one keyspace.
pub struct FjallEngine {
    db: fjall::Database,
    ks: fjall::Keyspace,
}

impl FjallEngine {
    /// Opens (or creates) a database in `dir` with the shared settings and
    /// its one keyspace.
    pub fn open(dir: &Path) -> Result<Self, BoxError> {
        let db = fjall::Database::builder(dir)
            .cache_size(BLOCK_CACHE_BYTES as u64)
            .open()?;
        let ks = db.keyspace("bench", || {
            fjall::KeyspaceCreateOptions::default().max_memtable_size(MEMTABLE_BYTES as u64)
        })?;
        Ok(FjallEngine { db, ks })
    }
}

impl Engine for FjallEngine {
    fn name(&self) -> &'static str {
        "fjall"
    }

    fn put(&self, key: &[u8], value: &[u8], durable: bool) -> Result<(), BoxError> {
        self.ks.insert(key, value)?;
        if durable {
            self.db.persist(fjall::PersistMode::SyncData)?;
        }
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(self.ks.get(key)?.map(|v| v.to_vec()))
    }

    fn scan(&self, start: &[u8], count: usize) -> Result<usize, BoxError> {
        read_pairs(self.ks.range(start..).map(|g| g.into_inner()), count)
    }

    fn settle(&self) -> Result<(), BoxError> {
        self.ks.rotate_memtable_and_wait()?;
        self.ks.major_compact()?;
        Ok(())
    }
}

/// RocksDB through the `rocksdb` crate (feature `rocksdb`).
#[cfg(feature = "rocksdb")]
pub struct RocksEngine {
    db: rocksdb::DB,
    buffered: rocksdb::WriteOptions,
    synced: rocksdb::WriteOptions,
}

#[cfg(feature = "rocksdb")]
impl RocksEngine {
    /// Opens (or creates) a database in `dir` with the shared settings.
    pub fn open(dir: &Path) -> Result<Self, BoxError> {
        let mut table = rocksdb::BlockBasedOptions::default();
        table.set_block_cache(&rocksdb::Cache::new_lru_cache(BLOCK_CACHE_BYTES));
        table.set_block_size(4096);
        table.set_bloom_filter(10.0, false);
        let mut opts = rocksdb::Options::default();
        opts.create_if_missing(true);
        opts.set_write_buffer_size(MEMTABLE_BYTES);
        opts.set_compression_type(rocksdb::DBCompressionType::Lz4);
        opts.set_block_based_table_factory(&table);
        let mut synced = rocksdb::WriteOptions::default();
        synced.set_sync(true);
        Ok(RocksEngine {
            db: rocksdb::DB::open(&opts, dir)?,
            buffered: rocksdb::WriteOptions::default(),
            synced,
        })
    }
}

#[cfg(feature = "rocksdb")]
impl Engine for RocksEngine {
    fn name(&self) -> &'static str {
        "rocksdb"
    }

    fn put(&self, key: &[u8], value: &[u8], durable: bool) -> Result<(), BoxError> {
        let wo = if durable {
            &self.synced
        } else {
            &self.buffered
        };
        self.db.put_opt(key, value, wo)?;
        Ok(())
    }

    fn get(&self, key: &[u8]) -> Result<Option<Vec<u8>>, BoxError> {
        Ok(self.db.get(key)?)
    }

    fn scan(&self, start: &[u8], count: usize) -> Result<usize, BoxError> {
        let mode = rocksdb::IteratorMode::From(start, rocksdb::Direction::Forward);
        read_pairs(self.db.iterator(mode), count)
    }

    fn settle(&self) -> Result<(), BoxError> {
        self.db.flush()?;
        self.db.compact_range::<&[u8], &[u8]>(None, None);
        Ok(())
    }
}

/// Opens the named engine (one of [`ENGINE_NAMES`]) in `dir`.
pub fn open_engine(name: &str, dir: &Path) -> Result<Arc<dyn Engine>, BoxError> {
    Ok(match name {
        "strata" => Arc::new(StrataEngine::open(dir)?),
        "fjall" => Arc::new(FjallEngine::open(dir)?),
        #[cfg(feature = "rocksdb")]
        "rocksdb" => Arc::new(RocksEngine::open(dir)?),
        other => return Err(format!("unknown engine {other:?}").into()),
    })
}

/// The engines compared, subject first (RocksDB with the `rocksdb` feature).
#[cfg(not(feature = "rocksdb"))]
pub const ENGINE_NAMES: &[&str] = &["strata", "fjall"];
/// The engines compared, subject first (RocksDB with the `rocksdb` feature).
#[cfg(feature = "rocksdb")]
pub const ENGINE_NAMES: &[&str] = &["strata", "fjall", "rocksdb"];

/// A fresh temporary directory for a benchmark's database or file, removed
/// when dropped: under `STRATA_BENCH_DIR` when set (point it at the disk
/// under test), otherwise under the system temp dir. Panics when it cannot
/// be created, as a benchmark cannot run without it.
pub fn bench_dir() -> tempfile::TempDir {
    match std::env::var_os("STRATA_BENCH_DIR") {
        Some(base) => {
            std::fs::create_dir_all(&base).expect("create STRATA_BENCH_DIR");
            tempfile::tempdir_in(base).expect("tempdir in STRATA_BENCH_DIR")
        }
        None => tempfile::tempdir().expect("tempdir"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn both_engines_read_back_writes_and_scan_in_order() {
        for &name in ENGINE_NAMES {
            let dir = tempfile::tempdir().unwrap();
            let e = open_engine(name, dir.path()).unwrap();
            for i in 0..300u32 {
                e.put(&i.to_be_bytes(), &[i as u8; 20], i % 100 == 0)
                    .unwrap();
            }
            e.settle().unwrap();
            assert_eq!(e.get(&7u32.to_be_bytes()).unwrap(), Some(vec![7u8; 20]));
            assert_eq!(e.get(&1000u32.to_be_bytes()).unwrap(), None);
            assert_eq!(e.scan(&290u32.to_be_bytes(), 100).unwrap(), 10, "{name}");
            assert_eq!(e.scan(&0u32.to_be_bytes(), 100).unwrap(), 100, "{name}");
        }
    }
}
