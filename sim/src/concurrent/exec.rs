//! Runs a [`Plan`] under shuttle: one execution per seed, in which the
//! main task opens the database, and for each round spawns the client
//! threads, joins them, judges the round ([`super::check`]) and, after a
//! death or a failure, recovers and checks the recovered state.
//!
//! Only in builds with `--cfg shuttle`: the engine's locks, condition
//! variables, atomics, threads and clock, and the simulated disk's lock,
//! are then shuttle's, so every interleaving comes from the scheduler,
//! which is seeded from the run's seed. The runner's own bookkeeping (the
//! trace, the call records) uses `std` locks, which are never held across
//! a call into the engine, so they add no scheduling points.

use std::collections::BTreeMap;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{AtomicU8, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use shuttle::scheduler::{PctScheduler, RandomScheduler};
use shuttle::{Config, FailurePersistence, MaxSteps, Runner};
use strata::fs::FileSystem;
use strata::{
    BackgroundMode, CompactionOptions, Db, Error, Isolation, MemtableKind, Options, Stats,
    TableOptions, TransactionOptions, WriteOptions, WritePressure,
};
use strata_models::{KvModel, SeqNo, State, TxnReads, Unresolved, Window};

use super::check::{check_reads, round_writes, Call, Seen, TxnOutcome};
use super::{plan, ClientOp, ConcurrentConfig, Death, Plan, RoundEnd, SchedulerChoice, TxnBody};
use crate::rng::{Digest, Rng};
use crate::runner::liveness::check_disk;
use crate::runner::{
    model_ops, submit_write, Failure, MemtableChoice, RunOutcome, RunStats, DB_DIR, FAULT_RATES_ALL,
};
use crate::simfs::{FaultRates, SimFs};
use crate::workload::{
    collect_scan, counter_key, cursor_walk, oncall_key, own_ops, parse_counter,
    properties_disagreement, read_only_state, transaction_invariants, txn_scan, write_options,
    FaultMode, Pairs, ScanIter, ScanReader, Val, COUNTERS, OFF_CALL,
};

/// Scheduling steps allowed per planned call before a seed counts as
/// livelocked.
const STEPS_PER_OP: usize = 20_000;

/// Times the liveness phase yields to the background thread before work
/// still pending counts as a liveness failure.
const LIVENESS_YIELDS_MAX: usize = 5_000;

/// Priority change points of the PCT scheduler.
const PCT_DEPTH: usize = 3;

/// What the execution hands back: its counters and its failure.
type Finished = (RunStats, Option<Failure>);

/// Generates the plan for `seed` and runs it.
pub fn run_concurrent_seed(seed: u64, cfg: &ConcurrentConfig, keep_trace: bool) -> RunOutcome {
    execute_concurrent(seed, &plan(seed, cfg), cfg, keep_trace)
}

/// Runs `plan` under the scheduler seeded from `seed`. A panic (in the
/// engine, in a client, or shuttle's deadlock detector) is a failure.
pub fn execute_concurrent(
    seed: u64,
    plan: &Plan,
    cfg: &ConcurrentConfig,
    keep_trace: bool,
) -> RunOutcome {
    let log = Arc::new(Log::new(keep_trace));
    let result: Arc<Mutex<Option<Finished>>> = Arc::new(Mutex::new(None));
    let body = {
        let (log, result, plan, cfg) = (log.clone(), result.clone(), plan.clone(), *cfg);
        move || {
            let mut ex = Exec::new(seed, &cfg, log.clone());
            let failure = ex.run(&plan).err();
            ex.stats.sim = ex.fs.stats();
            *result.lock().unwrap_or_else(|e| e.into_inner()) = Some((ex.stats, failure));
        }
    };
    let mut config = Config::new();
    config.failure_persistence = FailurePersistence::None;
    // A livelock (threads yielding forever) fails the seed instead of
    // hanging the campaign; a healthy seed takes far fewer steps.
    config.max_steps = MaxSteps::FailAfter(STEPS_PER_OP * cfg.run.ops.max(1000));
    config.silence_warnings = true;
    config.stack_size = 1 << 20;
    let schedule_seed = Rng::derive(seed, 4).next_u64();
    let ran = catch_unwind(AssertUnwindSafe(|| match cfg.scheduler {
        SchedulerChoice::Random => {
            Runner::new(RandomScheduler::new_from_seed(schedule_seed, 1), config).run(body)
        }
        SchedulerChoice::Pct => Runner::new(
            PctScheduler::new_from_seed(schedule_seed, PCT_DEPTH, 1),
            config,
        )
        .run(body),
    }));
    let taken = result.lock().unwrap_or_else(|e| e.into_inner()).take();
    let (mut stats, failure) = match (ran, taken) {
        (Ok(_), Some(r)) => r,
        (Ok(_), None) => (
            RunStats::default(),
            Some(Failure {
                op_index: 0,
                message: "the scheduler ran no execution".into(),
            }),
        ),
        (Err(panic), _) => (
            RunStats::default(),
            Some(Failure {
                op_index: log.ops_started(),
                message: format!("panic: {}", panic_message(&*panic)),
            }),
        ),
    };
    stats.seeds = 1;
    if failure.is_some() {
        stats.divergences += 1;
    }
    if let Some(f) = &failure {
        log.line(format!("FAILURE at op {}: {}", f.op_index, f.message));
    }
    let (digest, trace) = log.finish();
    RunOutcome {
        seed,
        digest,
        stats,
        failure,
        trace,
    }
}

fn panic_message(p: &(dyn std::any::Any + Send)) -> String {
    p.downcast_ref::<String>()
        .cloned()
        .or_else(|| p.downcast_ref::<&str>().map(|s| s.to_string()))
        .unwrap_or_else(|| "non-string panic".into())
}

/// The trace, shared by the main task and the clients. Lines are added in
/// the order the scheduler runs the tasks, which the seed fixes.
struct Log {
    inner: Mutex<LogInner>,
    ops: AtomicUsize,
}

struct LogInner {
    digest: Digest,
    keep: bool,
    lines: Vec<String>,
}

impl Log {
    fn new(keep: bool) -> Self {
        Log {
            inner: Mutex::new(LogInner {
                digest: Digest::default(),
                keep,
                lines: Vec::new(),
            }),
            ops: AtomicUsize::new(0),
        }
    }

    fn line(&self, s: String) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        g.digest.update(s.as_bytes());
        g.digest.update(b"\n");
        if g.keep {
            g.lines.push(s);
        }
    }

    fn ops_started(&self) -> usize {
        self.ops.load(Ordering::Relaxed)
    }

    fn finish(&self) -> (u64, Vec<String>) {
        let mut g = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        (g.digest.value(), std::mem::take(&mut g.lines))
    }
}

/// What the client threads of a round share.
struct Ctx {
    db: Arc<Db>,
    fs: SimFs,
    log: Arc<Log>,
    /// Client threads inside a `Db` call now.
    inside: Arc<AtomicUsize>,
    /// Injected faults counted by the disk when the round started.
    faults_before: u64,
    /// Reach: iterators advanced after a background step replaced tables.
    iterators_across: AtomicUsize,
    /// Reach: snapshots alive across a compaction.
    snapshots_across: AtomicUsize,
    /// A client's `close`: `CLOSE_NONE`, `CLOSE_STARTED` (calls may now
    /// return `Closed`), `CLOSE_RETURNED` (every call must).
    close: AtomicU8,
    /// Reach: closes made while another client was inside a call.
    closes_with_calls_inside: AtomicUsize,
    /// The options the database was opened with (for read-only opens).
    opts: Options,
    /// The round, and checkpoints begun in it (naming their directories).
    round: usize,
    checkpoints: AtomicUsize,
}

const CLOSE_NONE: u8 = 0;
const CLOSE_STARTED: u8 = 1;
const CLOSE_RETURNED: u8 = 2;

struct Exec {
    cfg: ConcurrentConfig,
    fs: SimFs,
    db: Option<Arc<Db>>,
    model: KvModel,
    /// The highest seqno a power loss must keep.
    durable_mark: SeqNo,
    crash_rng: Rng,
    log: Arc<Log>,
    inside: Arc<AtomicUsize>,
    inside_at_death: Arc<AtomicUsize>,
    /// Injected faults counted by the disk when the database was opened:
    /// an error is excused if any came since (a fault may poison the
    /// database in the background, before any client sees it).
    faults_at_open: u64,
    stats: RunStats,
}

type Step = Result<(), String>;

impl Exec {
    fn new(seed: u64, cfg: &ConcurrentConfig, log: Arc<Log>) -> Self {
        let fs = SimFs::new(Rng::derive(seed, 2).next_u64());
        // The rates are set once, switched on only while clients run (not
        // in recovery, whose faults the single-threaded campaign covers).
        fs.set_faults(match cfg.run.faults {
            FaultMode::All => FAULT_RATES_ALL,
            _ => FaultRates::default(),
        });
        fs.set_faults_enabled(false);
        fs.set_reordering(cfg.run.disk == crate::DiskModel::Full);
        fs.set_lying_sync(cfg.run.disk == crate::DiskModel::LyingSync);
        let inside = Arc::new(AtomicUsize::new(0));
        let inside_at_death = Arc::new(AtomicUsize::new(0));
        {
            let (inside, at_death) = (inside.clone(), inside_at_death.clone());
            fs.set_death_hook(Some(Arc::new(move || {
                at_death.store(inside.load(Ordering::Relaxed), Ordering::Relaxed);
            })));
        }
        Exec {
            cfg: *cfg,
            fs,
            db: None,
            model: KvModel::new(),
            durable_mark: 0,
            crash_rng: Rng::derive(seed, 3),
            log,
            inside,
            inside_at_death,
            faults_at_open: 0,
            stats: RunStats::default(),
        }
    }

    fn options(&self) -> Options {
        Options {
            fs: Arc::new(self.fs.clone()) as Arc<dyn FileSystem>,
            background: BackgroundMode::Thread,
            memtable: match self.cfg.run.memtable {
                MemtableChoice::Btree => MemtableKind::BTree,
                MemtableChoice::Art => MemtableKind::Art,
            },
            // Tiny everything: rotations, flushes, stalls and compactions
            // while the clients are mid-call.
            memtable_bytes_max: 8 * 1024,
            frozen_memtables_max: 2,
            table: TableOptions {
                block_bytes_target: 1024,
                restart_interval: 4,
                ..TableOptions::default()
            },
            compaction: CompactionOptions {
                l0_compaction_trigger: 2,
                l0_slowdown_trigger: 3,
                l0_stop_trigger: 4,
                level1_bytes_target: 32 * 1024,
                level_size_multiplier: 4,
                target_file_bytes: 8 * 1024,
            },
            block_cache_bytes: 64 * 1024,
            manifest_bytes_max: 4 * 1024,
            ..Options::default()
        }
    }

    fn run(&mut self, plan: &Plan) -> Result<(), Failure> {
        let db = Db::open(DB_DIR, self.options()).map_err(|e| Failure {
            op_index: 0,
            message: format!("initial open: {e}"),
        })?;
        self.db = Some(Arc::new(db));
        for (r, round) in plan.rounds.iter().enumerate() {
            self.log.line(format!("round {r}"));
            let done = self.log.ops_started();
            self.round(r, round).map_err(|message| Failure {
                op_index: done,
                message,
            })?;
        }
        let at = self.log.ops_started();
        self.final_check()
            .and_then(|()| self.liveness_after_reopen())
            .map_err(|message| Failure {
                op_index: at,
                message,
            })
    }

    /// Liveness, the first half: at the end of the rounds, with the
    /// clients gone and faults off, the background thread on its own must
    /// run out of work ([`Exec::drain`]). Skipped if a fault came since the
    /// open (it may have poisoned the database, which stops background
    /// work by design).
    fn drain_before_close(&mut self, db: &Db) -> Step {
        if self.faulted_since_open() {
            return Ok(());
        }
        let yields = self
            .drain(db)
            .map_err(|m| format!("liveness (end of the rounds): {m}"))?;
        self.stats.liveness_checks += 1;
        self.log
            .line(format!("liveness: background idle after {yields} yields"));
        Ok(())
    }

    /// Liveness, the second half, after the final check closed the
    /// database (faults off): reopen, one durable write, and drain again.
    fn liveness_after_reopen(&mut self) -> Step {
        self.fs.crash_at_io(None);
        self.fs.set_faults_enabled(false);
        let fail = |m: String| Err(format!("liveness (after reopen): {m}"));
        let db = match Db::open(DB_DIR, self.options()) {
            Ok(db) => db,
            Err(e) => return fail(format!("reopen failed: {e}")),
        };
        let want = self.model.put(b"liveness", b"ok");
        match db.put(b"liveness", b"ok", WriteOptions::DURABLE) {
            Ok(s) if s == want => {}
            Ok(s) => return fail(format!("write got seqno {s}, the model expected {want}")),
            Err(e) => return fail(format!("a durable write failed: {e}")),
        }
        let yields = match self.drain(&db) {
            Ok(y) => y,
            Err(m) => return fail(m),
        };
        if let Err(e) = db.close() {
            return fail(format!("close failed: {e}"));
        }
        self.stats.liveness_checks += 1;
        self.log.line(format!(
            "liveness: after reopen, background idle after {yields} yields"
        ));
        Ok(())
    }

    /// Yields to the background thread until it has no work left, writers
    /// are unthrottled and only live tables remain on disk
    /// ([`check_disk`]), at most [`LIVENESS_YIELDS_MAX`] times; returns
    /// the yields it took. A wake-up the thread missed shows here as work
    /// left pending.
    fn drain(&self, db: &Db) -> Result<usize, String> {
        let o = self.options();
        let mut yields = 0;
        loop {
            let why = if db.background_work_pending() {
                "background work still pending".to_string()
            } else if db.write_pressure() != WritePressure::Normal {
                format!("writers still throttled ({:?})", db.write_pressure())
            } else {
                match check_disk(
                    &self.fs,
                    db,
                    o.manifest_bytes_max,
                    o.memtable_bytes_max as u64,
                ) {
                    Ok(_) => return Ok(yields),
                    Err(m) => m,
                }
            };
            if yields == LIVENESS_YIELDS_MAX {
                return Err(format!(
                    "after {yields} yields to the background thread: {why} (a lost wake-up?)"
                ));
            }
            shuttle::thread::yield_now();
            yields += 1;
        }
    }

    fn db(&self) -> Result<Arc<Db>, String> {
        self.db.clone().ok_or_else(|| "no open database".into())
    }

    /// Runs one round and judges it.
    fn round(&mut self, r: usize, round: &super::Round) -> Step {
        let db = self.db()?;
        let faults_before = self.faults_at_open;
        if let Some((after, _)) = round.death {
            self.fs.crash_after(u64::from(after));
        }
        self.fs
            .set_faults_enabled(self.cfg.run.faults == FaultMode::All);
        let ctx = Arc::new(Ctx {
            db,
            fs: self.fs.clone(),
            log: self.log.clone(),
            inside: self.inside.clone(),
            faults_before,
            iterators_across: AtomicUsize::new(0),
            snapshots_across: AtomicUsize::new(0),
            close: AtomicU8::new(CLOSE_NONE),
            closes_with_calls_inside: AtomicUsize::new(0),
            opts: self.options(),
            round: r,
            checkpoints: AtomicUsize::new(0),
        });
        let handles: Vec<_> = round
            .threads
            .iter()
            .enumerate()
            .map(|(t, ops)| {
                let (ctx, ops) = (ctx.clone(), ops.clone());
                shuttle::thread::spawn(move || client(t, &ops, &ctx))
            })
            .collect();
        let mut calls = Vec::new();
        for h in handles {
            calls.extend(
                h.join()
                    .map_err(|p| format!("panic in a client: {}", panic_message(&*p)))?,
            );
        }
        self.fs.set_faults_enabled(false);
        if !self.fs.is_dead() {
            // The armed death did not fire in time: disarm it.
            self.fs.crash_at_io(None);
        }
        self.stats.ops += calls.len() as u64;
        self.stats.iterators_across_background +=
            ctx.iterators_across.load(Ordering::Relaxed) as u64;
        self.stats.snapshots_across_compaction +=
            ctx.snapshots_across.load(Ordering::Relaxed) as u64;
        self.stats.closes_with_calls_inside +=
            ctx.closes_with_calls_inside.load(Ordering::Relaxed) as u64;
        let closed = ctx.close.load(Ordering::Relaxed) != CLOSE_NONE;
        drop(ctx);
        let blame = |(t, i, m): (usize, usize, String)| {
            format!(
                "round {r}, thread {t}, call {i} ({}): {m}",
                round.threads[t][i]
            )
        };
        let base = self.model.last_seqno();
        let writes = round_writes(base, &calls).map_err(blame)?;
        self.stats.writes_acked += writes.round.acked_count() as u64;
        for c in &calls {
            match &c.seen {
                Seen::WriteFailed { .. } => self.stats.write_errors += 1,
                Seen::Failed { .. } => self.stats.read_errors += 1,
                Seen::Txn { outcome, .. } => {
                    self.stats.txns_begun += 1;
                    match outcome {
                        TxnOutcome::Committed { .. } => self.stats.txns_committed += 1,
                        TxnOutcome::Conflict { .. } => self.stats.txn_conflicts += 1,
                        TxnOutcome::ReadOnly { .. } => {}
                    }
                }
                _ => {}
            }
        }
        let dead = self.fs.is_dead();
        if dead || writes.failed || closed {
            // The process dies (or, after a failure, restarts); the round's
            // writes are resolved against what recovery finds.
            let power = dead && round.death.is_some_and(|(_, d)| d == Death::Power);
            let must_have = if power {
                self.durable_mark.max(writes.durable_max)
            } else {
                writes.round.acked_max()
            };
            if dead {
                self.note_death(power);
            } else if closed {
                self.stats.clean_reopens += 1;
                self.log.line("  closed by a client: reopen".into());
            } else {
                self.log.line("  failure: restart".into());
            }
            self.retire_db()?;
            if power {
                self.stats.power_losses += 1;
                let rep = self.fs.crash(&mut self.crash_rng);
                self.log.line(format!("  crash: {rep:?}"));
            } else {
                if dead {
                    self.stats.process_kills += 1;
                }
                self.fs.restart_process();
            }
            let (db, last, state) = self.recover()?;
            // The reads are judged against each order of the writes whose
            // outcome is unknown that recovery's state allows, until one
            // passes: a read-only open may have seen the order.
            let (_, checked) = writes
                .round
                .resolve_checked(
                    &mut self.model,
                    last,
                    &state,
                    must_have,
                    &mut |model, known| check_reads(model, known, &calls).map_err(blame),
                )
                .map_err(|e| match e {
                    Unresolved::State(m) => format!("round {r}: {m}"),
                    Unresolved::Check(m) => m,
                })?;
            self.stats.reads_checked += checked;
            if !self.model.truncate_to(last) {
                return Err(format!("recovered seqno {last} is not a write boundary"));
            }
            self.durable_mark = if power {
                last
            } else {
                self.durable_mark.min(last)
            };
            self.settle()?;
            self.db = Some(Arc::new(db));
            return Ok(());
        }
        let res = writes
            .round
            .complete(&mut self.model)
            .map_err(|e| format!("round {r}: {e}"))?;
        let visible = self.db()?.last_seqno();
        if visible != res.known {
            return Err(format!(
                "round {r}: the engine's last seqno is {visible}, the acknowledged writes end at {}",
                res.known
            ));
        }
        self.stats.reads_checked += check_reads(&self.model, res.known, &calls).map_err(blame)?;
        self.durable_mark = self.durable_mark.max(writes.durable_max);
        self.end_round(r, round.end)
    }

    /// A round ended with nobody dead: continue, or reopen, crash or lose
    /// power while idle.
    fn end_round(&mut self, r: usize, end: RoundEnd) -> Step {
        match end {
            RoundEnd::Continue => return Ok(()),
            RoundEnd::CleanReopen => {
                self.stats.clean_reopens += 1;
                let db = self.retire_db()?;
                if let Err(e) = db.close() {
                    if !self.faulted_since_open() {
                        return Err(format!("round {r}: close failed with no fault: {e}"));
                    }
                    // A fault poisoned the database: a failed close is a
                    // process restart.
                    self.fs.restart_process();
                }
                self.durable_mark = self.model.last_seqno();
                self.log.line("  closed".into());
            }
            RoundEnd::ProcessCrash => {
                self.stats.process_crashes += 1;
                drop(self.retire_db()?);
                self.fs.restart_process();
                self.log.line("  process crash (page cache kept)".into());
            }
            RoundEnd::PowerLoss => {
                self.stats.power_losses += 1;
                self.fs.kill();
                drop(self.retire_db()?);
                let rep = self.fs.crash(&mut self.crash_rng);
                self.log.line(format!("  power loss while idle: {rep:?}"));
            }
        }
        let power = end == RoundEnd::PowerLoss;
        let must_have = if power {
            self.durable_mark
        } else {
            self.model.last_seqno()
        };
        let (db, last, state) = self.recover()?;
        let acc = self
            .model
            .oracle()
            .check(must_have, &state, Some(last))
            .map_err(|d| format!("round {r}: crash oracle: {d}"))?;
        if !self.model.truncate_to(acc.prefix_last) {
            return Err(format!("model cannot cut back to {}", acc.prefix_last));
        }
        self.durable_mark = if power {
            acc.prefix_last
        } else {
            self.durable_mark.min(acc.prefix_last)
        };
        self.settle()?;
        self.db = Some(Arc::new(db));
        Ok(())
    }

    /// Folds the history up to the durable mark into the model's base: no
    /// crash can lose it, no snapshot outlives a recovery.
    fn settle(&mut self) -> Step {
        if self.model.settle(self.durable_mark) {
            Ok(())
        } else {
            Err(format!(
                "the durable mark {} is not a write boundary",
                self.durable_mark
            ))
        }
    }

    /// Takes the database out of service, adding its counters to the
    /// run's; every client has returned, so the runner holds the only
    /// handle.
    fn retire_db(&mut self) -> Result<Db, String> {
        let db = self.db.take().ok_or("no open database")?;
        let db = Arc::try_unwrap(db).map_err(|_| "a client still holds the database")?;
        self.add_engine_stats(&db.stats());
        Ok(db)
    }

    fn add_engine_stats(&mut self, s: &Stats) {
        let st = &mut self.stats;
        st.commit_groups += s.commit_groups;
        st.groups_shared += s.commit_groups_shared;
        st.groups_mixed += s.commit_groups_mixed;
        st.write_stalls += s.write_stops + s.write_slowdowns;
        st.rotations_racing_writes += s.rotations_racing_writes;
        st.flushes += s.flushes;
        st.compactions += s.compactions + s.trivial_moves;
    }

    fn faulted_since_open(&self) -> bool {
        self.fs.stats().faults_injected() > self.faults_at_open
    }

    fn note_death(&mut self, power: bool) {
        let inside = self.inside_at_death.swap(0, Ordering::Relaxed);
        if inside >= 2 {
            self.stats.crashes_with_threads_inside += 1;
        }
        if let Some(site) = self.fs.crash_site() {
            *self
                .stats
                .crash_sites
                .entry(format!("{:?}", site.class))
                .or_insert(0) += 1;
            self.log.line(format!(
                "  DEATH ({}) at I/O call {} ({} {}) with {inside} clients inside",
                if power { "power" } else { "process" },
                site.io_call,
                site.call,
                site.path.display()
            ));
        }
    }

    /// Opens the database again (faults off: deaths inside recovery are
    /// the single-threaded campaign's job) and reads its whole state.
    fn recover(&mut self) -> Result<(Db, SeqNo, State), String> {
        self.fs.crash_at_io(None);
        self.fs.set_faults_enabled(false);
        let db = Db::open(DB_DIR, self.options()).map_err(|e| format!("recovery failed: {e}"))?;
        let state: State = db
            .range::<Vec<u8>, _>(..)
            .and_then(|it| it.collect::<strata::Result<Vec<_>>>())
            .map_err(|e| format!("full scan after recovery failed: {e}"))?
            .into_iter()
            .collect();
        transaction_invariants(&state, "after recovery")?;
        let last = db.last_seqno();
        self.stats.recoveries += 1;
        self.log.line(format!(
            "  recovered: last seqno {last}, {} keys, durable mark {}",
            state.len(),
            self.durable_mark
        ));
        self.faults_at_open = self.fs.stats().faults_injected();
        Ok((db, last, state))
    }

    /// The end: the whole state and last seqno equal the model's, and a
    /// clean close works.
    fn final_check(&mut self) -> Step {
        let db = self.db()?;
        let got: State = db
            .range::<Vec<u8>, _>(..)
            .and_then(|it| it.collect::<strata::Result<Vec<_>>>())
            .map_err(|e| format!("final scan failed: {e}"))?
            .into_iter()
            .collect();
        self.drain_before_close(&db)?;
        drop(db);
        transaction_invariants(&got, "at the end")?;
        let want = self.model.state();
        if got != want {
            return Err(format!(
                "final state differs from the model: {}",
                strata_models::describe_difference(&want, &got)
            ));
        }
        let db = self.retire_db()?;
        if db.last_seqno() != self.model.last_seqno() {
            return Err(format!(
                "final last seqno {} but the model is at {}",
                db.last_seqno(),
                self.model.last_seqno()
            ));
        }
        if let Err(e) = db.close() {
            if !self.faulted_since_open() {
                return Err(format!("final close failed with no fault injected: {e}"));
            }
        }
        self.log.line(format!(
            "end: {} keys, seqno {}",
            got.len(),
            self.model.last_seqno()
        ));
        Ok(())
    }
}

/// Counts a client inside a `Db` call while alive.
struct Inside<'a>(&'a AtomicUsize);

impl<'a> Inside<'a> {
    fn enter(n: &'a AtomicUsize) -> Self {
        n.fetch_add(1, Ordering::Relaxed);
        Inside(n)
    }
}

impl Drop for Inside<'_> {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

/// One client thread: runs its calls, recording what each saw; stops after
/// a write fails or the process dies.
fn client(t: usize, ops: &[ClientOp], ctx: &Ctx) -> Vec<Call> {
    let mut calls = Vec::with_capacity(ops.len());
    for (i, op) in ops.iter().enumerate() {
        ctx.log.ops.fetch_add(1, Ordering::Relaxed);
        ctx.log.line(format!("t{t}#{i} {op}"));
        let lo = ctx.db.last_seqno();
        let after_close = ctx.close.load(Ordering::Acquire) == CLOSE_RETURNED;
        let (seen, created) = {
            let _inside = Inside::enter(&ctx.inside);
            match catch_unwind(AssertUnwindSafe(|| call(op, ctx))) {
                Ok(r) => r,
                Err(p) => (
                    Seen::Failed {
                        what: "call",
                        excused: false,
                        error: format!("panic: {}", panic_message(&*p)),
                    },
                    None,
                ),
            }
        };
        let seen = if after_close && answered(op, &seen) {
            Seen::Failed {
                what: "call after close",
                excused: false,
                error: format!("returned {} after close had returned", outcome(&seen)),
            }
        } else {
            seen
        };
        // An iterator or snapshot is judged by its creation window.
        let hi = created.unwrap_or_else(|| ctx.db.last_seqno());
        ctx.log.line(format!("t{t}#{i} = {}", outcome(&seen)));
        let stop = match &seen {
            Seen::WriteFailed { .. } => true,
            Seen::Failed { excused, .. } => !excused || ctx.fs.is_dead(),
            _ => false,
        };
        calls.push(Call {
            thread: t,
            index: i,
            window: Window { lo, hi },
            seen,
        });
        if stop {
            break;
        }
    }
    calls
}

/// Whether a call that must return `Closed` once the database is closed
/// returned something else.
fn answered(op: &ClientOp, seen: &Seen) -> bool {
    let gated = !matches!(
        op,
        ClientOp::Pause { .. } | ClientOp::Properties | ClientOp::Close | ClientOp::ReadOnlyOpen
    );
    gated && !matches!(seen, Seen::Failed { .. } | Seen::WriteFailed { .. })
}

fn outcome(seen: &Seen) -> String {
    match seen {
        Seen::Written { seqno, .. } => format!("seqno {seqno}"),
        Seen::WriteFailed { error, .. } => format!("write error: {error}"),
        Seen::Got { value, .. } => format!("{}", value.as_ref().map_or(-1, |v| v.len() as i64)),
        Seen::Scanned { items, .. } => format!("{} items", items.len()),
        Seen::Snapshot { seqno, items, .. } => format!("snapshot {seqno}, {} items", items.len()),
        Seen::Failed { what, error, .. } => format!("{what} error: {error}"),
        Seen::CursorWalk {
            seqno, positions, ..
        } => format!("cursor {seqno}, {} positions", positions.len()),
        Seen::MultiGot { values, .. } => format!("{} values", values.len()),
        Seen::Prefixed { items, .. } => format!("{} items", items.len()),
        Seen::Properties { last_seqno, .. } => format!("properties at {last_seqno}"),
        Seen::ReadOnly { last, items } => format!("read-only at {last}, {} items", items.len()),
        Seen::Checkpointed { seqno, items, .. } => {
            format!("checkpoint at {seqno}, {} items", items.len())
        }
        Seen::FirstLast { first, last } => format!(
            "first {:?}, last {:?}",
            first
                .as_ref()
                .map(|(k, _)| strata_models::Show(k).to_string()),
            last.as_ref()
                .map(|(k, _)| strata_models::Show(k).to_string())
        ),
        Seen::Txn { outcome, .. } => match outcome {
            TxnOutcome::Committed { seqno, .. } => format!("committed at {seqno}"),
            TxnOutcome::ReadOnly { seqno } => format!("read-only commit at {seqno}"),
            TxnOutcome::Conflict { kind, key, seqno } => {
                format!("conflict {kind:?} {} at {seqno}", strata_models::Show(key))
            }
        },
        Seen::Done => "ok".into(),
    }
}

/// Whether an error is excused: the process died, or a fault was injected
/// since the round started (it may have poisoned the database).
fn excused(ctx: &Ctx) -> bool {
    let s = ctx.fs.stats();
    ctx.fs.is_dead() || s.faults_injected() > ctx.faults_before
}

/// Whether error `e` is excused: as [`excused`], or `Closed` once a client
/// began to close the database.
fn excused_error(ctx: &Ctx, e: &Error) -> bool {
    excused(ctx) || (matches!(e, Error::Closed) && ctx.close.load(Ordering::Acquire) != CLOSE_NONE)
}

fn failed(ctx: &Ctx, what: &'static str, e: &Error) -> Seen {
    Seen::Failed {
        what,
        excused: excused_error(ctx, e),
        error: e.to_string(),
    }
}

/// Flushes, compactions and trivial moves so far: changes when a
/// background step replaces tables.
fn table_changes(s: &Stats) -> u64 {
    s.flushes + s.compactions + s.trivial_moves
}

/// Makes the call; for an iterator or a snapshot, also returns the visible
/// seqno right after it was created.
fn call(op: &ClientOp, ctx: &Ctx) -> (Seen, Option<SeqNo>) {
    let db = &*ctx.db;
    let seen = match op {
        ClientOp::Write { ops, durable } => write(db, ops, *durable, ctx),
        ClientOp::Get { key } => match db.get(key) {
            Ok(value) => Seen::Got {
                key: key.clone(),
                value,
            },
            Err(e) => failed(ctx, "get", &e),
        },
        ClientOp::Range {
            lo,
            hi,
            scan,
            limit,
        } => match db
            .range((lo.to_bound(), hi.to_bound()))
            .and_then(|it| collect_scan(it, *scan, *limit))
        {
            Ok(items) => Seen::Scanned {
                lo: lo.clone(),
                hi: hi.clone(),
                scan: *scan,
                limit: *limit,
                items,
            },
            Err(e) => failed(ctx, "range", &e),
        },
        ClientOp::Iterate {
            lo,
            hi,
            scan,
            steps,
            per_step,
        } => {
            let mut it = match db.range((lo.to_bound(), hi.to_bound())) {
                Ok(it) => ScanIter::new(it, *scan),
                Err(e) => return (failed(ctx, "range", &e), None),
            };
            let created = db.last_seqno();
            let before = table_changes(&db.stats());
            let mut reader = ScanReader::new(*scan);
            let mut items: Pairs = Vec::new();
            let mut crossed = false;
            for step in 0..*steps {
                if step > 0 {
                    strata::sync::thread::yield_now();
                    crossed |= table_changes(&db.stats()) != before;
                }
                match reader.read(&mut it, usize::from(*per_step), &mut items) {
                    Ok(true) => {}
                    Ok(false) => break,
                    Err(e) => return (failed(ctx, "iterator", &e), Some(created)),
                }
            }
            if crossed {
                ctx.iterators_across.fetch_add(1, Ordering::Relaxed);
            }
            let seen = Seen::Scanned {
                lo: lo.clone(),
                hi: hi.clone(),
                scan: *scan,
                limit: u32::from(*steps) * u32::from(*per_step),
                items,
            };
            return (seen, Some(created));
        }
        ClientOp::Snapshot { keys } => {
            let snap = db.snapshot();
            let created = db.last_seqno();
            let before = db.stats();
            let mut gets = Vec::new();
            for k in keys {
                strata::sync::thread::yield_now();
                match snap.get(k) {
                    Ok(v) => gets.push((k.clone(), v)),
                    Err(e) => return (failed(ctx, "snapshot get", &e), Some(created)),
                }
            }
            strata::sync::thread::yield_now();
            let items = match snap
                .range::<Vec<u8>, _>(..)
                .and_then(|it| it.collect::<strata::Result<Pairs>>())
            {
                Ok(items) => items,
                Err(e) => return (failed(ctx, "snapshot range", &e), Some(created)),
            };
            let after = db.stats();
            if after.compactions + after.trivial_moves != before.compactions + before.trivial_moves
            {
                ctx.snapshots_across.fetch_add(1, Ordering::Relaxed);
            }
            let seen = Seen::Snapshot {
                seqno: snap.seqno(),
                gets,
                items,
            };
            return (seen, Some(created));
        }
        ClientOp::Flush => match db.flush() {
            Ok(()) => Seen::Done,
            Err(e) => failed(ctx, "flush", &e),
        },
        ClientOp::Compact => match db.compact() {
            Ok(()) => Seen::Done,
            Err(e) => failed(ctx, "compact", &e),
        },
        ClientOp::CompactRange { lo, hi } => {
            match db.compact_range((lo.to_bound(), hi.to_bound())) {
                Ok(()) => Seen::Done,
                Err(e) => failed(ctx, "compact_range", &e),
            }
        }
        ClientOp::Cursor { start, moves, n } => {
            let mut c = match db.cursor() {
                Ok(c) => c,
                Err(e) => return (failed(ctx, "cursor", &e), None),
            };
            let created = c.seqno();
            let mut yield_now = || strata::sync::thread::yield_now();
            let seen = match cursor_walk(&mut c, start, *moves, *n, &mut yield_now) {
                Ok(positions) => Seen::CursorWalk {
                    seqno: created,
                    start: start.clone(),
                    moves: *moves,
                    n: *n,
                    positions,
                },
                Err(e) => failed(ctx, "cursor", &e),
            };
            return (seen, Some(created));
        }
        ClientOp::MultiGet { keys } => match db.multi_get(keys) {
            Ok(values) => Seen::MultiGot {
                keys: keys.clone(),
                values,
            },
            Err(e) => failed(ctx, "multi_get", &e),
        },
        ClientOp::Prefix { prefix, reverse } => {
            let r = db.prefix(prefix).and_then(|it| {
                if *reverse {
                    it.rev().collect()
                } else {
                    it.collect()
                }
            });
            match r {
                Ok(items) => Seen::Prefixed {
                    prefix: prefix.clone(),
                    reverse: *reverse,
                    items,
                },
                Err(e) => failed(ctx, "prefix", &e),
            }
        }
        ClientOp::Properties => {
            let p = db.properties();
            Seen::Properties {
                last_seqno: p.last_seqno,
                wrong: properties_disagreement(&p),
            }
        }
        ClientOp::FirstLast => match db
            .first_key_value()
            .and_then(|first| Ok((first, db.last_key_value()?)))
        {
            Ok((first, last)) => Seen::FirstLast { first, last },
            Err(e) => failed(ctx, "first/last", &e),
        },
        ClientOp::Checkpoint => {
            let n = ctx.checkpoints.fetch_add(1, Ordering::Relaxed);
            let dir = format!("/checkpoint-{}-{n}", ctx.round);
            let r = db.checkpoint(&dir).and_then(|report| {
                let (last, items) = read_only_state(&dir, ctx.opts.clone())?;
                Ok((report.seqno, last, items))
            });
            match r {
                Ok((seqno, last, items)) => Seen::Checkpointed { seqno, last, items },
                Err(e) => failed(ctx, "checkpoint", &e),
            }
        }
        ClientOp::ReadOnlyOpen => {
            let r = read_only_state(DB_DIR, ctx.opts.clone());
            match r {
                Ok((last, items)) => Seen::ReadOnly { last, items },
                Err(e) => failed(ctx, "read-only open", &e),
            }
        }
        ClientOp::Close => {
            let first = ctx.close.fetch_max(CLOSE_STARTED, Ordering::AcqRel) == CLOSE_NONE;
            if ctx.inside.load(Ordering::Relaxed) >= 2 {
                ctx.closes_with_calls_inside.fetch_add(1, Ordering::Relaxed);
            }
            let r = db.close();
            ctx.close.fetch_max(CLOSE_RETURNED, Ordering::AcqRel);
            match r {
                Ok(()) => Seen::Done,
                // Another client's close came first.
                Err(Error::Closed) if !first => Seen::Done,
                Err(e) => failed(ctx, "close", &e),
            }
        }
        ClientOp::Txn {
            body,
            serializable,
            durable,
        } => return transaction(db, body, *serializable, *durable, ctx),
        ClientOp::Pause { yields } => {
            for _ in 0..*yields {
                strata::sync::thread::yield_now();
            }
            Seen::Done
        }
    };
    (seen, None)
}

/// Runs a transaction (yielding between its calls) and its commit; also
/// returns the visible seqno right after it began, which bounds its
/// snapshot's window.
fn transaction(
    db: &Db,
    body: &TxnBody,
    serializable: bool,
    durable: bool,
    ctx: &Ctx,
) -> (Seen, Option<SeqNo>) {
    let mut t = if serializable {
        db.transaction()
    } else {
        db.transaction_with(TransactionOptions {
            isolation: Isolation::Snapshot,
        })
    };
    let snapshot = t.snapshot_seqno();
    let created = Some(db.last_seqno());
    let mut reads = TxnReads::default();
    let mut own: BTreeMap<Vec<u8>, Option<Vec<u8>>> = BTreeMap::new();
    let yield_now = strata::sync::thread::yield_now;
    // A read of the snapshot, recorded; an error ends the transaction.
    macro_rules! get {
        ($k:expr) => {{
            let k: Vec<u8> = $k;
            match t.get(&k) {
                Ok(v) => {
                    reads.points.entry(k).or_insert_with(|| v.clone());
                    v
                }
                Err(e) => return (failed(ctx, "transaction get", &e), created),
            }
        }};
    }
    macro_rules! put {
        ($k:expr, $v:expr) => {{
            let (k, v): (Vec<u8>, Vec<u8>) = ($k, $v);
            if let Err(e) = t.put(&k, &v) {
                return (failed(ctx, "transaction put", &e), created);
            }
            own.insert(k, Some(v));
        }};
    }
    match body {
        TxnBody::Transfer { from, to, amount } => {
            if from % COUNTERS != to % COUNTERS {
                let (kf, kt) = (counter_key(*from), counter_key(*to));
                let a = get!(kf.clone());
                yield_now();
                let b = get!(kt.clone());
                let parse =
                    |k: &[u8], v: Option<Vec<u8>>| v.map_or(Ok(0), |v| parse_counter(k, &v));
                let (a, b) = match (parse(&kf, a), parse(&kt, b)) {
                    (Ok(a), Ok(b)) => (a, b),
                    (Err(e), _) | (_, Err(e)) => {
                        return (
                            Seen::Failed {
                                what: "transfer",
                                excused: false,
                                error: e,
                            },
                            created,
                        )
                    }
                };
                let amount = i64::from(*amount);
                yield_now();
                put!(kf, (a - amount).to_string().into_bytes());
                put!(kt, (b + amount).to_string().into_bytes());
            }
        }
        TxnBody::OnCall { pair, side_b } => {
            let a = get!(oncall_key(*pair, false));
            yield_now();
            let b = get!(oncall_key(*pair, true));
            let on = |v: &Option<Vec<u8>>| v.as_deref() != Some(OFF_CALL);
            let mine = oncall_key(*pair, *side_b);
            yield_now();
            if on(&a) && on(&b) {
                put!(mine, OFF_CALL.to_vec());
            } else {
                put!(mine, b"on".to_vec());
            }
        }
        TxnBody::ScanWrite {
            lo,
            hi,
            scan,
            limit,
            key,
        } => {
            let (_, _, err, covered) =
                txn_scan(&mut t, &lo.to_bound(), &hi.to_bound(), *scan, *limit, &own);
            let n: usize = covered.iter().map(|c| c.got.len()).sum();
            reads.scans.extend(covered);
            if let Some(e) = err {
                return (failed(ctx, "transaction range", &e), created);
            }
            yield_now();
            let _ = get!(key.clone());
            put!(key.clone(), n.to_string().into_bytes());
        }
    }
    let ops = own_ops(own);
    let wo = write_options(durable);
    let syncs_before = durable.then(|| ctx.fs.stats().wal_syncs);
    let outcome = match t.commit(wo) {
        Ok(seqno) if ops.is_empty() => TxnOutcome::ReadOnly { seqno },
        Ok(seqno) => TxnOutcome::Committed {
            ops,
            seqno,
            durable,
            synced_during: syncs_before.is_none_or(|b| ctx.fs.stats().wal_syncs > b),
        },
        Err(Error::Conflict { kind, key, seqno }) => TxnOutcome::Conflict { kind, key, seqno },
        Err(e) => {
            return (
                Seen::WriteFailed {
                    ops,
                    refused: matches!(e, Error::Poisoned { .. } | Error::Closed),
                    excused: excused_error(ctx, &e),
                    error: e.to_string(),
                },
                created,
            )
        }
    };
    (
        Seen::Txn {
            snapshot,
            serializable,
            reads,
            outcome,
        },
        created,
    )
}

fn write(db: &Db, ops: &[(Vec<u8>, Option<Val>)], durable: bool, ctx: &Ctx) -> Seen {
    let wo = write_options(durable);
    let mops = model_ops(ops);
    let syncs_before = durable.then(|| ctx.fs.stats().wal_syncs);
    let r = submit_write(db, &mops, wo);
    match r {
        Ok(seqno) => Seen::Written {
            ops: mops,
            durable,
            seqno,
            synced_during: syncs_before.is_none_or(|b| ctx.fs.stats().wal_syncs > b),
        },
        Err(e) => Seen::WriteFailed {
            ops: mops,
            refused: matches!(e, Error::Poisoned { .. } | Error::Closed),
            excused: excused_error(ctx, &e),
            error: e.to_string(),
        },
    }
}
