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

/// One key's newest visible version in one source. Entries are filled in
/// place, so their buffers are reused from one key to the next: a walk
/// allocates per chunk or block, not per key.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Entry {
    pub key: Vec<u8>,
    pub seqno: SeqNo,
    /// Empty for a tombstone, and when the walk reads keys only.
    pub value: Vec<u8>,
    pub tombstone: bool,
}

impl Entry {
    /// Overwrites the entry, reusing its buffers. The value is copied only
    /// when `values` is set (a keys-only walk never copies one).
    fn fill(&mut self, key: &[u8], seqno: SeqNo, value: Option<&[u8]>, values: bool) {
        self.key.clear();
        self.key.extend_from_slice(key);
        self.set_version(seqno, value, values);
    }

    /// Overwrites the version, keeping the key.
    fn set_version(&mut self, seqno: SeqNo, value: Option<&[u8]>, values: bool) {
        self.seqno = seqno;
        self.value.clear();
        self.tombstone = value.is_none();
        if let (Some(v), true) = (value, values) {
            self.value.extend_from_slice(v);
        }
    }
}

/// What a walk copies out of its sources.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Shape {
    /// Keys and values.
    KeysValues,
    /// Keys only: values stay where they are.
    KeysOnly,
}

impl Shape {
    fn values(self) -> bool {
        self == Shape::KeysValues
    }
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
        shape: Shape,
    ) -> Result<Box<dyn Cursor>>;
}

/// A one-directional walk over a source.
pub(crate) trait Cursor: Send {
    /// Fills `out` with the next entry (reusing its buffers); `false` at
    /// the end (what `out` then holds means nothing).
    fn next_into(&mut self, out: &mut Entry) -> Result<bool>;
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
        shape: Shape,
    ) -> Result<Box<dyn Cursor>> {
        Ok(Box::new(MemCursor {
            mem: self.mem.clone(),
            lower: lower.clone(),
            upper: upper.clone(),
            direction,
            at,
            shape,
            buffer: VecDeque::new(),
            spare: Vec::new(),
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
    shape: Shape,
    buffer: VecDeque<Entry>,
    /// Entries handed back by `next_into`, refilled by the next chunk.
    spare: Vec<Entry>,
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
        let values = self.shape.values();
        let buffer = &mut self.buffer;
        let spare = &mut self.spare;
        self.mem.scan(
            as_ref(&self.lower),
            as_ref(&self.upper),
            self.direction,
            &mut |key, versions| {
                keys_seen += 1;
                if let Some(v) = versions.iter().find(|v| v.seqno <= at) {
                    let mut e = spare.pop().unwrap_or_default();
                    e.fill(key, v.seqno, v.value, values);
                    buffer.push_back(e);
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
    fn next_into(&mut self, out: &mut Entry) -> Result<bool> {
        while self.buffer.is_empty() && !self.exhausted {
            self.refill();
        }
        match self.buffer.pop_front() {
            Some(mut e) => {
                std::mem::swap(out, &mut e);
                self.spare.push(e);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}

/// Merges cursors of one direction.
pub(crate) struct Merge {
    cursors: Vec<Box<dyn Cursor>>,
    /// Each cursor's next entry, when `live[i]`.
    heads: Vec<Entry>,
    live: Vec<bool>,
    /// The entry `next_live` last returned (its buffers are swapped with a
    /// head's, so nothing is allocated per key).
    current: Entry,
    /// Whether `current` holds a live entry.
    on_entry: bool,
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
        shape: Shape,
    ) -> Result<Merge> {
        let mut cursors = Vec::with_capacity(sources.len());
        for s in sources {
            cursors.push(s.cursor(lower, upper, direction, at, shape)?);
        }
        let mut heads = Vec::with_capacity(cursors.len());
        let mut live = Vec::with_capacity(cursors.len());
        for c in &mut cursors {
            let mut head = Entry::default();
            live.push(c.next_into(&mut head)?);
            heads.push(head);
        }
        Ok(Merge {
            cursors,
            heads,
            live,
            current: Entry::default(),
            on_entry: false,
            direction,
        })
    }

    /// Moves to the next live (non-tombstone) key: `Some((key, value))`
    /// borrowed from the merge until its next move, `None` at the end.
    pub(crate) fn next_live(&mut self) -> Result<Option<(&[u8], &[u8])>> {
        self.on_entry = false;
        loop {
            let mut best: Option<usize> = None;
            for (i, e) in self.heads.iter().enumerate() {
                if !self.live[i] {
                    continue;
                }
                best = match best {
                    None => Some(i),
                    Some(b) => {
                        let cur = &self.heads[b];
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
            std::mem::swap(&mut self.current, &mut self.heads[b]);
            self.live[b] = self.cursors[b].next_into(&mut self.heads[b])?;
            // Every other source's version of this key is shadowed.
            for i in 0..self.heads.len() {
                if self.live[i] && self.heads[i].key == self.current.key {
                    self.live[i] = self.cursors[i].next_into(&mut self.heads[i])?;
                }
            }
            if !self.current.tombstone {
                self.on_entry = true;
                return Ok(Some((&self.current.key, &self.current.value)));
            }
        }
    }

    /// The entry the last `next_live` returned, if it returned one.
    pub(crate) fn current(&self) -> Option<(&[u8], &[u8])> {
        self.on_entry
            .then_some((self.current.key.as_slice(), self.current.value.as_slice()))
    }
}

/// An ordered iterator over a key range, from either end. Items are
/// `Result`s: an I/O or corruption error ends the iteration.
pub struct DbIter {
    sources: Vec<Arc<dyn Source>>,
    lower: Bound<Vec<u8>>,
    upper: Bound<Vec<u8>>,
    at: SeqNo,
    shape: Shape,
    front: Option<Merge>,
    back: Option<Merge>,
    /// The last key each end returned (buffers reused; meaningful once that
    /// end's merge is open and has returned a key).
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

/// Sets `slot` to `key`, reusing its buffer.
fn remember(slot: &mut Option<Vec<u8>>, key: &[u8]) {
    let buf = slot.get_or_insert_with(Vec::new);
    buf.clear();
    buf.extend_from_slice(key);
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
            shape: Shape::KeysValues,
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

    /// The same walk, yielding keys only: values are never copied out of
    /// the memtables or table blocks.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// db.put(b"a", &[7; 4096], strata::WriteOptions::BUFFERED)?;
    /// db.put(b"b", &[8; 4096], strata::WriteOptions::BUFFERED)?;
    /// let keys: Vec<Vec<u8>> = db.range::<&[u8], _>(..)?.keys_only().collect::<Result<_, _>>()?;
    /// assert_eq!(keys, [b"a".to_vec(), b"b".to_vec()]);
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn keys_only(mut self) -> KeyIter {
        self.shape = Shape::KeysOnly;
        KeyIter { inner: self }
    }

    /// The next entry from the front, borrowed until the iterator's next
    /// move: a loop over `next_ref` copies nothing and allocates nothing
    /// per entry once its buffers have grown. `Iterator::next` is this plus
    /// a copy of the key and value.
    ///
    /// ```
    /// # let dir = tempfile::tempdir().unwrap();
    /// let db = strata::Db::open(dir.path(), strata::Options::default())?;
    /// for i in 0..100u32 {
    ///     db.put(&i.to_be_bytes(), &[1; 64], strata::WriteOptions::BUFFERED)?;
    /// }
    /// let mut it = db.range::<&[u8], _>(..)?;
    /// let mut total = 0;
    /// let mut longest = Vec::new(); // the caller's buffer, reused
    /// while let Some(item) = it.next_ref() {
    ///     let (_key, value) = item?;
    ///     total += value.len();
    ///     if value.len() > longest.len() {
    ///         longest.clear();
    ///         longest.extend_from_slice(value);
    ///     }
    /// }
    /// assert_eq!((total, longest.len()), (6400, 64));
    /// # Ok::<(), strata::Error>(())
    /// ```
    pub fn next_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        self.step(Direction::Forward)
    }

    /// The next entry from the back, borrowed (see [`DbIter::next_ref`]).
    pub fn next_back_ref(&mut self) -> Option<Result<(&[u8], &[u8])>> {
        self.step(Direction::Reverse)
    }

    fn step(&mut self, direction: Direction) -> Option<Result<(&[u8], &[u8])>> {
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
        let (slot, last, other_last) = match direction {
            Direction::Forward => (&mut self.front, &mut self.front_last, &self.back_last),
            Direction::Reverse => (&mut self.back, &mut self.back_last, &self.front_last),
        };
        if slot.is_none() {
            match Merge::open(
                &self.sources,
                &self.lower,
                &self.upper,
                direction,
                self.at,
                self.shape,
            ) {
                Ok(m) => *slot = Some(m),
                Err(e) => {
                    self.done = true;
                    return Some(Err(e));
                }
            }
        }
        let merge = slot.as_mut().expect("opened above");
        match merge.next_live() {
            Ok(Some((k, v))) => {
                let crossed = match direction {
                    Direction::Forward => other_last.as_deref().is_some_and(|b| k >= b),
                    Direction::Reverse => other_last.as_deref().is_some_and(|f| k <= f),
                };
                if crossed {
                    self.done = true;
                    return None;
                }
                remember(last, k);
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

fn owned(item: Result<(&[u8], &[u8])>) -> Result<(Vec<u8>, Vec<u8>)> {
    item.map(|(k, v)| (k.to_vec(), v.to_vec()))
}

impl Iterator for DbIter {
    type Item = Result<(Vec<u8>, Vec<u8>)>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref().map(owned)
    }
}

impl DoubleEndedIterator for DbIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.next_back_ref().map(owned)
    }
}

/// An ordered iterator over the keys of a range, from either end (made by
/// [`DbIter::keys_only`]): values are never copied out of the memtables or
/// table blocks.
#[derive(Debug)]
pub struct KeyIter {
    inner: DbIter,
}

impl KeyIter {
    /// The sequence number the iterator reads at.
    pub fn seqno(&self) -> SeqNo {
        self.inner.at
    }

    /// The next key from the front, borrowed until the next move.
    pub fn next_ref(&mut self) -> Option<Result<&[u8]>> {
        self.inner.next_ref().map(|r| r.map(|(k, _)| k))
    }

    /// The next key from the back, borrowed until the next move.
    pub fn next_back_ref(&mut self) -> Option<Result<&[u8]>> {
        self.inner.next_back_ref().map(|r| r.map(|(k, _)| k))
    }
}

impl Iterator for KeyIter {
    type Item = Result<Vec<u8>>;

    fn next(&mut self) -> Option<Self::Item> {
        self.next_ref().map(|r| r.map(<[u8]>::to_vec))
    }
}

impl DoubleEndedIterator for KeyIter {
    fn next_back(&mut self) -> Option<Self::Item> {
        self.next_back_ref().map(|r| r.map(<[u8]>::to_vec))
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
        shape: Shape,
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
            shape,
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
    shape: Shape,
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

    /// Fills `out` with the newest visible version of the key under `it`,
    /// leaving `it` on the next key in walk order. `false` (and `out`'s
    /// version unspecified) if no version is visible.
    fn take_key(&self, it: &mut TableIter, out: &mut Entry) -> Result<bool> {
        let values = self.shape.values();
        out.key.clear();
        out.key.extend_from_slice(it.user_key());
        let mut found = false;
        while it.valid() && it.user_key() == out.key.as_slice() {
            let s = it.seqno();
            match self.direction {
                // Newest first: the first visible one wins.
                Direction::Forward => {
                    if !found && s <= self.at {
                        out.set_version(s, it.value(), values);
                        found = true;
                    }
                    it.next()?;
                }
                // Oldest first: the last visible one wins.
                Direction::Reverse => {
                    if s <= self.at {
                        out.set_version(s, it.value(), values);
                        found = true;
                    }
                    it.prev()?;
                }
            }
        }
        Ok(found)
    }
}

impl Cursor for LevelCursor {
    fn next_into(&mut self, out: &mut Entry) -> Result<bool> {
        loop {
            if self.current.is_none() {
                let Some(file) = self.files.pop_front() else {
                    return Ok(false);
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
                return Ok(false);
            }
            let skip = match self.direction {
                Direction::Forward => below_lower(key, &self.lower),
                Direction::Reverse => above_upper(key, &self.upper),
            };
            let found = self.take_key(&mut it, out)?;
            self.current = Some(it);
            if found && !skip {
                return Ok(true);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::memtable::BTreeMemtable;

    fn walk(shape: Shape) -> Vec<(Vec<u8>, Vec<u8>)> {
        let mem = BTreeMemtable::new();
        for (i, k) in [b"a", b"b", b"c"].iter().enumerate() {
            mem.insert(*k, i as SeqNo + 1, Some(&[7; 100]));
        }
        mem.insert(b"b", 4, None);
        let sources: Vec<Arc<dyn Source>> = vec![Arc::new(MemSource::new(Arc::new(mem)))];
        let mut m = Merge::open(
            &sources,
            &Bound::Unbounded,
            &Bound::Unbounded,
            Direction::Forward,
            SeqNo::MAX,
            shape,
        )
        .unwrap();
        let mut out = Vec::new();
        while let Some((k, v)) = m.next_live().unwrap() {
            out.push((k.to_vec(), v.to_vec()));
        }
        out
    }

    #[test]
    fn a_keys_only_merge_copies_no_value() {
        let full = walk(Shape::KeysValues);
        assert_eq!(full.len(), 2);
        assert!(full.iter().all(|(_, v)| v == &[7; 100]));
        let keys = walk(Shape::KeysOnly);
        let want: Vec<(Vec<u8>, Vec<u8>)> = vec![(b"a".to_vec(), vec![]), (b"c".to_vec(), vec![])];
        assert_eq!(
            keys, want,
            "a keys-only walk skips tombstones and copies no value"
        );
    }
}
