//! Transactions in the single-threaded run, judged by the transaction
//! oracle (`strata_models::TxnReads`).
//!
//! Up to [`TXNS_MAX`] transactions stay open between other ops, so plain
//! writes, other transactions' commits, flushes, compactions and crashes
//! land between a transaction's reads and its commit. Because the run is
//! single-threaded the model knows exactly which writes came after a
//! transaction's snapshot, so the check is exact both ways:
//! - every read equals the model's state at the snapshot, overlaid with
//!   the transaction's own earlier writes;
//! - a commit is refused if and only if the model has a write after the
//!   snapshot into what the transaction read (serializable) or writes
//!   (snapshot isolation), naming a write the model has; the one other
//!   refusal allowed is `HistoryExceeded`, and only once more writes than
//!   `transaction_history_max` came after the oldest open snapshot;
//! - a committed serializable transaction's reads equal the state at its
//!   serialization point (just before its first sequence number), and it
//!   takes exactly the model's next sequence numbers;
//! - the counters moved by transfers always add up to 0, in every state
//!   read back after a recovery and at the end.

use std::collections::BTreeMap;

use strata::{ConflictKind, Error, Isolation, Transaction, TransactionOptions};
use strata_models::{SeqNo, Show, TxnReads};

use super::judge::RangeRead;
use super::{Exec, Step};
use crate::workload::{
    counter_key, in_bounds, own_ops, parse_counter, txn_scan, write_options, Pairs, Val, COUNTERS,
    TXNS_MAX,
};

/// An open transaction and what the run knows of it.
pub(super) struct OpenTxn {
    txn: Transaction,
    snapshot: SeqNo,
    serializable: bool,
    /// What it read from its snapshot.
    reads: TxnReads,
    /// Its writes so far, last per key (`None` = delete).
    own: BTreeMap<Vec<u8>, Option<Vec<u8>>>,
    /// More writes than the conflict history holds came after the oldest
    /// open snapshot while it was open: `HistoryExceeded` is allowed.
    may_overflow: bool,
}

/// How a commit ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Committed {
    Yes,
    Refused,
    /// It failed with a fault (or the process died): present or absent.
    Unknown,
}

/// The value transfers and skews write, as a `Val`.
const SKEW_VALUE: Val = Val { len: 8, tag: 0x5e3 };

impl Exec {
    /// The open transaction `slot` names (counting from the newest).
    fn txn_slot(&self, slot: u8) -> Option<usize> {
        let n = self.txns.len();
        (n > 0).then(|| n - 1 - slot as usize % n)
    }

    pub(super) fn txn_begin(&mut self, serializable: bool) -> Step {
        let db = self.db()?;
        let txn = if serializable {
            db.transaction()
        } else {
            db.transaction_with(TransactionOptions {
                isolation: Isolation::Snapshot,
            })
        };
        let want = self.model.last_seqno();
        if txn.snapshot_seqno() != want {
            return Err(format!(
                "transaction snapshot {} but the model is at {want}",
                txn.snapshot_seqno()
            ));
        }
        self.txns.push(OpenTxn {
            txn,
            snapshot: want,
            serializable,
            reads: TxnReads::default(),
            own: BTreeMap::new(),
            may_overflow: false,
        });
        if self.txns.len() > TXNS_MAX {
            self.txns.remove(0);
        }
        self.stats.txns_begun += 1;
        self.line(format!("  transaction at {want}"));
        Ok(())
    }

    pub(super) fn txn_get(&mut self, slot: u8, key: &[u8]) -> Step {
        match self.txn_slot(slot) {
            Some(i) => self.txn_read(i, key).map(drop),
            None => Ok(()),
        }
    }

    /// A point read in transaction `i`, checked and recorded; `None` when
    /// it failed with an injected fault (the transaction list may then
    /// have been cleared by a recovery).
    fn txn_read(&mut self, i: usize, key: &[u8]) -> Result<Option<Option<Vec<u8>>>, String> {
        self.call = "txn.get";
        let r = self.txns[i].txn.get(key);
        let Some(got) = self.read_result(r)? else {
            return Ok(None);
        };
        let t = &self.txns[i];
        let own = t.own.get(key).cloned();
        let want = match &own {
            Some(v) => v.clone(),
            None => self.model.get_at(key, t.snapshot).map(<[u8]>::to_vec),
        };
        self.compare_get(key, &want, &got, "transaction get")?;
        if own.is_none() {
            self.txns[i]
                .reads
                .points
                .entry(key.to_vec())
                .or_insert_with(|| got.clone());
        }
        Ok(Some(got))
    }

    pub(super) fn txn_range(&mut self, slot: u8, read: RangeRead<'_>) -> Step {
        let Some(i) = self.txn_slot(slot) else {
            return Ok(());
        };
        self.call = "txn.range";
        let (lo, hi) = (read.lo.to_bound(), read.hi.to_bound());
        let t = &mut self.txns[i];
        let (calls, exhausted, err, covered) =
            txn_scan(&mut t.txn, &lo, &hi, read.scan, read.limit, &t.own);
        // Recorded even if the scan then failed: the engine's read set
        // holds the keys it returned.
        t.reads.scans.extend(covered);
        if let Some(e) = err {
            return self.read_result::<()>(Err(e)).map(drop);
        }
        self.stats.reads_checked += 1;
        // What the same calls return on the model's view.
        let t = &self.txns[i];
        let mut view: BTreeMap<Vec<u8>, Vec<u8>> = self
            .model
            .range_at(
                read.lo.as_bound(),
                read.hi.as_bound(),
                strata_models::Dir::Forward,
                t.snapshot,
                usize::MAX,
            )
            .into_iter()
            .collect();
        for (k, v) in t.own.iter().filter(|(k, _)| in_bounds(k, &lo, &hi)) {
            match v {
                Some(v) => view.insert(k.clone(), v.clone()),
                None => view.remove(k),
            };
        }
        let view: Pairs = view.into_iter().collect();
        let (mut f, mut b) = (0, view.len());
        for (n, (front, pair)) in calls.iter().enumerate() {
            let want = if *front {
                f += 1;
                view.get(f - 1)
            } else {
                b -= 1;
                view.get(b)
            };
            if want != Some(pair) || f > b {
                return Err(format!(
                    "transaction range {lo:?}..{hi:?} {:?} at snapshot {}: call {n} ({}) returned {}, the model expects {}",
                    read.scan,
                    t.snapshot,
                    if *front { "next" } else { "next_back" },
                    Show(&pair.0),
                    want.map_or("<end>".into(), |p| Show(&p.0).to_string()),
                ));
            }
        }
        if exhausted && f != b {
            return Err(format!(
                "transaction range {lo:?}..{hi:?} at snapshot {}: the scan ended after {} items, the model holds {}",
                t.snapshot,
                calls.len(),
                view.len()
            ));
        }
        self.line(format!("  {} items", calls.len()));
        Ok(())
    }

    pub(super) fn txn_write(&mut self, slot: u8, key: &[u8], value: Option<Val>) -> Step {
        match self.txn_slot(slot) {
            Some(i) => self.txn_put(i, key, value.map(|v| v.bytes())),
            None => Ok(()),
        }
    }

    fn txn_put(&mut self, i: usize, key: &[u8], value: Option<Vec<u8>>) -> Step {
        let t = &mut self.txns[i];
        let r = match &value {
            Some(v) => t.txn.put(key, v),
            None => t.txn.delete(key),
        };
        r.map_err(|e| format!("transaction write of {} failed: {e}", Show(key)))?;
        t.own.insert(key.to_vec(), value);
        Ok(())
    }

    /// Moves `amount` between two counters inside one transaction.
    pub(super) fn txn_transfer(&mut self, slot: u8, from: u8, to: u8, amount: u8) -> Step {
        let Some(i) = self.txn_slot(slot) else {
            return Ok(());
        };
        if from % COUNTERS == to % COUNTERS {
            return Ok(());
        }
        let mut now = Vec::new();
        for c in [from, to] {
            let k = counter_key(c);
            let Some(v) = self.txn_read(i, &k)? else {
                return Ok(());
            };
            now.push(v.map_or(Ok(0), |v| parse_counter(&k, &v))?);
        }
        let amount = i64::from(amount);
        self.txn_put(
            i,
            &counter_key(from),
            Some((now[0] - amount).to_string().into_bytes()),
        )?;
        self.txn_put(
            i,
            &counter_key(to),
            Some((now[1] + amount).to_string().into_bytes()),
        )
    }

    pub(super) fn txn_rollback(&mut self, slot: u8) {
        if let Some(i) = self.txn_slot(slot) {
            self.txns.remove(i).txn.rollback();
        }
    }

    pub(super) fn txn_commit(&mut self, slot: u8, durable: bool) -> Step {
        match self.txn_slot(slot) {
            Some(i) => self.commit_txn(i, durable).map(drop),
            None => Ok(()),
        }
    }

    /// Commits transaction `i` and judges the outcome (module docs).
    fn commit_txn(&mut self, i: usize, durable: bool) -> Result<Committed, String> {
        let OpenTxn {
            txn,
            snapshot,
            serializable,
            reads,
            own,
            may_overflow,
        } = self.txns.remove(i);
        let now = self.model.last_seqno();
        let level = if serializable {
            "serializable"
        } else {
            "snapshot-isolation"
        };
        let predicted = if serializable {
            self.model.first_write_into(
                reads.points.keys().map(Vec::as_slice),
                reads.intervals(),
                snapshot,
                now,
            )
        } else {
            self.model
                .first_write_into(own.keys().map(Vec::as_slice), [], snapshot, now)
        };
        let mops = own_ops(own);
        let wo = write_options(durable);
        self.call = "txn.commit";
        match txn.commit(wo) {
            Ok(s) if mops.is_empty() => {
                if s != snapshot {
                    return Err(format!(
                        "a transaction that wrote nothing committed at {s}, not at its snapshot {snapshot}"
                    ));
                }
                self.line(format!("  read-only commit at {s}"));
                Ok(Committed::Yes)
            }
            Ok(s) => {
                if let Some((k, q)) = predicted {
                    return Err(format!(
                        "{level} transaction (snapshot {snapshot}) committed at {s}, but {} was written at {q}, after its snapshot: a missed conflict",
                        Show(&k)
                    ));
                }
                if serializable {
                    self.model.check_reads_at(&reads, now).map_err(|e| {
                        format!(
                            "committed serializable transaction (snapshot {snapshot}): its reads are not the state at its serialization point {now}: {e}"
                        )
                    })?;
                }
                self.check_write_seqno(s, mops.len() as u64)?;
                self.stats.txns_committed += 1;
                self.acked_write(s, mops, durable);
                Ok(Committed::Yes)
            }
            Err(Error::Conflict { kind, key, seqno }) => {
                self.stats.txn_conflicts += 1;
                self.line(format!("  conflict {kind:?} {} at {seqno}", Show(&key)));
                match kind {
                    ConflictKind::HistoryExceeded => {
                        if !may_overflow && predicted.is_none() {
                            return Err(format!(
                                "{level} transaction (snapshot {snapshot}) refused as older than the conflict history (floor {seqno}), but no more than transaction_history_max = {} writes came after the oldest open snapshot",
                                self.knobs.transaction_history_max
                            ));
                        }
                        self.stats.txn_history_exceeded += 1;
                    }
                    ConflictKind::ReadChanged | ConflictKind::WriteWrite => {
                        let want = if serializable {
                            ConflictKind::ReadChanged
                        } else {
                            ConflictKind::WriteWrite
                        };
                        if kind != want || predicted.is_none() {
                            return Err(format!(
                                "{level} transaction (snapshot {snapshot}) refused with {kind:?} on {} at {seqno}, but the model has no write after its snapshot into what it {}: a false conflict",
                                Show(&key),
                                if serializable { "read" } else { "writes" }
                            ));
                        }
                        if seqno <= snapshot || seqno > now || !self.model.wrote(&key, seqno) {
                            return Err(format!(
                                "conflict names a write of {} at {seqno} the model does not have after snapshot {snapshot}",
                                Show(&key)
                            ));
                        }
                    }
                }
                Ok(Committed::Refused)
            }
            Err(e) => {
                // Refused or not, a transaction the model says conflicts
                // was not applied.
                let maybe = if predicted.is_some() {
                    Vec::new()
                } else {
                    mops
                };
                self.write_failed(e, maybe)?;
                Ok(Committed::Unknown)
            }
        }
    }

    /// Write skew: two transactions at one snapshot each read `a` and `b`
    /// and write one of them; both try to commit.
    pub(super) fn txn_skew(
        &mut self,
        a: &[u8],
        b: &[u8],
        serializable: bool,
        durable: bool,
    ) -> Step {
        self.txn_begin(serializable)?;
        self.txn_begin(serializable)?;
        let n = self.txns.len();
        for i in [n - 2, n - 1] {
            for k in [a, b] {
                if self.txn_read(i, k)?.is_none() {
                    return Ok(());
                }
            }
        }
        let v = Some(SKEW_VALUE.bytes());
        self.txn_put(n - 2, a, v.clone())?;
        self.txn_put(n - 1, b, v)?;
        if self.commit_txn(n - 2, durable)? != Committed::Yes {
            return Ok(());
        }
        // The second is now at n - 2.
        if self.commit_txn(n - 2, durable)? == Committed::Refused && serializable {
            self.stats.skews_refused += 1;
        }
        Ok(())
    }

    /// A phantom (see `SimOp::TxnPhantom`): scan, a plain put of `key`,
    /// the transaction's own write of `key`, commit.
    pub(super) fn txn_phantom(
        &mut self,
        scan: RangeRead<'_>,
        key: &[u8],
        value: Val,
        serializable: bool,
    ) -> Step {
        self.txn_begin(serializable)?;
        let before = self.txns.len();
        self.txn_range(0, scan)?;
        if self.txns.len() != before {
            return Ok(()); // a fault ended the run's process
        }
        self.write(vec![(key.to_vec(), Some(value))], false)?;
        if self.txns.len() != before {
            return Ok(());
        }
        let i = self.txns.len() - 1;
        self.txn_put(i, key, Some(SKEW_VALUE.bytes()))?;
        if self.commit_txn(i, false)? == Committed::Refused {
            self.stats.phantoms_refused += 1;
        }
        Ok(())
    }

    /// After a write took sequence numbers: with more writes since the
    /// oldest open snapshot than the conflict history holds, the engine
    /// may have dropped entries some open transaction needs.
    pub(super) fn note_txn_history(&mut self) {
        let Some(oldest) = self.txns.iter().map(|t| t.snapshot).min() else {
            return;
        };
        if self.model.last_seqno() - oldest > self.knobs.transaction_history_max as u64 {
            for t in &mut self.txns {
                t.may_overflow = true;
            }
        }
    }
}
