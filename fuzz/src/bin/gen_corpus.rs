//! Writes the seed corpora from real engine output:
//! `cargo run --manifest-path fuzz/Cargo.toml --bin gen-corpus [OUT_DIR]`
//! (default `fuzz/corpus`). Deterministic: the same build writes the same
//! files. Also checks that the undamaged base database opens to its state.

use std::fs;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use strata::batch::BatchOp;
use strata::format::sst::{Compression, TableBuilder, TableOptions};
use strata::format::wal::encode_record;
use strata::fs::{FileSystem, MemFs, OpenMode};
use strata::{Db, WriteBatch, WriteOptions};
use strata_fuzz_harness::open_corrupted::{build_base, check_clean, options, BASE_SEED};
use strata_fuzz_harness::table_decode::FUZZ_TABLE_NUMBER;

fn write(dir: &Path, name: &str, bytes: &[u8]) {
    fs::create_dir_all(dir).expect("create corpus dir");
    fs::write(dir.join(name), bytes).expect("write corpus file");
}

fn small_table(compression: Compression, bloom_bits_per_key: u32) -> Vec<u8> {
    let mfs = MemFs::new();
    let path = PathBuf::from("t.sst");
    let file = mfs.open(&path, OpenMode::CreateNew).expect("create table");
    let opts = TableOptions {
        block_bytes_target: 64,
        compression,
        bloom_bits_per_key,
        restart_interval: 2,
    };
    let mut b = TableBuilder::new(Arc::clone(&file), path, FUZZ_TABLE_NUMBER, opts);
    for i in 0..12u64 {
        let key = format!("key{:02}", i / 2).into_bytes();
        let seqno = 100 - i;
        let value = (i % 3 != 0).then(|| vec![b'a' + (i as u8); (i as usize) * 3]);
        b.add(&key, seqno, value.as_deref()).expect("add entry");
    }
    b.finish().expect("finish table");
    file.read_all().expect("read table")
}

/// The WAL segment of a database closed cleanly after a few writes: it
/// ends with a close record (the base image ends in a crash, so its
/// segments have none).
fn cleanly_closed_log() -> (String, Vec<u8>) {
    let mfs = MemFs::new();
    let db = Db::open("/closed", options(&mfs)).expect("open");
    let w = WriteOptions::BUFFERED;
    db.put(b"alpha", b"1", w).expect("put");
    db.put(b"beta", &[7; 40], w).expect("put");
    db.delete(b"alpha", w).expect("delete");
    let mut b = WriteBatch::new();
    b.put(b"gamma".to_vec(), b"3".to_vec());
    b.delete(b"beta".to_vec());
    db.write(b, WriteOptions::DURABLE).expect("batch");
    db.close().expect("close");
    let (path, bytes) = mfs
        .image()
        .into_iter()
        .filter(|(p, _)| p.extension().is_some_and(|e| e == "log"))
        .max()
        .expect("a WAL segment");
    let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
    (format!("closed-{name}"), bytes)
}

fn main() {
    let out = PathBuf::from(
        std::env::args()
            .nth(1)
            .unwrap_or_else(|| format!("{}/corpus", env!("CARGO_MANIFEST_DIR"))),
    );
    let base = build_base(BASE_SEED);
    check_clean(&base);

    let (mut wal, mut sst, mut man) = (0, 0, 0);
    for (path, bytes) in &base.image {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.ends_with(".log") && bytes.len() <= 64 * 1024 {
            write(&out.join("wal_decode"), &format!("engine-{name}"), bytes);
            wal += 1;
        } else if name.ends_with(".sst") && bytes.len() <= 64 * 1024 {
            // The target opens every input as table FUZZ_TABLE_NUMBER, and
            // a table's checksums name its number: re-seal it under that.
            let mut bytes = bytes.clone();
            strata_fuzz_harness::table_decode::fix_checksums(&mut bytes);
            write(&out.join("table_decode"), &format!("engine-{name}"), &bytes);
            sst += 1;
        } else if name.starts_with("MANIFEST-") {
            // Likewise, the target replays every input as MANIFEST-000001.
            let mut bytes = bytes.clone();
            strata_fuzz_harness::manifest_decode::fix_checksums(&mut bytes);
            let bytes = &bytes;
            // And as format version 1 (no place in the header checksums).
            let mut v1 = bytes.clone();
            v1[8..12].copy_from_slice(&1u32.to_le_bytes());
            strata_fuzz_harness::manifest_decode::fix_checksums(&mut v1);
            write(
                &out.join("manifest_decode"),
                &format!("engine-{name}-format-v1"),
                &v1,
            );
            write(
                &out.join("manifest_decode"),
                &format!("engine-{name}"),
                bytes,
            );
            // The first record's payload alone, for `decode_edit`.
            if bytes.len() > 24 {
                write(
                    &out.join("manifest_decode"),
                    &format!("edit-{name}"),
                    &bytes[24..],
                );
            }
            man += 1;
        }
    }
    let (name, bytes) = cleanly_closed_log();
    let number = u64::from_le_bytes(bytes[8..16].try_into().expect("8 bytes"));
    let mut closes = 0;
    let scan = strata::format::wal::scan_segment(
        strata::fs::MemFile::with_bytes(bytes.clone()).as_ref(),
        Path::new(&name),
        number,
        &strata_fuzz_harness::wal_decode::LIMITS,
        &mut |_, rec| {
            closes += usize::from(rec.ops.is_empty());
            Ok(())
        },
    )
    .expect("the closed segment scans");
    assert!(
        closes == 1 && scan.damage.is_none(),
        "{name}: a cleanly closed segment must end with one close record"
    );
    write(&out.join("wal_decode"), &name, &bytes);
    wal += 1;
    // Single payloads for `decode_payload` (kind byte + payload).
    let put = BatchOp::Put {
        key: b"k".to_vec(),
        value: b"v".to_vec(),
    };
    let del = BatchOp::Delete { key: b"k".to_vec() };
    let empty = BatchOp::Put {
        key: Vec::new(),
        value: Vec::new(),
    };
    for (name, ops) in [
        ("payload-put", vec![put.clone()]),
        ("payload-delete", vec![del.clone()]),
        ("payload-batch", vec![put, del, empty]),
    ] {
        let mut rec = Vec::new();
        encode_record(&mut rec, 7, &ops, 0);
        let mut input = vec![rec[8]];
        input.extend_from_slice(&rec[strata::format::wal::RECORD_HEADER_BYTES..]);
        write(&out.join("wal_decode"), name, &input);
    }
    write(
        &out.join("table_decode"),
        "small-raw-nobloom",
        &small_table(Compression::None, 0),
    );
    write(
        &out.join("table_decode"),
        "small-lz4-bloom",
        &small_table(Compression::Lz4, 10),
    );
    // The same table in format version 1 (checksums without the seal),
    // which readers still accept.
    let mut v1 = small_table(Compression::Lz4, 10);
    let version_at = v1.len() - strata::format::sst::FOOTER_BYTES + 32;
    v1[version_at..version_at + 4].copy_from_slice(&1u32.to_le_bytes());
    strata_fuzz_harness::table_decode::fix_checksums(&mut v1);
    write(&out.join("table_decode"), "small-lz4-bloom-format-v1", &v1);

    // open_corrupted: no mutation, then one of each kind on each file.
    let dir = out.join("open_corrupted");
    write(&dir, "none", &[]);
    for sel in 0..base.image.len() as u8 {
        write(&dir, &format!("flip-{sel}"), &[0, sel, 40, 0, 0, 0, 0x10]);
        write(&dir, &format!("truncate-{sel}"), &[1, sel, 200, 0, 0, 0]);
        write(&dir, &format!("remove-{sel}"), &[2, sel]);
    }
    // The model targets: PRNG inputs chosen for what their ops cover.
    let art = strata_fuzz_harness::art_model::seed_inputs();
    for (name, bytes) in &art {
        write(&out.join("art_model"), name, bytes);
    }
    let engine = strata_fuzz_harness::engine_model::seed_inputs();
    for (name, bytes) in &engine {
        write(&out.join("engine_model"), name, bytes);
    }
    println!(
        "model corpora: {} art_model, {} engine_model",
        art.len(),
        engine.len()
    );
    println!(
        "corpus in {}: {wal} WAL segments, {sst} tables, {man} manifests, {} base files",
        out.display(),
        base.image.len()
    );
}
