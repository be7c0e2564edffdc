//! Judging one round of concurrent calls, after every client thread has
//! returned: what each call saw is recorded as a [`Call`]; the writes are
//! ordered by seqno ([`round_writes`]) and the reads compared with the
//! model inside their windows ([`check_reads`]).

use strata::ConflictKind;
use strata_models::{KvModel, Op, RoundWrites, SeqNo, Show, TxnReads, Window};

use crate::workload::{
    expected_cursor_walk, expected_prefix, expected_scan, walk_difference, CursorPosition,
    CursorStart, KeyBound, Pairs, Scan,
};

/// What one client call saw.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Call {
    /// The client thread.
    pub thread: usize,
    /// The call's index in the thread's list for the round.
    pub index: usize,
    /// The engine's visible seqno before the call and after it returned.
    pub window: Window,
    /// The outcome.
    pub seen: Seen,
}

/// The outcome of a call.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Seen {
    /// A write acknowledged with `seqno` (its last op's).
    Written {
        /// The write's ops.
        ops: Vec<Op>,
        /// Asked for `WriteOptions::DURABLE`.
        durable: bool,
        /// The seqno returned.
        seqno: SeqNo,
        /// Whether a WAL sync completed between the call's start and its
        /// return.
        synced_during: bool,
    },
    /// A write that returned an error.
    WriteFailed {
        /// The write's ops.
        ops: Vec<Op>,
        /// Refused before it took a seqno (`Poisoned`, `Closed`): certainly
        /// not applied. Otherwise its outcome is unknown.
        refused: bool,
        /// A fault was injected or the process died before the error.
        excused: bool,
        /// The error.
        error: String,
    },
    /// `get` returned `value`.
    Got {
        /// The key read.
        key: Vec<u8>,
        /// The value returned.
        value: Option<Vec<u8>>,
    },
    /// A range read (at once, or held open over several steps).
    Scanned {
        /// Lower bound.
        lo: KeyBound,
        /// Upper bound.
        hi: KeyBound,
        /// How it was driven.
        scan: Scan,
        /// Items asked for.
        limit: u32,
        /// Items read.
        items: Pairs,
    },
    /// A snapshot and the reads made through it.
    Snapshot {
        /// The snapshot's seqno.
        seqno: SeqNo,
        /// Its `get`s.
        gets: Vec<(Vec<u8>, Option<Vec<u8>>)>,
        /// Its full range read (forward, all items).
        items: Pairs,
    },
    /// A read, flush or compaction that returned an error.
    Failed {
        /// The call that failed.
        what: &'static str,
        /// A fault was injected or the process died before the error.
        excused: bool,
        /// The error.
        error: String,
    },
    /// A cursor's walk, read at `seqno`.
    CursorWalk {
        /// The cursor's seqno.
        seqno: SeqNo,
        /// How it was positioned.
        start: CursorStart,
        /// Its moves (bit i set: `next`).
        moves: u32,
        /// Moves asked for.
        n: u8,
        /// Where it was after the start and each move.
        positions: Vec<CursorPosition>,
    },
    /// `multi_get` returned `values`.
    MultiGot {
        /// The keys read.
        keys: Vec<Vec<u8>>,
        /// The values returned, one per key.
        values: Vec<Option<Vec<u8>>>,
    },
    /// `prefix`, read whole.
    Prefixed {
        /// The prefix.
        prefix: Vec<u8>,
        /// Read from the back.
        reverse: bool,
        /// Items read.
        items: Pairs,
    },
    /// `properties` returned these figures.
    Properties {
        /// Its last seqno.
        last_seqno: SeqNo,
        /// Where its figures disagree with one another.
        wrong: Vec<String>,
    },
    /// `first_key_value` and `last_key_value` (two calls, each judged in
    /// the whole call's window).
    FirstLast {
        /// The first entry.
        first: Option<(Vec<u8>, Vec<u8>)>,
        /// The last entry.
        last: Option<(Vec<u8>, Vec<u8>)>,
    },
    /// A read-only open beside the writers, read whole.
    ReadOnly {
        /// Its last seqno.
        last: SeqNo,
        /// Everything it read.
        items: Pairs,
    },
    /// A checkpoint taken beside the writers, then opened read-only and
    /// read whole.
    Checkpointed {
        /// The seqno the checkpoint reported.
        seqno: SeqNo,
        /// The last seqno its read-only open found.
        last: SeqNo,
        /// Everything read from it.
        items: Pairs,
    },
    /// A transaction: what it read at its snapshot, and how its commit
    /// ended.
    Txn {
        /// Its snapshot's seqno.
        snapshot: SeqNo,
        /// Serializable, or snapshot isolation.
        serializable: bool,
        /// What it read from the snapshot.
        reads: TxnReads,
        /// How its commit ended.
        outcome: TxnOutcome,
    },
    /// A flush, compaction, close or pause that succeeded.
    Done,
}

/// How a transaction's commit ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TxnOutcome {
    /// It wrote `ops` (in key order, the engine's batch order) ending at
    /// `seqno`.
    Committed {
        /// Its writes.
        ops: Vec<Op>,
        /// The seqno returned (its last write's).
        seqno: SeqNo,
        /// Asked for `WriteOptions::DURABLE`.
        durable: bool,
        /// A WAL sync completed during the commit.
        synced_during: bool,
    },
    /// It wrote nothing; the commit returned `seqno`.
    ReadOnly {
        /// The seqno returned (must be the snapshot's).
        seqno: SeqNo,
    },
    /// Refused with `Conflict`.
    Conflict {
        /// The kind.
        kind: ConflictKind,
        /// The key it names.
        key: Vec<u8>,
        /// The seqno it names.
        seqno: SeqNo,
    },
}

/// A judgement against a call: (thread, index, message).
pub type Blame = (usize, usize, String);

/// What the round's writes add up to.
#[derive(Debug)]
pub struct Writes {
    /// The writes for the oracle.
    pub round: RoundWrites,
    /// The highest seqno acknowledged `Durable` (0 if none).
    pub durable_max: SeqNo,
    /// Some call failed (the round ends in a restart).
    pub failed: bool,
}

/// Collects the round's writes, checking that every error was excused and
/// that no `Durable` write was acknowledged without a WAL sync during its
/// call.
pub fn round_writes(base: SeqNo, calls: &[Call]) -> Result<Writes, Blame> {
    let mut w = Writes {
        round: RoundWrites::new(base),
        durable_max: 0,
        failed: false,
    };
    for c in calls {
        let blame = |m: String| (c.thread, c.index, m);
        match &c.seen {
            Seen::Written {
                ops,
                durable,
                seqno,
                synced_during,
            }
            | Seen::Txn {
                outcome:
                    TxnOutcome::Committed {
                        ops,
                        seqno,
                        durable,
                        synced_during,
                    },
                ..
            } => {
                if *durable && !synced_during {
                    return Err(blame(format!(
                        "a durable write was acknowledged with seqno {seqno} but no WAL \
                         sync completed during the call"
                    )));
                }
                if *durable {
                    w.durable_max = w.durable_max.max(*seqno);
                }
                w.round.acked(*seqno, ops.clone()).map_err(blame)?;
            }
            Seen::WriteFailed {
                ops,
                refused,
                excused,
                error,
            } => {
                if !excused {
                    return Err(blame(format!(
                        "write failed with no fault injected: {error}"
                    )));
                }
                w.failed = true;
                if !refused {
                    w.round.unknown(ops.clone());
                }
            }
            Seen::Failed {
                what,
                excused,
                error,
            } => {
                if !excused {
                    return Err(blame(format!(
                        "{what} failed with no fault injected: {error}"
                    )));
                }
                w.failed = true;
            }
            _ => {}
        }
    }
    Ok(w)
}

/// Checks every read of the round against `model`, which holds every write
/// up to seqno `known`. Returns the number of reads checked.
pub fn check_reads(model: &KvModel, known: SeqNo, calls: &[Call]) -> Result<u64, Blame> {
    let mut checked = 0;
    for c in calls {
        let blame = |m: String| (c.thread, c.index, m);
        match &c.seen {
            Seen::Got { key, value } => {
                let found = c
                    .window
                    .find(known, |s| model.get_at(key, s) == value.as_deref())
                    .map_err(blame)?;
                if found.is_none() {
                    return Err(blame(format!(
                        "get {} returned {}, which the model holds at no seqno in {}..={}",
                        Show(key),
                        show_value(value.as_deref()),
                        c.window.lo,
                        c.window.hi
                    )));
                }
                checked += 1;
            }
            Seen::Scanned {
                lo,
                hi,
                scan,
                limit,
                items,
            } => {
                let found = c
                    .window
                    .find(known, |s| {
                        &expected_scan(model, lo, hi, *scan, *limit, s) == items
                    })
                    .map_err(blame)?;
                if found.is_none() {
                    let at = c.window.hi.min(known);
                    let want = expected_scan(model, lo, hi, *scan, *limit, at);
                    return Err(blame(format!(
                        "range {lo} .. {hi} {scan:?} limit={limit} read {} items, which \
                         match the model at no seqno in {}..={} (at {at}: {})",
                        items.len(),
                        c.window.lo,
                        c.window.hi,
                        first_difference(&want, items)
                    )));
                }
                checked += 1;
            }
            Seen::Snapshot { seqno, gets, items } => {
                pinned_in_window(c, known, *seqno, "snapshot").map_err(blame)?;
                for (key, value) in gets {
                    let want = model.get_at(key, *seqno);
                    if want != value.as_deref() {
                        return Err(blame(format!(
                            "snapshot at {seqno}: get {} returned {}, the model holds {}",
                            Show(key),
                            show_value(value.as_deref()),
                            show_value(want)
                        )));
                    }
                }
                let want = expected_scan(
                    model,
                    &KeyBound::Unbounded,
                    &KeyBound::Unbounded,
                    Scan::Forward,
                    u32::MAX,
                    *seqno,
                );
                if &want != items {
                    return Err(blame(format!(
                        "snapshot at {seqno}: full range differs from the model: {}",
                        first_difference(&want, items)
                    )));
                }
                checked += 1 + gets.len() as u64;
            }
            Seen::CursorWalk {
                seqno,
                start,
                moves,
                n,
                positions,
            } => {
                pinned_in_window(c, known, *seqno, "cursor").map_err(blame)?;
                let want = expected_cursor_walk(model, *seqno, start, *moves, *n);
                if &want != positions {
                    return Err(blame(format!(
                        "cursor at {seqno} from {start:?}, moves {moves:#x}: {}",
                        walk_difference(&want, positions)
                    )));
                }
                checked += positions.len() as u64;
            }
            Seen::MultiGot { keys, values } => {
                let found = c
                    .window
                    .find(known, |s| {
                        keys.iter()
                            .zip(values)
                            .all(|(k, v)| model.get_at(k, s) == v.as_deref())
                    })
                    .map_err(blame)?;
                if found.is_none() || keys.len() != values.len() {
                    return Err(blame(format!(
                        "multi_get of {} keys returned {} values, which the model holds \
                         together at no seqno in {}..={}",
                        keys.len(),
                        values.len(),
                        c.window.lo,
                        c.window.hi
                    )));
                }
                checked += keys.len() as u64;
            }
            Seen::Prefixed {
                prefix,
                reverse,
                items,
            } => {
                let found = c
                    .window
                    .find(known, |s| {
                        &expected_prefix(model, prefix, *reverse, s) == items
                    })
                    .map_err(blame)?;
                if found.is_none() {
                    let at = c.window.hi.min(known);
                    let want = expected_prefix(model, prefix, *reverse, at);
                    return Err(blame(format!(
                        "prefix {} read {} items, which match the model at no seqno in \
                         {}..={} (at {at}: {})",
                        Show(prefix),
                        items.len(),
                        c.window.lo,
                        c.window.hi,
                        first_difference(&want, items)
                    )));
                }
                checked += 1;
            }
            Seen::FirstLast { first, last } => {
                for (what, got, reverse) in [("first", first, false), ("last", last, true)] {
                    let found = c
                        .window
                        .find(known, |s| &end_entry(model, reverse, s) == got)
                        .map_err(blame)?;
                    if found.is_none() {
                        return Err(blame(format!(
                            "{what} entry {:?}: the model holds it at no seqno in {}..={}",
                            got.as_ref().map(|(k, _)| Show(k).to_string()),
                            c.window.lo,
                            c.window.hi
                        )));
                    }
                }
                checked += 2;
            }
            Seen::ReadOnly { last, items } => {
                whole_state_at(model, known, c, "read-only open", *last, items).map_err(blame)?;
                checked += 1;
            }
            Seen::Checkpointed { seqno, last, items } => {
                if last != seqno {
                    return Err(blame(format!(
                        "checkpoint reported seqno {seqno} but opens at {last}"
                    )));
                }
                whole_state_at(model, known, c, "checkpoint", *seqno, items).map_err(blame)?;
                checked += 1;
            }
            Seen::Txn {
                snapshot,
                serializable,
                reads,
                outcome,
            } => {
                check_txn(model, known, c, *snapshot, *serializable, reads, outcome)
                    .map_err(blame)?;
                checked += 1;
            }
            Seen::Properties { last_seqno, wrong } => {
                pinned_in_window(c, known, *last_seqno, "properties").map_err(blame)?;
                if !wrong.is_empty() {
                    return Err(blame(format!("properties: {}", wrong.join("; "))));
                }
                checked += 1;
            }
            _ => {}
        }
    }
    Ok(checked)
}

/// A transaction (rules in `strata_models::TxnReads`' module): its
/// snapshot was taken during the call, its reads are the state there; a
/// committed serializable one's reads are also the state just before its
/// first write (its serialization point); a committed snapshot-isolation
/// one's written keys were not written between its snapshot and its
/// first write; a refusal names a write the model has after the snapshot
/// (the history bound is far above a round's writes here).
fn check_txn(
    model: &KvModel,
    known: SeqNo,
    c: &Call,
    snapshot: SeqNo,
    serializable: bool,
    reads: &TxnReads,
    outcome: &TxnOutcome,
) -> Result<(), String> {
    pinned_in_window(c, known, snapshot, "transaction")?;
    model
        .check_reads_at(reads, snapshot)
        .map_err(|e| format!("transaction at snapshot {snapshot}: {e}"))?;
    match outcome {
        // A commit past what the model holds (lost in a power loss with
        // the writes before it) has no serialization point to check.
        TxnOutcome::Committed { seqno, .. } if *seqno > known => {}
        TxnOutcome::Committed { ops, seqno, .. } => {
            let point = seqno - ops.len() as u64;
            if serializable {
                model.check_reads_at(reads, point).map_err(|e| {
                    format!(
                        "serializable transaction (snapshot {snapshot}) committed at {seqno}, \
                         but its reads are not the state at its serialization point {point}: {e}"
                    )
                })?;
            } else if let Some((k, q)) =
                model.first_write_into(ops.iter().map(Op::key), std::iter::empty(), snapshot, point)
            {
                return Err(format!(
                    "snapshot-isolation transaction (snapshot {snapshot}) committed at {seqno}, \
                     but {} which it writes was written at {q} in between",
                    Show(&k)
                ));
            }
        }
        TxnOutcome::ReadOnly { seqno } => {
            if *seqno != snapshot {
                return Err(format!(
                    "a transaction that wrote nothing committed at {seqno}, not its snapshot {snapshot}"
                ));
            }
        }
        TxnOutcome::Conflict { kind, key, seqno } => {
            let want = if serializable {
                ConflictKind::ReadChanged
            } else {
                ConflictKind::WriteWrite
            };
            let unknown = *seqno > known;
            if *kind != want || *seqno <= snapshot || !(unknown || model.wrote(key, *seqno)) {
                return Err(format!(
                    "transaction (snapshot {snapshot}) refused with {kind:?} naming {} at \
                     {seqno}, which is no write of that key after its snapshot",
                    Show(key)
                ));
            }
        }
    }
    Ok(())
}

/// A whole state read at `at` (a read-only open's, a checkpoint's): every
/// write acknowledged before the call began is in it, and writes that
/// reached the WAL but were not yet acknowledged may be too, up to the end
/// of the round; `at` is a write boundary and the state the model's there.
fn whole_state_at(
    model: &KvModel,
    known: SeqNo,
    c: &Call,
    what: &str,
    at: SeqNo,
    items: &Pairs,
) -> Result<(), String> {
    if at < c.window.lo || at > known || !model.is_boundary(at) {
        return Err(format!(
            "{what} at seqno {at}: not a write boundary from the call's start {} to {known}",
            c.window.lo
        ));
    }
    let all = KeyBound::Unbounded;
    let want = expected_scan(model, &all, &all, Scan::Forward, u32::MAX, at);
    if &want != items {
        return Err(format!(
            "{what} at seqno {at}: state differs from the model: {}",
            first_difference(&want, items)
        ));
    }
    Ok(())
}

/// The model's first (or, `reverse`, last) entry at seqno `at`.
fn end_entry(model: &KvModel, reverse: bool, at: SeqNo) -> Option<(Vec<u8>, Vec<u8>)> {
    let scan = if reverse {
        Scan::Reverse
    } else {
        Scan::Forward
    };
    let all = KeyBound::Unbounded;
    expected_scan(model, &all, &all, scan, 1, at).pop()
}

/// A read pinned at `seqno` (a snapshot's, a cursor's) must have taken it
/// while the call ran: `seqno` lies in the call's window.
fn pinned_in_window(c: &Call, known: SeqNo, seqno: SeqNo, what: &str) -> Result<(), String> {
    if c.window.candidates(known)?.any(|s| s == seqno) {
        return Ok(());
    }
    Err(format!(
        "{what} at seqno {seqno}, outside its window {}..={}",
        c.window.lo, c.window.hi
    ))
}

fn show_value(v: Option<&[u8]>) -> String {
    v.map_or("<absent>".into(), |v| {
        format!("{} ({} bytes)", Show(v), v.len())
    })
}

/// Where two scan results first differ.
fn first_difference(want: &Pairs, got: &Pairs) -> String {
    let i = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    let show = |p: Option<&(Vec<u8>, Vec<u8>)>| {
        p.map_or("<end>".to_string(), |(k, v)| {
            format!("{}={} bytes", Show(k), v.len())
        })
    };
    format!(
        "item {i}: model {}, engine {} ({} vs {} items)",
        show(want.get(i)),
        show(got.get(i)),
        want.len(),
        got.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put(k: &str, v: &str) -> Op {
        Op::Put {
            key: k.as_bytes().to_vec(),
            value: v.as_bytes().to_vec(),
        }
    }

    fn call(thread: usize, lo: SeqNo, hi: SeqNo, seen: Seen) -> Call {
        Call {
            thread,
            index: 0,
            window: Window { lo, hi },
            seen,
        }
    }

    fn written(seqno: SeqNo, op: Op, durable: bool, synced_during: bool) -> Seen {
        Seen::Written {
            ops: vec![op],
            durable,
            seqno,
            synced_during,
        }
    }

    #[test]
    fn a_durable_ack_without_a_sync_is_blamed() {
        let calls = [
            call(0, 0, 1, written(1, put("a", "1"), true, true)),
            call(1, 0, 2, written(2, put("b", "1"), true, false)),
        ];
        let (t, _, m) = round_writes(0, &calls).unwrap_err();
        assert_eq!(t, 1);
        assert!(m.contains("no WAL sync"), "{m}");
    }

    #[test]
    fn reads_must_fall_inside_their_windows() {
        let calls = [
            call(0, 0, 1, written(1, put("a", "1"), false, false)),
            call(1, 1, 2, written(2, put("a", "2"), false, false)),
        ];
        let w = round_writes(0, &calls).unwrap();
        let mut m = KvModel::new();
        w.round.complete(&mut m).unwrap();
        let get = |lo, hi, v: Option<&str>| {
            call(
                2,
                lo,
                hi,
                Seen::Got {
                    key: b"a".to_vec(),
                    value: v.map(|v| v.as_bytes().to_vec()),
                },
            )
        };
        assert_eq!(
            check_reads(&m, 2, &[get(0, 1, None), get(1, 2, Some("2"))]),
            Ok(2)
        );
        // "1" was overwritten at seqno 2, before this read started.
        assert!(check_reads(&m, 2, &[get(2, 2, Some("1"))]).is_err());
        let scan = |items: Pairs| {
            call(
                3,
                1,
                2,
                Seen::Scanned {
                    lo: KeyBound::Unbounded,
                    hi: KeyBound::Unbounded,
                    scan: Scan::Forward,
                    limit: 10,
                    items,
                },
            )
        };
        let a = |v: &str| vec![(b"a".to_vec(), v.as_bytes().to_vec())];
        assert_eq!(check_reads(&m, 2, &[scan(a("1")), scan(a("2"))]), Ok(2));
        assert!(check_reads(&m, 2, &[scan(Vec::new())]).is_err());
    }

    #[test]
    fn an_unexcused_error_is_blamed_and_an_excused_one_is_unknown() {
        let failed = |excused| Seen::WriteFailed {
            ops: vec![put("a", "1")],
            refused: false,
            excused,
            error: "io".into(),
        };
        assert!(round_writes(0, &[call(0, 0, 0, failed(false))]).is_err());
        let w = round_writes(0, &[call(0, 0, 0, failed(true))]).unwrap();
        assert!(w.failed);
        let state = [(b"a".to_vec(), b"1".to_vec())].into_iter().collect();
        let res = w.round.resolve(&mut KvModel::new(), 1, &state, 0).unwrap();
        assert_eq!(res.unknown_landed, 1);
    }
}
