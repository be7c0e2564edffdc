//! Repair after damage at rest: once the engine has reported the damage,
//! the seed runs `strata::repair` and checks it. Every key a read could
//! still return before repair must read the same after it; the repaired
//! database must open and scan; and every key whose value is no longer one
//! the model ever gave it (since the settled point) must lie in a loss the
//! report names.

use strata::repair::{ManifestOutcome, RepairReport};
use strata::Db;

use super::{Exec, DB_DIR};

/// Whether `report` names a loss that may have changed `key`.
fn covers(report: &RepairReport, key: &[u8]) -> bool {
    if !matches!(report.manifest, ManifestOutcome::Intact) || !report.logs_lost.is_empty() {
        // Lost manifest edits or log records may concern any key.
        return true;
    }
    report.tables_lost.iter().any(|t| {
        let in_table = t.meta.as_ref().is_none_or(|(_, m)| {
            m.smallest_key.as_slice() <= key && key <= m.largest_key.as_slice()
        });
        match &t.salvaged {
            // Only the blocks that did not read.
            Some(s) => s.lost_ranges.iter().any(|(after, through)| {
                after.as_deref().is_none_or(|a| a < key) && key <= through.as_slice()
            }),
            None => in_table,
        }
    })
}

impl Exec {
    /// Repairs the damaged database and checks the result (faults off).
    pub(super) fn repair_and_check(&mut self) -> Result<(), String> {
        self.db = None;
        self.snapshots.clear();
        self.txns.clear();
        self.fs.restart_process();
        self.fs.crash_at_io(None);
        self.fs.set_faults_enabled(false);
        let opts = self.options()?;
        let keys: Vec<Vec<u8>> = self.model.keys().map(<[u8]>::to_vec).collect();
        // What reads return before repair (where they work at all).
        let before: Vec<(Vec<u8>, Option<Vec<u8>>)> = match Db::open_read_only(DB_DIR, opts.clone())
        {
            Ok(ro) => keys
                .iter()
                .filter_map(|k| ro.get(k).ok().map(|v| (k.clone(), v)))
                .collect(),
            Err(_) => Vec::new(),
        };
        self.call = "repair";
        // Half the time a death interrupts the repair (a power loss, or a
        // process crash that keeps the page cache); repair then runs
        // again, and the second one must give the same guarantees.
        if self.crash_rng.coin() {
            let after = self.crash_rng.range_inclusive(1, 60);
            self.fs.crash_after(after);
            let first = strata::repair(DB_DIR, opts.clone());
            if self.fs.is_dead() {
                self.stats.repairs_interrupted += 1;
                if self.crash_rng.coin() {
                    let rep = self.fs.crash(&mut self.crash_rng);
                    self.line(format!("  death during repair (power loss): {rep:?}"));
                } else {
                    self.fs.restart_process();
                    self.line("  death during repair (process crash)".into());
                }
            } else {
                self.fs.crash_at_io(None);
                first.map_err(|e| format!("repair failed: {e}"))?;
            }
        }
        let report =
            strata::repair(DB_DIR, opts.clone()).map_err(|e| format!("repair failed: {e}"))?;
        self.stats.repairs += 1;
        if report.lost_nothing() {
            self.stats.repairs_lossless += 1;
        }
        self.line(format!(
            "  repair: manifest {:?}, {} tables kept, {} lost, {} log losses, {} files moved",
            report.manifest,
            report.tables_kept,
            report.tables_lost.len(),
            report.logs_lost.len(),
            report.moved.len()
        ));
        let db = Db::open(DB_DIR, opts).map_err(|e| format!("open after repair: {e}"))?;
        let state = db
            .range::<&[u8], _>(..)
            .and_then(|it| it.collect::<strata::Result<Vec<_>>>())
            .map_err(|e| format!("scan after repair: {e}"))?;
        let after: std::collections::BTreeMap<Vec<u8>, Vec<u8>> = state.into_iter().collect();
        for (k, v) in &before {
            if after.get(k) != v.as_ref() {
                return Err(format!(
                    "repair changed {} (read {:?} before it, {:?} after): {report:?}",
                    strata_models::Show(k),
                    v.as_ref().map(Vec::len),
                    after.get(k).map(Vec::len)
                ));
            }
        }
        let (lo, hi) = (self.model.settled(), self.model.last_seqno());
        for k in &keys {
            let got = after.get(k).map(Vec::as_slice);
            let known = (lo..=hi).any(|s| self.model.get_at(k, s) == got);
            if !known && !covers(&report, k) {
                return Err(format!(
                    "after repair {} reads a value the model never held since seqno {lo}, \
                     and the report names no loss covering it: {report:?}",
                    strata_models::Show(k)
                ));
            }
        }
        db.close().map_err(|e| format!("close after repair: {e}"))?;
        Ok(())
    }
}
