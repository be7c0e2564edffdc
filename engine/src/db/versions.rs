//! Installing version edits: each is checked, made durable in the manifest,
//! then swapped in; the manifest is rewritten as one snapshot once it grows
//! past `manifest_bytes_max`. Every installed version is remembered (weakly)
//! so obsolete-file deletion knows which tables some reader still pins.

use crate::sync::atomic::Ordering;
use crate::sync::{Arc, Weak};

use super::state::{DbInner, ManifestState, State};
use crate::error::Result;
use crate::manifest::ManifestWriter;
use crate::sync::{lock, write};
use crate::version::{Version, VersionEdit};

impl DbInner {
    /// Installs `edit`: checks it applies, makes it durable in the manifest,
    /// then swaps the new version in and lets `update` adjust the state in
    /// the same critical section. A manifest failure poisons the database.
    pub(super) fn log_and_apply(
        &self,
        edit: &VersionEdit,
        update: &mut dyn FnMut(&mut State),
    ) -> Result<()> {
        let mut m = lock(&self.manifest);
        let current = self.read_state().version;
        let next = Arc::new(current.apply(edit)?);
        if let Err(e) = m.writer.append(edit) {
            self.poison(&e);
            return Err(e);
        }
        if let Some(s) = edit.last_seqno {
            m.last_seqno = m.last_seqno.max(s);
        }
        if let Some(l) = edit.log_number {
            m.log_number = m.log_number.max(l);
        }
        {
            let mut st = write(&self.state);
            st.version = next.clone();
            update(&mut st);
        }
        {
            let mut vs = lock(&self.versions);
            forget_dead(&mut vs);
            vs.push(Arc::downgrade(&next));
        }
        if m.writer.file_bytes() > self.opts.manifest_bytes_max {
            if let Err(e) = self.rewrite_manifest(&mut m, &next) {
                self.poison(&e);
                return Err(e);
            }
        }
        self.bg_signal.notify();
        Ok(())
    }

    /// Starts a fresh manifest holding one snapshot of `current`.
    fn rewrite_manifest(&self, m: &mut ManifestState, current: &Version) -> Result<()> {
        crate::probe::hit(crate::probe::Probe::ManifestRolled);
        let number = self.next_file_number.fetch_add(1, Ordering::SeqCst);
        let mut snap = current.snapshot_edit();
        snap.log_number = Some(m.log_number);
        snap.next_file_number = Some(self.next_file_number.load(Ordering::SeqCst));
        snap.last_seqno = Some(m.last_seqno);
        let w = ManifestWriter::create(&*self.fs, &self.dir, number, &snap)?;
        let old = std::mem::replace(&mut m.writer, w);
        // Best effort: an old manifest left behind is deleted at the next
        // open.
        let _ = self.fs.remove_file(old.path());
        Ok(())
    }

    /// Table numbers some live version (the current one, or one pinned by
    /// an iterator) references. Reading a version takes a reference; if a
    /// reader let go meanwhile, ours was the last and the version is gone
    /// when we drop it, so the set is computed again without it.
    pub(super) fn live_table_numbers(&self) -> std::collections::BTreeSet<u64> {
        loop {
            let held: Vec<Arc<Version>> = {
                let mut vs = lock(&self.versions);
                forget_dead(&mut vs);
                vs.iter().filter_map(|w| w.upgrade()).collect()
            };
            let mut live = std::collections::BTreeSet::new();
            for v in &held {
                live.extend(v.live_file_numbers());
            }
            let mut died = false;
            for v in held {
                died |= Arc::into_inner(v).is_some();
            }
            if !died {
                return live;
            }
        }
    }
}

/// Drops the remembered versions nobody holds any more.
fn forget_dead(versions: &mut Vec<Weak<Version>>) {
    versions.retain(|w| w.strong_count() > 0);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Only the versions someone still holds are remembered: a dead one is
    /// dropped from the list (else the list grows with every install).
    #[test]
    fn forgetting_keeps_exactly_the_held_versions() {
        let held = Arc::new(Version::new());
        let mut list = vec![Arc::downgrade(&held)];
        for _ in 0..3 {
            let gone = Arc::new(Version::new());
            list.push(Arc::downgrade(&gone));
        }
        let also_held = Arc::new(Version::new());
        list.push(Arc::downgrade(&also_held));
        forget_dead(&mut list);
        assert_eq!(list.len(), 2);
        assert!(list.iter().all(|w| w.strong_count() == 1));
        drop(held);
        forget_dead(&mut list);
        assert_eq!(list.len(), 1);
        assert!(Arc::ptr_eq(&list[0].upgrade().unwrap(), &also_held));
    }
}
