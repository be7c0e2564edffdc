//! Reads at a sequence number: point lookups through the memtables and the
//! levels, and merged range iterators.

use crate::sync::Arc;
use std::ops::{Bound, RangeBounds};

use super::state::{DbInner, State};
use crate::cursor::Cursor;
use crate::error::Result;
use crate::iter::{DbIter, LevelSource, MemSource, Source, VersionPin};
use crate::types::SeqNo;
use crate::version::LEVELS;

impl DbInner {
    /// The newest value of `key` with sequence number `<= at`.
    pub(super) fn get_at(&self, key: &[u8], at: SeqNo) -> Result<Option<Vec<u8>>> {
        self.check_key(key)?;
        let st = self.read_state();
        let found = self.get_in(&st, key, at);
        self.release_version(st.version);
        found
    }

    fn get_in(&self, st: &State, key: &[u8], at: SeqNo) -> Result<Option<Vec<u8>>> {
        if let Some((_, v)) = st.active.get(key, at) {
            return Ok(v);
        }
        for f in st.frozen.iter().rev() {
            if let Some((_, v)) = f.mem.get(key, at) {
                return Ok(v);
            }
        }
        // Level 0 newest first: flushes produce disjoint, ascending sequence
        // ranges, so the first table with a visible version has the newest.
        for f in st.version.files(0) {
            if f.covers(key) {
                if let Some((_, v)) = self.tables.get(f.number)?.get(key, at)? {
                    return Ok(v);
                }
            }
        }
        for level in 1..LEVELS {
            let files = st.version.files(level);
            let i = files.partition_point(|f| f.largest_key.as_slice() < key);
            if let Some(f) = files.get(i) {
                if f.covers(key) {
                    if let Some((_, v)) = self.tables.get(f.number)?.get(key, at)? {
                        return Ok(v);
                    }
                }
            }
        }
        Ok(None)
    }

    /// An iterator over `range` as of `at`, merging every memtable and
    /// level. It pins the version it reads, so the tables it needs outlive
    /// any compaction that replaces them.
    pub(super) fn range_at<K: AsRef<[u8]>, R: RangeBounds<K>>(
        self: &Arc<Self>,
        range: &R,
        at: SeqNo,
    ) -> Result<DbIter> {
        let lower = clone_bound(range.start_bound());
        let upper = clone_bound(range.end_bound());
        Ok(DbIter::new(self.sources(), lower, upper, at).with_closed_flag(self.closed.clone()))
    }

    /// A cursor over `lower..upper` as of `at` (pinned like `range_at`).
    pub(super) fn cursor_at(
        self: &Arc<Self>,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        at: SeqNo,
    ) -> Cursor {
        Cursor::new(self.sources(), lower, upper, at, self.closed.clone())
    }

    /// Every memtable and level as merge sources, newest first; the level
    /// sources share one pin on the current version.
    fn sources(self: &Arc<Self>) -> Vec<Arc<dyn Source>> {
        let st = self.read_state();
        let mut sources: Vec<Arc<dyn Source>> = Vec::new();
        sources.push(Arc::new(MemSource::new(st.active.clone())));
        for f in st.frozen.iter().rev() {
            sources.push(Arc::new(MemSource::new(f.mem.clone())));
        }
        let db = Arc::downgrade(self);
        let pin = Arc::new(VersionPin::new(st.version.clone(), move |v| {
            if let Some(db) = db.upgrade() {
                db.release_version(v);
            }
        }));
        for f in st.version.files(0) {
            sources.push(Arc::new(LevelSource::new(
                vec![f.clone()],
                self.tables.clone(),
                pin.clone(),
            )));
        }
        for level in 1..LEVELS {
            let files = st.version.files(level);
            if !files.is_empty() {
                sources.push(Arc::new(LevelSource::new(
                    files.to_vec(),
                    self.tables.clone(),
                    pin.clone(),
                )));
            }
        }
        drop(pin);
        self.release_version(st.version);
        sources
    }
}

fn clone_bound<K: AsRef<[u8]>>(b: Bound<&K>) -> Bound<Vec<u8>> {
    match b {
        Bound::Included(k) => Bound::Included(k.as_ref().to_vec()),
        Bound::Excluded(k) => Bound::Excluded(k.as_ref().to_vec()),
        Bound::Unbounded => Bound::Unbounded,
    }
}
