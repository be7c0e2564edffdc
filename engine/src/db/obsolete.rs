//! Deleting files nothing needs any more: tables no live version
//! references, WAL segments below the manifest's log number, manifests
//! other than the live one, and a stale `CURRENT.tmp`.

use super::state::DbInner;
use super::stats::StatsCounters;
use crate::filename::{parse_file_name, FileKind};
use crate::sync::lock;

impl DbInner {
    /// Deletes every obsolete file. Runs only while no flush or compaction
    /// is writing (under `bg_work`, or during open). Best effort: a file
    /// that cannot be deleted now is found again by a later call or at the
    /// next open.
    pub(super) fn delete_obsolete_files(&self) {
        let live = self.live_table_numbers();
        if crate::probe::enabled() {
            let current = self.read_state().version.live_file_numbers();
            crate::probe::hit_each_missing(
                crate::probe::Probe::ObsoleteTableKeptInUse,
                &live,
                &current,
            );
        }
        let (log_number, manifest_number) = {
            let m = lock(&self.manifest);
            (m.log_number, m.writer.manifest_number())
        };
        let Ok(names) = self.fs.list_dir(&self.dir) else {
            return;
        };
        for name in names {
            let kind = parse_file_name(&name);
            let obsolete = match kind {
                Some(FileKind::Table(n)) => !live.contains(&n),
                Some(FileKind::Wal(n)) => n < log_number,
                Some(FileKind::Manifest(n)) => n != manifest_number,
                Some(FileKind::CurrentTemp) => true,
                _ => false,
            };
            if !obsolete {
                continue;
            }
            if let Some(FileKind::Table(n)) = kind {
                self.tables.evict(n);
            }
            if self.fs.remove_file(&self.dir.join(&name)).is_ok() {
                StatsCounters::add(&self.stats.obsolete_files_deleted, 1);
            }
        }
    }
}
