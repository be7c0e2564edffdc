//! The concurrent campaign: several client threads and the engine's own
//! background thread on one `SimFs`, under a seeded scheduler.
//!
//! A seed's workload is a [`Plan`]: rounds, each a list of calls per client
//! thread, a death armed to fire inside some later I/O call (whoever makes
//! it, while the other threads are wherever the schedule left them), and
//! what happens when a round ends without one (nothing, a clean reopen, a
//! process crash or a power loss). The plan is a pure function of the seed;
//! the schedule comes from the same seed. Running it needs the scheduler
//! build (`--cfg shuttle`, see `engine/src/sync.rs`): `bash
//! sim/concurrent.sh run --threads 4 --seeds 100`. The judge
//! ([`check`]) and the plan are ordinary code, compiled in every build.
//!
//! What is checked (the oracle is `strata_models::RoundWrites` and
//! `Window`; `sim/README.md`, "The concurrent campaign", gives the rules):
//! writes are ordered by the seqnos the engine returns; reads fall in their
//! windows; snapshots and iterators are exact at one seqno however long they
//! stay open; a `Durable` acknowledgement comes after a WAL sync that began
//! after the call did; the recovered state is a prefix holding every write
//! that had to survive, with the writes whose outcome is unknown tiled into
//! its gaps.

pub mod check;
#[cfg(shuttle)]
mod exec;

use std::fmt;

#[cfg(shuttle)]
pub use exec::{execute_concurrent, run_concurrent_seed};

use crate::rng::Rng;
use crate::runner::RunConfig;
use crate::workload::{
    scan, value, CursorStart, KeyBound, KeySpace, Scan, Val, COUNTERS, ONCALL_PAIRS,
};

/// Which of shuttle's schedulers picks the interleaving.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, Default)]
pub enum SchedulerChoice {
    /// A uniformly random runnable thread at every scheduling point.
    #[default]
    Random,
    /// Probabilistic concurrency testing (priorities with a few change
    /// points): finds bugs that need a specific, shallow ordering.
    Pct,
}

/// What a concurrent run does.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct ConcurrentConfig {
    /// Ops (client calls, over all threads), memtable, faults and disk
    /// model, as for a single-threaded run.
    pub run: RunConfig,
    /// Client threads (at least 2); the engine's background thread runs
    /// beside them.
    pub threads: usize,
    /// The scheduler.
    pub scheduler: SchedulerChoice,
}

/// How a death kills the process.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Death {
    /// Power loss: unsynced writes may be lost, torn or reordered.
    Power,
    /// The process dies; the page cache survives.
    Process,
}

/// What happens after a round in which nothing died or failed.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum RoundEnd {
    /// The next round uses the same open database.
    Continue,
    /// `close`, then `open`.
    CleanReopen,
    /// The process crashes while idle.
    ProcessCrash,
    /// The power fails while idle.
    PowerLoss,
}

/// One client call (or a sequence of calls on one iterator or snapshot).
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum ClientOp {
    /// `put` (one op), `delete` (one `None` op) or `write` of a batch.
    Write {
        /// Puts and deletes (`None` = delete), in order.
        ops: Vec<(Vec<u8>, Option<Val>)>,
        /// `WriteOptions::DURABLE`, or buffered.
        durable: bool,
    },
    /// `get`.
    Get {
        /// The key read.
        key: Vec<u8>,
    },
    /// `range`, read at once.
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
    /// `range`, held open: `steps` times, read `per_step` items, then let
    /// the other threads (and the background thread) run.
    Iterate {
        /// Lower bound.
        lo: KeyBound,
        /// Upper bound.
        hi: KeyBound,
        /// How the iterator is driven.
        scan: Scan,
        /// Rounds of reading.
        steps: u8,
        /// Items per round.
        per_step: u8,
    },
    /// `snapshot`, then a `get` of each key with a yield before each, then
    /// a full range, then the snapshot is dropped.
    Snapshot {
        /// The keys read through the snapshot.
        keys: Vec<Vec<u8>>,
    },
    /// `flush` on the client's thread, racing the background thread.
    Flush,
    /// `compact` on the client's thread.
    Compact,
    /// `compact_range` on the client's thread.
    CompactRange {
        /// Lower bound.
        lo: KeyBound,
        /// Upper bound.
        hi: KeyBound,
    },
    /// A cursor positioned by `start`, then moved `n` times (bit i of
    /// `moves` set: `next`, clear: `prev`), yielding before each move, so
    /// flushes and compactions replace its tables while it reads.
    Cursor {
        /// The first positioning call.
        start: CursorStart,
        /// Directions of the moves, lowest bit first.
        moves: u32,
        /// Moves made (at most 32).
        n: u8,
    },
    /// `multi_get`: every key read at one seqno.
    MultiGet {
        /// The keys read.
        keys: Vec<Vec<u8>>,
    },
    /// `prefix`, read whole, forward or reversed.
    Prefix {
        /// The prefix (a key's first bytes).
        prefix: Vec<u8>,
        /// Read from the back.
        reverse: bool,
    },
    /// `properties`: its figures must agree with one another and its last
    /// seqno fall in the call's window.
    Properties,
    /// `close`, on the handle every client shares: it waits for the calls
    /// in flight; the calls after it, and the iterators, cursors and
    /// snapshots open across it, must return `Closed`; the round ends
    /// with a reopen.
    Close,
    /// `first_key_value`, then `last_key_value`.
    FirstLast,
    /// `checkpoint` into a new directory while the others write, then a
    /// read-only open of the copy, read whole.
    Checkpoint,
    /// `Db::open_read_only` of the directory the writers are using, a
    /// full read through it, and its close.
    ReadOnlyOpen,
    /// A transaction (yielding between its calls, so other clients'
    /// writes and commits land in between), then its commit.
    Txn {
        /// What it does.
        body: TxnBody,
        /// Serializable, or snapshot isolation.
        serializable: bool,
        /// Its commit is `WriteOptions::DURABLE`, or buffered.
        durable: bool,
    },
    /// Yields to the scheduler a few times.
    Pause {
        /// Yields.
        yields: u8,
    },
}

/// What a concurrent transaction does before it commits.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum TxnBody {
    /// Reads counters `from` and `to` and moves `amount` between them
    /// (read-modify-write on shared counters; their total stays 0).
    Transfer {
        /// Counter taken from.
        from: u8,
        /// Counter added to.
        to: u8,
        /// How much.
        amount: u8,
    },
    /// Write skew: reads both sides of on-call pair `pair`; if both are on
    /// call, takes side `side_b` off, else puts it back on. Serializable
    /// transactions never leave both sides off (the plan makes every
    /// on-call transaction serializable).
    OnCall {
        /// Which pair.
        pair: u8,
        /// Which side this transaction changes.
        side_b: bool,
    },
    /// Scans `lo..hi` (up to `limit` pairs), reads `key`, and writes
    /// `key` (the pair count as its value).
    ScanWrite {
        /// Lower bound of the scan.
        lo: KeyBound,
        /// Upper bound.
        hi: KeyBound,
        /// How the scan is driven.
        scan: Scan,
        /// Pairs read at most.
        limit: u32,
        /// The key read and written.
        key: Vec<u8>,
    },
}

/// One round of a plan.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Round {
    /// Each client thread's calls.
    pub threads: Vec<Vec<ClientOp>>,
    /// A death armed to fire in the I/O call this many calls after the
    /// round starts, if it gets that far.
    pub death: Option<(u32, Death)>,
    /// What happens if the round ends without a death or a failure.
    pub end: RoundEnd,
}

/// A seed's workload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Plan {
    /// The rounds, in order.
    pub rounds: Vec<Round>,
}

impl Plan {
    /// Client calls over all rounds and threads.
    pub fn ops(&self) -> usize {
        self.rounds
            .iter()
            .flat_map(|r| &r.threads)
            .map(Vec::len)
            .sum()
    }
}

/// Calls per thread in one round, at most.
const ROUND_OPS_MAX: u64 = 40;

/// Generates the plan for `seed`: about `cfg.run.ops` calls over all rounds
/// and threads.
pub fn plan(seed: u64, cfg: &ConcurrentConfig) -> Plan {
    let mut rng = Rng::derive(seed, 11);
    let keys = KeySpace::new(&mut rng);
    let crashes = cfg.run.faults != crate::FaultMode::None;
    let threads = cfg.threads.max(2);
    let mut rounds = Vec::new();
    let mut total = 0;
    while total < cfg.run.ops {
        let per_thread = rng.range_inclusive(4, ROUND_OPS_MAX) as usize;
        let threads: Vec<Vec<ClientOp>> = (0..threads)
            .map(|_| {
                (0..per_thread)
                    .map(|_| client_op(&mut rng, &keys))
                    .collect()
            })
            .collect();
        total += per_thread * threads.len();
        let death = (crashes && rng.below(10) < 6).then(|| {
            let after = rng.range_inclusive(1, 12 * per_thread as u64) as u32;
            let how = if rng.below(10) < 7 {
                Death::Power
            } else {
                Death::Process
            };
            (after, how)
        });
        let end = match rng.below(20) {
            0..=9 => RoundEnd::Continue,
            10..=12 => RoundEnd::CleanReopen,
            13..=15 if crashes => RoundEnd::ProcessCrash,
            16..=19 if crashes => RoundEnd::PowerLoss,
            _ => RoundEnd::Continue,
        };
        rounds.push(Round {
            threads,
            death,
            end,
        });
    }
    Plan { rounds }
}

fn client_op(rng: &mut Rng, keys: &KeySpace) -> ClientOp {
    match rng.below(1000) {
        440..=479 => {
            let body = match rng.below(8) {
                0..=2 => TxnBody::Transfer {
                    from: rng.below(u64::from(COUNTERS)) as u8,
                    to: rng.below(u64::from(COUNTERS)) as u8,
                    amount: rng.range_inclusive(1, 9) as u8,
                },
                3..=5 => TxnBody::OnCall {
                    pair: rng.below(u64::from(ONCALL_PAIRS)) as u8,
                    side_b: rng.coin(),
                },
                _ => TxnBody::ScanWrite {
                    lo: keys.bound(rng),
                    hi: keys.bound(rng),
                    scan: scan(rng),
                    limit: rng.range_inclusive(1, 20) as u32,
                    key: keys.pick(rng),
                },
            };
            // On-call transactions are always serializable: under snapshot
            // isolation their write skew is allowed, and the invariant
            // that no pair ends with both sides off would not hold.
            let serializable = rng.below(5) != 0 || matches!(body, TxnBody::OnCall { .. });
            ClientOp::Txn {
                body,
                serializable,
                durable: rng.below(10) < 3,
            }
        }
        0..=439 => {
            let n = match rng.below(10) {
                0..=6 => 1,
                _ => rng.range_inclusive(2, 6),
            };
            let ops = (0..n)
                .map(|_| {
                    let k = keys.pick(rng);
                    let v = (rng.below(8) != 0).then(|| small_value(rng));
                    (k, v)
                })
                .collect();
            ClientOp::Write {
                ops,
                durable: rng.below(10) < 3,
            }
        }
        480..=659 => ClientOp::Get {
            key: keys.pick(rng),
        },
        660..=749 => ClientOp::Range {
            lo: keys.bound(rng),
            hi: keys.bound(rng),
            scan: scan(rng),
            limit: rng.range_inclusive(1, 40) as u32,
        },
        750..=829 => ClientOp::Iterate {
            lo: KeyBound::Unbounded,
            hi: keys.bound(rng),
            scan: scan(rng),
            steps: rng.range_inclusive(2, 5) as u8,
            per_step: rng.range_inclusive(1, 8) as u8,
        },
        830..=889 => ClientOp::Snapshot {
            keys: (0..rng.range_inclusive(1, 4))
                .map(|_| keys.pick(rng))
                .collect(),
        },
        890..=909 => ClientOp::Flush,
        910..=919 => ClientOp::Compact,
        920..=924 => ClientOp::CompactRange {
            lo: keys.bound(rng),
            hi: keys.bound(rng),
        },
        925..=954 => ClientOp::Cursor {
            start: match rng.below(4) {
                0 => CursorStart::First,
                1 => CursorStart::Last,
                2 => CursorStart::Seek(keys.pick(rng)),
                _ => CursorStart::SeekForPrev(keys.pick(rng)),
            },
            moves: rng.next_u64() as u32,
            n: rng.range_inclusive(1, 12) as u8,
        },
        955..=969 => ClientOp::MultiGet {
            keys: (0..rng.range_inclusive(1, 6))
                .map(|_| keys.pick(rng))
                .collect(),
        },
        970..=979 => {
            let k = keys.pick(rng);
            let n = rng.below(k.len() as u64 + 1) as usize;
            ClientOp::Prefix {
                prefix: k[..n].to_vec(),
                reverse: rng.coin(),
            }
        }
        980..=984 => ClientOp::Properties,
        985..=986 => ClientOp::Close,
        987..=989 => ClientOp::ReadOnlyOpen,
        990..=993 => ClientOp::FirstLast,
        994..=996 => ClientOp::Checkpoint,
        _ => ClientOp::Pause {
            yields: rng.range_inclusive(1, 6) as u8,
        },
    }
}

/// Mostly small values (so groups of many small writes form), sometimes
/// the single-threaded workload's full range up to 9 KB.
fn small_value(rng: &mut Rng) -> Val {
    if rng.below(8) == 0 {
        value(rng)
    } else {
        Val {
            len: rng.range_inclusive(0, 64) as u32,
            tag: rng.next_u64() as u32,
        }
    }
}

impl fmt::Display for ClientOp {
    /// Short form for traces.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let show = strata_models::Show;
        match self {
            ClientOp::Write { ops, durable } => {
                let sync = if *durable { "durable" } else { "buffered" };
                write!(f, "write[{}] {sync}:", ops.len())?;
                for (k, v) in ops {
                    match v {
                        Some(v) => write!(f, " put {} len={} tag={}", show(k), v.len, v.tag)?,
                        None => write!(f, " del {}", show(k))?,
                    }
                }
                Ok(())
            }
            ClientOp::Get { key } => write!(f, "get {}", show(key)),
            ClientOp::Range {
                lo,
                hi,
                scan,
                limit,
            } => write!(f, "range {lo} .. {hi} {scan:?} limit={limit}"),
            ClientOp::Iterate {
                lo,
                hi,
                scan,
                steps,
                per_step,
            } => write!(f, "iterate {lo} .. {hi} {scan:?} {steps}x{per_step}"),
            ClientOp::Snapshot { keys } => {
                write!(f, "snapshot, then get")?;
                for k in keys {
                    write!(f, " {}", show(k))?;
                }
                Ok(())
            }
            ClientOp::Flush => write!(f, "flush"),
            ClientOp::Compact => write!(f, "compact"),
            ClientOp::CompactRange { lo, hi } => write!(f, "compact_range {lo} .. {hi}"),
            ClientOp::Cursor { start, moves, n } => {
                write!(f, "cursor {start:?} then {n} moves {moves:#x}")
            }
            ClientOp::MultiGet { keys } => {
                write!(f, "multi_get")?;
                for k in keys {
                    write!(f, " {}", show(k))?;
                }
                Ok(())
            }
            ClientOp::Prefix { prefix, reverse } => {
                let dir = if *reverse { "reversed" } else { "forward" };
                write!(f, "prefix {} {dir}", show(prefix))
            }
            ClientOp::Properties => write!(f, "properties"),
            ClientOp::Close => write!(f, "close"),
            ClientOp::ReadOnlyOpen => write!(f, "read-only open"),
            ClientOp::FirstLast => write!(f, "first and last"),
            ClientOp::Checkpoint => write!(f, "checkpoint"),
            ClientOp::Txn {
                body,
                serializable,
                durable,
            } => {
                let level = if *serializable {
                    "serializable"
                } else {
                    "snapshot"
                };
                let sync = if *durable { "durable" } else { "buffered" };
                match body {
                    TxnBody::Transfer { from, to, amount } => write!(
                        f,
                        "{level} txn: move {amount} from counter {from} to {to}, {sync}"
                    ),
                    TxnBody::OnCall { pair, side_b } => write!(
                        f,
                        "{level} txn: on-call pair {pair} side {}, {sync}",
                        if *side_b { 'b' } else { 'a' }
                    ),
                    TxnBody::ScanWrite {
                        lo,
                        hi,
                        scan,
                        limit,
                        key,
                    } => write!(
                        f,
                        "{level} txn: scan {lo} .. {hi} {scan:?} limit={limit}, write {}, {sync}",
                        show(key)
                    ),
                }
            }
            ClientOp::Pause { yields } => write!(f, "pause {yields}"),
        }
    }
}

impl fmt::Display for Plan {
    /// Every round's calls, thread by thread, as a shrunk plan is shown.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (r, round) in self.rounds.iter().enumerate() {
            writeln!(f, "round {r}: death {:?}, end {:?}", round.death, round.end)?;
            for (t, ops) in round.threads.iter().enumerate() {
                for (i, op) in ops.iter().enumerate() {
                    writeln!(f, "  t{t}#{i} {op}")?;
                }
            }
        }
        Ok(())
    }
}

/// A shrunk failing plan.
#[derive(Clone, Debug)]
pub struct ShrunkPlan {
    /// The smallest plan found that still fails.
    pub plan: Plan,
    /// Its failure.
    pub message: String,
    /// Runs spent.
    pub runs: usize,
}

/// Shrinks a failing plan: drops whole rounds, then chunks of each thread's
/// calls (halving the chunk size), keeping a change when the run still
/// fails. The seed, and with it the schedule seed, the fault and crash
/// streams, stays fixed; the schedule itself follows the calls that are
/// left, deterministically. `None` if the plan does not fail.
#[cfg(shuttle)]
pub fn shrink_plan(
    seed: u64,
    plan: &Plan,
    cfg: &ConcurrentConfig,
    runs_max: usize,
) -> Option<ShrunkPlan> {
    let mut runs = 1;
    let mut message = execute_concurrent(seed, plan, cfg, false).failure?.message;
    let mut best = plan.clone();
    let try_plan = |p: &Plan, runs: &mut usize, message: &mut String| -> bool {
        *runs += 1;
        match execute_concurrent(seed, p, cfg, false).failure {
            Some(f) => {
                *message = f.message;
                true
            }
            None => false,
        }
    };
    let mut r = 0;
    while r < best.rounds.len() && best.rounds.len() > 1 && runs < runs_max {
        let mut p = best.clone();
        p.rounds.remove(r);
        if try_plan(&p, &mut runs, &mut message) {
            best = p;
        } else {
            r += 1;
        }
    }
    let mut chunk = ROUND_OPS_MAX as usize;
    while chunk >= 1 && runs < runs_max {
        for r in 0..best.rounds.len() {
            for t in 0..best.rounds[r].threads.len() {
                let mut i = 0;
                while i < best.rounds[r].threads[t].len() && runs < runs_max {
                    let mut p = best.clone();
                    let ops = &mut p.rounds[r].threads[t];
                    let end = (i + chunk).min(ops.len());
                    ops.drain(i..end);
                    if try_plan(&p, &mut runs, &mut message) {
                        best = p;
                    } else {
                        i += chunk;
                    }
                }
            }
        }
        chunk /= 2;
    }
    Some(ShrunkPlan {
        plan: best,
        message,
        runs,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cfg(threads: usize) -> ConcurrentConfig {
        ConcurrentConfig {
            run: RunConfig::default(),
            threads,
            scheduler: SchedulerChoice::Random,
        }
    }

    #[test]
    fn the_plan_is_a_pure_function_of_the_seed() {
        assert_eq!(plan(7, &cfg(4)), plan(7, &cfg(4)));
        assert_ne!(plan(7, &cfg(4)), plan(8, &cfg(4)));
        let p = plan(7, &cfg(3));
        assert!(p.ops() >= 1000, "{}", p.ops());
        assert!(p.rounds.iter().all(|r| r.threads.len() == 3));
    }

    #[test]
    fn plans_hold_every_kind_of_call_and_death() {
        let mut seen = [false; 20];
        let mut deaths = [false; 2];
        for seed in 0..20 {
            for r in plan(seed, &cfg(2)).rounds {
                if let Some((_, d)) = r.death {
                    deaths[(d == Death::Process) as usize] = true;
                }
                for op in r.threads.iter().flatten() {
                    let i = match op {
                        ClientOp::Write { .. } => 0,
                        ClientOp::Get { .. } => 1,
                        ClientOp::Range { .. } => 2,
                        ClientOp::Iterate { .. } => 3,
                        ClientOp::Snapshot { .. } => 4,
                        ClientOp::Flush => 5,
                        ClientOp::Compact => 6,
                        ClientOp::Pause { .. } => 7,
                        ClientOp::CompactRange { .. } => 8,
                        ClientOp::Cursor { .. } => 9,
                        ClientOp::MultiGet { .. } => 10,
                        ClientOp::Prefix { .. } => 11,
                        ClientOp::Properties => 12,
                        ClientOp::Close => 13,
                        ClientOp::ReadOnlyOpen => 14,
                        ClientOp::FirstLast => 15,
                        ClientOp::Checkpoint => 16,
                        ClientOp::Txn { body, .. } => match body {
                            TxnBody::Transfer { .. } => 17,
                            TxnBody::OnCall { .. } => 18,
                            TxnBody::ScanWrite { .. } => 19,
                        },
                    };
                    seen[i] = true;
                }
            }
        }
        assert_eq!(seen, [true; 20]);
        assert_eq!(deaths, [true; 2]);
    }
}
