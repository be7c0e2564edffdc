//! Repair: make a damaged database open again, losing as little as
//! possible, deleting nothing, and saying what was lost.
//!
//! 1. The state to keep is the last one the manifest can still tell: all
//!    of it if it reads whole (a torn tail is cut, as at every open), the
//!    edits before the damage if a record in the middle is damaged. Never
//!    "every table in the directory": a table a compaction already
//!    replaced would bring back keys whose tombstones that compaction
//!    dropped. Only if no manifest state is readable at all (no `CURRENT`,
//!    a damaged snapshot record) is the state rebuilt from the readable
//!    tables, all in level 0, newest by sequence number first.
//! 2. Every table of that state is read whole; of one that is missing or
//!    does not read, the blocks that still read are rewritten as a new
//!    table in its place (salvage), and the key spans of the others are
//!    reported (the whole table, with its range and sequence numbers from
//!    the manifest, if its index does not read). When the manifest lost
//!    edits, tables it no longer lists but that are newer than the kept
//!    state (numbered at or above its next file number: written by the
//!    lost edits) and read whole are added back in level 0; older ones were
//!    replaced before the kept state and stay out. With the manifest
//!    intact, an unlisted table was never committed and stays out.
//! 3. The WAL segments the state replays are planned: records already in
//!    the tables are skipped (a segment holding only those is not
//!    replayed; a batch the tables hold only part of is replayed whole); at
//!    the first damage, or the first record out of sequence, the segment
//!    is cut and every later one dropped (their records would follow a
//!    gap); a gap between the tables and the first record replayed (writes
//!    only a lost table held) is bridged and reported.
//! 4. The losses so far are written to `lost/PENDING-REPAIR` (synced); a
//!    new manifest holding one snapshot of the result is written and
//!    `CURRENT` pointed at it (synced); every file outside the result (old
//!    manifests, replaced or damaged tables, flushed or dropped segments) is
//!    moved into `lost/`, and a cut segment is rewritten (its original
//!    copied into `lost/` first, the new one renamed over it).
//! 5. The report is written to `lost/repair-N.txt` and the pending file
//!    removed.
//!
//! Each step can be interrupted by a crash and repair run again: a repair
//! that finds `lost/PENDING-REPAIR` reports those losses as its own.

use std::path::{Path, PathBuf};

use crate::sync::atomic::{AtomicU64, Ordering};

use crate::coding::{from_hex as unhex, to_hex as hex};
use crate::error::{Error, Result};
use crate::filename::{parse_file_name, table_file_name, FileKind};
use crate::flush::{file_meta, TableFiles};
use crate::fs::{FileSystem, OpenMode};
use crate::manifest::{self, ManifestWriter};
use crate::options::Options;
use crate::sst::{BlockCache, Table};
use crate::sync::Arc;
use crate::types::SeqNo;
use crate::version::{FileMeta, Version, VersionEdit, LEVELS};
use crate::wal::{self, WalLimits};

/// The folder, inside the database directory, that repair moves files to.
pub const LOST_DIR: &str = "lost";

/// What became of the manifest.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ManifestOutcome {
    /// It read whole (a torn tail, if any, cut as at every open).
    Intact,
    /// A record in the middle was damaged: the state before it was kept,
    /// and the edits from it on were lost.
    CutAt {
        /// The damaged record's offset in the manifest file.
        offset: u64,
        /// What was wrong.
        reason: String,
    },
    /// No manifest state was readable: rebuilt from the tables.
    Rebuilt {
        /// Why the manifest could not be used.
        reason: String,
    },
}

/// A table that did not read whole.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostTable {
    /// Its file number.
    pub number: u64,
    /// Its level, key range and sequence numbers, as the manifest recorded
    /// them (`None`: unknown, the metadata that would say is gone).
    pub meta: Option<(usize, FileMeta)>,
    /// Why it did not read.
    pub reason: String,
    /// What was saved of it, if its index still read.
    pub salvaged: Option<Salvage>,
}

/// The readable part of a damaged table, rewritten as a new one.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Salvage {
    /// The new table's number (`None` if no block read).
    pub table: Option<u64>,
    /// Entries kept.
    pub entries: u64,
    /// The user keys of the blocks that did not read: after the first key
    /// (exclusive; `None`: from the start) through the second (inclusive).
    /// Older versions of these keys, from lower levels, may show again.
    pub lost_ranges: Vec<crate::sst::KeySpan>,
}

/// Log records repair could not keep.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LostLog {
    /// The segment.
    pub segment: u64,
    /// Where in it the loss starts (`None`: the whole segment).
    pub offset: Option<u64>,
    /// What was wrong there (or that it followed a damaged segment).
    pub reason: String,
    /// The first sequence number lost: the one after the last record kept
    /// (`None`: unknown).
    pub first_seqno: Option<SeqNo>,
}

/// What repair did and what was lost.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RepairReport {
    /// What became of the manifest.
    pub manifest: ManifestOutcome,
    /// Tables in the repaired state.
    pub tables_kept: usize,
    /// Tables the manifest did not list that were added back (written by
    /// edits the damage lost).
    pub tables_recovered: Vec<u64>,
    /// Tables lost.
    pub tables_lost: Vec<LostTable>,
    /// Log records lost.
    pub logs_lost: Vec<LostLog>,
    /// Files moved into `lost/` (their names there).
    pub moved: Vec<String>,
    /// The repaired database's next open replays WAL segments from this
    /// number on.
    pub log_number: u64,
}

impl RepairReport {
    /// Whether repair lost nothing (it may still have moved files no state
    /// needed).
    pub fn lost_nothing(&self) -> bool {
        matches!(self.manifest, ManifestOutcome::Intact)
            && self.tables_lost.is_empty()
            && self.logs_lost.is_empty()
    }
}

/// Reads table `number` of `dir` whole (every block checked) and describes
/// it as the manifest would.
pub(crate) fn read_table(fs: &dyn FileSystem, dir: &Path, number: u64) -> Result<FileMeta> {
    let path = dir.join(table_file_name(number));
    let file = fs
        .open(&path, OpenMode::Read)
        .map_err(|e| Error::io(&path, e))?;
    let file_bytes = file.len().map_err(|e| Error::io(&path, e))?;
    let table = Arc::new(Table::open(
        file,
        path,
        number,
        Arc::new(BlockCache::new(0)),
    )?);
    let mut it = table.iter();
    it.seek_to_first()?;
    let mut meta = FileMeta {
        number,
        file_bytes,
        smallest_key: it.user_key().to_vec(),
        largest_key: Vec::new(),
        seqno_min: SeqNo::MAX,
        seqno_max: 0,
        entries: 0,
    };
    while it.valid() {
        meta.largest_key.clear();
        meta.largest_key.extend_from_slice(it.user_key());
        meta.seqno_min = meta.seqno_min.min(it.seqno());
        meta.seqno_max = meta.seqno_max.max(it.seqno());
        meta.entries += 1;
        it.next()?;
    }
    if meta.entries != table.entries() {
        return Err(Error::corruption(
            table.path(),
            0,
            format!(
                "the footer says {} entries, the blocks hold {}",
                table.entries(),
                meta.entries
            ),
        ));
    }
    Ok(meta)
}

/// Rewrites the blocks of table `number` that still read as a new table;
/// `None` if the table does not open (its footer or index is damaged).
fn salvage(files: &TableFiles<'_>, number: u64) -> Result<Option<(Option<FileMeta>, Salvage)>> {
    let path = files.dir.join(table_file_name(number));
    let Ok(file) = files.fs.open(&path, OpenMode::Read) else {
        return Ok(None);
    };
    let Ok(table) = Table::open(file, path, number, Arc::new(BlockCache::new(0))) else {
        return Ok(None);
    };
    let mut builder: Option<(u64, crate::sst::TableBuilder)> = None;
    let mut entries = 0u64;
    let lost_ranges = table.readable_entries(&mut |key, seqno, value| {
        if builder.is_none() {
            builder = Some(files.create()?);
        }
        let (_, b) = builder.as_mut().expect("created above");
        entries += 1;
        b.add(key, seqno, value)
    })?;
    let meta = match builder {
        Some((n, b)) => Some(file_meta(n, &b.finish()?)),
        None => None,
    };
    let salvage = Salvage {
        table: meta.as_ref().map(|m| m.number),
        entries,
        lost_ranges,
    };
    Ok(Some((meta, salvage)))
}

/// The state repair starts from.
struct Start {
    version: Version,
    log_number: u64,
    next_file_number: u64,
    last_seqno: SeqNo,
    outcome: ManifestOutcome,
}

/// Reads the manifest `CURRENT` names, up to its first damage.
fn read_manifest(fs: &dyn FileSystem, dir: &Path) -> std::result::Result<Start, String> {
    let number = match manifest::read_current(fs, dir) {
        Ok(Some(n)) => n,
        Ok(None) => return Err("no CURRENT file".into()),
        Err(e) => return Err(e.to_string()),
    };
    let path = dir.join(crate::filename::manifest_file_name(number));
    let bytes = fs
        .open(&path, OpenMode::Read)
        .and_then(|f| f.read_all())
        .map_err(|e| Error::io(&path, e).to_string())?;
    let mut last: Option<(Version, [u64; 3])> = None;
    let mut scalars = [0u64; 3];
    let replayed = manifest::replay_visiting(&bytes, &path, number, &mut |_, edit, builder| {
        for (s, v) in
            scalars
                .iter_mut()
                .zip([edit.log_number, edit.next_file_number, edit.last_seqno])
        {
            *s = (*s).max(v.unwrap_or(0));
        }
        last = Some((builder.build(), scalars));
    });
    match (replayed, last) {
        (Ok(r), _) => Ok(Start {
            version: r.version,
            log_number: r.log_number,
            next_file_number: r.next_file_number,
            last_seqno: r.last_seqno,
            outcome: ManifestOutcome::Intact,
        }),
        (Err(e), Some((version, [log_number, next_file_number, last_seqno]))) => {
            let (offset, reason) = match &e {
                Error::Corruption { offset, reason, .. } => (*offset, reason.clone()),
                other => (0, other.to_string()),
            };
            Ok(Start {
                version,
                log_number,
                next_file_number,
                last_seqno,
                outcome: ManifestOutcome::CutAt { offset, reason },
            })
        }
        (Err(e), None) => Err(e.to_string()),
    }
}

/// Repairs the database in `path` (see the module docs): afterwards it
/// opens, holding everything repair could keep. Takes the directory's
/// lock, so the database must not be open. Deletes nothing: what it
/// removes goes to `lost/` inside the directory.
///
/// ```
/// # let dir = tempfile::tempdir().unwrap();
/// let db = strata::Db::open(dir.path(), strata::Options::default())?;
/// db.put(b"k", b"v", strata::WriteOptions::DURABLE)?;
/// db.close()?;
/// let report = strata::repair(dir.path(), strata::Options::default())?;
/// assert!(report.lost_nothing());
/// let db = strata::Db::open(dir.path(), strata::Options::default())?;
/// assert_eq!(db.get(b"k")?, Some(b"v".to_vec()));
/// # Ok::<(), strata::Error>(())
/// ```
pub fn repair(path: impl AsRef<Path>, opts: Options) -> Result<RepairReport> {
    let dir = path.as_ref();
    let fs = &*opts.fs;
    if !fs.exists(dir).map_err(|e| Error::io(dir, e))? {
        return Err(Error::InvalidArgument(format!(
            "no database to repair in {} (the directory does not exist)",
            dir.display()
        )));
    }
    let _lock = crate::fs::lock_dir(fs, dir)?;
    let names = fs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
    let kinds: Vec<(String, FileKind)> = names
        .iter()
        .filter_map(|n| parse_file_name(n).map(|k| (n.clone(), k)))
        .collect();
    let on_disk: Vec<u64> = kinds
        .iter()
        .filter_map(|(_, k)| match k {
            FileKind::Table(n) => Some(*n),
            _ => None,
        })
        .collect();
    let max_number = kinds
        .iter()
        .filter_map(|(_, k)| match k {
            FileKind::Table(n) | FileKind::Wal(n) | FileKind::Manifest(n) => Some(*n),
            _ => None,
        })
        .max()
        .unwrap_or(0);

    let (start, manifest_failure) = match read_manifest(fs, dir) {
        Ok(s) => (s, None),
        Err(reason) => (
            Start {
                version: Version::new(),
                // Unknown which segments were flushed: replay them all
                // (a record already in a table is the same version again).
                log_number: 0,
                next_file_number: 0,
                last_seqno: 0,
                outcome: ManifestOutcome::Rebuilt {
                    reason: reason.clone(),
                },
            },
            Some(reason),
        ),
    };
    let mut report = RepairReport {
        manifest: start.outcome.clone(),
        tables_kept: 0,
        tables_recovered: Vec::new(),
        tables_lost: Vec::new(),
        logs_lost: Vec::new(),
        moved: Vec::new(),
        log_number: start.log_number,
    };
    if let Some(earlier) = read_pending(fs, &dir.join(LOST_DIR))? {
        report.tables_lost.push(earlier);
    }

    // The tables to keep: the start state's that read whole (or what of
    // them still reads), then newer ones no state lists.
    let numbers = AtomicU64::new(max_number.max(start.next_file_number) + 1);
    let files = TableFiles {
        fs,
        dir,
        options: opts.table,
        next_file_number: &numbers,
    };
    let mut edit = VersionEdit::default();
    let mut kept: Vec<u64> = Vec::new();
    let listed = start.version.live_file_numbers();
    let mut candidates: Vec<(usize, u64, Option<FileMeta>)> = Vec::new();
    for level in 0..LEVELS {
        for f in start.version.files(level) {
            candidates.push((level, f.number, Some((**f).clone())));
        }
    }
    // With the manifest intact, a table it does not list was never
    // committed (an output whose edit a crash or fault stopped): its data
    // is in the state's own tables or the WAL, and adding it could bring
    // back versions a later compaction dropped. Only when edits were lost
    // may such a table be one of theirs.
    let edits_lost = !matches!(start.outcome, ManifestOutcome::Intact);
    for &n in &on_disk {
        let newer = manifest_failure.is_some() || (edits_lost && n >= start.next_file_number);
        if newer && !listed.contains(&n) {
            candidates.push((0, n, None));
        }
    }
    for (level, n, listed_meta) in candidates {
        let read = read_table(fs, dir, n);
        if let Ok(meta) = &read {
            if listed_meta.is_none() && meta.entries == 0 {
                continue;
            }
            edit.added
                .push((level, listed_meta.clone().unwrap_or_else(|| meta.clone())));
            kept.push(n);
            if listed_meta.is_none() {
                report.tables_recovered.push(n);
            }
            continue;
        }
        let reason = read.err().map(|e| e.to_string()).unwrap_or_default();
        let salvaged = match salvage(&files, n)? {
            Some((meta, s)) => {
                if let Some(m) = meta {
                    kept.push(m.number);
                    edit.added.push((level, m));
                }
                Some(s)
            }
            None => None,
        };
        report.tables_lost.push(LostTable {
            number: n,
            meta: listed_meta.map(|m| (level, m)),
            reason,
            salvaged,
        });
    }
    report.tables_kept = kept.len();
    let tables_last = edit
        .added
        .iter()
        .map(|(_, f)| f.seqno_max)
        .fold(start.last_seqno, SeqNo::max);
    let mut segments: Vec<u64> = kinds
        .iter()
        .filter_map(|(_, k)| match k {
            FileKind::Wal(n) if *n >= start.log_number => Some(*n),
            _ => None,
        })
        .collect();
    segments.sort_unstable();
    let log = plan_log(&opts, dir, &segments, tables_last, &mut report)?;
    report.log_number = log.log_number;

    let lost = dir.join(LOST_DIR);
    fs.create_dir_all(&lost).map_err(|e| Error::io(&lost, e))?;
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    // A CURRENT that does not read is kept in lost/, and replaced; a
    // CURRENT.tmp is debris of a crash while replacing it.
    if manifest::read_current(fs, dir).is_err() {
        report
            .moved
            .push(move_to_lost(fs, dir, &lost, crate::filename::CURRENT_FILE)?);
    }
    if kinds.iter().any(|(_, k)| *k == FileKind::CurrentTemp) {
        report.moved.push(move_to_lost(
            fs,
            dir,
            &lost,
            crate::filename::CURRENT_TEMP_FILE,
        )?);
    }
    // What this repair lost (and what earlier, interrupted ones did),
    // kept durably until it has finished: if a crash interrupts it, the
    // next repair reports these losses too.
    write_pending(fs, &lost, &report)?;

    // The new manifest, named by CURRENT (synced).
    let manifest_number = numbers.fetch_add(1, Ordering::SeqCst);
    edit.log_number = Some(log.log_number);
    edit.next_file_number = Some(manifest_number + 1);
    edit.last_seqno = Some(log.last_seqno);
    ManifestWriter::create(fs, dir, manifest_number, &edit)?;

    // Everything else goes to lost/, and the damaged segment is cut.
    for (name, kind) in &kinds {
        let outside = match kind {
            FileKind::Table(n) => !kept.contains(n),
            FileKind::Manifest(n) => *n != manifest_number,
            FileKind::Wal(n) => {
                !log.replayed.contains(n) && !log.rewrites.iter().any(|r| r.0 == *n)
            }
            FileKind::Current | FileKind::Lock | FileKind::CurrentTemp => false,
        };
        if outside {
            report.moved.push(move_to_lost(fs, dir, &lost, name)?);
        }
    }
    for (n, records) in &log.rewrites {
        report
            .moved
            .push(rewrite_segment(fs, dir, &lost, *n, records)?);
    }
    fs.sync_dir(&lost).map_err(|e| Error::io(&lost, e))?;
    fs.sync_dir(dir).map_err(|e| Error::io(dir, e))?;
    // Done: the pending losses are this report's; keep it, readable.
    let done = lost.join(lost_name(
        fs,
        &lost,
        &format!("repair-{manifest_number}.txt"),
    )?);
    let file = fs
        .open(&done, OpenMode::CreateNew)
        .map_err(|e| Error::io(&done, e))?;
    file.write_at(format!("{report:#?}\n").as_bytes(), 0)
        .map_err(|e| Error::io(&done, e))?;
    file.sync_all().map_err(|e| Error::io(&done, e))?;
    let pending = lost.join(PENDING_FILE);
    fs.remove_file(&pending)
        .map_err(|e| Error::io(&pending, e))?;
    fs.sync_dir(&lost).map_err(|e| Error::io(&lost, e))?;
    Ok(report)
}

/// What the repaired database replays of the WAL.
struct LogPlan {
    /// The first segment replayed.
    log_number: u64,
    /// The manifest's last seqno: replay continues from the one after it.
    last_seqno: SeqNo,
    /// The segments replayed as they are.
    replayed: Vec<u64>,
    /// Segments rewritten with only some of their records (the damaged
    /// one, cut at its damage; one whose first records are in tables).
    rewrites: Vec<(u64, Vec<wal::WalRecord>)>,
    /// Whether a damaged segment ended the log.
    cut: Option<u64>,
}

/// The (non-close) records of segment bytes `data`, with their offsets.
fn records_of(
    data: &[u8],
    path: &Path,
    number: u64,
    limits: &WalLimits,
) -> Result<Vec<(u64, wal::WalRecord)>> {
    let mut records = Vec::new();
    if data.len() > wal::SEGMENT_HEADER_BYTES {
        let file = crate::fs::MemFile::with_bytes(data.to_vec());
        wal::scan_segment(file.as_ref(), path, number, limits, &mut |offset, rec| {
            if !rec.ops.is_empty() {
                records.push((offset, rec));
            }
            Ok(())
        })?;
    }
    Ok(records)
}

/// Decides what of the WAL the repaired database replays, given that the
/// tables hold every write up to `tables_last`: records at or below it are
/// in tables (a segment holding only those is not replayed, one holding
/// some is rewritten without them); at the first damage the segment is
/// cut (rewritten with the records before it) and the later ones
/// dropped; a gap between the tables and the first record replayed
/// (writes only a lost table held) is bridged by starting the sequence
/// after it, and reported.
fn plan_log(
    opts: &Options,
    dir: &Path,
    segments: &[u64],
    tables_last: SeqNo,
    report: &mut RepairReport,
) -> Result<LogPlan> {
    let fs = &*opts.fs;
    let limits = WalLimits {
        key_bytes_max: opts.key_bytes_max,
        value_bytes_max: opts.value_bytes_max,
        record_bytes_max: opts.batch_bytes_max,
    };
    let mut plan = LogPlan {
        log_number: segments.last().map_or(0, |n| n + 1),
        last_seqno: tables_last,
        replayed: Vec::new(),
        rewrites: Vec::new(),
        cut: None,
    };
    // The last seqno replay reaches so far (`None`: nothing replayed yet).
    let mut reached: Option<SeqNo> = None;
    for &n in segments {
        let path = dir.join(crate::filename::wal_file_name(n));
        if let Some(cut) = plan.cut {
            report.logs_lost.push(LostLog {
                segment: n,
                offset: None,
                reason: format!("follows segment {cut}, which was cut"),
                first_seqno: reached.map(|s| s + 1),
            });
            continue;
        }
        let data = fs
            .open(&path, OpenMode::Read)
            .and_then(|f| f.read_all())
            .map_err(|e| Error::io(&path, e))?;
        let file = crate::fs::MemFile::with_bytes(data.clone());
        let scan = wal::scan_segment(file.as_ref(), &path, n, &limits, &mut |_, _| Ok(()));
        let damage = match scan {
            Ok(s) => s.damage.map(|d| (s.valid_bytes, d.reason)),
            Err(Error::Corruption { offset, reason, .. }) => Some((offset, reason)),
            Err(e) => return Err(e),
        };
        let keep_to = damage
            .as_ref()
            .map_or(data.len(), |(at, _)| (*at as usize).min(data.len()));
        let records = records_of(&data[..keep_to], &path, n, &limits)?;
        let all = records.len();
        let mut cut_here = damage;
        let mut kept = Vec::new();
        for (offset, r) in records {
            if reached.is_none() {
                if r.seqno_last() <= tables_last {
                    continue; // in a table already
                }
                let first = r.seqno_first;
                if first <= tables_last {
                    // A batch the tables hold only part of (a salvaged or
                    // torn table): replay it whole, from its start; the
                    // versions the tables hold too are the same ones.
                    plan.last_seqno = first - 1;
                }
                if first > tables_last + 1 {
                    report.logs_lost.push(LostLog {
                        segment: n,
                        offset: None,
                        reason: format!(
                            "sequence numbers {}..={} are in no readable table or segment",
                            tables_last + 1,
                            first - 1
                        ),
                        first_seqno: Some(tables_last + 1),
                    });
                    plan.last_seqno = first - 1;
                }
                plan.log_number = n;
                reached = Some(plan.last_seqno);
            }
            let expected = reached.map_or(0, |s| s + 1);
            if r.seqno_first != expected {
                // A valid record out of sequence (a write that landed in
                // the wrong place): the log is damaged here.
                cut_here = Some((
                    offset,
                    format!(
                        "record starts at sequence number {}, expected {expected}",
                        r.seqno_first
                    ),
                ));
                break;
            }
            reached = Some(r.seqno_last());
            kept.push(r);
        }
        if reached.is_none() {
            // Flushed: every record it holds is in a table.
            if let Some((at, reason)) = cut_here {
                report.logs_lost.push(LostLog {
                    segment: n,
                    offset: Some(at),
                    reason: format!(
                        "{reason} (every record before it is in a table; what followed, if \
                         anything was not, is lost)"
                    ),
                    first_seqno: None,
                });
            }
            continue;
        }
        let partial = kept.len() != all || cut_here.is_some();
        if let Some((at, reason)) = cut_here {
            report.logs_lost.push(LostLog {
                segment: n,
                offset: Some(at),
                reason,
                first_seqno: reached.map(|s| s + 1),
            });
            plan.cut = Some(n);
        }
        if partial {
            plan.rewrites.push((n, kept));
        } else {
            plan.replayed.push(n);
        }
    }
    Ok(plan)
}

/// Replaces segment `n` with one holding only `records` (none: removes
/// it), after copying the original into `lost`: the new segment is written
/// under a temporary name, synced, and renamed over the old one, so a
/// crash leaves one or the other in place.
fn rewrite_segment(
    fs: &dyn FileSystem,
    dir: &Path,
    lost: &Path,
    n: u64,
    records: &[wal::WalRecord],
) -> Result<String> {
    let name = crate::filename::wal_file_name(n);
    let path = dir.join(&name);
    let kept = lost_name(fs, lost, &name)?;
    crate::fs::copy_file(fs, &path, &lost.join(&kept))?;
    fs.sync_dir(lost).map_err(|e| Error::io(lost, e))?;
    if records.is_empty() {
        fs.remove_file(&path).map_err(|e| Error::io(&path, e))?;
        return Ok(kept);
    }
    let temp = lost.join(format!("{name}.rewriting"));
    // Left by a crash during an earlier repair: an incomplete copy of
    // records whose segment is still in place.
    if fs.exists(&temp).map_err(|e| Error::io(&temp, e))? {
        fs.remove_file(&temp).map_err(|e| Error::io(&temp, e))?;
    }
    let mut w = wal::WalWriter::create_at(fs, &temp, n)?;
    let mut buf = Vec::new();
    for r in records {
        buf.clear();
        wal::encode_record(&mut buf, r.seqno_first, &r.ops, w.synced_bytes());
        w.append(&buf)?;
    }
    w.sync()?;
    fs.rename(&temp, &path).map_err(|e| Error::io(&temp, e))?;
    Ok(kept)
}

/// The losses of a repair that has not finished, in `lost/`.
const PENDING_FILE: &str = "PENDING-REPAIR";
/// First line of [`PENDING_FILE`].
const PENDING_HEADER: &str = "strata repair: losses of a repair that has not finished";

/// Writes what `report` has lost so far into `lost/PENDING-REPAIR`
/// (synced): `span AFTER THROUGH` per key span lost (hex keys, `-` for no
/// lower key), or `all` when the losses may concern any key.
fn write_pending(fs: &dyn FileSystem, lost: &Path, report: &RepairReport) -> Result<()> {
    let mut text = format!("{PENDING_HEADER}\n");
    let any_key = !matches!(report.manifest, ManifestOutcome::Intact)
        || !report.logs_lost.is_empty()
        || report.tables_lost.iter().any(|t| t.salvaged.is_none());
    if any_key {
        text.push_str("all\n");
    }
    for t in &report.tables_lost {
        for (after, through) in t.salvaged.iter().flat_map(|s| &s.lost_ranges) {
            let after = after.as_deref().map_or("-".to_string(), hex);
            text.push_str(&format!("span {after} {}\n", hex(through)));
        }
    }
    let path = lost.join(PENDING_FILE);
    let temp = lost.join(format!("{PENDING_FILE}.tmp"));
    let file = fs
        .open(&temp, OpenMode::CreateTruncate)
        .map_err(|e| Error::io(&temp, e))?;
    file.write_at(text.as_bytes(), 0)
        .map_err(|e| Error::io(&temp, e))?;
    file.sync_all().map_err(|e| Error::io(&temp, e))?;
    fs.rename(&temp, &path).map_err(|e| Error::io(&temp, e))?;
    fs.sync_dir(lost).map_err(|e| Error::io(lost, e))
}

/// The losses an interrupted repair left in `lost/PENDING-REPAIR`, as one
/// lost "table" of unknown number: its spans, or (`all`, or a file that
/// does not parse) no span at all, meaning any key.
fn read_pending(fs: &dyn FileSystem, lost: &Path) -> Result<Option<LostTable>> {
    let path = lost.join(PENDING_FILE);
    if !fs.exists(&path).map_err(|e| Error::io(&path, e))? {
        return Ok(None);
    }
    let text = fs
        .open(&path, OpenMode::Read)
        .and_then(|f| f.read_all())
        .map_err(|e| Error::io(&path, e))?;
    let text = String::from_utf8_lossy(&text);
    let mut lines = text.lines();
    let mut spans = Some(Vec::new());
    if lines.next() != Some(PENDING_HEADER) {
        spans = None;
    }
    for line in lines {
        let parts: Vec<&str> = line.split(' ').collect();
        let span = match parts.as_slice() {
            ["span", after, through] => unhex(through).and_then(|t| {
                let after = if *after == "-" {
                    Some(None)
                } else {
                    unhex(after).map(Some)
                };
                after.map(|a| (a, t))
            }),
            _ => None,
        };
        match (span, spans.as_mut()) {
            (Some(sp), Some(v)) => v.push(sp),
            _ => spans = None,
        }
    }
    Ok(Some(LostTable {
        number: 0,
        meta: None,
        reason: "lost by an earlier repair that a crash interrupted".into(),
        salvaged: spans.map(|lost_ranges| Salvage {
            table: None,
            entries: 0,
            lost_ranges,
        }),
    }))
}

/// A name for `name` in `lost` that no file there has yet: `name`, or
/// `name.N`.
fn lost_name(fs: &dyn FileSystem, lost: &Path, name: &str) -> Result<String> {
    let mut target = name.to_string();
    let mut n = 0;
    while fs
        .exists(&lost.join(&target))
        .map_err(|e| Error::io(lost, e))?
    {
        n += 1;
        target = format!("{name}.{n}");
    }
    Ok(target)
}

/// Moves `name` into `lost` (as `name.N` if a file of that name is
/// already there); returns its name there.
fn move_to_lost(fs: &dyn FileSystem, dir: &Path, lost: &Path, name: &str) -> Result<String> {
    let target = lost_name(fs, lost, name)?;
    let (from, to) = (dir.join(name), lost.join(&target));
    fs.rename(&from, &to).map_err(|e| Error::io(&from, e))?;
    Ok(target)
}

/// The repaired database's `lost/` folder.
pub fn lost_dir(dir: &Path) -> PathBuf {
    dir.join(LOST_DIR)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::fs::MemFs;

    fn salvaged(spans: Vec<crate::sst::KeySpan>) -> LostTable {
        LostTable {
            number: 7,
            meta: None,
            reason: "damaged".into(),
            salvaged: Some(Salvage {
                table: Some(9),
                entries: 3,
                lost_ranges: spans,
            }),
        }
    }

    #[test]
    fn pending_file_matches_the_doc() {
        let doc = include_str!("../docs/repair.md");
        let example = doc.split("```\n").nth(1).expect("the doc's example block");
        let fs = MemFs::new();
        let lost = Path::new("/lost");
        fs.create_dir_all(lost).unwrap();
        let mut report = RepairReport {
            manifest: ManifestOutcome::Intact,
            tables_kept: 1,
            tables_recovered: Vec::new(),
            tables_lost: vec![salvaged(vec![
                (Some(b"ab".to_vec()), b"k1".to_vec()),
                (None, vec![0, 0xff]),
            ])],
            logs_lost: Vec::new(),
            moved: Vec::new(),
            log_number: 0,
        };
        write_pending(&fs, lost, &report).unwrap();
        let written = fs
            .open(&lost.join(PENDING_FILE), OpenMode::Read)
            .unwrap()
            .read_all()
            .unwrap();
        assert_eq!(String::from_utf8(written).unwrap(), example);
        let back = read_pending(&fs, lost).unwrap().expect("present");
        assert_eq!(
            back.salvaged,
            report.tables_lost[0].salvaged.clone().map(|s| Salvage {
                table: None,
                entries: 0,
                ..s
            })
        );
        // Lost log records may concern any key: `all`, read back as no
        // span (any key).
        report.logs_lost.push(LostLog {
            segment: 3,
            offset: None,
            reason: "gone".into(),
            first_seqno: None,
        });
        write_pending(&fs, lost, &report).unwrap();
        let back = read_pending(&fs, lost).unwrap().expect("present");
        assert_eq!(back.salvaged, None);
    }
}
