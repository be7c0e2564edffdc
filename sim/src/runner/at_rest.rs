//! Faults at rest: after a power loss, before the next open, the simulated
//! disk may damage bytes a sync made durable, in a table, a WAL segment or
//! a manifest file (a manifest or `CURRENT`)
//! (`SimFs::damage_at_rest`). The rule: the engine returns correct data or
//! an error naming the damaged file; never wrong data, and never a silent
//! drop of records a later durable record proves were synced.
//!
//! An error naming a damaged file ends the seed as "detected" (there is no
//! repair yet to continue with). One window is undetectable by design:
//! damage in the newest WAL segment that no later valid record's sync
//! watermark covers looks exactly like a torn tail, so recovery cuts it off
//! (`engine/DESIGN.md`, "Recovery rules"); a recovered state that lost
//! durable writes is then counted as "undetectable", not as a failure. The
//! same holds for the manifest's last record. The window is decided with
//! the engine's own scanners on the damaged bytes, before the engine opens
//! them.

use std::path::{Path, PathBuf};

use strata::format::filename::{parse_file_name, FileKind};
use strata::format::manifest::replay;
use strata::format::wal::{scan_segment, WalLimits};
use strata::fs::{FileSystem, MemFs, OpenMode};
use strata::Error;

use super::{Exec, DB_DIR};
use crate::simfs::{AtRestDamage, FileClass};

/// What a run's failure message says when at-rest damage was detected and
/// the seed ended early (the runner turns it into a pass).
pub(super) const DAMAGE_DETECTED: &str = "at-rest damage detected";

/// One damaged file.
#[derive(Clone, Debug)]
pub(super) struct Damaged {
    pub(super) damage: AtRestDamage,
    /// In the newest WAL segment, beyond any later record's watermark.
    pub(super) undetectable: bool,
}

impl Exec {
    /// After a power loss: damage a synced table or WAL segment, at the
    /// seed's rate.
    pub(super) fn maybe_damage_at_rest(&mut self) {
        let rate = self.knobs.at_rest_per_million;
        if rate == 0 || !self.crash_rng.chance(rate) {
            return;
        }
        let pick = |p: &Path| {
            p.starts_with(DB_DIR)
                && matches!(
                    FileClass::of(p),
                    FileClass::Wal | FileClass::Table | FileClass::Manifest
                )
        };
        let Some(damage) = self.fs.damage_at_rest(&mut self.crash_rng, &pick) else {
            return;
        };
        let class = FileClass::of(&damage.path);
        *self
            .stats
            .at_rest_injected
            .entry(format!("{:?}:{class:?}", damage.kind))
            .or_insert(0) += 1;
        // A misdirected write damages two places: where it landed, and where
        // it belonged (which kept its old contents).
        let mut places = vec![damage.clone()];
        if let Some((path, offset, len)) = damage.from.clone() {
            places.push(AtRestDamage {
                path,
                offset,
                len,
                ..damage.clone()
            });
        }
        for (i, place) in places.into_iter().enumerate() {
            let undetectable = self.in_torn_tail_window(&place);
            self.line(format!(
                "  at-rest damage: {:?}{} {} at {}+{}{}",
                place.kind,
                match (place.from.is_some(), i) {
                    (false, _) => "",
                    (true, 0) => " (landed here)",
                    (true, _) => " (belonged here; reads as zeros)",
                },
                place.path.display(),
                place.offset,
                place.len,
                if undetectable {
                    " (torn-tail window: undetectable by design)"
                } else {
                    ""
                }
            ));
            self.damaged.push(Damaged {
                damage: place,
                undetectable,
            });
        }
    }

    /// Whether damage in a WAL segment falls in the window no reader can
    /// tell from a torn tail: the newest segment, no valid record after the
    /// damage with a watermark past it.
    fn in_torn_tail_window(&self, d: &AtRestDamage) -> bool {
        let Some(name) = d.path.file_name().and_then(|n| n.to_str()) else {
            return false;
        };
        let number = match parse_file_name(name) {
            Some(FileKind::Wal(n)) => n,
            Some(FileKind::Manifest(n)) => {
                // The manifest's last record is read like a WAL tail: damage
                // there passes for a torn write, and recovery drops the edit.
                return self.fs.contents(&d.path).is_some_and(|bytes| {
                    replay(&bytes, &d.path, n).is_ok_and(|r| r.torn_tail.is_some())
                });
            }
            _ => return false,
        };
        let newest = self
            .fs
            .paths()
            .iter()
            .filter_map(|p| match parse_file_name(p.file_name()?.to_str()?) {
                Some(FileKind::Wal(n)) if p.starts_with(DB_DIR) => Some(n),
                _ => None,
            })
            .max();
        if newest != Some(number) {
            return false;
        }
        let Some(bytes) = self.fs.contents(&d.path) else {
            return false;
        };
        let scratch = MemFs::new();
        let path = PathBuf::from("/scan").join(name);
        let scanned = scratch
            .create_dir_all(Path::new("/scan"))
            .and_then(|()| scratch.open(&path, OpenMode::CreateNew))
            .and_then(|f| f.write_at(&bytes, 0).map(|()| f));
        let Ok(file) = scanned else {
            return false;
        };
        let limits = WalLimits {
            key_bytes_max: usize::MAX,
            value_bytes_max: usize::MAX,
            record_bytes_max: usize::MAX,
        };
        match scan_segment(&*file, &path, number, &limits, &mut |_, _| Ok(())) {
            Ok(scan) => scan
                .damage
                .is_some_and(|dmg| dmg.synced_record_after.is_none()),
            Err(_) => false,
        }
    }

    /// Whether `e` names a file damaged at rest (directly, or as the cause
    /// of poisoning).
    pub(super) fn damage_explains(&self, e: &Error) -> bool {
        let text = e.to_string();
        self.damaged
            .iter()
            .any(|d| text.contains(&*d.damage.path.to_string_lossy()))
    }

    /// Ends the seed: the engine reported damage done at rest.
    pub(super) fn damage_detected(&mut self, during: &str, e: &Error) -> String {
        *self
            .stats
            .at_rest_detected
            .entry(during.to_string())
            .or_insert(0) += 1;
        self.line(format!("  at-rest damage detected during {during}: {e}"));
        match self.repair_and_check() {
            Ok(()) => DAMAGE_DETECTED.to_string(),
            Err(why) => why,
        }
    }

    /// A recovered state the oracle refused: excused (and the seed ended)
    /// only if damage in the torn-tail window explains it.
    pub(super) fn undetectable_loss(&mut self, why: String) -> String {
        if self.damaged.iter().any(|d| d.undetectable) {
            self.stats.at_rest_undetectable += 1;
            self.line(format!(
                "  durable writes lost to damage in the torn-tail window: {why}"
            ));
            return DAMAGE_DETECTED.to_string();
        }
        why
    }
}
