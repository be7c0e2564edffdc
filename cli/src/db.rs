//! Commands on a whole database: `check`, `get`, `scan`, `checkpoint`.

use std::ops::Bound;
use std::path::Path;

use serde_json::{json, Value};
use strata::format::filename::{parse_file_name, table_file_name, FileKind};
use strata::format::manifest::recover;
use strata::format::version::LEVELS;
use strata::format::wal::scan_segment;
use strata::repair::ManifestOutcome;
use strata::{Db, Error, Options, PROPERTY_NAMES};

use crate::dump::{file_json, open, open_table, walk_table, ANY_RECORD};
use crate::out::Out;
use crate::{Done, Failed};

/// Options for opening a database the tool did not create: never create
/// one.
fn existing(out: &Out) -> Options {
    Options {
        fs: out.fs.clone(),
        create_if_missing: false,
        ..Options::default()
    }
}

/// Reads every live table whole, checking its entry count.
fn check_tables(
    out: &Out,
    dir: &Path,
    m: &strata::format::manifest::Recovered,
    problems: &mut Vec<String>,
) -> (Vec<Value>, u64) {
    let mut tables = Vec::new();
    let mut entries = 0;
    for level in 0..LEVELS {
        for f in m.version.files(level) {
            tables.push(file_json(out, level, f));
            let path = dir.join(table_file_name(f.number));
            let table = match open_table(out, &path, Some(f.number)) {
                Ok(t) => t,
                Err(e) => {
                    problems.push(e.message);
                    continue;
                }
            };
            match walk_table(&mut table.iter(), &mut |_| {}) {
                Ok(n) if n == f.entries => entries += n,
                Ok(n) => problems.push(format!(
                    "{}: the manifest says {} entries, the table holds {n}",
                    path.display(),
                    f.entries
                )),
                Err((n, e)) => problems.push(format!("after {n} entries: {e}")),
            }
        }
    }
    (tables, entries)
}

/// Scans the WAL segments recovery would replay.
fn check_wal(
    out: &Out,
    dir: &Path,
    log_number: u64,
    problems: &mut Vec<String>,
    warnings: &mut Vec<String>,
) -> Result<Vec<Value>, Failed> {
    let names = out.fs.list_dir(dir).map_err(|e| Error::io(dir, e))?;
    let mut segments = Vec::new();
    for name in names {
        let Some(FileKind::Wal(n)) = parse_file_name(&name) else {
            continue;
        };
        if n < log_number {
            continue;
        }
        let path = dir.join(&name);
        let mut records = 0u64;
        let scan = scan_segment(
            open(out, &path)?.as_ref(),
            &path,
            n,
            &ANY_RECORD,
            &mut |_, _| {
                records += 1;
                Ok(())
            },
        );
        match scan {
            Err(e) => problems.push(e.to_string()),
            Ok(s) => {
                if let Some(d) = &s.damage {
                    let what = format!(
                        "{} at offset {}: {} ({} valid records after it)",
                        path.display(),
                        d.offset,
                        d.reason,
                        d.records_after
                    );
                    if d.synced_record_after.is_some() {
                        problems.push(format!("{what}; a later sync covered it: corruption"));
                    } else {
                        warnings.push(format!(
                            "{what}; no sync covered it: a torn tail, dropped at the next open"
                        ));
                    }
                }
            }
        }
        segments.push(json!({"file": name, "records": records}));
    }
    Ok(segments)
}

/// `strata check DIR`.
pub fn check(out: &Out, dir: &Path) -> Result<Done, Failed> {
    let mut problems = Vec::new();
    let mut warnings = Vec::new();
    let mut doc = json!({"dir": dir.display().to_string()});
    match recover(&*out.fs, dir) {
        Ok(None) => {
            return Err(Failed::usage(format!(
                "{}: no database here (no CURRENT file)",
                dir.display()
            )))
        }
        Err(e) => problems.push(e.to_string()),
        Ok(Some(m)) => {
            let (tables, entries) = check_tables(out, dir, &m, &mut problems);
            doc["tables_checked"] = json!(tables.len());
            doc["entries_checked"] = json!(entries);
            doc["wal_segments"] = Value::Array(check_wal(
                out,
                dir,
                m.log_number,
                &mut problems,
                &mut warnings,
            )?);
            doc["tables"] = Value::Array(tables);
        }
    }
    match Db::open_read_only(dir, existing(out)) {
        Err(e) => problems.push(format!("read-only open: {e}")),
        Ok(db) => {
            let p = db.properties();
            doc["last_seqno"] = json!(p.last_seqno);
            doc["levels"] = p
                .levels
                .iter()
                .enumerate()
                .filter(|(_, l)| l.files > 0)
                .map(|(i, l)| json!({"level": i, "files": l.files, "bytes": l.bytes}))
                .collect();
            let props: serde_json::Map<String, Value> = PROPERTY_NAMES
                .iter()
                .filter_map(|n| db.property(n).map(|v| (n.to_string(), json!(v))))
                .collect();
            doc["properties"] = Value::Object(props);
        }
    }
    let healthy = problems.is_empty();
    doc["healthy"] = json!(healthy);
    doc["problems"] = json!(problems);
    doc["warnings"] = json!(warnings);
    Ok(Done { doc, healthy })
}

/// `strata get DIR KEY`.
pub fn get(out: &Out, dir: &Path, key: &str) -> Result<Done, Failed> {
    let key = out.parse_key(key).map_err(Failed::usage)?;
    let db = Db::open_read_only(dir, existing(out))?;
    let value = db.get(&key)?;
    let healthy = value.is_some();
    let doc = json!({
        "key": out.bytes(&key),
        "found": healthy,
        "value": value.map(|v| out.bytes(&v)),
    });
    Ok(Done { doc, healthy })
}

/// `strata scan DIR [--from K] [--to K] [--reverse] [--limit N]`.
pub fn scan(
    out: &Out,
    dir: &Path,
    from: Option<&str>,
    to: Option<&str>,
    reverse: bool,
    limit: Option<usize>,
) -> Result<Done, Failed> {
    let bound = |k: Option<&str>, b: fn(Vec<u8>) -> Bound<Vec<u8>>| {
        k.map(|k| out.parse_key(k).map(b))
            .transpose()
            .map(|b| b.unwrap_or(Bound::Unbounded))
            .map_err(Failed::usage)
    };
    let range = (bound(from, Bound::Included)?, bound(to, Bound::Excluded)?);
    let db = Db::open_read_only(dir, existing(out))?;
    let mut it = db.range(range)?;
    let mut entries = Vec::new();
    let limit = limit.unwrap_or(usize::MAX);
    while entries.len() < limit {
        let item = if reverse {
            it.next_back_ref()
        } else {
            it.next_ref()
        };
        let Some(item) = item else { break };
        let (k, v) = item?;
        entries.push(json!({"key": out.bytes(k), "value": out.bytes(v)}));
    }
    let doc = json!({"count": entries.len(), "entries": entries});
    Ok(Done { doc, healthy: true })
}

/// `strata checkpoint DIR DEST`.
pub fn checkpoint(out: &Out, dir: &Path, dest: &Path) -> Result<Done, Failed> {
    let db = Db::open(dir, existing(out))?;
    let report = db.checkpoint(dest)?;
    db.close()?;
    let doc = json!({
        "dest": dest.display().to_string(),
        "seqno": report.seqno,
        "tables_linked": report.tables_linked,
        "tables_copied": report.tables_copied,
        "bytes_copied": report.bytes_copied,
    });
    Ok(Done { doc, healthy: true })
}

fn unknown_or<T: Into<Value>>(v: Option<T>) -> Value {
    v.map_or_else(|| json!("unknown"), Into::into)
}

/// `strata repair DIR`: exit 0 if nothing was lost, 1 if something was
/// (the report says what).
pub fn repair(out: &Out, dir: &Path) -> Result<Done, Failed> {
    let r = strata::repair(dir, existing(out))?;
    let manifest = match &r.manifest {
        ManifestOutcome::Intact => json!("intact"),
        ManifestOutcome::CutAt { offset, reason } => {
            json!({"cut_at": offset, "reason": reason, "edits_after_it": "lost"})
        }
        ManifestOutcome::Rebuilt { reason } => {
            json!({"rebuilt_from_tables": true, "reason": reason})
        }
    };
    let tables_lost: Vec<Value> = r
        .tables_lost
        .iter()
        .map(|t| {
            let mut v = json!({"number": t.number, "reason": t.reason});
            match &t.meta {
                Some((level, m)) => {
                    v["level"] = json!(level);
                    v["smallest"] = out.bytes(&m.smallest_key);
                    v["largest"] = out.bytes(&m.largest_key);
                    v["seqnos"] = json!(format!("{}..={}", m.seqno_min, m.seqno_max));
                }
                None => v["range"] = json!("unknown"),
            }
            v["salvaged"] = match &t.salvaged {
                None => json!("nothing (its index does not read)"),
                Some(s) => json!({
                    "into_table": unknown_or(s.table),
                    "entries": s.entries,
                    "lost_spans": s.lost_ranges.iter().map(|(after, through)| json!({
                        "after": after.as_ref().map_or(json!("start"), |a| out.bytes(a)),
                        "through": out.bytes(through),
                    })).collect::<Vec<_>>(),
                }),
            };
            v
        })
        .collect();
    let logs_lost: Vec<Value> = r
        .logs_lost
        .iter()
        .map(|l| {
            json!({
                "segment": l.segment,
                "offset": l.offset.map_or(json!("whole segment"), Value::from),
                "reason": l.reason,
                "first_seqno_lost": unknown_or(l.first_seqno),
            })
        })
        .collect();
    let healthy = r.lost_nothing();
    let doc = json!({
        "dir": dir.display().to_string(),
        "lost_nothing": healthy,
        "manifest": manifest,
        "tables_kept": r.tables_kept,
        "tables_recovered": r.tables_recovered,
        "tables_lost": tables_lost,
        "logs_lost": logs_lost,
        "moved_to_lost": r.moved,
        "lost_dir": strata::repair::lost_dir(dir).display().to_string(),
    });
    Ok(Done { doc, healthy })
}
