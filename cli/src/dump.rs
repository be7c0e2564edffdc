//! `dump-wal`, `dump-table`, `dump-manifest`: one file's contents, as the
//! engine's own readers see them, with offsets and any damage.

use std::path::{Path, PathBuf};

use serde_json::{json, Value};
use strata::format::filename::{manifest_file_name, parse_file_name, FileKind};
use strata::format::manifest::{read_current, replay_visiting};
use strata::format::sst::{BlockCache, Table, TableIter, TableLayout};
use strata::format::version::{FileMeta, VersionEdit, LEVELS};
use strata::format::wal::{
    record_sync_watermark, scan_segment, WalLimits, WalRecord, RECORD_BATCH, RECORD_CLOSE,
    RECORD_DELETE, RECORD_PUT, SEGMENT_HEADER_BYTES,
};
use strata::fs::{FsFile, OpenMode};
use strata::{BatchOp, Error};

use crate::out::Out;
use crate::{Done, Failed};

/// Every record a healthy log can hold, whatever limits wrote it.
pub(crate) const ANY_RECORD: WalLimits = WalLimits {
    key_bytes_max: usize::MAX,
    value_bytes_max: usize::MAX,
    record_bytes_max: usize::MAX,
};

pub(crate) fn open(out: &Out, path: &Path) -> Result<std::sync::Arc<dyn FsFile>, Failed> {
    out.fs
        .open(path, OpenMode::Read)
        .map_err(|e| Failed::from(Error::io(path, e)))
}

fn file_kind(path: &Path) -> Option<FileKind> {
    path.file_name()
        .and_then(|n| n.to_str())
        .and_then(parse_file_name)
}

fn kind_name(kind: u8) -> &'static str {
    match kind {
        RECORD_PUT => "put",
        RECORD_DELETE => "delete",
        RECORD_BATCH => "batch",
        RECORD_CLOSE => "close",
        _ => "unknown",
    }
}

pub(crate) fn record_json(out: &Out, data: &[u8], offset: u64, rec: &WalRecord) -> Value {
    let kind = data.get(offset as usize + 8).copied().unwrap_or(0);
    let ops: Vec<Value> = rec
        .ops
        .iter()
        .map(|op| match op {
            BatchOp::Put { key, value } => {
                json!({"op": "put", "key": out.bytes(key), "value": out.bytes(value)})
            }
            BatchOp::Delete { key } => json!({"op": "delete", "key": out.bytes(key)}),
        })
        .collect();
    let mut r = json!({
        "offset": offset,
        "kind": kind_name(kind),
        "seqno_first": rec.seqno_first,
        "seqno_last": if rec.ops.is_empty() { rec.seqno_first.saturating_sub(1) } else { rec.seqno_last() },
        "sync_watermark": record_sync_watermark(data, offset),
    });
    if !ops.is_empty() {
        r["ops"] = Value::Array(ops);
    }
    r
}

/// `strata dump-wal FILE`.
pub fn wal(out: &Out, path: &Path) -> Result<Done, Failed> {
    let file = open(out, path)?;
    let data = file.read_all().map_err(|e| Error::io(path, e))?;
    // The number the header must hold: from the name, or (for a renamed
    // copy) the header itself.
    let number = match file_kind(path) {
        Some(FileKind::Wal(n)) => n,
        _ => data
            .get(8..16)
            .map_or(0, |b| u64::from_le_bytes(b.try_into().expect("8 bytes"))),
    };
    let mut records = Vec::new();
    let scan = scan_segment(
        file.as_ref(),
        path,
        number,
        &ANY_RECORD,
        &mut |offset, rec| {
            records.push(record_json(out, &data, offset, &rec));
            Ok(())
        },
    );
    let mut doc = json!({
        "file": path.display().to_string(),
        "segment": number,
        "header_bytes": SEGMENT_HEADER_BYTES,
        "records": records,
    });
    let healthy = match scan {
        Err(e) => {
            doc["error"] = json!(e.to_string());
            false
        }
        Ok(scan) => {
            doc["valid_bytes"] = json!(scan.valid_bytes);
            doc["file_bytes"] = json!(scan.file_bytes);
            match scan.damage {
                None => true,
                Some(d) => {
                    let covered = d.synced_record_after.is_some();
                    doc["damage"] = json!({
                        "offset": d.offset,
                        "reason": d.reason,
                        "covered_by_a_sync": covered,
                        "valid_record_after": d.valid_record_after,
                        "records_after": d.records_after,
                        "verdict": if covered {
                            "corruption: a later record proves a sync covered these bytes"
                        } else {
                            "torn tail: no sync covered these bytes; recovery drops them"
                        },
                    });
                    !covered
                }
            }
        }
    };
    Ok(Done { doc, healthy })
}

fn layout_json(l: &TableLayout, out: &Out) -> Value {
    json!({
        "format_version": l.format_version,
        "data_blocks": l.data_blocks.iter().map(|b| json!({
            "offset": b.offset,
            "bytes": b.size,
            "last_key": out.bytes(&b.last_key),
            "last_seqno": b.last_seqno,
        })).collect::<Vec<_>>(),
        "filter": {"offset": l.filter.0, "bytes": l.filter.1, "enabled": l.filter_enabled},
        "index": {"offset": l.index.0, "bytes": l.index.1},
        "footer_offset": l.footer_offset,
    })
}

/// Walks every entry of `it`'s table, handing each to `each`; returns the
/// entries seen, or the error that stopped the walk.
pub(crate) fn walk_table(
    it: &mut TableIter,
    each: &mut dyn FnMut(&TableIter),
) -> Result<u64, (u64, Error)> {
    let mut n = 0u64;
    it.seek_to_first().map_err(|e| (n, e))?;
    while it.valid() {
        each(it);
        n += 1;
        it.next().map_err(|e| (n, e))?;
    }
    Ok(n)
}

pub(crate) fn open_table(
    out: &Out,
    path: &Path,
    number: Option<u64>,
) -> Result<std::sync::Arc<Table>, Failed> {
    let number = match (number, file_kind(path)) {
        (Some(n), _) | (None, Some(FileKind::Table(n))) => n,
        _ => {
            return Err(Failed::usage(format!(
                "{}: not named table-NNNNNN.sst; give its number with --number",
                path.display()
            )))
        }
    };
    let file = open(out, path)?;
    let table = Table::open(
        file,
        path.to_path_buf(),
        number,
        std::sync::Arc::new(BlockCache::new(0)),
    )?;
    Ok(std::sync::Arc::new(table))
}

/// `strata dump-table FILE [--verify] [--limit N] [--number N]`.
pub fn table(
    out: &Out,
    path: &Path,
    verify: bool,
    limit: Option<usize>,
    number: Option<u64>,
) -> Result<Done, Failed> {
    let table = open_table(out, path, number)?;
    let layout = table.layout();
    let mut entries = Vec::new();
    let limit = limit.unwrap_or(usize::MAX);
    let mut it = table.iter();
    let walked = walk_table(&mut it, &mut |it| {
        if entries.len() < limit {
            entries.push(json!({
                "key": out.bytes(it.user_key()),
                "seqno": it.seqno(),
                "value": it.value().map(|v| out.bytes(v)),
            }));
        }
    });
    let mut doc = json!({
        "file": path.display().to_string(),
        "table_number": table.file_number(),
        "file_bytes": table.file_bytes(),
        "entries_in_footer": table.entries(),
        "layout": layout_json(&layout, out),
        "entries": entries,
    });
    let healthy = match walked {
        Ok(n) if n == table.entries() => {
            if verify {
                doc["verified"] = json!({
                    "data_blocks": layout.data_blocks.len(),
                    "entries": n,
                });
            }
            true
        }
        Ok(n) => {
            doc["error"] = json!(format!(
                "{}: the footer says {} entries, the blocks hold {n}",
                path.display(),
                table.entries()
            ));
            false
        }
        Err((n, e)) => {
            doc["error"] = json!(format!("after {n} entries: {e}"));
            false
        }
    };
    Ok(Done { doc, healthy })
}

pub(crate) fn file_json(out: &Out, level: usize, f: &FileMeta) -> Value {
    json!({
        "level": level,
        "number": f.number,
        "bytes": f.file_bytes,
        "entries": f.entries,
        "smallest": out.bytes(&f.smallest_key),
        "largest": out.bytes(&f.largest_key),
        "seqnos": format!("{}..={}", f.seqno_min, f.seqno_max),
    })
}

fn edit_json(out: &Out, offset: u64, e: &VersionEdit, files_per_level: Vec<usize>) -> Value {
    let mut v = json!({"offset": offset});
    if !e.added.is_empty() {
        v["added"] = e
            .added
            .iter()
            .map(|(level, f)| file_json(out, *level, f))
            .collect();
    }
    if !e.removed.is_empty() {
        v["removed"] = e
            .removed
            .iter()
            .map(|(level, n)| json!({"level": level, "number": n}))
            .collect();
    }
    for (name, field) in [
        ("log_number", e.log_number),
        ("next_file_number", e.next_file_number),
        ("last_seqno", e.last_seqno),
    ] {
        if let Some(x) = field {
            v[name] = json!(x);
        }
    }
    v["files_per_level"] = json!(files_per_level);
    v
}

/// The manifest `CURRENT` names in `dir`, or the file itself.
pub(crate) fn manifest_path(out: &Out, path: &Path) -> Result<(PathBuf, u64), Failed> {
    if let Some(FileKind::Manifest(n)) = file_kind(path) {
        return Ok((path.to_path_buf(), n));
    }
    match read_current(&*out.fs, path)? {
        Some(n) => Ok((path.join(manifest_file_name(n)), n)),
        None => Err(Failed::usage(format!(
            "{}: no CURRENT file (not a database directory or a MANIFEST file)",
            path.display()
        ))),
    }
}

/// `strata dump-manifest DIR` (or a `MANIFEST-NNNNNN` file).
pub fn manifest(out: &Out, path: &Path) -> Result<Done, Failed> {
    let (file, number) = manifest_path(out, path)?;
    let bytes = open(out, &file)?
        .read_all()
        .map_err(|e| Error::io(&file, e))?;
    let mut edits = Vec::new();
    let replayed = replay_visiting(&bytes, &file, number, &mut |offset, edit, builder| {
        let v = builder.build();
        let per_level = (0..LEVELS).map(|l| v.files(l).len()).collect();
        edits.push(edit_json(out, offset, edit, per_level));
    });
    let mut doc = json!({
        "file": file.display().to_string(),
        "manifest": number,
        "edits": edits,
    });
    let healthy = match replayed {
        Err(e) => {
            doc["error"] = json!(e.to_string());
            false
        }
        Ok(r) => {
            let files: Vec<Value> = (0..LEVELS)
                .flat_map(|l| r.version.files(l).iter().map(move |f| (l, f)))
                .map(|(l, f)| file_json(out, l, f))
                .collect();
            doc["version"] = json!({
                "log_number": r.log_number,
                "next_file_number": r.next_file_number,
                "last_seqno": r.last_seqno,
                "files": files,
            });
            doc["valid_bytes"] = json!(r.valid_bytes);
            if let Some(t) = r.torn_tail {
                doc["torn_tail"] = json!({"offset": t.offset, "reason": t.reason});
            }
            true
        }
    };
    Ok(Done { doc, healthy })
}
