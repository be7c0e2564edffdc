//! The low-level format surface: the encoders, decoders and readers of the
//! on-disk formats, for the fuzz targets, the simulator and tools.
//!
//! **Not a stable API.** Applications use [`Db`](crate::Db) and the types at
//! the crate root. This module exists so that code outside the engine can
//! feed arbitrary bytes to the decoders, write and open single files, and
//! name the format constants, without the engine's internal modules being
//! public: it re-exports exactly that, one submodule per file format, and
//! changes whenever the formats or the engine's internals do.
//!
//! The byte layouts are documented in `engine/docs/FORMATS.md` and the
//! documents it lists (`wal.md`, `manifest.md`, `sstable.md`); tests check
//! those documents' constants against the ones re-exported here.
//!
//! - [`wal`]: write-ahead log segments and records.
//! - [`manifest`]: the manifest log of version edits, and `CURRENT`.
//! - [`version`]: the set of live tables per level that manifest edits
//!   build.
//! - [`sst`]: SSTables (blocks, bloom filter, index, footer).
//! - [`filename`]: the names of the files in a database directory.

/// Hex text, as the tools and repair's files write bytes.
pub mod hex {
    pub use crate::coding::{from_hex, to_hex};
}

/// Write-ahead log segments: constants, record encoding and decoding, the
/// segment writer, and the segment scanner recovery uses
/// (`engine/docs/wal.md`).
pub mod wal {
    pub use crate::wal::{
        decode_payload, encode_close_record, encode_record, encoded_record_bytes,
        record_sync_watermark, scan_segment, Damage, SegmentScan, WalLimits, WalRecord, WalWriter,
        OP_DELETE, OP_PUT, RECORD_BATCH, RECORD_CLOSE, RECORD_DELETE, RECORD_HEADER_BYTES,
        RECORD_PUT, SEGMENT_HEADER_BYTES, WAL_FORMAT_VERSION, WAL_FORMAT_VERSION_MIN, WAL_MAGIC,
    };
}

/// The manifest: constants, version-edit encoding and decoding, the
/// manifest writer, replay of a whole manifest file, and reading `CURRENT`
/// (`engine/docs/manifest.md`).
pub mod manifest {
    pub use crate::manifest::{
        decode_edit, encode_edit, mask_crc, read_current, recover, replay, replay_visiting,
        ManifestWriter, RecordPlace, Recovered, TornTail, CRC_MASK_DELTA, CURRENT_BYTES_MAX,
        MANIFEST_FORMAT_VERSION, MANIFEST_FORMAT_VERSION_MIN, MANIFEST_HEADER_BYTES,
        MANIFEST_MAGIC, RECORD_HEADER_BYTES, RECORD_PAYLOAD_BYTES_MAX, TAG_ADDED_FILE,
        TAG_LAST_SEQNO, TAG_LOG_NUMBER, TAG_NEXT_FILE_NUMBER, TAG_REMOVED_FILE,
    };
}

/// Versions: which tables are live at which level, and the edits that move
/// from one version to the next (what a manifest record holds).
pub mod version {
    pub use crate::version::{FileMeta, Version, VersionBuilder, VersionEdit, LEVELS};
}

/// SSTables: constants, the builder, the reader and its cursor, the block
/// cache, and the internal-key order (`engine/docs/sstable.md`).
pub mod sst {
    pub use crate::sst::{
        bloom_hash64, cmp_internal, BlockCache, BloomFilter, Compression, IndexEntry, Seal, Table,
        TableBuilder, TableIter, TableLayout, TableOptions, TableStats, TableSummary,
        BLOCK_BYTES_MAX, BLOCK_HANDLE_BYTES, BLOCK_TRAILER_BYTES, BLOOM_PROBES_MAX, CODEC_LZ4,
        CODEC_NONE, FOOTER_BYTES, KIND_TOMBSTONE, KIND_VALUE, SST_FORMAT_VERSION,
        SST_FORMAT_VERSION_MIN, SST_MAGIC,
    };
}

/// The names of the files in a database directory.
pub mod filename {
    pub use crate::filename::{
        manifest_file_name, parse_file_name, table_file_name, wal_file_name, FileKind,
        CURRENT_FILE, CURRENT_TEMP_FILE, LOCK_FILE,
    };
}
