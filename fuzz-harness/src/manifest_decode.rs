//! `manifest_decode`: arbitrary bytes through the manifest decoders.
//!
//! The input goes to `decode_edit` as one payload, to `replay` as a whole
//! manifest file, and to `replay` again with every record's two checksums
//! recomputed (so mutated edits reach the edit decoder and the version
//! builder). Checked: no panic; an accepted edit survives an encode/decode
//! round trip; a replay's offsets and counts agree with the file.

use std::path::Path;

use strata::format::manifest::{
    decode_edit, encode_edit, mask_crc, replay, RecordPlace, MANIFEST_HEADER_BYTES,
    RECORD_HEADER_BYTES, RECORD_PAYLOAD_BYTES_MAX,
};
use strata::format::version::Version;

/// The number every fuzzed manifest is replayed as (`MANIFEST-000001`).
const FUZZ_MANIFEST_NUMBER: u64 = 1;

/// Recomputes both checksums of every record whose length fits the file,
/// in the format version its header names (the header checksum of
/// version 2 covers the record's place too).
pub fn fix_checksums(data: &mut [u8]) {
    let hb = RECORD_HEADER_BYTES as usize;
    let mut at = MANIFEST_HEADER_BYTES as usize;
    let Some(version) = data.get(8..12) else {
        return;
    };
    let version = u32::from_le_bytes(version.try_into().expect("4 bytes"));
    let place = RecordPlace::new(version, FUZZ_MANIFEST_NUMBER);
    while at + hb <= data.len() {
        let len = u32::from_le_bytes(data[at..at + 4].try_into().expect("4 bytes")) as usize;
        if len as u64 > RECORD_PAYLOAD_BYTES_MAX {
            break;
        }
        let Some(end) = (at + hb).checked_add(len).filter(|&e| e <= data.len()) else {
            break;
        };
        let payload_crc = mask_crc(crc32c::crc32c(&data[at + hb..end]));
        data[at + 4..at + 8].copy_from_slice(&payload_crc.to_le_bytes());
        let header_crc = place.header_crc(at as u64, &data[at..at + 8]);
        data[at + 8..at + 12].copy_from_slice(&header_crc.to_le_bytes());
        at = end;
    }
}

fn replay_checked(data: &[u8]) {
    let path = Path::new("fuzz/MANIFEST-000001");
    if let Ok(r) = replay(data, path, FUZZ_MANIFEST_NUMBER) {
        assert!(
            r.records >= 1,
            "an accepted manifest has its snapshot record"
        );
        assert!(r.valid_bytes >= MANIFEST_HEADER_BYTES && r.valid_bytes <= data.len() as u64);
        match &r.torn_tail {
            None => assert_eq!(r.valid_bytes, data.len() as u64),
            Some(t) => {
                assert_eq!(
                    t.offset, r.valid_bytes,
                    "the torn tail starts where validity ends"
                );
                assert_eq!(t.file_bytes, data.len() as u64);
            }
        }
        r.version
            .check()
            .expect("a replayed version passes check()");
        // Differential: the incremental builder replay uses must agree with
        // applying the same edits one by one with `Version::apply`.
        let mut v = Version::new();
        for (i, payload) in record_payloads(data).take(r.records as usize).enumerate() {
            let edit = decode_edit(payload, path, 0).expect("replay decoded this edit");
            v = v
                .apply(&edit)
                .unwrap_or_else(|e| panic!("replay applied edit {i}, Version::apply refuses: {e}"));
        }
        assert_eq!(v, r.version, "VersionBuilder and Version::apply disagree");
    }
}

/// The payloads of the leading records whose frames fit the file.
fn record_payloads(data: &[u8]) -> impl Iterator<Item = &[u8]> {
    let hb = RECORD_HEADER_BYTES as usize;
    let mut at = MANIFEST_HEADER_BYTES as usize;
    std::iter::from_fn(move || {
        let len = u32::from_le_bytes(data.get(at..at + 4)?.try_into().ok()?) as usize;
        let end = (at + hb).checked_add(len).filter(|&e| e <= data.len())?;
        let payload = &data[at + hb..end];
        at = end;
        Some(payload)
    })
}

/// Runs one `manifest_decode` input.
pub fn run(data: &[u8]) {
    if let Ok(edit) = decode_edit(data, Path::new("fuzz/edit"), 0) {
        let bytes = encode_edit(&edit);
        let again =
            decode_edit(&bytes, Path::new("fuzz/edit"), 0).expect("a re-encoded edit decodes");
        assert_eq!(again, edit, "edit round trip");
    }
    replay_checked(data);
    let mut fixed = data.to_vec();
    fix_checksums(&mut fixed);
    if fixed != data {
        replay_checked(&fixed);
    }
}
