//! Writes, "crashes" by dropping the database without closing it, reopens
//! and verifies that every acknowledged durable write survived.
//!
//! `cargo run --release -p strata --example crash_recovery [-- ROUNDS]`

use std::collections::BTreeMap;

use strata::{Db, Options, WriteBatch, WriteOptions};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let rounds: u64 = std::env::args().nth(1).map_or(Ok(20), |s| s.parse())?;
    let dir = tempfile::tempdir()?;
    let mut model: BTreeMap<Vec<u8>, Vec<u8>> = BTreeMap::new();
    let mut writes = 0u64;
    for round in 0..rounds {
        let db = Db::open(dir.path(), Options::default())?;
        for i in 0..500u64 {
            let key = format!("key-{:04}", (round * 131 + i * 7) % 1000).into_bytes();
            if i % 10 == 9 {
                db.delete(&key, WriteOptions::DURABLE)?;
                model.remove(&key);
            } else {
                let mut b = WriteBatch::new();
                let value = format!("r{round}-i{i}").into_bytes();
                b.put(key.clone(), value.clone());
                db.write(b, WriteOptions::DURABLE)?;
                model.insert(key, value);
            }
            writes += 1;
        }
        drop(db); // crash: no close
        let db = Db::open(dir.path(), Options::default())?;
        let found: BTreeMap<Vec<u8>, Vec<u8>> =
            db.range::<&[u8], _>(..)?.collect::<Result<_, _>>()?;
        if found != model {
            return Err(format!("round {round}: recovered state differs from the model").into());
        }
        drop(db);
    }
    println!(
        "{rounds} crash/reopen rounds, {writes} durable writes: every acknowledged write recovered"
    );
    Ok(())
}
