//! `engine_model`: operation sequences on `strata::Db` over the simulated
//! disk, checked by the simulator's runner and the crash oracle.
//!
//! The input is decoded with `arbitrary`: a seed (which drives the disk's
//! fault schedule and what a power loss keeps), a configuration (memtable,
//! fault mode, disk model) and a list of [`FuzzOp`]s, mapped one to one
//! onto `strata_sim::SimOp` and run by `strata_sim::execute`. The runner
//! checks every read against the model, every write's seqno, that a failed
//! write poisons the `Db`, that a second open is `Locked`, every
//! recovery against the crash oracle (a prefix of the history holding every
//! write acknowledged durable), and transactions against the transaction
//! oracle (reads at their snapshot, refused exactly when a later write
//! touched what they read). Any failure it reports is a fuzz crash, with
//! the trace and the ops as a Rust regression test printed.

use arbitrary::{Arbitrary, Unstructured};
use strata::testing::SplitMix64;
use strata_sim::{
    execute, DiskModel, FaultMode, KeyBound, MemtableChoice, RunConfig, RunOutcome, Scan, SimOp,
    Val,
};

use crate::prng_bytes;

/// Ops decoded from one input at most (bounds the time per input).
pub const OPS_MAX: usize = 64;
/// Ops in one batch at most.
pub const BATCH_OPS_MAX: usize = 8;

/// Length of the shared prefix of the long pooled keys.
const LONG_PREFIX_BYTES: usize = 200;
/// Keys `user:00` + two digits in the pool (more than 48 siblings).
const FAN_KEYS: usize = 60;

/// The pooled keys: the empty key, prefix chains, a wide fan-out under one
/// prefix, and long keys sharing a 200-byte prefix.
pub fn key_pool() -> Vec<Vec<u8>> {
    let mut keys: Vec<Vec<u8>> = vec![Vec::new()];
    keys.extend(strata_sim::workload::prefix_chain_keys());
    for i in 0..FAN_KEYS {
        keys.push(format!("user:00{i:02}").into_bytes());
    }
    let long: Vec<u8> = (0..LONG_PREFIX_BYTES)
        .map(|i| b'a' + (i % 26) as u8)
        .collect();
    for tail in [&b""[..], b"\x00", b"x", b"xy", b"\xff\x01"] {
        let mut k = long.clone();
        k.extend_from_slice(tail);
        keys.push(k);
    }
    keys
}

/// A key: one of the pool, or raw bytes (at most 8).
#[derive(Arbitrary, Clone, Debug)]
pub enum FuzzKey {
    /// The pooled key at this index (modulo the pool's size).
    Pool(u8),
    /// The first 8 of these bytes.
    Raw(Vec<u8>),
}

/// A value's size class; its bytes come from `(len, tag)`.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FuzzVal {
    /// 0 bytes.
    Empty,
    /// 1..=16 bytes.
    Small(u8, u8),
    /// 17..=2048 bytes.
    Medium(u16, u8),
    /// 4097..=9000 bytes: more than a table block.
    Large(u16, u8),
}

/// One bound of a range.
#[derive(Arbitrary, Clone, Debug)]
pub enum FuzzBound {
    /// No bound.
    Unbounded,
    /// The key and beyond.
    Included(FuzzKey),
    /// Beyond the key.
    Excluded(FuzzKey),
}

/// How a range is iterated (`strata_sim::Scan`).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FuzzScan {
    /// Ascending.
    Forward,
    /// Descending.
    Reverse,
    /// Alternating `next` and `next_back` on one iterator.
    ZigZag,
}

/// One operation (see `strata_sim::SimOp` for what each does).
#[derive(Arbitrary, Clone, Debug)]
pub enum FuzzOp {
    /// A put.
    Put {
        /// The key.
        key: FuzzKey,
        /// The value.
        value: FuzzVal,
        /// Synced before it is acknowledged.
        durable: bool,
    },
    /// A delete.
    Delete {
        /// The key.
        key: FuzzKey,
        /// Synced before it is acknowledged.
        durable: bool,
    },
    /// An atomic batch (at most [`BATCH_OPS_MAX`] ops).
    Batch {
        /// The ops; a `None` value is a delete. Empty batches get one put.
        ops: Vec<(FuzzKey, Option<FuzzVal>)>,
        /// Synced before it is acknowledged.
        durable: bool,
    },
    /// A point read.
    Get {
        /// The key.
        key: FuzzKey,
    },
    /// A range read.
    Range {
        /// The lower bound.
        lo: FuzzBound,
        /// The upper bound.
        hi: FuzzBound,
        /// The direction.
        scan: FuzzScan,
        /// At most `limit % 64 + 1` entries.
        limit: u8,
    },
    /// Takes a snapshot.
    Snapshot,
    /// A point read through a snapshot.
    SnapshotGet {
        /// Which snapshot (modulo those held).
        slot: u8,
        /// The key.
        key: FuzzKey,
    },
    /// A range read through a snapshot.
    SnapshotRange {
        /// Which snapshot (modulo those held).
        slot: u8,
        /// The lower bound.
        lo: FuzzBound,
        /// The upper bound.
        hi: FuzzBound,
        /// The direction.
        scan: FuzzScan,
        /// At most `limit % 64 + 1` entries.
        limit: u8,
    },
    /// Releases a snapshot.
    DropSnapshot {
        /// Which snapshot (modulo those held).
        slot: u8,
    },
    /// A clean close and reopen.
    Reopen,
    /// A drop without close (the page cache survives), then an open.
    ProcessCrash,
    /// Power loss now (`after_io < 64`) or after `after_io - 63` I/O calls.
    PowerLoss {
        /// When (see above).
        after_io: u8,
    },
    /// The process is killed inside an I/O call.
    ProcessKill {
        /// After this many I/O calls.
        after_io: u8,
    },
    /// A second open must be refused as `Locked`.
    LockProbe,
    /// `Db::flush`.
    Flush,
    /// Calls `Db::step_background`.
    Step {
        /// Up to `n % 8 + 1` steps (fewer if the `Db` is idle).
        n: u8,
    },
    /// `Db::compact`: background steps until idle.
    Compact,
    /// Begins a transaction (at most three stay open).
    TxnBegin {
        /// Serializable, or snapshot isolation.
        serializable: bool,
    },
    /// A point read in an open transaction.
    TxnGet {
        /// Which open transaction (from the newest, modulo those open).
        slot: u8,
        /// The key.
        key: FuzzKey,
    },
    /// A range read in an open transaction.
    TxnRange {
        /// Which open transaction.
        slot: u8,
        /// The lower bound.
        lo: FuzzBound,
        /// The upper bound.
        hi: FuzzBound,
        /// The direction.
        scan: FuzzScan,
        /// At most `limit % 64 + 1` entries.
        limit: u8,
    },
    /// A put (or, with no value, a delete) in an open transaction.
    TxnWrite {
        /// Which open transaction.
        slot: u8,
        /// The key.
        key: FuzzKey,
        /// The value; `None` deletes.
        value: Option<FuzzVal>,
    },
    /// Moves `amount` between two counters in an open transaction.
    TxnTransfer {
        /// Which open transaction.
        slot: u8,
        /// Counter taken from.
        from: u8,
        /// Counter added to.
        to: u8,
        /// How much.
        amount: u8,
    },
    /// Commits an open transaction.
    TxnCommit {
        /// Which open transaction.
        slot: u8,
        /// Synced before it is acknowledged.
        durable: bool,
    },
    /// Rolls an open transaction back.
    TxnRollback {
        /// Which open transaction.
        slot: u8,
    },
    /// The write-skew pair on two keys.
    TxnSkew {
        /// The first key.
        a: FuzzKey,
        /// The second key.
        b: FuzzKey,
        /// Serializable, or snapshot isolation.
        serializable: bool,
        /// Synced commits.
        durable: bool,
    },
}

/// Which faults the simulated disk injects (`strata_sim::FaultMode`).
#[derive(Arbitrary, Clone, Copy, Debug)]
pub enum FuzzFaults {
    /// None.
    None,
    /// Crashes only.
    Crash,
    /// Crashes, transient errors, sticky fsync failures, bit flips and read
    /// errors.
    All,
}

/// The run's configuration, decoded first.
#[derive(Arbitrary, Clone, Copy, Debug)]
pub struct FuzzConfig {
    /// Drives the disk's fault schedule and what a power loss keeps.
    pub seed: u64,
    /// An ART memtable (otherwise a B-tree).
    pub art: bool,
    /// The faults injected.
    pub faults: FuzzFaults,
    /// Unsynced writes lost as a suffix only (otherwise any subset).
    pub prefix_disk: bool,
}

impl FuzzConfig {
    /// As the runner's configuration.
    pub fn run_config(&self, ops: usize) -> RunConfig {
        RunConfig {
            ops,
            memtable: if self.art {
                MemtableChoice::Art
            } else {
                MemtableChoice::Btree
            },
            faults: match self.faults {
                FuzzFaults::None => FaultMode::None,
                FuzzFaults::Crash => FaultMode::Crash,
                FuzzFaults::All => FaultMode::All,
            },
            disk: if self.prefix_disk {
                DiskModel::Prefix
            } else {
                DiskModel::Full
            },
            ..RunConfig::default()
        }
    }
}

struct Mapper {
    pool: Vec<Vec<u8>>,
}

impl Mapper {
    fn key(&self, k: &FuzzKey) -> Vec<u8> {
        match k {
            FuzzKey::Pool(i) => self.pool[usize::from(*i) % self.pool.len()].clone(),
            FuzzKey::Raw(b) => b.iter().take(8).copied().collect(),
        }
    }

    fn bound(&self, b: &FuzzBound) -> KeyBound {
        match b {
            FuzzBound::Unbounded => KeyBound::Unbounded,
            FuzzBound::Included(k) => KeyBound::Included(self.key(k)),
            FuzzBound::Excluded(k) => KeyBound::Excluded(self.key(k)),
        }
    }

    fn op(&self, op: &FuzzOp) -> SimOp {
        match op {
            FuzzOp::Put {
                key,
                value,
                durable,
            } => SimOp::Put {
                key: self.key(key),
                value: val(*value),
                durable: *durable,
            },
            FuzzOp::Delete { key, durable } => SimOp::Delete {
                key: self.key(key),
                durable: *durable,
            },
            FuzzOp::Batch { ops, durable } => {
                let mut ops: Vec<(Vec<u8>, Option<Val>)> = ops
                    .iter()
                    .take(BATCH_OPS_MAX)
                    .map(|(k, v)| (self.key(k), v.map(val)))
                    .collect();
                if ops.is_empty() {
                    ops.push((Vec::new(), Some(val(FuzzVal::Empty))));
                }
                SimOp::Batch {
                    ops,
                    durable: *durable,
                }
            }
            FuzzOp::Get { key } => SimOp::Get { key: self.key(key) },
            FuzzOp::Range {
                lo,
                hi,
                scan: s,
                limit,
            } => SimOp::Range {
                lo: self.bound(lo),
                hi: self.bound(hi),
                scan: scan(*s),
                limit: u32::from(*limit % 64) + 1,
            },
            FuzzOp::Snapshot => SimOp::Snapshot,
            FuzzOp::SnapshotGet { slot, key } => SimOp::SnapshotGet {
                slot: *slot,
                key: self.key(key),
            },
            FuzzOp::SnapshotRange {
                slot,
                lo,
                hi,
                scan: s,
                limit,
            } => SimOp::SnapshotRange {
                slot: *slot,
                lo: self.bound(lo),
                hi: self.bound(hi),
                scan: scan(*s),
                limit: u32::from(*limit % 64) + 1,
            },
            FuzzOp::DropSnapshot { slot } => SimOp::DropSnapshot { slot: *slot },
            FuzzOp::Reopen => SimOp::Reopen,
            FuzzOp::ProcessCrash => SimOp::ProcessCrash,
            // A quarter lose power now, the rest 1..=192 I/O calls later
            // (inside a write, flush, compaction or recovery).
            FuzzOp::PowerLoss { after_io } => SimOp::PowerLoss {
                after_io: u32::from(after_io.saturating_sub(63)),
            },
            FuzzOp::ProcessKill { after_io } => SimOp::ProcessKill {
                after_io: u32::from(*after_io),
            },
            FuzzOp::LockProbe => SimOp::LockProbe,
            FuzzOp::Flush => SimOp::Flush,
            FuzzOp::Step { n } => SimOp::Step { n: n % 8 + 1 },
            FuzzOp::Compact => SimOp::Compact,
            FuzzOp::TxnBegin { serializable } => SimOp::TxnBegin {
                serializable: *serializable,
            },
            FuzzOp::TxnGet { slot, key } => SimOp::TxnGet {
                slot: *slot,
                key: self.key(key),
            },
            FuzzOp::TxnRange {
                slot,
                lo,
                hi,
                scan: s,
                limit,
            } => SimOp::TxnRange {
                slot: *slot,
                lo: self.bound(lo),
                hi: self.bound(hi),
                scan: scan(*s),
                limit: u32::from(*limit % 64) + 1,
            },
            FuzzOp::TxnWrite { slot, key, value } => SimOp::TxnWrite {
                slot: *slot,
                key: self.key(key),
                value: value.map(val),
            },
            FuzzOp::TxnTransfer {
                slot,
                from,
                to,
                amount,
            } => SimOp::TxnTransfer {
                slot: *slot,
                from: *from,
                to: *to,
                amount: *amount % 9 + 1,
            },
            FuzzOp::TxnCommit { slot, durable } => SimOp::TxnCommit {
                slot: *slot,
                durable: *durable,
            },
            FuzzOp::TxnRollback { slot } => SimOp::TxnRollback { slot: *slot },
            FuzzOp::TxnSkew {
                a,
                b,
                serializable,
                durable,
            } => SimOp::TxnSkew {
                a: self.key(a),
                b: self.key(b),
                serializable: *serializable,
                durable: *durable,
            },
        }
    }
}

fn val(v: FuzzVal) -> Val {
    let (len, tag) = match v {
        FuzzVal::Empty => (0, 0),
        FuzzVal::Small(l, t) => (1 + u32::from(l) % 16, t),
        FuzzVal::Medium(l, t) => (17 + u32::from(l) % 2032, t),
        FuzzVal::Large(l, t) => (4097 + u32::from(l) % 4904, t),
    };
    Val {
        len,
        tag: u32::from(tag),
    }
}

fn scan(s: FuzzScan) -> Scan {
    match s {
        FuzzScan::Forward => Scan::Forward,
        FuzzScan::Reverse => Scan::Reverse,
        FuzzScan::ZigZag => Scan::ZigZag,
    }
}

/// Decodes one input into the run's seed, configuration and ops.
pub fn decode(data: &[u8]) -> (u64, RunConfig, Vec<SimOp>) {
    let mut u = Unstructured::new(data);
    let cfg = FuzzConfig::arbitrary(&mut u).unwrap_or(FuzzConfig {
        seed: 0,
        art: false,
        faults: FuzzFaults::None,
        prefix_disk: false,
    });
    let mapper = Mapper { pool: key_pool() };
    let mut ops = Vec::new();
    while ops.len() < OPS_MAX && !u.is_empty() {
        match FuzzOp::arbitrary(&mut u) {
            Ok(op) => ops.push(mapper.op(&op)),
            Err(_) => break,
        }
    }
    (cfg.seed, cfg.run_config(ops.len()), ops)
}

/// Runs one input; the outcome is returned for inspection.
pub fn execute_input(data: &[u8]) -> (Vec<SimOp>, RunOutcome) {
    let (seed, cfg, ops) = decode(data);
    let out = execute(seed, &ops, &cfg, true);
    (ops, out)
}

/// Runs one input: panics (a fuzz crash) with the trace and a ready-made
/// regression test if the runner reports a failure.
pub fn run(data: &[u8]) {
    let (seed, cfg, ops) = decode(data);
    let out = execute(seed, &ops, &cfg, false);
    if out.failure.is_none() {
        return;
    }
    // Re-run with the trace kept (the run is deterministic).
    let out = execute(seed, &ops, &cfg, true);
    let f = out
        .failure
        .as_ref()
        .expect("a deterministic run fails again");
    let mut msg = String::new();
    for line in &out.trace {
        msg.push_str(line);
        msg.push('\n');
    }
    msg.push_str(&format!("seed {seed} config {cfg:?}\nops:\n"));
    for op in &ops {
        msg.push_str(&format!("    {},\n", op.to_rust()));
    }
    panic!(
        "{msg}engine_model failure at op {}: {}",
        f.op_index, f.message
    );
}

/// Seed inputs for `engine_model`: PRNG bytes (any bytes decode to a run),
/// two per (fault mode, memtable) pair, kept when the run passes and had a
/// power loss, a flush or background step, at least eight acknowledged
/// writes and a transaction (with all faults on: and an injected fault).
/// Deterministic.
pub fn seed_inputs() -> Vec<(String, Vec<u8>)> {
    let mut rng = SplitMix64::new(0x5eed_0e61);
    let mut out = Vec::new();
    let mut want: Vec<(u8, bool, usize)> = Vec::new();
    for faults in 0..3u8 {
        for art in [false, true] {
            want.push((faults, art, 2));
        }
    }
    let mut tries = 0;
    while want.iter().any(|w| w.2 > 0) && tries < 100_000 {
        tries += 1;
        let len = [600usize, 1500][tries % 2];
        let data = prng_bytes(&mut rng, len);
        let mut u = Unstructured::new(&data);
        let Ok(cfg) = FuzzConfig::arbitrary(&mut u) else {
            continue;
        };
        let faults = match cfg.faults {
            FuzzFaults::None => 0,
            FuzzFaults::Crash => 1,
            FuzzFaults::All => 2,
        };
        let Some(slot) = want
            .iter_mut()
            .find(|w| w.0 == faults && w.1 == cfg.art && w.2 > 0)
        else {
            continue;
        };
        let (_, out_run) = execute_input(&data);
        let s = &out_run.stats;
        let injected =
            s.sim.transient_errors + s.sim.sync_failures + s.sim.bit_flips + s.sim.read_errors;
        if out_run.failure.is_none()
            && (faults < 2 || injected > 0)
            && s.power_losses > 0
            && s.flushes + s.background_steps > 0
            && s.writes_acked >= 8
            && s.txns_begun > 0
        {
            slot.2 -= 1;
            out.push((
                format!("prng-f{faults}-art{}-{}", u8::from(cfg.art), slot.2),
                data,
            ));
        }
    }
    out
}
