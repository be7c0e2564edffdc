//! `wal_decode`: arbitrary bytes through the WAL decoders.
//!
//! One input is used three ways: `decode_payload(data[0], data[1..])`, the
//! whole input as a segment file, and the same segment with every record
//! checksum recomputed (so mutated payloads get past the CRC and reach the
//! structural checks). Checked: no panic; every decoded record is within the
//! limits and survives an encode/decode round trip; the scan's offsets and
//! its damage report agree with the file.

use std::path::Path;

use strata::batch::BatchOp;
use strata::format::wal::{
    decode_payload, encode_close_record, encode_record, scan_segment, WalLimits, WalRecord,
    RECORD_HEADER_BYTES, SEGMENT_HEADER_BYTES,
};
use strata::types::SEQNO_MAX;

use strata::fs::MemFile;

/// The limits the target decodes with: small, so oversize lengths are hit.
pub const LIMITS: WalLimits = WalLimits {
    key_bytes_max: 1024,
    value_bytes_max: 4096,
    record_bytes_max: 8192,
};

fn check_record(rec: &WalRecord) {
    assert!(rec.seqno_first >= 1);
    if rec.ops.is_empty() {
        // A close record: only the next sequence number.
        let mut buf = Vec::new();
        encode_close_record(&mut buf, rec.seqno_first, 0);
        let again = decode_payload(buf[8], &buf[RECORD_HEADER_BYTES..], &LIMITS)
            .expect("a re-encoded close record decodes");
        assert_eq!(&again, rec, "WAL close record round trip");
        return;
    }
    assert!(rec.seqno_last() <= SEQNO_MAX);
    for op in &rec.ops {
        let (key, value_len) = match op {
            BatchOp::Put { key, value } => (key, value.len()),
            BatchOp::Delete { key } => (key, 0),
        };
        assert!(key.len() <= LIMITS.key_bytes_max, "key over the limit");
        assert!(value_len <= LIMITS.value_bytes_max, "value over the limit");
    }
    // Round trip: what the decoder accepted re-encodes to the same record.
    let mut buf = Vec::new();
    encode_record(&mut buf, rec.seqno_first, &rec.ops, 0);
    let again = decode_payload(buf[8], &buf[RECORD_HEADER_BYTES..], &LIMITS)
        .expect("a re-encoded record decodes");
    assert_eq!(&again, rec, "WAL record round trip");
}

/// Recomputes the CRC of every record frame whose length fits the file.
pub fn fix_checksums(data: &mut [u8]) {
    let mut pos = SEGMENT_HEADER_BYTES;
    while pos + RECORD_HEADER_BYTES <= data.len() {
        let len = u32::from_le_bytes(data[pos + 4..pos + 8].try_into().expect("4 bytes")) as usize;
        let Some(end) = (pos + RECORD_HEADER_BYTES)
            .checked_add(len)
            .filter(|&e| e <= data.len())
        else {
            break;
        };
        let crc = crc32c::crc32c(&data[pos + 4..end]);
        data[pos..pos + 4].copy_from_slice(&crc.to_le_bytes());
        pos = end;
    }
}

fn scan(data: &[u8]) {
    // Take the segment number from the header itself, so a mutated number
    // does not stop every input at the header check.
    let number = data
        .get(8..16)
        .map_or(1, |b| u64::from_le_bytes(b.try_into().expect("8 bytes")));
    let file = MemFile::with_bytes(data.to_vec());
    let path = Path::new("fuzz/000001.wal");
    let mut last_end = 0u64;
    let mut last_seqno = 0u64;
    let result = scan_segment(
        file.as_ref(),
        path,
        number,
        &LIMITS,
        &mut |offset, rec: WalRecord| {
            assert!(offset >= last_end.max(SEGMENT_HEADER_BYTES as u64));
            assert!(offset < data.len() as u64);
            check_record(&rec);
            last_end = offset + RECORD_HEADER_BYTES as u64;
            last_seqno = last_seqno.max(rec.seqno_last());
            Ok(())
        },
    );
    if let Ok(s) = result {
        assert_eq!(s.file_bytes, data.len() as u64);
        assert!(s.valid_bytes <= s.file_bytes);
        match &s.damage {
            None => assert_eq!(s.valid_bytes, s.file_bytes, "clean scan covers the file"),
            Some(d) => {
                assert_eq!(d.offset, s.valid_bytes, "damage starts where validity ends");
                if let Some(after) = d.valid_record_after {
                    assert!(after > d.offset && after < s.file_bytes);
                }
            }
        }
    }
}

/// Runs one `wal_decode` input.
pub fn run(data: &[u8]) {
    if let Some((&kind, payload)) = data.split_first() {
        if let Ok(rec) = decode_payload(kind, payload, &LIMITS) {
            check_record(&rec);
        }
    }
    scan(data);
    let mut fixed = data.to_vec();
    fix_checksums(&mut fixed);
    if fixed != data {
        scan(&fixed);
    }
}
