//! Carrying out a compaction choice: the I/O half of compaction.
//!
//! A trivial move only edits the version. A merge reads its input tables in
//! internal-key order, keeps the versions some reader may still need
//! ([`entries_to_keep`]), drops a tombstone once no older data for its key
//! can exist below the output level, and splits its output into tables of
//! about `target_file_bytes`, at key boundaries. Both return the version edit
//! that installs them; the caller makes it durable and deletes the inputs.

use crate::sync::Arc;

use crate::error::{Error, Result};
use crate::flush::{file_meta, TableFiles};
use crate::gc::entries_to_keep;
use crate::sst::{TableBuilder, TableIter};
use crate::table_cache::TableCache;
use crate::types::SeqNo;
use crate::version::{FileMeta, Version, VersionEdit};

/// What a merge produced.
#[derive(Debug)]
pub(crate) struct MergeOutcome {
    /// Adds the outputs at the output level and removes the inputs.
    pub edit: VersionEdit,
    pub inputs: usize,
    pub outputs: usize,
    /// Bytes of input tables read.
    pub bytes_read: u64,
    /// Bytes of output tables written.
    pub bytes_written: u64,
}

/// The file `number` of `level` in `version`.
fn find_file(version: &Version, level: usize, number: u64) -> Result<Arc<FileMeta>> {
    version
        .files(level)
        .iter()
        .find(|f| f.number == number)
        .cloned()
        .ok_or_else(|| Error::InvalidArgument(format!("file {number} is not in level {level}")))
}

/// The edit moving file `number` from `level` to `to_level` unchanged.
pub(crate) fn trivial_move(
    version: &Version,
    level: usize,
    number: u64,
    to_level: usize,
) -> Result<VersionEdit> {
    let meta = find_file(version, level, number)?;
    Ok(VersionEdit {
        added: vec![(to_level, (*meta).clone())],
        removed: vec![(level, number)],
        ..VersionEdit::default()
    })
}

/// One merge: its inputs, where its output goes and who may read it.
pub(crate) struct Merge<'a> {
    pub version: &'a Arc<Version>,
    pub tables: &'a TableCache,
    pub files: TableFiles<'a>,
    /// Live snapshot sequence numbers, ascending.
    pub snapshots: &'a [SeqNo],
    pub target_file_bytes: u64,
}

impl Merge<'_> {
    /// Merges `inputs` of `level` and `lower_inputs` of `level + 1` into new
    /// tables at `output_level`, all synced along with the directory.
    pub fn run(
        &self,
        level: usize,
        inputs: &[u64],
        lower_inputs: &[u64],
        output_level: usize,
    ) -> Result<MergeOutcome> {
        let mut metas = Vec::new();
        for &n in inputs {
            metas.push((level, find_file(self.version, level, n)?));
        }
        for &n in lower_inputs {
            metas.push((level + 1, find_file(self.version, level + 1, n)?));
        }
        let mut iters: Vec<TableIter> = Vec::with_capacity(metas.len());
        let mut bytes_read = 0;
        for (_, m) in &metas {
            let mut it = self.tables.get(m.number)?.iter();
            it.seek_to_first()?;
            iters.push(it);
            bytes_read += m.file_bytes;
        }
        let mut out = Outputs {
            merge: self,
            output_level,
            builder: None,
            done: Vec::new(),
            bytes_written: 0,
        };
        merge_sorted(&mut iters, &mut |key, versions| out.emit_key(key, versions))?;
        out.finish_table()?;
        self.files.sync_dir()?;
        let edit = VersionEdit {
            added: out.done.iter().map(|m| (output_level, m.clone())).collect(),
            removed: metas.iter().map(|(l, m)| (*l, m.number)).collect(),
            next_file_number: Some(
                self.files
                    .next_file_number
                    .load(crate::sync::atomic::Ordering::SeqCst),
            ),
            ..VersionEdit::default()
        };
        Ok(MergeOutcome {
            edit,
            inputs: metas.len(),
            outputs: out.done.len(),
            bytes_read,
            bytes_written: out.bytes_written,
        })
    }
}

/// One key's versions, newest first.
type KeyVersions = [(SeqNo, Option<Vec<u8>>)];

/// Walks the entries of `iters` in internal-key order (user key ascending,
/// sequence number descending; sequence numbers are unique) and hands each
/// user key with all its versions to `emit`.
fn merge_sorted(
    iters: &mut [TableIter],
    emit: &mut dyn FnMut(&[u8], &KeyVersions) -> Result<()>,
) -> Result<()> {
    let mut key: Vec<u8> = Vec::new();
    let mut versions: Vec<(SeqNo, Option<Vec<u8>>)> = Vec::new();
    loop {
        let mut best: Option<usize> = None;
        for (i, it) in iters.iter().enumerate() {
            if !it.valid() {
                continue;
            }
            best = match best {
                None => Some(i),
                Some(b) => {
                    let cur = &iters[b];
                    let ord = it
                        .user_key()
                        .cmp(cur.user_key())
                        .then(cur.seqno().cmp(&it.seqno()));
                    Some(if ord.is_lt() { i } else { b })
                }
            };
        }
        let next_key_differs = match best {
            Some(b) => iters[b].user_key() != key.as_slice(),
            None => true,
        };
        if next_key_differs && !versions.is_empty() {
            emit(&key, &versions)?;
            versions.clear();
        }
        let Some(b) = best else { return Ok(()) };
        let it = &mut iters[b];
        if next_key_differs {
            key.clear();
            key.extend_from_slice(it.user_key());
        }
        versions.push((it.seqno(), it.value().map(<[u8]>::to_vec)));
        it.next()?;
    }
}

/// The merge's output tables: the one being written and the finished ones.
struct Outputs<'m, 'a> {
    merge: &'m Merge<'a>,
    output_level: usize,
    builder: Option<(u64, TableBuilder)>,
    done: Vec<FileMeta>,
    bytes_written: u64,
}

impl Outputs<'_, '_> {
    /// Writes the versions of `key` a reader may need.
    fn emit_key(&mut self, key: &[u8], versions: &KeyVersions) -> Result<()> {
        let seqnos: Vec<SeqNo> = versions.iter().map(|v| v.0).collect();
        let may_drop = !self
            .merge
            .version
            .key_may_exist_below(self.output_level, key);
        let keep = entries_to_keep(
            &seqnos,
            &|i| versions[i].1.is_none(),
            self.merge.snapshots,
            may_drop,
        );
        probe_kept(&keep, versions, may_drop);
        if !keep.iter().any(|k| *k) {
            return Ok(());
        }
        // Start a new output at a key boundary once the current one is full.
        if self
            .builder
            .as_ref()
            .is_some_and(|(_, b)| b.estimated_file_bytes() >= self.merge.target_file_bytes)
        {
            self.finish_table()?;
        }
        if self.builder.is_none() {
            self.builder = Some(self.merge.files.create()?);
        }
        let (_, b) = self.builder.as_mut().expect("set above");
        for ((seqno, value), k) in versions.iter().zip(keep) {
            if k {
                b.add(key, *seqno, value.as_deref())?;
            }
        }
        Ok(())
    }

    /// Finishes (and syncs) the table being written, if any.
    fn finish_table(&mut self) -> Result<()> {
        if let Some((number, b)) = self.builder.take() {
            let summary = b.finish()?;
            self.bytes_written += summary.file_bytes;
            self.done.push(file_meta(number, &summary));
        }
        Ok(())
    }
}

/// Counts what a merge did with one key's versions: tombstones dropped or
/// kept, older versions kept for snapshots.
fn probe_kept(keep: &[bool], versions: &KeyVersions, may_drop: bool) {
    use crate::probe::{hit, Probe};
    for (i, ((_, value), k)) in versions.iter().zip(keep).enumerate() {
        match (value.is_none(), *k) {
            (true, false) if may_drop => hit(Probe::TombstoneDropped),
            (true, true) if !may_drop => hit(Probe::TombstoneKept),
            _ => {}
        }
        if *k && i > 0 {
            hit(Probe::VersionKeptForSnapshot);
        }
    }
}
