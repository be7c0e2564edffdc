//! The crash oracle.
//!
//! After a crash the recovered state must equal the model's state after some
//! prefix of the write history that (a) ends at a write boundary (batches are
//! atomic, no holes) and (b) contains every write acknowledged durable before
//! the crash (its last seqno >= the durable mark).
//!
//! The search is incremental: starting from the state at the durable mark, it
//! applies one write at a time and keeps the set of keys on which the model
//! and the recovered state disagree; a prefix is acceptable when that set is
//! empty. Cost: O(history + keys · log keys), whatever the number of
//! candidates.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use crate::{SeqNo, Show, State, Write};

/// A successful check.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Acceptance {
    /// The accepted prefix: every write with last seqno <= this survived.
    pub prefix_last: SeqNo,
    /// Every write boundary whose state equals the recovered state.
    pub matching: Vec<SeqNo>,
}

/// Why a recovered state is not acceptable, at the candidate closest to it.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Divergence {
    /// The first key (bytewise order) that differs, if the states differ.
    pub key: Option<Vec<u8>>,
    /// The model's value of `key` at `candidate` (`None` = absent).
    pub expected: Option<Vec<u8>>,
    /// The recovered value of `key` (`None` = absent).
    pub found: Option<Vec<u8>>,
    /// The prefix the report compares against.
    pub candidate: SeqNo,
    /// The seqno range of prefixes that were considered acceptable ends:
    /// from `seqno_lo`...
    pub seqno_lo: SeqNo,
    /// ... to `seqno_hi`, inclusive.
    pub seqno_hi: SeqNo,
    /// What went wrong, in words.
    pub reason: String,
}

impl fmt::Display for Divergence {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} (prefixes considered: seqno {}..={}; compared with prefix {})",
            self.reason, self.seqno_lo, self.seqno_hi, self.candidate
        )?;
        if let Some(k) = &self.key {
            let show = |v: &Option<Vec<u8>>| match v {
                Some(v) => Show(v).to_string(),
                None => "<absent>".to_string(),
            };
            write!(
                f,
                "; first differing key {}: expected {}, found {}",
                Show(k),
                show(&self.expected),
                show(&self.found)
            )?;
        }
        Ok(())
    }
}

/// Checks recovered states against a write history.
#[derive(Clone, Copy, Debug)]
pub struct CrashOracle<'h> {
    /// The state at `base_seqno`, below which nothing can be lost any more
    /// (`None`: empty, at seqno 0).
    base: Option<&'h State>,
    base_seqno: SeqNo,
    history: &'h [Write],
}

impl<'h> CrashOracle<'h> {
    /// An oracle over `history` (oldest first, seqnos consecutive from 1).
    pub fn new(history: &'h [Write]) -> Self {
        Self {
            base: None,
            base_seqno: 0,
            history,
        }
    }

    /// An oracle over `history`, whose first write follows seqno
    /// `base_seqno`, where the state was `base` (see `KvModel::settle`).
    pub fn with_base(base: &'h State, base_seqno: SeqNo, history: &'h [Write]) -> Self {
        Self {
            base: Some(base),
            base_seqno,
            history,
        }
    }

    fn boundaries(&self) -> impl Iterator<Item = SeqNo> + '_ {
        std::iter::once(self.base_seqno).chain(self.history.iter().map(Write::last))
    }

    /// The state after every write with last seqno <= `at`.
    pub fn state_at(&self, at: SeqNo) -> State {
        let mut s = self.base.cloned().unwrap_or_default();
        for w in self.history.iter().take_while(|w| w.last() <= at) {
            apply(&mut s, w);
        }
        s
    }

    /// Decides whether `recovered` is acceptable. `durable_mark` is the
    /// highest seqno acknowledged durable before the crash (0 if none);
    /// `reported_last` is the engine's recovered last seqno, if it reports
    /// one: it must then be an acceptable prefix end itself.
    pub fn check(
        &self,
        durable_mark: SeqNo,
        recovered: &State,
        reported_last: Option<SeqNo>,
    ) -> Result<Acceptance, Divergence> {
        let candidates: Vec<SeqNo> = self.boundaries().filter(|&b| b >= durable_mark).collect();
        let hist_last = self.history.last().map_or(self.base_seqno, Write::last);
        let (lo, hi) = match (candidates.first(), candidates.last()) {
            (Some(&lo), Some(&hi)) => (lo, hi),
            _ => {
                return Err(Divergence {
                    key: None,
                    expected: None,
                    found: None,
                    candidate: hist_last,
                    seqno_lo: durable_mark,
                    seqno_hi: hist_last,
                    reason: format!(
                        "durable mark {durable_mark} is past the end of the history ({hist_last})"
                    ),
                });
            }
        };

        let (matching, diff_count) = self.matching_prefixes(lo, recovered);
        let diverge_at = |candidate: SeqNo, reason: String| {
            divergence(
                &self.state_at(candidate),
                recovered,
                candidate,
                (lo, hi),
                reason,
            )
        };

        match reported_last {
            Some(l) if matching.contains(&l) => Ok(Acceptance {
                prefix_last: l,
                matching,
            }),
            Some(l) if !candidates.contains(&l) => {
                let nearest = candidates
                    .iter()
                    .copied()
                    .min_by_key(|c| c.abs_diff(l))
                    .unwrap_or(lo);
                Err(diverge_at(
                    nearest,
                    format!(
                        "recovered last seqno {l} is not an acceptable prefix end \
                         (durable mark {durable_mark}, history ends at {hist_last}, \
                         or it falls inside a batch)"
                    ),
                ))
            }
            Some(l) => {
                let reason = if matching.is_empty() {
                    format!("recovered state matches no acceptable prefix (engine reports {l})")
                } else {
                    format!(
                        "recovered last seqno {l} disagrees with the recovered state, \
                         which matches prefix(es) {matching:?}"
                    )
                };
                Err(diverge_at(l, reason))
            }
            None => match matching.last() {
                Some(&m) => Ok(Acceptance {
                    prefix_last: m,
                    matching,
                }),
                None => {
                    // Closest candidate: fewest differing keys, earliest on ties.
                    let best = diff_count
                        .iter()
                        .min_by_key(|(s, n)| (**n, **s))
                        .map_or(lo, |(s, _)| *s);
                    Err(diverge_at(
                        best,
                        "recovered state matches no acceptable prefix".to_string(),
                    ))
                }
            },
        }
    }

    /// Walks the history from the prefix ending at `lo`, keeping the set of
    /// keys where the prefix's state and `recovered` differ. Returns the
    /// prefix ends (from `lo` on) whose state equals `recovered`, and for
    /// each prefix end the number of differing keys.
    fn matching_prefixes(
        &self,
        lo: SeqNo,
        recovered: &State,
    ) -> (Vec<SeqNo>, BTreeMap<SeqNo, usize>) {
        let mut cur = self.state_at(lo);
        let mut diff: BTreeSet<Vec<u8>> = BTreeSet::new();
        for k in cur.keys().chain(recovered.keys()) {
            if cur.get(k) != recovered.get(k) {
                diff.insert(k.clone());
            }
        }
        let mut matching = Vec::new();
        let mut diff_count: BTreeMap<SeqNo, usize> = BTreeMap::new();
        diff_count.insert(lo, diff.len());
        if diff.is_empty() {
            matching.push(lo);
        }
        for w in self.history.iter().filter(|w| w.last() > lo) {
            apply(&mut cur, w);
            for op in &w.ops {
                let k = op.key();
                if cur.get(k) != recovered.get(k) {
                    diff.insert(k.to_vec());
                } else {
                    diff.remove(k);
                }
            }
            diff_count.insert(w.last(), diff.len());
            if diff.is_empty() {
                matching.push(w.last());
            }
        }
        (matching, diff_count)
    }
}

/// The divergence between `recovered` and `expected` (the state of prefix
/// `candidate`), naming the smallest key where they differ.
fn divergence(
    expected: &State,
    recovered: &State,
    candidate: SeqNo,
    (seqno_lo, seqno_hi): (SeqNo, SeqNo),
    reason: String,
) -> Divergence {
    let first = expected
        .keys()
        .chain(recovered.keys())
        .filter(|k| expected.get(*k) != recovered.get(*k))
        .min()
        .cloned();
    Divergence {
        expected: first.as_ref().and_then(|k| expected.get(k).cloned()),
        found: first.as_ref().and_then(|k| recovered.get(k).cloned()),
        key: first,
        candidate,
        seqno_lo,
        seqno_hi,
        reason,
    }
}

fn apply(s: &mut State, w: &Write) {
    for op in &w.ops {
        match op.value() {
            Some(v) => {
                s.insert(op.key().to_vec(), v.to_vec());
            }
            None => {
                s.remove(op.key());
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{KvModel, Op};

    fn put(k: &[u8], v: &[u8]) -> Op {
        Op::Put {
            key: k.to_vec(),
            value: v.to_vec(),
        }
    }

    fn model() -> KvModel {
        let mut m = KvModel::new();
        m.put(b"a", b"1"); // 1
        m.apply(vec![put(b"b", b"2"), put(b"c", b"3")]); // 2..=3
        m.delete(b"a"); // 4
        m.put(b"d", b""); // 5
        m
    }

    #[test]
    fn accepts_every_prefix_at_or_after_the_durable_mark() {
        let m = model();
        let o = CrashOracle::new(m.history());
        for b in [1, 3, 4, 5] {
            let st = m.state_at(b);
            let acc = o.check(1, &st, Some(b)).unwrap();
            assert_eq!(acc.prefix_last, b);
            let acc = o.check(1, &st, None).unwrap();
            assert_eq!(acc.prefix_last, b);
        }
        // The empty prefix is fine with no durable write.
        assert_eq!(o.check(0, &State::new(), Some(0)).unwrap().prefix_last, 0);
    }

    #[test]
    fn rejects_lost_durable_writes_holes_and_torn_batches() {
        let m = model();
        let o = CrashOracle::new(m.history());
        // Lost a durable write: state at 3 but durable mark 4.
        let d = o.check(4, &m.state_at(3), None).unwrap_err();
        assert_eq!(d.key.as_deref(), Some(&b"a"[..]));
        assert_eq!(d.expected, None);
        assert_eq!(d.found.as_deref(), Some(&b"1"[..]));
        assert_eq!((d.seqno_lo, d.seqno_hi), (4, 5));
        // Half a batch.
        let mut torn = m.state_at(1);
        torn.insert(b"b".to_vec(), b"2".to_vec());
        let d = o.check(0, &torn, None).unwrap_err();
        assert!(d.key.is_some());
        assert!(o.check(0, &torn, Some(2)).is_err(), "2 is inside a batch");
        // A hole: write 5 survived but write 4 (delete a) did not.
        let mut hole = m.state_at(5);
        hole.insert(b"a".to_vec(), b"1".to_vec());
        let d = o.check(0, &hole, Some(5)).unwrap_err();
        assert_eq!(d.key.as_deref(), Some(&b"a"[..]));
        assert_eq!(d.candidate, 5);
        // A tombstone resurrected as an empty value.
        let mut empty = m.state_at(4);
        empty.insert(b"a".to_vec(), Vec::new());
        assert!(o.check(0, &empty, None).is_err());
        // Reported seqno disagreeing with the state.
        let d = o.check(0, &m.state_at(5), Some(3)).unwrap_err();
        assert!(d.reason.contains("disagrees"), "{d}");
        // Reported seqno past the history.
        assert!(o.check(0, &m.state_at(5), Some(9)).is_err());
    }

    #[test]
    fn ambiguous_prefixes_all_listed() {
        let mut m = KvModel::new();
        m.put(b"x", b"1");
        m.delete(b"nothing"); // state unchanged
        let o = CrashOracle::new(m.history());
        let acc = o.check(0, &m.state_at(1), None).unwrap();
        assert_eq!(acc.matching, vec![1, 2]);
        assert_eq!(acc.prefix_last, 2);
        assert_eq!(o.check(0, &m.state_at(1), Some(1)).unwrap().prefix_last, 1);
    }
}
