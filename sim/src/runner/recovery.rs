//! Deaths and reopens: clean close and open, process crashes and kills,
//! power losses (now or armed to fire inside a later I/O call), and the
//! recovery that follows each, with open retries and deaths inside `open`.

use strata::Db;
use strata_models::SeqNo;

use super::{Exec, KillKind, Step, DB_DIR};
use crate::workload::FaultMode;

/// Opens tried before a recovery gives up; the last runs without faults.
const OPEN_ATTEMPTS_MAX: usize = 6;

impl Exec {
    /// A clean `close`, then `open`.
    pub(super) fn reopen(&mut self) -> Step {
        self.stats.clean_reopens += 1;
        self.snapshots.clear();
        self.txns.clear();
        let db = self.db.take().ok_or("no open database")?;
        self.call = "close";
        match db.close() {
            Ok(()) => {
                // A clean close syncs: everything acknowledged is durable.
                self.durable_mark = self.acked;
                self.line("  closed".into());
            }
            Err(e) => {
                self.line(format!("  close error: {e}"));
                if self.fs.is_dead() {
                    return self.power_loss();
                }
                if self.cfg.faults != FaultMode::All {
                    return Err(format!("close failed with no fault injected: {e}"));
                }
            }
        }
        self.recover(self.acked, false)
    }

    /// The process crashes between calls; the page cache survives.
    pub(super) fn process_crash(&mut self) -> Step {
        self.kill_kind = KillKind::Power;
        self.stats.process_crashes += 1;
        self.snapshots.clear();
        self.txns.clear();
        self.db = None;
        self.fs.restart_process();
        self.line("  process crash (page cache kept)".into());
        self.recover(self.acked, false)
    }

    /// A power loss now (`after_io == 0`, while idle), or armed to fire
    /// inside the I/O call `after_io` calls from now.
    pub(super) fn power_loss_after(&mut self, after_io: u32) -> Step {
        self.kill_kind = KillKind::Power;
        if after_io == 0 {
            self.call = "idle";
            self.fs.kill();
            self.power_loss()
        } else {
            self.fs.crash_after(u64::from(after_io));
            Ok(())
        }
    }

    /// A new process after an error that may have poisoned the Db.
    pub(super) fn restart(&mut self) -> Step {
        self.kill_kind = KillKind::Power;
        self.snapshots.clear();
        self.txns.clear();
        self.db = None;
        self.fs.restart_process();
        self.line("  restart after error".into());
        self.recover(self.acked, false)
    }

    fn note_crash_site(&mut self) {
        if let Some(site) = self.fs.crash_site() {
            let key = format!("{}:{:?}", self.call, site.class);
            *self.stats.crash_sites.entry(key).or_insert(0) += 1;
            self.line(format!(
                "  DEATH at I/O call {} ({} {}) during {}",
                site.io_call,
                site.call,
                site.path.display(),
                self.call
            ));
        }
    }

    /// The process died (the armed crash fired, or `kill`): a power loss,
    /// or a process crash that keeps the page cache, as armed.
    pub(super) fn power_loss(&mut self) -> Step {
        self.note_crash_site();
        self.snapshots.clear();
        self.txns.clear();
        self.db = None;
        if std::mem::replace(&mut self.kill_kind, KillKind::Power) == KillKind::Process {
            self.stats.process_kills += 1;
            self.fs.restart_process();
            self.line("  process killed mid-call (page cache kept)".into());
            return self.recover(self.acked, false);
        }
        self.stats.power_losses += 1;
        let rep = self.fs.crash(&mut self.crash_rng);
        self.line(format!("  crash: {rep:?}"));
        self.maybe_damage_at_rest();
        self.recover(self.durable_mark, true)
    }

    /// The armed death landed inside `open`.
    fn die_in_recovery(&mut self, mark: &mut SeqNo, after_power_loss: &mut bool) {
        self.note_crash_site();
        if std::mem::replace(&mut self.kill_kind, KillKind::Power) == KillKind::Process {
            self.stats.process_kills += 1;
            self.fs.restart_process();
            self.line("  process killed during recovery".into());
            return;
        }
        self.stats.power_losses += 1;
        let rep = self.fs.crash(&mut self.crash_rng);
        self.line(format!("  crash during recovery: {rep:?}"));
        self.maybe_damage_at_rest();
        *mark = self.durable_mark;
        *after_power_loss = true;
    }

    /// Opens the database again and checks the recovered state with the
    /// oracle; `mark` is the highest seqno that must have survived.
    fn recover(&mut self, mut mark: SeqNo, mut after_power_loss: bool) -> Step {
        self.call = "open";
        let db = self.open_retrying(&mut mark, &mut after_power_loss)?;
        self.fs.set_faults_enabled(false);
        self.fs.crash_at_io(None);
        let rec = self.check_recovered(&db, mark, after_power_loss)?;
        if !self.model.truncate_to(rec.prefix_last) {
            return Err(format!("model cannot cut back to {}", rec.prefix_last));
        }
        self.acked = rec.prefix_last;
        if after_power_loss {
            // What was read back from the post-crash disk is on the disk.
            self.durable_mark = rec.prefix_last;
        }
        self.durable_mark = self.durable_mark.min(self.acked);
        // Snapshots died with the process and no crash can lose what is
        // below the durable mark: fold it into the model's base, so the
        // oracle's work per crash does not grow with the run.
        if !self.model.settle(self.durable_mark) {
            return Err(format!(
                "the durable mark {} is not a write boundary",
                self.durable_mark
            ));
        }
        self.stats.recoveries += 1;
        self.line(format!(
            "  recovered: last seqno {}, {} keys, durable mark was {mark}",
            rec.last, rec.keys
        ));
        self.fs.set_faults(self.rates);
        self.fs
            .set_faults_enabled(self.cfg.faults == FaultMode::All);
        self.db = Some(db);
        // A checkpoint that returned Ok survives every crash. (Only a power
        // loss can change synced files; after a process crash or a reopen
        // they are as they were, and checking them again finds nothing.)
        if after_power_loss {
            self.check_checkpoints()
        } else {
            Ok(())
        }
    }

    /// `Db::open` until it succeeds on a live disk. A death inside `open`
    /// crashes the disk again (updating `mark` and `after_power_loss` after a
    /// power loss); other errors are retried when faults are injected, the
    /// last attempt without faults.
    fn open_retrying(
        &mut self,
        mark: &mut SeqNo,
        after_power_loss: &mut bool,
    ) -> Result<Db, String> {
        // Every fault stays possible during recovery, media faults on read
        // included: a flipped bit on the way must not make recovery drop a
        // synced record as a torn tail (the engine reads a tail twice before
        // it truncates).
        let faulty = self.cfg.faults == FaultMode::All;
        self.fs.set_faults(self.rates);
        self.fs.set_faults_enabled(faulty);
        let mut last_err = String::new();
        for attempt in 0..OPEN_ATTEMPTS_MAX {
            if attempt == OPEN_ATTEMPTS_MAX - 1 {
                self.fs.set_faults_enabled(false);
            }
            match Db::open(DB_DIR, self.options()?) {
                Ok(d) if self.fs.is_dead() => {
                    // Open swallowed the error of the call that died; the
                    // process is dead all the same.
                    drop(d);
                    self.line("  open returned Ok on a dead disk".into());
                    self.die_in_recovery(mark, after_power_loss);
                }
                Ok(d) => return Ok(d),
                Err(e) if self.fs.is_dead() => {
                    // The armed crash landed inside recovery: recover again.
                    self.line(format!("  open error: {e}"));
                    self.die_in_recovery(mark, after_power_loss);
                }
                Err(e) => {
                    self.line(format!("  open error: {e}"));
                    if self.damage_explains(&e) {
                        return Err(self.damage_detected("open", &e));
                    }
                    if !faulty || e.is_corruption() && attempt == OPEN_ATTEMPTS_MAX - 1 {
                        // A manifest edit dropped by damage in its torn-tail
                        // window can leave the WAL it had retired half
                        // deleted: the error then names a segment.
                        return Err(self.undetectable_loss(format!("recovery failed: {e}")));
                    }
                    last_err = e.to_string();
                    self.stats.open_retries += 1;
                    self.fs.restart_process();
                }
            }
        }
        Err(format!("recovery failed after retries: {last_err}"))
    }
}
