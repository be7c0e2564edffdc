//! Checkpoints: a consistent, openable copy of the database at one
//! sequence number, made while writes go on.
//!
//! The memtables are flushed first, so the copy needs no WAL: it is the
//! current version's tables (hard links where the file system has them,
//! copies otherwise) and a new manifest holding one snapshot of that
//! version, named by a `CURRENT` written last. The version is held while
//! the tables are linked or copied, so no compaction deletes one of them
//! meanwhile. Every file and directory entry is synced before `CURRENT`
//! names the manifest, and `CURRENT` itself is synced, so a checkpoint that
//! returned `Ok` survives a power loss; one cut short by a crash has no
//! `CURRENT` and opens as no database at all.

use std::io;
use std::path::Path;

use crate::sync::atomic::Ordering;
use crate::sync::{lock, Arc};

use super::state::DbInner;
use crate::error::{Error, Result};
use crate::filename::table_file_name;
use crate::fs::{copy_file, FileSystem};
use crate::manifest::ManifestWriter;
use crate::types::SeqNo;
use crate::version::Version;

/// How a checkpoint's tables got there.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct CheckpointReport {
    /// The sequence number the checkpoint holds: every write up to it,
    /// none after.
    pub seqno: SeqNo,
    /// Tables given a second name (no bytes copied).
    pub tables_linked: usize,
    /// Tables copied (the file system has no links).
    pub tables_copied: usize,
    /// Bytes copied.
    pub bytes_copied: u64,
}

impl DbInner {
    /// See `Db::checkpoint`. The caller has flushed the memtables.
    pub(super) fn checkpoint_to(&self, dest: &Path) -> Result<CheckpointReport> {
        let fs = &*self.fs;
        if fs.exists(dest).map_err(|e| Error::io(dest, e))? {
            return Err(Error::InvalidArgument(format!(
                "checkpoint directory {} already exists",
                dest.display()
            )));
        }
        // The version and the sequence number it holds, as one pair: the
        // manifest lock is held while an edit swaps the version in.
        let (version, seqno, log_number) = {
            let m = lock(&self.manifest);
            (self.read_state().version, m.last_seqno, m.log_number)
        };
        let result = self.write_checkpoint(fs, dest, &version, seqno, log_number);
        self.release_version(version);
        result
    }

    fn write_checkpoint(
        &self,
        fs: &dyn FileSystem,
        dest: &Path,
        version: &Arc<Version>,
        seqno: SeqNo,
        log_number: u64,
    ) -> Result<CheckpointReport> {
        let mut report = CheckpointReport {
            seqno,
            ..CheckpointReport::default()
        };
        fs.create_dir_all(dest).map_err(|e| Error::io(dest, e))?;
        for number in version.live_file_numbers() {
            let name = table_file_name(number);
            let (from, to) = (self.dir.join(&name), dest.join(&name));
            match fs.hard_link(&from, &to) {
                Ok(()) => report.tables_linked += 1,
                Err(e) if e.kind() == io::ErrorKind::Unsupported => {
                    report.bytes_copied += copy_file(fs, &from, &to)?;
                    report.tables_copied += 1;
                }
                Err(e) => return Err(Error::io(&to, e)),
            }
        }
        fs.sync_dir(dest).map_err(|e| Error::io(dest, e))?;
        // A number no table of the copy uses, for its manifest.
        let manifest_number = self.next_file_number.fetch_add(1, Ordering::SeqCst);
        let mut snap = version.snapshot_edit();
        snap.log_number = Some(log_number);
        snap.next_file_number = Some(manifest_number + 1);
        snap.last_seqno = Some(seqno);
        // Writes and syncs the manifest, then CURRENT, and their entries.
        ManifestWriter::create(fs, dest, manifest_number, &snap)?;
        if let Some(parent) = dest.parent().filter(|p| !p.as_os_str().is_empty()) {
            fs.sync_dir(parent).map_err(|e| Error::io(parent, e))?;
        }
        Ok(report)
    }
}
