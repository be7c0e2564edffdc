//! How cost grows with the data (`bench-reports/run.sh --scale`): each
//! engine filled with 1M, 10M and 50M random 16-byte keys and 100-byte
//! values (buffered writes), settled, then read at random, with the fill
//! rate, the read rate, write amplification and space amplification at
//! each size.
//!
//! - Write amplification: bytes the process handed to `write(2)` and
//!   friends while filling and settling (the `wchar` counter of
//!   `/proc/self/io`, which counts every thread of the process, the
//!   engines' background threads included), over the user bytes written
//!   (keys plus values). It counts what the engine asked the kernel to
//!   write (WAL, tables, compaction rewrites, manifests), not what the
//!   device wrote after the page cache.
//! - Space amplification: the disk space the database directory's files
//!   occupy once settled (allocated blocks), over the user bytes.
//!
//! Output (`--out FILE`, JSON): `{"method": TEXT, "rows": [{"engine",
//! "entries", "fill_ops_per_sec", "read_ops_per_sec", "user_bytes",
//! "written_bytes", "dir_bytes", "write_amp", "space_amp"}]}`.

use std::path::Path;
use std::time::Instant;

use serde_json::{json, Value};

use crate::engines::{bench_dir, open_engine, BoxError};
use crate::workload::{
    engine_value, key_into, KeyPattern, SplitMix64, ENGINE_KEY_BYTES, ENGINE_VALUE_BYTES,
};

/// One engine at one data size.
#[derive(Clone, Debug, PartialEq)]
pub struct ScaleRow {
    /// The engine.
    pub engine: String,
    /// Entries written.
    pub entries: u64,
    /// Fill rate, writes per second (the fill alone, not the settling).
    pub fill_ops_per_sec: f64,
    /// Random point reads per second on the settled database.
    pub read_ops_per_sec: f64,
    /// Key and value bytes written by the fill.
    pub user_bytes: u64,
    /// Bytes handed to the kernel while filling and settling.
    pub written_bytes: u64,
    /// Disk bytes of the database directory's files once settled.
    pub dir_bytes: u64,
}

impl ScaleRow {
    /// Written bytes over user bytes.
    pub fn write_amp(&self) -> f64 {
        self.written_bytes as f64 / self.user_bytes.max(1) as f64
    }

    /// Directory bytes over user bytes.
    pub fn space_amp(&self) -> f64 {
        self.dir_bytes as f64 / self.user_bytes.max(1) as f64
    }
}

/// The `wchar` counter of `/proc/self/io`: bytes this process passed to
/// write-like system calls.
pub fn process_written_bytes() -> Result<u64, BoxError> {
    let text = std::fs::read_to_string("/proc/self/io")?;
    text.lines()
        .find_map(|l| l.strip_prefix("wchar:"))
        .and_then(|v| v.trim().parse().ok())
        .ok_or_else(|| "/proc/self/io has no wchar line".into())
}

/// Bytes the files under `dir` occupy on disk (allocated blocks, not
/// apparent lengths: a journal preallocated sparse or with `fallocate`
/// counts only what it holds, and each file at least one block).
pub fn dir_bytes(dir: &Path) -> Result<u64, BoxError> {
    use std::os::unix::fs::MetadataExt;
    let mut total = 0;
    for entry in std::fs::read_dir(dir)? {
        let entry = entry?;
        let meta = entry.metadata()?;
        total += if meta.is_dir() {
            dir_bytes(&entry.path())?
        } else {
            meta.blocks() * 512
        };
    }
    Ok(total)
}

/// Fills a fresh database of `engine_name` with `entries` entries, settles
/// it and reads `reads` random keys back.
pub fn measure(engine_name: &str, entries: u64, reads: u64) -> Result<ScaleRow, BoxError> {
    let dir = bench_dir();
    let written_before = process_written_bytes()?;
    let engine = open_engine(engine_name, dir.path())?;
    let mut k = Vec::with_capacity(ENGINE_KEY_BYTES);
    let start = Instant::now();
    for i in 0..entries {
        key_into(&mut k, i, ENGINE_KEY_BYTES, KeyPattern::Random);
        engine.put(&k, &engine_value(i), false)?;
    }
    let fill_secs = start.elapsed().as_secs_f64();
    engine.settle()?;
    let written_bytes = process_written_bytes()?.saturating_sub(written_before);
    let dir_bytes = dir_bytes(dir.path())?;
    let mut rng = SplitMix64::new(0x5CA1E);
    let start = Instant::now();
    for _ in 0..reads {
        key_into(
            &mut k,
            rng.below(entries.max(1)),
            ENGINE_KEY_BYTES,
            KeyPattern::Random,
        );
        if engine.get(&k)?.is_none() && entries > 0 {
            return Err(format!("{engine_name}: a loaded key read back as absent").into());
        }
    }
    let read_secs = start.elapsed().as_secs_f64();
    Ok(ScaleRow {
        engine: engine_name.to_string(),
        entries,
        fill_ops_per_sec: entries as f64 / fill_secs.max(1e-9),
        read_ops_per_sec: reads as f64 / read_secs.max(1e-9),
        user_bytes: entries * (ENGINE_KEY_BYTES + ENGINE_VALUE_BYTES) as u64,
        written_bytes,
        dir_bytes,
    })
}

/// The rows as the JSON document described at the top of this module.
pub fn to_json(rows: &[ScaleRow], reads: u64) -> Value {
    json!({
        "method": format!(
            "per engine and size, a fresh database filled with random 16 B keys and 100 B \
             values (buffered writes), then flushed and compacted until settled, then {reads} \
             random point reads; write amplification is the bytes the process passed to write \
             system calls during fill and settling (/proc/self/io wchar) over the user bytes; \
             space amplification is the disk space (allocated blocks) of the settled directory's files over the user bytes"
        ),
        "rows": rows.iter().map(|r| json!({
            "engine": r.engine,
            "entries": r.entries,
            "fill_ops_per_sec": r.fill_ops_per_sec,
            "read_ops_per_sec": r.read_ops_per_sec,
            "user_bytes": r.user_bytes,
            "written_bytes": r.written_bytes,
            "dir_bytes": r.dir_bytes,
            "write_amp": r.write_amp(),
            "space_amp": r.space_amp(),
        })).collect::<Vec<_>>(),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_small_fill_is_measured_with_plausible_amplification() {
        let row = measure("strata", 20_000, 2_000).unwrap();
        assert_eq!(row.user_bytes, 20_000 * 116);
        // Every user byte reaches the WAL and a table at least once, and the
        // settled tables (LZ4, half of each value random) hold at least a
        // third of the user bytes.
        assert!(row.write_amp() >= 1.5, "{row:?}");
        assert!(row.space_amp() > 0.33 && row.space_amp() < 3.0, "{row:?}");
        assert!(row.fill_ops_per_sec > 0.0 && row.read_ops_per_sec > 0.0);
        let doc = to_json(std::slice::from_ref(&row), 2_000);
        assert_eq!(doc["rows"][0]["entries"], 20_000);
        assert!((doc["rows"][0]["write_amp"].as_f64().unwrap() - row.write_amp()).abs() < 1e-12);
    }

    #[test]
    fn directory_bytes_add_up_allocated_blocks_in_subdirectories() {
        let d = tempfile::tempdir().unwrap();
        std::fs::write(d.path().join("a"), [1u8; 100]).unwrap();
        std::fs::create_dir(d.path().join("sub")).unwrap();
        std::fs::write(d.path().join("sub/b"), [1u8; 10_000]).unwrap();
        // Whole blocks: at least the bytes, at most a 64 KiB block each more.
        let n = dir_bytes(d.path()).unwrap();
        assert!((10_100..10_100 + 2 * 65_536).contains(&n), "{n}");
        // A sparse file counts only what it holds.
        let sparse = std::fs::File::create(d.path().join("sparse")).unwrap();
        sparse.set_len(1 << 30).unwrap();
        assert!(dir_bytes(d.path()).unwrap() < n + 65_536);
        let before = process_written_bytes().unwrap();
        std::fs::write(d.path().join("c"), [0u8; 4096]).unwrap();
        assert!(process_written_bytes().unwrap() >= before + 4096);
    }
}
