//! Manual compaction of a key range (`Db::compact_range`): everything the
//! range holds is merged level by level down to the deepest level that has
//! data, and the tables of that level within the range are then rewritten
//! in place, so versions no snapshot needs and tombstones with nothing
//! below them are dropped however the data got there. (Automatic compaction
//! reclaims them only when newer data happens to overlap their table.)

use std::ops::Bound;

use crate::sync::{lock, Arc};

use super::background::BackgroundStep;
use super::state::DbInner;
use crate::error::{Error, Result};
use crate::version::{FileMeta, Version, LEVELS};

/// The smallest and largest user keys of `files`.
fn span(files: &[Arc<FileMeta>]) -> Option<(Vec<u8>, Vec<u8>)> {
    let lo = files.iter().map(|f| &f.smallest_key).min()?;
    let hi = files.iter().map(|f| &f.largest_key).max()?;
    Some((lo.clone(), hi.clone()))
}

/// The files of `level` overlapping `[lo, hi]`; at level 0, grown until
/// every level-0 file overlapping the chosen ones is chosen too (a newer
/// level-0 file left behind could otherwise hide under an older one moved
/// down).
fn inputs(version: &Version, level: usize, lo: &[u8], hi: &[u8]) -> Vec<Arc<FileMeta>> {
    let mut files = version.files_overlapping(level, lo, hi);
    if level == 0 {
        while let Some((a, b)) = span(&files) {
            let grown = version.files_overlapping(0, &a, &b);
            if grown.len() == files.len() {
                break;
            }
            files = grown;
        }
    }
    files
}

fn numbers(files: &[Arc<FileMeta>]) -> Vec<u64> {
    files.iter().map(|f| f.number).collect()
}

impl DbInner {
    /// See `Db::compact_range`. `lo`/`hi` bound user keys (an excluded
    /// bound counts as included: at worst a little more is rewritten).
    pub(super) fn compact_range(&self, lo: Bound<&[u8]>, hi: Bound<&[u8]>) -> Result<()> {
        self.check_writable()?;
        if self
            .compactions_paused
            .load(crate::sync::atomic::Ordering::SeqCst)
            > 0
        {
            return Err(Error::InvalidArgument(
                "compactions are paused (Db::pause_compactions)".into(),
            ));
        }
        // What the memtables hold in the range must reach the tables first.
        self.freeze_active()?;
        while self.flush_step()? != BackgroundStep::Idle {}
        let lo: Vec<u8> = match lo {
            Bound::Included(k) | Bound::Excluded(k) => k.to_vec(),
            Bound::Unbounded => Vec::new(),
        };
        let hi: Option<Vec<u8>> = match hi {
            Bound::Included(k) | Bound::Excluded(k) => Some(k.to_vec()),
            Bound::Unbounded => None,
        };
        let version = self.read_state().version;
        let Some(bottom) = (0..LEVELS).rev().find(|&l| !version.files(l).is_empty()) else {
            self.release_version(version);
            return Ok(());
        };
        self.release_version(version);
        for level in 0..=bottom {
            // Under `bg_work`, the deletion in `after_step` too: deleting
            // obsolete files while a background flush or compaction is
            // writing would take its new table (in no version yet) for
            // obsolete. (Found by the concurrent campaign, 40 of 300 seeds,
            // as live tables missing.)
            let _work = lock(&self.bg_work);
            let result = self.compact_range_level(level, bottom, &lo, hi.as_deref());
            // As after a background step: a failure poisons (or records a
            // corrupt input); what the merge replaced is deleted.
            self.after_step(&result);
            result?;
        }
        Ok(())
    }

    /// One level of `compact_range`: the range's files of `level` merged
    /// into the next level, or, at the bottom, rewritten in place (level 0
    /// alone goes to level 1).
    fn compact_range_level(
        &self,
        level: usize,
        bottom: usize,
        lo: &[u8],
        hi: Option<&[u8]>,
    ) -> Result<BackgroundStep> {
        self.check_writable()?;
        let st = self.read_state();
        let version = st.version.clone();
        drop(st);
        let hi_all;
        let hi = match hi {
            Some(h) => h,
            None => {
                hi_all = (0..LEVELS)
                    .flat_map(|l| version.files(l).iter().map(|f| f.largest_key.clone()))
                    .max()
                    .unwrap_or_default();
                &hi_all
            }
        };
        let chosen = inputs(&version, level, lo, hi);
        let Some((a, b)) = span(&chosen) else {
            return Ok(BackgroundStep::Idle);
        };
        let (lower, output_level) = if level < bottom || level == 0 {
            (version.files_overlapping(level + 1, &a, &b), level + 1)
        } else {
            (Vec::new(), level)
        };
        self.merge(
            &version,
            level,
            &numbers(&chosen),
            &numbers(&lower),
            output_level,
        )
    }
}
