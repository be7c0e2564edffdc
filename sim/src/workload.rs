//! The seeded workload generator.
//!
//! A workload is a plain list of [`SimOp`]s, a pure function of
//! `(seed, length, fault mode)`. Keeping it a list (rather than generating on
//! the fly) is what lets `shrink` delete ops and re-run.
//!
//! Keys stress the ART: the empty key, chains of keys that are prefixes of
//! each other, many keys sharing a long prefix, long keys, and binary keys
//! with 0x00/0xFF bytes. Values run from empty to larger than 4 KiB; a value
//! is stored as `(len, tag)` and its bytes derived from both, so printing a
//! regression test stays short.

use std::fmt::{self, Write as _};
use std::ops::Bound;

use std::collections::BTreeMap;
use strata::{DbIter, KeyIter};

use strata_models::{covered, Dir, KvModel, ScanRead, SeqNo, State};

use crate::profile::{WorkloadKnobs, OP_KINDS};
use crate::rng::Rng;

/// How much the run injects.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum FaultMode {
    /// No crashes, no faults: clean reopens only.
    None,
    /// Process crashes and power losses.
    Crash,
    /// Crashes plus transient errors, sticky fsync failures and media faults.
    All,
}

/// A value, materialized on demand.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Val {
    /// Length in bytes.
    pub len: u32,
    /// Picks the bytes: values of equal length and tag are equal.
    pub tag: u32,
}

impl Val {
    /// The value's bytes.
    pub fn bytes(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.len as usize];
        Rng::new(u64::from(self.tag) << 32 | u64::from(self.len)).fill(&mut v);
        v
    }
}

/// One bound of a range.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum KeyBound {
    /// No bound.
    Unbounded,
    /// The key itself is in the range.
    Included(Vec<u8>),
    /// The key itself is not in the range.
    Excluded(Vec<u8>),
}

impl KeyBound {
    /// As a `std` bound.
    pub fn as_bound(&self) -> Bound<&[u8]> {
        match self {
            KeyBound::Unbounded => Bound::Unbounded,
            KeyBound::Included(k) => Bound::Included(k),
            KeyBound::Excluded(k) => Bound::Excluded(k),
        }
    }
    /// As an owned `std` bound.
    pub fn to_bound(&self) -> Bound<Vec<u8>> {
        match self {
            KeyBound::Unbounded => Bound::Unbounded,
            KeyBound::Included(k) => Bound::Included(k.clone()),
            KeyBound::Excluded(k) => Bound::Excluded(k.clone()),
        }
    }
}

/// How a range is read.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Scan {
    /// `next` only: ascending keys.
    Forward,
    /// `next_back` only: descending keys.
    Reverse,
    /// Alternating `next` and `next_back` on one iterator, reading the
    /// borrowed items (`next_ref`, `next_back_ref`).
    ZigZag,
    /// Keys only (`DbIter::keys_only`), alternating ends like `ZigZag`;
    /// its items carry empty values.
    Keys,
}

/// One simulated operation.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum SimOp {
    /// `Db::put`.
    Put {
        /// The key written.
        key: Vec<u8>,
        /// Its new value.
        value: Val,
        /// Synced before it returns (`WriteOptions::DURABLE`), or buffered.
        durable: bool,
    },
    /// `Db::delete`.
    Delete {
        /// The key deleted.
        key: Vec<u8>,
        /// Synced before it returns, or buffered.
        durable: bool,
    },
    /// `Db::write` of a batch, applied all or nothing.
    Batch {
        /// Puts and deletes (`None` = delete), in order.
        ops: Vec<(Vec<u8>, Option<Val>)>,
        /// Synced before it returns, or buffered.
        durable: bool,
    },
    /// `Db::get`, compared with the model's current state.
    Get {
        /// The key read.
        key: Vec<u8>,
    },
    /// `Db::range`, compared with the model's current state.
    Range {
        /// Lower bound.
        lo: KeyBound,
        /// Upper bound.
        hi: KeyBound,
        /// How the iterator is driven.
        scan: Scan,
        /// Items read at most.
        limit: u32,
    },
    /// Takes a snapshot (at most [`SNAPSHOTS_MAX`] live; the oldest goes).
    Snapshot,
    /// `Snapshot::get`, compared with the model at the snapshot's seqno.
    SnapshotGet {
        /// Which live snapshot (modulo their number; no-op when none).
        slot: u8,
        /// The key read.
        key: Vec<u8>,
    },
    /// `Snapshot::range`, compared with the model at the snapshot's seqno.
    SnapshotRange {
        /// Which live snapshot (modulo their number; no-op when none).
        slot: u8,
        /// Lower bound.
        lo: KeyBound,
        /// Upper bound.
        hi: KeyBound,
        /// How the iterator is driven.
        scan: Scan,
        /// Items read at most.
        limit: u32,
    },
    /// Drops a live snapshot.
    DropSnapshot {
        /// Which live snapshot (modulo their number; no-op when none).
        slot: u8,
    },
    /// Clean `close` then `open`.
    Reopen,
    /// Drop without close (process crash), page cache kept, then open.
    ProcessCrash,
    /// Power loss `after_io` I/O calls from now (0 = now, while idle).
    PowerLoss {
        /// I/O calls from now until the one that dies.
        after_io: u32,
    },
    /// The process dies inside the I/O call `after_io` calls from now; the
    /// page cache survives.
    ProcessKill {
        /// I/O calls from now until the one that dies (0 counts as 1).
        after_io: u32,
    },
    /// Tries a second open of the same directory: must be `Locked`.
    LockProbe,
    /// `Db::flush`: freeze the active memtable and write it out.
    Flush,
    /// Up to `n` calls of `Db::step_background` (stops at `Idle`).
    Step {
        /// Steps at most.
        n: u8,
    },
    /// `Db::compact`: background steps until idle.
    Compact,
    /// `Db::compact_range` over the bounds.
    CompactRange {
        /// Lower bound.
        lo: KeyBound,
        /// Upper bound.
        hi: KeyBound,
    },
    /// A cursor (`Db::cursor`, or a live snapshot's if `slot` is set, modulo
    /// their number), positioned by `start`, then moved by `moves` (bit i
    /// set: `next`, clear: `prev`) `n` times; every position is checked.
    Cursor {
        /// A live snapshot's cursor instead of the database's.
        slot: Option<u8>,
        /// The first positioning call.
        start: CursorStart,
        /// Directions of the moves, lowest bit first.
        moves: u32,
        /// Moves made (at most 32).
        n: u8,
    },
    /// `Db::multi_get`, compared key by key with the model.
    MultiGet {
        /// The keys read.
        keys: Vec<Vec<u8>>,
    },
    /// `Db::prefix` read whole, forward or reversed.
    Prefix {
        /// The prefix (a key's first bytes).
        prefix: Vec<u8>,
        /// Read from the back.
        reverse: bool,
    },
    /// `Db::first_key_value` and `Db::last_key_value`.
    FirstLast,
    /// `Db::properties`, `Db::property` and `Db::approximate_size`,
    /// checked against the model and each other.
    Properties {
        /// The range sized.
        lo: KeyBound,
        /// Its upper bound.
        hi: KeyBound,
    },
    /// `Db::open_read_only` beside the open database: it must read a state
    /// the model allows and leave every file's bytes as they were.
    ReadOnlyOpen,
    /// `Db::checkpoint` into a new directory: once it returns `Ok`, the
    /// copy must open to exactly the model's state at its seqno, now and
    /// after every later crash.
    Checkpoint,
    /// `Db::transaction` (serializable) or `Db::transaction_with` snapshot
    /// isolation; at most [`TXNS_MAX`] stay open (the oldest is dropped).
    TxnBegin {
        /// Serializable, or snapshot isolation.
        serializable: bool,
    },
    /// `Transaction::get` in an open transaction (`slot` counts from the
    /// newest, modulo their number; no-op when none).
    TxnGet {
        /// Which open transaction.
        slot: u8,
        /// The key read.
        key: Vec<u8>,
    },
    /// `Transaction::range` in an open transaction.
    TxnRange {
        /// Which open transaction.
        slot: u8,
        /// Lower bound.
        lo: KeyBound,
        /// Upper bound.
        hi: KeyBound,
        /// How the iterator is driven (`Keys` drives it like `ZigZag`).
        scan: Scan,
        /// Items read at most.
        limit: u32,
    },
    /// `Transaction::put` (`Some`) or `Transaction::delete`.
    TxnWrite {
        /// Which open transaction.
        slot: u8,
        /// The key written.
        key: Vec<u8>,
        /// Its new value, or `None` to delete it.
        value: Option<Val>,
    },
    /// Moves `amount` from counter `from` to counter `to` (reading both,
    /// writing both) in an open transaction: the counters' total stays 0.
    TxnTransfer {
        /// Which open transaction.
        slot: u8,
        /// Counter taken from (modulo [`COUNTERS`]).
        from: u8,
        /// Counter added to.
        to: u8,
        /// How much.
        amount: u8,
    },
    /// `Transaction::commit`: must be refused exactly when the model says
    /// a write after its snapshot touched what it depends on.
    TxnCommit {
        /// Which open transaction.
        slot: u8,
        /// Synced before it returns, or buffered.
        durable: bool,
    },
    /// `Transaction::rollback`.
    TxnRollback {
        /// Which open transaction.
        slot: u8,
    },
    /// Write skew: two new transactions at one snapshot each read keys `a`
    /// and `b`, one writes `a`, the other `b`; both commit. Serializable:
    /// the second must be refused.
    TxnSkew {
        /// The first key.
        a: Vec<u8>,
        /// The second key.
        b: Vec<u8>,
        /// Serializable, or snapshot isolation (both commit).
        serializable: bool,
        /// Synced commits, or buffered.
        durable: bool,
    },
    /// A phantom: a new transaction scans `lo..hi` (to its end, or up to
    /// `limit` pairs), a plain put then writes `key`, and the transaction
    /// writes `key` too and commits. Serializable: refused exactly when
    /// `key` lies in the part of the range the scan covered.
    TxnPhantom {
        /// Lower bound of the scan.
        lo: KeyBound,
        /// Upper bound.
        hi: KeyBound,
        /// Pairs the scan reads at most.
        limit: u32,
        /// The key the put writes into the range (or outside it).
        key: Vec<u8>,
        /// Its value.
        value: Val,
        /// Serializable, or snapshot isolation.
        serializable: bool,
    },
}

/// How an op's cursor is first positioned.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum CursorStart {
    /// `seek_to_first`.
    First,
    /// `seek_to_last`.
    Last,
    /// `seek(key)`.
    Seek(Vec<u8>),
    /// `seek_for_prev(key)`.
    SeekForPrev(Vec<u8>),
}

/// Live snapshots kept at once.
pub const SNAPSHOTS_MAX: usize = 4;

/// Transactions open at once.
pub const TXNS_MAX: usize = 3;

/// Counters moved by `TxnTransfer` (keys `ctr/0` ...); no other op writes
/// them, so their values always add up to 0.
pub const COUNTERS: u8 = 4;

/// The key of counter `i`.
pub fn counter_key(i: u8) -> Vec<u8> {
    format!("ctr/{}", i % COUNTERS).into_bytes()
}

/// Pairs of on-call keys the concurrent campaign's write-skew transactions
/// use (keys `oncall/P/a` and `oncall/P/b`); no other op writes them.
pub const ONCALL_PAIRS: u8 = 2;

/// One side of on-call pair `pair`.
pub fn oncall_key(pair: u8, side_b: bool) -> Vec<u8> {
    format!(
        "oncall/{}/{}",
        pair % ONCALL_PAIRS,
        if side_b { 'b' } else { 'a' }
    )
    .into_bytes()
}

/// What an on-call key holds when its side is off call (absent = on call).
pub const OFF_CALL: &[u8] = b"off";

/// The invariants only whole transactions keep, checked on every state a
/// run reads back (after each recovery, at the end): the transfer
/// counters add up to 0 (each transfer moves an amount between two of
/// them in one transaction), and no on-call pair has both sides off (a
/// side goes off only in a transaction that read the other side on). A
/// transaction applied in part, or write skew let through, breaks them.
pub fn transaction_invariants(state: &State, what: &str) -> Result<(), String> {
    let mut total = 0i64;
    for c in 0..COUNTERS {
        let k = counter_key(c);
        if let Some(v) = state.get(&k) {
            total += parse_counter(&k, v)?;
        }
    }
    if total != 0 {
        return Err(format!(
            "{what}: the transfer counters add up to {total}, not 0 (a transaction applied in part, or an update lost to a missed conflict)"
        ));
    }
    for p in 0..ONCALL_PAIRS {
        let off = |side| state.get(&oncall_key(p, side)).map(Vec::as_slice) == Some(OFF_CALL);
        if off(false) && off(true) {
            return Err(format!(
                "{what}: both sides of on-call pair {p} are off (write skew let through)"
            ));
        }
    }
    Ok(())
}

/// A counter's value (decimal text).
pub fn parse_counter(k: &[u8], v: &[u8]) -> Result<i64, String> {
    std::str::from_utf8(v)
        .ok()
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| {
            format!(
                "counter {} holds {}, not a number",
                strata_models::Show(k),
                strata_models::Show(v)
            )
        })
}

/// `WriteOptions::DURABLE` or `BUFFERED`.
pub fn write_options(durable: bool) -> strata::WriteOptions {
    if durable {
        strata::WriteOptions::DURABLE
    } else {
        strata::WriteOptions::BUFFERED
    }
}

/// A transaction's writes (last per key, `None` = delete) as the model's
/// ops, in key order: the order the engine's commit batch holds them in.
pub fn own_ops(own: BTreeMap<Vec<u8>, Option<Vec<u8>>>) -> Vec<strata_models::Op> {
    use strata_models::Op;
    own.into_iter()
        .map(|(key, v)| match v {
            Some(value) => Op::Put { key, value },
            None => Op::Delete { key },
        })
        .collect()
}

/// A scan's calls in order: `true` for `next`, and the pair it returned.
pub type Calls = Vec<(bool, (Vec<u8>, Vec<u8>))>;

/// A transaction's scan of `lo..hi` driven in the `scan` style for at most
/// `limit` calls (`Keys` drives it like `ZigZag`), recorded as the
/// transaction oracle wants it: the calls made, whether an end was
/// reached, the error that stopped it, and the intervals it covered with
/// the pairs there and the transaction's own writes (`own`) there. The
/// coverage is recorded for what was returned even when the scan failed,
/// as the engine's read set is.
pub fn txn_scan(
    txn: &mut strata::Transaction,
    lo: &Bound<Vec<u8>>,
    hi: &Bound<Vec<u8>>,
    scan: Scan,
    limit: u32,
    own: &BTreeMap<Vec<u8>, Option<Vec<u8>>>,
) -> (Calls, bool, Option<strata::Error>, Vec<ScanRead>) {
    let mut calls = Vec::new();
    let (mut exhausted, mut err) = (false, None);
    match txn.range((lo.clone(), hi.clone())) {
        Err(e) => err = Some(e),
        Ok(mut it) => {
            for n in 0..limit {
                let front = match scan {
                    Scan::Forward => true,
                    Scan::Reverse => false,
                    Scan::ZigZag | Scan::Keys => n % 2 == 0,
                };
                let item = if front { it.next() } else { it.next_back() };
                match item {
                    None => {
                        exhausted = true;
                        break;
                    }
                    Some(Ok(pair)) => calls.push((front, pair)),
                    Some(Err(e)) => {
                        err = Some(e);
                        break;
                    }
                }
            }
        }
    }
    let last = |front: bool| {
        calls
            .iter()
            .rev()
            .find(|c| c.0 == front)
            .map(|c| c.1 .0.clone())
    };
    let (front_last, back_last) = (last(true), last(false));
    let reads = covered(
        lo,
        hi,
        front_last.as_deref(),
        back_last.as_deref(),
        exhausted,
    )
    .into_iter()
    .map(|(clo, chi)| {
        let mut got: Pairs = calls
            .iter()
            .filter(|c| in_bounds(&c.1 .0, &clo, &chi))
            .map(|c| c.1.clone())
            .collect();
        got.sort();
        let own = own
            .iter()
            .filter(|(k, _)| in_bounds(k, &clo, &chi))
            .map(|(k, v)| (k.clone(), v.clone()))
            .collect();
        ScanRead {
            lo: clo,
            hi: chi,
            own,
            got,
        }
    })
    .collect();
    (calls, exhausted, err, reads)
}

/// Whether `k` lies within `lo..hi`.
pub fn in_bounds(k: &[u8], lo: &Bound<Vec<u8>>, hi: &Bound<Vec<u8>>) -> bool {
    let above = match lo {
        Bound::Included(l) => k >= l.as_slice(),
        Bound::Excluded(l) => k > l.as_slice(),
        Bound::Unbounded => true,
    };
    let below = match hi {
        Bound::Included(h) => k <= h.as_slice(),
        Bound::Excluded(h) => k < h.as_slice(),
        Bound::Unbounded => true,
    };
    above && below
}

/// The key pool of one seed.
#[derive(Clone, Debug)]
pub struct KeySpace {
    keys: Vec<Vec<u8>>,
    hot: usize,
}

/// Keys that are prefixes of one another (every prefix of three chains,
/// one with zero bytes, one with high bytes): they exercise the memtable's
/// and the tables' handling of keys that end where others go on.
pub fn prefix_chain_keys() -> impl Iterator<Item = Vec<u8>> {
    [
        &b"abcdefgh"[..],
        &b"k\x00\x00\x00"[..],
        &b"\xff\xff\xfe"[..],
    ]
    .into_iter()
    .flat_map(|chain| (1..=chain.len()).map(move |n| chain[..n].to_vec()))
}

impl KeySpace {
    /// Builds the pool.
    pub fn new(rng: &mut Rng) -> Self {
        let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
        keys.extend(prefix_chain_keys());
        // Shared prefix, node-growth fan-out (more than 48 children at one byte).
        for _ in 0..24 {
            keys.push(format!("user:{:04}", rng.below(60)).into_bytes());
        }
        for _ in 0..8 {
            let mut k = b"user:00".to_vec();
            k.push(rng.below(256) as u8);
            keys.push(k);
        }
        // Long keys sharing a long prefix, differing at the end.
        let long_prefix: Vec<u8> = (0..200).map(|i| b'a' + (i % 26) as u8).collect();
        for _ in 0..6 {
            let mut k = long_prefix.clone();
            k.extend((0..rng.below(60)).map(|_| rng.below(256) as u8));
            keys.push(k);
        }
        // Short random binary keys.
        for _ in 0..16 {
            let mut k = vec![0u8; rng.range_inclusive(1, 8) as usize];
            rng.fill(&mut k);
            keys.push(k);
        }
        keys.sort();
        keys.dedup();
        // Shuffle so the hot set mixes kinds.
        for i in (1..keys.len()).rev() {
            let j = rng.index(i + 1);
            keys.swap(i, j);
        }
        KeySpace { keys, hot: 12 }
    }

    /// Adds `extra` plain keys (`k` + 6 digits, shuffled in) and sets the
    /// hot subset's size; `(0, 12)` leaves the pool as [`KeySpace::new`]
    /// made it.
    pub fn widen(&mut self, extra: u32, hot: usize) {
        self.hot = hot.max(1);
        if extra == 0 {
            return;
        }
        let n = self.keys.len();
        self.keys
            .extend((0..extra).map(|i| format!("k{i:06}").into_bytes()));
        // The stress-case keys stay in front (in the hot set); the plain
        // keys fill the cold rest.
        self.keys[n..].sort();
    }

    /// A key, skewed to a hot subset.
    pub fn pick(&self, rng: &mut Rng) -> Vec<u8> {
        let n = if rng.below(10) < 7 {
            self.hot.min(self.keys.len())
        } else {
            self.keys.len()
        };
        self.keys[rng.index(n)].clone()
    }

    pub(crate) fn bound(&self, rng: &mut Rng) -> KeyBound {
        match rng.below(5) {
            0 => KeyBound::Unbounded,
            1 | 2 => KeyBound::Included(self.pick(rng)),
            _ => KeyBound::Excluded(self.pick(rng)),
        }
    }
}

pub(crate) fn value(rng: &mut Rng) -> Val {
    let len = match rng.below(20) {
        0 | 1 => 0,
        2..=9 => rng.range_inclusive(1, 16),
        10..=15 => rng.range_inclusive(17, 256),
        16..=18 => rng.range_inclusive(257, 2048),
        _ => rng.range_inclusive(4097, 9000),
    } as u32;
    Val {
        len,
        tag: rng.next_u64() as u32,
    }
}

pub(crate) fn scan(rng: &mut Rng) -> Scan {
    match rng.below(6) {
        0 | 1 => Scan::Forward,
        2 | 3 => Scan::Reverse,
        4 => Scan::ZigZag,
        _ => Scan::Keys,
    }
}

/// Generates `len` ops for `seed` with the default mix.
pub fn generate(seed: u64, len: usize, faults: FaultMode) -> Vec<SimOp> {
    generate_with(seed, len, faults, &WorkloadKnobs::default())
}

/// Generates `len` ops for `seed` with the mix, keys and values of `w`
/// (the default knobs give exactly [`generate`]'s ops).
pub fn generate_with(seed: u64, len: usize, faults: FaultMode, w: &WorkloadKnobs) -> Vec<SimOp> {
    let mut rng = Rng::derive(seed, 1);
    let mut keys = KeySpace::new(&mut rng);
    keys.widen(w.extra_keys, w.hot_keys);
    let crashes = faults != FaultMode::None;
    let total: u32 = w.mix.iter().sum();
    let value = |rng: &mut Rng| {
        let mut v = value(rng);
        v.len = v.len.min(w.value_len_max);
        v
    };
    let mut ops = Vec::with_capacity(len);
    while ops.len() < len {
        let durable = rng.coin();
        let mut roll = rng.below(u64::from(total.max(1))) as u32;
        let kind = w
            .mix
            .iter()
            .position(|&wt| {
                if roll < wt {
                    true
                } else {
                    roll -= wt;
                    false
                }
            })
            .map_or("get_tail", |i| OP_KINDS[i]);
        let op = match kind {
            "put" => SimOp::Put {
                key: keys.pick(&mut rng),
                value: value(&mut rng),
                durable,
            },
            "delete" => SimOp::Delete {
                key: keys.pick(&mut rng),
                durable,
            },
            "batch" => {
                let n = rng.range_inclusive(1, 6);
                let ops = (0..n)
                    .map(|_| {
                        let k = keys.pick(&mut rng);
                        let v = (rng.below(4) != 0).then(|| value(&mut rng));
                        (k, v)
                    })
                    .collect();
                SimOp::Batch { ops, durable }
            }
            "range" => SimOp::Range {
                lo: keys.bound(&mut rng),
                hi: keys.bound(&mut rng),
                scan: scan(&mut rng),
                limit: rng.range_inclusive(1, 40) as u32,
            },
            "snapshot" => SimOp::Snapshot,
            "snapshot_get" => SimOp::SnapshotGet {
                slot: rng.below(SNAPSHOTS_MAX as u64) as u8,
                key: keys.pick(&mut rng),
            },
            "snapshot_range" => SimOp::SnapshotRange {
                slot: rng.below(SNAPSHOTS_MAX as u64) as u8,
                lo: keys.bound(&mut rng),
                hi: keys.bound(&mut rng),
                scan: scan(&mut rng),
                limit: rng.range_inclusive(1, 40) as u32,
            },
            "drop_snapshot" => SimOp::DropSnapshot {
                slot: rng.below(SNAPSHOTS_MAX as u64) as u8,
            },
            "reopen" => SimOp::Reopen,
            "lock_probe" => SimOp::LockProbe,
            "process_crash" if crashes => SimOp::ProcessCrash,
            "power_loss" if crashes => SimOp::PowerLoss {
                after_io: if rng.below(4) == 0 {
                    0
                } else {
                    rng.range_inclusive(1, 24) as u32
                },
            },
            "flush" => SimOp::Flush,
            "step" => SimOp::Step {
                n: rng.range_inclusive(1, 4) as u8,
            },
            "compact" => SimOp::Compact,
            "compact_range" => SimOp::CompactRange {
                lo: keys.bound(&mut rng),
                hi: keys.bound(&mut rng),
            },
            "cursor" => SimOp::Cursor {
                slot: (rng.below(3) == 0).then(|| rng.below(SNAPSHOTS_MAX as u64) as u8),
                start: match rng.below(4) {
                    0 => CursorStart::First,
                    1 => CursorStart::Last,
                    2 => CursorStart::Seek(keys.pick(&mut rng)),
                    _ => CursorStart::SeekForPrev(keys.pick(&mut rng)),
                },
                moves: rng.next_u64() as u32,
                n: rng.range_inclusive(0, 32) as u8,
            },
            "multi_get" => SimOp::MultiGet {
                keys: (0..rng.range_inclusive(1, 8))
                    .map(|_| keys.pick(&mut rng))
                    .collect(),
            },
            "prefix" => {
                let k = keys.pick(&mut rng);
                let n = rng.below(k.len() as u64 + 1) as usize;
                SimOp::Prefix {
                    prefix: k[..n].to_vec(),
                    reverse: rng.coin(),
                }
            }
            "first_last" => SimOp::FirstLast,
            "read_only_open" => SimOp::ReadOnlyOpen,
            "checkpoint" => SimOp::Checkpoint,
            "txn_begin" => SimOp::TxnBegin {
                serializable: rng.below(4) != 0,
            },
            "txn_get" => SimOp::TxnGet {
                slot: rng.below(TXNS_MAX as u64) as u8,
                key: keys.pick(&mut rng),
            },
            "txn_range" => SimOp::TxnRange {
                slot: rng.below(TXNS_MAX as u64) as u8,
                lo: keys.bound(&mut rng),
                hi: keys.bound(&mut rng),
                scan: scan(&mut rng),
                limit: rng.range_inclusive(1, 40) as u32,
            },
            "txn_write" => SimOp::TxnWrite {
                slot: rng.below(TXNS_MAX as u64) as u8,
                key: keys.pick(&mut rng),
                value: (rng.below(4) != 0).then(|| value(&mut rng)),
            },
            "txn_transfer" => SimOp::TxnTransfer {
                slot: rng.below(TXNS_MAX as u64) as u8,
                from: rng.below(u64::from(COUNTERS)) as u8,
                to: rng.below(u64::from(COUNTERS)) as u8,
                amount: rng.range_inclusive(1, 9) as u8,
            },
            "txn_commit" => SimOp::TxnCommit {
                slot: rng.below(TXNS_MAX as u64) as u8,
                durable,
            },
            "txn_rollback" => SimOp::TxnRollback {
                slot: rng.below(TXNS_MAX as u64) as u8,
            },
            "txn_skew" => SimOp::TxnSkew {
                a: keys.pick(&mut rng),
                b: keys.pick(&mut rng),
                serializable: rng.below(4) != 0,
                durable,
            },
            "txn_phantom" => SimOp::TxnPhantom {
                lo: keys.bound(&mut rng),
                hi: keys.bound(&mut rng),
                limit: rng.range_inclusive(1, 60) as u32,
                key: keys.pick(&mut rng),
                value: value(&mut rng),
                serializable: rng.below(4) != 0,
            },
            "properties" => SimOp::Properties {
                lo: keys.bound(&mut rng),
                hi: keys.bound(&mut rng),
            },
            // Power losses armed far ahead land inside flushes and compactions.
            "power_loss_far" if crashes => SimOp::PowerLoss {
                after_io: rng.range_inclusive(20, 200) as u32,
            },
            "process_kill" if crashes => SimOp::ProcessKill {
                after_io: rng.range_inclusive(1, 120) as u32,
            },
            _ => SimOp::Get {
                key: keys.pick(&mut rng),
            },
        };
        ops.push(op);
    }
    if crashes {
        // At least three power losses that surely fire (armed ones may be
        // cancelled by a restart before they land).
        for q in 1..=3 {
            let at = len * q / 4;
            if at < ops.len() {
                ops[at] = SimOp::PowerLoss { after_io: 0 };
            }
        }
    }
    ops
}

/// A byte string as a Rust literal.
pub struct Lit<'a>(pub &'a [u8]);

impl fmt::Display for Lit<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("b\"")?;
        for &b in self.0 {
            match b {
                b'"' => f.write_str("\\\"")?,
                b'\\' => f.write_str("\\\\")?,
                0x20..=0x7e => f.write_char(b as char)?,
                _ => write!(f, "\\x{b:02x}")?,
            }
        }
        f.write_str("\"")
    }
}

impl fmt::Display for KeyBound {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            KeyBound::Unbounded => f.write_str("*"),
            KeyBound::Included(k) => write!(f, "[{}", strata_models::Show(k)),
            KeyBound::Excluded(k) => write!(f, "({}", strata_models::Show(k)),
        }
    }
}

impl KeyBound {
    fn rust(&self) -> String {
        match self {
            KeyBound::Unbounded => "KeyBound::Unbounded".into(),
            KeyBound::Included(k) => format!("KeyBound::Included({}.to_vec())", Lit(k)),
            KeyBound::Excluded(k) => format!("KeyBound::Excluded({}.to_vec())", Lit(k)),
        }
    }
}

fn val_rust(v: &Val) -> String {
    format!("Val {{ len: {}, tag: {} }}", v.len, v.tag)
}

impl SimOp {
    /// The op as a Rust expression (for printed regression tests).
    pub fn to_rust(&self) -> String {
        match self {
            SimOp::Put {
                key,
                value,
                durable,
            } => format!(
                "SimOp::Put {{ key: {}.to_vec(), value: {}, durable: {durable} }}",
                Lit(key),
                val_rust(value)
            ),
            SimOp::Delete { key, durable } => format!(
                "SimOp::Delete {{ key: {}.to_vec(), durable: {durable} }}",
                Lit(key)
            ),
            SimOp::Batch { ops, durable } => {
                let items: Vec<String> = ops
                    .iter()
                    .map(|(k, v)| {
                        format!(
                            "({}.to_vec(), {})",
                            Lit(k),
                            v.as_ref()
                                .map_or("None".into(), |v| format!("Some({})", val_rust(v)))
                        )
                    })
                    .collect();
                format!(
                    "SimOp::Batch {{ ops: vec![{}], durable: {durable} }}",
                    items.join(", ")
                )
            }
            SimOp::Get { key } => format!("SimOp::Get {{ key: {}.to_vec() }}", Lit(key)),
            SimOp::Range {
                lo,
                hi,
                scan,
                limit,
            } => format!(
                "SimOp::Range {{ lo: {}, hi: {}, scan: Scan::{scan:?}, limit: {limit} }}",
                lo.rust(),
                hi.rust()
            ),
            SimOp::Snapshot => "SimOp::Snapshot".into(),
            SimOp::SnapshotGet { slot, key } => format!(
                "SimOp::SnapshotGet {{ slot: {slot}, key: {}.to_vec() }}",
                Lit(key)
            ),
            SimOp::SnapshotRange {
                slot,
                lo,
                hi,
                scan,
                limit,
            } => format!(
                "SimOp::SnapshotRange {{ slot: {slot}, lo: {}, hi: {}, scan: Scan::{scan:?}, limit: {limit} }}",
                lo.rust(),
                hi.rust()
            ),
            SimOp::DropSnapshot { slot } => format!("SimOp::DropSnapshot {{ slot: {slot} }}"),
            SimOp::Reopen => "SimOp::Reopen".into(),
            SimOp::ProcessCrash => "SimOp::ProcessCrash".into(),
            SimOp::PowerLoss { after_io } => format!("SimOp::PowerLoss {{ after_io: {after_io} }}"),
            SimOp::LockProbe => "SimOp::LockProbe".into(),
            SimOp::ProcessKill { after_io } => {
                format!("SimOp::ProcessKill {{ after_io: {after_io} }}")
            }
            SimOp::Flush => "SimOp::Flush".into(),
            SimOp::Step { n } => format!("SimOp::Step {{ n: {n} }}"),
            SimOp::Compact => "SimOp::Compact".into(),
            SimOp::CompactRange { lo, hi } => format!(
                "SimOp::CompactRange {{ lo: {}, hi: {} }}",
                lo.rust(),
                hi.rust()
            ),
            SimOp::Cursor {
                slot,
                start,
                moves,
                n,
            } => format!(
                "SimOp::Cursor {{ slot: {slot:?}, start: {}, moves: {moves:#x}, n: {n} }}",
                match start {
                    CursorStart::First => "CursorStart::First".to_string(),
                    CursorStart::Last => "CursorStart::Last".to_string(),
                    CursorStart::Seek(k) => format!("CursorStart::Seek({}.to_vec())", Lit(k)),
                    CursorStart::SeekForPrev(k) =>
                        format!("CursorStart::SeekForPrev({}.to_vec())", Lit(k)),
                }
            ),
            SimOp::MultiGet { keys } => format!(
                "SimOp::MultiGet {{ keys: vec![{}] }}",
                keys.iter()
                    .map(|k| format!("{}.to_vec()", Lit(k)))
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            SimOp::Prefix { prefix, reverse } => format!(
                "SimOp::Prefix {{ prefix: {}.to_vec(), reverse: {reverse} }}",
                Lit(prefix)
            ),
            SimOp::FirstLast => "SimOp::FirstLast".into(),
            SimOp::ReadOnlyOpen => "SimOp::ReadOnlyOpen".into(),
            SimOp::Checkpoint => "SimOp::Checkpoint".into(),
            SimOp::TxnBegin { serializable } => {
                format!("SimOp::TxnBegin {{ serializable: {serializable} }}")
            }
            SimOp::TxnGet { slot, key } => format!(
                "SimOp::TxnGet {{ slot: {slot}, key: {}.to_vec() }}",
                Lit(key)
            ),
            SimOp::TxnRange {
                slot,
                lo,
                hi,
                scan,
                limit,
            } => format!(
                "SimOp::TxnRange {{ slot: {slot}, lo: {}, hi: {}, scan: Scan::{scan:?}, limit: {limit} }}",
                lo.rust(),
                hi.rust()
            ),
            SimOp::TxnWrite { slot, key, value } => format!(
                "SimOp::TxnWrite {{ slot: {slot}, key: {}.to_vec(), value: {} }}",
                Lit(key),
                value
                    .as_ref()
                    .map_or("None".into(), |v| format!("Some({})", val_rust(v)))
            ),
            SimOp::TxnTransfer {
                slot,
                from,
                to,
                amount,
            } => format!(
                "SimOp::TxnTransfer {{ slot: {slot}, from: {from}, to: {to}, amount: {amount} }}"
            ),
            SimOp::TxnCommit { slot, durable } => {
                format!("SimOp::TxnCommit {{ slot: {slot}, durable: {durable} }}")
            }
            SimOp::TxnRollback { slot } => format!("SimOp::TxnRollback {{ slot: {slot} }}"),
            SimOp::TxnSkew {
                a,
                b,
                serializable,
                durable,
            } => format!(
                "SimOp::TxnSkew {{ a: {}.to_vec(), b: {}.to_vec(), serializable: {serializable}, durable: {durable} }}",
                Lit(a),
                Lit(b)
            ),
            SimOp::TxnPhantom {
                lo,
                hi,
                limit,
                key,
                value,
                serializable,
            } => format!(
                "SimOp::TxnPhantom {{ lo: {}, hi: {}, limit: {limit}, key: {}.to_vec(), value: {}, serializable: {serializable} }}",
                lo.rust(),
                hi.rust(),
                Lit(key),
                val_rust(value)
            ),
            SimOp::Properties { lo, hi } => format!(
                "SimOp::Properties {{ lo: {}, hi: {} }}",
                lo.rust(),
                hi.rust()
            ),
        }
    }
}

impl fmt::Display for SimOp {
    /// Short form for traces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let sync = |d: &bool| if *d { "durable" } else { "buffered" };
        match self {
            SimOp::Put {
                key,
                value,
                durable,
            } => write!(
                f,
                "put {} len={} tag={} {}",
                strata_models::Show(key),
                value.len,
                value.tag,
                sync(durable)
            ),
            SimOp::Delete { key, durable } => {
                write!(f, "delete {} {}", strata_models::Show(key), sync(durable))
            }
            SimOp::Batch { ops, durable } => {
                write!(f, "batch[{}] {}:", ops.len(), sync(durable))?;
                for (k, v) in ops {
                    match v {
                        Some(v) => write!(f, " put {} len={}", strata_models::Show(k), v.len)?,
                        None => write!(f, " del {}", strata_models::Show(k))?,
                    }
                }
                Ok(())
            }
            SimOp::Get { key } => write!(f, "get {}", strata_models::Show(key)),
            SimOp::Range {
                lo,
                hi,
                scan,
                limit,
            } => write!(f, "range {lo} .. {hi} {scan:?} limit={limit}"),
            SimOp::SnapshotGet { slot, key } => {
                write!(f, "snap[{slot}].get {}", strata_models::Show(key))
            }
            SimOp::SnapshotRange {
                slot,
                lo,
                hi,
                scan,
                limit,
            } => write!(f, "snap[{slot}].range {lo} .. {hi} {scan:?} limit={limit}"),
            SimOp::TxnGet { slot, key } => {
                write!(f, "txn[{slot}].get {}", strata_models::Show(key))
            }
            SimOp::TxnRange {
                slot,
                lo,
                hi,
                scan,
                limit,
            } => write!(f, "txn[{slot}].range {lo} .. {hi} {scan:?} limit={limit}"),
            SimOp::TxnWrite { slot, key, value } => match value {
                Some(v) => write!(
                    f,
                    "txn[{slot}].put {} len={} tag={}",
                    strata_models::Show(key),
                    v.len,
                    v.tag
                ),
                None => write!(f, "txn[{slot}].delete {}", strata_models::Show(key)),
            },
            SimOp::TxnSkew {
                a,
                b,
                serializable,
                durable,
            } => write!(
                f,
                "txn skew {} {} {} {}",
                strata_models::Show(a),
                strata_models::Show(b),
                if *serializable {
                    "serializable"
                } else {
                    "snapshot"
                },
                sync(durable)
            ),
            other => write!(f, "{other:?}"),
        }
    }
}

/// Key-value pairs as a scan returns them.
pub type Pairs = Vec<(Vec<u8>, Vec<u8>)>;

/// An iterator opened for a scan style: a keys-only scan walks the
/// iterator's keys-only form.
#[derive(Debug)]
pub enum ScanIter {
    /// Keys and values.
    Pairs(DbIter),
    /// Keys only.
    Keys(KeyIter),
}

impl ScanIter {
    /// `it`, in the form `scan` reads.
    pub fn new(it: DbIter, scan: Scan) -> Self {
        match scan {
            Scan::Keys => ScanIter::Keys(it.keys_only()),
            _ => ScanIter::Pairs(it),
        }
    }
}

/// Drives an iterator in one of the scan styles, possibly in several steps
/// (the zig-zag's side carries over from one step to the next).
#[derive(Clone, Copy, Debug)]
pub struct ScanReader {
    scan: Scan,
    front: bool,
}

fn owned_pair(item: strata::Result<(&[u8], &[u8])>) -> strata::Result<(Vec<u8>, Vec<u8>)> {
    item.map(|(k, v)| (k.to_vec(), v.to_vec()))
}

impl ScanReader {
    /// A reader that has read nothing yet.
    pub fn new(scan: Scan) -> Self {
        ScanReader { scan, front: true }
    }

    /// Reads up to `n` more items into `out`; false once the iterator is
    /// exhausted.
    pub fn read(&mut self, it: &mut ScanIter, n: usize, out: &mut Pairs) -> strata::Result<bool> {
        for _ in 0..n {
            let front = self.front;
            if matches!(self.scan, Scan::ZigZag | Scan::Keys) {
                self.front = !self.front;
            }
            let next = match (self.scan, &mut *it) {
                (Scan::Forward, ScanIter::Pairs(it)) => it.next(),
                (Scan::Reverse, ScanIter::Pairs(it)) => it.next_back(),
                (_, ScanIter::Pairs(it)) if front => it.next_ref().map(owned_pair),
                (_, ScanIter::Pairs(it)) => it.next_back_ref().map(owned_pair),
                (_, ScanIter::Keys(it)) => {
                    let k = if front {
                        it.next_ref()
                    } else {
                        it.next_back_ref()
                    };
                    k.map(|r| r.map(|k| (k.to_vec(), Vec::new())))
                }
            };
            match next {
                Some(r) => out.push(r?),
                None => return Ok(false),
            }
        }
        Ok(true)
    }
}

/// Reads up to `limit` items of `it` in `scan` style.
pub fn collect_scan(it: DbIter, scan: Scan, limit: u32) -> strata::Result<Pairs> {
    let mut out = Vec::new();
    let mut it = ScanIter::new(it, scan);
    ScanReader::new(scan).read(&mut it, limit as usize, &mut out)?;
    Ok(out)
}

/// Opens the database in `dir` read-only, reads it whole and closes it:
/// its last seqno and every pair.
pub fn read_only_state(
    dir: impl AsRef<std::path::Path>,
    opts: strata::Options,
) -> strata::Result<(SeqNo, Pairs)> {
    let ro = strata::Db::open_read_only(dir, opts)?;
    let items = ro
        .range::<&[u8], _>(..)?
        .collect::<strata::Result<Pairs>>()?;
    let last = ro.last_seqno();
    ro.close()?;
    Ok((last, items))
}

/// Where a `Properties` disagrees with itself: the live table count must
/// equal the files per level, the cache cannot hold more than its
/// capacity, and frozen memtables count toward memtable bytes.
pub fn properties_disagreement(p: &strata::Properties) -> Vec<String> {
    let mut wrong = Vec::new();
    let level_files: usize = p.levels.iter().map(|l| l.files).sum();
    if p.live_table_files != level_files {
        wrong.push(format!(
            "{} live tables vs levels {:?}",
            p.live_table_files, p.levels
        ));
    }
    if p.block_cache_used_bytes > p.block_cache_capacity {
        wrong.push(format!(
            "block cache holds {} bytes over its capacity {}",
            p.block_cache_used_bytes, p.block_cache_capacity
        ));
    }
    if p.frozen_memtables > 0 && p.memtable_bytes == 0 {
        wrong.push(format!(
            "{} frozen memtables but no memtable bytes",
            p.frozen_memtables
        ));
    }
    wrong
}

/// What the model says `Db::prefix(prefix)`, read whole (from the back
/// if `reverse`), returns at seqno `at`: the keys starting with `prefix`,
/// found by filtering (not by computing the range's end, as the engine
/// does).
pub fn expected_prefix(m: &KvModel, prefix: &[u8], reverse: bool, at: SeqNo) -> Pairs {
    let dir = if reverse { Dir::Reverse } else { Dir::Forward };
    m.range_at(
        Bound::Included(prefix),
        Bound::Unbounded,
        dir,
        at,
        usize::MAX,
    )
    .into_iter()
    .filter(|(k, _)| k.starts_with(prefix))
    .collect()
}

/// What the model says a range read in `scan` style, of at most `limit`
/// items, returns at seqno `at`.
pub fn expected_scan(
    m: &KvModel,
    lo: &KeyBound,
    hi: &KeyBound,
    scan: Scan,
    limit: u32,
    at: SeqNo,
) -> Pairs {
    let limit = limit as usize;
    let (l, h) = (lo.as_bound(), hi.as_bound());
    match scan {
        Scan::Forward => m.range_at(l, h, Dir::Forward, at, limit),
        Scan::Reverse => m.range_at(l, h, Dir::Reverse, at, limit),
        Scan::ZigZag | Scan::Keys => {
            let all = m.range_at(l, h, Dir::Forward, at, usize::MAX);
            let (mut i, mut j) = (0usize, all.len());
            let mut out = Vec::new();
            let mut front = true;
            while out.len() < limit && i < j {
                if front {
                    out.push(all[i].clone());
                    i += 1;
                } else {
                    j -= 1;
                    out.push(all[j].clone());
                }
                front = !front;
            }
            if scan == Scan::Keys {
                out.iter_mut().for_each(|kv| kv.1.clear());
            }
            out
        }
    }
}

/// One position of a cursor: its key and value, or `None` past an end.
pub type CursorPosition = Option<(Vec<u8>, Vec<u8>)>;

/// What the model says a cursor reading at seqno `at` shows: after `start`,
/// then after each of `n` moves (bit i of `moves` set: `next`, clear:
/// `prev`), stopping after the first position past an end.
pub fn expected_cursor_walk(
    m: &KvModel,
    at: SeqNo,
    start: &CursorStart,
    moves: u32,
    n: u8,
) -> Vec<CursorPosition> {
    let one = |lo: Bound<&[u8]>, hi: Bound<&[u8]>, dir| m.range_at(lo, hi, dir, at, 1).pop();
    let mut pos = match start {
        CursorStart::First => one(Bound::Unbounded, Bound::Unbounded, Dir::Forward),
        CursorStart::Last => one(Bound::Unbounded, Bound::Unbounded, Dir::Reverse),
        CursorStart::Seek(k) => one(Bound::Included(k), Bound::Unbounded, Dir::Forward),
        CursorStart::SeekForPrev(k) => one(Bound::Unbounded, Bound::Included(k), Dir::Reverse),
    };
    let mut out = vec![pos.clone()];
    for i in 0..u32::from(n.min(32)) {
        let Some((k, _)) = &pos else { break };
        pos = if moves >> i & 1 == 1 {
            one(Bound::Excluded(k), Bound::Unbounded, Dir::Forward)
        } else {
            one(Bound::Unbounded, Bound::Excluded(k), Dir::Reverse)
        };
        out.push(pos.clone());
    }
    out
}

/// Drives `c` as [`expected_cursor_walk`] describes and returns what it
/// showed (stopping at the first error).
pub fn cursor_walk(
    c: &mut strata::Cursor,
    start: &CursorStart,
    moves: u32,
    n: u8,
    between: &mut dyn FnMut(),
) -> strata::Result<Vec<CursorPosition>> {
    match start {
        CursorStart::First => c.seek_to_first(),
        CursorStart::Last => c.seek_to_last(),
        CursorStart::Seek(k) => c.seek(k),
        CursorStart::SeekForPrev(k) => c.seek_for_prev(k),
    }
    let here = |c: &strata::Cursor| -> strata::Result<CursorPosition> {
        c.status()?;
        Ok(c.valid().then(|| (c.key().to_vec(), c.value().to_vec())))
    };
    let mut out = vec![here(c)?];
    for i in 0..u32::from(n.min(32)) {
        if !c.valid() {
            break;
        }
        between();
        if moves >> i & 1 == 1 {
            c.next();
        } else {
            c.prev();
        }
        out.push(here(c)?);
    }
    Ok(out)
}

/// Where two cursor walks first differ, for failure messages.
pub fn walk_difference(want: &[CursorPosition], got: &[CursorPosition]) -> String {
    let show = |p: Option<&CursorPosition>| match p {
        None => "<no position>".to_string(),
        Some(None) => "<end>".to_string(),
        Some(Some((k, v))) => format!("{}={}", strata_models::Show(k), strata_models::Show(v)),
    };
    let i = want
        .iter()
        .zip(got)
        .position(|(a, b)| a != b)
        .unwrap_or(want.len().min(got.len()));
    format!(
        "position {i}: model {}, engine {} ({} vs {} positions)",
        show(want.get(i)),
        show(got.get(i)),
        want.len(),
        got.len()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generation_is_a_pure_function_of_the_seed() {
        let a = generate(5, 500, FaultMode::Crash);
        assert_eq!(a, generate(5, 500, FaultMode::Crash));
        assert_ne!(a, generate(6, 500, FaultMode::Crash));
        assert_eq!(a.len(), 500);
        assert!(generate(5, 2000, FaultMode::None)
            .iter()
            .all(|o| !matches!(o, SimOp::PowerLoss { .. } | SimOp::ProcessCrash)));
    }

    #[test]
    fn keys_and_values_cover_the_stress_cases() {
        let ops = generate(9, 5000, FaultMode::Crash);
        let mut keys = std::collections::BTreeSet::new();
        let mut big_value = false;
        let mut empty_value = false;
        let mut power_losses = 0;
        for op in &ops {
            match op {
                SimOp::Put { key, value, .. } => {
                    keys.insert(key.clone());
                    big_value |= value.len > 4096;
                    empty_value |= value.len == 0;
                }
                SimOp::PowerLoss { .. } => power_losses += 1,
                _ => {}
            }
        }
        assert!(keys.contains(&Vec::new()), "empty key");
        assert!(keys.iter().any(|k| k.len() >= 200), "long key");
        let prefix_pair = keys.iter().any(|a| {
            keys.iter()
                .any(|b| b.len() > a.len() && b.starts_with(a) && !a.is_empty())
        });
        assert!(prefix_pair, "a key that is a prefix of another");
        assert!(big_value && empty_value);
        assert!(power_losses >= 15, "{power_losses}");
        assert_eq!(
            Val { len: 5, tag: 1 }.bytes(),
            Val { len: 5, tag: 1 }.bytes()
        );
        assert_ne!(
            Val { len: 5, tag: 1 }.bytes(),
            Val { len: 5, tag: 2 }.bytes()
        );
    }

    #[test]
    fn rust_literals_escape_bytes() {
        assert_eq!(
            Lit(b"a\"\\\x00\xff").to_string(),
            "b\"a\\\"\\\\\\x00\\xff\""
        );
        let op = SimOp::Batch {
            ops: vec![
                (b"k".to_vec(), None),
                (Vec::new(), Some(Val { len: 3, tag: 4 })),
            ],
            durable: true,
        };
        assert_eq!(
            op.to_rust(),
            "SimOp::Batch { ops: vec![(b\"k\".to_vec(), None), (b\"\".to_vec(), Some(Val { len: 3, tag: 4 }))], durable: true }"
        );
    }
}
