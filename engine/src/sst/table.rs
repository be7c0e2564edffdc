//! Reading a table: footer validation, the index and filter (held in memory
//! for the table's life), point lookups and data-block loading through the
//! shared [`BlockCache`].
//!
//! Invariants established by [`Table::open`] and relied on afterwards:
//! - the footer's CRC, magic and version are valid;
//! - data blocks, filter block, index block and footer tile the file exactly,
//!   in that order, with no gap and no overlap: block `i` starts where block
//!   `i - 1`'s trailer ends, the first at offset 0;
//! - the index has at least one entry, its keys strictly increase, and each is
//!   the last internal key of its data block (checked when a block is decoded
//!   for iteration).

use crate::sync::atomic::{AtomicU64, Ordering as AtomicOrdering};
use crate::sync::Arc;
use std::cmp::Ordering;
use std::fmt;
use std::path::{Path, PathBuf};

use super::block::{read_block, Block, BlockHandle, DecodeBuffers, DecodedBlock};
use super::bloom::BloomFilter;
use super::coding::{get_u32, get_u64};
use super::iter::TableIter;
use super::{
    cmp_internal, BlockCache, Seal, BLOCK_BYTES_MAX, BLOCK_HANDLE_BYTES, BLOCK_TRAILER_BYTES,
    FOOTER_BYTES, KIND_VALUE, SST_FORMAT_VERSION, SST_FORMAT_VERSION_MIN, SST_MAGIC,
};
use crate::error::{Error, Result};
use crate::fs::FsFile;
use crate::types::SeqNo;

/// Read counters of one table (monotonic since open).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct TableStats {
    /// Data blocks read from the file (a cache miss).
    pub data_block_reads_disk: u64,
    /// Data blocks served by the block cache.
    pub data_block_reads_cache: u64,
    /// Point lookups the bloom filter answered "absent" without a block read.
    pub bloom_negatives: u64,
    /// Point lookups that consulted the bloom filter.
    pub bloom_checks: u64,
}

#[derive(Default)]
struct Counters {
    disk: AtomicU64,
    cache: AtomicU64,
    bloom_negatives: AtomicU64,
    bloom_checks: AtomicU64,
}

/// An open, immutable table.
pub struct Table {
    file: Arc<dyn FsFile>,
    path: PathBuf,
    file_number: u64,
    /// What the table's checksums are bound to (its format version and number).
    seal: Seal,
    cache: Arc<BlockCache>,
    index: DecodedBlock,
    handles: Vec<BlockHandle>,
    filter: BloomFilter,
    entries: u64,
    file_bytes: u64,
    counters: Counters,
    /// Where the filter, the index and the footer lie.
    filter_handle: BlockHandle,
    index_handle: BlockHandle,
    footer_at: u64,
}

/// Receives a table entry: user key, seqno, value (`None`: a tombstone).
pub(crate) type EntryVisitor<'v> = dyn FnMut(&[u8], SeqNo, Option<&[u8]>) -> Result<()> + 'v;

/// User keys after the first (exclusive; `None`: from the start) through
/// the second (inclusive).
pub type KeySpan = (Option<Vec<u8>>, Vec<u8>);

/// One data block, as the index describes it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IndexEntry {
    /// The block's last user key.
    pub last_key: Vec<u8>,
    /// That entry's sequence number.
    pub last_seqno: SeqNo,
    /// The block's offset in the file.
    pub offset: u64,
    /// Its stored size (before the trailer).
    pub size: u32,
}

/// Where a table's parts lie, for inspection tools.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableLayout {
    /// The footer's format version.
    pub format_version: u32,
    /// The data blocks, in key order.
    pub data_blocks: Vec<IndexEntry>,
    /// The filter block: offset and stored size.
    pub filter: (u64, u32),
    /// Whether the filter can reject keys (an empty one matches all).
    pub filter_enabled: bool,
    /// The index block: offset and stored size.
    pub index: (u64, u32),
    /// Where the footer starts.
    pub footer_offset: u64,
}

impl fmt::Debug for Table {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Table")
            .field("path", &self.path)
            .field("file_number", &self.file_number)
            .field("data_blocks", &self.handles.len())
            .field("entries", &self.entries)
            .finish()
    }
}

/// `offset + size + trailer`, or `None` on overflow.
fn end_of(h: BlockHandle) -> Option<u64> {
    h.offset
        .checked_add(u64::from(h.size))?
        .checked_add(BLOCK_TRAILER_BYTES as u64)
}

/// Footer field offsets.
const FILTER_AT: usize = 0;
const INDEX_AT: usize = FILTER_AT + BLOCK_HANDLE_BYTES;
const ENTRIES_AT: usize = INDEX_AT + BLOCK_HANDLE_BYTES;
const VERSION_AT: usize = ENTRIES_AT + 8;
const CRC_AT: usize = VERSION_AT + 4;
const MAGIC_AT: usize = CRC_AT + 4;
const _: () = assert!(MAGIC_AT + 8 == FOOTER_BYTES);

/// A checked footer.
struct Footer {
    /// Where the footer starts.
    at: u64,
    /// What the table's checksums are bound to.
    seal: Seal,
    filter: BlockHandle,
    index: BlockHandle,
    entries: u64,
}

/// Reads and checks the footer of a table of `file_bytes`: magic, checksum,
/// format version, and handles that tile the file before the footer
/// (filter, then index).
fn read_footer(
    file: &dyn FsFile,
    path: &Path,
    file_bytes: u64,
    file_number: u64,
) -> Result<Footer> {
    if file_bytes < FOOTER_BYTES as u64 {
        return Err(Error::corruption(
            path,
            0,
            format!("file of {file_bytes} bytes is shorter than the {FOOTER_BYTES}-byte footer (truncated?)"),
        ));
    }
    let footer_at = file_bytes - FOOTER_BYTES as u64;
    let mut footer = [0u8; FOOTER_BYTES];
    file.read_at(&mut footer, footer_at)
        .map_err(|e| Error::io(path, e))?;
    let magic = get_u64(&footer, MAGIC_AT).unwrap_or(0);
    if magic != SST_MAGIC {
        return Err(Error::corruption(
            path,
            footer_at + MAGIC_AT as u64,
            format!("bad magic {magic:#018x} (not a Strata table, or truncated)"),
        ));
    }
    // The version says how the checksum is computed, so it is read first;
    // a damaged version either is unknown or fails the checksum.
    let version = get_u32(&footer, VERSION_AT).unwrap_or(0);
    if !(SST_FORMAT_VERSION_MIN..=SST_FORMAT_VERSION).contains(&version) {
        return Err(Error::corruption(
            path,
            footer_at + VERSION_AT as u64,
            format!(
                "unsupported format version {version} (this reader knows {SST_FORMAT_VERSION_MIN}..={SST_FORMAT_VERSION})"
            ),
        ));
    }
    let seal = Seal::new(version, file_number);
    let stored_crc = get_u32(&footer, CRC_AT).unwrap_or(0);
    let crc = seal.crc(footer_at, &[&footer[..CRC_AT]]);
    if stored_crc != crc {
        return Err(Error::corruption(
            path,
            footer_at + CRC_AT as u64,
            format!(
                "footer checksum mismatch: stored {stored_crc:#010x}, computed {crc:#010x} \
                 (for table number {file_number} at offset {footer_at})"
            ),
        ));
    }
    let entries = get_u64(&footer, ENTRIES_AT).unwrap_or(0);
    let handle_at = |at: usize| BlockHandle::decode(&footer[at..at + BLOCK_HANDLE_BYTES]);
    let (Some(filter), Some(index)) = (handle_at(FILTER_AT), handle_at(INDEX_AT)) else {
        return Err(Error::corruption(
            path,
            footer_at,
            "footer handles unreadable",
        ));
    };
    if end_of(index) != Some(footer_at) || end_of(filter) != Some(index.offset) {
        return Err(Error::corruption(
            path,
            footer_at,
            format!("footer handles filter {filter:?} / index {index:?} do not tile the file before the footer at {footer_at}"),
        ));
    }
    Ok(Footer {
        at: footer_at,
        seal,
        filter,
        index,
        entries,
    })
}

/// Reads and checks the index: not empty, and its handles tile the data
/// area from offset 0 up to the filter, in order. Returns the decoded index
/// and its handles.
fn read_index(
    file: &dyn FsFile,
    path: &Path,
    footer: &Footer,
) -> Result<(DecodedBlock, Vec<BlockHandle>)> {
    let index_h = footer.index;
    let index_raw = read_block(file, path, index_h, BLOCK_BYTES_MAX, footer.seal)?;
    let index_block = Arc::new(Block::parse(index_raw, path, index_h.offset)?);
    let index = DecodedBlock::decode(index_block, path)?;
    if index.len() == 0 {
        return Err(Error::corruption(path, index_h.offset, "empty index"));
    }
    let mut handles = Vec::with_capacity(index.len());
    let mut expect_offset = 0u64;
    for i in 0..index.len() {
        let h = index.value(i).and_then(BlockHandle::decode);
        let Some(h) = h.filter(|h| h.offset == expect_offset) else {
            return Err(Error::corruption(
                path,
                index_h.offset,
                format!("index entry {i} holds a bad handle (expected a block at {expect_offset})"),
            ));
        };
        match end_of(h) {
            Some(end) if end <= footer.filter.offset => expect_offset = end,
            _ => {
                return Err(Error::corruption(
                    path,
                    index_h.offset,
                    format!("index entry {i} handle {h:?} runs past the data area"),
                ))
            }
        }
        handles.push(h);
    }
    if expect_offset != footer.filter.offset {
        return Err(Error::corruption(
            path,
            index_h.offset,
            format!(
                "data blocks end at {expect_offset}, filter starts at {}",
                footer.filter.offset
            ),
        ));
    }
    if footer.entries < handles.len() as u64 {
        return Err(Error::corruption(
            path,
            footer.at + ENTRIES_AT as u64,
            format!("{} entries in {} blocks", footer.entries, handles.len()),
        ));
    }
    Ok((index, handles))
}

impl Table {
    /// Opens a table: validates the footer, reads and checks the index and the
    /// filter. `file_number` keys this table's blocks in `cache`.
    pub fn open(
        file: Arc<dyn FsFile>,
        path: PathBuf,
        file_number: u64,
        cache: Arc<BlockCache>,
    ) -> Result<Table> {
        let file_bytes = file.len().map_err(|e| Error::io(&path, e))?;
        let footer = read_footer(file.as_ref(), &path, file_bytes, file_number)?;
        let (index, handles) = read_index(file.as_ref(), &path, &footer)?;
        // The filter may exceed BLOCK_BYTES_MAX for huge tables; its size is
        // bounded by the file's (checked above).
        let filter_raw = read_block(
            file.as_ref(),
            &path,
            footer.filter,
            u32::MAX as usize,
            footer.seal,
        )?;
        let filter = BloomFilter::parse(filter_raw)
            .map_err(|why| Error::corruption(&path, footer.filter.offset, why))?;
        Ok(Table {
            file,
            path,
            file_number,
            seal: footer.seal,
            cache,
            index,
            handles,
            filter,
            entries: footer.entries,
            file_bytes,
            counters: Counters::default(),
            filter_handle: footer.filter,
            index_handle: footer.index,
            footer_at: footer.at,
        })
    }

    /// Where the table's blocks, filter, index and footer lie.
    pub fn layout(&self) -> TableLayout {
        TableLayout {
            format_version: self.seal.version(),
            data_blocks: self
                .handles
                .iter()
                .enumerate()
                .map(|(i, h)| IndexEntry {
                    last_key: self.index.user_key(i).to_vec(),
                    last_seqno: self.index.seqno(i),
                    offset: h.offset,
                    size: h.size,
                })
                .collect(),
            filter: (self.filter_handle.offset, self.filter_handle.size),
            filter_enabled: self.filter.is_enabled(),
            index: (self.index_handle.offset, self.index_handle.size),
            footer_offset: self.footer_at,
        }
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// The file number keying this table in the block cache.
    pub fn file_number(&self) -> u64 {
        self.file_number
    }

    /// Entries recorded in the footer.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// The file's size.
    pub fn file_bytes(&self) -> u64 {
        self.file_bytes
    }

    /// About how many bytes of the file come before the entries of `key`:
    /// the offset of the data block that would hold them (the file's size
    /// if `key` is past its last entry).
    pub fn approximate_offset_of(&self, key: &[u8]) -> u64 {
        let i = self.index.lower_bound(key, crate::types::SEQNO_MAX);
        self.handles.get(i).map_or(self.file_bytes, |h| h.offset)
    }

    /// Number of data blocks.
    pub fn data_block_count(&self) -> usize {
        self.handles.len()
    }

    /// The largest internal key (user key, seqno) in the table.
    pub fn largest(&self) -> (&[u8], SeqNo) {
        let last = self.index.len() - 1;
        (self.index.user_key(last), self.index.seqno(last))
    }

    /// A snapshot of the read counters.
    pub fn stats(&self) -> TableStats {
        let c = &self.counters;
        TableStats {
            data_block_reads_disk: c.disk.load(AtomicOrdering::Relaxed),
            data_block_reads_cache: c.cache.load(AtomicOrdering::Relaxed),
            bloom_negatives: c.bloom_negatives.load(AtomicOrdering::Relaxed),
            bloom_checks: c.bloom_checks.load(AtomicOrdering::Relaxed),
        }
    }

    /// False only if the table certainly holds no entry for `user_key`.
    pub fn may_contain(&self, user_key: &[u8]) -> bool {
        self.filter.may_contain(user_key)
    }

    /// The newest version of `user_key` with seqno `<= at`: `(seqno, None)` is
    /// a tombstone; `None` means the table holds no such version. Consults the
    /// bloom filter first, then reads at most one data block.
    pub fn get(&self, user_key: &[u8], at: SeqNo) -> Result<Option<(SeqNo, Option<Vec<u8>>)>> {
        if self.filter.is_enabled() {
            self.counters
                .bloom_checks
                .fetch_add(1, AtomicOrdering::Relaxed);
            if !self.filter.may_contain(user_key) {
                self.counters
                    .bloom_negatives
                    .fetch_add(1, AtomicOrdering::Relaxed);
                return Ok(None);
            }
        }
        let i = self.index.lower_bound(user_key, at);
        if i == self.index.len() {
            return Ok(None);
        }
        let block = self.load_block(i)?;
        match block.seek(&self.path, user_key, at)? {
            Some((k, seqno, kind, value)) if k == user_key => {
                Ok(Some((seqno, (kind == KIND_VALUE).then(|| value.to_vec()))))
            }
            Some(_) => Ok(None),
            None => Err(Error::corruption(
                &self.path,
                self.handles[i].offset,
                "data block ends before its index key",
            )),
        }
    }

    /// A bidirectional cursor over all entries, initially unpositioned.
    pub fn iter(self: &Arc<Self>) -> TableIter {
        TableIter::new(Arc::clone(self))
    }

    /// Data block handles, for format tests.
    #[cfg(test)]
    pub(crate) fn handles(&self) -> &[BlockHandle] {
        &self.handles
    }

    pub(crate) fn index(&self) -> &DecodedBlock {
        &self.index
    }

    pub(crate) fn block_offset(&self, i: usize) -> u64 {
        self.handles[i].offset
    }

    /// Data block `i` decoded (into `buffers`) and checked against the
    /// index: not empty, its last entry equal to its index key, its first
    /// entry after the previous block's index key.
    pub(crate) fn decode_block(&self, i: usize, buffers: DecodeBuffers) -> Result<DecodedBlock> {
        let block = self.load_block(i)?;
        let d = DecodedBlock::decode_with(block, &self.path, buffers)?;
        let index = &self.index;
        let n = d.len();
        let mismatch = |why: &str| Error::corruption(&self.path, self.block_offset(i), why);
        if n == 0 {
            return Err(mismatch("empty data block"));
        }
        if d.user_key(n - 1) != index.user_key(i) || d.seqno(n - 1) != index.seqno(i) {
            return Err(mismatch(
                "last entry of data block differs from its index key",
            ));
        }
        if i > 0
            && cmp_internal(
                index.user_key(i - 1),
                index.seqno(i - 1),
                d.user_key(0),
                d.seqno(0),
            ) != Ordering::Less
        {
            return Err(mismatch(
                "first entry of data block not after the previous block",
            ));
        }
        Ok(d)
    }

    /// Hands `visit` every entry of every data block that decodes and
    /// agrees with the index, in order; returns, for each block that does
    /// not, the user keys it spanned: after the previous block's last key
    /// (`None` for the first block) through its own last key.
    pub(crate) fn readable_entries(&self, visit: &mut EntryVisitor<'_>) -> Result<Vec<KeySpan>> {
        let mut lost = Vec::new();
        for i in 0..self.handles.len() {
            match self.decode_block(i, DecodeBuffers::default()) {
                Ok(d) => {
                    for j in 0..d.len() {
                        visit(d.user_key(j), d.seqno(j), d.value(j))?;
                    }
                }
                Err(_) => lost.push((
                    (i > 0).then(|| self.index.user_key(i - 1).to_vec()),
                    self.index.user_key(i).to_vec(),
                )),
            }
        }
        Ok(lost)
    }

    /// Data block `i`, from the cache or the file.
    pub(crate) fn load_block(&self, i: usize) -> Result<Arc<Block>> {
        let h = self.handles[i];
        if let Some(b) = self.cache.get(self.file_number, h.offset) {
            self.counters.cache.fetch_add(1, AtomicOrdering::Relaxed);
            return Ok(b);
        }
        let raw = read_block(
            self.file.as_ref(),
            &self.path,
            h,
            BLOCK_BYTES_MAX,
            self.seal,
        )?;
        let block = Arc::new(Block::parse(raw, &self.path, h.offset)?);
        self.counters.disk.fetch_add(1, AtomicOrdering::Relaxed);
        self.cache
            .insert(self.file_number, h.offset, Arc::clone(&block));
        Ok(block)
    }
}
