//! The liveness phase at the end of each seed (safety first, then
//! liveness, as TigerBeetle's simulator splits them): with faults off, the
//! database is closed and reopened and, within a bounded number of
//! background steps, must accept a durable write, run out of compaction work
//! (every level below its trigger), leave writers unthrottled, and keep on
//! disk only the live tables plus a bounded amount of log and manifest.

use strata::{BackgroundStep, Db, WriteOptions, WritePressure};

use super::{Exec, Step, DB_DIR};
use crate::simfs::SimFs;

/// Background steps the engine may take to run out of work after reopen.
pub(super) const LIVENESS_STEPS_MAX: u64 = 10_000;

/// Bytes on disk allowed beyond the live tables: this many times the
/// manifest and memtable limits, plus a fixed slack for `CURRENT`, `LOCK`
/// and the WAL segment's header.
const MANIFESTS_ALLOWED: u64 = 4;
const MEMTABLES_ALLOWED: u64 = 2;
const SLACK_BYTES: u64 = 64 * 1024;

impl Exec {
    /// Runs the liveness phase on the open database; faults must be off.
    pub(super) fn liveness(&mut self) -> Step {
        // Off for good: a recovery in the final check switches them back on.
        self.fs.set_faults_enabled(false);
        self.fs.crash_at_io(None);
        let fail = |m: String| Err(format!("liveness (faults off): {m}"));
        let db = self.db.take().ok_or("no open database")?;
        if let Err(e) = db.close() {
            return fail(format!("close failed: {e}"));
        }
        let db = match Db::open(DB_DIR, self.options()?) {
            Ok(db) => db,
            Err(e) if self.damage_explains(&e) => return Err(self.damage_detected("liveness", &e)),
            Err(e) => return fail(format!("reopen failed: {e}")),
        };
        match db.put(b"liveness", b"ok", WriteOptions::DURABLE) {
            Ok(s) => {
                let want = self.model.put(b"liveness", b"ok");
                if s != want {
                    return fail(format!("write got seqno {s}, the model expected {want}"));
                }
            }
            Err(e) => return fail(format!("a durable write failed: {e}")),
        }
        let mut steps = 0;
        loop {
            match db.step_background() {
                Ok(BackgroundStep::Idle) => break,
                Ok(_) if steps < LIVENESS_STEPS_MAX => steps += 1,
                Ok(s) => {
                    return fail(format!(
                        "background work still busy after {steps} steps (last: {s:?})"
                    ))
                }
                Err(e) if self.damage_explains(&e) => {
                    return Err(self.damage_detected("liveness", &e))
                }
                Err(e) => return fail(format!("background step failed: {e}")),
            }
        }
        if db.write_pressure() != WritePressure::Normal {
            return fail(format!(
                "writers still throttled ({:?}) with no background work left",
                db.write_pressure()
            ));
        }
        let k = &self.knobs;
        let (live, all) = match check_disk(
            &self.fs,
            &db,
            k.manifest_bytes_max,
            k.memtable_bytes_max as u64,
        ) {
            Ok(sizes) => sizes,
            Err(m) => return fail(m),
        };
        self.stats.liveness_checks += 1;
        self.stats.liveness_steps += steps;
        self.line(format!(
            "liveness: idle after {steps} steps, {live} live table bytes, {all} on disk"
        ));
        self.db = Some(db);
        Ok(())
    }
}

/// The disk of a database that ran out of background work: the tables on
/// disk are exactly the live ones (obsolete tables were deleted), and all
/// the files together stay within the live tables plus allowances for
/// manifests and memtables. Returns (live table bytes, bytes on disk).
pub(crate) fn check_disk(
    fs: &SimFs,
    db: &Db,
    manifest_bytes_max: u64,
    memtable_bytes_max: u64,
) -> Result<(u64, u64), String> {
    let stats = db.stats();
    let live: u64 = stats.levels.iter().map(|l| l.bytes).sum();
    let (mut tables, mut all) = (0u64, 0u64);
    let mut table_files = Vec::new();
    for p in fs.paths() {
        if !p.starts_with(DB_DIR) {
            continue;
        }
        let len = fs.contents(&p).map_or(0, |c| c.len() as u64);
        all += len;
        if p.extension().is_some_and(|e| e == "sst") {
            tables += len;
            table_files.push(format!("{}={len}", p.display()));
        }
    }
    if tables != live {
        return Err(format!(
            "{tables} bytes of tables on disk but {live} bytes live in {} tables: \
             obsolete tables were left behind (on disk: {})",
            stats.levels.iter().map(|l| l.files).sum::<usize>(),
            table_files.join(" ")
        ));
    }
    let bound = live
        + MANIFESTS_ALLOWED * manifest_bytes_max
        + MEMTABLES_ALLOWED * memtable_bytes_max
        + SLACK_BYTES;
    if all > bound {
        return Err(format!(
            "{all} bytes on disk for {live} bytes of live tables (allowed: {bound})"
        ));
    }
    Ok((live, all))
}
