//! The manifest: a checksummed log of [`VersionEdit`]s, and `CURRENT`.
//!
//! The byte format is specified in `engine/docs/manifest.md` (a test checks
//! the document's constants against this file). In short:
//!
//! ```text
//! MANIFEST-NNNNNN = file header (12 B) , record+
//! file header     = magic u64 LE "STRATAMF" , format version u32 LE
//! record          = len u32 LE , payload crc u32 LE , header crc u32 LE , payload (len B)
//! payload         = one encoded VersionEdit (tagged fields, LEB128 varints)
//! CURRENT         = "MANIFEST-NNNNNN\n"
//! ```
//!
//! Both checksums are CRC-32C, masked. The header checksum covers the length
//! and the payload checksum, so a corrupt length is detected as corruption
//! instead of being mistaken for a record that runs past the end of the file
//! (which is what a torn append looks like).
//!
//! Protocols (all I/O through [`FileSystem`]):
//! - a new manifest is created with the file header and a full snapshot edit,
//!   `sync_all`ed, its directory entry made durable (`sync_dir`), and only
//!   then named by `CURRENT`;
//! - `CURRENT` is replaced by writing `CURRENT.tmp`, `sync_all`, `rename`,
//!   `sync_dir`: after a crash it names either the old or the new manifest,
//!   both complete;
//! - an append is durable when [`ManifestWriter::append`] returns `Ok`
//!   (`sync_data` before returning). After any failed write or sync the
//!   writer refuses further appends ([`Error::Poisoned`]): the engine must
//!   start a new manifest rather than trust a file in an unknown state.
//! - recovery accepts a damaged LAST record (the only one that can be in
//!   flight at a crash) and reports its offset so the caller can truncate;
//!   damage followed by any valid record is [`Error::Corruption`].

use crate::sync::Arc;
use std::path::{Path, PathBuf};

use crate::coding::{
    decode_varint, get_u32, put_length_prefixed, put_varint, varint_len, VarintError,
};
use crate::error::{Error, Result};
use crate::filename::{
    manifest_file_name, parse_file_name, FileKind, CURRENT_FILE, CURRENT_TEMP_FILE,
};
use crate::fs::{FileSystem, FsFile, OpenMode};
use crate::types::SeqNo;
use crate::version::{FileMeta, Version, VersionBuilder, VersionEdit, LEVELS};

/// First 8 bytes of every manifest: `"STRATAMF"` read as a little-endian u64.
pub const MANIFEST_MAGIC: u64 = 0x464d_4154_4152_5453;
/// The manifest format version the writer puts after the magic. Version 2
/// binds each record's header checksum to the manifest's number and the
/// record's offset ([`RecordPlace`]); version 1 files are still read and
/// appended to in their own format.
pub const MANIFEST_FORMAT_VERSION: u32 = 0x0000_0002;
/// The oldest format version a reader accepts.
pub const MANIFEST_FORMAT_VERSION_MIN: u32 = 0x0000_0001;
/// Size of the file header: magic + format version.
pub const MANIFEST_HEADER_BYTES: u64 = 0x0c;
/// Size of a record header: len + payload crc + header crc.
pub const RECORD_HEADER_BYTES: u64 = 0x0c;
/// Largest payload a record may carry (64 MiB); checked before allocating.
pub const RECORD_PAYLOAD_BYTES_MAX: u64 = 0x0400_0000;
/// Added to a rotated CRC-32C to mask it (see [`mask_crc`]).
pub const CRC_MASK_DELTA: u32 = 0xa282_ead8;
/// Largest accepted `CURRENT` file.
pub const CURRENT_BYTES_MAX: u64 = 0x40;

/// Edit field: `log_number`, one varint.
pub const TAG_LOG_NUMBER: u8 = 0x01;
/// Edit field: `next_file_number`, one varint.
pub const TAG_NEXT_FILE_NUMBER: u8 = 0x02;
/// Edit field: `last_seqno`, one varint.
pub const TAG_LAST_SEQNO: u8 = 0x03;
/// Edit field: a removed file, varints `level`, `number`.
pub const TAG_REMOVED_FILE: u8 = 0x04;
/// Edit field: an added file (see the doc for its layout).
pub const TAG_ADDED_FILE: u8 = 0x05;

/// Masks a CRC so that checksumming data that itself holds CRCs stays
/// effective: rotate right by 15 bits, then add [`CRC_MASK_DELTA`].
pub fn mask_crc(crc: u32) -> u32 {
    crc.rotate_right(15).wrapping_add(CRC_MASK_DELTA)
}

// ---------------------------------------------------------------------------
// Edit encoding.

/// Encodes an edit as a record payload. Field order is fixed (scalars, then
/// removals, then additions) so equal edits encode to equal bytes.
pub fn encode_edit(edit: &VersionEdit) -> Vec<u8> {
    let mut out = Vec::new();
    for (tag, value) in [
        (TAG_LOG_NUMBER, edit.log_number),
        (TAG_NEXT_FILE_NUMBER, edit.next_file_number),
        (TAG_LAST_SEQNO, edit.last_seqno),
    ] {
        if let Some(v) = value {
            out.push(tag);
            put_varint(&mut out, v);
        }
    }
    for &(level, number) in &edit.removed {
        out.push(TAG_REMOVED_FILE);
        put_varint(&mut out, level as u64);
        put_varint(&mut out, number);
    }
    for (level, f) in &edit.added {
        out.push(TAG_ADDED_FILE);
        put_varint(&mut out, *level as u64);
        put_varint(&mut out, f.number);
        put_varint(&mut out, f.file_bytes);
        put_length_prefixed(&mut out, &f.smallest_key);
        put_length_prefixed(&mut out, &f.largest_key);
        put_varint(&mut out, f.seqno_min);
        put_varint(&mut out, f.seqno_max);
        put_varint(&mut out, f.entries);
    }
    out
}

/// A cursor over a payload that reports errors at absolute file offsets.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
    file: &'a Path,
    base: u64,
}

impl<'a> Reader<'a> {
    fn err(&self, at: usize, why: impl Into<String>) -> Error {
        Error::corruption(self.file, self.base + at as u64, why)
    }

    fn byte(&mut self) -> Result<u8> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| self.err(self.pos, "edit ends inside a field"))?;
        self.pos += 1;
        Ok(b)
    }

    fn varint(&mut self) -> Result<u64> {
        let start = self.pos;
        match decode_varint(self.buf, &mut self.pos) {
            Ok(v) if self.pos - start > varint_len(v) => {
                Err(self.err(start, "varint is not in its shortest form"))
            }
            Ok(v) => Ok(v),
            Err(VarintError::Truncated) => {
                Err(self.err(self.buf.len(), "edit ends inside a field"))
            }
            Err(VarintError::Overflow) => Err(self.err(start, "varint overflows u64")),
        }
    }

    fn level(&mut self) -> Result<usize> {
        let at = self.pos;
        let level = self.varint()?;
        if level >= LEVELS as u64 {
            return Err(self.err(at, format!("level {level} out of range 0..{LEVELS}")));
        }
        Ok(level as usize)
    }

    fn bytes(&mut self) -> Result<Vec<u8>> {
        let at = self.pos;
        let len = self.varint()?;
        let remaining = (self.buf.len() - self.pos) as u64;
        // Validated against what is actually there before allocating.
        if len > remaining {
            return Err(self.err(
                at,
                format!("key length {len} exceeds the {remaining} bytes left in the edit"),
            ));
        }
        let len = len as usize;
        let out = self.buf[self.pos..self.pos + len].to_vec();
        self.pos += len;
        Ok(out)
    }
}

/// Decodes a record payload. `file` and `payload_offset` (the payload's
/// position in the file) only serve to name the place of any damage.
pub fn decode_edit(payload: &[u8], file: &Path, payload_offset: u64) -> Result<VersionEdit> {
    let mut r = Reader {
        buf: payload,
        pos: 0,
        file,
        base: payload_offset,
    };
    let mut edit = VersionEdit::default();
    let mut prev_tag = 0u8;
    while r.pos < payload.len() {
        let at = r.pos;
        let tag = r.byte()?;
        // Canonical order (so one edit has one encoding): tags never
        // decrease, and the scalar tags appear at most once.
        let repeat_ok = tag == TAG_REMOVED_FILE || tag == TAG_ADDED_FILE;
        if tag < prev_tag || (tag == prev_tag && !repeat_ok) {
            return Err(r.err(
                at,
                format!("field tag {tag:#04x} after {prev_tag:#04x} is out of order"),
            ));
        }
        prev_tag = tag;
        match tag {
            TAG_LOG_NUMBER | TAG_NEXT_FILE_NUMBER | TAG_LAST_SEQNO => {
                let slot = match tag {
                    TAG_LOG_NUMBER => &mut edit.log_number,
                    TAG_NEXT_FILE_NUMBER => &mut edit.next_file_number,
                    _ => &mut edit.last_seqno,
                };
                debug_assert!(slot.is_none(), "order check lets no scalar repeat");
                *slot = Some(r.varint()?);
            }
            TAG_REMOVED_FILE => {
                let level = r.level()?;
                let number = r.varint()?;
                edit.removed.push((level, number));
            }
            TAG_ADDED_FILE => {
                let level = r.level()?;
                let meta = FileMeta {
                    number: r.varint()?,
                    file_bytes: r.varint()?,
                    smallest_key: r.bytes()?,
                    largest_key: r.bytes()?,
                    seqno_min: r.varint()?,
                    seqno_max: r.varint()?,
                    entries: r.varint()?,
                };
                edit.added.push((level, meta));
            }
            other => return Err(r.err(at, format!("unknown field tag {other:#04x}"))),
        }
    }
    Ok(edit)
}

// ---------------------------------------------------------------------------
// Framing.

fn file_header() -> [u8; MANIFEST_HEADER_BYTES as usize] {
    let mut h = [0u8; MANIFEST_HEADER_BYTES as usize];
    h[..8].copy_from_slice(&MANIFEST_MAGIC.to_le_bytes());
    h[8..].copy_from_slice(&MANIFEST_FORMAT_VERSION.to_le_bytes());
    h
}

/// What a record's header checksum is bound to. From format version 2 on,
/// the header CRC starts with the manifest's file number and the record's
/// offset in the file (both u64 LE): a valid record written at the wrong
/// place (a misdirected write) fails its check there, and cannot pass for
/// the record that belonged there.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RecordPlace {
    version: u32,
    manifest_number: u64,
}

impl RecordPlace {
    /// Records of manifest `manifest_number` in format `version`.
    pub fn new(version: u32, manifest_number: u64) -> RecordPlace {
        RecordPlace {
            version,
            manifest_number,
        }
    }

    /// The masked header checksum of a record at `offset` whose first 8
    /// header bytes (length, payload checksum) are `head`.
    pub fn header_crc(&self, offset: u64, head: &[u8]) -> u32 {
        let mut crc = 0;
        if self.version >= 2 {
            crc = crc32c::crc32c_append(crc, &self.manifest_number.to_le_bytes());
            crc = crc32c::crc32c_append(crc, &offset.to_le_bytes());
        }
        mask_crc(crc32c::crc32c_append(crc, head))
    }
}

/// Frames a payload as one record at `offset`: header then payload.
fn frame(payload: &[u8], place: RecordPlace, offset: u64) -> Result<Vec<u8>> {
    if payload.len() as u64 > RECORD_PAYLOAD_BYTES_MAX {
        return Err(Error::InvalidArgument(format!(
            "manifest edit of {} bytes exceeds the {RECORD_PAYLOAD_BYTES_MAX} byte limit",
            payload.len()
        )));
    }
    let mut out = Vec::with_capacity(RECORD_HEADER_BYTES as usize + payload.len());
    out.extend_from_slice(&(payload.len() as u32).to_le_bytes());
    out.extend_from_slice(&mask_crc(crc32c::crc32c(payload)).to_le_bytes());
    let header_crc = place.header_crc(offset, &out[..8]);
    out.extend_from_slice(&header_crc.to_le_bytes());
    out.extend_from_slice(payload);
    Ok(out)
}

/// The u32 at `at`; the caller checked the bytes are there.
fn u32_at(b: &[u8], at: usize) -> u32 {
    get_u32(b, at).expect("the caller checked the length")
}

/// What lies at one offset of the record area.
enum Frame {
    /// A complete record with valid checksums: its payload range.
    Valid { payload_start: usize, end: usize },
    /// Fewer than a record header's bytes remain.
    HeaderIncomplete,
    /// The header checksum does not match (length untrustworthy).
    HeaderBad,
    /// The header is valid but names a length over the limit.
    LengthOverLimit(u64),
    /// The header is valid; the payload runs past the end of the file.
    PayloadIncomplete,
    /// The header is valid; the payload checksum does not match.
    PayloadBad { end: usize },
}

fn frame_at(b: &[u8], at: usize, place: RecordPlace) -> Frame {
    let h = RECORD_HEADER_BYTES as usize;
    if b.len() - at < h {
        return Frame::HeaderIncomplete;
    }
    if place.header_crc(at as u64, &b[at..at + 8]) != u32_at(b, at + 8) {
        return Frame::HeaderBad;
    }
    let len = u64::from(u32_at(b, at));
    if len > RECORD_PAYLOAD_BYTES_MAX {
        return Frame::LengthOverLimit(len);
    }
    let payload_start = at + h;
    if ((b.len() - payload_start) as u64) < len {
        return Frame::PayloadIncomplete;
    }
    let end = payload_start + len as usize;
    if mask_crc(crc32c::crc32c(&b[payload_start..end])) != u32_at(b, at + 4) {
        return Frame::PayloadBad { end };
    }
    Frame::Valid { payload_start, end }
}

/// A damaged last record, ignored by recovery.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TornTail {
    /// Offset of the damaged record: truncate the file to this length.
    pub offset: u64,
    /// The file's length as found.
    pub file_bytes: u64,
    /// What was wrong with it.
    pub reason: String,
}

/// The state rebuilt from the manifest named by `CURRENT`.
#[derive(Clone, Debug)]
pub struct Recovered {
    /// The set of tables the manifest describes.
    pub version: Version,
    /// Number of the manifest replayed.
    pub manifest_number: u64,
    /// Its format version (appends keep to it).
    pub format_version: u32,
    /// The next unused file number (greater than every live file's number).
    pub next_file_number: u64,
    /// WAL segments numbered below this are fully flushed.
    pub log_number: u64,
    /// Last sequence number recorded in the manifest.
    pub last_seqno: SeqNo,
    /// Number of valid records replayed (the snapshot included).
    pub records: u64,
    /// End of the last valid record: where the next append goes.
    pub valid_bytes: u64,
    /// A damaged last record that was ignored, if any. The caller must
    /// truncate the file to `valid_bytes` before appending to it
    /// ([`ManifestWriter::reopen`] does so).
    pub torn_tail: Option<TornTail>,
}

/// Replays the bytes of a manifest file. `file` names it in errors.
pub fn replay(bytes: &[u8], file: &Path, manifest_number: u64) -> Result<Recovered> {
    replay_visiting(bytes, file, manifest_number, &mut |_, _, _| {})
}

/// [`replay`], showing `visit` each record as it is applied: its offset,
/// the edit, and the version it leads to.
pub fn replay_visiting(
    bytes: &[u8],
    file: &Path,
    manifest_number: u64,
    visit: &mut dyn FnMut(u64, &VersionEdit, &VersionBuilder),
) -> Result<Recovered> {
    let corrupt = |at: u64, why: String| Error::corruption(file, at, why);
    let place = RecordPlace::new(check_file_header(bytes, file)?, manifest_number);
    let mut builder = VersionBuilder::new();
    let mut scalars = Scalars::default();
    let mut records = 0u64;
    let mut at = MANIFEST_HEADER_BYTES as usize;
    let mut torn_tail = None;
    while at < bytes.len() {
        let (payload_start, end) = match frame_at(bytes, at, place) {
            Frame::Valid { payload_start, end } => (payload_start, end),
            damaged => {
                let (reason, tail_ok) = describe_damage(bytes, at, damaged, place);
                if records == 0 {
                    return Err(corrupt(
                        at as u64,
                        format!("{reason} in the snapshot record (it was synced before use)"),
                    ));
                }
                if !tail_ok {
                    return Err(corrupt(
                        at as u64,
                        format!("{reason}, and it is not the last record"),
                    ));
                }
                torn_tail = Some(TornTail {
                    offset: at as u64,
                    file_bytes: bytes.len() as u64,
                    reason,
                });
                break;
            }
        };
        let edit = decode_edit(&bytes[payload_start..end], file, payload_start as u64)?;
        if records == 0
            && (edit.log_number.is_none()
                || edit.next_file_number.is_none()
                || edit.last_seqno.is_none()
                || !edit.removed.is_empty())
        {
            return Err(corrupt(
                at as u64,
                "first record is not a complete snapshot".to_string(),
            ));
        }
        builder
            .apply(&edit)
            .map_err(|e| corrupt(at as u64, format!("edit does not apply: {e}")))?;
        scalars
            .advance(&edit)
            .map_err(|why| corrupt(at as u64, why))?;
        visit(at as u64, &edit, &builder);
        records += 1;
        at = end;
    }
    let valid_bytes = at as u64;
    if records == 0 {
        return Err(corrupt(valid_bytes, "no snapshot record".to_string()));
    }
    let version = builder.build();
    let next_file_number = scalars.next_file_number.unwrap_or(0);
    if let Some(&max) = version.live_file_numbers().iter().next_back() {
        if next_file_number <= max {
            return Err(corrupt(
                valid_bytes,
                format!("next_file_number {next_file_number} is not above live file {max}"),
            ));
        }
    }
    Ok(Recovered {
        version,
        manifest_number,
        format_version: place.version,
        next_file_number,
        log_number: scalars.log_number.unwrap_or(0),
        last_seqno: scalars.last_seqno.unwrap_or(0),
        records,
        valid_bytes,
        torn_tail,
    })
}

/// Checks the file header: long enough, the magic, a known format version
/// (returned).
fn check_file_header(bytes: &[u8], file: &Path) -> Result<u32> {
    let corrupt = |at: u64, why: String| Error::corruption(file, at, why);
    if bytes.len() < MANIFEST_HEADER_BYTES as usize {
        return Err(corrupt(
            0,
            format!("file of {} bytes is shorter than its header", bytes.len()),
        ));
    }
    let magic = u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes"));
    if magic != MANIFEST_MAGIC {
        return Err(corrupt(0, format!("bad magic {magic:#018x}")));
    }
    let format = u32_at(bytes, 8);
    if !(MANIFEST_FORMAT_VERSION_MIN..=MANIFEST_FORMAT_VERSION).contains(&format) {
        return Err(corrupt(
            8,
            format!(
                "unknown format version {format} (this reader knows \
                 {MANIFEST_FORMAT_VERSION_MIN}..={MANIFEST_FORMAT_VERSION})"
            ),
        ));
    }
    Ok(format)
}

/// What is wrong with the damaged frame at `at`, and whether it may be a
/// torn tail (nothing valid can follow it).
fn describe_damage(bytes: &[u8], at: usize, damaged: Frame, place: RecordPlace) -> (String, bool) {
    match damaged {
        Frame::Valid { .. } => unreachable!("only damaged frames are described"),
        Frame::HeaderIncomplete => ("record header incomplete".to_string(), true),
        Frame::PayloadIncomplete => ("record payload runs past end of file".to_string(), true),
        // A valid header fixes the record's end: anything after it means
        // this is not the last record.
        Frame::PayloadBad { end } => ("payload checksum mismatch".to_string(), end == bytes.len()),
        Frame::LengthOverLimit(len) => (format!("record length {len} over the limit"), false),
        // The length is unknown: it is the last record only if no valid
        // record starts anywhere after it.
        Frame::HeaderBad => (
            "record header checksum mismatch".to_string(),
            !(at + 1..bytes.len())
                .any(|p| matches!(frame_at(bytes, p, place), Frame::Valid { .. })),
        ),
    }
}

/// The scalar fields of the edits replayed so far; none may go backwards.
#[derive(Default)]
struct Scalars {
    log_number: Option<u64>,
    next_file_number: Option<u64>,
    last_seqno: Option<SeqNo>,
}

impl Scalars {
    /// Takes `edit`'s scalars; an error names one that went backwards.
    fn advance(&mut self, edit: &VersionEdit) -> std::result::Result<(), String> {
        for (name, old, new) in [
            ("log_number", &mut self.log_number, edit.log_number),
            ("last_seqno", &mut self.last_seqno, edit.last_seqno),
            (
                "next_file_number",
                &mut self.next_file_number,
                edit.next_file_number,
            ),
        ] {
            if let Some(new) = new {
                if old.is_some_and(|o| new < o) {
                    return Err(format!("{name} goes backwards to {new}"));
                }
                *old = Some(new);
            }
        }
        Ok(())
    }
}

// ---------------------------------------------------------------------------
// CURRENT.

/// Points `CURRENT` at manifest `manifest_number`: write `CURRENT.tmp`,
/// `sync_all`, rename over `CURRENT`, `sync_dir(dir)`.
pub fn set_current(fs: &dyn FileSystem, dir: &Path, manifest_number: u64) -> Result<()> {
    let tmp = dir.join(CURRENT_TEMP_FILE);
    let current = dir.join(CURRENT_FILE);
    let contents = format!("{}\n", manifest_file_name(manifest_number));
    let f = fs
        .open(&tmp, OpenMode::CreateTruncate)
        .map_err(|e| Error::io(&tmp, e))?;
    f.write_at(contents.as_bytes(), 0)
        .map_err(|e| Error::io(&tmp, e))?;
    f.sync_all().map_err(|e| Error::io(&tmp, e))?;
    drop(f);
    fs.rename(&tmp, &current)
        .map_err(|e| Error::io(&current, e))?;
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    Ok(())
}

/// Reads and validates `CURRENT`; `None` if it does not exist.
pub fn read_current(fs: &dyn FileSystem, dir: &Path) -> Result<Option<u64>> {
    let path = dir.join(CURRENT_FILE);
    if !fs.exists(&path).map_err(|e| Error::io(&path, e))? {
        return Ok(None);
    }
    let f = fs
        .open(&path, OpenMode::Read)
        .map_err(|e| Error::io(&path, e))?;
    let len = f.len().map_err(|e| Error::io(&path, e))?;
    if len > CURRENT_BYTES_MAX {
        return Err(Error::corruption(
            &path,
            0,
            format!("CURRENT is {len} bytes, over the {CURRENT_BYTES_MAX} byte limit"),
        ));
    }
    let bytes = f.read_all().map_err(|e| Error::io(&path, e))?;
    let Some(body) = bytes.strip_suffix(b"\n") else {
        return Err(Error::corruption(
            &path,
            bytes.len() as u64,
            "CURRENT does not end with a newline",
        ));
    };
    let name = std::str::from_utf8(body)
        .ok()
        .and_then(|name| match parse_file_name(name) {
            Some(FileKind::Manifest(n)) => Some(n),
            _ => None,
        })
        .ok_or_else(|| {
            Error::corruption(&path, 0, "CURRENT does not hold one manifest file name")
        })?;
    Ok(Some(name))
}

/// Recovers the state recorded by the manifest `CURRENT` names; `None` if
/// there is no `CURRENT` (a new database).
pub fn recover(fs: &dyn FileSystem, dir: &Path) -> Result<Option<Recovered>> {
    let Some(number) = read_current(fs, dir)? else {
        return Ok(None);
    };
    let path = dir.join(manifest_file_name(number));
    if !fs.exists(&path).map_err(|e| Error::io(&path, e))? {
        return Err(Error::corruption(
            dir.join(CURRENT_FILE),
            0,
            format!("CURRENT names {} which does not exist", path.display()),
        ));
    }
    let f = fs
        .open(&path, OpenMode::Read)
        .map_err(|e| Error::io(&path, e))?;
    let bytes = f.read_all().map_err(|e| Error::io(&path, e))?;
    let recovered = replay(&bytes, &path, number)?;
    if recovered.torn_tail.is_some() {
        // The torn tail will be dropped for good (the next manifest is
        // written without it): make sure it is on the disk and not a read
        // fault, by reading the file again.
        let again = f.read_all().map_err(|e| Error::io(&path, e))?;
        if again != bytes {
            return Err(read_back_differently(&path));
        }
    }
    Ok(Some(recovered))
}

/// The error for a file whose two reads disagreed: a transient read fault,
/// not damage to act on (recovery must not drop data on its word).
pub(crate) fn read_back_differently(path: &Path) -> Error {
    Error::io(
        path,
        std::io::Error::other(
            "read back differently on a second read (a transient read fault?); \
             nothing was truncated, retry the open",
        ),
    )
}

// ---------------------------------------------------------------------------
// Writer.

/// Appends edits to one manifest file.
#[derive(Debug)]
pub struct ManifestWriter {
    path: PathBuf,
    number: u64,
    /// How the file's records are framed (its format version and number).
    place: RecordPlace,
    file: Arc<dyn FsFile>,
    bytes: u64,
    /// Set after a failed write or sync: nothing more is appended.
    failed: Option<String>,
}

impl ManifestWriter {
    /// A writer on no file, for a database opened read-only: every append
    /// fails (the database refuses writes before reaching it).
    pub(crate) fn detached(recovered: &Recovered) -> ManifestWriter {
        ManifestWriter {
            path: PathBuf::from("<read-only: no manifest writer>"),
            number: recovered.manifest_number,
            place: RecordPlace::new(recovered.format_version, recovered.manifest_number),
            file: Arc::new(crate::fs::MemFile::default()),
            bytes: recovered.valid_bytes,
            failed: Some("the database was opened read-only".into()),
        }
    }

    /// Creates `MANIFEST-<manifest_number>` in `dir` holding the file header
    /// and `snapshot`, syncs it and its directory entry, then points
    /// `CURRENT` at it. `snapshot` must rebuild the whole state from nothing:
    /// no removals, and all of `log_number`, `next_file_number`, `last_seqno`.
    pub fn create(
        fs: &dyn FileSystem,
        dir: &Path,
        manifest_number: u64,
        snapshot: &VersionEdit,
    ) -> Result<ManifestWriter> {
        if snapshot.log_number.is_none()
            || snapshot.next_file_number.is_none()
            || snapshot.last_seqno.is_none()
            || !snapshot.removed.is_empty()
        {
            return Err(Error::InvalidArgument(
                "a manifest snapshot needs log_number, next_file_number and last_seqno, and no removals"
                    .into(),
            ));
        }
        let version = Version::new().apply(snapshot)?;
        if let Some(&max) = version.live_file_numbers().iter().next_back() {
            if snapshot.next_file_number <= Some(max) {
                return Err(Error::InvalidArgument(format!(
                    "next_file_number must exceed live file {max}"
                )));
            }
        }
        if read_current(fs, dir)? == Some(manifest_number) {
            return Err(Error::InvalidArgument(format!(
                "manifest {manifest_number} is the live one; a new manifest needs a new number"
            )));
        }
        let path = dir.join(manifest_file_name(manifest_number));
        let mut contents = file_header().to_vec();
        let place = RecordPlace::new(MANIFEST_FORMAT_VERSION, manifest_number);
        contents.extend_from_slice(&frame(
            &encode_edit(snapshot),
            place,
            MANIFEST_HEADER_BYTES,
        )?);
        let io = |e| Error::io(&path, e);
        // Truncate: a file of this number can only be debris of a crash
        // before it was named by CURRENT.
        let file = fs.open(&path, OpenMode::CreateTruncate).map_err(io)?;
        file.write_at(&contents, 0).map_err(io)?;
        file.sync_all().map_err(io)?;
        fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
        set_current(fs, dir, manifest_number)?;
        Ok(ManifestWriter {
            path,
            number: manifest_number,
            place,
            file,
            bytes: contents.len() as u64,
            failed: None,
        })
    }

    /// Continues the manifest described by `recovered` (from [`recover`] on
    /// the same `dir`): cuts a torn tail off (`set_len`, `sync_all`) first.
    pub fn reopen(
        fs: &dyn FileSystem,
        dir: &Path,
        recovered: &Recovered,
    ) -> Result<ManifestWriter> {
        let path = dir.join(manifest_file_name(recovered.manifest_number));
        let io = |e| Error::io(&path, e);
        let file = fs.open(&path, OpenMode::ReadWrite).map_err(io)?;
        let len = file.len().map_err(io)?;
        if len < recovered.valid_bytes {
            return Err(Error::InvalidArgument(format!(
                "{} is {len} bytes, shorter than the {} recovered from it",
                path.display(),
                recovered.valid_bytes
            )));
        }
        if len > recovered.valid_bytes {
            file.set_len(recovered.valid_bytes).map_err(io)?;
            file.sync_all().map_err(io)?;
        }
        Ok(ManifestWriter {
            path,
            number: recovered.manifest_number,
            place: RecordPlace::new(recovered.format_version, recovered.manifest_number),
            file,
            bytes: recovered.valid_bytes,
            failed: None,
        })
    }

    /// Appends one edit; it is durable when this returns `Ok`.
    pub fn append(&mut self, edit: &VersionEdit) -> Result<()> {
        if let Some(cause) = &self.failed {
            return Err(Error::Poisoned {
                cause: cause.clone(),
            });
        }
        let payload = encode_edit(edit);
        debug_assert_eq!(
            decode_edit(&payload, &self.path, 0).ok().as_ref(),
            Some(edit),
            "edit encoding round trip"
        );
        let record = frame(&payload, self.place, self.bytes)?;
        let result = self
            .file
            .write_at(&record, self.bytes)
            .and_then(|()| self.file.sync_data());
        match result {
            Ok(()) => {
                self.bytes += record.len() as u64;
                Ok(())
            }
            Err(e) => {
                self.failed = Some(format!("manifest append to {}: {e}", self.path.display()));
                Err(Error::io(&self.path, e))
            }
        }
    }

    /// Bytes in the file, for deciding when to roll to a new manifest.
    pub fn file_bytes(&self) -> u64 {
        self.bytes
    }

    /// This manifest's number.
    pub fn manifest_number(&self) -> u64 {
        self.number
    }

    /// This manifest's path.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::{FileLock, StdFs};
    use crate::sync::Mutex;
    use std::io;

    use crate::testing::SplitMix64;

    /// A length-prefixed field may end exactly at the end of the edit (the
    /// bound is inclusive); one byte more than is left is damage, named
    /// at the length's offset.
    #[test]
    fn a_field_may_fill_the_edit_to_its_last_byte() {
        let reader = |buf| Reader {
            buf,
            pos: 0,
            file: Path::new("MANIFEST-000001"),
            base: 100,
        };
        let buf = [3u8, b'a', b'b', b'c'];
        let mut r = reader(&buf);
        assert_eq!(r.bytes().unwrap(), b"abc");
        assert_eq!(r.pos, buf.len());
        match reader(&[4u8, b'a', b'b', b'c']).bytes() {
            Err(Error::Corruption { offset, .. }) => assert_eq!(offset, 100),
            other => panic!("expected corruption, got {other:?}"),
        }
    }

    fn meta(number: u64, lo: &[u8], hi: &[u8]) -> FileMeta {
        FileMeta {
            number,
            file_bytes: number * 1000 + 7,
            smallest_key: lo.to_vec(),
            largest_key: hi.to_vec(),
            seqno_min: number,
            seqno_max: number + 3,
            entries: 42,
        }
    }

    fn snapshot() -> VersionEdit {
        VersionEdit {
            added: vec![(0, meta(3, b"a", b"q")), (2, meta(4, b"", b"\xff\x00"))],
            removed: vec![],
            log_number: Some(2),
            next_file_number: Some(10),
            last_seqno: Some(100),
        }
    }

    /// A deterministic stream of edits that each apply to the previous state:
    /// flush an L0 file, or move the oldest L0 file down to a fresh level-1
    /// key slot.
    fn edits(seed: u64, count: usize) -> Vec<VersionEdit> {
        let mut rng = SplitMix64(seed);
        let mut v = Version::new().apply(&snapshot()).unwrap();
        let mut next = 10u64;
        let mut seq = 100u64;
        let mut log = 2u64;
        let mut slot = 0u32;
        let mut out = Vec::new();
        for _ in 0..count {
            let mut e = VersionEdit::default();
            if rng.below(3) == 0 && !v.files(0).is_empty() {
                let f = v.files(0).last().unwrap();
                let mut moved = FileMeta::clone(f);
                // level-1 slots are disjoint: "k<slot>-a" ..= "k<slot>-z"
                moved.smallest_key = format!("k{slot:06}-a").into_bytes();
                moved.largest_key = format!("k{slot:06}-z").into_bytes();
                slot += 1;
                e.removed.push((0, f.number));
                e.added.push((1, moved));
            } else {
                let klen = rng.below(40) as usize;
                let key: Vec<u8> = (0..klen).map(|_| rng.next_u64() as u8).collect();
                seq += 1 + rng.below(1000);
                let mut m = meta(next, &key, &key);
                m.seqno_min = seq;
                m.seqno_max = seq;
                m.file_bytes = rng.next_u64() >> rng.below(64);
                e.added.push((0, m));
                next += 1;
                log += 1;
                e.log_number = Some(log);
                e.next_file_number = Some(next);
                e.last_seqno = Some(seq);
            }
            v = v.apply(&e).unwrap();
            out.push(e);
        }
        out
    }

    fn final_version(edits: &[VersionEdit]) -> Version {
        let mut v = Version::new().apply(&snapshot()).unwrap();
        for e in edits {
            v = v.apply(e).unwrap();
        }
        v
    }

    fn write_manifest(dir: &Path, edits: &[VersionEdit]) -> (ManifestWriter, Vec<u64>) {
        let mut w = ManifestWriter::create(&StdFs, dir, 1, &snapshot()).unwrap();
        let mut ends = vec![w.file_bytes()];
        for e in edits {
            w.append(e).unwrap();
            ends.push(w.file_bytes());
        }
        (w, ends)
    }

    /// Appends a record holding `payload` to the bytes of manifest 1.
    fn push_payload(bytes: &mut Vec<u8>, payload: &[u8]) {
        let place = RecordPlace::new(MANIFEST_FORMAT_VERSION, 1);
        bytes.extend(frame(payload, place, bytes.len() as u64).unwrap());
    }

    fn manifest_bytes(dir: &Path) -> Vec<u8> {
        std::fs::read(dir.join(manifest_file_name(1))).unwrap()
    }

    #[test]
    fn edits_round_trip() {
        let p = Path::new("m");
        for e in std::iter::once(snapshot())
            .chain(std::iter::once(VersionEdit::default()))
            .chain(edits(7, 200))
        {
            let bytes = encode_edit(&e);
            assert_eq!(decode_edit(&bytes, p, 0).unwrap(), e);
        }
        // extreme values
        let e = VersionEdit {
            added: vec![(
                LEVELS - 1,
                FileMeta {
                    number: u64::MAX,
                    file_bytes: u64::MAX,
                    smallest_key: vec![0; 300],
                    largest_key: vec![0xff; 300],
                    seqno_min: 0,
                    seqno_max: u64::MAX,
                    entries: u64::MAX,
                },
            )],
            removed: vec![(LEVELS - 1, u64::MAX), (0, 0)],
            log_number: Some(u64::MAX),
            next_file_number: Some(0),
            last_seqno: Some(1 << 63),
        };
        assert_eq!(decode_edit(&encode_edit(&e), p, 0).unwrap(), e);
    }

    #[test]
    fn decode_rejects_malformed_payloads_with_offsets() {
        let p = Path::new("m");
        let offset_of = |bytes: &[u8]| match decode_edit(bytes, p, 1000) {
            Err(Error::Corruption { offset, .. }) => offset,
            other => panic!("expected corruption, got {other:?}"),
        };
        assert_eq!(offset_of(&[0x7f]), 1000, "unknown tag");
        assert_eq!(offset_of(&[TAG_LOG_NUMBER]), 1001, "truncated varint");
        assert_eq!(offset_of(&[TAG_LOG_NUMBER, 1, TAG_LOG_NUMBER, 2]), 1002);
        assert_eq!(offset_of(&[TAG_LAST_SEQNO, 1, TAG_LOG_NUMBER, 2]), 1002);
        assert_eq!(
            offset_of(&[TAG_REMOVED_FILE, 0, 1, TAG_LAST_SEQNO, 2]),
            1003
        );
        assert_eq!(
            offset_of(&[TAG_LAST_SEQNO, 0x80, 0x00]),
            1001,
            "non-shortest"
        );
        let mut overflow = vec![TAG_LAST_SEQNO];
        overflow.extend_from_slice(&[0xff; 9]);
        overflow.push(0x02);
        assert_eq!(offset_of(&overflow), 1001);
        assert_eq!(offset_of(&[TAG_REMOVED_FILE, LEVELS as u8, 1]), 1001);
        // A key length far past the payload: refused before allocating.
        let mut huge = vec![TAG_ADDED_FILE, 0, 1, 1];
        put_varint(&mut huge, u64::MAX >> 1);
        assert_eq!(offset_of(&huge), 1004);
        // Every strict prefix of a valid encoding that cuts a field fails.
        let full = encode_edit(&snapshot());
        for cut in 0..full.len() {
            let r = decode_edit(&full[..cut], p, 0);
            if let Ok(e) = r {
                assert_ne!(e, snapshot(), "prefix {cut} decoded to the whole edit");
            }
        }
    }

    /// Seeded garbage and mutations never panic the decoder or replay; a
    /// mutated manifest either replays to a valid version or is corruption.
    #[test]
    fn random_damage_never_panics() {
        let p = Path::new("MANIFEST-000001");
        let mut rng = SplitMix64(0x5eed);
        let payload = encode_edit(&snapshot());
        for _ in 0..3000 {
            let len = rng.below(64) as usize;
            let junk: Vec<u8> = (0..len).map(|_| rng.next_u64() as u8).collect();
            if let Ok(e) = decode_edit(&junk, p, 0) {
                let _ = Version::new().apply(&e);
                assert_eq!(encode_edit(&e), junk, "encodings are canonical");
            }
            let mut m = payload.clone();
            for _ in 0..1 + rng.below(3) {
                let at = rng.below(m.len() as u64) as usize;
                m[at] = rng.next_u64() as u8;
            }
            if let Ok(e) = decode_edit(&m, p, 0) {
                assert_eq!(encode_edit(&e), m, "encodings are canonical");
            }
        }
        let mut file = file_header().to_vec();
        push_payload(&mut file, &payload);
        for e in edits(4, 10) {
            push_payload(&mut file, &encode_edit(&e));
        }
        for _ in 0..2000 {
            let mut m = file.clone();
            match rng.below(3) {
                0 => {
                    let at = rng.below(m.len() as u64) as usize;
                    m[at] ^= 1 << rng.below(8);
                }
                1 => m.truncate(rng.below(m.len() as u64) as usize),
                _ => {
                    let at = rng.below(m.len() as u64) as usize;
                    for b in &mut m[at..] {
                        *b = rng.next_u64() as u8;
                    }
                }
            }
            match replay(&m, p, 1) {
                Ok(r) => r.version.check().unwrap(),
                Err(e) => assert!(e.is_corruption(), "{e}"),
            }
        }
    }

    #[test]
    fn recover_after_many_appends() {
        let dir = tempfile::tempdir().unwrap();
        assert!(recover(&StdFs, dir.path()).unwrap().is_none());
        let es = edits(11, 500);
        let (w, _) = write_manifest(dir.path(), &es);
        let r = recover(&StdFs, dir.path()).unwrap().unwrap();
        assert_eq!(r.version, final_version(&es));
        assert_eq!(r.records, 501);
        assert_eq!(r.valid_bytes, w.file_bytes());
        assert_eq!(r.torn_tail, None);
        assert_eq!(r.manifest_number, 1);
        let last_full = es
            .iter()
            .rev()
            .find(|e| e.next_file_number.is_some())
            .unwrap();
        assert_eq!(Some(r.next_file_number), last_full.next_file_number);
        assert_eq!(Some(r.log_number), last_full.log_number);
        assert_eq!(Some(r.last_seqno), last_full.last_seqno);
        r.version.check().unwrap();

        // Reopen and continue; a new manifest from a snapshot is equivalent.
        drop(w);
        let mut w = ManifestWriter::reopen(&StdFs, dir.path(), &r).unwrap();
        let more = edits(11, 520);
        for e in &more[500..] {
            w.append(e).unwrap();
        }
        let r2 = recover(&StdFs, dir.path()).unwrap().unwrap();
        assert_eq!(r2.version, final_version(&more));
        let mut snap = r2.version.snapshot_edit();
        snap.log_number = Some(r2.log_number);
        snap.next_file_number = Some(r2.next_file_number);
        snap.last_seqno = Some(r2.last_seqno);
        let w2 = ManifestWriter::create(&StdFs, dir.path(), r2.next_file_number, &snap).unwrap();
        assert!(w2.file_bytes() < w.file_bytes());
        let r3 = recover(&StdFs, dir.path()).unwrap().unwrap();
        assert_eq!(r3.manifest_number, r2.next_file_number);
        assert_eq!(r3.version, r2.version);
        assert_eq!(r3.records, 1);
        // The live manifest's number cannot be reused for a new one.
        assert!(ManifestWriter::create(&StdFs, dir.path(), r3.manifest_number, &snap).is_err());
    }

    #[test]
    fn torn_tail_at_every_byte_offset_of_the_last_record() {
        let dir = tempfile::tempdir().unwrap();
        let es = edits(3, 20);
        let (_w, ends) = write_manifest(dir.path(), &es);
        let full = manifest_bytes(dir.path());
        let (start, end) = (ends[ends.len() - 2] as usize, ends[ends.len() - 1] as usize);
        assert_eq!(end, full.len());
        let before = final_version(&es[..es.len() - 1]);
        let p = Path::new("MANIFEST-000001");
        let mut rng = SplitMix64(99);
        for cut in start..end {
            // Truncated at `cut`.
            let r = replay(&full[..cut], p, 1).unwrap();
            assert_eq!(r.version, before, "cut at {cut}");
            assert_eq!(r.valid_bytes, start as u64);
            if cut == start {
                assert_eq!(r.torn_tail, None);
            } else {
                assert_eq!(r.torn_tail.as_ref().unwrap().offset, start as u64);
            }
            // Full length, but bytes from `cut` on are garbage or zeros (a
            // torn sector write): the record is ignored too.
            for fill in [0u8, 1] {
                let mut torn = full.clone();
                for b in &mut torn[cut..] {
                    *b = if fill == 0 { 0 } else { rng.next_u64() as u8 };
                }
                if torn == full {
                    continue;
                }
                let r = replay(&torn, p, 1).unwrap();
                assert_eq!(r.version, before, "garbage from {cut}");
                assert_eq!(r.torn_tail.unwrap().offset, start as u64);
            }
        }
        // The complete file replays everything.
        let r = replay(&full, p, 1).unwrap();
        assert_eq!(r.version, final_version(&es));

        // Through the file system: reopen truncates, then appends land.
        let f = dir.path().join(manifest_file_name(1));
        std::fs::write(&f, &full[..end - 3]).unwrap();
        let r = recover(&StdFs, dir.path()).unwrap().unwrap();
        assert_eq!(r.torn_tail.as_ref().unwrap().offset, start as u64);
        let mut w = ManifestWriter::reopen(&StdFs, dir.path(), &r).unwrap();
        assert_eq!(std::fs::metadata(&f).unwrap().len(), start as u64);
        w.append(es.last().unwrap()).unwrap();
        let r = recover(&StdFs, dir.path()).unwrap().unwrap();
        assert_eq!(r.torn_tail, None);
        assert_eq!(r.version, final_version(&es));
    }

    /// A misdirected write: one record's bytes land on another record of
    /// the same length, and the record's own place reads as zeros. Replay
    /// must fail, or drop a torn tail and give the version of a prefix of
    /// the edits: never a version that no prefix had.
    #[test]
    fn a_record_moved_onto_another_of_the_same_length_never_replays_silently() {
        let dir = tempfile::tempdir().unwrap();
        let es = edits(21, 120);
        let (_w, ends) = write_manifest(dir.path(), &es);
        let full = manifest_bytes(dir.path());
        let prefixes: Vec<Version> = (0..=es.len()).map(|k| final_version(&es[..k])).collect();
        let p = Path::new("MANIFEST-000001");
        let span = |k: usize| (ends[k] as usize, ends[k + 1] as usize);
        let (mut moves, mut failed, mut torn) = (0, 0, 0);
        for from in 0..es.len() {
            for to in 0..es.len() {
                let ((fa, fb), (ta, tb)) = (span(from), span(to));
                if from == to || fb - fa != tb - ta || full[fa..fb] == full[ta..tb] {
                    continue;
                }
                moves += 1;
                let mut bad = full.clone();
                bad[fa..fb].fill(0);
                bad[ta..tb].copy_from_slice(&full[fa..fb]);
                match replay(&bad, p, 1) {
                    Err(e) => {
                        assert!(e.is_corruption(), "{e}");
                        failed += 1;
                    }
                    Ok(r) => {
                        assert!(
                            prefixes.contains(&r.version),
                            "record {from} moved onto record {to} replayed to a version no prefix had"
                        );
                        torn += 1;
                    }
                }
            }
        }
        // (Without the record's place in its checksum, moving the last
        // record onto an earlier one replays to a version no prefix had.)
        assert!(moves > 100, "{moves} same-length moves");
        assert!(failed > 0, "{failed} failed, {torn} torn");
    }

    /// A version-1 manifest (no place in the header checksums) is read, and
    /// appends to it keep its format.
    #[test]
    fn version_1_manifests_are_read_and_appended_in_their_format() {
        let dir = tempfile::tempdir().unwrap();
        let es = edits(9, 40);
        let v1 = RecordPlace::new(1, 1);
        let mut bytes = MANIFEST_MAGIC.to_le_bytes().to_vec();
        bytes.extend_from_slice(&1u32.to_le_bytes());
        for e in std::iter::once(&snapshot()).chain(&es[..30]) {
            let at = bytes.len() as u64;
            bytes.extend(frame(&encode_edit(e), v1, at).unwrap());
        }
        std::fs::write(dir.path().join(manifest_file_name(1)), &bytes).unwrap();
        set_current(&StdFs, dir.path(), 1).unwrap();
        let r = recover(&StdFs, dir.path()).unwrap().unwrap();
        assert_eq!((r.format_version, r.records), (1, 31));
        assert_eq!(r.version, final_version(&es[..30]));
        let mut w = ManifestWriter::reopen(&StdFs, dir.path(), &r).unwrap();
        for e in &es[30..] {
            w.append(e).unwrap();
        }
        let r = recover(&StdFs, dir.path()).unwrap().unwrap();
        assert_eq!((r.format_version, r.records), (1, 41));
        assert_eq!(r.version, final_version(&es));
        // Read as version 2, its records fail their checks.
        let mut as_v2 = manifest_bytes(dir.path());
        as_v2[8..12].copy_from_slice(&2u32.to_le_bytes());
        assert!(replay(&as_v2, Path::new("m"), 1)
            .unwrap_err()
            .is_corruption());
    }

    #[test]
    fn bit_flip_in_the_middle_is_corruption() {
        let dir = tempfile::tempdir().unwrap();
        let es = edits(5, 30);
        let (_w, ends) = write_manifest(dir.path(), &es);
        let full = manifest_bytes(dir.path());
        let last_start = ends[ends.len() - 2] as usize;
        let p = Path::new("MANIFEST-000001");
        // Every bit of every byte before the last record.
        for at in 0..last_start {
            for bit in 0..8 {
                let mut bad = full.clone();
                bad[at] ^= 1 << bit;
                match replay(&bad, p, 1) {
                    Err(Error::Corruption { file, offset, .. }) => {
                        assert_eq!(file, p);
                        assert!(offset <= at as u64, "offset {offset} after flip at {at}");
                    }
                    other => panic!("flip at {at} bit {bit}: {other:?}"),
                }
            }
        }
    }

    /// Postmortem: the predecessor kept its manifest as JSON lines without
    /// checksums and skipped lines it could not parse, so a damaged edit
    /// silently dropped files from the database. Here every record carries
    /// CRCs, and a damaged record that is not the last is an error naming
    /// the file and the offset of the damaged record.
    #[test]
    fn manifest_edits_are_checksummed() {
        let dir = tempfile::tempdir().unwrap();
        let es = edits(8, 5);
        let (_w, ends) = write_manifest(dir.path(), &es);
        let full = manifest_bytes(dir.path());
        let p = dir.path().join(manifest_file_name(1));
        // Flip one bit of the last varint (`entries`) of the record that
        // starts at `ends[2]`: the payload still decodes as a well-formed
        // edit, so only the checksum can catch it.
        let rec = ends[2] as usize;
        let mut flipped = full.clone();
        flipped[ends[3] as usize - 1] ^= 0x01;
        std::fs::write(&p, &flipped).unwrap();
        match recover(&StdFs, dir.path()) {
            Err(Error::Corruption { file, offset, .. }) => {
                assert_eq!(file, p);
                assert_eq!(offset, rec as u64);
            }
            other => panic!("expected corruption, got {other:?}"),
        }
        // The header checksum guards the length: a length flipped to run
        // past the end of file is not mistaken for a torn tail.
        let mut bad = full.clone();
        bad[rec + 3] ^= 0x40;
        assert!(replay(&bad, &p, 1).unwrap_err().is_corruption());
        // And decoding the damaged payload alone would have "worked": the
        // checksum is what stands between the flip and a wrong version.
        let payload = &flipped[rec + RECORD_HEADER_BYTES as usize..ends[3] as usize];
        assert!(decode_edit(payload, &p, 0).is_ok());
    }

    #[test]
    fn current_naming_a_missing_or_malformed_file_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        write_manifest(dir.path(), &[]);
        std::fs::remove_file(dir.path().join(manifest_file_name(1))).unwrap();
        let err = recover(&StdFs, dir.path()).unwrap_err();
        assert!(err.is_corruption(), "{err}");
        assert!(err.to_string().contains("MANIFEST-000001"), "{err}");
        for bad in [
            &b"MANIFEST-000001"[..],
            b"MANIFEST-1\n",
            b"MANIFEST-000001\n\n",
            b"MANIFEST-\n",
            b"manifest-000001\n",
            b"\n",
            b"",
            &[b'M'; 100][..],
        ] {
            std::fs::write(dir.path().join("CURRENT"), bad).unwrap();
            let err = recover(&StdFs, dir.path()).unwrap_err();
            assert!(err.is_corruption(), "{bad:?}: {err}");
        }
        // A manifest with a bad header is corruption, not an empty database.
        set_current(&StdFs, dir.path(), 1).unwrap();
        std::fs::write(
            dir.path().join(manifest_file_name(1)),
            b"STRATAMX\x01\0\0\0",
        )
        .unwrap();
        assert!(recover(&StdFs, dir.path()).unwrap_err().is_corruption());
        std::fs::write(dir.path().join(manifest_file_name(1)), file_header()).unwrap();
        assert!(
            recover(&StdFs, dir.path()).unwrap_err().is_corruption(),
            "no snapshot record"
        );
    }

    /// Every size limit of the format admits its own value and refuses one
    /// more: a payload of exactly the record limit frames and one byte more
    /// does not; a header declaring one byte over the limit is refused as
    /// such (not read as a payload past the end); a record of an empty
    /// payload is a whole record; a file of exactly its header is a valid
    /// header; a `CURRENT` one byte over its limit is refused for its size.
    #[test]
    fn size_limits_are_inclusive() {
        let place = RecordPlace::new(MANIFEST_FORMAT_VERSION, 1);
        let max = RECORD_PAYLOAD_BYTES_MAX as usize;
        let big = vec![7u8; max + 1];
        assert_eq!(frame(&big[..max], place, 0).unwrap().len(), max + 12);
        let err = frame(&big, place, 0).unwrap_err();
        assert!(err.to_string().contains("exceeds"), "{err}");
        drop(big);

        let header_declaring = |len: u64| {
            let mut b = Vec::new();
            b.extend_from_slice(&(len as u32).to_le_bytes());
            b.extend_from_slice(&0u32.to_le_bytes());
            let crc = place.header_crc(0, &b[..8]);
            b.extend_from_slice(&crc.to_le_bytes());
            b
        };
        assert!(matches!(
            frame_at(&header_declaring(max as u64 + 1), 0, place),
            Frame::LengthOverLimit(n) if n == max as u64 + 1
        ));
        assert!(matches!(
            frame_at(&header_declaring(max as u64), 0, place),
            Frame::PayloadIncomplete
        ));
        let empty = frame(&[], place, 0).unwrap();
        assert_eq!(empty.len(), RECORD_HEADER_BYTES as usize);
        assert!(matches!(
            frame_at(&empty, 0, place),
            Frame::Valid {
                payload_start: 12,
                end: 12
            }
        ));
        assert!(matches!(
            frame_at(&empty[..11], 0, place),
            Frame::HeaderIncomplete
        ));

        let p = Path::new("MANIFEST-000001");
        assert_eq!(
            check_file_header(&file_header(), p).unwrap(),
            MANIFEST_FORMAT_VERSION
        );
        assert!(check_file_header(&file_header()[..11], p)
            .unwrap_err()
            .to_string()
            .contains("shorter than its header"));

        let dir = tempfile::tempdir().unwrap();
        let current = dir.path().join("CURRENT");
        let mut long = b"MANIFEST-000001\n".to_vec();
        long.resize(CURRENT_BYTES_MAX as usize + 1, b'\n');
        std::fs::write(&current, &long).unwrap();
        let err = read_current(&StdFs, dir.path()).unwrap_err();
        assert!(err.to_string().contains("over the 64 byte limit"), "{err}");
        long.pop();
        std::fs::write(&current, &long).unwrap();
        let err = read_current(&StdFs, dir.path()).unwrap_err();
        assert!(
            !err.to_string().contains("byte limit"),
            "at the limit its size is accepted (then its text is checked): {err}"
        );
    }

    #[test]
    fn replay_rejects_edits_that_do_not_apply() {
        let p = Path::new("MANIFEST-000001");
        let mut bytes = file_header().to_vec();
        push_payload(&mut bytes, &encode_edit(&snapshot()));
        let good_len = bytes.len();
        let rm_missing = VersionEdit {
            removed: vec![(1, 12345)],
            ..VersionEdit::default()
        };
        push_payload(&mut bytes, &encode_edit(&rm_missing));
        match replay(&bytes, p, 1) {
            Err(Error::Corruption { offset, .. }) => assert_eq!(offset, good_len as u64),
            other => panic!("{other:?}"),
        }
        // A snapshot with a live file at or past next_file_number.
        let mut snap = snapshot();
        snap.next_file_number = Some(4);
        let mut bytes = file_header().to_vec();
        push_payload(&mut bytes, &encode_edit(&snap));
        assert!(replay(&bytes, p, 1).unwrap_err().is_corruption());
        // last_seqno going backwards.
        let mut bytes = file_header().to_vec();
        push_payload(&mut bytes, &encode_edit(&snapshot()));
        let back = VersionEdit {
            last_seqno: Some(99),
            ..VersionEdit::default()
        };
        push_payload(&mut bytes, &encode_edit(&back));
        assert!(replay(&bytes, p, 1).unwrap_err().is_corruption());
    }

    /// Snapshots missing one field each, and one with a removal.
    fn incomplete_snapshots() -> Vec<VersionEdit> {
        let mut v = Vec::new();
        for field in 0..4 {
            let mut e = snapshot();
            match field {
                0 => e.log_number = None,
                1 => e.next_file_number = None,
                2 => e.last_seqno = None,
                _ => e.removed.push((0, 1)),
            }
            v.push(e);
        }
        v
    }

    /// Each field of the first record is required on its own: replay
    /// refuses a first record lacking any one of them (or removing a file),
    /// and the writer refuses to write such a snapshot.
    #[test]
    fn the_first_record_must_be_a_complete_snapshot() {
        let p = Path::new("MANIFEST-000001");
        let dir = tempfile::tempdir().unwrap();
        for (i, partial) in incomplete_snapshots().into_iter().enumerate() {
            let mut bytes = file_header().to_vec();
            push_payload(&mut bytes, &encode_edit(&partial));
            match replay(&bytes, p, 1) {
                Err(Error::Corruption { reason, .. }) => assert!(
                    reason.contains("first record is not a complete snapshot"),
                    "case {i}: {reason}"
                ),
                other => panic!("case {i}: {other:?}"),
            }
            match ManifestWriter::create(&StdFs, dir.path(), 1 + i as u64, &partial) {
                Err(Error::InvalidArgument(_)) => {}
                other => panic!("case {i}: {other:?}"),
            }
        }
    }

    // --- A recording file system for protocol tests -----------------------

    #[derive(Debug, Clone, Default)]
    struct Log(Arc<Mutex<Vec<String>>>);
    impl Log {
        fn push(&self, s: String) {
            self.0.lock().unwrap().push(s);
        }
        fn take(&self) -> Vec<String> {
            std::mem::take(&mut *self.0.lock().unwrap())
        }
    }

    fn name(p: &Path) -> String {
        p.file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default()
    }

    #[derive(Debug)]
    struct RecordingFs {
        log: Log,
        fail_sync_data: Mutex<bool>,
    }

    #[derive(Debug)]
    struct RecordingFile {
        inner: Arc<dyn FsFile>,
        name: String,
        log: Log,
        fail_sync_data: bool,
    }

    impl FsFile for RecordingFile {
        fn read_at(&self, buf: &mut [u8], offset: u64) -> io::Result<()> {
            self.inner.read_at(buf, offset)
        }
        fn write_at(&self, buf: &[u8], offset: u64) -> io::Result<()> {
            self.log.push(format!("write {}", self.name));
            self.inner.write_at(buf, offset)
        }
        fn sync_data(&self) -> io::Result<()> {
            self.log.push(format!("sync_data {}", self.name));
            if self.fail_sync_data {
                return Err(io::Error::other("injected sync failure"));
            }
            self.inner.sync_data()
        }
        fn sync_all(&self) -> io::Result<()> {
            self.log.push(format!("sync_all {}", self.name));
            self.inner.sync_all()
        }
        fn set_len(&self, len: u64) -> io::Result<()> {
            self.log.push(format!("set_len {} {len}", self.name));
            self.inner.set_len(len)
        }
        fn len(&self) -> io::Result<u64> {
            self.inner.len()
        }
    }

    impl FileSystem for RecordingFs {
        fn open(&self, path: &Path, mode: OpenMode) -> io::Result<Arc<dyn FsFile>> {
            if mode != OpenMode::Read {
                self.log.push(format!("open {} {mode:?}", name(path)));
            }
            Ok(Arc::new(RecordingFile {
                inner: StdFs.open(path, mode)?,
                name: name(path),
                log: self.log.clone(),
                fail_sync_data: *self.fail_sync_data.lock().unwrap(),
            }))
        }
        fn create_dir_all(&self, path: &Path) -> io::Result<()> {
            StdFs.create_dir_all(path)
        }
        fn list_dir(&self, path: &Path) -> io::Result<Vec<String>> {
            StdFs.list_dir(path)
        }
        fn rename(&self, from: &Path, to: &Path) -> io::Result<()> {
            self.log.push(format!("rename {} {}", name(from), name(to)));
            StdFs.rename(from, to)
        }
        fn remove_file(&self, path: &Path) -> io::Result<()> {
            self.log.push(format!("remove {}", name(path)));
            StdFs.remove_file(path)
        }
        fn sync_dir(&self, _path: &Path) -> io::Result<()> {
            self.log.push("sync_dir".to_string());
            StdFs.sync_dir(_path)
        }
        fn exists(&self, path: &Path) -> io::Result<bool> {
            StdFs.exists(path)
        }
        fn lock(&self, path: &Path) -> io::Result<Box<dyn FileLock>> {
            StdFs.lock(path)
        }
    }

    /// Postmortem: the predecessor rewrote CURRENT in place without fsync,
    /// so a power cut could leave it empty or naming a manifest whose bytes
    /// never reached the disk.
    #[test]
    fn current_is_replaced_atomically_with_fsync() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RecordingFs {
            log: Log::default(),
            fail_sync_data: Mutex::new(false),
        };
        set_current(&fs, dir.path(), 7).unwrap();
        assert_eq!(
            fs.log.take(),
            vec![
                "open CURRENT.tmp CreateTruncate",
                "write CURRENT.tmp",
                "sync_all CURRENT.tmp",
                "rename CURRENT.tmp CURRENT",
                "sync_dir",
            ]
        );
        assert_eq!(
            std::fs::read(dir.path().join("CURRENT")).unwrap(),
            b"MANIFEST-000007\n"
        );
        assert!(!dir.path().join("CURRENT.tmp").exists());

        // Creating a manifest: its bytes and its directory entry are durable
        // before CURRENT names it.
        ManifestWriter::create(&fs, dir.path(), 8, &snapshot()).unwrap();
        assert_eq!(
            fs.log.take(),
            vec![
                "open MANIFEST-000008 CreateTruncate",
                "write MANIFEST-000008",
                "sync_all MANIFEST-000008",
                "sync_dir",
                "open CURRENT.tmp CreateTruncate",
                "write CURRENT.tmp",
                "sync_all CURRENT.tmp",
                "rename CURRENT.tmp CURRENT",
                "sync_dir",
            ]
        );
    }

    #[test]
    fn append_syncs_before_returning_and_poisons_after_failure() {
        let dir = tempfile::tempdir().unwrap();
        let fs = RecordingFs {
            log: Log::default(),
            fail_sync_data: Mutex::new(false),
        };
        let mut w = ManifestWriter::create(&fs, dir.path(), 1, &snapshot()).unwrap();
        fs.log.take();
        let es = edits(1, 2);
        w.append(&es[0]).unwrap();
        assert_eq!(
            fs.log.take(),
            vec!["write MANIFEST-000001", "sync_data MANIFEST-000001"]
        );
        // A writer whose sync fails refuses every later append.
        let r = recover(&fs, dir.path()).unwrap().unwrap();
        *fs.fail_sync_data.lock().unwrap() = true;
        let mut w = ManifestWriter::reopen(&fs, dir.path(), &r).unwrap();
        assert!(w.append(&es[1]).unwrap_err().is_io());
        *fs.fail_sync_data.lock().unwrap() = false;
        assert!(matches!(w.append(&es[1]), Err(Error::Poisoned { .. })));
    }

    /// The constants table in `engine/docs/manifest.md` matches the code.
    #[test]
    fn doc_constants_match_the_code() {
        let doc = include_str!("../docs/manifest.md");
        let code: Vec<(&str, u64)> = vec![
            ("MANIFEST_MAGIC", MANIFEST_MAGIC),
            (
                "MANIFEST_FORMAT_VERSION",
                u64::from(MANIFEST_FORMAT_VERSION),
            ),
            ("MANIFEST_HEADER_BYTES", MANIFEST_HEADER_BYTES),
            (
                "MANIFEST_FORMAT_VERSION_MIN",
                u64::from(MANIFEST_FORMAT_VERSION_MIN),
            ),
            ("RECORD_HEADER_BYTES", RECORD_HEADER_BYTES),
            ("RECORD_PAYLOAD_BYTES_MAX", RECORD_PAYLOAD_BYTES_MAX),
            ("CRC_MASK_DELTA", u64::from(CRC_MASK_DELTA)),
            ("CURRENT_BYTES_MAX", CURRENT_BYTES_MAX),
            ("TAG_LOG_NUMBER", u64::from(TAG_LOG_NUMBER)),
            ("TAG_NEXT_FILE_NUMBER", u64::from(TAG_NEXT_FILE_NUMBER)),
            ("TAG_LAST_SEQNO", u64::from(TAG_LAST_SEQNO)),
            ("TAG_REMOVED_FILE", u64::from(TAG_REMOVED_FILE)),
            ("TAG_ADDED_FILE", u64::from(TAG_ADDED_FILE)),
            ("LEVELS", LEVELS as u64),
        ];
        // Rows look like: | `NAME` | `0x...` | meaning |
        let mut documented = Vec::new();
        for line in doc.lines() {
            let cells: Vec<&str> = line.split('|').map(str::trim).collect();
            if cells.len() < 4 {
                continue;
            }
            let (Some(name), Some(value)) = (
                cells[1].strip_prefix('`').and_then(|s| s.strip_suffix('`')),
                cells[2]
                    .strip_prefix("`0x")
                    .and_then(|s| s.strip_suffix('`')),
            ) else {
                continue;
            };
            let value = u64::from_str_radix(&value.replace('_', ""), 16)
                .unwrap_or_else(|e| panic!("doc value for {name}: {e}"));
            documented.push((name, value));
        }
        documented.sort();
        let mut code = code;
        code.sort();
        assert_eq!(documented, code);
        // The magic is the ASCII string the doc says it is.
        assert_eq!(&MANIFEST_MAGIC.to_le_bytes(), b"STRATAMF");
        assert!(doc.contains("\"STRATAMF\""));
        // And the example frame in the doc is what the code produces.
        // (as the first record of MANIFEST-000001, at offset 12).
        let example = frame(
            &encode_edit(&VersionEdit {
                log_number: Some(5),
                ..VersionEdit::default()
            }),
            RecordPlace::new(MANIFEST_FORMAT_VERSION, 1),
            MANIFEST_HEADER_BYTES,
        )
        .unwrap();
        let hex: Vec<String> = example.iter().map(|b| format!("{b:02x}")).collect();
        assert!(
            doc.contains(&hex.join(" ")),
            "doc lacks the example frame {}",
            hex.join(" ")
        );
    }
}
