//! SSTable tests: round trips against a sorted-vector model, bloom filter
//! effect on block reads, corruption and truncation, hostile-but-checksummed
//! lengths, and the format document's constants.

use crate::sync::Arc;
use crate::sync::Mutex;
use std::collections::HashMap;
use std::io;
use std::path::{Path, PathBuf};

use super::block::{trailer, BlockBuilder, BlockHandle};
use super::*;
use crate::error::Error;
use crate::fs::{FileSystem, FsFile, MemFile, OpenMode, StdFs};
use crate::types::{SeqNo, SEQNO_MAX};

// ---------------------------------------------------------------- helpers

/// Every random choice in these tests comes from a seed.
use crate::testing::SplitMix64 as Rng;

fn random_bytes(rng: &mut Rng, len: usize, alphabet: u8) -> Vec<u8> {
    (0..len)
        .map(|_| b'a' + rng.below(u64::from(alphabet)) as u8)
        .collect()
}

type Entry = (Vec<u8>, SeqNo, Option<Vec<u8>>);

/// A sorted entry set with the awkward cases: the empty key, shared prefixes,
/// several versions, tombstones, empty values, and (if `big`) keys and values
/// larger than a block; seqnos 0 and SEQNO_MAX appear.
fn gen_entries(seed: u64, n_keys: usize, big: bool) -> Vec<Entry> {
    let mut rng = Rng(seed);
    let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
    for i in 0..n_keys {
        let len = 1 + rng.below(20) as usize;
        let mut k = random_bytes(&mut rng, len, 4);
        if big && i % 97 == 5 {
            k = random_bytes(&mut rng, 5000, 3);
        }
        keys.push(k);
    }
    keys.sort();
    keys.dedup();
    let mut out = Vec::new();
    for (ki, k) in keys.into_iter().enumerate() {
        let versions = 1 + rng.below(4) as usize;
        let mut seqnos: Vec<SeqNo> = (0..versions).map(|_| 1 + rng.below(1_000_000)).collect();
        if ki == 1 {
            seqnos.push(SEQNO_MAX);
            seqnos.push(0);
        }
        seqnos.sort_unstable_by(|a, b| b.cmp(a));
        seqnos.dedup();
        for s in seqnos {
            let roll = rng.below(100);
            let v = if roll < 20 {
                None
            } else if roll < 30 {
                Some(Vec::new())
            } else if big && roll < 33 {
                Some(random_bytes(&mut rng, 10_000, 26))
            } else {
                let len = rng.below(100) as usize;
                Some(random_bytes(&mut rng, len, 26))
            };
            out.push((k.clone(), s, v));
        }
    }
    out
}

/// The file number `mem_table` writes and `open_mem` opens with (a v2
/// table's checksums are bound to it).
const MEM_NUMBER: u64 = 7;

fn write_table(
    file: Arc<dyn FsFile>,
    path: &Path,
    number: u64,
    entries: &[Entry],
    opts: TableOptions,
) -> TableSummary {
    let mut b = TableBuilder::new(file, path.to_path_buf(), number, opts);
    for (k, s, v) in entries {
        b.add(k, *s, v.as_deref()).unwrap();
    }
    b.finish().unwrap()
}

fn mem_table(entries: &[Entry], opts: TableOptions) -> (Arc<MemFile>, TableSummary) {
    let f = Arc::new(MemFile::default());
    let s = write_table(f.clone(), Path::new("mem.sst"), MEM_NUMBER, entries, opts);
    (f, s)
}

fn open_mem(bytes: Vec<u8>, cache_bytes: usize) -> crate::Result<Arc<Table>> {
    Table::open(
        MemFile::with_bytes(bytes),
        PathBuf::from("mem.sst"),
        MEM_NUMBER,
        Arc::new(BlockCache::new(cache_bytes)),
    )
    .map(Arc::new)
}

fn model_get(model: &[Entry], key: &[u8], at: SeqNo) -> Option<(SeqNo, Option<Vec<u8>>)> {
    model
        .iter()
        .find(|(k, s, _)| k == key && *s <= at)
        .map(|(_, s, v)| (*s, v.clone()))
}

fn assert_at(it: &TableIter, model: &[Entry], idx: Option<usize>, ctx: &str) {
    match idx {
        None => assert!(
            !it.valid(),
            "{ctx}: expected invalid, at {:?}",
            it.user_key()
        ),
        Some(i) => {
            assert!(it.valid(), "{ctx}: expected entry {i}, got invalid");
            let (k, s, v) = &model[i];
            assert_eq!(it.user_key(), &k[..], "{ctx}: key at {i}");
            assert_eq!(it.seqno(), *s, "{ctx}: seqno at {i}");
            assert_eq!(it.value(), v.as_deref(), "{ctx}: value at {i}");
        }
    }
}

/// Checks every read path of `table` against `model`.
fn check_against_model(table: &Arc<Table>, model: &[Entry], seed: u64) {
    // Full iteration both ways.
    let mut it = table.iter();
    it.seek_to_first().unwrap();
    for i in 0..model.len() {
        assert_at(&it, model, Some(i), "forward");
        it.next().unwrap();
    }
    assert!(!it.valid());
    it.seek_to_last().unwrap();
    for i in (0..model.len()).rev() {
        assert_at(&it, model, Some(i), "backward");
        it.prev().unwrap();
    }
    assert!(!it.valid());

    // Point lookups at various seqnos, and probes between keys.
    for (k, s, _) in model {
        for at in [*s, s.saturating_sub(1), s.saturating_add(1), SEQNO_MAX, 0] {
            assert_eq!(
                table.get(k, at).unwrap(),
                model_get(model, k, at),
                "get {k:?}@{at}"
            );
        }
        let mut after = k.clone();
        after.push(0);
        if !model.iter().any(|(mk, _, _)| *mk == after) {
            assert_eq!(table.get(&after, SEQNO_MAX).unwrap(), None);
        }
    }

    // Seeks at and between keys.
    let mut probes: Vec<Vec<u8>> = model.iter().map(|e| e.0.clone()).collect();
    for e in model.iter().step_by(3) {
        let mut p = e.0.clone();
        p.push(0);
        probes.push(p);
        let mut q = e.0.clone();
        if let Some(last) = q.last_mut() {
            *last = last.wrapping_sub(1);
        }
        probes.push(q);
    }
    probes.push(vec![0xff; 3]);
    for p in &probes {
        it.seek(p).unwrap();
        let ge = model.partition_point(|e| e.0 < *p);
        assert_at(&it, model, (ge < model.len()).then_some(ge), "seek");
        it.seek_for_prev(p).unwrap();
        let le = model.partition_point(|e| e.0 <= *p);
        assert_at(&it, model, le.checked_sub(1), "seek_for_prev");
    }

    // A seeded random walk with direction switches.
    let mut rng = Rng(seed);
    let mut idx: Option<usize> = None;
    for step in 0..2000 {
        if idx.is_none() || rng.below(20) == 0 {
            let p = &probes[rng.below(probes.len() as u64) as usize];
            it.seek(p).unwrap();
            let ge = model.partition_point(|e| e.0 < *p);
            idx = (ge < model.len()).then_some(ge);
        } else if rng.below(2) == 0 {
            it.next().unwrap();
            idx = idx.and_then(|i| (i + 1 < model.len()).then_some(i + 1));
        } else {
            it.prev().unwrap();
            idx = idx.and_then(|i| i.checked_sub(1));
        }
        assert_at(&it, model, idx, &format!("walk step {step}"));
    }
}

fn opts(block: usize, compression: Compression) -> TableOptions {
    TableOptions {
        block_bytes_target: block,
        compression,
        ..TableOptions::default()
    }
}

// ------------------------------------------------------------------ tests

#[test]
fn round_trip_on_std_fs_compressed_and_uncompressed() {
    let dir = tempfile::tempdir().unwrap();
    let fs = StdFs;
    let model = gen_entries(0xA11CE, 1500, true);
    for (n, (block, comp)) in [
        (4096, Compression::None),
        (4096, Compression::Lz4),
        (256, Compression::None),
        (256, Compression::Lz4),
    ]
    .into_iter()
    .enumerate()
    {
        let path = dir.path().join(format!("{n:06}.sst"));
        let file = fs.open(&path, OpenMode::CreateNew).unwrap();
        let summary = write_table(file, &path, n as u64, &model, opts(block, comp));
        assert_eq!(summary.entries, model.len() as u64);
        assert_eq!(summary.smallest_key, Vec::<u8>::new());
        assert_eq!(summary.largest_key, model.last().unwrap().0);
        assert_eq!(summary.seqno_min, 0);
        assert_eq!(summary.seqno_max, SEQNO_MAX);
        let tombs = model.iter().filter(|e| e.2.is_none()).count() as u64;
        assert_eq!(summary.tombstones, tombs);

        let file = fs.open(&path, OpenMode::Read).unwrap();
        assert_eq!(file.len().unwrap(), summary.file_bytes);
        let cache = Arc::new(BlockCache::new(1 << 20));
        let table = Arc::new(Table::open(file, path.clone(), n as u64, cache).unwrap());
        assert!(
            table.data_block_count() > 10,
            "{} blocks",
            table.data_block_count()
        );
        assert_eq!(table.entries(), model.len() as u64);
        let last = model.last().unwrap();
        assert_eq!(table.largest(), (&last.0[..], last.1));
        check_against_model(&table, &model, n as u64);
    }
}

#[test]
fn round_trip_small_tables_and_restart_intervals() {
    // One entry; all-tombstone; restart every entry; restart never within a block.
    let cases: Vec<(Vec<Entry>, TableOptions)> = vec![
        (
            vec![(b"k".to_vec(), 5, Some(Vec::new()))],
            TableOptions::default(),
        ),
        (vec![(Vec::new(), 1, None)], opts(64, Compression::None)),
        (
            gen_entries(3, 200, false),
            TableOptions {
                restart_interval: 1,
                block_bytes_target: 128,
                ..TableOptions::default()
            },
        ),
        (
            gen_entries(4, 200, false),
            TableOptions {
                restart_interval: 1000,
                bloom_bits_per_key: 0,
                ..TableOptions::default()
            },
        ),
    ];
    for (i, (model, o)) in cases.into_iter().enumerate() {
        let (f, _) = mem_table(&model, o);
        let t = open_mem(f.read_all().unwrap(), 1 << 16).unwrap();
        check_against_model(&t, &model, i as u64);
    }
}

// Postmortem: the predecessor's handle stored the uncompressed size, so it could not read its own compressed tables.
#[test]
fn compressed_block_handle_stores_on_disk_size() {
    // Highly compressible values: every data block must be stored as LZ4.
    let model: Vec<Entry> = (0..2000u32)
        .map(|i| (format!("key{i:06}").into_bytes(), 1, Some(vec![b'x'; 200])))
        .collect();
    let (f, summary) = mem_table(&model, opts(4096, Compression::Lz4));
    let bytes = f.read_all().unwrap();
    let t = open_mem(bytes.clone(), 0).unwrap();
    let handles = t.handles().to_vec();
    assert!(handles.len() > 50);
    let mut next = 0u64;
    for h in &handles {
        assert_eq!(h.offset, next, "blocks tile the data area");
        let codec_at = (h.offset + u64::from(h.size)) as usize;
        assert_eq!(
            bytes[codec_at], CODEC_LZ4,
            "block at {} is compressed",
            h.offset
        );
        let ulen = u32::from_le_bytes(
            bytes[h.offset as usize..h.offset as usize + 4]
                .try_into()
                .unwrap(),
        );
        assert!(
            u64::from(h.size) * 4 < u64::from(ulen),
            "handle size {} must be the on-disk size, not the uncompressed {ulen}",
            h.size
        );
        next = h.offset + u64::from(h.size) + BLOCK_TRAILER_BYTES as u64;
    }
    assert!(summary.file_bytes < 2000 * 200 / 4);
    check_against_model(&t, &model, 1);
}

#[test]
fn bloom_filter_skips_data_block_reads_for_absent_keys() {
    let present: Vec<Entry> = (0..=10_000u32)
        .map(|i| {
            (
                format!("key{:08}", i * 2).into_bytes(),
                1,
                Some(b"v".to_vec()),
            )
        })
        .collect();
    // Absent keys interleave with present ones, so key-range checks alone
    // could not reject them.
    let absent: Vec<Vec<u8>> = (0..10_000u32)
        .map(|i| format!("key{:08}", i * 2 + 1).into_bytes())
        .collect();

    let (with, _) = mem_table(&present, TableOptions::default());
    let t = open_mem(with.read_all().unwrap(), 0).unwrap(); // no cache: every block read hits the file
    for k in &absent {
        assert_eq!(t.get(k, SEQNO_MAX).unwrap(), None);
    }
    let s = t.stats();
    assert_eq!(s.bloom_checks, 10_000);
    let false_positives = s.bloom_checks - s.bloom_negatives;
    assert_eq!(
        s.data_block_reads_disk, false_positives,
        "only false positives read a block"
    );
    let fp_rate = false_positives as f64 / 10_000.0;
    assert!(
        (0.001..0.02).contains(&fp_rate),
        "false positive rate {fp_rate}"
    );
    // Present keys are never rejected.
    for (k, _, _) in &present {
        assert!(t.may_contain(k));
        assert!(t.get(k, SEQNO_MAX).unwrap().is_some());
    }

    let no_filter = TableOptions {
        bloom_bits_per_key: 0,
        ..TableOptions::default()
    };
    let (without, _) = mem_table(&present, no_filter);
    let t = open_mem(without.read_all().unwrap(), 0).unwrap();
    for k in &absent {
        assert_eq!(t.get(k, SEQNO_MAX).unwrap(), None);
    }
    let s = t.stats();
    assert_eq!(s.bloom_checks, 0);
    assert_eq!(
        s.data_block_reads_disk, 10_000,
        "without a filter every lookup reads a block"
    );
}

#[test]
fn block_cache_serves_repeat_reads_and_stays_bounded() {
    let model = gen_entries(11, 3000, false);
    // The same entries as tables 1, 2 and 3 (their checksums name them).
    let bytes = |number: u64| {
        let f = Arc::new(MemFile::default());
        let o = opts(1024, Compression::Lz4);
        write_table(f.clone(), Path::new("t.sst"), number, &model, o);
        MemFile::with_bytes(f.read_all().unwrap())
    };
    let cache = Arc::new(BlockCache::new(1 << 20));
    let t = Table::open(bytes(1), "a.sst".into(), 1, cache.clone()).unwrap();
    let k = &model[model.len() / 2].0;
    t.get(k, SEQNO_MAX).unwrap().unwrap();
    t.get(k, SEQNO_MAX).unwrap().unwrap();
    let s = t.stats();
    assert_eq!((s.data_block_reads_disk, s.data_block_reads_cache), (1, 1));

    // A second table with another file number does not see the first's blocks.
    let t2 = Table::open(bytes(2), "b.sst".into(), 2, cache.clone()).unwrap();
    t2.get(k, SEQNO_MAX).unwrap().unwrap();
    assert_eq!(t2.stats().data_block_reads_disk, 1);

    // A small cache stays within its capacity across a full scan.
    let small = Arc::new(BlockCache::new(16 << 10));
    let t3 = Arc::new(Table::open(bytes(3), "c.sst".into(), 3, small.clone()).unwrap());
    let mut it = t3.iter();
    it.seek_to_first().unwrap();
    while it.valid() {
        it.next().unwrap();
    }
    assert!(t3.data_block_count() > 30);
    assert!(
        small.used_bytes() <= 16 << 10,
        "used {}",
        small.used_bytes()
    );
    assert!(small.len() < t3.data_block_count());
}

#[test]
fn builder_rejects_bad_input() {
    let f = Arc::new(MemFile::default());
    let mut b = TableBuilder::new(
        f.clone(),
        "x.sst".into(),
        MEM_NUMBER,
        TableOptions::default(),
    );
    b.add(b"b", 10, Some(b"v")).unwrap();
    // Same key, newer (higher) seqno after older: out of order.
    assert!(matches!(
        b.add(b"b", 11, None),
        Err(Error::InvalidArgument(_))
    ));
    // Duplicate internal key.
    assert!(matches!(
        b.add(b"b", 10, None),
        Err(Error::InvalidArgument(_))
    ));
    // Smaller user key.
    assert!(matches!(
        b.add(b"a", 1, None),
        Err(Error::InvalidArgument(_))
    ));
    assert!(matches!(
        b.add(b"c", SEQNO_MAX + 1, None),
        Err(Error::InvalidArgument(_))
    ));
    let huge = vec![0u8; BLOCK_BYTES_MAX];
    assert!(matches!(
        b.add(b"c", 1, Some(&huge)),
        Err(Error::InvalidArgument(_))
    ));
    // The builder is unchanged by rejected calls.
    b.add(b"b", 9, None).unwrap();
    let s = b.finish().unwrap();
    assert_eq!(
        (s.entries, s.tombstones, s.seqno_min, s.seqno_max),
        (2, 1, 9, 10)
    );
    let t = open_mem(f.read_all().unwrap(), 0).unwrap();
    assert_eq!(t.get(b"b", 100).unwrap(), Some((10, Some(b"v".to_vec()))));
    assert_eq!(t.get(b"b", 9).unwrap(), Some((9, None)));
    assert_eq!(t.get(b"b", 8).unwrap(), None);

    let empty = TableBuilder::new(
        Arc::new(MemFile::default()),
        "e.sst".into(),
        1,
        TableOptions::default(),
    );
    assert!(matches!(empty.finish(), Err(Error::InvalidArgument(_))));
}

/// Everything a reader can observe of a table, or the first error.
type Observation = (
    Vec<Entry>,
    Vec<Entry>,
    Vec<Option<(SeqNo, Option<Vec<u8>>)>>,
);

fn observe(bytes: Vec<u8>, keys: &[(Vec<u8>, SeqNo)]) -> crate::Result<Observation> {
    let t = open_mem(bytes, 1 << 20)?;
    let mut fwd = Vec::new();
    let mut it = t.iter();
    it.seek_to_first()?;
    while it.valid() {
        fwd.push((
            it.user_key().to_vec(),
            it.seqno(),
            it.value().map(<[u8]>::to_vec),
        ));
        it.next()?;
    }
    let mut bwd = Vec::new();
    it.seek_to_last()?;
    while it.valid() {
        bwd.push((
            it.user_key().to_vec(),
            it.seqno(),
            it.value().map(<[u8]>::to_vec),
        ));
        it.prev()?;
    }
    let mut gets = Vec::new();
    for (k, s) in keys {
        gets.push(t.get(k, *s)?);
        gets.push(t.get(k, s.saturating_sub(1))?);
    }
    Ok((fwd, bwd, gets))
}

fn corruption_small_model() -> Vec<Entry> {
    gen_entries(0xC0FFEE, 40, false)
}

#[test]
fn every_single_byte_flip_is_detected_or_harmless() {
    let model = corruption_small_model();
    let keys: Vec<(Vec<u8>, SeqNo)> = model.iter().map(|e| (e.0.clone(), e.1)).collect();
    for comp in [Compression::None, Compression::Lz4] {
        let (f, _) = mem_table(&model, opts(256, comp));
        let clean = f.read_all().unwrap();
        let baseline = observe(clean.clone(), &keys).unwrap();
        assert_eq!(baseline.0, model);
        let mut rng = Rng(0xF11F ^ clean.len() as u64);
        let mut detected = 0;
        for at in 0..clean.len() {
            let mut bad = clean.clone();
            bad[at] ^= 1 + rng.below(255) as u8;
            match observe(bad, &keys) {
                Ok(obs) => assert!(obs == baseline, "flip at {at} gave wrong data"),
                Err(e) => {
                    assert!(e.is_corruption(), "flip at {at}: {e}");
                    detected += 1;
                }
            }
        }
        // Every byte of the file is covered by a checksum (block trailers, the
        // footer CRC) or checked exactly (magic), so every flip is caught.
        assert_eq!(detected, clean.len(), "{comp:?}");
    }
}

#[test]
fn seeded_multi_byte_corruption_never_yields_wrong_data() {
    let model = gen_entries(0xBADD, 400, true);
    let keys: Vec<(Vec<u8>, SeqNo)> = model
        .iter()
        .step_by(7)
        .map(|e| (e.0.clone(), e.1))
        .collect();
    for comp in [Compression::None, Compression::Lz4] {
        let (f, _) = mem_table(&model, opts(1024, comp));
        let clean = f.read_all().unwrap();
        let baseline = observe(clean.clone(), &keys).unwrap();
        let mut rng = Rng(0x5EED ^ comp as u64);
        for trial in 0..300 {
            let mut bad = clean.clone();
            let start = rng.below(bad.len() as u64) as usize;
            let span = 1 + rng.below(64) as usize;
            let mode = rng.below(3);
            for b in bad.iter_mut().skip(start).take(span) {
                *b = match mode {
                    0 => 0,
                    1 => 0xff,
                    _ => rng.next_u64() as u8,
                };
            }
            let changed = bad != clean;
            match observe(bad, &keys) {
                Ok(obs) => assert!(obs == baseline, "trial {trial}: wrong data"),
                Err(e) => assert!(e.is_corruption() && changed, "trial {trial}: {e}"),
            }
        }
    }
}

#[test]
fn truncated_files_are_errors_naming_the_file() {
    let model = corruption_small_model();
    let (f, summary) = mem_table(&model, opts(256, Compression::Lz4));
    let clean = f.read_all().unwrap();
    for len in 0..clean.len() {
        let err = open_mem(clean[..len].to_vec(), 0).unwrap_err();
        match &err {
            Error::Corruption { file, .. } => assert_eq!(file, Path::new("mem.sst"), "len {len}"),
            other => panic!("len {len}: {other}"),
        }
    }
    // The same on the real file system, with the real path in the error.
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("000009.sst");
    let file = StdFs.open(&path, OpenMode::CreateNew).unwrap();
    file.write_at(&clean, 0).unwrap();
    for len in [
        0,
        1,
        FOOTER_BYTES as u64,
        summary.file_bytes / 2,
        summary.file_bytes - 1,
    ] {
        file.set_len(len).unwrap();
        let f = StdFs.open(&path, OpenMode::Read).unwrap();
        let err = Table::open(f, path.clone(), 9, Arc::new(BlockCache::new(0))).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        assert!(err.to_string().contains("000009.sst"), "{err}");
    }
}

/// Lengths inside a block with a VALID checksum (a hostile or buggy writer)
/// are still validated before allocation or slicing.
#[test]
fn checksummed_blocks_with_impossible_lengths_are_corruption() {
    // Replace the first data block with a crafted one, fixing its trailer.
    fn splice_first_block(clean: &[u8], handle: BlockHandle, stored: &[u8], codec: u8) -> Vec<u8> {
        assert!(stored.len() <= handle.size as usize);
        let mut bad = clean.to_vec();
        let at = handle.offset as usize;
        let mut block = stored.to_vec();
        // Pad with a tail the parser reads as part of the block; keep the size.
        block.resize(handle.size as usize, 0);
        bad[at..at + block.len()].copy_from_slice(&block);
        let t = trailer(
            Seal::new(SST_FORMAT_VERSION, MEM_NUMBER),
            handle.offset,
            &block,
            codec,
        );
        bad[at + block.len()..at + block.len() + BLOCK_TRAILER_BYTES].copy_from_slice(&t);
        bad
    }
    let model = corruption_small_model();
    let keys: Vec<(Vec<u8>, SeqNo)> = model.iter().map(|e| (e.0.clone(), e.1)).collect();
    let (f, _) = mem_table(&model, opts(512, Compression::None));
    let clean = f.read_all().unwrap();
    let h = open_mem(clean.clone(), 0).unwrap().handles()[0];
    let size = h.size as usize;

    let mut crafted: Vec<Vec<u8>> = Vec::new();
    // 1. A value length of 2^40.
    let mut b = Vec::new();
    super::coding::put_varint(&mut b, 0);
    super::coding::put_varint(&mut b, 1);
    super::coding::put_varint(&mut b, 1 << 40);
    super::coding::put_varint(&mut b, 1 << 8 | u64::from(KIND_VALUE));
    b.push(b'a');
    let mut blk = b.clone();
    blk.resize(size - 8, 0);
    blk.extend_from_slice(&0u32.to_le_bytes());
    blk.extend_from_slice(&1u32.to_le_bytes());
    crafted.push(blk);
    // 2. A restart count larger than the block.
    let mut blk = vec![0u8; size - 4];
    blk.extend_from_slice(&u32::MAX.to_le_bytes());
    crafted.push(blk);
    // 3. A restart offset past the entries.
    let mut blk = vec![0u8; size - 8];
    blk.extend_from_slice(&(size as u32).to_le_bytes());
    blk.extend_from_slice(&1u32.to_le_bytes());
    crafted.push(blk);
    for (i, blk) in crafted.iter().enumerate() {
        let bad = splice_first_block(&clean, h, blk, CODEC_NONE);
        let err = observe(bad, &keys).unwrap_err();
        assert!(err.is_corruption(), "case {i}: {err}");
    }
    // 4. An LZ4 block claiming a 4 GiB uncompressed size.
    let mut lz = u32::MAX.to_le_bytes().to_vec();
    lz.resize(size, 0);
    let bad = splice_first_block(&clean, h, &lz, CODEC_LZ4);
    let err = observe(bad, &keys).unwrap_err();
    assert!(
        err.is_corruption() && err.to_string().contains("uncompressed"),
        "{err}"
    );
    // 5. An unknown codec id.
    let bad = splice_first_block(&clean, h, &clean[h.offset as usize..][..size], 0x7f);
    let err = observe(bad, &keys).unwrap_err();
    assert!(
        err.is_corruption() && err.to_string().contains("codec"),
        "{err}"
    );
}

#[test]
fn block_builder_estimate_bounds_the_finished_size() {
    let mut b = BlockBuilder::new(16);
    let mut rng = Rng(9);
    let mut key = Vec::new();
    for i in 0..500u64 {
        key.extend_from_slice(&random_bytes(&mut rng, 1, 26));
        let vlen = rng.below(50) as usize;
        let v = random_bytes(&mut rng, vlen, 26);
        let before = b.estimated_bytes();
        b.add(&key, i, KIND_VALUE, &v);
        assert!(b.estimated_bytes() - before <= BlockBuilder::entry_bytes_max(&key, v.len()));
    }
    let est = b.estimated_bytes();
    assert_eq!(b.finish().len(), est);
}

/// The constants in `engine/docs/sstable.md` must equal the code's.
#[test]
fn doc_constants_match_code() {
    let doc = include_str!("../../docs/sstable.md");
    // The seal's reference trailer.
    let t = trailer(Seal::new(2, 7), 4096, b"abc", CODEC_NONE);
    let hex: Vec<String> = t.iter().map(|b| format!("{b:02x}")).collect();
    let line = format!("trailer `{}`", hex.join(" "));
    assert!(doc.contains(&line), "doc lacks the seal example {line}");
    let mut found: HashMap<String, u64> = HashMap::new();
    for line in doc.lines() {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        // Rows of the constants table: | `NAME` | `0xHEX` | meaning |
        if cells.len() < 4 || !cells[1].starts_with('`') {
            continue;
        }
        let name = cells[1].trim_matches('`');
        let Some(hex) = cells[2].trim_matches('`').strip_prefix("0x") else {
            continue;
        };
        let v = u64::from_str_radix(&hex.replace('_', ""), 16)
            .unwrap_or_else(|e| panic!("doc constant {name}: {hex}: {e}"));
        assert!(
            found.insert(name.to_string(), v).is_none(),
            "{name} twice in doc"
        );
    }
    let code: [(&str, u64); 12] = [
        ("SST_MAGIC", SST_MAGIC),
        ("SST_FORMAT_VERSION", u64::from(SST_FORMAT_VERSION)),
        ("SST_FORMAT_VERSION_MIN", u64::from(SST_FORMAT_VERSION_MIN)),
        ("FOOTER_BYTES", FOOTER_BYTES as u64),
        ("BLOCK_TRAILER_BYTES", BLOCK_TRAILER_BYTES as u64),
        ("BLOCK_HANDLE_BYTES", BLOCK_HANDLE_BYTES as u64),
        ("CODEC_NONE", u64::from(CODEC_NONE)),
        ("CODEC_LZ4", u64::from(CODEC_LZ4)),
        ("KIND_TOMBSTONE", u64::from(KIND_TOMBSTONE)),
        ("KIND_VALUE", u64::from(KIND_VALUE)),
        ("BLOCK_BYTES_MAX", BLOCK_BYTES_MAX as u64),
        ("BLOOM_PROBES_MAX", u64::from(BLOOM_PROBES_MAX)),
    ];
    for (name, value) in code {
        assert_eq!(found.get(name), Some(&value), "doc vs code for {name}");
    }
    assert_eq!(
        found.len(),
        code.len(),
        "doc lists constants the code lacks: {found:?}"
    );

    // The footer table's field sizes add up to FOOTER_BYTES and its offsets
    // are contiguous. Rows: | offset | size | field |, under "## Footer".
    let footer = doc
        .split("## Footer")
        .nth(1)
        .expect("doc has a Footer section");
    let mut next = 0u64;
    let mut rows = 0;
    for line in footer.lines().take_while(|l| !l.starts_with("## ")) {
        let cells: Vec<&str> = line.split('|').map(str::trim).collect();
        if cells.len() < 4 {
            continue;
        }
        let (Ok(off), Ok(size)) = (cells[1].parse::<u64>(), cells[2].parse::<u64>()) else {
            continue;
        };
        assert_eq!(off, next, "footer row {line}");
        next += size;
        rows += 1;
    }
    assert_eq!(rows, 6);
    assert_eq!(next, FOOTER_BYTES as u64);
    // And the magic sits in the last 8 bytes of a real file, as documented.
    let (f, _) = mem_table(&corruption_small_model(), TableOptions::default());
    let bytes = f.read_all().unwrap();
    assert_eq!(bytes[bytes.len() - 8..], SST_MAGIC.to_le_bytes());
}

#[test]
fn fs_trait_file_is_written_in_few_large_chunks() {
    #[derive(Debug, Default)]
    struct Counting {
        inner: MemFile,
        writes: Mutex<Vec<usize>>,
    }
    impl FsFile for Counting {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            self.inner.read_at(buf, offset)
        }
        fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
            self.writes.lock().unwrap().push(buf.len());
            self.inner.write_at(buf, offset)
        }
        fn sync_data(&self) -> io::Result<()> {
            Ok(())
        }
        fn sync_all(&self) -> io::Result<()> {
            Ok(())
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.inner.set_len(len)
        }
        fn len(&self) -> io::Result<u64> {
            self.inner.len()
        }
    }
    let model: Vec<Entry> = (0..100_000u32)
        .map(|i| {
            (
                format!("k{i:08}").into_bytes(),
                1,
                Some(format!("value{i:020}").into_bytes()),
            )
        })
        .collect();
    let f = Arc::new(Counting::default());
    let s = write_table(
        f.clone(),
        Path::new("c.sst"),
        1,
        &model,
        opts(4096, Compression::None),
    );
    let writes = f.writes.lock().unwrap().clone();
    assert!(s.file_bytes > 2 * builder_chunk() as u64);
    assert!(
        writes.len() <= (s.file_bytes / builder_chunk() as u64 + 1) as usize,
        "{writes:?}"
    );
    assert!(writes[..writes.len() - 1]
        .iter()
        .all(|&w| w >= builder_chunk()));
}

fn builder_chunk() -> usize {
    super::builder::WRITE_CHUNK_BYTES
}

#[test]
fn write_errors_surface_as_io_errors_naming_the_file() {
    #[derive(Debug)]
    struct Failing;
    impl FsFile for Failing {
        fn read_at(&self, _: &mut [u8], _: u64) -> io::Result<()> {
            Err(io::ErrorKind::Other.into())
        }
        fn write_at(&self, _: &[u8], _: u64) -> io::Result<()> {
            Err(io::Error::other("disk on fire"))
        }
        fn sync_data(&self) -> io::Result<()> {
            Ok(())
        }
        fn sync_all(&self) -> io::Result<()> {
            Ok(())
        }
        fn set_len(&self, _: u64) -> io::Result<()> {
            Ok(())
        }
        fn len(&self) -> io::Result<u64> {
            Ok(0)
        }
    }
    let mut b = TableBuilder::new(
        Arc::new(Failing),
        "f.sst".into(),
        1,
        TableOptions::default(),
    );
    b.add(b"a", 1, Some(b"v")).unwrap();
    let err = b.finish().unwrap_err();
    assert!(err.is_io() && err.to_string().contains("f.sst"), "{err}");
}

#[test]
fn concurrent_readers_share_one_table() {
    let model = gen_entries(21, 800, false);
    let (f, _) = mem_table(&model, opts(512, Compression::Lz4));
    let t = open_mem(f.read_all().unwrap(), 64 << 10).unwrap();
    let model = Arc::new(model);
    let handles: Vec<_> = (0..2u64)
        .map(|seed| {
            let (t, model) = (t.clone(), model.clone());
            crate::sync::thread::spawn(move || check_against_model(&t, &model, seed))
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    assert!(t.stats().data_block_reads_cache > 0);
}

#[test]
fn a_corrupt_block_fails_only_the_reads_that_touch_it() {
    let model: Vec<Entry> = (0..600u32)
        .map(|i| {
            (
                format!("key{i:05}").into_bytes(),
                1,
                Some(format!("v{i}").into_bytes()),
            )
        })
        .collect();
    let (f, _) = mem_table(&model, opts(512, Compression::Lz4));
    let mut bytes = f.read_all().unwrap();
    let clean = open_mem(bytes.clone(), 0).unwrap();
    let h1 = clean.handles()[1];
    bytes[h1.offset as usize + 3] ^= 0x40;
    let t = open_mem(bytes, 1 << 20).unwrap();

    // Keys of each block, from the clean table.
    let mut it = clean.iter();
    it.seek_to_first().unwrap();
    let first_of_block2 = {
        let mut n = 0;
        while it.valid()
            && cmp_internal(
                it.user_key(),
                it.seqno(),
                clean.index().user_key(1),
                clean.index().seqno(1),
            ) != std::cmp::Ordering::Greater
        {
            it.next().unwrap();
            n += 1;
        }
        assert!(n > 1);
        it.user_key().to_vec()
    };
    let in_block1 = clean.index().user_key(1).to_vec();

    // Reading through block 1 fails with a corruption naming its offset.
    let mut it = t.iter();
    it.seek_to_first().unwrap();
    let err = loop {
        assert!(it.valid());
        if let Err(e) = it.next() {
            break e;
        }
    };
    match err {
        Error::Corruption { offset, .. } => assert_eq!(offset, h1.offset),
        other => panic!("{other}"),
    }
    assert!(!it.valid());
    assert!(t.get(&in_block1, SEQNO_MAX).unwrap_err().is_corruption());
    // Other blocks still read correctly, and the cursor can be re-positioned.
    assert_eq!(
        t.get(&model[0].0, SEQNO_MAX).unwrap(),
        Some((1, model[0].2.clone()))
    );
    it.seek(&first_of_block2).unwrap();
    assert!(it.valid());
    assert_eq!(it.user_key(), &first_of_block2[..]);
    assert!(it.prev().unwrap_err().is_corruption());
}

#[test]
fn tables_and_cursors_can_cross_threads() {
    fn send_sync<T: Send + Sync>() {}
    fn send<T: Send>() {}
    send_sync::<Table>();
    send_sync::<BlockCache>();
    send::<TableIter>();
    send::<TableBuilder>();
    // And a cursor moved to another thread still reads.
    let model = gen_entries(5, 50, false);
    let (f, _) = mem_table(&model, TableOptions::default());
    let t = open_mem(f.read_all().unwrap(), 0).unwrap();
    let mut it = t.iter();
    it.seek_to_last().unwrap();
    let last = crate::sync::thread::spawn(move || it.user_key().to_vec())
        .join()
        .unwrap();
    assert_eq!(last, model.last().unwrap().0);
}

#[test]
fn a_block_of_another_table_at_the_same_offset_is_corruption() {
    // Tables 7 and 8 hold the same keys and seqnos with different values of
    // the same size, so their blocks line up: a write of table 8's block
    // misdirected onto table 7's passes every structural check.
    let model = |fill: u8| -> Vec<Entry> {
        (0..400u32)
            .map(|i| (format!("key{i:05}").into_bytes(), 1, Some(vec![fill; 40])))
            .collect()
    };
    let (mine, theirs) = (model(b'a'), model(b'b'));
    let (f, _) = mem_table(&mine, opts(512, Compression::None));
    let clean = f.read_all().unwrap();
    let other = Arc::new(MemFile::default());
    let o = opts(512, Compression::None);
    write_table(
        other.clone(),
        Path::new("o.sst"),
        MEM_NUMBER + 1,
        &theirs,
        o,
    );
    let stray = other.read_all().unwrap();
    let handles = open_mem(clean.clone(), 0).unwrap().handles().to_vec();
    let b = handles[handles.len() / 2];
    let (at, end) = (
        b.offset as usize,
        b.offset as usize + b.size as usize + BLOCK_TRAILER_BYTES,
    );
    let mut bad = clean.clone();
    bad[at..end].copy_from_slice(&stray[at..end]);
    assert_ne!(bad, clean);
    let t = open_mem(bad, 0).unwrap();
    let victim = mine
        .iter()
        .find(|e| t.block_offset(t.index().lower_bound(&e.0, e.1)) == b.offset)
        .expect("the overwritten block holds keys");
    // Without the seal this returns table 8's value.
    match t.get(&victim.0, SEQNO_MAX) {
        Err(Error::Corruption { offset, .. }) => assert_eq!(offset, b.offset),
        other => panic!("a misplaced block read as {other:?}"),
    }
}

#[test]
fn a_table_read_under_another_number_is_corruption() {
    let model = gen_entries(3, 200, false);
    let (f, _) = mem_table(&model, opts(512, Compression::Lz4));
    let bytes = f.read_all().unwrap();
    let err = Table::open(
        MemFile::with_bytes(bytes.clone()),
        "000008.sst".into(),
        MEM_NUMBER + 1,
        Arc::new(BlockCache::new(0)),
    )
    .unwrap_err();
    match &err {
        Error::Corruption { file, offset, .. } => {
            assert_eq!(file, Path::new("000008.sst"));
            assert_eq!(*offset, bytes.len() as u64 - FOOTER_BYTES as u64 + 36);
        }
        other => panic!("{other}"),
    }
    // Under its own number it opens.
    open_mem(bytes, 0).unwrap();
}

#[test]
fn version_1_tables_are_still_read() {
    let model = gen_entries(5, 300, false);
    let (f, _) = mem_table(&model, opts(512, Compression::Lz4));
    let v2 = f.read_all().unwrap();
    let t = open_mem(v2.clone(), 0).unwrap();
    // Rewrite every checksum without the seal and mark the footer version 1.
    let v1_seal = Seal::new(1, 0);
    let footer_at = v2.len() - FOOTER_BYTES;
    let mut blocks = t.handles().to_vec();
    for at in [0, BLOCK_HANDLE_BYTES] {
        let h = &v2[footer_at + at..footer_at + at + BLOCK_HANDLE_BYTES];
        blocks.push(BlockHandle::decode(h).unwrap());
    }
    let mut v1 = v2.clone();
    for h in blocks {
        let (start, end) = (h.offset as usize, (h.offset + u64::from(h.size)) as usize);
        let t = trailer(v1_seal, h.offset, &v1[start..end], v1[end]);
        v1[end..end + BLOCK_TRAILER_BYTES].copy_from_slice(&t);
    }
    v1[footer_at + 32..footer_at + 36].copy_from_slice(&1u32.to_le_bytes());
    let crc = v1_seal.crc(0, &[&v1[footer_at..footer_at + 36]]);
    v1[footer_at + 36..footer_at + 40].copy_from_slice(&crc.to_le_bytes());
    assert_ne!(v1, v2);
    let keys: Vec<(Vec<u8>, SeqNo)> = model.iter().map(|e| (e.0.clone(), e.1)).collect();
    assert_eq!(observe(v1.clone(), &keys).unwrap().0, model);
    // A version-1 table read as version 2 (or 2 as 1) fails its checks.
    v1[footer_at + 32..footer_at + 36].copy_from_slice(&2u32.to_le_bytes());
    assert!(open_mem(v1, 0).unwrap_err().is_corruption());
}
