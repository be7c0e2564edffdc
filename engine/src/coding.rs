//! Integer encodings shared by every on-disk format (WAL, manifest,
//! tables): LEB128 varints, length-prefixed byte strings and little-endian
//! fixed-width integers.
//!
//! Decoders never panic: they take a slice and a position, and return `None`
//! (or a [`VarintError`]) when the bytes run out or a varint is overlong;
//! callers turn that into a `Corruption` error with the absolute file offset
//! and their own words for the field.

/// Longest LEB128 encoding of a u64.
pub(crate) const VARINT_BYTES_MAX: usize = 10;

/// Appends `v` as an unsigned LEB128 varint (1..=10 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Why a varint did not decode.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum VarintError {
    /// The bytes ran out before the last byte of the varint.
    Truncated,
    /// Its tenth byte carries more than the 64th bit, or a continuation.
    Overflow,
}

/// Decodes a varint at `*pos`, advancing `*pos` past it on success and
/// leaving it alone on failure. Accepts encodings longer than the shortest
/// one (callers that must reject them compare the length consumed with
/// [`varint_len`]).
pub(crate) fn decode_varint(buf: &[u8], pos: &mut usize) -> Result<u64, VarintError> {
    let mut result: u64 = 0;
    let mut p = *pos;
    for i in 0..VARINT_BYTES_MAX {
        let byte = *buf.get(p).ok_or(VarintError::Truncated)?;
        p += 1;
        if i == VARINT_BYTES_MAX - 1 && byte > 1 {
            return Err(VarintError::Overflow);
        }
        result |= u64::from(byte & 0x7f) << (7 * i);
        if byte & 0x80 == 0 {
            *pos = p;
            return Ok(result);
        }
    }
    unreachable!("the tenth byte either ends the varint or overflows")
}

/// Decodes a varint at `*pos`, advancing `*pos`. `None` if truncated or
/// longer than 10 bytes or overflowing 64 bits.
pub(crate) fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    decode_varint(buf, pos).ok()
}

/// Bytes in the shortest encoding of `v` (1..=10).
pub(crate) fn varint_len(v: u64) -> usize {
    let bits = 64 - v.leading_zeros() as usize;
    bits.div_ceil(7).max(1)
}

/// Appends `b` with its length as a varint in front.
pub(crate) fn put_length_prefixed(out: &mut Vec<u8>, b: &[u8]) {
    put_varint(out, b.len() as u64);
    out.extend_from_slice(b);
}

/// Reads a u32 LE at `pos` if the bytes are there.
/// `b` as lowercase hex.
pub fn to_hex(b: &[u8]) -> String {
    b.iter().map(|c| format!("{c:02x}")).collect()
}

/// The bytes of hex text `s` (either case); `None` if it is not hex.
pub fn from_hex(s: &str) -> Option<Vec<u8>> {
    if !s.len().is_multiple_of(2) {
        return None;
    }
    (0..s.len())
        .step_by(2)
        .map(|i| u8::from_str_radix(s.get(i..i + 2)?, 16).ok())
        .collect()
}

pub(crate) fn get_u32(buf: &[u8], pos: usize) -> Option<u32> {
    let bytes = buf.get(pos..pos.checked_add(4)?)?;
    Some(u32::from_le_bytes(bytes.try_into().ok()?))
}

/// Reads a u64 LE at `pos` if the bytes are there.
pub(crate) fn get_u64(buf: &[u8], pos: usize) -> Option<u64> {
    let bytes = buf.get(pos..pos.checked_add(8)?)?;
    Some(u64::from_le_bytes(bytes.try_into().ok()?))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varint_round_trip_and_rejects_bad_input() {
        let samples = [
            0u64,
            1,
            127,
            128,
            300,
            16383,
            16384,
            u32::MAX as u64,
            u64::MAX - 1,
            u64::MAX,
        ];
        for &v in &samples {
            let mut out = Vec::new();
            put_varint(&mut out, v);
            assert_eq!(out.len(), varint_len(v), "v={v}");
            let mut pos = 0;
            assert_eq!(get_varint(&out, &mut pos), Some(v));
            assert_eq!(pos, out.len());
            // Every strict prefix is truncated.
            for cut in 0..out.len() {
                let mut pos = 0;
                assert_eq!(get_varint(&out[..cut], &mut pos), None, "v={v} cut={cut}");
                assert_eq!(pos, 0);
            }
        }
        // 11 continuation bytes: overlong.
        let mut pos = 0;
        assert_eq!(get_varint(&[0x80; 11], &mut pos), None);
        // 10th byte carrying more than the 64th bit: overflow.
        let mut bad = vec![0xff; 9];
        bad.push(0x02);
        let mut pos = 0;
        assert_eq!(get_varint(&bad, &mut pos), None);
        assert_eq!(decode_varint(&bad, &mut pos), Err(VarintError::Overflow));
        assert_eq!(
            decode_varint(&[0x80], &mut pos),
            Err(VarintError::Truncated)
        );
        // A longer-than-shortest encoding decodes; its length gives it away.
        let mut pos = 0;
        assert_eq!(decode_varint(&[0x81, 0x00], &mut pos), Ok(1));
        assert!(pos > varint_len(1));
        assert_eq!(get_u32(&[1, 0, 0], 0), None);
        assert_eq!(get_u32(&[1, 0, 0, 0], 0), Some(1));
        assert_eq!(get_u64(&[0; 8], 1), None);
        assert_eq!(get_u64(&[0; 8], usize::MAX), None);
    }
}
