//! The write path: validation, the write throttle, the commit group's WAL
//! append and sync, memtable insertion, and memtable rotation
//! (protocol in `engine/DESIGN.md`, "Group commit").

use crate::sync::atomic::Ordering;
use crate::sync::Arc;
use std::time::Duration;

use super::state::{new_memtable, DbInner, Frozen, WalState};
use super::stats::StatsCounters;
use crate::batch::{BatchOp, WriteBatch};
use crate::commit::{Member, Outcome};
use crate::compaction::{write_pressure, WritePressure};
use crate::error::{ConflictKind, Error, Result};
use crate::memtable::Memtable;
use crate::options::{BackgroundMode, SyncMode, WriteOptions};
use crate::sync::{lock, read, wait, wait_timeout, write};
use crate::txn::TxnCheck;
use crate::types::{SeqNo, SEQNO_MAX};
use crate::wal::{self, WalSyncPoint, WalWriter};

impl DbInner {
    /// Commits `batch` through the group-commit queue.
    pub(super) fn write(&self, batch: WriteBatch, wo: WriteOptions) -> Result<SeqNo> {
        self.write_checked(batch, wo, None)
    }

    /// Commits `batch`, a transaction's writes when `txn` is set: the
    /// group's leader runs the transaction's conflict check just before it
    /// hands out the batch's sequence numbers.
    pub(super) fn write_checked(
        &self,
        batch: WriteBatch,
        wo: WriteOptions,
        txn: Option<TxnCheck>,
    ) -> Result<SeqNo> {
        self.check_writable()?;
        if batch.is_empty() {
            return Ok(self.visible_seqno.load(Ordering::Acquire));
        }
        let record_bytes = self.validate_batch(&batch)?;
        self.throttle()?;
        StatsCounters::add(&self.stats.user_bytes_written, batch.payload_bytes() as u64);
        self.queue
            .submit(batch, wo.sync, record_bytes, txn, &|group, release| {
                self.commit_group(group, release)
            })
    }

    /// The one rule for keys, for writes and reads alike: at most
    /// `key_bytes_max` bytes, else `InvalidArgument`. (Before, a read of
    /// an over-limit key answered `Ok(None)` while a write of it failed.)
    pub(super) fn check_key(&self, key: &[u8]) -> Result<()> {
        if key.len() > self.opts.key_bytes_max {
            return Err(Error::InvalidArgument(format!(
                "key of {} bytes exceeds key_bytes_max {}",
                key.len(),
                self.opts.key_bytes_max
            )));
        }
        Ok(())
    }

    /// Checks every key, value and the encoded size against the limits;
    /// returns the batch's encoded WAL record size.
    fn validate_batch(&self, batch: &WriteBatch) -> Result<usize> {
        for op in batch.ops() {
            self.check_key(op.key())?;
            if let Some(v) = op.value() {
                if v.len() > self.opts.value_bytes_max {
                    return Err(Error::InvalidArgument(format!(
                        "value of {} bytes exceeds value_bytes_max {}",
                        v.len(),
                        self.opts.value_bytes_max
                    )));
                }
            }
        }
        let record_bytes = wal::encoded_record_bytes(batch.ops());
        if record_bytes - wal::RECORD_HEADER_BYTES > self.opts.batch_bytes_max {
            return Err(Error::InvalidArgument(format!(
                "batch of {record_bytes} encoded bytes exceeds batch_bytes_max {}",
                self.opts.batch_bytes_max
            )));
        }
        Ok(record_bytes)
    }

    /// Slows writers while level 0 backs up and stops them while too many
    /// memtables or level-0 files wait. Only with a background thread: in
    /// manual mode the caller decides when work happens.
    fn throttle(&self) -> Result<()> {
        if self.opts.background == BackgroundMode::Manual {
            return Ok(());
        }
        let mut slowed = false;
        loop {
            self.check_writable()?;
            let (stopped, pressure) = self.stall();
            if stopped {
                if let Some(e) = self.stall_cause() {
                    return Err(e);
                }
                StatsCounters::add(&self.stats.write_stops, 1);
                crate::probe::hit(crate::probe::Probe::WriteStop);
                self.signal_background();
                let flags = lock(&self.bg_signal.flags);
                // Checked again under the signal's lock: whatever can end a
                // stall (a finished background step, poisoning) takes that
                // lock before it notifies, so it is either seen here or
                // wakes the wait. (Checked only outside it, a step that
                // finished in between was missed and the writer slept out
                // the whole timeout; the scheduler test in
                // tests/shuttle_smoke.rs, where waits never time out, found
                // it as a deadlock.) The timeout is a backstop only.
                if self.stall().0 && !self.is_poisoned() {
                    drop(wait_timeout(
                        &self.bg_signal.wake,
                        flags,
                        Duration::from_millis(10),
                    ));
                }
                continue;
            }
            if pressure == WritePressure::Slowdown && !slowed {
                StatsCounters::add(&self.stats.write_slowdowns, 1);
                crate::probe::hit(crate::probe::Probe::WriteSlowdown);
                slowed = true;
                crate::sync::thread::sleep(Duration::from_millis(1));
                continue;
            }
            return Ok(());
        }
    }

    /// The leader's work for one group (see DESIGN.md, "Group commit").
    /// Under the WAL lock: the transactions' conflict checks and the
    /// sequence numbers, one WAL append, the memtable inserts. Then the
    /// sync, if any member asked for it; then the group leaves the queue
    /// (`release`), so the next group appends while this one publishes its
    /// last sequence number as visible once every earlier group has.
    fn commit_group(&self, group: &[Arc<Member>], release: &dyn Fn()) -> Result<Vec<Outcome>> {
        let (outcomes, first, last, sync) = self.append_group(group)?;
        if first > last {
            return Ok(outcomes);
        }
        // A group that syncs leaves the queue only once its sync returned:
        // writers that queue meanwhile form the next group, which one sync
        // then covers. (Released before the sync, the next leader synced
        // its smaller group at once, and two `fdatasync`s on one file run
        // one after the other: 2 synced writers fell from 1.98 writes per
        // sync to 1.00, and 4 writers lost 20% of their rate.)
        let synced = match sync {
            Some(point) => {
                let synced = point.sync().inspect(|()| {
                    StatsCounters::add(&self.stats.wal_syncs, 1);
                });
                release();
                synced
            }
            None => {
                release();
                Ok(())
            }
        };
        self.publish(first, last, synced)?;
        Ok(outcomes)
    }

    /// Makes `first..=last` visible after every earlier group's numbers,
    /// or fails: when this group's sync failed (the database is poisoned:
    /// the unsynced bytes must be treated as lost, the sync is never
    /// retried), or an earlier group failed (its bytes come before these
    /// in the log, so these cannot be acknowledged either).
    fn publish(&self, first: SeqNo, last: SeqNo, synced: Result<()>) -> Result<()> {
        if let Err(e) = &synced {
            self.poison(e);
        }
        let mut turn = lock(&self.publish.lock);
        while self.visible_seqno.load(Ordering::Acquire) != first - 1 && !self.is_poisoned() {
            turn = wait(&self.publish.turn, turn);
        }
        let published = synced.is_ok() && !self.is_poisoned();
        if published {
            self.visible_seqno.store(last, Ordering::Release);
        }
        drop(turn);
        self.publish.turn.notify_all();
        synced?;
        if !published {
            // Not `Poisoned`, which promises nothing was written: these
            // records are in the log, their outcome unknown.
            let path = lock(&self.wal).writer.path().to_path_buf();
            return Err(Error::io(
                path,
                std::io::Error::other(format!(
                    "the commit of sequence numbers {first}..={last} was abandoned after a \
                     failure before it ({}); its records may or may not survive a reopen",
                    self.poison_error()
                )),
            ));
        }
        Ok(())
    }

    /// The part of a group's commit under the WAL lock: checks, numbers,
    /// appends and inserts the group; returns each member's outcome, the
    /// sequence numbers used (`first > last` when every member was
    /// refused), and the sync to run if a member asked for one.
    #[allow(clippy::type_complexity)]
    fn append_group(
        &self,
        group: &[Arc<Member>],
    ) -> Result<(Vec<Outcome>, SeqNo, SeqNo, Option<WalSyncPoint>)> {
        self.check_writable()?;
        let mut wal = lock(&self.wal);
        let wal = &mut *wal;
        let active = self.active_with_room(wal)?;
        let first = wal.next_seqno;
        let total_ops: u64 = group.iter().map(|m| m.batch.len() as u64).sum();
        if first + total_ops - 1 > SEQNO_MAX {
            return Err(Error::InvalidArgument("sequence numbers exhausted".into()));
        }
        let outcomes = self.check_and_number(group, first);
        let accepted: Vec<&Arc<Member>> = group
            .iter()
            .zip(&outcomes)
            .filter(|(_, o)| o.is_ok())
            .map(|(m, _)| m)
            .collect();
        if accepted.is_empty() {
            return Ok((outcomes, first, first - 1, None));
        }
        wal.buf.clear();
        let mut seq = first;
        for m in &accepted {
            let synced = wal.writer.synced_bytes();
            wal::encode_record(&mut wal.buf, seq, m.batch.ops(), synced);
            seq += m.batch.len() as u64;
        }
        if let Err(e) = wal.writer.append(&wal.buf) {
            self.poison(&e);
            return Err(e);
        }
        StatsCounters::add(&self.stats.wal_bytes_written, wal.buf.len() as u64);
        StatsCounters::add(&self.stats.commit_groups, 1);
        if group.len() >= 2 {
            StatsCounters::add(&self.stats.commit_groups_shared, 1);
            crate::probe::hit(crate::probe::Probe::GroupShared);
        }
        if group.iter().any(|m| m.sync != group[0].sync) {
            StatsCounters::add(&self.stats.commit_groups_mixed, 1);
            crate::probe::hit(crate::probe::Probe::GroupMixed);
        }
        let sync = accepted
            .iter()
            .any(|m| m.sync == SyncMode::Durable)
            .then(|| wal.writer.sync_point());
        let mut seq = first;
        for m in &accepted {
            for op in m.batch.ops() {
                match op {
                    BatchOp::Put { key, value } => active.insert(key, seq, Some(value)),
                    BatchOp::Delete { key } => active.insert(key, seq, None),
                }
                seq += 1;
            }
        }
        wal.next_seqno = seq;
        Ok((outcomes, first, seq - 1, sync))
    }

    /// Checks the group's transactions against the writes committed since
    /// their snapshots (and against the group's earlier members) and
    /// numbers the members that pass from `first` on, recording their
    /// writes in the history: one step, under the WAL lock, so no commit
    /// can slip between a transaction's check and its sequence numbers.
    fn check_and_number(&self, group: &[Arc<Member>], first: SeqNo) -> Vec<Outcome> {
        let mut history = lock(&self.txn_history);
        let mut seq = first;
        group
            .iter()
            .map(|m| {
                if let Some(t) = &m.txn {
                    if let Err(e) = history.check(t) {
                        StatsCounters::add(&self.stats.transaction_conflicts, 1);
                        crate::probe::hit(match &e {
                            Error::Conflict {
                                kind: ConflictKind::HistoryExceeded,
                                ..
                            } => crate::probe::Probe::TxnHistoryExceeded,
                            _ => crate::probe::Probe::TxnConflict,
                        });
                        return Err(e);
                    }
                    StatsCounters::add(&self.stats.transactions_committed, 1);
                }
                for op in m.batch.ops() {
                    history.record(op.key(), seq);
                    seq += 1;
                }
                Ok(seq - 1)
            })
            .collect()
    }

    /// Whether writers must stop (too many frozen memtables, or level 0
    /// full), and the level-0 write pressure.
    fn stall(&self) -> (bool, WritePressure) {
        let st = read(&self.state);
        let pressure = write_pressure(&st.version, &self.opts.compaction);
        let stopped =
            st.frozen.len() >= self.opts.frozen_memtables_max || pressure == WritePressure::Stop;
        (stopped, pressure)
    }

    /// The active memtable, rotated first if it is full. Caller holds the
    /// WAL lock.
    fn active_with_room(&self, wal: &mut WalState) -> Result<Arc<dyn Memtable>> {
        let active = read(&self.state).active.clone();
        if active.approximate_memory() < self.opts.memtable_bytes_max {
            return Ok(active);
        }
        // The group being committed is still queued: a rotation races
        // another write when anything else is.
        self.rotate(wal, 1)?;
        Ok(read(&self.state).active.clone())
    }

    /// Freezes the active memtable behind a new WAL segment. The old segment
    /// is synced first, so a later segment's synced records never outlive
    /// an earlier segment's unsynced ones. Caller holds the WAL lock;
    /// `own` is how many queued writes the caller is committing itself.
    fn rotate(&self, wal: &mut WalState, own: usize) -> Result<()> {
        StatsCounters::add(&self.stats.memtable_rotations, 1);
        crate::probe::hit(crate::probe::Probe::MemtableRotated);
        if self.queue.queued() > own {
            StatsCounters::add(&self.stats.rotations_racing_writes, 1);
        }
        let result = (|| {
            wal.writer.sync()?;
            let number = self.next_file_number.fetch_add(1, Ordering::SeqCst);
            let writer = WalWriter::create(&*self.fs, &self.dir, number)?;
            wal.writer = writer;
            let mut st = write(&self.state);
            let old = std::mem::replace(&mut st.active, new_memtable(self.opts.memtable));
            st.frozen.push(Frozen {
                mem: old,
                next_log: number,
                seqno_max: wal.next_seqno - 1,
            });
            Ok(())
        })();
        if let Err(e) = &result {
            self.poison(e);
        }
        self.signal_background();
        result
    }

    /// Freezes the active memtable if it holds anything.
    pub(super) fn freeze_active(&self) -> Result<()> {
        self.check_writable()?;
        let mut wal = lock(&self.wal);
        if read(&self.state).active.is_empty() {
            return Ok(());
        }
        self.rotate(&mut wal, 0)
    }

    /// A clean close's end of the log: sync the segment, append a close
    /// record whose sync watermark covers every byte before it, sync
    /// again. After that, damage anywhere in the log is corruption at the
    /// next open (a valid record after it proves a sync covered it), not a
    /// torn tail to cut silently. (Before, a flipped bit in an early record
    /// of a cleanly closed log dropped every later record without an
    /// error: nothing after the damage proved a sync had covered it.)
    pub(super) fn close_wal(&self) -> Result<()> {
        let mut wal = lock(&self.wal);
        wal.writer.sync()?;
        let mut record = Vec::new();
        let synced = wal.writer.synced_bytes();
        crate::wal::encode_close_record(&mut record, wal.next_seqno, synced);
        wal.writer.append(&record)?;
        wal.writer.sync()
    }
}
