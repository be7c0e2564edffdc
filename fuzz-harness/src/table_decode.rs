//! `table_decode`: arbitrary bytes as an SSTable file.
//!
//! The input is opened as a table twice: as is, and with every checksum the
//! target can locate recomputed (footer CRC; index and filter block trailers
//! through the footer's handles; data block trailers through the index's
//! handles, decoded by a small independent reader below). The second form
//! lets mutated block contents reach the entry decoders. Every opened table
//! is read with `get`, `seek` and full scans in both directions.
//!
//! Checked: no panic; scans yield strictly ordered internal keys; complete
//! forward and backward scans agree; `get` only returns entries a scan saw,
//! never above the requested sequence number; `seek` lands on the first
//! entry at or after its key.

use std::cmp::Ordering;
use std::path::PathBuf;
use std::sync::Arc;

use strata::format::sst::{
    cmp_internal, BlockCache, Seal, Table, BLOCK_HANDLE_BYTES, BLOCK_TRAILER_BYTES, CODEC_LZ4,
    FOOTER_BYTES,
};
use strata::types::{SeqNo, SEQNO_MAX};

use strata::fs::MemFile;

/// Entries a scan visits at most (the input bounds the real count anyway).
const SCAN_STEPS_MAX: usize = 20_000;
/// Keys probed with `get` and `seek` at most.
const PROBES_MAX: usize = 64;
/// Largest uncompressed index the fix-up reader will inflate.
const FIXUP_INDEX_BYTES_MAX: usize = 1 << 20;

type Entry = (Vec<u8>, SeqNo, Option<Vec<u8>>);

fn handle(b: &[u8]) -> Option<(usize, usize)> {
    let offset = u64::from_le_bytes(b.get(0..8)?.try_into().ok()?);
    let size = u32::from_le_bytes(b.get(8..12)?.try_into().ok()?);
    Some((usize::try_from(offset).ok()?, size as usize))
}

/// Rewrites the trailer CRC of the block at `(offset, size)` if it fits.
/// The number every fuzzed table is opened under (its name is `000007.sst`).
pub const FUZZ_TABLE_NUMBER: u64 = 7;

fn fix_block(data: &mut [u8], seal: Seal, (offset, size): (usize, usize)) -> Option<()> {
    let end = offset.checked_add(size)?.checked_add(BLOCK_TRAILER_BYTES)?;
    if end > data.len() {
        return None;
    }
    let crc = seal.crc(offset as u64, &[&data[offset..offset + size + 1]]);
    data[offset + size + 1..end].copy_from_slice(&crc.to_le_bytes());
    Some(())
}

fn varint(b: &[u8], pos: &mut usize) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let byte = *b.get(*pos)?;
        *pos += 1;
        v |= u64::from(byte & 0x7f) << shift;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

/// The handles stored as values in an (uncompressed) index block.
fn index_handles(raw: &[u8]) -> Vec<(usize, usize)> {
    let mut out = Vec::new();
    let Some(n) = raw
        .len()
        .checked_sub(4)
        .map(|at| u32::from_le_bytes(raw[at..].try_into().expect("4 bytes")) as usize)
    else {
        return out;
    };
    let Some(entries_end) = n.checked_mul(4).and_then(|r| raw.len().checked_sub(4 + r)) else {
        return out;
    };
    let entries = &raw[..entries_end];
    let mut pos = 0;
    while pos < entries.len() {
        let (Some(_shared), Some(unshared), Some(vlen), Some(_tag)) = (
            varint(entries, &mut pos),
            varint(entries, &mut pos),
            varint(entries, &mut pos),
            varint(entries, &mut pos),
        ) else {
            break;
        };
        let Some(value_at) = usize::try_from(unshared)
            .ok()
            .and_then(|u| pos.checked_add(u))
        else {
            break;
        };
        let Some(end) = usize::try_from(vlen)
            .ok()
            .and_then(|v| value_at.checked_add(v))
        else {
            break;
        };
        let Some(value) = entries.get(value_at..end) else {
            break;
        };
        if value.len() == BLOCK_HANDLE_BYTES {
            out.extend(handle(value));
        }
        pos = end;
    }
    out
}

/// Recomputes every checksum of a table that can be located.
pub fn fix_checksums(data: &mut [u8]) {
    if data.len() < FOOTER_BYTES {
        return;
    }
    let f = data.len() - FOOTER_BYTES;
    // Footer: filter handle | index handle | entries u64 | version u32 | crc u32 | magic u64.
    // The version says whether checksums carry the seal (table number
    // `FUZZ_TABLE_NUMBER`, and the offset of what they cover).
    let version = u32::from_le_bytes(data[f + 32..f + 36].try_into().expect("4 bytes"));
    let seal = Seal::new(version, FUZZ_TABLE_NUMBER);
    let crc = seal.crc(f as u64, &[&data[f..f + 36]]);
    data[f + 36..f + 40].copy_from_slice(&crc.to_le_bytes());
    let filter = handle(&data[f..f + 12]);
    let index = handle(&data[f + 12..f + 24]);
    if let Some(h) = filter {
        fix_block(data, seal, h);
    }
    let Some((offset, size)) = index else { return };
    if fix_block(data, seal, (offset, size)).is_none() {
        return;
    }
    let stored = &data[offset..offset + size];
    let raw = if data[offset + size] == CODEC_LZ4 {
        let Some(ulen) = stored
            .get(0..4)
            .map(|b| u32::from_le_bytes(b.try_into().expect("4 bytes")) as usize)
            .filter(|&u| u <= FIXUP_INDEX_BYTES_MAX)
        else {
            return;
        };
        match lz4_flex::block::decompress(&stored[4..], ulen) {
            Ok(raw) => raw,
            Err(_) => return,
        }
    } else {
        stored.to_vec()
    };
    for h in index_handles(&raw) {
        fix_block(data, seal, h);
    }
}

/// Scans in one direction; `None` if the scan hit an error.
fn scan(table: &Arc<Table>, forward: bool) -> Option<Vec<Entry>> {
    let mut it = table.iter();
    let start = if forward {
        it.seek_to_first()
    } else {
        it.seek_to_last()
    };
    start.ok()?;
    let mut out: Vec<Entry> = Vec::new();
    while it.valid() && out.len() < SCAN_STEPS_MAX {
        let e = (
            it.user_key().to_vec(),
            it.seqno(),
            it.value().map(<[u8]>::to_vec),
        );
        assert!(e.1 <= SEQNO_MAX, "seqno above SEQNO_MAX");
        if let Some(prev) = out.last() {
            let want = if forward {
                Ordering::Less
            } else {
                Ordering::Greater
            };
            assert_eq!(
                cmp_internal(&prev.0, prev.1, &e.0, e.1),
                want,
                "scan out of internal-key order"
            );
        }
        out.push(e);
        let step = if forward { it.next() } else { it.prev() };
        step.ok()?;
    }
    Some(out)
}

fn exercise(table: Table) {
    let table = Arc::new(table);
    assert!(table.data_block_count() >= 1);
    let fwd = scan(&table, true);
    let bwd = scan(&table, false);
    if let (Some(f), Some(b)) = (&fwd, &bwd) {
        if f.len() < SCAN_STEPS_MAX && b.len() < SCAN_STEPS_MAX {
            let mut b = b.clone();
            b.reverse();
            // Not checked: the footer's entry count against the scan. It
            // is metadata that `open` cannot verify without reading every
            // block (the first fuzz run "found" a checksum-fixed count).
            assert_eq!(f, &b, "forward and backward scans disagree");
        }
    }
    let Some(all) = fwd.or(bwd) else { return };
    let mut probes: Vec<Vec<u8>> = all.iter().map(|e| e.0.clone()).collect();
    probes.dedup();
    probes.truncate(PROBES_MAX);
    probes.push(Vec::new());
    probes.push(vec![0xff; 4]);
    for key in &probes {
        for at in [SEQNO_MAX, 1, all.first().map_or(0, |e| e.1)] {
            if let Ok(Some((seqno, value))) = table.get(key, at) {
                assert!(seqno <= at, "get returned a version above its bound");
                assert!(
                    all.iter()
                        .any(|e| &e.0 == key && e.1 == seqno && e.2 == value)
                        || all.len() >= SCAN_STEPS_MAX,
                    "get returned an entry no scan saw"
                );
            }
        }
        let mut it = table.iter();
        if it.seek(key).is_ok() && it.valid() {
            assert!(
                it.user_key() >= key.as_slice(),
                "seek landed before its key"
            );
        }
    }
}

/// Runs one `table_decode` input.
pub fn run(data: &[u8]) {
    let open = |bytes: &[u8]| {
        Table::open(
            MemFile::with_bytes(bytes.to_vec()),
            PathBuf::from("fuzz/000007.sst"),
            FUZZ_TABLE_NUMBER,
            Arc::new(BlockCache::new(1 << 20)),
        )
    };
    if let Ok(t) = open(data) {
        exercise(t);
    }
    let mut fixed = data.to_vec();
    fix_checksums(&mut fixed);
    if fixed != data {
        if let Ok(t) = open(&fixed) {
            exercise(t);
        }
    }
}
