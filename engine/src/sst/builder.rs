//! Writing a table: data blocks, then the filter block, the index block and
//! the footer. Output is buffered in memory and written through the
//! [`FsFile`] in chunks of [`WRITE_CHUNK_BYTES`]; `finish` syncs the file
//! (the caller syncs the directory).

use crate::sync::Arc;
use std::cmp::Ordering;
use std::path::PathBuf;

use super::block::{encode_for_disk, trailer, BlockBuilder, BlockHandle};
use super::bloom::{bloom_hash64, build_filter};
use super::Seal;
use super::{
    cmp_internal, TableOptions, BLOCK_BYTES_MAX, CODEC_NONE, FOOTER_BYTES, KIND_TOMBSTONE,
    KIND_VALUE, SST_FORMAT_VERSION, SST_MAGIC,
};
use crate::error::{Error, Result};
use crate::fs::FsFile;
use crate::types::{SeqNo, SEQNO_MAX};

/// Buffered output is written to the file once it reaches this size.
pub const WRITE_CHUNK_BYTES: usize = 1 << 20;

/// What a finished table holds; the manifest records these.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TableSummary {
    /// The table's size.
    pub file_bytes: u64,
    /// Entries (versions and tombstones) in it.
    pub entries: u64,
    /// Its first user key.
    pub smallest_key: Vec<u8>,
    /// Its last user key.
    pub largest_key: Vec<u8>,
    /// Lowest sequence number in it.
    pub seqno_min: SeqNo,
    /// Highest sequence number in it.
    pub seqno_max: SeqNo,
    /// Tombstones among the entries.
    pub tombstones: u64,
}

/// Writes one table. Entries must be added in internal-key order.
#[derive(Debug)]
pub struct TableBuilder {
    file: Arc<dyn FsFile>,
    path: PathBuf,
    opts: TableOptions,
    /// Bytes produced but not yet written; they start at file offset `written`.
    out: Vec<u8>,
    written: u64,
    data_block: BlockBuilder,
    index_block: BlockBuilder,
    key_hashes: Vec<u64>,
    last_key: Vec<u8>,
    last_seqno: SeqNo,
    entries: u64,
    tombstones: u64,
    smallest_key: Vec<u8>,
    seqno_min: SeqNo,
    seqno_max: SeqNo,
    /// Set after an I/O failure: the file content is unknown, refuse more.
    failed: bool,
    /// What the table's checksums are bound to.
    seal: Seal,
}

impl TableBuilder {
    /// A builder writing to `file` (which should be empty) at `path`, the
    /// table numbered `file_number` (its checksums are bound to it).
    pub fn new(
        file: Arc<dyn FsFile>,
        path: PathBuf,
        file_number: u64,
        opts: TableOptions,
    ) -> TableBuilder {
        let opts = TableOptions {
            block_bytes_target: opts.block_bytes_target.clamp(1, BLOCK_BYTES_MAX),
            restart_interval: opts.restart_interval.max(1),
            ..opts
        };
        TableBuilder {
            file,
            path,
            seal: Seal::new(SST_FORMAT_VERSION, file_number),
            data_block: BlockBuilder::new(opts.restart_interval),
            // Index entries are looked up by binary search over decoded
            // entries, so a restart every entry costs nothing on read.
            index_block: BlockBuilder::new(1),
            opts,
            out: Vec::new(),
            written: 0,
            key_hashes: Vec::new(),
            last_key: Vec::new(),
            last_seqno: 0,
            entries: 0,
            tombstones: 0,
            smallest_key: Vec::new(),
            seqno_min: SeqNo::MAX,
            seqno_max: 0,
            failed: false,
        }
    }

    /// Entries added so far.
    pub fn entries(&self) -> u64 {
        self.entries
    }

    /// Approximate file size if finished now (without filter and index), for
    /// splitting compaction outputs.
    pub fn estimated_file_bytes(&self) -> u64 {
        self.written + self.out.len() as u64 + self.data_block.estimated_bytes() as u64
    }

    /// Adds one entry; `value == None` is a tombstone. Out-of-order keys,
    /// seqnos above [`SEQNO_MAX`] and oversized entries are `InvalidArgument`
    /// and leave the builder unchanged.
    pub fn add(&mut self, user_key: &[u8], seqno: SeqNo, value: Option<&[u8]>) -> Result<()> {
        if self.failed {
            return Err(Error::InvalidArgument(
                "table builder failed earlier; discard this table".into(),
            ));
        }
        if seqno > SEQNO_MAX {
            return Err(Error::InvalidArgument(format!(
                "seqno {seqno} above SEQNO_MAX"
            )));
        }
        if self.entries > 0
            && cmp_internal(&self.last_key, self.last_seqno, user_key, seqno) != Ordering::Less
        {
            return Err(Error::InvalidArgument(format!(
                "table entries out of order: ({:?}, {}) after ({:?}, {})",
                String::from_utf8_lossy(user_key),
                seqno,
                String::from_utf8_lossy(&self.last_key),
                self.last_seqno
            )));
        }
        let vlen = value.map_or(0, <[u8]>::len);
        let need = BlockBuilder::entry_bytes_max(user_key, vlen);
        if need + 8 > BLOCK_BYTES_MAX {
            return Err(Error::InvalidArgument(format!(
                "entry of {} key bytes and {vlen} value bytes exceeds the block limit {BLOCK_BYTES_MAX}",
                user_key.len()
            )));
        }
        // Keep both the encoded block and its decoded keys within the limit
        // a reader enforces.
        if !self.data_block.is_empty()
            && (self.data_block.estimated_bytes() + need > BLOCK_BYTES_MAX
                || self.data_block.key_bytes() + user_key.len() > BLOCK_BYTES_MAX)
        {
            self.flush_data_block()?;
        }
        if self.entries == 0 || self.last_key != user_key {
            self.key_hashes.push(bloom_hash64(user_key));
        }
        let kind = if value.is_some() {
            KIND_VALUE
        } else {
            KIND_TOMBSTONE
        };
        self.data_block
            .add(user_key, seqno, kind, value.unwrap_or(&[]));
        if self.entries == 0 {
            self.smallest_key = user_key.to_vec();
        }
        self.last_key.clear();
        self.last_key.extend_from_slice(user_key);
        self.last_seqno = seqno;
        self.entries += 1;
        self.tombstones += u64::from(value.is_none());
        self.seqno_min = self.seqno_min.min(seqno);
        self.seqno_max = self.seqno_max.max(seqno);
        if self.data_block.estimated_bytes() >= self.opts.block_bytes_target {
            self.flush_data_block()?;
        }
        Ok(())
    }

    fn offset(&self) -> u64 {
        self.written + self.out.len() as u64
    }

    /// Appends a block (already encoded for disk) and its trailer.
    fn emit(&mut self, codec: u8, stored: &[u8]) -> Result<BlockHandle> {
        let size = u32::try_from(stored.len())
            .map_err(|_| Error::InvalidArgument("block larger than 4 GiB".into()))?;
        let handle = BlockHandle {
            offset: self.offset(),
            size,
        };
        self.out.extend_from_slice(stored);
        self.out
            .extend_from_slice(&trailer(self.seal, handle.offset, stored, codec));
        Ok(handle)
    }

    fn flush_data_block(&mut self) -> Result<()> {
        debug_assert!(!self.data_block.is_empty());
        let (codec, stored) = encode_for_disk(self.data_block.finish(), self.opts.compression);
        self.data_block.reset();
        let handle = self.emit(codec, &stored)?;
        let mut h = Vec::with_capacity(super::BLOCK_HANDLE_BYTES);
        handle.encode_to(&mut h);
        self.index_block
            .add(&self.last_key, self.last_seqno, KIND_VALUE, &h);
        if self.out.len() >= WRITE_CHUNK_BYTES {
            self.write_out()?;
        }
        Ok(())
    }

    fn write_out(&mut self) -> Result<()> {
        if self.out.is_empty() {
            return Ok(());
        }
        if let Err(e) = self.file.write_at(&self.out, self.written) {
            self.failed = true;
            return Err(Error::io(&self.path, e));
        }
        self.written += self.out.len() as u64;
        self.out.clear();
        Ok(())
    }

    /// Writes the remaining data block, the filter, the index and the footer,
    /// then syncs the file. An empty table is `InvalidArgument`.
    pub fn finish(mut self) -> Result<TableSummary> {
        if self.failed {
            return Err(Error::InvalidArgument(
                "table builder failed earlier; discard this table".into(),
            ));
        }
        if self.entries == 0 {
            return Err(Error::InvalidArgument(
                "refusing to write an empty table".into(),
            ));
        }
        if !self.data_block.is_empty() {
            self.flush_data_block()?;
        }
        let filter = build_filter(&self.key_hashes, self.opts.bloom_bits_per_key);
        let filter_handle = self.emit(CODEC_NONE, &filter)?;
        let index_raw = self.index_block.finish();
        if index_raw.len() > BLOCK_BYTES_MAX {
            return Err(Error::InvalidArgument(format!(
                "index block of {} bytes exceeds {BLOCK_BYTES_MAX}",
                index_raw.len()
            )));
        }
        let (codec, stored) = encode_for_disk(index_raw, self.opts.compression);
        let index_handle = self.emit(codec, &stored)?;

        let mut footer = Vec::with_capacity(FOOTER_BYTES);
        filter_handle.encode_to(&mut footer);
        index_handle.encode_to(&mut footer);
        footer.extend_from_slice(&self.entries.to_le_bytes());
        footer.extend_from_slice(&SST_FORMAT_VERSION.to_le_bytes());
        let crc = self.seal.crc(self.offset(), &[&footer]);
        footer.extend_from_slice(&crc.to_le_bytes());
        footer.extend_from_slice(&SST_MAGIC.to_le_bytes());
        assert_eq!(footer.len(), FOOTER_BYTES);
        self.out.extend_from_slice(&footer);

        self.write_out()?;
        self.file.sync_all().map_err(|e| Error::io(&self.path, e))?;
        Ok(TableSummary {
            file_bytes: self.written,
            entries: self.entries,
            smallest_key: self.smallest_key,
            largest_key: self.last_key,
            seqno_min: self.seqno_min,
            seqno_max: self.seqno_max,
            tombstones: self.tombstones,
        })
    }
}
