//! The oracle for concurrent histories.
//!
//! When several threads write at once, the order of their calls in real
//! time says little; the sequence numbers the engine returns say
//! everything: they order all writes totally. So a round of concurrent calls
//! is checked in time linear in its length (plus a small search, below):
//!
//! 1. Every acknowledged write names its last seqno; with its op count that
//!    gives its seqno range. Ranges must not overlap and must lie above the
//!    model's last seqno ([`RoundWrites::acked`]).
//! 2. Writes whose outcome is unknown (the call failed, or the process died
//!    inside it) have no known seqno. The engine fails a whole commit group
//!    at once and accepts no write after it, so there are few of them (one
//!    group). Where the recovered database holds seqnos no acknowledged
//!    write owns, the oracle searches for an order of unknown writes that
//!    tiles those gaps exactly and gives the recovered state
//!    ([`RoundWrites::resolve`]); with no recovery there must be no gap
//!    ([`RoundWrites::complete`]).
//! 3. The model, extended with the round's writes in seqno order, then
//!    answers for every read: a `get` or an iterator must equal the model at
//!    one seqno inside the window between the engine's visible seqno when
//!    the call started and when it returned ([`Window`]); a snapshot is
//!    exact at its own seqno.
//!
//! After a power loss the recovered seqno must be at least the highest
//! seqno acknowledged `Durable` (syncs cover everything before them); after
//! a process crash or a clean close, at least the highest acknowledged.

use std::collections::BTreeMap;

use crate::{KvModel, Op, SeqNo, Show, State};

/// Tilings of the gaps tried before the oracle gives up.
const TILINGS_MAX: usize = 4096;

/// The writes of one round of concurrent calls.
#[derive(Clone, Debug, Default)]
pub struct RoundWrites {
    /// The model's last seqno when the round started.
    base: SeqNo,
    /// Acknowledged writes by first seqno.
    acked: BTreeMap<SeqNo, Vec<Op>>,
    /// Writes whose outcome is unknown.
    unknown: Vec<Vec<Op>>,
}

/// The round's writes laid out in seqno order, as far as they are known.
#[derive(Clone, Debug)]
pub struct Resolution {
    /// The last seqno up to which the model now holds every write.
    pub known: SeqNo,
    /// Unknown writes the recovered state holds.
    pub unknown_landed: usize,
}

impl RoundWrites {
    /// A round starting after seqno `base`.
    pub fn new(base: SeqNo) -> Self {
        RoundWrites {
            base,
            ..Self::default()
        }
    }

    /// Records a write of `ops` the engine acknowledged with seqno `last`.
    pub fn acked(&mut self, last: SeqNo, ops: Vec<Op>) -> Result<(), String> {
        let n = ops.len() as u64;
        if n == 0 || last < n || last - n < self.base {
            return Err(format!(
                "a write of {n} ops acknowledged with seqno {last}, at or below \
                 the last seqno before the round ({})",
                self.base
            ));
        }
        let first = last - n + 1;
        if let Some((&f, prev)) = self.acked.range(..=last).next_back() {
            let prev_last = f + prev.len() as u64 - 1;
            if prev_last >= first {
                return Err(format!(
                    "two writes acknowledged with overlapping seqnos: {f}..={prev_last} \
                     and {first}..={last}"
                ));
            }
        }
        self.acked.insert(first, ops);
        Ok(())
    }

    /// Records a write whose outcome is unknown.
    pub fn unknown(&mut self, ops: Vec<Op>) {
        if !ops.is_empty() {
            self.unknown.push(ops);
        }
    }

    /// The highest acknowledged seqno (the base when none).
    pub fn acked_max(&self) -> SeqNo {
        self.acked
            .iter()
            .next_back()
            .map_or(self.base, |(f, ops)| f + ops.len() as u64 - 1)
    }

    /// Writes acknowledged in the round.
    pub fn acked_count(&self) -> usize {
        self.acked.len()
    }

    /// A round that ended without a failure: every seqno up to the highest
    /// acknowledged belongs to an acknowledged write. Applies them to
    /// `model` (whose last seqno must be the round's base).
    pub fn complete(&self, model: &mut KvModel) -> Result<Resolution, String> {
        if let Some(gap) = self.gaps(self.acked_max()).first() {
            return Err(format!(
                "seqnos {}..={} were handed out but no write was acknowledged with them",
                gap.0, gap.1
            ));
        }
        self.apply_known(model, &[]);
        Ok(Resolution {
            known: model.last_seqno(),
            unknown_landed: 0,
        })
    }

    /// A round that ended in a death or a failure, after which the engine
    /// recovered `state` with last seqno `last`; `must_have` is the highest
    /// seqno that had to survive. Extends `model` with every write known up
    /// to the first hole (possibly past `last`: acknowledged writes a power
    /// loss dropped are still needed to judge the round's reads); the caller
    /// cuts it back to `last` afterwards.
    pub fn resolve(
        &self,
        model: &mut KvModel,
        last: SeqNo,
        state: &State,
        must_have: SeqNo,
    ) -> Result<Resolution, String> {
        self.resolve_checked(model, last, state, must_have, &mut |_, _| Ok(()))
            .map(|(res, ())| res)
            .map_err(|e| match e {
                Unresolved::State(m) | Unresolved::Check(m) => m,
            })
    }

    /// [`RoundWrites::resolve`], where an order of the unknown writes must
    /// also pass `check` (given the model extended by that order and its
    /// last known seqno): the round's reads may reveal the order the
    /// recovered state leaves open (a read-only open that saw one failed
    /// write's records but not a later one's), so each order that matches
    /// the recovered state is tried until one passes. Returns the first
    /// check's error when none does.
    pub fn resolve_checked<T>(
        &self,
        model: &mut KvModel,
        last: SeqNo,
        state: &State,
        must_have: SeqNo,
        check: &mut dyn FnMut(&KvModel, SeqNo) -> Result<T, String>,
    ) -> Result<(Resolution, T), Unresolved> {
        let state_err = |m: String| Err(Unresolved::State(m));
        if last < must_have {
            return state_err(format!(
                "recovered up to seqno {last}, but seqno {must_have} was acknowledged \
                 and had to survive"
            ));
        }
        if last <= self.base {
            // A power loss took the whole round and maybe earlier writes:
            // the model before the round must hold the recovered state.
            self.apply_known(model, &[]);
            let want = model.state_at(last);
            if &want != state {
                return state_err(format!(
                    "recovered state at seqno {last} (before the round, which started \
                     after {}) differs from the model: {}",
                    self.base,
                    describe_difference(&want, state)
                ));
            }
            let checked = check(model, model.last_seqno()).map_err(Unresolved::Check)?;
            let res = Resolution {
                known: model.last_seqno(),
                unknown_landed: 0,
            };
            return Ok((res, checked));
        }
        if let Some((&f, ops)) = self.acked.range(..=last).next_back() {
            let l = f + ops.len() as u64 - 1;
            if l > last {
                return state_err(format!(
                    "recovered up to seqno {last}, inside the batch {f}..={l}: \
                     a batch must land whole or not at all"
                ));
            }
        }
        let gaps = self.gaps(last);
        let mut tilings = Vec::new();
        let mut used = vec![false; self.unknown.len()];
        self.tile(&gaps, 0, 0, &mut Vec::new(), &mut used, &mut tilings);
        if tilings.is_empty() {
            let (a, b) = gaps.first().copied().unwrap_or((0, 0));
            return state_err(format!(
                "recovered up to seqno {last}, but seqnos {a}..={b} belong to no \
                 acknowledged write, and no order of the {} writes whose outcome \
                 is unknown fills them",
                self.unknown.len()
            ));
        }
        let mut first_mismatch = None;
        let mut first_check_error = None;
        for tiling in &tilings {
            self.apply_known(model, tiling);
            let got = model.state_at(last);
            if &got == state {
                match check(model, model.last_seqno()) {
                    Ok(checked) => {
                        let res = Resolution {
                            known: model.last_seqno(),
                            unknown_landed: tiling.len(),
                        };
                        return Ok((res, checked));
                    }
                    Err(e) => {
                        first_check_error.get_or_insert(e);
                    }
                }
            } else if first_mismatch.is_none() {
                first_mismatch = Some(describe_difference(&got, state));
            }
            model.truncate_to(self.base);
        }
        if let Some(e) = first_check_error {
            return Err(Unresolved::Check(e));
        }
        state_err(format!(
            "recovered state at seqno {last} matches no order of the round's writes \
             ({} tried); first try: {}",
            tilings.len(),
            first_mismatch.unwrap_or_default()
        ))
    }

    /// The seqno ranges in `base+1..=upto` no acknowledged write owns.
    fn gaps(&self, upto: SeqNo) -> Vec<(SeqNo, SeqNo)> {
        let mut gaps = Vec::new();
        let mut next = self.base + 1;
        for (&f, ops) in self.acked.range(..=upto) {
            if f > next {
                gaps.push((next, f - 1));
            }
            next = f + ops.len() as u64;
        }
        if next <= upto {
            gaps.push((next, upto));
        }
        gaps
    }

    /// Every way (up to a bound) to fill `gaps` exactly with unused unknown
    /// writes: lists of (first seqno, index of the unknown write).
    fn tile(
        &self,
        gaps: &[(SeqNo, SeqNo)],
        gap: usize,
        filled: u64,
        chosen: &mut Vec<(SeqNo, usize)>,
        used: &mut [bool],
        out: &mut Vec<Vec<(SeqNo, usize)>>,
    ) {
        if out.len() >= TILINGS_MAX {
            return;
        }
        let Some(&(a, b)) = gaps.get(gap) else {
            out.push(chosen.clone());
            return;
        };
        let len = b - a + 1;
        if filled == len {
            self.tile(gaps, gap + 1, 0, chosen, used, out);
            return;
        }
        for i in 0..self.unknown.len() {
            let n = self.unknown[i].len() as u64;
            if used[i] || filled + n > len {
                continue;
            }
            used[i] = true;
            chosen.push((a + filled, i));
            self.tile(gaps, gap, filled + n, chosen, used, out);
            chosen.pop();
            used[i] = false;
        }
    }

    /// Applies the acknowledged writes and the `placed` unknown ones to
    /// `model` in seqno order, stopping at the first seqno nobody owns.
    fn apply_known(&self, model: &mut KvModel, placed: &[(SeqNo, usize)]) {
        let mut by_first: BTreeMap<SeqNo, &Vec<Op>> =
            self.acked.iter().map(|(f, ops)| (*f, ops)).collect();
        for &(f, i) in placed {
            by_first.insert(f, &self.unknown[i]);
        }
        for (f, ops) in by_first {
            if f != model.last_seqno() + 1 {
                break;
            }
            model.apply(ops.clone());
        }
    }
}

/// Why [`RoundWrites::resolve_checked`] found no order of a round's writes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unresolved {
    /// No order matches the recovered state.
    State(String),
    /// Orders match it, but every one failed the check (the first error).
    Check(String),
}

/// The first key where two states differ, for a failure message.
pub fn describe_difference(want: &State, got: &State) -> String {
    let key = want
        .keys()
        .chain(got.keys())
        .filter(|k| want.get(*k) != got.get(*k))
        .min();
    match key {
        None => "no difference".into(),
        Some(k) => {
            let show = |v: Option<&Vec<u8>>| {
                v.map_or("<absent>".to_string(), |v| format!("{} bytes", v.len()))
            };
            format!(
                "key {}: model {}, engine {}",
                Show(k),
                show(want.get(k)),
                show(got.get(k))
            )
        }
    }
}

/// The seqnos a read may have been served at: from the engine's visible
/// seqno when the call started to the one when it returned, cut at the last
/// seqno the model knows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Window {
    /// Visible seqno read before the call.
    pub lo: SeqNo,
    /// Visible seqno read after it returned.
    pub hi: SeqNo,
}

impl Window {
    /// The candidate seqnos, newest first (a read is most often served at
    /// the end of its window), or an error if the read started beyond what
    /// the model knows.
    pub fn candidates(&self, known: SeqNo) -> Result<impl Iterator<Item = SeqNo>, String> {
        if self.lo > self.hi {
            return Err(format!(
                "the visible seqno went back from {} to {} during a call",
                self.lo, self.hi
            ));
        }
        if self.lo > known {
            return Err(format!(
                "a read started at visible seqno {}, beyond seqno {known}, the last one \
                 an acknowledged (or recovered) write accounts for",
                self.lo
            ));
        }
        Ok((self.lo..=self.hi.min(known)).rev())
    }

    /// The first candidate seqno at which `matches` holds.
    pub fn find(
        &self,
        known: SeqNo,
        mut matches: impl FnMut(SeqNo) -> bool,
    ) -> Result<Option<SeqNo>, String> {
        Ok(self.candidates(known)?.find(|&s| matches(s)))
    }
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

    fn state(pairs: &[(&str, &str)]) -> State {
        pairs
            .iter()
            .map(|(k, v)| (k.as_bytes().to_vec(), v.as_bytes().to_vec()))
            .collect()
    }

    #[test]
    fn acked_writes_out_of_call_order_apply_in_seqno_order() {
        let mut r = RoundWrites::new(0);
        r.acked(3, vec![put("a", "3")]).unwrap();
        r.acked(2, vec![put("b", "1"), put("a", "2")]).unwrap();
        let mut m = KvModel::new();
        assert_eq!(r.complete(&mut m).unwrap().known, 3);
        assert_eq!(m.get(b"a"), Some(&b"3"[..]));
        assert_eq!(m.get_at(b"a", 2), Some(&b"2"[..]));
    }

    #[test]
    fn overlaps_and_holes_are_reported() {
        let mut r = RoundWrites::new(0);
        r.acked(2, vec![put("a", "1"), put("a", "2")]).unwrap();
        assert!(r.acked(2, vec![put("b", "1")]).is_err(), "overlap");
        r.acked(4, vec![put("c", "1")]).unwrap();
        let err = r.complete(&mut KvModel::new()).unwrap_err();
        assert!(err.contains("3..=3"), "{err}");
    }

    /// Two failed writes to different keys recovered whole leave their order
    /// open; a read that saw the state after only one of them (seqno 1 with
    /// `b` and not `a`) decides it. The check is tried on each order the
    /// recovered state allows and the passing one is kept; when none
    /// passes, the first check's error is returned as such.
    #[test]
    fn the_reads_choose_among_the_orders_the_recovered_state_allows() {
        let mut r = RoundWrites::new(0);
        r.unknown(vec![put("a", "1")]);
        r.unknown(vec![put("b", "1")]);
        let recovered = state(&[("a", "1"), ("b", "1")]);
        let saw_b_first = |m: &KvModel, known: SeqNo| {
            assert_eq!(known, 2);
            if m.state_at(1) == state(&[("b", "1")]) {
                Ok(7)
            } else {
                Err("the read at seqno 1 saw b alone".to_string())
            }
        };
        let mut m = KvModel::new();
        let (res, got) = r
            .resolve_checked(&mut m, 2, &recovered, 0, &mut { saw_b_first })
            .unwrap();
        assert_eq!((res.known, res.unknown_landed, got), (2, 2, 7));
        assert_eq!(
            m.get_at(b"a", 1),
            None,
            "the model keeps the order that passed"
        );
        assert_eq!(m.get_at(b"b", 1), Some(&b"1"[..]));

        let mut m = KvModel::new();
        let err = r
            .resolve_checked(&mut m, 2, &recovered, 0, &mut |_, _| {
                Err::<(), _>("no order".to_string())
            })
            .unwrap_err();
        assert_eq!(err, Unresolved::Check("no order".into()));
        let err = r
            .resolve_checked(&mut m, 2, &state(&[("a", "2")]), 0, &mut |_, _| Ok(()))
            .unwrap_err();
        assert!(matches!(err, Unresolved::State(_)), "{err:?}");
    }

    #[test]
    fn unknown_writes_fill_the_recovered_gap_in_the_order_that_matches() {
        let mut r = RoundWrites::new(0);
        r.acked(1, vec![put("a", "1")]).unwrap();
        r.unknown(vec![put("x", "u1")]);
        r.unknown(vec![put("x", "u2")]);
        // Recovered 3 seqnos; the second unknown write landed last.
        let got = state(&[("a", "1"), ("x", "u2")]);
        let mut m = KvModel::new();
        let res = r.resolve(&mut m, 3, &got, 1).unwrap();
        assert_eq!(res.unknown_landed, 2);
        assert_eq!(m.get_at(b"x", 2), Some(&b"u1"[..]));
        // A state no order explains fails.
        let bad = state(&[("a", "1"), ("x", "zz")]);
        assert!(r.resolve(&mut KvModel::new(), 3, &bad, 1).is_err());
    }

    #[test]
    fn a_durable_write_lost_or_a_torn_batch_fails() {
        let mut r = RoundWrites::new(0);
        r.acked(2, vec![put("a", "1"), put("b", "1")]).unwrap();
        let mut m = KvModel::new();
        let err = r.resolve(&mut m, 0, &State::new(), 2).unwrap_err();
        assert!(err.contains("had to survive"), "{err}");
        let err = r
            .resolve(&mut KvModel::new(), 1, &state(&[("a", "1")]), 0)
            .unwrap_err();
        assert!(err.contains("whole"), "{err}");
        // A power loss may drop the buffered batch whole; the model still
        // knows it for judging reads.
        let res = r.resolve(&mut m, 0, &State::new(), 0).unwrap();
        assert_eq!(res.known, 2);
    }

    #[test]
    fn windows_are_cut_at_what_is_known() {
        let w = Window { lo: 3, hi: 9 };
        assert_eq!(w.candidates(5).unwrap().collect::<Vec<_>>(), vec![5, 4, 3]);
        assert!(Window { lo: 6, hi: 9 }.candidates(5).is_err());
        assert_eq!(w.find(9, |s| s % 4 == 0).unwrap(), Some(8));
    }
}
