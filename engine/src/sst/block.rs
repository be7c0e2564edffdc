//! Blocks: entry encoding with prefix-compressed keys and restart points,
//! block handles, and the on-disk trailer (codec id + CRC32C).
//!
//! Uncompressed block contents (see `engine/docs/sstable.md`):
//!
//! ```text
//! entry*   where entry = shared varint | unshared varint | value_len varint
//!                        | tag varint ((seqno << 8) | kind)
//!                        | key suffix [unshared] | value [value_len]
//! restart offsets: u32 LE * n
//! n: u32 LE (>= 1)
//! ```
//!
//! Invariants: the first entry is at offset 0 and is a restart; a restart entry
//! has `shared == 0`; entries are strictly increasing in internal-key order.
//! [`Block::parse`] checks the restart array; [`DecodedBlock::decode`] checks
//! every entry, so a decoded block is known to be well formed.

use crate::sync::Arc;
use std::cmp::Ordering;
use std::ops::Range;
use std::path::Path;

use super::coding::{get_u32, get_u64, get_varint, put_varint};
use super::{
    cmp_internal, Compression, Seal, BLOCK_BYTES_MAX, BLOCK_HANDLE_BYTES, BLOCK_TRAILER_BYTES,
    CODEC_LZ4, CODEC_NONE, KIND_TOMBSTONE, KIND_VALUE,
};
use crate::error::{Error, Result};
use crate::fs::FsFile;
use crate::types::SeqNo;

/// Where a block lives: its offset and its ON-DISK size (after compression,
/// without the trailer).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct BlockHandle {
    pub offset: u64,
    pub size: u32,
}

impl BlockHandle {
    pub fn encode_to(&self, out: &mut Vec<u8>) {
        out.extend_from_slice(&self.offset.to_le_bytes());
        out.extend_from_slice(&self.size.to_le_bytes());
    }

    pub fn decode(buf: &[u8]) -> Option<BlockHandle> {
        if buf.len() != BLOCK_HANDLE_BYTES {
            return None;
        }
        Some(BlockHandle {
            offset: get_u64(buf, 0)?,
            size: get_u32(buf, 8)?,
        })
    }
}

/// Builds the uncompressed contents of one block.
#[derive(Debug)]
pub(crate) struct BlockBuilder {
    buf: Vec<u8>,
    restarts: Vec<u32>,
    since_restart: usize,
    restart_interval: usize,
    last_key: Vec<u8>,
    entries: usize,
    /// Sum of the full user-key lengths in the block: what decoding it for
    /// iteration materialises. Kept <= BLOCK_BYTES_MAX by the table builder.
    key_bytes: usize,
}

impl BlockBuilder {
    pub fn new(restart_interval: usize) -> Self {
        BlockBuilder {
            buf: Vec::new(),
            restarts: Vec::new(),
            since_restart: 0,
            restart_interval: restart_interval.max(1),
            last_key: Vec::new(),
            entries: 0,
            key_bytes: 0,
        }
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Size of the block if finished now (exact).
    pub fn estimated_bytes(&self) -> usize {
        self.buf.len() + 4 * self.restarts.len() + 4
    }

    /// Size the block would grow by if this entry were added (upper bound:
    /// four varints, key, value and a possible new restart offset).
    pub fn entry_bytes_max(key: &[u8], value_len: usize) -> usize {
        3 * 10 + 10 + key.len() + value_len + 4
    }

    /// Appends an entry; the caller guarantees internal-key order.
    pub fn add(&mut self, key: &[u8], seqno: SeqNo, kind: u8, value: &[u8]) {
        debug_assert!(kind == KIND_VALUE || kind == KIND_TOMBSTONE);
        let shared = if self.since_restart == 0 {
            0
        } else {
            common_prefix(&self.last_key, key)
        };
        if self.since_restart == 0 {
            self.restarts.push(self.buf.len() as u32);
        }
        put_varint(&mut self.buf, shared as u64);
        put_varint(&mut self.buf, (key.len() - shared) as u64);
        put_varint(&mut self.buf, value.len() as u64);
        put_varint(&mut self.buf, (seqno << 8) | u64::from(kind));
        self.buf.extend_from_slice(&key[shared..]);
        self.buf.extend_from_slice(value);
        self.last_key.clear();
        self.last_key.extend_from_slice(key);
        self.entries += 1;
        self.key_bytes += key.len();
        self.since_restart += 1;
        if self.since_restart == self.restart_interval {
            self.since_restart = 0;
        }
    }

    /// Appends the restart array and returns the contents; call `reset` after.
    pub fn finish(&mut self) -> &[u8] {
        debug_assert!(!self.restarts.is_empty());
        for r in &self.restarts {
            self.buf.extend_from_slice(&r.to_le_bytes());
        }
        self.buf
            .extend_from_slice(&(self.restarts.len() as u32).to_le_bytes());
        &self.buf
    }

    pub fn reset(&mut self) {
        self.buf.clear();
        self.restarts.clear();
        self.since_restart = 0;
        self.last_key.clear();
        self.entries = 0;
        self.key_bytes = 0;
    }

    /// Sum of the full user-key lengths added since the last reset.
    pub fn key_bytes(&self) -> usize {
        self.key_bytes
    }
}

fn common_prefix(a: &[u8], b: &[u8]) -> usize {
    a.iter().zip(b).take_while(|(x, y)| x == y).count()
}

/// Compresses `raw` with `compression`; returns the codec id and the bytes to
/// store. A block that does not shrink is stored raw.
pub(crate) fn encode_for_disk(raw: &[u8], compression: Compression) -> (u8, Vec<u8>) {
    if compression == Compression::Lz4 {
        let mut out = vec![0u8; 4 + lz4_flex::block::get_maximum_output_size(raw.len())];
        out[..4].copy_from_slice(&(raw.len() as u32).to_le_bytes());
        if let Ok(n) = lz4_flex::block::compress_into(raw, &mut out[4..]) {
            if 4 + n < raw.len() {
                out.truncate(4 + n);
                return (CODEC_LZ4, out);
            }
        }
    }
    (CODEC_NONE, raw.to_vec())
}

/// The trailer stored after `stored` bytes with codec `codec`, for a block
/// at `offset` of the table `seal` describes.
pub(crate) fn trailer(
    seal: Seal,
    offset: u64,
    stored: &[u8],
    codec: u8,
) -> [u8; BLOCK_TRAILER_BYTES] {
    let crc = seal.crc(offset, &[stored, &[codec]]);
    let mut t = [0u8; BLOCK_TRAILER_BYTES];
    t[0] = codec;
    t[1..].copy_from_slice(&crc.to_le_bytes());
    t
}

/// Reads the block at `handle` (whose range the caller has checked lies
/// inside the file), verifies its CRC and decompresses it. `stored_bytes_max`
/// bounds the stored size (data and index blocks: [`BLOCK_BYTES_MAX`]);
/// `seal` says what the checksum is bound to.
pub(crate) fn read_block(
    file: &dyn FsFile,
    path: &Path,
    handle: BlockHandle,
    stored_bytes_max: usize,
    seal: Seal,
) -> Result<Vec<u8>> {
    let size = handle.size as usize;
    if size > stored_bytes_max {
        return Err(Error::corruption(
            path,
            handle.offset,
            format!("block of {size} stored bytes exceeds the limit {stored_bytes_max}"),
        ));
    }
    let mut buf = vec![0u8; size + BLOCK_TRAILER_BYTES];
    file.read_at(&mut buf, handle.offset)
        .map_err(|e| Error::io(path, e))?;
    let codec = buf[size];
    let stored_crc =
        u32::from_le_bytes([buf[size + 1], buf[size + 2], buf[size + 3], buf[size + 4]]);
    let actual_crc = seal.crc(handle.offset, &[&buf[..size + 1]]);
    if stored_crc != actual_crc {
        return Err(Error::corruption(
            path,
            handle.offset,
            format!(
                "block checksum mismatch: stored {stored_crc:#010x}, computed {actual_crc:#010x}"
            ),
        ));
    }
    buf.truncate(size);
    match codec {
        CODEC_NONE => Ok(buf),
        CODEC_LZ4 => {
            let corrupt = |why: String| Error::corruption(path, handle.offset, why);
            let ulen = get_u32(&buf, 0)
                .ok_or_else(|| corrupt("lz4 block shorter than its length prefix".into()))?
                as usize;
            if ulen > BLOCK_BYTES_MAX {
                return Err(corrupt(format!(
                    "lz4 block claims {ulen} uncompressed bytes, limit is {BLOCK_BYTES_MAX}"
                )));
            }
            let mut out = vec![0u8; ulen];
            let n = lz4_flex::block::decompress_into(&buf[4..], &mut out)
                .map_err(|e| corrupt(format!("lz4 decompression failed: {e}")))?;
            if n != ulen {
                return Err(corrupt(format!(
                    "lz4 block decompressed to {n} bytes, expected {ulen}"
                )));
            }
            Ok(out)
        }
        other => Err(Error::corruption(
            path,
            handle.offset + handle.size as u64,
            format!("unknown block codec {other:#04x}"),
        )),
    }
}

/// A verified, uncompressed block with a checked restart array. This is what
/// the block cache holds.
#[derive(Debug)]
pub(crate) struct Block {
    data: Vec<u8>,
    /// Where entries end and the restart array begins.
    entries_end: usize,
    restart_count: usize,
    /// File offset of the block, for error messages.
    file_offset: u64,
}

/// One decoded entry's position inside a [`Block`] / key buffer.
#[derive(Clone, Copy, Debug)]
struct EntryMeta {
    key: (usize, usize),
    seqno: SeqNo,
    kind: u8,
    value: (usize, usize),
}

/// The fixed part of one entry, as parsed.
struct RawEntry {
    shared: usize,
    suffix: Range<usize>,
    seqno: SeqNo,
    kind: u8,
    value: Range<usize>,
    next: usize,
}

impl Block {
    /// Checks the restart array of `data` (a block's uncompressed contents).
    pub fn parse(data: Vec<u8>, path: &Path, file_offset: u64) -> Result<Block> {
        let corrupt = |why: String| Error::corruption(path, file_offset, why);
        if data.len() < 4 {
            return Err(corrupt(format!(
                "block of {} bytes has no restart count",
                data.len()
            )));
        }
        let count = get_u32(&data, data.len() - 4).unwrap_or(0) as usize;
        let room = (data.len() - 4) / 4;
        if count == 0 || count > room {
            return Err(corrupt(format!(
                "block restart count {count} impossible in {} bytes",
                data.len()
            )));
        }
        let entries_end = data.len() - 4 - 4 * count;
        let mut prev: Option<usize> = None;
        for i in 0..count {
            let r = get_u32(&data, entries_end + 4 * i).unwrap_or(u32::MAX) as usize;
            let ok = match prev {
                None => r == 0,
                Some(p) => r > p,
            } && r < entries_end;
            if !ok {
                return Err(corrupt(format!(
                    "block restart {i} at {r} out of order or range"
                )));
            }
            prev = Some(r);
        }
        Ok(Block {
            data,
            entries_end,
            restart_count: count,
            file_offset,
        })
    }

    /// Bytes held, for the cache's weigher.
    pub fn bytes(&self) -> usize {
        self.data.len()
    }

    fn restart(&self, i: usize) -> usize {
        get_u32(&self.data, self.entries_end + 4 * i).unwrap_or(0) as usize
    }

    fn corrupt(&self, path: &Path, at: usize, why: &str) -> Error {
        Error::corruption(
            path,
            self.file_offset,
            format!("{why} (entry at byte {at} of the uncompressed block)"),
        )
    }

    /// Parses the entry at `pos`, checking every length against the entry area.
    fn raw_entry(&self, path: &Path, pos: usize) -> Result<RawEntry> {
        let area = &self.data[..self.entries_end];
        let bad = |why| self.corrupt(path, pos, why);
        let mut p = pos;
        let shared = get_varint(area, &mut p).ok_or_else(|| bad("truncated shared length"))?;
        let unshared = get_varint(area, &mut p).ok_or_else(|| bad("truncated key length"))?;
        let value_len = get_varint(area, &mut p).ok_or_else(|| bad("truncated value length"))?;
        let tag = get_varint(area, &mut p).ok_or_else(|| bad("truncated tag"))?;
        let kind = (tag & 0xff) as u8;
        if kind != KIND_VALUE && kind != KIND_TOMBSTONE {
            return Err(bad("unknown entry kind"));
        }
        if kind == KIND_TOMBSTONE && value_len != 0 {
            return Err(bad("tombstone with a value"));
        }
        let remaining = (area.len() - p) as u64;
        if unshared > remaining || value_len > remaining - unshared {
            return Err(bad("key or value length runs past the entry area"));
        }
        let suffix = p..p + unshared as usize;
        let value = suffix.end..suffix.end + value_len as usize;
        Ok(RawEntry {
            shared: usize::try_from(shared).map_err(|_| bad("shared length too large"))?,
            next: value.end,
            suffix,
            seqno: tag >> 8,
            kind,
            value,
        })
    }

    /// Applies an entry's key delta to `key`.
    fn apply_key(&self, path: &Path, pos: usize, e: &RawEntry, key: &mut Vec<u8>) -> Result<()> {
        if e.shared > key.len() {
            return Err(self.corrupt(path, pos, "shared prefix longer than previous key"));
        }
        key.truncate(e.shared);
        key.extend_from_slice(&self.data[e.suffix.clone()]);
        Ok(())
    }

    /// Point lookup inside the block: the first entry whose internal key is
    /// `>= (user_key, seqno)`, if any. Returns (user key, seqno, kind, value).
    /// Uses binary search over the restart points, then a linear scan.
    #[allow(clippy::type_complexity)]
    pub fn seek(
        &self,
        path: &Path,
        user_key: &[u8],
        seqno: SeqNo,
    ) -> Result<Option<(Vec<u8>, SeqNo, u8, &[u8])>> {
        // Find the last restart whose key is < target.
        let (mut lo, mut hi) = (0usize, self.restart_count);
        while hi - lo > 1 {
            let mid = lo + (hi - lo) / 2;
            let pos = self.restart(mid);
            let e = self.raw_entry(path, pos)?;
            if e.shared != 0 {
                return Err(self.corrupt(path, pos, "restart entry with a shared prefix"));
            }
            let k = &self.data[e.suffix.clone()];
            if cmp_internal(k, e.seqno, user_key, seqno) == Ordering::Less {
                lo = mid;
            } else {
                hi = mid;
            }
        }
        let mut pos = self.restart(lo);
        let mut key = Vec::new();
        let mut first = true;
        while pos < self.entries_end {
            let e = self.raw_entry(path, pos)?;
            if first && e.shared != 0 {
                return Err(self.corrupt(path, pos, "restart entry with a shared prefix"));
            }
            first = false;
            self.apply_key(path, pos, &e, &mut key)?;
            if cmp_internal(&key, e.seqno, user_key, seqno) != Ordering::Less {
                return Ok(Some((key, e.seqno, e.kind, &self.data[e.value])));
            }
            pos = e.next;
        }
        Ok(None)
    }
}

/// A block decoded entry by entry for iteration, with every entry checked.
#[derive(Debug)]
pub(crate) struct DecodedBlock {
    block: Arc<Block>,
    keys: Vec<u8>,
    entries: Vec<EntryMeta>,
    /// The decoder's scratch key, kept with the rest for reuse.
    scratch: Vec<u8>,
}

/// The buffers of a decoded block, handed to the next decode so a walk
/// over many blocks allocates only while they grow.
#[derive(Debug, Default)]
pub(crate) struct DecodeBuffers {
    keys: Vec<u8>,
    entries: Vec<EntryMeta>,
    scratch: Vec<u8>,
}

impl DecodedBlock {
    /// Decodes all entries, checking lengths, restart placement and order.
    pub fn decode(block: Arc<Block>, path: &Path) -> Result<DecodedBlock> {
        DecodedBlock::decode_with(block, path, DecodeBuffers::default())
    }

    /// `decode`, reusing `buffers` (from [`DecodedBlock::into_buffers`]).
    pub fn decode_with(
        block: Arc<Block>,
        path: &Path,
        buffers: DecodeBuffers,
    ) -> Result<DecodedBlock> {
        let DecodeBuffers {
            mut keys,
            mut entries,
            scratch: mut key,
        } = buffers;
        keys.clear();
        entries.clear();
        key.clear();
        let mut pos = 0usize;
        let mut next_restart = 0usize;
        while pos < block.entries_end {
            let e = block.raw_entry(path, pos)?;
            if next_restart < block.restart_count && block.restart(next_restart) == pos {
                if e.shared != 0 {
                    return Err(block.corrupt(path, pos, "restart entry with a shared prefix"));
                }
                next_restart += 1;
            } else if next_restart < block.restart_count && block.restart(next_restart) < pos {
                return Err(block.corrupt(path, pos, "restart point inside an entry"));
            }
            block.apply_key(path, pos, &e, &mut key)?;
            if keys.len() + key.len() > BLOCK_BYTES_MAX {
                return Err(block.corrupt(path, pos, "decoded keys exceed the block limit"));
            }
            if let Some(prev) = entries.last() {
                let pk = &keys[prev.key.0..prev.key.1];
                if cmp_internal(pk, prev.seqno, &key, e.seqno) != Ordering::Less {
                    return Err(block.corrupt(path, pos, "entries out of order"));
                }
            }
            let start = keys.len();
            keys.extend_from_slice(&key);
            entries.push(EntryMeta {
                key: (start, keys.len()),
                seqno: e.seqno,
                kind: e.kind,
                value: (e.value.start, e.value.end),
            });
            pos = e.next;
        }
        if next_restart != block.restart_count {
            return Err(block.corrupt(path, pos, "restart point past the last entry"));
        }
        Ok(DecodedBlock {
            block,
            keys,
            entries,
            scratch: key,
        })
    }

    /// The block's buffers, for the next `decode_with`.
    pub fn into_buffers(self) -> DecodeBuffers {
        DecodeBuffers {
            keys: self.keys,
            entries: self.entries,
            scratch: self.scratch,
        }
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn user_key(&self, i: usize) -> &[u8] {
        let (s, e) = self.entries[i].key;
        &self.keys[s..e]
    }

    pub fn seqno(&self, i: usize) -> SeqNo {
        self.entries[i].seqno
    }

    /// `None` for a tombstone.
    pub fn value(&self, i: usize) -> Option<&[u8]> {
        let m = &self.entries[i];
        if m.kind == KIND_TOMBSTONE {
            None
        } else {
            Some(&self.block.data[m.value.0..m.value.1])
        }
    }

    /// Index of the first entry `>= (user_key, seqno)`, or `len()`.
    pub fn lower_bound(&self, user_key: &[u8], seqno: SeqNo) -> usize {
        self.entries.partition_point(|m| {
            let k = &self.keys[m.key.0..m.key.1];
            cmp_internal(k, m.seqno, user_key, seqno) == Ordering::Less
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_round_trip_with_restarts_and_seek() {
        let path = Path::new("blk");
        let mut b = BlockBuilder::new(4);
        let mut expect = Vec::new();
        for i in 0..50u32 {
            let key = format!("key{:04}", i / 2).into_bytes();
            let seqno = 100 - (i % 2) as u64;
            let value = if i % 5 == 0 {
                None
            } else {
                Some(vec![i as u8; i as usize])
            };
            let kind = if value.is_some() {
                KIND_VALUE
            } else {
                KIND_TOMBSTONE
            };
            b.add(&key, seqno, kind, value.as_deref().unwrap_or(&[]));
            expect.push((key, seqno, value));
        }
        let raw = b.finish().to_vec();
        let block = Arc::new(Block::parse(raw, path, 0).unwrap());
        assert_eq!(block.restart_count, 13);
        let d = DecodedBlock::decode(block.clone(), path).unwrap();
        assert_eq!(d.len(), expect.len());
        for (i, (k, s, v)) in expect.iter().enumerate() {
            assert_eq!(d.user_key(i), &k[..]);
            assert_eq!(d.seqno(i), *s);
            assert_eq!(d.value(i), v.as_deref());
            let (fk, fs, _, _) = block.seek(path, k, *s).unwrap().unwrap();
            assert_eq!((&fk[..], fs), (&k[..], *s));
            assert_eq!(d.lower_bound(k, *s), i);
        }
        assert!(block.seek(path, b"zzz", 0).unwrap().is_none());
    }

    #[test]
    fn lz4_codec_round_trip_and_raw_fallback() {
        let compressible = vec![7u8; 10_000];
        let (codec, stored) = encode_for_disk(&compressible, Compression::Lz4);
        assert_eq!(codec, CODEC_LZ4);
        assert!(stored.len() < compressible.len() / 10);
        // Incompressible bytes fall back to raw.
        let mut x = 0x1234_5678_9abc_def0u64;
        let noise: Vec<u8> = (0..256)
            .map(|_| {
                x ^= x << 13;
                x ^= x >> 7;
                x ^= x << 17;
                x as u8
            })
            .collect();
        let (codec, stored) = encode_for_disk(&noise, Compression::Lz4);
        assert_eq!(codec, CODEC_NONE);
        assert_eq!(stored, noise);
    }
}
