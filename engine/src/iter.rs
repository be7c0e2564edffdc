//! Ordered range iteration: merging memtables and tables.
//!
//! Every source (a memtable, a table, a level) opens *cursors* that walk one
//! direction and yield, for each user key in range, the source's newest
//! version visible at the read's sequence number (tombstones included). A
//! merge takes, for each key, the version with the highest sequence number
//! across sources, drops tombstones, and moves on. A [`DbIter`] holds one
//! merge per direction, created on first use; the two ends stop when they
//! meet, so `next` and `next_back` can be mixed freely.

use crate::sync::atomic::{AtomicBool, Ordering as AtomicOrdering};
use crate::sync::Arc;
use std::collections::VecDeque;
use std::fmt;
use std::ops::{Bound, ControlFlow};

use crate::error::Result;
use crate::memtable::Memtable;
use crate::sst::TableIter;
use crate::table_cache::TableCache;
use crate::types::{Direction, SeqNo};
use crate::version::{FileMeta, Version};

/// One key's newest visible version in one source.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: Vec<u8>,
    pub seqno: SeqNo,
    /// `None` is a tombstone.
    pub value: Option<Vec<u8>>,
}

/// Something that can be iterated in key order.
pub(crate) trait Source: Send + Sync + fmt::Debug {
    /// A cursor over the keys within the bounds, in `direction` order,
    /// yielding each key's newest version with `seqno <= at`.
    fn cursor(
        &self,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        direction: Direction,
        at: SeqNo,
    ) -> Result<Box<dyn Cursor>>;
}

/// A one-directional walk over a source.
pub(crate) trait Cursor: Send {
    /// The next entry, or `None` at the end.
    fn next_entry(&mut self) -> Result<Option<Entry>>;
}

/// Keys fetched from a memtable per scan call.
const MEM_CHUNK_KEYS: usize = 64;

/// A memtable as a source.
#[derive(Debug)]
pub(crate) struct MemSource {
    mem: Arc<dyn Memtable>,
}

impl MemSource {
    pub fn new(mem: Arc<dyn Memtable>) -> Self {
        MemSource { mem }
    }
}

impl Source for MemSource {
    fn cursor(
        &self,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        direction: Direction,
        at: SeqNo,
    ) -> Result<Box<dyn Cursor>> {
        Ok(Box::new(MemCursor {
            mem: self.mem.clone(),
            lower: lower.clone(),
            upper: upper.clone(),
            direction,
            at,
            buffer: VecDeque::new(),
            exhausted: false,
        }))
    }
}

/// Walks a memtable in chunks: each chunk resumes strictly after the last
/// key seen, so concurrent inserts never make a key appear twice.
struct MemCursor {
    mem: Arc<dyn Memtable>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    direction: Direction,
    at: SeqNo,
    buffer: VecDeque<Entry>,
    exhausted: bool,
}

fn as_ref(b: &Bound<Vec<u8>>) -> Bound<&[u8]> {
    match b {
        Bound::Included(k) => Bound::Included(k),
        Bound::Excluded(k) => Bound::Excluded(k),
        Bound::Unbounded => Bound::Unbounded,
    }
}

impl MemCursor {
    fn refill(&mut self) {
        let mut keys_seen = 0usize;
        let mut last_key: Option<Vec<u8>> = None;
        let at = self.at;
        let buffer = &mut self.buffer;
        self.mem.scan(
            as_ref(&self.lower),
            as_ref(&self.upper),
            self.direction,
            &mut |key, versions| {
                keys_seen += 1;
                if let Some(v) = versions.iter().find(|v| v.seqno <= at) {
                    buffer.push_back(Entry {
                        key: key.to_vec(),
                        seqno: v.seqno,
                        value: v.value.map(<[u8]>::to_vec),
                    });
                }
                if keys_seen == MEM_CHUNK_KEYS {
                    last_key = Some(key.to_vec());
                    ControlFlow::Break(())
                } else {
                    ControlFlow::Continue(())
                }
            },
        );
        match last_key {
            Some(k) => match self.direction {
                Direction::Forward => self.lower = Bound::Excluded(k),
                Direction::Reverse => self.upper = Bound::Excluded(k),
            },
            None => self.exhausted = true,
        }
    }
}

impl Cursor for MemCursor {
    fn next_entry(&mut self) -> Result<Option<Entry>> {
        while self.buffer.is_empty() && !self.exhausted {
            self.refill();
        }
        Ok(self.buffer.pop_front())
    }
}

/// Merges cursors of one direction.
pub(crate) struct Merge {
    cursors: Vec<Box<dyn Cursor>>,
    heads: Vec<Option<Entry>>,
    direction: Direction,
}

impl Merge {
    /// A merge over every source's cursor for `lower..upper` in
    /// `direction`, reading at `at`.
    pub(crate) fn open(
        sources: &[Arc<dyn Source>],
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        direction: Direction,
        at: SeqNo,
    ) -> Result<Merge> {
        let mut cursors = Vec::with_capacity(sources.len());
        for s in sources {
            cursors.push(s.cursor(lower, upper, direction, at)?);
        }
        Merge::new(cursors, direction)
    }

    fn new(mut cursors: Vec<Box<dyn Cursor>>, direction: Direction) -> Result<Merge> {
        let mut heads = Vec::with_capacity(cursors.len());
        for c in &mut cursors {
            heads.push(c.next_entry()?);
        }
        Ok(Merge {
            cursors,
            heads,
            direction,
        })
    }

    /// The next live (non-tombstone) key and value.
    pub(crate) fn next_live(&mut self) -> Result<Option<(Vec<u8>, Vec<u8>)>> {
        loop {
            let mut best: Option<usize> = None;
            for (i, head) in self.heads.iter().enumerate() {
                let Some(e) = head else { continue };
                best = match best {
                    None => Some(i),
                    Some(b) => {
                        let cur = self.heads[b].as_ref().expect("best has a head");
                        let ord = e.key.cmp(&cur.key);
                        let ahead = match self.direction {
                            Direction::Forward => ord.is_lt(),
                            Direction::Reverse => ord.is_gt(),
                        };
                        if ahead || (ord.is_eq() && e.seqno > cur.seqno) {
                            Some(i)
                        } else {
                            Some(b)
                        }
                    }
                };
            }
            let Some(b) = best else { return Ok(None) };
            let winner = self.heads[b].take().expect("best has a head");
            self.heads[b] = self.cursors[b].next_entry()?;
            // Every other source's version of this key is shadowed.
            for i in 0..self.heads.len() {
                if self.heads[i].as_ref().is_some_and(|e| e.key == winner.key) {
                    self.heads[i] = self.cursors[i].next_entry()?;
                }
            }
            if let Some(value) = winner.value {
                return Ok(Some((winner.key, value)));
            }
        }
    }
}

/// An ordered iterator over a key range, from either end. Items are
/// `Result`s: an I/O or corruption error ends the iteration.
pub struct DbIter {
    sources: Vec<Arc<dyn Source>>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    at: SeqNo,
    front: Option<Merge>,
    back: Option<Merge>,
    front_last: Option<Vec<u8>>,
    back_last: Option<Vec<u8>>,
    done: bool,
    /// The database's closed flag: once set, the next step returns
    /// `Error::Closed` (as snapshots do), and the iterator ends.
    closed: Option<Arc<AtomicBool>>,
}

impl fmt::Debug for DbIter {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DbIter")
            .field("sources", &self.sources.len())
            .field("at", &self.at)
            .field("done", &self.done)
            .finish()
    }
}

impl DbIter {
    pub(crate) fn new(
        sources: Vec<Arc<dyn Source>>,
        lower: Bound<Vec<u8>>,
        upper: Bound<Vec<u8>>,
        at: SeqNo,
    ) -> DbIter {
        DbIter {
            sources,
            lower,
            upper,
            at,
            front: None,
            back: None,
            front_last: None,
            back_last: None,
            done: false,
            closed: None,
        }
    }

    /// Ends the iteration with `Error::Closed` once `closed` is set.
    pub(crate) fn with_closed_flag(mut self, closed: Arc<AtomicBool>) -> DbIter {
        self.closed = Some(closed);
        self
    }

    /// The sequence number the iterator reads at.
    pub fn seqno(&self) -> SeqNo {
        self.at
    }

    fn open(&self, direction: Direction) -> Result<Merge> {
        Merge::open(&self.sources, &self.lower, &self.upper, direction, self.at)
    }

    fn step(&mut self, direction: Direction) -> Option<Result<(Vec<u8>, Vec<u8>)>> {
        if self.done {
            return None;
        }
        if self
            .closed
            .as_ref()
            .is_some_and(|c| c.load(AtomicOrdering::Acquire))
        {
            self.done = true;
            return Some(Err(crate::error::Error::Closed));
        }
        let slot_missing = match direction {
            Direction::Forward => self.front.is_none(),
            Direction::Reverse => self.back.is_none(),
        };
        if slot_missing {
            match self.open(direction) {
                Ok(m) => match direction {
                    Direction::Forward => self.front = Some(m),
                    Direction::Reverse => self.back = Some(m),
                },
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let merge = match direction {
            Direction::Forward => self.front.as_mut(),
            Direction::Reverse => self.back.as_mut(),
        }
        .expect("opened above");
        match merge.next_live() {
            Ok(Some((k, v))) => {
                let crossed = match direction {
                    Direction::Forward => self.back_last.as_ref().is_some_and(|b| k >= *b),
                    Direction::Reverse => self.front_last.as_ref().is_some_and(|f| k <= *f),
                };
                if crossed {
                    self.done = true;
                    return None;
                }
                match direction {
                    Direction::Forward => self.front_last = Some(k.clone()),
                    Direction::Reverse => self.back_last = Some(k.clone()),
                }
                Some(Ok((k, v)))
            }
            Ok(None) => {
                self.done = true;
                None
            }
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

impl Iterator for DbIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.step(Direction::Forward)
    }
}

impl DoubleEndedIterator for DbIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.step(Direction::Reverse)
    }
}

/// A run of tables with disjoint, ascending key ranges (a level >= 1, or a
/// single level-0 table) as a source. Tables are opened lazily.
#[derive(Debug)]
pub(crate) struct LevelSource {
    files: Vec<Arc<FileMeta>>,
    tables: Arc<TableCache>,
    /// Keeps the version alive, so its files are not deleted while the
    /// iterator may still read them.
    _pin: Arc<VersionPin>,
}

/// A reader's hold on a version, shared by the sources of one iterator.
/// When it goes, `release` gets the version (to see whether this was the
/// last hold, and if so to have the tables only it kept deleted).
pub(crate) struct VersionPin {
    version: Option<Arc<Version>>,
    release: Option<Box<dyn FnOnce(Arc<Version>) + Send + Sync>>,
}

impl VersionPin {
    pub fn new(
        version: Arc<Version>,
        release: impl FnOnce(Arc<Version>) + Send + Sync + 'static,
    ) -> VersionPin {
        VersionPin {
            version: Some(version),
            release: Some(Box::new(release)),
        }
    }
}

impl fmt::Debug for VersionPin {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VersionPin")
            .field("version", &self.version)
            .finish_non_exhaustive()
    }
}

impl Drop for VersionPin {
    fn drop(&mut self) {
        if let (Some(v), Some(release)) = (self.version.take(), self.release.take()) {
            release(v);
        }
    }
}

impl LevelSource {
    pub fn new(files: Vec<Arc<FileMeta>>, tables: Arc<TableCache>, pin: Arc<VersionPin>) -> Self {
        LevelSource {
            files,
            tables,
            _pin: pin,
        }
    }
}

fn below_lower(key: &[u8], lower: &Bound<Vec<u8>>) -> bool {
    match lower {
        Bound::Included(l) => key < l.as_slice(),
        Bound::Excluded(l) => key <= l.as_slice(),
        Bound::Unbounded => false,
    }
}

fn above_upper(key: &[u8], upper: &Bound<Vec<u8>>) -> bool {
    match upper {
        Bound::Included(u) => key > u.as_slice(),
        Bound::Excluded(u) => key >= u.as_slice(),
        Bound::Unbounded => false,
    }
}

impl Source for LevelSource {
    fn cursor(
        &self,
        lower: &Bound<Vec<u8>>,
        upper: &Bound<Vec<u8>>,
        direction: Direction,
        at: SeqNo,
    ) -> Result<Box<dyn Cursor>> {
        // Only the files that can hold keys within the bounds, in walk order.
        let mut files: Vec<Arc<FileMeta>> = self
            .files
            .iter()
            .filter(|f| !above_upper(&f.smallest_key, upper) && !below_lower(&f.largest_key, lower))
            .cloned()
            .collect();
        if direction == Direction::Reverse {
            files.reverse();
        }
        Ok(Box::new(LevelCursor {
            files: files.into(),
            tables: self.tables.clone(),
            current: None,
            lower: lower.clone(),
            upper: upper.clone(),
            direction,
            at,
        }))
    }
}

struct LevelCursor {
    files: VecDeque<Arc<FileMeta>>,
    tables: Arc<TableCache>,
    current: Option<TableIter>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    direction: Direction,
    at: SeqNo,
}

impl LevelCursor {
    /// Positions a fresh table iterator at the first key within bounds.
    fn start(&self, it: &mut TableIter) -> Result<()> {
        match self.direction {
            Direction::Forward => match &self.lower {
                Bound::Unbounded => it.seek_to_first(),
                Bound::Included(k) | Bound::Excluded(k) => it.seek(k),
            },
            Direction::Reverse => match &self.upper {
                Bound::Unbounded => it.seek_to_last(),
                Bound::Included(k) | Bound::Excluded(k) => it.seek_for_prev(k),
            },
        }
    }

    /// The newest visible version of the key under `it`, leaving `it` on the
    /// next key in walk order. `None` if no version is visible.
    fn take_key(&self, it: &mut TableIter) -> Result<Option<Entry>> {
        let key = it.user_key().to_vec();
        let mut found: Option<Entry> = None;
        while it.valid() && it.user_key() == key.as_slice() {
            let s = it.seqno();
            match self.direction {
                // Newest first: the first visible one wins.
                Direction::Forward => {
                    if found.is_none() && s <= self.at {
                        found = Some(Entry {
                            key: key.clone(),
                            seqno: s,
                            value: it.value().map(<[u8]>::to_vec),
                        });
                    }
                    it.next()?;
                }
                // Oldest first: the last visible one wins.
                Direction::Reverse => {
                    if s <= self.at {
                        found = Some(Entry {
                            key: key.clone(),
                            seqno: s,
                            value: it.value().map(<[u8]>::to_vec),
                        });
                    }
                    it.prev()?;
                }
            }
        }
        Ok(found)
    }
}

impl Cursor for LevelCursor {
    fn next_entry(&mut self) -> Result<Option<Entry>> {
        loop {
            if self.current.is_none() {
                let Some(file) = self.files.pop_front() else {
                    return Ok(None);
                };
                let table = self.tables.get(file.number)?;
                let mut it = table.iter();
                self.start(&mut it)?;
                self.current = Some(it);
            }
            let mut it = self.current.take().expect("set above");
            if !it.valid() {
                continue; // this file is done; move to the next
            }
            let key = it.user_key();
            let outside = match self.direction {
                Direction::Forward => above_upper(key, &self.upper),
                Direction::Reverse => below_lower(key, &self.lower),
            };
            if outside {
                self.files.clear();
                return Ok(None);
            }
            let skip = match self.direction {
                Direction::Forward => below_lower(key, &self.lower),
                Direction::Reverse => above_upper(key, &self.upper),
            };
            let entry = self.take_key(&mut it)?;
            self.current = Some(it);
            if skip {
                continue;
            }
            if let Some(e) = entry {
                return Ok(Some(e));
            }
        }
    }
}
