//! Checkpoints in the single-threaded workload: each one that returns `Ok`
//! must open (read-only, so checking never changes it) to exactly the
//! model's state at its seqno, right away and after every later crash; one
//! that a death or a fault cut short is never looked at again.

use std::path::PathBuf;

use strata::Error;
use strata_models::{SeqNo, State};

use super::{Exec, Step};
use crate::workload::{read_only_state, FaultMode};

/// Checkpoints kept under watch at once (older ones are let go).
const WATCHED_MAX: usize = 3;

/// A checkpoint that returned `Ok`.
pub(super) struct Taken {
    dir: PathBuf,
    seqno: SeqNo,
    state: State,
}

impl Exec {
    /// `Db::checkpoint` into a fresh directory, then its first check.
    pub(super) fn checkpoint(&mut self) -> Step {
        self.checkpoints_tried += 1;
        let dir = PathBuf::from(format!("/checkpoint-{}", self.checkpoints_tried));
        self.call = "checkpoint";
        let r = self.db()?.checkpoint(&dir);
        match r {
            Ok(report) => {
                // One thread: the flush covers every acknowledged write.
                if report.seqno != self.acked {
                    return Err(format!(
                        "checkpoint at seqno {}, but {} writes were acknowledged",
                        report.seqno, self.acked
                    ));
                }
                self.stats.checkpoints += 1;
                self.line(format!(
                    "  checkpoint {} at seqno {}: {} linked, {} copied",
                    dir.display(),
                    report.seqno,
                    report.tables_linked,
                    report.tables_copied
                ));
                let state = self.model.state_at(report.seqno);
                self.checkpoints.push(Taken {
                    dir,
                    seqno: report.seqno,
                    state,
                });
                if self.checkpoints.len() > WATCHED_MAX {
                    self.checkpoints.remove(0);
                }
                self.check_checkpoints()
            }
            Err(e) => {
                self.line(format!("  checkpoint error: {e}"));
                if self.damage_explains(&e) {
                    return Err(self.damage_detected("checkpoint", &e));
                }
                if self.fs.is_dead() {
                    return self.power_loss();
                }
                if self.cfg.faults != FaultMode::All {
                    return Err(format!("checkpoint failed with no fault injected: {e}"));
                }
                // The flush inside may have poisoned the database.
                self.restart()
            }
        }
    }

    /// Opens every watched checkpoint read-only (faults off) and compares
    /// it with the state it must hold. A death armed earlier may fire in
    /// the middle: the recovery that follows checks them all again.
    pub(super) fn check_checkpoints(&mut self) -> Step {
        let faults = self.cfg.faults == FaultMode::All;
        self.fs.set_faults_enabled(false);
        let mut result = Ok(true);
        for i in 0..self.checkpoints.len() {
            result = self.check_checkpoint(i);
            if !matches!(result, Ok(true)) {
                break;
            }
        }
        self.fs.set_faults_enabled(faults);
        match result? {
            true => Ok(()),
            false => self.power_loss(),
        }
    }

    /// Checks checkpoint `i`: `Ok(false)` if the process died meanwhile.
    fn check_checkpoint(&mut self, i: usize) -> Result<bool, String> {
        let opts = self.options()?;
        let t = &self.checkpoints[i];
        let read = read_only_state(&t.dir, opts);
        let (last, items) = match read {
            Ok(r) => r,
            Err(e) => {
                if self.fs.is_dead() {
                    return Ok(false);
                }
                if self.checkpoint_damage_explains(&e) {
                    return Err(self.damage_detected("checkpoint check", &e));
                }
                return Err(format!(
                    "checkpoint {} (seqno {}) does not open: {e}",
                    t.dir.display(),
                    t.seqno
                ));
            }
        };
        let got: State = items.into_iter().collect();
        if last != t.seqno || got != t.state {
            return Err(format!(
                "checkpoint {} taken at seqno {} opens at seqno {last}: {}",
                t.dir.display(),
                t.seqno,
                strata_models::describe_difference(&t.state, &got)
            ));
        }
        self.stats.checkpoint_checks += 1;
        Ok(!self.fs.is_dead())
    }

    /// Damage at rest explains an error in a checkpoint that names a file
    /// of the same name: a checkpoint's tables are links to the database's.
    fn checkpoint_damage_explains(&self, e: &Error) -> bool {
        let text = e.to_string();
        self.damaged.iter().any(|d| {
            d.damage
                .path
                .file_name()
                .is_some_and(|n| text.contains(&*n.to_string_lossy()))
        })
    }
}
