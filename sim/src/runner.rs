//! Runs one workload against `strata::Db` on a `SimFs`, checking every
//! result against the reference model and every recovery against the crash
//! oracle.
//!
//! Rules the runner enforces (the oracle section of `sim/README.md` gives
//! the reasons):
//! - a write that returns `Ok(s)` must return exactly the model's next seqno;
//! - a read that returns `Ok` must match the model (current state, or the
//!   snapshot's seqno); an `Err` is accepted only when a fault was injected;
//! - after a failed write the `Db` must refuse writes (`Poisoned`);
//! - after a power loss the recovered state must be a prefix of the history
//!   that holds every write acknowledged durable; after a process crash or a
//!   clean close, every acknowledged write (the page cache survives);
//! - a second open of a locked directory must fail with `Locked`.
//!
//! A write whose outcome is unknown (it failed, or the process died inside
//! it) is applied to the model's history anyway: the oracle then accepts the
//! state with or without it, and the model is cut back to the recovered
//! prefix, so the next seqno agrees with the engine's.
//!
//! This file drives the `Db` one op at a time; `runner/judge.rs` compares its
//! answers with the model, `runner/recovery.rs` handles deaths, reopens and
//! recoveries, and `runner/stats.rs` counts.

mod at_rest;
mod checkpoint;
mod judge;
pub(crate) mod liveness;
mod reads;
mod recovery;
mod repair;
mod stats;
mod txn;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use strata::fs::FileSystem;
use strata::{
    BackgroundMode, BackgroundStep, CompactionOptions, Compression, Db, Error, MemtableKind,
    Options, Snapshot, TableOptions, WriteBatch, WriteOptions,
};
use strata_models::{KvModel, Op, SeqNo};

use crate::profile::{Knobs, Profile};
use crate::rng::{Digest, Rng};
use crate::simfs::{FaultRates, SimFs};
use crate::workload::{
    collect_scan, generate_with, write_options, FaultMode, Scan, SimOp, Val, SNAPSHOTS_MAX,
};

use judge::RangeRead;
pub use stats::{RunStats, LEVELS_SEEN};

/// The database directory inside the simulated disk.
pub const DB_DIR: &str = "/db";

/// Which memtable the engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemtableChoice {
    /// `strata::MemtableKind::BTree`: a B-tree map behind a lock.
    Btree,
    /// `strata::MemtableKind::Art`: the concurrent adaptive radix tree.
    Art,
}

/// What the simulated disk may do at a power loss.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum DiskModel {
    /// Unsynced writes lost entirely, as a suffix, or as an arbitrary subset.
    #[default]
    Full,
    /// Unsynced writes lost entirely or as a suffix only (no reordering).
    Prefix,
    /// Sabotage to test the checker: syncs persist nothing. Runs must fail.
    LyingSync,
}

/// What one run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RunConfig {
    /// Operations in the generated workload.
    pub ops: usize,
    /// The memtable the engine uses.
    pub memtable: MemtableChoice,
    /// What the run injects.
    pub faults: FaultMode,
    /// What a power loss may do to unsynced writes.
    pub disk: DiskModel,
    /// Which configuration each seed runs with.
    pub profile: Profile,
}

impl Default for RunConfig {
    /// The `strata-sim` command line's defaults, which are taken from here:
    /// 1000 ops on the ART memtable, every fault, the full disk model.
    fn default() -> Self {
        RunConfig {
            ops: 1000,
            memtable: MemtableChoice::Art,
            faults: FaultMode::All,
            disk: DiskModel::Full,
            profile: Profile::Default,
        }
    }
}

/// Fault rates used with `--faults all`.
pub const FAULT_RATES_ALL: FaultRates = FaultRates {
    transient_per_million: 1_500,
    sync_failure_per_million: 3_000,
    bit_flip_per_million: 20_000,
    read_error_per_million: 5_000,
};

/// The first thing that went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Index of the op being executed (== ops.len() for the final check).
    pub op_index: usize,
    /// What went wrong, with the values that disagreed.
    pub message: String,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    /// The seed the run's faults and crashes came from.
    pub seed: u64,
    /// Digest of the whole trace: equal for equal runs.
    pub digest: u64,
    /// What the run did.
    pub stats: RunStats,
    /// The first failure, if any; the run stops there.
    pub failure: Option<Failure>,
    /// The trace lines, if asked for.
    pub trace: Vec<String>,
}

/// Generates the workload for `seed` and runs it.
pub fn run_seed(seed: u64, cfg: &RunConfig, keep_trace: bool) -> RunOutcome {
    let knobs = Knobs::draw(seed, cfg);
    let ops = generate_with(seed, cfg.ops, cfg.faults, &knobs.workload);
    execute(seed, &ops, cfg, keep_trace)
}

/// Runs `ops`; fault and crash choices come from `seed`. A panic in the
/// engine is reported as a failure.
pub fn execute(seed: u64, ops: &[SimOp], cfg: &RunConfig, keep_trace: bool) -> RunOutcome {
    let mut ex = Exec::new(seed, cfg, keep_trace);
    let result = catch_unwind(AssertUnwindSafe(|| ex.run(ops)));
    let failure = match result {
        Ok(Ok(())) => None,
        Ok(Err(f)) => Some(f),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_else(|| "non-string panic".into());
            Some(Failure {
                op_index: ex.op_index,
                message: format!("panic: {msg}"),
            })
        }
    };
    if failure.is_some() {
        ex.stats.divergences += 1;
    }
    ex.stats.sim = ex.fs.stats();
    ex.stats.seeds = 1;
    ex.stats.seeds_by_deepest_level[ex.deepest_level.min(LEVELS_SEEN - 1)] += 1;
    if let Some(f) = &failure {
        ex.line(format!("FAILURE at op {}: {}", f.op_index, f.message));
    }
    RunOutcome {
        seed,
        digest: ex.digest.value(),
        stats: ex.stats,
        failure,
        trace: ex.trace,
    }
}

type Step = Result<(), String>;

/// What happens when the armed crash fires.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum KillKind {
    Power,
    Process,
}

struct Exec {
    seed: u64,
    /// The seed's configuration (fixed, or drawn by its profile).
    knobs: Knobs,
    /// The deepest level that held tables at some point.
    deepest_level: usize,
    /// Files damaged at rest in this run.
    damaged: Vec<at_rest::Damaged>,
    kill_kind: KillKind,
    cfg: RunConfig,
    fs: SimFs,
    db: Option<Db>,
    model: KvModel,
    /// Highest seqno acknowledged (any sync mode) / acknowledged durable.
    acked: SeqNo,
    durable_mark: SeqNo,
    snapshots: Vec<(Snapshot, SeqNo)>,
    crash_rng: Rng,
    rates: FaultRates,
    /// The Db call in progress, for classifying crash sites.
    call: &'static str,
    op_index: usize,
    stats: RunStats,
    digest: Digest,
    keep_trace: bool,
    trace: Vec<String>,
    /// Checkpoints that returned `Ok`, with what each must hold.
    checkpoints: Vec<checkpoint::Taken>,
    /// Checkpoints attempted (names the next one's directory).
    checkpoints_tried: u32,
    /// Open transactions, oldest first.
    txns: Vec<txn::OpenTxn>,
}

/// The model's form of a workload write.
pub(crate) fn model_ops(ops: &[(Vec<u8>, Option<Val>)]) -> Vec<Op> {
    ops.iter()
        .map(|(k, v)| match v {
            Some(v) => Op::Put {
                key: k.clone(),
                value: v.bytes(),
            },
            None => Op::Delete { key: k.clone() },
        })
        .collect()
}

/// The `Db` call a write of `mops` is issued as: one put, one delete, or a
/// batch.
pub(crate) fn write_call(mops: &[Op]) -> &'static str {
    match mops {
        [Op::Put { .. }] => "put",
        [Op::Delete { .. }] => "delete",
        _ => "write",
    }
}

/// Issues a write of `mops` as [`write_call`] names it.
pub(crate) fn submit_write(db: &Db, mops: &[Op], wo: WriteOptions) -> strata::Result<SeqNo> {
    match mops {
        [Op::Put { key, value }] => db.put(key, value, wo),
        [Op::Delete { key }] => db.delete(key, wo),
        _ => {
            let mut b = WriteBatch::new();
            for op in mops {
                match op {
                    Op::Put { key, value } => b.put(key.clone(), value.clone()),
                    Op::Delete { key } => b.delete(key.clone()),
                };
            }
            db.write(b, wo)
        }
    }
}

impl Exec {
    fn new(seed: u64, cfg: &RunConfig, keep_trace: bool) -> Self {
        let knobs = Knobs::draw(seed, cfg);
        let rates = knobs.faults;
        let fs = SimFs::new(Rng::derive(seed, 2).next_u64());
        fs.set_reordering(cfg.disk == DiskModel::Full);
        fs.set_lying_sync(cfg.disk == DiskModel::LyingSync);
        Exec {
            seed,
            knobs,
            deepest_level: 0,
            damaged: Vec::new(),
            kill_kind: KillKind::Power,
            cfg: *cfg,
            fs,
            db: None,
            model: KvModel::new(),
            acked: 0,
            durable_mark: 0,
            snapshots: Vec::new(),
            crash_rng: Rng::derive(seed, 3),
            rates,
            call: "idle",
            op_index: 0,
            stats: RunStats::default(),
            digest: Digest::default(),
            keep_trace,
            trace: Vec::new(),
            checkpoints: Vec::new(),
            checkpoints_tried: 0,
            txns: Vec::new(),
        }
    }

    fn line(&mut self, s: String) {
        self.digest.update(s.as_bytes());
        self.digest.update(b"\n");
        if self.keep_trace {
            self.trace.push(s);
        }
    }

    fn options(&self) -> Result<Options, String> {
        let k = &self.knobs;
        Ok(Options {
            fs: Arc::new(self.fs.clone()) as Arc<dyn FileSystem>,
            background: BackgroundMode::Manual,
            memtable: match k.memtable {
                MemtableChoice::Btree => MemtableKind::BTree,
                MemtableChoice::Art => MemtableKind::Art,
            },
            // The default profile: small everything, so many memtable
            // rotations, flushes, level-0 compactions and manifest rewrites
            // per thousand ops (src/profile.rs).
            memtable_bytes_max: k.memtable_bytes_max,
            frozen_memtables_max: k.frozen_memtables_max,
            recovery: k.recovery,
            table: TableOptions {
                block_bytes_target: k.block_bytes_target,
                restart_interval: k.restart_interval,
                bloom_bits_per_key: k.bloom_bits_per_key,
                compression: if k.compression {
                    Compression::Lz4
                } else {
                    Compression::None
                },
            },
            compaction: CompactionOptions {
                l0_compaction_trigger: k.l0_compaction_trigger,
                l0_slowdown_trigger: k.l0_slowdown_trigger,
                l0_stop_trigger: k.l0_stop_trigger,
                level1_bytes_target: k.level1_bytes_target,
                level_size_multiplier: k.level_size_multiplier,
                target_file_bytes: k.target_file_bytes,
            },
            block_cache_bytes: k.block_cache_bytes,
            manifest_bytes_max: k.manifest_bytes_max,
            transaction_history_max: k.transaction_history_max,
            ..Options::default()
        })
    }

    fn run(&mut self, ops: &[SimOp]) -> Result<(), Failure> {
        let wrap = |i: usize| {
            move |message: String| Failure {
                op_index: i,
                message,
            }
        };
        self.fs.set_faults(self.rates);
        self.fs.set_faults_enabled(false);
        if self.cfg.profile != Profile::Default {
            self.line(format!("config: {}", self.knobs));
        }
        let opts = self.options().map_err(wrap(0))?;
        let db = Db::open(DB_DIR, opts).map_err(|e| wrap(0)(format!("initial open: {e}")))?;
        self.db = Some(db);
        self.fs
            .set_faults_enabled(self.cfg.faults == FaultMode::All);
        for (i, op) in ops.iter().enumerate() {
            self.op_index = i;
            self.stats.ops += 1;
            self.line(format!("#{i} {op}"));
            // Faults and crash outcomes are drawn from streams keyed by the
            // op itself, not by its position, so deleting other ops (while
            // shrinking) leaves this op's faults alone.
            let salt = self.seed ^ op_hash(op);
            self.fs.reseed_faults(Rng::derive(salt, 2).next_u64());
            self.crash_rng = Rng::derive(salt, 3);
            match self.step(op) {
                Err(m) if m == at_rest::DAMAGE_DETECTED => return Ok(()),
                r => r.map_err(wrap(i))?,
            }
        }
        self.op_index = ops.len();
        for end in [Self::final_check, Self::check_checkpoints, Self::liveness] {
            match end(self) {
                Err(m) if m == at_rest::DAMAGE_DETECTED => return Ok(()),
                r => r.map_err(wrap(ops.len()))?,
            }
        }
        Ok(())
    }

    fn db(&self) -> Result<&Db, String> {
        self.db
            .as_ref()
            .ok_or_else(|| "no open database".to_string())
    }

    fn step(&mut self, op: &SimOp) -> Step {
        match op {
            SimOp::Put {
                key,
                value,
                durable,
            } => self.write(vec![(key.clone(), Some(*value))], *durable),
            SimOp::Delete { key, durable } => self.write(vec![(key.clone(), None)], *durable),
            SimOp::Batch { ops, durable } => self.write(ops.clone(), *durable),
            SimOp::Get { key } => self.get(key),
            SimOp::Range {
                lo,
                hi,
                scan,
                limit,
            } => self.range(RangeRead::new(lo, hi, *scan, *limit)),
            SimOp::Snapshot => self.take_snapshot(),
            SimOp::SnapshotGet { slot, key } => self.snapshot_get(*slot, key),
            SimOp::SnapshotRange {
                slot,
                lo,
                hi,
                scan,
                limit,
            } => self.snapshot_range(*slot, RangeRead::new(lo, hi, *scan, *limit)),
            SimOp::DropSnapshot { slot } => {
                if let Some(i) = self.slot(*slot) {
                    self.snapshots.remove(i);
                }
                Ok(())
            }
            SimOp::Reopen => self.reopen(),
            SimOp::ProcessCrash => self.process_crash(),
            SimOp::PowerLoss { after_io } => self.power_loss_after(*after_io),
            SimOp::ProcessKill { after_io } => {
                self.kill_kind = KillKind::Process;
                self.fs.crash_after(u64::from(*after_io).max(1));
                Ok(())
            }
            SimOp::Flush => {
                self.call = "flush";
                let r = self.db()?.flush();
                self.stats.flushes += 1;
                self.background(r.map(|()| "flushed".to_string()))
            }
            SimOp::Step { n } => self.step_background(*n),
            SimOp::Compact => {
                self.call = "compact";
                let r = self.db()?.compact();
                self.stats.compactions += 1;
                self.background(r.map(|()| "compacted".to_string()))
            }
            SimOp::LockProbe => self.lock_probe(),
            SimOp::CompactRange { lo, hi } => {
                self.call = "compact_range";
                let r = self.db()?.compact_range((lo.to_bound(), hi.to_bound()));
                self.stats.compactions += 1;
                self.background(r.map(|()| "compacted the range".to_string()))
            }
            SimOp::Cursor {
                slot,
                start,
                moves,
                n,
            } => self.cursor(*slot, start, *moves, *n),
            SimOp::MultiGet { keys } => self.multi_get(keys),
            SimOp::Prefix { prefix, reverse } => self.prefix(prefix, *reverse),
            SimOp::FirstLast => self.first_last(),
            SimOp::Properties { lo, hi } => self.properties(lo, hi),
            SimOp::ReadOnlyOpen => self.read_only_open(),
            SimOp::Checkpoint => self.checkpoint(),
            SimOp::TxnBegin { serializable } => self.txn_begin(*serializable),
            SimOp::TxnGet { slot, key } => self.txn_get(*slot, key),
            SimOp::TxnRange {
                slot,
                lo,
                hi,
                scan,
                limit,
            } => self.txn_range(*slot, RangeRead::new(lo, hi, *scan, *limit)),
            SimOp::TxnWrite { slot, key, value } => self.txn_write(*slot, key, *value),
            SimOp::TxnTransfer {
                slot,
                from,
                to,
                amount,
            } => self.txn_transfer(*slot, *from, *to, *amount),
            SimOp::TxnCommit { slot, durable } => self.txn_commit(*slot, *durable),
            SimOp::TxnRollback { slot } => {
                self.txn_rollback(*slot);
                Ok(())
            }
            SimOp::TxnSkew {
                a,
                b,
                serializable,
                durable,
            } => self.txn_skew(a, b, *serializable, *durable),
            SimOp::TxnPhantom {
                lo,
                hi,
                limit,
                key,
                value,
                serializable,
            } => self.txn_phantom(
                RangeRead::new(lo, hi, Scan::Forward, *limit),
                key,
                *value,
                *serializable,
            ),
        }
    }

    fn get(&mut self, key: &[u8]) -> Step {
        self.call = "get";
        let r = self.db()?.get(key);
        if let Some(got) = self.read_result(r)? {
            let want = self.model.get(key).map(<[u8]>::to_vec);
            self.compare_get(key, &want, &got, "get")?;
        }
        Ok(())
    }

    fn range(&mut self, read: RangeRead<'_>) -> Step {
        self.call = "range";
        let at = self.model.last_seqno();
        let r = self
            .db()?
            .range((read.lo.to_bound(), read.hi.to_bound()))
            .and_then(|it| collect_scan(it, read.scan, read.limit));
        self.check_scan(r, read, at, "range")
    }

    fn take_snapshot(&mut self) -> Step {
        let snap = self.db()?.snapshot();
        let want = self.model.last_seqno();
        if snap.seqno() != want {
            return Err(format!(
                "snapshot seqno {} but the model is at {want}",
                snap.seqno()
            ));
        }
        self.snapshots.push((snap, want));
        if self.snapshots.len() > SNAPSHOTS_MAX {
            self.snapshots.remove(0);
        }
        self.line(format!("  snapshot at {want}"));
        Ok(())
    }

    fn snapshot_get(&mut self, slot: u8, key: &[u8]) -> Step {
        let Some(i) = self.slot(slot) else {
            return Ok(());
        };
        self.call = "snapshot.get";
        let at = self.snapshots[i].1;
        let r = self.snapshots[i].0.get(key);
        if let Some(got) = self.read_result(r)? {
            let want = self.model.get_at(key, at).map(<[u8]>::to_vec);
            self.compare_get(key, &want, &got, "snapshot get")?;
        }
        Ok(())
    }

    fn snapshot_range(&mut self, slot: u8, read: RangeRead<'_>) -> Step {
        let Some(i) = self.slot(slot) else {
            return Ok(());
        };
        self.call = "snapshot.range";
        let at = self.snapshots[i].1;
        let r = self.snapshots[i]
            .0
            .range((read.lo.to_bound(), read.hi.to_bound()))
            .and_then(|it| collect_scan(it, read.scan, read.limit));
        self.check_scan(r, read, at, "snapshot range")
    }

    fn slot(&self, slot: u8) -> Option<usize> {
        (!self.snapshots.is_empty()).then(|| slot as usize % self.snapshots.len())
    }

    /// Up to `n` background steps, stopping early when the Db is idle.
    fn step_background(&mut self, n: u8) -> Step {
        self.call = "step";
        let mut r = Ok(String::new());
        for _ in 0..n {
            match self.db()?.step_background() {
                Ok(BackgroundStep::Idle) => break,
                Ok(s) => {
                    self.stats.background_steps += 1;
                    if let Ok(t) = &mut r {
                        t.push_str(&format!("{s:?} "));
                    }
                }
                Err(e) => {
                    r = Err(e);
                    break;
                }
            }
        }
        self.background(r)
    }

    /// A second open of the locked directory, which must fail with `Locked`.
    fn lock_probe(&mut self) -> Step {
        self.stats.lock_probes += 1;
        self.call = "open";
        let opts = self.options()?;
        match Db::open(DB_DIR, opts) {
            Ok(_) => Err("a second open of a locked directory succeeded".into()),
            Err(Error::Locked { .. }) => Ok(()),
            Err(e) => {
                if self.fs.is_dead() {
                    self.power_loss()
                } else if self.cfg.faults == FaultMode::All {
                    Ok(())
                } else {
                    Err(format!("second open failed with {e}, expected Locked"))
                }
            }
        }
    }

    fn write(&mut self, ops: Vec<(Vec<u8>, Option<Val>)>, durable: bool) -> Step {
        let wo = write_options(durable);
        let mops = model_ops(&ops);
        let n = mops.len() as u64;
        let db = self.db.as_ref().ok_or("no open database")?;
        self.call = write_call(&mops);
        let res = submit_write(db, &mops, wo);
        match res {
            Ok(s) => {
                self.check_write_seqno(s, n)?;
                self.acked_write(s, mops, durable);
                Ok(())
            }
            Err(e) => self.write_failed(e, mops),
        }
    }

    /// A write (or a transaction's commit) acknowledged at `s`.
    fn acked_write(&mut self, s: SeqNo, mops: Vec<Op>, durable: bool) {
        self.model.apply(mops);
        self.acked = s;
        if durable {
            self.durable_mark = s;
        }
        self.stats.writes_acked += 1;
        self.line(format!("  ok seqno {s}"));
        self.note_txn_history();
    }

    /// A write failed: its outcome is unknown, and the Db must refuse writes
    /// until it is reopened.
    fn write_failed(&mut self, e: Error, mops: Vec<Op>) -> Step {
        self.stats.write_errors += 1;
        self.line(format!("  write error: {e}"));
        if self.damage_explains(&e) {
            return Err(self.damage_detected("write", &e));
        }
        if matches!(e, Error::InvalidArgument(_) | Error::Closed) {
            return Err(format!("write refused: {e}"));
        }
        // Outcome unknown: the oracle accepts it present or absent.
        self.model.apply(mops);
        if self.fs.is_dead() {
            return self.power_loss();
        }
        if self.cfg.faults != FaultMode::All {
            return Err(format!("write failed with no fault injected: {e}"));
        }
        self.check_poisoned()?;
        self.restart()
    }

    /// Records the deepest level holding tables so far (not in the trace:
    /// it changes nothing the run does).
    pub(super) fn note_depth(&mut self) {
        if let Some(db) = &self.db {
            let deepest = db
                .stats()
                .levels
                .iter()
                .rposition(|l| l.files > 0)
                .unwrap_or(0);
            self.deepest_level = self.deepest_level.max(deepest);
        }
    }

    /// Checks a flush or background step; afterwards every read must still
    /// match the model (background work never changes the logical state).
    fn background(&mut self, r: strata::Result<String>) -> Step {
        match r {
            Ok(what) => {
                self.line(format!("  {what}"));
                self.note_depth();
                Ok(())
            }
            Err(e) => {
                self.stats.background_errors += 1;
                self.line(format!("  background error: {e}"));
                if self.damage_explains(&e) {
                    return Err(self.damage_detected("background work", &e));
                }
                if self.fs.is_dead() {
                    self.power_loss()
                } else if self.cfg.faults == FaultMode::All {
                    // The Db may be poisoned; start a new process.
                    self.restart()
                } else {
                    Err(format!(
                        "background work failed with no fault injected: {e}"
                    ))
                }
            }
        }
    }
}

/// A stable hash of an op (FNV over its Rust form: the same on every build
/// and platform, unlike `std`'s hasher, which may change between releases).
fn op_hash(op: &SimOp) -> u64 {
    let mut d = Digest::default();
    d.update(op.to_rust().as_bytes());
    d.value()
}

/// Where the database lives, for tests.
pub fn db_dir() -> &'static Path {
    Path::new(DB_DIR)
}
