//! Loads N random keys (default 1,000,000; 16-byte keys, 100-byte values)
//! (incompressible values) with the default options and a background thread, lets compaction
//! settle, and reports write amplification and the per-level shape.
//!
//! `cargo run --release -p strata --example write_amp [-- N [DIR]]`

use std::time::Instant;

use strata::{Db, Options, WriteBatch, WriteOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let n: u64 = std::env::args()
        .nth(1)
        .map_or(Ok(1_000_000), |s| s.parse())?;
    let tmp = tempfile::tempdir()?;
    let dir = std::env::args()
        .nth(2)
        .map_or_else(|| tmp.path().to_path_buf(), Into::into);
    let db = Db::open(&dir, Options::default())?;
    let start = Instant::now();
    let mut x: u64 = 0x2545_F491_4F6C_DD1D; // fixed seed: the same keys every run
    let mut batch = WriteBatch::new();
    for i in 0..n {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        let mut key = x.to_be_bytes().to_vec();
        key.extend_from_slice(&i.to_be_bytes());
        // Incompressible values, so LZ4 does not hide the table traffic.
        let value: Vec<u8> = (0..100u64)
            .map(|j| (x.rotate_left((j % 64) as u32) ^ j.wrapping_mul(0x9E37)) as u8)
            .collect();
        batch.put(key, value);
        if batch.len() == 100 {
            db.write(std::mem::take(&mut batch), WriteOptions::BUFFERED)?;
        }
    }
    db.write(batch, WriteOptions::BUFFERED)?;
    let load = start.elapsed();
    db.flush()?;
    db.compact()?;
    let s = db.stats();
    println!(
        "loaded {n} keys (16 B keys, 100 B values) in {:.2} s ({:.0} writes/s)",
        load.as_secs_f64(),
        n as f64 / load.as_secs_f64()
    );
    println!("user bytes      {:>14}", s.user_bytes_written);
    println!("WAL bytes       {:>14}", s.wal_bytes_written);
    println!(
        "table bytes     {:>14}  (flushes {}, compactions {}, trivial moves {})",
        s.table_bytes_written, s.flushes, s.compactions, s.trivial_moves
    );
    println!(
        "write amplification (WAL + tables) / user = {:.2}",
        s.write_amplification()
    );
    println!(
        "write stalls: {} slowdowns, {} stops",
        s.write_slowdowns, s.write_stops
    );
    for (level, l) in s.levels.iter().enumerate() {
        if l.files > 0 {
            println!("L{level}: {:>4} files {:>12} bytes", l.files, l.bytes);
        }
    }
    db.close()?;
    Ok(())
}
