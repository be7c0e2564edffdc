//! The built `strata` binary on healthy and damaged databases.

use std::path::Path;
use std::process::Command;

use serde_json::Value;
use strata::{Db, Options, WriteBatch, WriteOptions};

/// Runs `strata ARGS`: (exit code, stdout, stderr).
fn strata(args: &[&str]) -> (i32, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_strata"))
        .args(args)
        .output()
        .expect("run strata");
    (
        out.status.code().expect("exit code"),
        String::from_utf8(out.stdout).expect("utf-8 stdout"),
        String::from_utf8(out.stderr).expect("utf-8 stderr"),
    )
}

/// Runs `strata --json ARGS`: (exit code, parsed stdout).
fn strata_json(args: &[&str]) -> (i32, Value) {
    let mut all = vec!["--json"];
    all.extend_from_slice(args);
    let (code, out, err) = strata(&all);
    let doc = serde_json::from_str(&out).unwrap_or_else(|e| panic!("{e}: {out} / {err}"));
    (code, doc)
}

fn p(path: &Path) -> &str {
    path.to_str().expect("utf-8 path")
}

/// A database with 3,000 keys over a few tables, closed cleanly.
fn build(dir: &Path) {
    let opts = Options {
        memtable_bytes_max: 64 * 1024,
        ..Options::default()
    };
    let db = Db::open(dir, opts).unwrap();
    for i in 0..3000u32 {
        db.put(
            format!("key{i:05}").as_bytes(),
            format!("value {i}").as_bytes(),
            WriteOptions::BUFFERED,
        )
        .unwrap();
    }
    db.delete(b"key00007", WriteOptions::DURABLE).unwrap();
    db.close().unwrap();
}

fn table_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut t: Vec<_> = std::fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "sst"))
        .collect();
    t.sort();
    t
}

#[test]
fn check_passes_a_healthy_database_and_names_the_damage_in_a_broken_one() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let (code, doc) = strata_json(&["check", p(dir.path())]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["healthy"], true);
    assert_eq!(doc["last_seqno"], 3001);
    let tables = table_files(dir.path());
    assert_eq!(doc["tables_checked"], tables.len());
    // Every table entry was read (the newest writes are still in the WAL).
    let in_tables: u64 = doc["tables"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["entries"].as_u64().unwrap())
        .sum();
    assert!(in_tables > 0);
    assert_eq!(doc["entries_checked"], in_tables);

    // One flipped bit in the middle of a table's data.
    let victim = &tables[0];
    let mut bytes = std::fs::read(victim).unwrap();
    bytes[1000] ^= 0x10;
    std::fs::write(victim, &bytes).unwrap();
    let (code, doc) = strata_json(&["check", p(dir.path())]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(doc["healthy"], false);
    let problem = doc["problems"][0].as_str().unwrap();
    assert!(
        problem.contains(p(victim)) && problem.contains("at byte offset"),
        "{problem}"
    );
    // The text form says the same, and exits the same way.
    let (code, text, _) = strata(&["check", p(dir.path())]);
    assert_eq!(code, 1);
    assert!(text.contains("healthy: false"), "{text}");
}

#[test]
fn dump_wal_shows_records_and_tells_a_torn_tail_from_corruption() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::open(dir.path(), Options::default()).unwrap();
    db.put(b"a", b"1", WriteOptions::BUFFERED).unwrap();
    db.delete(b"b", WriteOptions::BUFFERED).unwrap();
    let mut batch = WriteBatch::new();
    batch.put(b"c".to_vec(), b"\x00\xff".to_vec());
    batch.delete(b"a".to_vec());
    db.write(batch, WriteOptions::DURABLE).unwrap();
    // Written after the batch's sync: its watermark covers the first three.
    db.put(b"d", b"4", WriteOptions::BUFFERED).unwrap();
    drop(db); // a crash: the records stay in the log
    let wal = std::fs::read_dir(dir.path())
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "log"))
        .unwrap();
    let (code, text, _) = strata(&["dump-wal", p(&wal)]);
    assert_eq!(code, 0);
    // Golden: offsets, kinds, sequence numbers, watermarks and escaping.
    let body: String = text.lines().skip(1).map(|l| format!("{l}\n")).collect();
    assert_eq!(
        body,
        "segment: 2\n\
         header_bytes: 16\n\
         records: (4)\n  \
         - offset=16 kind=put seqno_first=1 seqno_last=1 sync_watermark=16 ops=[op=put key=a value=1]\n  \
         - offset=51 kind=delete seqno_first=2 seqno_last=2 sync_watermark=16 ops=[op=delete key=b]\n  \
         - offset=81 kind=batch seqno_first=3 seqno_last=4 sync_watermark=16 ops=[op=put key=c value=\\x00\\xff; op=delete key=a]\n  \
         - offset=128 kind=put seqno_first=5 seqno_last=5 sync_watermark=128 ops=[op=put key=d value=4]\n\
         valid_bytes: 163\n\
         file_bytes: 163\n"
    );

    // Cut into the last record: a torn tail no sync covered.
    let bytes = std::fs::read(&wal).unwrap();
    std::fs::write(&wal, &bytes[..150]).unwrap();
    let (code, doc) = strata_json(&["dump-wal", p(&wal)]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["records"].as_array().unwrap().len(), 3);
    assert_eq!(doc["damage"]["offset"], 128);
    assert_eq!(doc["damage"]["covered_by_a_sync"], false);

    // Damage the first record of a log whose last record was synced
    // after it: corruption.
    let mut damaged = bytes.clone();
    damaged[30] ^= 1;
    std::fs::write(&wal, &damaged).unwrap();
    let (code, doc) = strata_json(&["dump-wal", p(&wal)]);
    assert_eq!(code, 1, "{doc}");
    assert_eq!(doc["damage"]["offset"], 16);
    assert_eq!(doc["damage"]["covered_by_a_sync"], true);
}

#[test]
fn dump_table_lists_entries_and_layout_and_verifies_every_block() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let table = &table_files(dir.path())[0];
    let (code, doc) = strata_json(&["dump-table", "--verify", "--limit", "3", p(table)]);
    assert_eq!(code, 0, "{doc}");
    let entries = doc["entries"].as_array().unwrap();
    assert_eq!(entries.len(), 3);
    assert!(entries[0]["key"].as_str().unwrap().starts_with("key"));
    let blocks = doc["layout"]["data_blocks"].as_array().unwrap().len();
    assert_eq!(doc["verified"]["data_blocks"], blocks);
    assert_eq!(doc["verified"]["entries"], doc["entries_in_footer"]);
    assert_eq!(doc["layout"]["format_version"], 2);
    // Keys as hex.
    let (_, doc) = strata_json(&["--hex", "dump-table", "--limit", "1", p(table)]);
    let key = doc["entries"][0]["key"].as_str().unwrap();
    assert!(key.starts_with("6b657930"), "{key}"); // "key0"
                                                   // Copied under another name, the table needs its number: its
                                                   // checksums are bound to it.
    let renamed = dir.path().join("copy.bin");
    std::fs::copy(table, &renamed).unwrap();
    let (code, _, err) = strata(&["dump-table", p(&renamed)]);
    assert_eq!(code, 2);
    assert!(err.contains("--number"), "{err}");
    let (code, doc) = strata_json(&["dump-table", "--number", "1", p(&renamed)]);
    assert_eq!(code, 2, "{doc}");
    assert!(doc["error"].as_str().unwrap().contains("checksum"), "{doc}");
}

#[test]
fn dump_manifest_shows_each_edit_and_the_final_version() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let (code, doc) = strata_json(&["dump-manifest", p(dir.path())]);
    assert_eq!(code, 0, "{doc}");
    let edits = doc["edits"].as_array().unwrap();
    assert!(edits.len() >= 2);
    assert!(edits[0]["next_file_number"].is_u64());
    let files = doc["version"]["files"].as_array().unwrap();
    assert_eq!(files.len(), table_files(dir.path()).len());
    // The manifest's seqno is what its last flush covered.
    let last_flush = edits.iter().filter_map(|e| e["last_seqno"].as_u64()).max();
    assert_eq!(doc["version"]["last_seqno"].as_u64(), last_flush);
    // The last edit's per-level counts are the final version's.
    let last = edits.last().unwrap()["files_per_level"].as_array().unwrap();
    let total: u64 = last.iter().map(|n| n.as_u64().unwrap()).sum();
    assert_eq!(total, files.len() as u64);
}

#[test]
fn get_scan_and_checkpoint() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let d = p(dir.path());
    let (code, doc) = strata_json(&["get", d, "key00042"]);
    assert_eq!((code, &doc["value"]), (0, &Value::from("value 42")));
    let (code, doc) = strata_json(&["get", d, "key00007"]);
    assert_eq!((code, &doc["found"]), (1, &Value::from(false)));
    // The same key given as hex.
    let (code, doc) = strata_json(&["--hex", "get", d, "6b65793030303432"]);
    assert_eq!((code, &doc["value"]), (0, &Value::from("76616c7565203432")));

    let (code, doc) = strata_json(&[
        "scan",
        d,
        "--from",
        "key00005",
        "--to",
        "key00010",
        "--reverse",
    ]);
    assert_eq!(code, 0);
    let keys: Vec<&str> = doc["entries"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["key"].as_str().unwrap())
        .collect();
    assert_eq!(keys, ["key00009", "key00008", "key00006", "key00005"]);
    let (_, doc) = strata_json(&["scan", d, "--limit", "2"]);
    assert_eq!(doc["count"], 2);

    let dest = dir.path().with_extension("copy");
    let (code, doc) = strata_json(&["checkpoint", d, p(&dest)]);
    assert_eq!(code, 0, "{doc}");
    assert_eq!(doc["seqno"], 3001);
    let (code, doc) = strata_json(&["get", p(&dest), "key02999"]);
    assert_eq!((code, &doc["value"]), (0, &Value::from("value 2999")));
    std::fs::remove_dir_all(&dest).unwrap();
}

#[test]
fn errors_name_the_problem_and_exit_2() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("nothing-here");
    for args in [
        vec!["check", p(&missing)],
        vec!["get", p(&missing), "k"],
        vec!["dump-manifest", p(&missing)],
        vec!["checkpoint", p(&missing), p(dir.path())],
    ] {
        let (code, out, err) = strata(&args);
        assert_eq!(code, 2, "{args:?}: {out}");
        assert!(
            err.starts_with("error: ") && err.contains("nothing-here"),
            "{args:?}: {err}"
        );
    }
    let (code, _, err) = strata(&["--hex", "get", p(dir.path()), "xyz"]);
    assert_eq!(code, 2);
    assert!(err.contains("hex"), "{err}");
}

#[test]
fn repair_salvages_a_damaged_table_and_check_passes_after_it() {
    let dir = tempfile::tempdir().unwrap();
    build(dir.path());
    let d = p(dir.path());
    let victim = table_files(dir.path())[0].clone();
    let mut bytes = std::fs::read(&victim).unwrap();
    bytes[200] ^= 0x08;
    std::fs::write(&victim, &bytes).unwrap();
    assert_eq!(strata_json(&["check", d]).0, 1);
    let (code, doc) = strata_json(&["repair", d]);
    assert_eq!(code, 1, "something was lost: {doc}");
    assert_eq!(doc["lost_nothing"], false);
    let lost = &doc["tables_lost"][0];
    let name = victim.file_name().unwrap().to_str().unwrap();
    assert!(name.contains(&format!("{:06}", lost["number"].as_u64().unwrap())));
    assert_eq!(lost["salvaged"]["lost_spans"].as_array().unwrap().len(), 1);
    assert!(doc["moved_to_lost"]
        .as_array()
        .unwrap()
        .iter()
        .any(|m| m == name));
    assert!(
        dir.path().join("lost").join(name).exists(),
        "nothing is deleted"
    );
    let (code, doc) = strata_json(&["check", d]);
    assert_eq!(code, 0, "{doc}");
    // A second repair finds nothing to lose.
    let (code, doc) = strata_json(&["repair", d]);
    assert_eq!(code, 0, "{doc}");
}
