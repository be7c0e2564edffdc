//! The group-commit queue (protocol in `engine/DESIGN.md`, "Group commit").
//!
//! Writers enqueue themselves; the writer at the front leads a group: it runs
//! the caller-supplied commit function for the whole group with the queue
//! unlocked, then hands each member its result and wakes the queue. Results
//! are delivered exactly once per member. The commit function may release
//! the group from the queue before it returns (once the group's order is
//! fixed), so the next leader starts its group while this one finishes:
//! the write path appends under the WAL lock, releases, then syncs.

use crate::sync::atomic::{AtomicUsize, Ordering};
use crate::sync::time::Instant;
use crate::sync::Arc;
use crate::sync::{Condvar, Mutex, MutexGuard};
use std::cell::Cell;
use std::collections::VecDeque;
use std::time::Duration;

use crate::batch::WriteBatch;
use crate::error::Result;
use crate::options::SyncMode;
use crate::sync::{lock, wait};
use crate::txn::TxnCheck;
use crate::types::SeqNo;

/// One writer waiting in the queue.
#[derive(Debug)]
pub struct Member {
    pub batch: WriteBatch,
    pub sync: SyncMode,
    /// Encoded WAL record size, used to bound the group.
    pub record_bytes: usize,
    /// A transaction's conflict check, run by the leader before the
    /// member gets its sequence numbers.
    pub txn: Option<TxnCheck>,
    result: Mutex<Option<Result<SeqNo>>>,
}

/// The leader's commit function: gets the group in queue order, returns
/// each member's outcome (the last sequence number of its batch, or its
/// own refusal, a transaction's conflict), or one error for the whole group.
/// Its second argument releases the group: it leaves the queue and the
/// writer behind it becomes the next leader while this function goes on
/// (calling it more than once does nothing more; not calling it keeps the
/// queue until the function returns).
pub type CommitFn<'a> = dyn Fn(&[Arc<Member>], &dyn Fn()) -> Result<Vec<Outcome>> + 'a;

/// One member's outcome: the last sequence number of its batch, or its
/// own refusal.
pub type Outcome = Result<SeqNo>;

/// The queue.
#[derive(Debug, Default)]
pub struct CommitQueue {
    queue: Mutex<VecDeque<Arc<Member>>>,
    wake: Condvar,
    /// Members of the last group that asked for a sync.
    last_synced_group: AtomicUsize,
    /// Writes in the queue (leaders and groups being committed included,
    /// until they are released), kept beside the queue so statistics can
    /// read it without its lock.
    queued: AtomicUsize,
}

/// Longest a leader of a synced group waits for the writers of the previous
/// synced group to rejoin before it takes its group (see `submit`).
pub const GROUP_GATHER_MAX: Duration = Duration::from_micros(100);

/// Largest group a leader takes, in encoded record bytes (the leader's own
/// record is always taken, whatever its size).
pub const GROUP_BYTES_MAX: usize = 4 << 20;

impl CommitQueue {
    /// Writes queued or being committed now (a statistic: it may be stale
    /// by the time the caller looks at it).
    pub fn queued(&self) -> usize {
        self.queued.load(Ordering::Relaxed)
    }

    /// Commits `batch` (a transaction's when `txn` is set): waits to be
    /// led, or leads a group through `commit`. `commit` gets the group in
    /// queue order and returns each member's outcome.
    pub fn submit(
        &self,
        batch: WriteBatch,
        sync: SyncMode,
        record_bytes: usize,
        txn: Option<TxnCheck>,
        commit: &CommitFn<'_>,
    ) -> Result<SeqNo> {
        let me = Arc::new(Member {
            batch,
            sync,
            record_bytes,
            txn,
            result: Mutex::new(None),
        });
        let mut q = lock(&self.queue);
        q.push_back(me.clone());
        self.queued.store(q.len(), Ordering::Relaxed);
        loop {
            if let Some(result) = lock(&me.result).take() {
                return result;
            }
            // A member of a released group is no longer queued: it only
            // waits for its result.
            if q.front().is_some_and(|f| Arc::ptr_eq(f, &me)) {
                break;
            }
            q = wait(&self.wake, q);
        }
        // Leader.
        let q = self.gather_followers(q, sync);
        // Take a bounded group from the front.
        let mut group_bytes = 0usize;
        let group: Vec<Arc<Member>> = q
            .iter()
            .take_while(|m| {
                let take = group_bytes == 0 || group_bytes + m.record_bytes <= GROUP_BYTES_MAX;
                group_bytes += m.record_bytes;
                take
            })
            .cloned()
            .collect();
        drop(q);
        if group.iter().any(|m| m.sync == SyncMode::Durable) {
            self.last_synced_group.store(group.len(), Ordering::Relaxed);
        }

        let released = Cell::new(false);
        let release = || {
            if !released.replace(true) {
                let mut q = lock(&self.queue);
                self.dequeue(&mut q, &group);
                drop(q);
                self.wake.notify_all();
            }
        };
        let outcome = commit(&group, &release);

        let mut q = lock(&self.queue);
        if !released.get() {
            self.dequeue(&mut q, &group);
        }
        let mut mine = None;
        match outcome {
            Ok(seqnos) => {
                assert_eq!(seqnos.len(), group.len(), "one result per member");
                for (m, s) in group.iter().zip(seqnos) {
                    deliver(m, &me, s, &mut mine);
                }
            }
            Err(e) => {
                for m in &group {
                    let err = e.duplicate();
                    deliver(m, &me, Err(err), &mut mine);
                }
            }
        }
        self.wake.notify_all();
        drop(q);
        mine.expect("the leader is in its own group")
    }

    /// Takes `group` off the front of the queue.
    fn dequeue(&self, q: &mut VecDeque<Arc<Member>>, group: &[Arc<Member>]) {
        for m in group {
            let front = q.pop_front().expect("group members are at the front");
            debug_assert!(Arc::ptr_eq(&front, m));
        }
        self.queued.store(q.len(), Ordering::Relaxed);
    }

    /// A synced group pays one fsync however large it is; writers released
    /// by the previous synced group are usually about to queue again. If
    /// that group had several members, a leader of a synced group gives
    /// them a moment (bounded by GROUP_GATHER_MAX) to join, so concurrent
    /// durable writers share syncs instead of alternating between a group
    /// of one and a group of the rest. A lone writer never waits. Only
    /// timing depends on this: any grouping commits correctly.
    fn gather_followers<'a>(
        &'a self,
        mut q: MutexGuard<'a, VecDeque<Arc<Member>>>,
        sync: SyncMode,
    ) -> MutexGuard<'a, VecDeque<Arc<Member>>> {
        if sync == SyncMode::Durable {
            let want = self.last_synced_group.load(Ordering::Relaxed);
            let start = Instant::now();
            while q.len() < want && start.elapsed() < GROUP_GATHER_MAX {
                drop(q);
                crate::sync::thread::yield_now();
                q = lock(&self.queue);
            }
        }
        q
    }
}

/// Hands `m` its result (the leader keeps its own in `mine`). Called with
/// the queue locked, so a member that checks for its result under that lock
/// before waiting cannot miss the wake-up that follows.
fn deliver(
    m: &Arc<Member>,
    me: &Arc<Member>,
    result: Result<SeqNo>,
    mine: &mut Option<Result<SeqNo>>,
) {
    if Arc::ptr_eq(m, me) {
        *mine = Some(result);
    } else {
        *lock(&m.result) = Some(result);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::Error;
    use crate::sync::atomic::{AtomicU64, AtomicUsize, Ordering};

    /// Writers queued now, the running group's members included.
    fn queued(q: &CommitQueue) -> usize {
        lock(&q.queue).len()
    }

    fn batch(key: &str) -> WriteBatch {
        let mut b = WriteBatch::new();
        b.put(key, "v");
        b
    }

    /// Runs a leader whose commit function holds it until `followers`
    /// writers have queued behind it, then those followers (records of
    /// `follower_bytes` each), whose commit function is `commit`. Returns
    /// the followers' results and the sizes of the groups their commit
    /// function saw.
    fn held_leader_then_followers(
        followers: usize,
        follower_bytes: usize,
        commit: fn(&[Arc<Member>]) -> Result<Vec<Outcome>>,
    ) -> (Vec<Result<SeqNo>>, Vec<usize>) {
        let q = Arc::new(CommitQueue::default());
        let groups = Arc::new(Mutex::new(Vec::new()));
        let entered = Arc::new(AtomicUsize::new(0));
        let leader = {
            let (q, entered) = (q.clone(), entered.clone());
            crate::sync::thread::spawn(move || {
                q.submit(batch("leader"), SyncMode::Buffered, 10, None, &|g, _| {
                    assert_eq!(g.len(), 1);
                    entered.store(1, Ordering::SeqCst);
                    // Hold the group open until every follower waits.
                    while queued(&q) < 1 + followers {
                        crate::sync::thread::yield_now();
                    }
                    // The statistic agrees with the queue once it is still.
                    assert_eq!(q.queued(), 1 + followers);
                    Ok(vec![Ok(0)])
                })
            })
        };
        while entered.load(Ordering::SeqCst) == 0 {
            crate::sync::thread::yield_now();
        }
        let threads: Vec<_> = (0..followers)
            .map(|t| {
                let (q, groups) = (q.clone(), groups.clone());
                crate::sync::thread::spawn(move || {
                    q.submit(
                        batch(&format!("f{t}")),
                        SyncMode::Buffered,
                        follower_bytes,
                        None,
                        &|g, _| {
                            lock(&groups).push(g.len());
                            commit(g)
                        },
                    )
                })
            })
            .collect();
        assert_eq!(leader.join().unwrap().unwrap(), 0);
        let results = threads.into_iter().map(|t| t.join().unwrap()).collect();
        assert_eq!(q.queued(), 0, "every writer has left the queue");
        let groups = lock(&groups).clone();
        (results, groups)
    }

    /// The writers that queued behind a busy leader commit as one group,
    /// and each gets its own result.
    #[test]
    fn writers_queued_behind_a_leader_form_one_group_with_one_result_each() {
        const FOLLOWERS: usize = 6;
        let (results, groups) = held_leader_then_followers(FOLLOWERS, 10, |g| {
            Ok((1..=g.len() as u64).map(|i| Ok(100 + i)).collect())
        });
        assert_eq!(groups, vec![FOLLOWERS], "one group holding every follower");
        let mut got: Vec<SeqNo> = results.into_iter().map(|r| r.unwrap()).collect();
        got.sort_unstable();
        assert_eq!(got, (101..=100 + FOLLOWERS as u64).collect::<Vec<_>>());
    }

    /// A failure of the group's commit reaches every member, not only the
    /// leader.
    #[test]
    fn a_failed_group_fails_every_member() {
        const FOLLOWERS: usize = 5;
        let (results, groups) = held_leader_then_followers(FOLLOWERS, 10, |_| {
            Err(Error::Poisoned {
                cause: "sync failed".into(),
            })
        });
        assert_eq!(groups, vec![FOLLOWERS]);
        assert_eq!(results.len(), FOLLOWERS);
        for r in results {
            assert!(
                matches!(&r, Err(Error::Poisoned { cause }) if cause == "sync failed"),
                "{r:?}"
            );
        }
    }

    /// A leader takes waiting writers while the group's records fit in
    /// `GROUP_BYTES_MAX` (exactly full is allowed); the rest wait for the
    /// next group.
    #[test]
    fn a_group_stops_at_its_byte_bound() {
        let (results, groups) = held_leader_then_followers(6, GROUP_BYTES_MAX / 4, |g| {
            Ok((0..g.len() as u64).map(Ok).collect())
        });
        assert_eq!(groups, vec![4, 2], "4 records of a quarter fill a group");
        assert!(results.iter().all(Result::is_ok));
    }

    /// The gather heuristic remembers the size of the last group that asked
    /// for a sync, and only of such groups.
    #[test]
    fn only_synced_groups_set_the_gather_target() {
        let q = CommitQueue::default();
        let ok = |g: &[Arc<Member>], _: &dyn Fn()| Ok(g.iter().map(|_| Ok(1)).collect());
        assert_eq!(q.last_synced_group.load(Ordering::Relaxed), 0);
        q.submit(batch("a"), SyncMode::Durable, 10, None, &ok)
            .unwrap();
        assert_eq!(q.last_synced_group.load(Ordering::Relaxed), 1);
        q.last_synced_group.store(7, Ordering::Relaxed);
        q.submit(batch("b"), SyncMode::Buffered, 10, None, &ok)
            .unwrap();
        assert_eq!(
            q.last_synced_group.load(Ordering::Relaxed),
            7,
            "a buffered group leaves it alone"
        );
    }

    /// A released group leaves the queue: the writer behind it leads the
    /// next group while the first leader's commit function still runs, and
    /// both get their results. (Were release to do nothing, the first
    /// leader would wait for the second group forever.)
    #[test]
    fn a_released_group_lets_the_next_leader_commit_before_it_returns() {
        let q = Arc::new(CommitQueue::default());
        let second_done = Arc::new(AtomicUsize::new(0));
        let entered = Arc::new(AtomicUsize::new(0));
        let first = {
            let (q, second_done, entered) = (q.clone(), second_done.clone(), entered.clone());
            crate::sync::thread::spawn(move || {
                q.submit(
                    batch("first"),
                    SyncMode::Buffered,
                    10,
                    None,
                    &|g, release| {
                        assert_eq!(g.len(), 1);
                        release();
                        release();
                        entered.store(1, Ordering::SeqCst);
                        while second_done.load(Ordering::SeqCst) == 0 {
                            crate::sync::thread::yield_now();
                        }
                        Ok(vec![Ok(1)])
                    },
                )
            })
        };
        while entered.load(Ordering::SeqCst) == 0 {
            crate::sync::thread::yield_now();
        }
        assert_eq!(q.queued(), 0, "a released group is out of the queue");
        let second = q.submit(batch("second"), SyncMode::Buffered, 10, None, &|g, _| {
            assert_eq!(g.len(), 1, "the released group is not taken again");
            second_done.store(1, Ordering::SeqCst);
            Ok(vec![Ok(2)])
        });
        assert_eq!(second.unwrap(), 2);
        assert_eq!(first.join().unwrap().unwrap(), 1);
        assert_eq!(q.queued(), 0);
    }

    #[test]
    fn concurrent_writers_each_get_their_own_result() {
        let q = Arc::new(CommitQueue::default());
        let next = Arc::new(AtomicU64::new(1));
        let threads: Vec<_> = (0..8)
            .map(|t| {
                let (q, next) = (q.clone(), next.clone());
                crate::sync::thread::spawn(move || {
                    let mut mine = Vec::new();
                    for i in 0..200u32 {
                        let mut b = WriteBatch::new();
                        b.put(format!("{t}-{i}"), "v");
                        let s = q
                            .submit(b, SyncMode::Buffered, 10, None, &|g, release| {
                                // Slow leader so followers pile up; every
                                // other group is released early.
                                if t % 2 == 0 {
                                    release();
                                }
                                crate::sync::thread::yield_now();
                                Ok(g.iter()
                                    .map(|_| Ok(next.fetch_add(1, Ordering::Relaxed)))
                                    .collect())
                            })
                            .unwrap();
                        mine.push(s);
                    }
                    mine
                })
            })
            .collect();
        let mut all: Vec<u64> = threads
            .into_iter()
            .flat_map(|t| t.join().unwrap())
            .collect();
        all.sort_unstable();
        // Every writer got a distinct result: exactly 1..=1600.
        assert_eq!(all, (1..=1600).collect::<Vec<_>>());
    }
}
