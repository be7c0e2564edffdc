//! Runs one workload against `strata::Db` on a `SimFs`, checking every
//! result against the reference model and every recovery against the crash
//! oracle.
//!
//! Rules the runner enforces (BRIEF §2):
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

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::path::Path;
use std::sync::Arc;

use strata::fs::FileSystem;
use strata::{
    BackgroundMode, BackgroundStep, CompactionOptions, Db, DbIter, Error, MemtableKind, Options,
    Snapshot, TableOptions, WriteBatch, WriteOptions,
};
use strata_models::{CrashOracle, Dir, KvModel, Op, SeqNo, State};

use crate::rng::{Digest, Rng};
use crate::simfs::{FaultRates, SimFs, SimStats};
use crate::workload::{generate, FaultMode, KeyBound, Scan, SimOp, Val, SNAPSHOTS_MAX};

/// The database directory inside the simulated disk.
pub const DB_DIR: &str = "/db";

/// Which memtable the engine uses.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum MemtableChoice {
    Btree,
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

/// Counters of one run (or, added up, a campaign).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct RunStats {
    pub seeds: u64,
    pub ops: u64,
    pub writes_acked: u64,
    pub write_errors: u64,
    pub reads_checked: u64,
    pub read_errors: u64,
    pub power_losses: u64,
    pub process_crashes: u64,
    /// Processes killed inside a call (page cache kept).
    pub process_kills: u64,
    pub clean_reopens: u64,
    pub recoveries: u64,
    pub open_retries: u64,
    pub lock_probes: u64,
    pub flushes: u64,
    pub background_steps: u64,
    pub compactions: u64,
    pub background_errors: u64,
    /// `db call:file class` -> count.
    pub crash_sites: BTreeMap<String, u64>,
    pub sim: SimStats,
    pub divergences: u64,
}

impl RunStats {
    /// Adds another run's counters.
    pub fn add(&mut self, o: &RunStats) {
        self.seeds += o.seeds;
        self.ops += o.ops;
        self.writes_acked += o.writes_acked;
        self.write_errors += o.write_errors;
        self.reads_checked += o.reads_checked;
        self.read_errors += o.read_errors;
        self.power_losses += o.power_losses;
        self.process_crashes += o.process_crashes;
        self.process_kills += o.process_kills;
        self.clean_reopens += o.clean_reopens;
        self.recoveries += o.recoveries;
        self.open_retries += o.open_retries;
        self.lock_probes += o.lock_probes;
        self.flushes += o.flushes;
        self.background_steps += o.background_steps;
        self.compactions += o.compactions;
        self.background_errors += o.background_errors;
        for (k, v) in &o.crash_sites {
            *self.crash_sites.entry(k.clone()).or_insert(0) += v;
        }
        self.sim.add(&o.sim);
        self.divergences += o.divergences;
    }
}

/// The first thing that went wrong.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Failure {
    /// Index of the op being executed (== ops.len() for the final check).
    pub op_index: usize,
    pub message: String,
}

/// What a run produced.
#[derive(Clone, Debug)]
pub struct RunOutcome {
    pub seed: u64,
    /// Digest of the whole trace: equal for equal runs.
    pub digest: u64,
    pub stats: RunStats,
    pub failure: Option<Failure>,
    /// The trace lines, if asked for.
    pub trace: Vec<String>,
}

/// Generates the workload for `seed` and runs it.
pub fn run_seed(seed: u64, cfg: &RunConfig, keep_trace: bool) -> RunOutcome {
    let ops = generate(seed, cfg.ops, cfg.faults);
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
}

fn model_ops(ops: &[(Vec<u8>, Option<Val>)]) -> Vec<Op> {
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

impl Exec {
    fn new(seed: u64, cfg: &RunConfig, keep_trace: bool) -> Self {
        let rates = match cfg.faults {
            FaultMode::All => FAULT_RATES_ALL,
            _ => FaultRates::default(),
        };
        let fs = SimFs::new(Rng::derive(seed, 2).next_u64());
        fs.set_reordering(cfg.disk == DiskModel::Full);
        fs.set_lying_sync(cfg.disk == DiskModel::LyingSync);
        Exec {
            seed,
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
        let memtable = match self.cfg.memtable {
            MemtableChoice::Btree => MemtableKind::BTree,
            MemtableChoice::Art => MemtableKind::Art,
        };
        Ok(Options {
            fs: Arc::new(self.fs.clone()) as Arc<dyn FileSystem>,
            background: BackgroundMode::Manual,
            memtable,
            // Small everything: many memtable rotations, flushes, level-0
            // compactions and manifest rewrites per thousand ops.
            memtable_bytes_max: 16 * 1024,
            frozen_memtables_max: 4,
            table: TableOptions {
                block_bytes_target: 1024,
                restart_interval: 4,
                ..TableOptions::default()
            },
            compaction: CompactionOptions {
                l0_compaction_trigger: 2,
                l0_slowdown_trigger: 4,
                l0_stop_trigger: 6,
                level1_bytes_target: 64 * 1024,
                level_size_multiplier: 4,
                target_file_bytes: 16 * 1024,
            },
            block_cache_bytes: 256 * 1024,
            manifest_bytes_max: 8 * 1024,
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
            self.step(op).map_err(wrap(i))?;
        }
        self.op_index = ops.len();
        self.final_check().map_err(wrap(ops.len()))
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
            SimOp::Get { key } => {
                self.call = "get";
                let r = self.db()?.get(key);
                if let Some(got) = self.read_result(r)? {
                    let want = self.model.get(key).map(<[u8]>::to_vec);
                    self.compare_get(key, &want, &got, "get")?;
                }
                Ok(())
            }
            SimOp::Range {
                lo,
                hi,
                scan,
                limit,
            } => {
                self.call = "range";
                let at = self.model.last_seqno();
                let r = self
                    .db()?
                    .range((lo.to_bound(), hi.to_bound()))
                    .and_then(|it| collect_scan(it, *scan, *limit));
                self.check_scan(r, lo, hi, *scan, *limit, at, "range")
            }
            SimOp::Snapshot => {
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
            SimOp::SnapshotGet { slot, key } => {
                let Some(i) = self.slot(*slot) else {
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
            SimOp::SnapshotRange {
                slot,
                lo,
                hi,
                scan,
                limit,
            } => {
                let Some(i) = self.slot(*slot) else {
                    return Ok(());
                };
                self.call = "snapshot.range";
                let at = self.snapshots[i].1;
                let r = self.snapshots[i]
                    .0
                    .range((lo.to_bound(), hi.to_bound()))
                    .and_then(|it| collect_scan(it, *scan, *limit));
                self.check_scan(r, lo, hi, *scan, *limit, at, "snapshot range")
            }
            SimOp::DropSnapshot { slot } => {
                if let Some(i) = self.slot(*slot) {
                    self.snapshots.remove(i);
                }
                Ok(())
            }
            SimOp::Reopen => self.reopen(),
            SimOp::ProcessCrash => {
                self.kill_kind = KillKind::Power;
                self.stats.process_crashes += 1;
                self.snapshots.clear();
                self.db = None;
                self.fs.restart_process();
                self.line("  process crash (page cache kept)".into());
                self.recover(self.acked, false)
            }
            SimOp::PowerLoss { after_io } => {
                self.kill_kind = KillKind::Power;
                if *after_io == 0 {
                    self.call = "idle";
                    self.fs.kill();
                    self.power_loss()
                } else {
                    self.fs.crash_after(u64::from(*after_io));
                    Ok(())
                }
            }
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
            SimOp::Step { n } => {
                self.call = "step";
                let mut r = Ok(String::new());
                for _ in 0..*n {
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
            SimOp::Compact => {
                self.call = "compact";
                let r = self.db()?.compact();
                self.stats.compactions += 1;
                self.background(r.map(|()| "compacted".to_string()))
            }
            SimOp::LockProbe => {
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
        }
    }

    fn slot(&self, slot: u8) -> Option<usize> {
        (!self.snapshots.is_empty()).then(|| slot as usize % self.snapshots.len())
    }

    fn write(&mut self, ops: Vec<(Vec<u8>, Option<Val>)>, durable: bool) -> Step {
        let wo = if durable {
            WriteOptions::DURABLE
        } else {
            WriteOptions::BUFFERED
        };
        let mops = model_ops(&ops);
        let n = mops.len() as u64;
        let db = self.db.as_ref().ok_or("no open database")?;
        let res = match mops.as_slice() {
            [Op::Put { key, value }] if ops.len() == 1 => {
                self.call = "put";
                db.put(key, value, wo)
            }
            [Op::Delete { key }] if ops.len() == 1 => {
                self.call = "delete";
                db.delete(key, wo)
            }
            _ => {
                self.call = "write";
                let mut b = WriteBatch::new();
                for op in &mops {
                    match op {
                        Op::Put { key, value } => b.put(key.clone(), value.clone()),
                        Op::Delete { key } => b.delete(key.clone()),
                    };
                }
                db.write(b, wo)
            }
        };
        match res {
            Ok(s) => {
                let want = self.model.last_seqno() + n;
                if s != want {
                    return Err(format!(
                        "write returned seqno {s}, the model expected {want}"
                    ));
                }
                self.model.apply(mops);
                self.acked = s;
                if durable {
                    self.durable_mark = s;
                }
                self.stats.writes_acked += 1;
                self.line(format!("  ok seqno {s}"));
                Ok(())
            }
            Err(e) => {
                self.stats.write_errors += 1;
                self.line(format!("  write error: {e}"));
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
                match self.db()?.put(b"probe", b"", WriteOptions::BUFFERED) {
                    Ok(s) => {
                        return Err(format!(
                            "a write was accepted (seqno {s}) after a failed write; \
                             the Db must refuse writes until reopened"
                        ))
                    }
                    Err(Error::Poisoned { .. }) => {}
                    Err(e) => {
                        return Err(format!(
                            "after a failed write, a write failed with {e}, expected Poisoned"
                        ))
                    }
                }
                self.restart()
            }
        }
    }

    /// Checks a flush or background step; afterwards every read must still
    /// match the model (background work never changes the logical state).
    fn background(&mut self, r: strata::Result<String>) -> Step {
        match r {
            Ok(what) => {
                self.line(format!("  {what}"));
                Ok(())
            }
            Err(e) => {
                self.stats.background_errors += 1;
                self.line(format!("  background error: {e}"));
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

    /// Maps a read result: `Ok(None)` when the error is acceptable.
    fn read_result<T>(&mut self, r: strata::Result<T>) -> Result<Option<T>, String> {
        match r {
            Ok(v) => {
                self.stats.reads_checked += 1;
                Ok(Some(v))
            }
            Err(e) => {
                self.line(format!("  read error: {e}"));
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

    fn compare_get(
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

    #[allow(clippy::too_many_arguments)]
    fn check_scan(
        &mut self,
        r: strata::Result<Vec<(Vec<u8>, Vec<u8>)>>,
        lo: &KeyBound,
        hi: &KeyBound,
        scan: Scan,
        limit: u32,
        at: SeqNo,
        what: &str,
    ) -> Step {
        let Some(got) = self.read_result(r)? else {
            return Ok(());
        };
        let want = expected_scan(&self.model, lo, hi, scan, limit, at);
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

    fn reopen(&mut self) -> Step {
        self.stats.clean_reopens += 1;
        self.snapshots.clear();
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

    fn restart(&mut self) -> Step {
        self.kill_kind = KillKind::Power;
        self.snapshots.clear();
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
    fn power_loss(&mut self) -> Step {
        self.note_crash_site();
        self.snapshots.clear();
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
        *mark = self.durable_mark;
        *after_power_loss = true;
    }

    /// Opens the database again and checks the recovered state with the
    /// oracle; `mark` is the highest seqno that must have survived.
    fn recover(&mut self, mut mark: SeqNo, mut after_power_loss: bool) -> Step {
        const OPEN_ATTEMPTS_MAX: usize = 6;
        self.call = "open";
        // Media faults during recovery would make a damaged record look like
        // a torn tail; recovery sees transient errors and sync failures only.
        let faulty = self.cfg.faults == FaultMode::All;
        self.fs.set_faults(FaultRates {
            bit_flip_per_million: 0,
            read_error_per_million: 0,
            ..self.rates
        });
        self.fs.set_faults_enabled(faulty);
        let mut db = None;
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
                    self.die_in_recovery(&mut mark, &mut after_power_loss);
                }
                Ok(d) => {
                    db = Some(d);
                    break;
                }
                Err(e) if self.fs.is_dead() => {
                    // The armed crash landed inside recovery: recover again.
                    self.line(format!("  open error: {e}"));
                    self.die_in_recovery(&mut mark, &mut after_power_loss);
                }
                Err(e) => {
                    self.line(format!("  open error: {e}"));
                    if !faulty || e.is_corruption() && attempt == OPEN_ATTEMPTS_MAX - 1 {
                        return Err(format!("recovery failed: {e}"));
                    }
                    last_err = e.to_string();
                    self.stats.open_retries += 1;
                    self.fs.restart_process();
                }
            }
        }
        let db = db.ok_or_else(|| format!("recovery failed after retries: {last_err}"))?;
        self.fs.set_faults_enabled(false);
        self.fs.crash_at_io(None);
        let scanned: strata::Result<Vec<(Vec<u8>, Vec<u8>)>> =
            db.range::<Vec<u8>, _>(..).and_then(|it| it.collect());
        let state: State = scanned
            .map_err(|e| format!("full scan after recovery failed: {e}"))?
            .into_iter()
            .collect();
        let last = db.last_seqno();
        let acc = CrashOracle::new(self.model.history())
            .check(mark, &state, Some(last))
            .map_err(|d| {
                format!(
                    "crash oracle ({}): {d}",
                    if after_power_loss {
                        "after power loss"
                    } else {
                        "after process restart"
                    }
                )
            })?;
        if !self.model.truncate_to(acc.prefix_last) {
            return Err(format!("model cannot cut back to {}", acc.prefix_last));
        }
        self.acked = acc.prefix_last;
        if after_power_loss {
            // What was read back from the post-crash disk is on the disk.
            self.durable_mark = acc.prefix_last;
        }
        self.durable_mark = self.durable_mark.min(self.acked);
        self.stats.recoveries += 1;
        self.line(format!(
            "  recovered: last seqno {last}, {} keys, durable mark was {mark}",
            state.len()
        ));
        self.fs.set_faults(self.rates);
        self.fs.set_faults_enabled(faulty);
        self.db = Some(db);
        Ok(())
    }

    fn final_check(&mut self) -> Step {
        self.fs.set_faults_enabled(false);
        self.fs.crash_at_io(None);
        if self.fs.is_dead() {
            return self.power_loss();
        }
        let db = self.db()?;
        let got: State = db
            .range::<Vec<u8>, _>(..)
            .and_then(|it| it.collect::<strata::Result<Vec<_>>>())
            .map_err(|e| format!("final scan failed: {e}"))?
            .into_iter()
            .collect();
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
        self.line(format!(
            "end: {} keys, seqno {}",
            got.len(),
            db.last_seqno()
        ));
        Ok(())
    }
}

/// A stable hash of an op (FNV over its Rust form: the same on every build
/// and platform, unlike `std`'s hasher, which may change between releases).
fn op_hash(op: &SimOp) -> u64 {
    let mut d = Digest::default();
    d.update(op.to_rust().as_bytes());
    d.value()
}

fn collect_scan(mut it: DbIter, scan: Scan, limit: u32) -> strata::Result<Vec<(Vec<u8>, Vec<u8>)>> {
    let limit = limit as usize;
    match scan {
        Scan::Forward => it.take(limit).collect(),
        Scan::Reverse => it.rev().take(limit).collect(),
        Scan::ZigZag => {
            let mut out = Vec::new();
            let mut front = true;
            while out.len() < limit {
                let next = if front { it.next() } else { it.next_back() };
                match next {
                    Some(r) => out.push(r?),
                    None => break,
                }
                front = !front;
            }
            Ok(out)
        }
    }
}

fn expected_scan(
    m: &KvModel,
    lo: &KeyBound,
    hi: &KeyBound,
    scan: Scan,
    limit: u32,
    at: SeqNo,
) -> Vec<(Vec<u8>, Vec<u8>)> {
    let limit = limit as usize;
    let (l, h) = (lo.as_bound(), hi.as_bound());
    match scan {
        Scan::Forward => m.range_at(l, h, Dir::Forward, at, limit),
        Scan::Reverse => m.range_at(l, h, Dir::Reverse, at, limit),
        Scan::ZigZag => {
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
            out
        }
    }
}

/// Where the database lives, for tests.
pub fn db_dir() -> &'static Path {
    Path::new(DB_DIR)
}
