//! Integer encodings: LEB128 varints and little-endian fixed-width integers.
//!
//! Decoders never panic: they take a slice and a position, and return `None`
//! when the bytes run out or a varint is overlong; callers turn that into a
//! `Corruption` error with the absolute file offset.

/// Appends `v` as an unsigned LEB128 varint (1..=10 bytes).
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// Decodes a varint at `*pos`, advancing `*pos`. `None` if truncated or
/// longer than 10 bytes or overflowing 64 bits.
pub(crate) fn get_varint(buf: &[u8], pos: &mut usize) -> Option<u64> {
    let mut result: u64 = 0;
    let mut shift = 0u32;
    let mut p = *pos;
    loop {
        let byte = *buf.get(p)?;
        p += 1;
        let low = u64::from(byte & 0x7f);
        if shift == 63 && low > 1 {
            return None;
        }
        result |= low << shift;
        if byte & 0x80 == 0 {
            *pos = p;
            return Some(result);
        }
        shift += 7;
        if shift > 63 {
            return None;
        }
    }
}

/// Reads a u32 LE at `pos` if the bytes are there.
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
        assert_eq!(get_u32(&[1, 0, 0], 0), None);
        assert_eq!(get_u32(&[1, 0, 0, 0], 0), Some(1));
        assert_eq!(get_u64(&[0; 8], 1), None);
        assert_eq!(get_u64(&[0; 8], usize::MAX), None);
    }
}
