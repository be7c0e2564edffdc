//! A real process-kill test on real files.
//!
//! The test binary re-runs itself as a child process that writes synced
//! batches and prints each acknowledged sequence number. The parent SIGKILLs
//! it at a seeded moment, reopens the database and checks that every
//! acknowledged write is present and the state is exactly a prefix of the
//! write history (batches atomic, no holes).
//!
//! `STRATA_KILL_CYCLES` (default 20) sets the number of kill cycles and
//! `STRATA_KILL_SEED` the seed; a failure prints both and the replay command.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Command, Stdio};

use strata::{Db, Options, WriteBatch, WriteOptions};

const CHILD_DIR_ENV: &str = "STRATA_KILL_CHILD_DIR";
const KEYS: u64 = 37;

/// Batch `i` of the deterministic history: two puts, so a batch ends at
/// sequence number `2 * (i + 1)`.
fn batch(i: u64) -> WriteBatch {
    let mut b = WriteBatch::new();
    b.put(format!("key-{:02}", i % KEYS), format!("value-{i}"))
        .put("counter", i.to_string());
    b
}

fn small_memtable() -> Options {
    Options {
        memtable_bytes_max: 16 * 1024,
        ..Options::default()
    }
}

/// The child: continues the history from what recovery found, acknowledging
/// each synced batch on stdout.
#[test]
fn kill_child_entry() {
    let Ok(dir) = std::env::var(CHILD_DIR_ENV) else {
        return; // Only meaningful as the child of the test below.
    };
    let db = Db::open(&dir, small_memtable()).expect("child open");
    let mut i = db.last_seqno() / 2;
    loop {
        let seq = db
            .write(batch(i), WriteOptions::DURABLE)
            .expect("child write");
        assert_eq!(seq, 2 * (i + 1));
        println!("ACK {seq}");
        i += 1;
    }
}

fn verify_prefix(dir: &Path, acked_max: u64, context: &str) -> u64 {
    let db = Db::open(dir, small_memtable()).unwrap_or_else(|e| panic!("{context}: reopen: {e}"));
    let last = db.last_seqno();
    assert!(
        last >= acked_max,
        "{context}: lost acknowledged writes: recovered {last} < acked {acked_max}"
    );
    assert_eq!(
        last % 2,
        0,
        "{context}: a batch was torn: last seqno {last}"
    );
    let batches = last / 2;
    // Model state after `batches` batches.
    let mut model = std::collections::BTreeMap::new();
    for i in 0..batches {
        model.insert(
            format!("key-{:02}", i % KEYS).into_bytes(),
            format!("value-{i}").into_bytes(),
        );
    }
    if batches > 0 {
        model.insert(b"counter".to_vec(), (batches - 1).to_string().into_bytes());
    }
    let found: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = db
        .range::<&[u8], _>(..)
        .unwrap()
        .map(|r| r.unwrap_or_else(|e| panic!("{context}: scan: {e}")))
        .collect();
    assert_eq!(
        found, model,
        "{context}: state is not the prefix of {batches} batches"
    );
    last
}

#[test]
fn sigkill_during_synced_writes_loses_nothing_acknowledged() {
    let cycles: u64 = std::env::var("STRATA_KILL_CYCLES")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(20);
    let seed: u64 = std::env::var("STRATA_KILL_SEED")
        .ok()
        .and_then(|s| s.parse().ok())
        .unwrap_or(0x5EED_0001);
    let replay = format!(
        "STRATA_KILL_SEED={seed} STRATA_KILL_CYCLES={cycles} cargo test -p strata --test process_kill"
    );
    let mut rng = strata::testing::SplitMix64::new(seed);
    let dir = tempfile::tempdir().unwrap();
    let exe = std::env::current_exe().unwrap();
    let mut acked_max = 0u64;
    for cycle in 0..cycles {
        let context = format!("seed {seed} cycle {cycle} (replay: {replay})");
        let kill_after = 1 + rng.next_u64() % 120;
        let mut child = Command::new(&exe)
            .args([
                "--exact",
                "kill_child_entry",
                "--nocapture",
                "--test-threads=1",
            ])
            .env(CHILD_DIR_ENV, dir.path())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        let stdout = BufReader::new(child.stdout.take().unwrap());
        let mut acks = 0u64;
        for line in stdout.lines() {
            let Ok(line) = line else { break };
            if let Some(s) = line.strip_prefix("ACK ") {
                let s: u64 = s.parse().unwrap();
                assert!(s > acked_max, "{context}: acks go forward");
                acked_max = s;
                acks += 1;
                if acks == kill_after {
                    child.kill().unwrap(); // SIGKILL
                    break;
                }
            }
        }
        let status = child.wait().unwrap();
        assert!(
            acks == kill_after,
            "{context}: child exited early: {status}"
        );
        let last = verify_prefix(dir.path(), acked_max, &context);
        acked_max = acked_max.max(last);
    }
    assert!(acked_max >= cycles * 2);
}
