//! Sorted string tables (SSTables): immutable sorted files of internal entries.
//!
//! The byte-level format is documented in `engine/docs/sstable.md`; a test
//! (`doc_constants_match_code`) parses the constants out of that document and
//! checks them against the ones below, so the two cannot drift apart.
//!
//! Invariants this module relies on and enforces:
//! - An entry is an internal key `(user_key, seqno, kind)` plus a value;
//!   entries are ordered by user key ascending (bytewise), then seqno
//!   DESCENDING, and a `(user_key, seqno)` pair appears at most once.
//! - Every block on disk is followed by a 5-byte trailer (codec id, CRC32C
//!   over the stored bytes and the codec id); the CRC is checked on every read
//!   from disk, before anything in the block is interpreted.
//! - A block handle stores the ON-DISK (possibly compressed) size of a block.
//! - Every length and offset read from a file is checked against the bytes
//!   actually available before anything is allocated or sliced; a failed check
//!   is [`Error::Corruption`](crate::Error::Corruption) naming the file and the
//!   byte offset, never a panic and never wrong data.
//!
//! Layout of this module, following the units of the format:
//! `coding` (varints, fixed ints), `block` (entry encoding, restart points,
//! trailer), `bloom` (filter), `cache` (the shared block cache), `builder`
//! (writing a table), `table` (footer, index, point lookups), `iter`
//! (bidirectional cursor).

mod block;
mod bloom;
mod builder;
mod cache;
use crate::coding;
mod iter;
mod table;

#[cfg(test)]
mod tests;

pub use bloom::{bloom_hash64, BloomFilter};

pub use builder::{TableBuilder, TableSummary};
pub use cache::BlockCache;
pub use iter::TableIter;
pub use table::{IndexEntry, KeySpan, Table, TableLayout, TableStats};

use std::cmp::Ordering;

use crate::types::SeqNo;

/// What a table's checksums are bound to. From format version 2 on, every
/// CRC32C in a table starts with the table's file number and the file
/// offset of the bytes it covers (both u64 LE), so a valid block or footer
/// read from the wrong place (a misdirected write, a file copied under
/// another number) fails its check instead of passing for the right one.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Seal {
    version: u32,
    file_number: u64,
}

impl Seal {
    /// The seal of table `file_number` in format `version`.
    pub fn new(version: u32, file_number: u64) -> Seal {
        Seal {
            version,
            file_number,
        }
    }

    /// The table format version the seal belongs to.
    pub fn version(&self) -> u32 {
        self.version
    }

    /// The CRC32C of `parts`, in order, stored at `offset`.
    pub fn crc(&self, offset: u64, parts: &[&[u8]]) -> u32 {
        let mut crc = 0;
        if self.version >= 2 {
            crc = crc32c::crc32c_append(crc, &self.file_number.to_le_bytes());
            crc = crc32c::crc32c_append(crc, &offset.to_le_bytes());
        }
        for p in parts {
            crc = crc32c::crc32c_append(crc, p);
        }
        crc
    }
}

/// Magic number: the last 8 bytes of every table, little-endian
/// (the ASCII bytes "TSATARTS" on disk, "STRATAST" read as a big-endian u64).
pub const SST_MAGIC: u64 = 0x5354_5241_5441_5354;
/// Format version the writer stores in the footer. Version 2 binds every
/// checksum to the table's file number and the checksummed bytes' offset;
/// version 1 (checksums over the bytes alone) is still read.
pub const SST_FORMAT_VERSION: u32 = 2;
/// Oldest format version a reader accepts.
pub const SST_FORMAT_VERSION_MIN: u32 = 1;
/// Size of the fixed footer at the end of the file.
pub const FOOTER_BYTES: usize = 48;
/// Size of the trailer after every block: codec id (1) + CRC32C (4).
pub const BLOCK_TRAILER_BYTES: usize = 5;
/// Size of an encoded block handle: offset u64 LE + on-disk size u32 LE.
pub const BLOCK_HANDLE_BYTES: usize = 12;
/// Codec id of a block stored as is.
pub const CODEC_NONE: u8 = 0x00;
/// Codec id of an LZ4 block (a u32 LE uncompressed length, then LZ4 block data).
pub const CODEC_LZ4: u8 = 0x01;
/// Kind byte of a tombstone entry.
pub const KIND_TOMBSTONE: u8 = 0x00;
/// Kind byte of a value entry.
pub const KIND_VALUE: u8 = 0x01;
/// Largest uncompressed block (and so the largest single entry) a table may
/// hold. Checked by the writer and by the reader before allocating.
pub const BLOCK_BYTES_MAX: usize = 64 << 20;
/// Upper bound on bloom probes per key (a reader rejects more).
pub const BLOOM_PROBES_MAX: u8 = 30;

/// Block compression codec.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Compression {
    /// Blocks are stored raw.
    None,
    /// Blocks are LZ4-compressed; a block that does not shrink is stored raw.
    #[default]
    Lz4,
}

/// How a table is written.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TableOptions {
    /// A data block is closed once its uncompressed size reaches this.
    pub block_bytes_target: usize,
    /// Codec for data and index blocks.
    pub compression: Compression,
    /// Bloom filter bits per distinct user key (0 disables the filter).
    pub bloom_bits_per_key: u32,
    /// A restart point (full key, no shared prefix) every this many entries.
    pub restart_interval: usize,
}

impl Default for TableOptions {
    fn default() -> Self {
        TableOptions {
            block_bytes_target: 4096,
            compression: Compression::Lz4,
            bloom_bits_per_key: 10,
            restart_interval: 16,
        }
    }
}

/// Orders internal keys: user key ascending, then seqno descending.
#[inline]
pub fn cmp_internal(a_key: &[u8], a_seqno: SeqNo, b_key: &[u8], b_seqno: SeqNo) -> Ordering {
    a_key.cmp(b_key).then(b_seqno.cmp(&a_seqno))
}

// Compile-time relations between the constants.
const _: () = assert!(FOOTER_BYTES == 2 * BLOCK_HANDLE_BYTES + 8 + 4 + 4 + 8);
const _: () = assert!(BLOCK_TRAILER_BYTES == 1 + 4);
const _: () = assert!(BLOCK_BYTES_MAX <= u32::MAX as usize);
