//! Judging the `Db`'s answers: reads against the model, write seqnos, the
//! refusal of writes after a failure, the recovered state against the crash
//! oracle, and the final state.

use strata::{Db, Error, WriteOptions};
use strata_models::{SeqNo, State};

use super::{Exec, Step};
use crate::workload::{expected_scan, FaultMode, KeyBound, Scan};

/// A range read as the workload asked for it.
#[derive(Clone, Copy)]
pub(super) struct RangeRead<'a> {
    pub(super) lo: &'a KeyBound,
    pub(super) hi: &'a KeyBound,
    pub(super) scan: Scan,
    pub(super) limit: u32,
}

impl<'a> RangeRead<'a> {
    pub(super) fn new(lo: &'a KeyBound, hi: &'a KeyBound, scan: Scan, limit: u32) -> Self {
        RangeRead {
            lo,
            hi,
            scan,
            limit,
        }
    }
}

/// What a recovery found, accepted by the oracle.
pub(super) struct Recovered {
    /// Keys in the recovered state.
    pub(super) keys: usize,
    /// The engine's recovered `last_seqno`.
    pub(super) last: SeqNo,
    /// The end of the history prefix the oracle matched.
    pub(super) prefix_last: SeqNo,
}

impl Exec {
    /// Maps a read result: `Ok(None)` when the error is acceptable.
    pub(super) fn read_result<T>(&mut self, r: strata::Result<T>) -> Result<Option<T>, String> {
        match r {
            Ok(v) => {
                self.stats.reads_checked += 1;
                Ok(Some(v))
            }
            Err(e) => {
                self.line(format!("  read error: {e}"));
                if self.damage_explains(&e) {
                    return Err(self.damage_detected("read", &e));
                }
                if self.fs.is_dead() {
                    self.power_loss()?;
                    Ok(None)
                } else if self.cfg.faults == FaultMode::All && (e.is_io() || e.is_corruption()) {
                    self.stats.read_errors += 1;
                    Ok(None)
                } else {
                    Err(format!("read failed with no fault injected: {e}"))
                }
            }
        }
    }

    pub(super) fn compare_get(
        &mut self,
        key: &[u8],
        want: &Option<Vec<u8>>,
        got: &Option<Vec<u8>>,
        what: &str,
    ) -> Step {
        if want != got {
            let show = |v: &Option<Vec<u8>>| {
                v.as_ref().map_or("<absent>".to_string(), |v| {
                    strata_models::Show(v).to_string()
                })
            };
            return Err(format!(
                "{what} {}: expected {}, found {}",
                strata_models::Show(key),
                show(want),
                show(got)
            ));
        }
        self.line(format!(
            "  = {}",
            got.as_ref().map_or(-1, |v| v.len() as i64)
        ));
        Ok(())
    }

    /// Compares a range read, made at seqno `at`, with the model.
    pub(super) fn check_scan(
        &mut self,
        r: strata::Result<Vec<(Vec<u8>, Vec<u8>)>>,
        read: RangeRead<'_>,
        at: SeqNo,
        what: &str,
    ) -> Step {
        let Some(got) = self.read_result(r)? else {
            return Ok(());
        };
        let want = expected_scan(&self.model, read.lo, read.hi, read.scan, read.limit, at);
        if got != want {
            let i = got
                .iter()
                .zip(&want)
                .position(|(a, b)| a != b)
                .unwrap_or(got.len().min(want.len()));
            let show = |v: Option<&(Vec<u8>, Vec<u8>)>| {
                v.map_or("<end>".to_string(), |(k, v)| {
                    format!("{}={}", strata_models::Show(k), strata_models::Show(v))
                })
            };
            let RangeRead { lo, hi, scan, .. } = read;
            return Err(format!(
                "{what} {lo:?}..{hi:?} {scan:?} at seqno {at}: item {i} expected {}, found {} \
                 ({} items expected, {} found)",
                show(want.get(i)),
                show(got.get(i)),
                want.len(),
                got.len()
            ));
        }
        self.line(format!("  {} items", got.len()));
        Ok(())
    }

    /// A write of `n` ops acknowledged with seqno `s` must end exactly where
    /// the model's next `n` seqnos end.
    pub(super) fn check_write_seqno(&self, s: SeqNo, n: u64) -> Step {
        let want = self.model.last_seqno() + n;
        if s != want {
            return Err(format!(
                "write returned seqno {s}, the model expected {want}"
            ));
        }
        Ok(())
    }

    /// After a failed write the Db must refuse writes with `Poisoned`.
    pub(super) fn check_poisoned(&self) -> Step {
        match self.db()?.put(b"probe", b"", WriteOptions::BUFFERED) {
            Ok(s) => Err(format!(
                "a write was accepted (seqno {s}) after a failed write; \
                 the Db must refuse writes until reopened"
            )),
            Err(Error::Poisoned { .. }) => Ok(()),
            Err(e) => Err(format!(
                "after a failed write, a write failed with {e}, expected Poisoned"
            )),
        }
    }

    /// Reads the whole recovered state and asks the crash oracle whether it
    /// is acceptable; `mark` is the highest seqno that must have survived.
    pub(super) fn check_recovered(
        &mut self,
        db: &Db,
        mark: SeqNo,
        after_power_loss: bool,
    ) -> Result<Recovered, String> {
        let scanned: strata::Result<Vec<(Vec<u8>, Vec<u8>)>> =
            db.range::<Vec<u8>, _>(..).and_then(|it| it.collect());
        let state: State = match scanned {
            Ok(s) => s.into_iter().collect(),
            Err(e) if self.damage_explains(&e) => {
                return Err(self.damage_detected("scan after recovery", &e));
            }
            // Damage in a torn-tail window may drop a manifest edit whose
            // tables are gone: the scan then fails on a table, not on the
            // damaged file. Excused only with such damage.
            Err(e) => {
                return Err(self.undetectable_loss(format!("full scan after recovery failed: {e}")))
            }
        };
        let last = db.last_seqno();
        let checked = self.model.oracle().check(mark, &state, Some(last));
        let acc = match checked {
            Ok(acc) => acc,
            Err(d) => {
                let why = format!(
                    "crash oracle ({}): {d}",
                    if after_power_loss {
                        "after power loss"
                    } else {
                        "after process restart"
                    }
                );
                // Damage no reader can tell from a torn tail may lose
                // durable writes, never invent data: the state must still
                // be the model's at some earlier write.
                if self.model.oracle().check(0, &state, None).is_err() {
                    return Err(format!("{why}; and it is no earlier state either"));
                }
                return Err(self.undetectable_loss(why));
            }
        };
        crate::workload::transaction_invariants(&state, "after recovery")?;
        Ok(Recovered {
            keys: state.len(),
            last,
            prefix_last: acc.prefix_last,
        })
    }

    /// At the end of the run the whole state and the last seqno must equal
    /// the model's.
    pub(super) fn final_check(&mut self) -> Step {
        self.fs.set_faults_enabled(false);
        self.fs.crash_at_io(None);
        if self.fs.is_dead() {
            return self.power_loss();
        }
        let scanned = self
            .db()?
            .range::<Vec<u8>, _>(..)
            .and_then(|it| it.collect::<strata::Result<Vec<_>>>());
        let got: State = match scanned {
            Ok(v) => v.into_iter().collect(),
            Err(e) if self.damage_explains(&e) => {
                return Err(self.damage_detected("final scan", &e))
            }
            Err(e) => return Err(format!("final scan failed: {e}")),
        };
        crate::workload::transaction_invariants(&got, "at the end")?;
        let db = self.db()?;
        let levels = db.stats().levels;
        let want = self.model.state();
        if got != want {
            let k = want
                .keys()
                .chain(got.keys())
                .filter(|k| want.get(*k) != got.get(*k))
                .min()
                .cloned()
                .unwrap_or_default();
            return Err(format!(
                "final state differs from the model at key {}: expected {:?}, found {:?}",
                strata_models::Show(&k),
                want.get(&k).map(|v| v.len()),
                got.get(&k).map(|v| v.len())
            ));
        }
        if db.last_seqno() != self.model.last_seqno() {
            return Err(format!(
                "final last seqno {} but the model is at {}",
                db.last_seqno(),
                self.model.last_seqno()
            ));
        }
        let end = format!("end: {} keys, seqno {}", got.len(), db.last_seqno());
        for (i, l) in levels.iter().enumerate().take(super::LEVELS_SEEN) {
            self.stats.files_per_level[i] += l.files as u64;
        }
        self.note_depth();
        self.line(end);
        Ok(())
    }
}
