//! The leveled compaction strategy: a pure decision, no I/O.
//!
//! [`choose`] maps a [`Version`] and [`CompactionOptions`] to a
//! [`CompactionChoice`]; [`write_pressure`] maps the level-0 file count to a
//! throttle. Both are deterministic: the same version and options always give
//! the same answer (integer arithmetic only, every tie broken explicitly).
//!
//! Scores. Level 0 scores `files / l0_compaction_trigger`; level `n` in
//! `1..LEVELS-1` scores `bytes / level_target_bytes(n)`, where the target of
//! level 1 is `level1_bytes_target` and each further level's is
//! `level_size_multiplier` times the one above. The last level has no target:
//! nothing lies below it. The level with the highest score `>= 1` is
//! compacted; equal scores go to the lower-numbered level. Scores are
//! compared as fractions by cross-multiplication in `u128`, never as floats.
//!
//! Level 0 inputs. Start from the OLDEST level-0 file and grow the set to
//! every level-0 file overlapping the union key range of the set, until it
//! stops growing; then add every level-1 file overlapping that range. Taking
//! overlapping level-0 files as a closed set is what keeps "lower levels hold
//! older versions of a key" true: a level-0 file left behind shares no key
//! range with what moves to level 1. If the set is one level-0 file and
//! nothing at level 1 overlaps it, the file moves trivially.
//!
//! Level n >= 1 inputs. Pick the file with the smallest ratio
//! `bytes overlapping at n+1 / own bytes` (the least rewriting per byte
//! moved down, as RocksDB's `kMinOverlappingRatio` does); ties go to the
//! first file in key order. A file with nothing below it scores 0 and moves
//! trivially. Since level `n >= 1` files never share a boundary key, one file
//! is a valid input on its own, and its overlap at `n+1` is the lower input.
//!
//! Not modelled: limits on the overlap with level n+2 ("grandparents"), and
//! bounding the size of one compaction; both are refinements, not needed for
//! correctness.

use crate::sync::Arc;
use crate::version::{FileMeta, Version, LEVELS};
use std::cmp::Ordering;

/// Tuning of the leveled strategy.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct CompactionOptions {
    /// Level 0 is compacted once it has this many files.
    pub l0_compaction_trigger: usize,
    /// Writes are slowed down from this many level-0 files.
    pub l0_slowdown_trigger: usize,
    /// Writes stop from this many level-0 files until compaction catches up.
    pub l0_stop_trigger: usize,
    /// Target size of level 1.
    pub level1_bytes_target: u64,
    /// Each level below 1 targets this many times the level above.
    pub level_size_multiplier: u64,
    /// Size at which a compaction's output table is cut.
    pub target_file_bytes: u64,
}

impl Default for CompactionOptions {
    fn default() -> Self {
        CompactionOptions {
            l0_compaction_trigger: 4,
            l0_slowdown_trigger: 8,
            l0_stop_trigger: 12,
            level1_bytes_target: 64 << 20,
            level_size_multiplier: 10,
            target_file_bytes: 8 << 20,
        }
    }
}

impl CompactionOptions {
    /// Checks the relations between the fields.
    pub fn validate(&self) -> crate::Result<()> {
        let bad = |m: &str| Err(crate::Error::InvalidArgument(m.to_string()));
        if self.l0_compaction_trigger == 0 {
            return bad("l0_compaction_trigger must be >= 1");
        }
        if self.l0_slowdown_trigger < self.l0_compaction_trigger {
            return bad("l0_slowdown_trigger must be >= l0_compaction_trigger");
        }
        if self.l0_stop_trigger < self.l0_slowdown_trigger {
            return bad("l0_stop_trigger must be >= l0_slowdown_trigger");
        }
        if self.level1_bytes_target == 0 || self.target_file_bytes == 0 {
            return bad("byte targets must be > 0");
        }
        if self.level_size_multiplier < 2 {
            return bad("level_size_multiplier must be >= 2");
        }
        Ok(())
    }
}

/// What to compact next.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum CompactionChoice {
    /// No level is over its target.
    Nothing,
    /// Re-level one file without rewriting it: nothing at `to_level`
    /// overlaps it. Carried out as the edit
    /// `removed: [(level, file_number)], added: [(to_level, same meta)]`.
    TrivialMove {
        /// The file's level now.
        level: usize,
        /// The file.
        file_number: u64,
        /// Where it goes.
        to_level: usize,
    },
    /// Merge `inputs` (at `level`) with `lower_inputs` (at `level + 1`) into
    /// new files at `output_level`. If `bottommost`, no level below
    /// `output_level` holds data in the key range of the inputs, so
    /// tombstones and versions no snapshot needs can be dropped.
    Merge {
        /// The level compacted.
        level: usize,
        /// Files of `level` to merge.
        inputs: Vec<u64>,
        /// Overlapping files of `level + 1`.
        lower_inputs: Vec<u64>,
        /// Where the outputs go.
        output_level: usize,
        /// No level below `output_level` overlaps the inputs.
        bottommost: bool,
    },
}

/// How the writer should be throttled.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum WritePressure {
    /// Write freely.
    Normal,
    /// Level 0 is backing up: delay each write a little.
    Slowdown,
    /// Level 0 is full: block writes until a compaction finishes.
    Stop,
}

/// One level's compaction score, as the exact fraction `numerator / denominator`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LevelScore {
    /// The level scored.
    pub level: usize,
    /// Its size (bytes, or files at level 0).
    pub numerator: u64,
    /// Its target in the same unit.
    pub denominator: u64,
}

impl LevelScore {
    /// The score as a float, for reporting only (decisions use the fraction).
    pub fn as_f64(&self) -> f64 {
        self.numerator as f64 / self.denominator as f64
    }

    fn cmp_value(&self, other: &LevelScore) -> Ordering {
        let a = u128::from(self.numerator) * u128::from(other.denominator);
        let b = u128::from(other.numerator) * u128::from(self.denominator);
        a.cmp(&b)
    }

    fn due(&self) -> bool {
        self.numerator >= self.denominator
    }
}

/// The byte target of `level >= 1` (saturating); `level1_bytes_target *
/// level_size_multiplier^(level - 1)`. Level 0 is driven by file count and
/// has no byte target: this returns `u64::MAX` for it.
pub fn level_target_bytes(opts: &CompactionOptions, level: usize) -> u64 {
    if level == 0 {
        return u64::MAX;
    }
    let mut target = opts.level1_bytes_target.max(1);
    for _ in 1..level {
        target = target.saturating_mul(opts.level_size_multiplier);
    }
    target
}

/// Scores of levels `0..LEVELS-1` (the last level has none).
pub fn scores(version: &Version, opts: &CompactionOptions) -> Vec<LevelScore> {
    let mut out = Vec::with_capacity(LEVELS - 1);
    out.push(LevelScore {
        level: 0,
        numerator: version.files(0).len() as u64,
        denominator: opts.l0_compaction_trigger.max(1) as u64,
    });
    for level in 1..LEVELS - 1 {
        out.push(LevelScore {
            level,
            numerator: version.level_bytes(level),
            denominator: level_target_bytes(opts, level),
        });
    }
    out
}

/// Picks the next compaction (see the module documentation).
pub fn choose(version: &Version, opts: &CompactionOptions) -> CompactionChoice {
    let mut best: Option<LevelScore> = None;
    for s in scores(version, opts) {
        if !s.due() {
            continue;
        }
        // Strictly greater: ties keep the lower level, which came first.
        if best.is_none_or(|b| s.cmp_value(&b) == Ordering::Greater) {
            best = Some(s);
        }
    }
    match best {
        None => CompactionChoice::Nothing,
        Some(s) if s.level == 0 => choose_level0(version),
        Some(s) => choose_level_n(version, s.level),
    }
}

/// Throttle derived from the level-0 file count.
pub fn write_pressure(version: &Version, opts: &CompactionOptions) -> WritePressure {
    let l0 = version.files(0).len();
    if l0 >= opts.l0_stop_trigger {
        WritePressure::Stop
    } else if l0 >= opts.l0_slowdown_trigger {
        WritePressure::Slowdown
    } else {
        WritePressure::Normal
    }
}

fn key_range<'a>(files: impl IntoIterator<Item = &'a Arc<FileMeta>>) -> Option<(Vec<u8>, Vec<u8>)> {
    let mut range: Option<(&[u8], &[u8])> = None;
    for f in files {
        let (lo, hi) = (f.smallest_key.as_slice(), f.largest_key.as_slice());
        range = Some(match range {
            None => (lo, hi),
            Some((a, b)) => (a.min(lo), b.max(hi)),
        });
    }
    range.map(|(a, b)| (a.to_vec(), b.to_vec()))
}

fn merge(
    version: &Version,
    level: usize,
    inputs: &[Arc<FileMeta>],
    lower: &[Arc<FileMeta>],
) -> CompactionChoice {
    let output_level = level + 1;
    let (lo, hi) = key_range(inputs.iter().chain(lower)).unwrap_or_default();
    CompactionChoice::Merge {
        level,
        inputs: inputs.iter().map(|f| f.number).collect(),
        lower_inputs: lower.iter().map(|f| f.number).collect(),
        output_level,
        bottommost: !version.range_may_exist_below(output_level, &lo, &hi),
    }
}

fn choose_level0(version: &Version) -> CompactionChoice {
    let l0 = version.files(0);
    let Some(oldest) = l0.last() else {
        return CompactionChoice::Nothing;
    };
    let mut lo = oldest.smallest_key.clone();
    let mut hi = oldest.largest_key.clone();
    // Grow to a fixpoint; each round adds at least one file or stops, so at
    // most l0.len() rounds.
    let mut inputs: Vec<Arc<FileMeta>>;
    loop {
        inputs = version.files_overlapping(0, &lo, &hi);
        let (new_lo, new_hi) = key_range(&inputs).unwrap_or((lo.clone(), hi.clone()));
        if new_lo == lo && new_hi == hi {
            break;
        }
        lo = new_lo;
        hi = new_hi;
    }
    let lower = version.files_overlapping(1, &lo, &hi);
    if inputs.len() == 1 && lower.is_empty() {
        return CompactionChoice::TrivialMove {
            level: 0,
            file_number: inputs[0].number,
            to_level: 1,
        };
    }
    merge(version, 0, &inputs, &lower)
}

fn choose_level_n(version: &Version, level: usize) -> CompactionChoice {
    // (file, its overlap at level + 1, overlap bytes, own bytes)
    type Candidate = (Arc<FileMeta>, Vec<Arc<FileMeta>>, u128, u128);
    let mut best: Option<Candidate> = None;
    for f in version.files(level) {
        let lower = version.files_overlapping(level + 1, &f.smallest_key, &f.largest_key);
        let overlap: u128 = lower.iter().map(|g| u128::from(g.file_bytes)).sum();
        let own = u128::from(f.file_bytes.max(1));
        let better = match &best {
            None => true,
            // overlap / own < best_overlap / best_own
            Some((_, _, bo, bown)) => overlap * bown < *bo * own,
        };
        if better {
            best = Some((Arc::clone(f), lower, overlap, own));
        }
    }
    let Some((file, lower, _, _)) = best else {
        return CompactionChoice::Nothing;
    };
    if lower.is_empty() {
        return CompactionChoice::TrivialMove {
            level,
            file_number: file.number,
            to_level: level + 1,
        };
    }
    merge(version, level, &[file], &lower)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::version::VersionEdit;

    /// Among files with the same overlap ratio, the first at its level (the
    /// smallest keys) is chosen, so the choice does not depend on anything
    /// but the version.
    #[test]
    fn ties_go_to_the_first_file_of_the_level() {
        let v = Version::new()
            .apply(&VersionEdit {
                added: vec![
                    (1, meta(1, "a", "b", 1, 100)),
                    (1, meta(2, "c", "d", 1, 100)),
                    (2, meta(3, "x", "z", 1, 100)),
                ],
                ..VersionEdit::default()
            })
            .unwrap();
        assert_eq!(
            choose_level_n(&v, 1),
            CompactionChoice::TrivialMove {
                level: 1,
                file_number: 1,
                to_level: 2
            }
        );
    }

    /// The file whose overlap below is smallest relative to its own size is
    /// chosen, compared as fractions (cross-multiplied), not by overlap
    /// alone: file 2 carries 200 bytes of overlap for its 100, file 1 100
    /// for its 10.
    #[test]
    fn the_file_with_the_least_overlap_per_byte_is_chosen() {
        let merge_1_into_2 = |input: u64, lower: u64| CompactionChoice::Merge {
            level: 1,
            inputs: vec![input],
            lower_inputs: vec![lower],
            output_level: 2,
            bottommost: true,
        };
        // Sizes of level-1 files 1 and 2 and of their overlaps 3 and 4 below,
        // and the merge expected. The second case puts the better file
        // first: a later one with more overlap per byte (10 per byte
        // against 2) must not displace it, however the products compare
        // as sums or quotients.
        for ([b1, b2, b3, b4], expected) in [
            ([10, 100, 100, 200], merge_1_into_2(2, 4)),
            ([100, 10, 200, 100], merge_1_into_2(1, 3)),
        ] {
            let v = version(vec![
                (1, meta(1, "a", "b", 1, b1)),
                (1, meta(2, "c", "d", 1, b2)),
                (2, meta(3, "a", "b", 1, b3)),
                (2, meta(4, "c", "d", 1, b4)),
            ]);
            assert_eq!(choose_level_n(&v, 1), expected, "sizes {b1} {b2} {b3} {b4}");
        }
    }

    /// Scores compare as fractions: 3/1 beats 10/5, and 2/1 ties 10/5,
    /// whatever the units' sizes.
    #[test]
    fn scores_compare_as_fractions() {
        let score = |level, numerator, denominator| LevelScore {
            level,
            numerator,
            denominator,
        };
        assert_eq!(
            score(1, 3, 1).cmp_value(&score(2, 10, 5)),
            Ordering::Greater
        );
        assert_eq!(score(2, 10, 5).cmp_value(&score(1, 3, 1)), Ordering::Less);
        assert_eq!(score(1, 2, 1).cmp_value(&score(2, 10, 5)), Ordering::Equal);
        let big = score(3, u64::MAX, u64::MAX - 1);
        assert_eq!(big.cmp_value(&score(1, 1, 1)), Ordering::Greater);
    }

    fn meta(number: u64, lo: &str, hi: &str, seq: u64, bytes: u64) -> FileMeta {
        FileMeta {
            number,
            file_bytes: bytes,
            smallest_key: lo.as_bytes().to_vec(),
            largest_key: hi.as_bytes().to_vec(),
            seqno_min: seq,
            seqno_max: seq,
            entries: 1,
        }
    }

    fn version(files: Vec<(usize, FileMeta)>) -> Version {
        Version::new()
            .apply(&VersionEdit {
                added: files,
                ..VersionEdit::default()
            })
            .unwrap()
    }

    fn small_opts() -> CompactionOptions {
        CompactionOptions {
            l0_compaction_trigger: 2,
            l0_slowdown_trigger: 3,
            l0_stop_trigger: 4,
            level1_bytes_target: 100,
            level_size_multiplier: 10,
            target_file_bytes: 10,
        }
    }

    #[test]
    fn empty_version_needs_nothing() {
        let opts = CompactionOptions::default();
        opts.validate().unwrap();
        assert_eq!(choose(&Version::new(), &opts), CompactionChoice::Nothing);
        assert_eq!(
            write_pressure(&Version::new(), &opts),
            WritePressure::Normal
        );
    }

    #[test]
    fn below_every_target_needs_nothing() {
        let v = version(vec![
            (0, meta(1, "a", "z", 9, 1000)),
            (1, meta(2, "a", "c", 1, 99)),
            (2, meta(3, "a", "c", 1, 999)),
        ]);
        assert_eq!(choose(&v, &small_opts()), CompactionChoice::Nothing);
    }

    #[test]
    fn l0_trigger_takes_the_overlapping_closure_and_its_l1_overlap() {
        // Oldest L0 file 1 [c,e]; 2 [e,g] overlaps it; 3 [f,h] overlaps 2;
        // 4 [x,y] is disjoint and stays. L1: 10 [a,b] no, 11 [d,f] yes,
        // 12 [h,k] yes (touches h), 13 [m,n] no.
        let v = version(vec![
            (0, meta(1, "c", "e", 1, 10)),
            (0, meta(2, "e", "g", 2, 10)),
            (0, meta(3, "f", "h", 3, 10)),
            (0, meta(4, "x", "y", 4, 10)),
            (1, meta(10, "a", "b", 0, 10)),
            (1, meta(11, "d", "f", 0, 10)),
            (1, meta(12, "h", "k", 0, 10)),
            (1, meta(13, "m", "n", 0, 10)),
            (3, meta(20, "z", "zz", 0, 10)),
        ]);
        let choice = choose(&v, &small_opts());
        assert_eq!(
            choice,
            CompactionChoice::Merge {
                level: 0,
                inputs: vec![3, 2, 1],
                lower_inputs: vec![11, 12],
                output_level: 1,
                bottommost: true,
            }
        );
        // With data below in the range, not bottommost.
        let v2 = v.apply(&VersionEdit {
            added: vec![(4, meta(21, "g", "g", 0, 1))],
            ..VersionEdit::default()
        });
        let CompactionChoice::Merge { bottommost, .. } = choose(&v2.unwrap(), &small_opts()) else {
            panic!("expected a merge");
        };
        assert!(!bottommost);
    }

    #[test]
    fn l0_closure_grows_through_the_union_range() {
        // Oldest 1 [a,c]; 2 [b,m] overlaps it and widens the range to [a,m];
        // 3 [k,l] overlaps only the widened range and must be taken too.
        let v = version(vec![
            (0, meta(1, "a", "c", 1, 10)),
            (0, meta(2, "b", "m", 2, 10)),
            (0, meta(3, "k", "l", 3, 10)),
            (0, meta(4, "n", "o", 4, 10)),
        ]);
        let CompactionChoice::Merge { inputs, .. } = choose(&v, &small_opts()) else {
            panic!("expected a merge");
        };
        assert_eq!(inputs, vec![3, 2, 1]);
    }

    #[test]
    fn lone_l0_file_with_nothing_below_moves_trivially() {
        let v = version(vec![
            (0, meta(1, "a", "b", 1, 10)),
            (0, meta(2, "c", "d", 2, 10)),
            (1, meta(3, "x", "y", 0, 10)),
        ]);
        assert_eq!(
            choose(&v, &small_opts()),
            CompactionChoice::TrivialMove {
                level: 0,
                file_number: 1,
                to_level: 1
            }
        );
    }

    #[test]
    fn ln_trivial_move_when_a_file_has_no_overlap_below() {
        // L1 is over target (150 > 100). File 2 has nothing below at L2.
        let v = version(vec![
            (1, meta(1, "a", "c", 1, 75)),
            (1, meta(2, "d", "f", 1, 75)),
            (2, meta(3, "a", "b", 0, 50)),
        ]);
        assert_eq!(
            choose(&v, &small_opts()),
            CompactionChoice::TrivialMove {
                level: 1,
                file_number: 2,
                to_level: 2
            }
        );
    }

    #[test]
    fn ln_merge_picks_the_least_overlap_ratio_and_its_exact_overlap() {
        // L1 = 200 bytes > 100. File 1 [a,c] 100 B overlaps 500 B below
        // (ratio 5); file 2 [d,h] 100 B overlaps 30 + 40 B (ratio 0.7).
        let v = version(vec![
            (1, meta(1, "a", "c", 1, 100)),
            (1, meta(2, "d", "h", 1, 100)),
            (2, meta(3, "a", "b", 0, 500)),
            (2, meta(4, "c", "c", 0, 1)), // overlaps file 1 only (c)
            (2, meta(5, "e", "f", 0, 30)),
            (2, meta(6, "g", "i", 0, 40)),
            (2, meta(7, "j", "k", 0, 40)),
            (3, meta(8, "j", "j", 0, 40)),
        ]);
        assert_eq!(
            choose(&v, &small_opts()),
            CompactionChoice::Merge {
                level: 1,
                inputs: vec![2],
                lower_inputs: vec![5, 6],
                output_level: 2,
                bottommost: true,
            }
        );
        // Level 3 data inside [d,i] makes it not bottommost.
        let v = v
            .apply(&VersionEdit {
                added: vec![(5, meta(9, "i", "i", 0, 1))],
                ..VersionEdit::default()
            })
            .unwrap();
        let CompactionChoice::Merge { bottommost, .. } = choose(&v, &small_opts()) else {
            panic!("expected a merge");
        };
        assert!(!bottommost);
    }

    #[test]
    fn level_targets_grow_by_the_multiplier() {
        let opts = small_opts();
        assert_eq!(level_target_bytes(&opts, 0), u64::MAX);
        assert_eq!(level_target_bytes(&opts, 1), 100);
        assert_eq!(level_target_bytes(&opts, 2), 1_000);
        assert_eq!(level_target_bytes(&opts, 3), 10_000);
        assert_eq!(level_target_bytes(&opts, 6), 10_000_000);
        let huge = CompactionOptions {
            level1_bytes_target: u64::MAX / 2,
            ..small_opts()
        };
        assert_eq!(level_target_bytes(&huge, 6), u64::MAX, "saturates");
        // The same bytes are over target at L2 but under it at L3.
        let v = version(vec![(2, meta(1, "a", "b", 0, 1_500))]);
        assert!(matches!(
            choose(&v, &opts),
            CompactionChoice::TrivialMove { level: 2, .. }
        ));
        let v = version(vec![(3, meta(1, "a", "b", 0, 1_500))]);
        assert_eq!(choose(&v, &opts), CompactionChoice::Nothing);
        // The last level never compacts.
        let v = version(vec![(LEVELS - 1, meta(1, "a", "b", 0, u64::MAX))]);
        assert_eq!(choose(&v, &opts), CompactionChoice::Nothing);
    }

    #[test]
    fn highest_score_wins_and_ties_go_to_the_lower_level() {
        let opts = small_opts();
        // L0 score 2/2 = 1, L1 300/100 = 3, L2 1500/1000 = 1.5: L1 wins.
        let v = version(vec![
            (0, meta(1, "a", "b", 5, 1)),
            (0, meta(2, "c", "d", 6, 1)),
            (1, meta(3, "x", "y", 1, 300)),
            (2, meta(4, "p", "q", 0, 1_500)),
        ]);
        assert!(matches!(
            choose(&v, &opts),
            CompactionChoice::TrivialMove { level: 1, .. }
        ));
        // L1 200/100 = 2 and L2 2000/1000 = 2 tie: L1 wins.
        let v = version(vec![
            (1, meta(3, "x", "y", 1, 200)),
            (2, meta(4, "p", "q", 0, 2_000)),
        ]);
        assert!(matches!(
            choose(&v, &opts),
            CompactionChoice::TrivialMove { level: 1, .. }
        ));
        let s = scores(&v, &opts);
        assert_eq!(s.len(), LEVELS - 1);
        assert_eq!(s[1].as_f64(), 2.0);
        assert_eq!(s[2].as_f64(), 2.0);
    }

    #[test]
    fn pressure_thresholds() {
        let opts = small_opts();
        let mut v = Version::new();
        let mut seen = Vec::new();
        for n in 1..=5u64 {
            v = v
                .apply(&VersionEdit {
                    added: vec![(0, meta(n, "a", "z", n, 1))],
                    ..VersionEdit::default()
                })
                .unwrap();
            seen.push(write_pressure(&v, &opts));
        }
        use WritePressure::*;
        assert_eq!(seen, vec![Normal, Normal, Slowdown, Stop, Stop]);
    }

    #[test]
    fn options_validation() {
        assert!(small_opts().validate().is_ok());
        for bad in [
            CompactionOptions {
                l0_compaction_trigger: 0,
                ..small_opts()
            },
            CompactionOptions {
                l0_slowdown_trigger: 1,
                ..small_opts()
            },
            CompactionOptions {
                l0_stop_trigger: 2,
                ..small_opts()
            },
            CompactionOptions {
                level_size_multiplier: 1,
                ..small_opts()
            },
            CompactionOptions {
                target_file_bytes: 0,
                ..small_opts()
            },
        ] {
            assert!(bad.validate().is_err(), "{bad:?}");
        }
    }

    /// Drives the strategy to quiescence on a random version, applying each
    /// choice as an executor would (merges modelled as one output file per
    /// input key range), checking the version invariants and that L0 data
    /// never lands below older data of an overlapping range.
    #[test]
    fn seeded_choices_keep_the_version_valid() {
        use crate::testing::SplitMix64;
        let opts = small_opts();
        let (mut moves, mut merges) = (0u32, 0u32);
        for seed in 0..40u64 {
            let mut rng = SplitMix64(seed);
            let mut v = Version::new();
            let mut next_number = 1u64;
            let mut seq = 1u64;
            for _round in 0..60 {
                // Flush one L0 file with a random key range.
                let a = rng.next_u64() % 1000;
                let b = a + rng.next_u64() % 200;
                let m = FileMeta {
                    number: next_number,
                    file_bytes: 10 + rng.next_u64() % 40,
                    smallest_key: format!("{a:04}").into_bytes(),
                    largest_key: format!("{b:04}").into_bytes(),
                    seqno_min: seq,
                    seqno_max: seq + 5,
                    entries: 6,
                };
                next_number += 1;
                seq += 6;
                v = v
                    .apply(&VersionEdit {
                        added: vec![(0, m)],
                        ..VersionEdit::default()
                    })
                    .unwrap();
                // Compact until nothing is due (bounded).
                for _ in 0..100 {
                    let choice = choose(&v, &opts);
                    let edit = match choice {
                        CompactionChoice::Nothing => break,
                        CompactionChoice::TrivialMove {
                            level,
                            file_number,
                            to_level,
                        } => {
                            moves += 1;
                            let f = v
                                .files(level)
                                .iter()
                                .find(|f| f.number == file_number)
                                .unwrap();
                            assert!(v
                                .files_overlapping(to_level, &f.smallest_key, &f.largest_key)
                                .is_empty());
                            VersionEdit {
                                removed: vec![(level, file_number)],
                                added: vec![(to_level, FileMeta::clone(f))],
                                ..VersionEdit::default()
                            }
                        }
                        CompactionChoice::Merge {
                            level,
                            inputs,
                            lower_inputs,
                            output_level,
                            ..
                        } => {
                            merges += 1;
                            assert_eq!(output_level, level + 1);
                            let all: Vec<Arc<FileMeta>> = v
                                .files(level)
                                .iter()
                                .filter(|f| inputs.contains(&f.number))
                                .chain(
                                    v.files(level + 1)
                                        .iter()
                                        .filter(|f| lower_inputs.contains(&f.number)),
                                )
                                .cloned()
                                .collect();
                            assert_eq!(all.len(), inputs.len() + lower_inputs.len());
                            let (lo, hi) = key_range(&all).unwrap();
                            // Every level-`level` file left behind is
                            // disjoint from what moves down (for L0 this is
                            // the newer-above-older rule).
                            for f in v.files(level) {
                                if !inputs.contains(&f.number) {
                                    for g in all.iter().filter(|g| inputs.contains(&g.number)) {
                                        assert!(!f.overlaps(&g.smallest_key, &g.largest_key));
                                    }
                                }
                            }
                            // Exactly the overlapping lower files are taken.
                            let li: Vec<Arc<FileMeta>> = all
                                .iter()
                                .filter(|g| inputs.contains(&g.number))
                                .cloned()
                                .collect();
                            let (ilo, ihi) = key_range(&li).unwrap();
                            let expect: Vec<u64> = v
                                .files_overlapping(level + 1, &ilo, &ihi)
                                .iter()
                                .map(|f| f.number)
                                .collect();
                            assert_eq!(lower_inputs, expect);
                            let out = FileMeta {
                                number: next_number,
                                file_bytes: all.iter().map(|f| f.file_bytes).sum(),
                                smallest_key: lo,
                                largest_key: hi,
                                seqno_min: all.iter().map(|f| f.seqno_min).min().unwrap(),
                                seqno_max: all.iter().map(|f| f.seqno_max).max().unwrap(),
                                entries: all.iter().map(|f| f.entries).sum(),
                            };
                            next_number += 1;
                            let mut removed: Vec<(usize, u64)> =
                                inputs.iter().map(|&n| (level, n)).collect();
                            removed.extend(lower_inputs.iter().map(|&n| (level + 1, n)));
                            VersionEdit {
                                removed,
                                added: vec![(output_level, out)],
                                ..VersionEdit::default()
                            }
                        }
                    };
                    v = v.apply(&edit).expect("a chosen compaction applies");
                }
                v.check().unwrap();
                assert!(v.files(0).len() < opts.l0_compaction_trigger);
            }
            assert!(v.file_count() > 0);
        }
        // Both kinds of choice were exercised.
        assert!(moves > 10 && merges > 10, "moves {moves} merges {merges}");
    }
}
