//! Versions: which table files are live, and at which level.
//!
//! Pure data, no I/O. A [`Version`] is immutable once built; the engine moves
//! from one to the next by applying a [`VersionEdit`] (the same edits the
//! manifest logs), so replaying the manifest rebuilds exactly the version the
//! engine last made durable.
//!
//! Invariants (checked by [`Version::check`], which [`Version::apply`] runs on
//! every result):
//! - there are exactly [`LEVELS`] levels;
//! - a file number appears at most once in the whole version;
//! - every file has `smallest_key <= largest_key` and `seqno_min <= seqno_max`;
//!   both keys are *user* keys and the range is inclusive;
//! - level 0 files may overlap each other and are ordered newest first: by
//!   `seqno_max` descending, ties broken by file number descending;
//! - each level >= 1 is sorted by key and its files do not overlap, not even
//!   at a boundary key: `files[i].largest_key < files[i + 1].smallest_key`.
//!   (So all versions of one user key sit in one file of a level; whoever
//!   writes tables for level >= 1 must not split a user key across files.)
//! - for any user key, the versions held at a lower-numbered level are newer
//!   than those held at a higher-numbered one. This last one is a property of
//!   how compactions are chosen (see `compaction::strategy`), not of a single
//!   version, and `check` cannot see it.

use crate::sync::Arc;
use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::ops::Bound;

use crate::error::{Error, Result};
use crate::types::SeqNo;

/// Number of levels, L0 to L6.
pub const LEVELS: usize = 7;

/// What the engine knows about one table file without opening it.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct FileMeta {
    /// The file number (`table-NNNNNN.sst`), unique across the database.
    pub number: u64,
    /// Size of the file in bytes.
    pub file_bytes: u64,
    /// Smallest user key in the file (inclusive).
    pub smallest_key: Vec<u8>,
    /// Largest user key in the file (inclusive).
    pub largest_key: Vec<u8>,
    /// Smallest sequence number of any entry.
    pub seqno_min: SeqNo,
    /// Largest sequence number of any entry.
    pub seqno_max: SeqNo,
    /// Number of entries (versions, tombstones included).
    pub entries: u64,
}

impl FileMeta {
    /// True if the file's key range intersects `[lo, hi]` (inclusive).
    pub fn overlaps(&self, lo: &[u8], hi: &[u8]) -> bool {
        self.smallest_key.as_slice() <= hi && lo <= self.largest_key.as_slice()
    }

    /// True if `key` lies in the file's key range.
    pub fn covers(&self, key: &[u8]) -> bool {
        self.overlaps(key, key)
    }
}

/// A change from one version to the next, as logged in the manifest.
///
/// Removals are applied before additions, so moving a file between levels is
/// `removed: [(from, n)], added: [(to, meta_n)]` in one edit.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct VersionEdit {
    /// Files added, with their level.
    pub added: Vec<(usize, FileMeta)>,
    /// Files removed: `(level, file number)`.
    pub removed: Vec<(usize, u64)>,
    /// WAL segments numbered below this are fully flushed and may be deleted.
    pub log_number: Option<u64>,
    /// The next unused file number.
    pub next_file_number: Option<u64>,
    /// The largest sequence number whose data is in the tables or in WAL
    /// segments numbered `>= log_number`.
    pub last_seqno: Option<SeqNo>,
}

/// The set of live table files, by level. Cheap to clone (files are shared).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Version {
    /// `levels[0]` newest first; `levels[n >= 1]` sorted by key, disjoint.
    pub levels: Vec<Vec<Arc<FileMeta>>>,
}

impl Default for Version {
    fn default() -> Self {
        Version::new()
    }
}

fn invalid(msg: String) -> Error {
    Error::InvalidArgument(msg)
}

impl Version {
    /// The empty version: [`LEVELS`] empty levels.
    pub fn new() -> Version {
        Version {
            levels: vec![Vec::new(); LEVELS],
        }
    }

    /// The files of `level` (empty past the last level).
    pub fn files(&self, level: usize) -> &[Arc<FileMeta>] {
        self.levels.get(level).map(Vec::as_slice).unwrap_or(&[])
    }

    /// Total number of live files.
    pub fn file_count(&self) -> usize {
        self.levels.iter().map(Vec::len).sum()
    }

    /// Applies an edit, returning the new version; `self` is unchanged.
    ///
    /// Errors (all [`Error::InvalidArgument`]; manifest recovery reports them
    /// as corruption of the manifest record): a level out of range, removing
    /// a file that is not at that level or removing it twice, adding a file
    /// number that is live after the removals or adding it twice, a file with
    /// an inverted key or seqno range, and an overlap at a level >= 1.
    pub fn apply(&self, edit: &VersionEdit) -> Result<Version> {
        let mut levels = self.levels.clone();
        let mut removed = BTreeSet::new();
        for &(level, number) in &edit.removed {
            if level >= LEVELS {
                return Err(invalid(format!(
                    "removal of file {number} names level {level} (levels are 0..{LEVELS})"
                )));
            }
            if !removed.insert(number) {
                return Err(invalid(format!("file {number} removed twice in one edit")));
            }
            let files = &mut levels[level];
            match files.iter().position(|f| f.number == number) {
                Some(i) => {
                    files.remove(i);
                }
                None => {
                    return Err(invalid(format!(
                        "removal of file {number} from level {level}, where it is not live"
                    )))
                }
            }
        }
        let mut live: BTreeSet<u64> = levels.iter().flatten().map(|f| f.number).collect();
        for (level, meta) in &edit.added {
            let level = *level;
            if level >= LEVELS {
                return Err(invalid(format!(
                    "file {} added at level {level} (levels are 0..{LEVELS})",
                    meta.number
                )));
            }
            if !live.insert(meta.number) {
                return Err(invalid(format!(
                    "file {} added but that number is already live",
                    meta.number
                )));
            }
            check_file(meta)?;
            levels[level].push(Arc::new(meta.clone()));
        }
        sort_level0(&mut levels[0]);
        for files in levels.iter_mut().skip(1) {
            files.sort_by(|a, b| a.smallest_key.cmp(&b.smallest_key));
        }
        let version = Version { levels };
        version.check()?;
        Ok(version)
    }

    /// Files at `level` whose key range intersects `[lo, hi]` (inclusive), in
    /// the level's order. Empty if `lo > hi` or the level does not exist.
    pub fn files_overlapping(&self, level: usize, lo: &[u8], hi: &[u8]) -> Vec<Arc<FileMeta>> {
        if lo > hi {
            return Vec::new();
        }
        let files = self.files(level);
        if level == 0 {
            return files
                .iter()
                .filter(|f| f.overlaps(lo, hi))
                .cloned()
                .collect();
        }
        // Sorted and disjoint: the first candidate is the first file whose
        // largest key is >= lo; candidates continue while smallest <= hi.
        let start = files.partition_point(|f| f.largest_key.as_slice() < lo);
        files[start..]
            .iter()
            .take_while(|f| f.smallest_key.as_slice() <= hi)
            .cloned()
            .collect()
    }

    /// Sum of the file sizes at `level`.
    pub fn level_bytes(&self, level: usize) -> u64 {
        self.files(level)
            .iter()
            .fold(0u64, |sum, f| sum.saturating_add(f.file_bytes))
    }

    /// Numbers of every live table file.
    pub fn live_file_numbers(&self) -> BTreeSet<u64> {
        self.levels.iter().flatten().map(|f| f.number).collect()
    }

    /// True if some file at `level` intersects `[lo, hi]`; no allocation.
    pub fn level_overlaps(&self, level: usize, lo: &[u8], hi: &[u8]) -> bool {
        if lo > hi {
            return false;
        }
        let files = self.files(level);
        if level == 0 {
            return files.iter().any(|f| f.overlaps(lo, hi));
        }
        let start = files.partition_point(|f| f.largest_key.as_slice() < lo);
        files
            .get(start)
            .is_some_and(|f| f.smallest_key.as_slice() <= hi)
    }

    /// True if some file at a level deeper than `level` has `user_key` in its
    /// key range: a tombstone for `user_key` compacted into `level` must then
    /// be kept, since it may hide an older version down there. Called per
    /// key during compactions, so it does not allocate: `O(levels * log files)`.
    pub fn key_may_exist_below(&self, level: usize, user_key: &[u8]) -> bool {
        self.range_may_exist_below(level, user_key, user_key)
    }

    /// True if some file at a level deeper than `level` intersects `[lo, hi]`.
    pub fn range_may_exist_below(&self, level: usize, lo: &[u8], hi: &[u8]) -> bool {
        (level + 1..LEVELS).any(|l| self.level_overlaps(l, lo, hi))
    }

    /// An edit that rebuilds this version from the empty one (the first
    /// record of a new manifest). The caller fills in the scalar fields.
    pub fn snapshot_edit(&self) -> VersionEdit {
        let mut edit = VersionEdit::default();
        for (level, files) in self.levels.iter().enumerate() {
            for f in files {
                edit.added.push((level, FileMeta::clone(f)));
            }
        }
        edit
    }

    /// Walks every invariant listed in the module documentation.
    pub fn check(&self) -> Result<()> {
        if self.levels.len() != LEVELS {
            return Err(invalid(format!(
                "version has {} levels, expected {LEVELS}",
                self.levels.len()
            )));
        }
        let mut seen = BTreeSet::new();
        for (level, files) in self.levels.iter().enumerate() {
            for f in files {
                check_file(f)?;
                if !seen.insert(f.number) {
                    return Err(invalid(format!("file {} is live twice", f.number)));
                }
            }
            for pair in files.windows(2) {
                let (a, b) = (&pair[0], &pair[1]);
                if level == 0 {
                    if (a.seqno_max, a.number) <= (b.seqno_max, b.number) {
                        return Err(invalid(format!(
                            "level 0 files {} and {} are not newest first",
                            a.number, b.number
                        )));
                    }
                } else if a.largest_key >= b.smallest_key {
                    return Err(invalid(format!(
                        "level {level} files {} and {} overlap or are out of order",
                        a.number, b.number
                    )));
                }
            }
        }
        Ok(())
    }
}

/// Applies a long run of edits in `O(log n)` per file touched, for manifest
/// replay ([`Version::apply`] rebuilds the whole version, `O(n log n)` per
/// edit, which is fine once per flush or compaction but quadratic over a
/// manifest of many edits).
///
/// It accepts and rejects exactly the edits [`Version::apply`] would, with
/// the same checks done incrementally. After an error the builder is
/// partially updated and must be discarded.
#[derive(Debug, Default)]
pub struct VersionBuilder {
    /// Every live file: number -> (level, meta).
    by_number: HashMap<u64, (usize, Arc<FileMeta>)>,
    /// Level 0 keyed by (seqno_max, number): newest is the last entry.
    level0: BTreeMap<(SeqNo, u64), Arc<FileMeta>>,
    /// Levels >= 1 keyed by smallest key (unique, since they are disjoint).
    sorted: Vec<BTreeMap<Vec<u8>, Arc<FileMeta>>>,
}

impl VersionBuilder {
    /// A builder holding the empty version.
    pub fn new() -> VersionBuilder {
        VersionBuilder {
            by_number: HashMap::new(),
            level0: BTreeMap::new(),
            sorted: vec![BTreeMap::new(); LEVELS - 1],
        }
    }

    /// A builder holding `base`.
    pub fn from_version(base: &Version) -> VersionBuilder {
        let mut b = VersionBuilder::new();
        for (level, files) in base.levels.iter().enumerate() {
            for f in files {
                b.insert(level, Arc::clone(f));
            }
        }
        b
    }

    fn insert(&mut self, level: usize, f: Arc<FileMeta>) {
        self.by_number.insert(f.number, (level, Arc::clone(&f)));
        if level == 0 {
            self.level0.insert((f.seqno_max, f.number), f);
        } else {
            self.sorted[level - 1].insert(f.smallest_key.clone(), f);
        }
    }

    /// Applies one edit (removals first, then additions).
    pub fn apply(&mut self, edit: &VersionEdit) -> Result<()> {
        for &(level, number) in &edit.removed {
            if level >= LEVELS {
                return Err(invalid(format!(
                    "removal of file {number} names level {level} (levels are 0..{LEVELS})"
                )));
            }
            match self.by_number.get(&number) {
                Some((at, _)) if *at == level => {}
                _ => {
                    return Err(invalid(format!(
                        "removal of file {number} from level {level}, where it is not live"
                    )))
                }
            }
            let (_, f) = self.by_number.remove(&number).expect("checked above");
            if level == 0 {
                self.level0.remove(&(f.seqno_max, f.number));
            } else {
                self.sorted[level - 1].remove(&f.smallest_key);
            }
        }
        for (level, meta) in &edit.added {
            let level = *level;
            if level >= LEVELS {
                return Err(invalid(format!(
                    "file {} added at level {level} (levels are 0..{LEVELS})",
                    meta.number
                )));
            }
            if self.by_number.contains_key(&meta.number) {
                return Err(invalid(format!(
                    "file {} added but that number is already live",
                    meta.number
                )));
            }
            check_file(meta)?;
            if level >= 1 {
                let files = &self.sorted[level - 1];
                let below = files.range(..=meta.smallest_key.clone()).next_back();
                let above = files
                    .range((Bound::Excluded(meta.smallest_key.clone()), Bound::Unbounded))
                    .next();
                let clash = below.filter(|(_, g)| g.largest_key >= meta.smallest_key);
                let clash = clash.or(above.filter(|(_, g)| g.smallest_key <= meta.largest_key));
                if let Some((_, g)) = clash {
                    return Err(invalid(format!(
                        "level {level} files {} and {} overlap",
                        g.number, meta.number
                    )));
                }
            }
            self.insert(level, Arc::new(meta.clone()));
        }
        Ok(())
    }

    /// The version built so far.
    pub fn build(&self) -> Version {
        let mut levels = Vec::with_capacity(LEVELS);
        levels.push(self.level0.values().rev().cloned().collect());
        for files in &self.sorted {
            levels.push(files.values().cloned().collect());
        }
        let v = Version { levels };
        debug_assert!(v.check().is_ok(), "builder produced {:?}", v.check());
        v
    }

    /// Numbers of every live file.
    pub fn live_file_numbers(&self) -> BTreeSet<u64> {
        self.by_number.keys().copied().collect()
    }
}

fn check_file(f: &FileMeta) -> Result<()> {
    if f.smallest_key > f.largest_key {
        return Err(invalid(format!(
            "file {} has smallest key > largest key",
            f.number
        )));
    }
    if f.seqno_min > f.seqno_max {
        return Err(invalid(format!(
            "file {} has seqno_min {} > seqno_max {}",
            f.number, f.seqno_min, f.seqno_max
        )));
    }
    Ok(())
}

fn sort_level0(files: &mut [Arc<FileMeta>]) {
    files.sort_by_key(|f| std::cmp::Reverse((f.seqno_max, f.number)));
}

#[cfg(test)]
mod tests {
    use super::*;

    pub(crate) fn meta(number: u64, lo: &str, hi: &str, seq: (u64, u64), bytes: u64) -> FileMeta {
        FileMeta {
            number,
            file_bytes: bytes,
            smallest_key: lo.as_bytes().to_vec(),
            largest_key: hi.as_bytes().to_vec(),
            seqno_min: seq.0,
            seqno_max: seq.1,
            entries: 1,
        }
    }

    fn add(level: usize, m: FileMeta) -> VersionEdit {
        VersionEdit {
            added: vec![(level, m)],
            ..VersionEdit::default()
        }
    }

    #[test]
    fn level0_is_newest_first_and_levels_are_sorted() {
        let v = Version::new()
            .apply(&VersionEdit {
                added: vec![
                    (0, meta(1, "a", "z", (1, 10), 5)),
                    (0, meta(3, "a", "m", (11, 20), 5)),
                    (0, meta(2, "c", "d", (11, 20), 5)),
                    (1, meta(5, "p", "q", (1, 1), 7)),
                    (1, meta(4, "a", "b", (1, 1), 7)),
                ],
                ..VersionEdit::default()
            })
            .unwrap();
        let l0: Vec<u64> = v.files(0).iter().map(|f| f.number).collect();
        assert_eq!(l0, vec![3, 2, 1]);
        let l1: Vec<u64> = v.files(1).iter().map(|f| f.number).collect();
        assert_eq!(l1, vec![4, 5]);
        assert_eq!(v.level_bytes(0), 15);
        assert_eq!(v.level_bytes(1), 14);
        assert_eq!(v.file_count(), 5);
        assert_eq!(Version::new().file_count(), 0);
        assert_eq!(
            v.live_file_numbers().into_iter().collect::<Vec<_>>(),
            vec![1, 2, 3, 4, 5]
        );
        v.check().unwrap();
    }

    #[test]
    fn apply_rejects_bad_edits_and_leaves_the_base_alone() {
        let v = Version::new()
            .apply(&add(1, meta(7, "b", "d", (1, 2), 1)))
            .unwrap();
        // duplicate number, even at another level
        assert!(v.apply(&add(2, meta(7, "x", "y", (1, 2), 1))).is_err());
        // overlap at L1, including a shared boundary key
        assert!(v.apply(&add(1, meta(8, "d", "e", (1, 2), 1))).is_err());
        assert!(v.apply(&add(1, meta(8, "a", "b", (1, 2), 1))).is_err());
        // ... but overlap at L0 is fine
        assert!(v.apply(&add(0, meta(8, "a", "z", (1, 2), 1))).is_ok());
        // removing a missing file, or one at the wrong level
        let rm = |level, n| VersionEdit {
            removed: vec![(level, n)],
            ..VersionEdit::default()
        };
        assert!(v.apply(&rm(1, 9)).is_err());
        assert!(v.apply(&rm(2, 7)).is_err());
        assert!(v.apply(&rm(LEVELS, 7)).is_err());
        // removing twice
        let mut twice = rm(1, 7);
        twice.removed.push((1, 7));
        assert!(v.apply(&twice).is_err());
        // inverted ranges
        assert!(v.apply(&add(3, meta(9, "z", "a", (1, 2), 1))).is_err());
        assert!(v.apply(&add(3, meta(9, "a", "z", (3, 2), 1))).is_err());
        assert!(v.apply(&add(LEVELS, meta(9, "a", "z", (1, 2), 1))).is_err());
        // a move between levels in one edit is fine
        let mv = VersionEdit {
            removed: vec![(1, 7)],
            added: vec![(2, meta(7, "b", "d", (1, 2), 1))],
            ..VersionEdit::default()
        };
        let moved = v.apply(&mv).unwrap();
        assert!(moved.files(1).is_empty());
        assert_eq!(moved.files(2)[0].number, 7);
        // the base is untouched
        assert_eq!(v.files(1)[0].number, 7);
        assert!(v.files(2).is_empty());
    }

    #[test]
    fn overlap_queries() {
        let v = Version::new()
            .apply(&VersionEdit {
                added: vec![
                    (0, meta(1, "c", "f", (1, 1), 1)),
                    (1, meta(2, "a", "b", (1, 1), 1)),
                    (1, meta(3, "d", "f", (1, 1), 1)),
                    (1, meta(4, "h", "k", (1, 1), 1)),
                    (3, meta(5, "m", "m", (1, 1), 1)),
                ],
                ..VersionEdit::default()
            })
            .unwrap();
        let nums = |fs: Vec<Arc<FileMeta>>| fs.iter().map(|f| f.number).collect::<Vec<_>>();
        assert_eq!(nums(v.files_overlapping(1, b"b", b"d")), vec![2, 3]);
        assert_eq!(nums(v.files_overlapping(1, b"c", b"c")), Vec::<u64>::new());
        assert_eq!(nums(v.files_overlapping(1, b"f", b"z")), vec![3, 4]);
        assert_eq!(nums(v.files_overlapping(1, b"l", b"z")), Vec::<u64>::new());
        assert_eq!(nums(v.files_overlapping(1, b"z", b"a")), Vec::<u64>::new());
        assert_eq!(nums(v.files_overlapping(0, b"a", b"c")), vec![1]);
        assert!(v.key_may_exist_below(0, b"e"));
        assert!(!v.key_may_exist_below(0, b"g"));
        assert!(v.key_may_exist_below(2, b"m"));
        assert!(!v.key_may_exist_below(3, b"m"));
        // The allocation-free query agrees with the listing one everywhere,
        // also with level-0 files whose ranges overlap and are not sorted.
        let keys: Vec<&[u8]> = vec![
            b"", b"a", b"b", b"c", b"d", b"e", b"g", b"h", b"k", b"m", b"z",
        ];
        let busy_l0 = v
            .apply(&VersionEdit {
                added: vec![
                    (0, meta(6, "k", "z", (1, 1), 1)),
                    (0, meta(7, "d", "e", (1, 1), 1)),
                    (0, meta(8, "b", "m", (1, 1), 1)),
                ],
                ..VersionEdit::default()
            })
            .unwrap();
        for (v, level) in [&v, &busy_l0]
            .into_iter()
            .flat_map(|v| (0..LEVELS).map(move |l| (v, l)))
        {
            for lo in &keys {
                for hi in &keys {
                    assert_eq!(
                        v.level_overlaps(level, lo, hi),
                        !v.files_overlapping(level, lo, hi).is_empty(),
                        "level {level} [{lo:?}, {hi:?}]"
                    );
                }
            }
        }
        assert!(v.range_may_exist_below(1, b"l", b"n"));
        assert!(!v.range_may_exist_below(1, b"n", b"z"));
    }

    #[test]
    fn snapshot_edit_rebuilds_the_version() {
        let v = Version::new()
            .apply(&VersionEdit {
                added: vec![
                    (0, meta(1, "c", "f", (1, 4), 1)),
                    (0, meta(6, "a", "z", (5, 9), 1)),
                    (2, meta(3, "d", "f", (1, 1), 1)),
                ],
                ..VersionEdit::default()
            })
            .unwrap();
        let rebuilt = Version::new().apply(&v.snapshot_edit()).unwrap();
        assert_eq!(rebuilt, v);
    }

    /// The incremental builder accepts and rejects exactly what `apply`
    /// does, and builds the same versions, over a seeded stream of edits
    /// of which many are invalid.
    #[test]
    fn builder_agrees_with_apply() {
        let mut state = 0x1234_5678_u64;
        let mut next = move || {
            // xorshift64*
            state ^= state >> 12;
            state ^= state << 25;
            state ^= state >> 27;
            state.wrapping_mul(0x2545_f491_4f6c_dd1d)
        };
        let mut v = Version::new();
        let mut b = VersionBuilder::new();
        let (mut ok, mut rejected) = (0, 0);
        for _ in 0..3000 {
            let mut e = VersionEdit::default();
            for _ in 0..next() % 3 {
                let level = (next() % (LEVELS as u64 + 1)) as usize;
                let number = next() % 40;
                e.removed.push((level, number));
            }
            for _ in 0..next() % 3 {
                let level = (next() % (LEVELS as u64 + 1)) as usize;
                let a = next() % 30;
                let z = a + next() % 4;
                let lo = format!("{a:02}");
                let hi = format!("{z:02}");
                let s = next() % 50;
                e.added
                    .push((level, meta(next() % 40, &lo, &hi, (s, s + next() % 3), 1)));
            }
            let expect = v.apply(&e);
            let got = b.apply(&e);
            assert_eq!(expect.is_ok(), got.is_ok(), "{e:?}: {expect:?} vs {got:?}");
            match expect {
                Ok(nv) => {
                    ok += 1;
                    v = nv;
                    assert_eq!(b.build(), v);
                    assert_eq!(b.live_file_numbers(), v.live_file_numbers());
                }
                Err(_) => {
                    rejected += 1;
                    b = VersionBuilder::from_version(&v);
                }
            }
        }
        assert!(ok > 300 && rejected > 300, "ok {ok} rejected {rejected}");
    }

    #[test]
    fn check_catches_hand_built_violations() {
        let mut v = Version::new();
        v.levels[1].push(Arc::new(meta(1, "a", "c", (1, 1), 1)));
        v.levels[1].push(Arc::new(meta(2, "c", "d", (1, 1), 1)));
        assert!(v.check().is_err());
        let mut v = Version::new();
        v.levels[0].push(Arc::new(meta(1, "a", "c", (1, 1), 1)));
        v.levels[0].push(Arc::new(meta(2, "a", "c", (1, 1), 1)));
        assert!(v.check().is_err(), "older file first at L0");
        let mut v = Version::new();
        v.levels.pop();
        assert!(v.check().is_err());
    }
}
