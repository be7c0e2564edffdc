//! The reads added with the cursor: a cursor moved both ways (on the
//! database or a snapshot), `multi_get`, prefix scans and the first/last
//! lookups, each compared with the model at the sequence number it reads.

use std::ops::Bound;

use strata_models::{Dir, Show};

use super::{Exec, Step};
use crate::workload::{
    cursor_walk, expected_cursor_walk, expected_prefix, properties_disagreement, read_only_state,
    walk_difference, CursorStart, KeyBound,
};

impl Exec {
    /// Positions and moves a cursor, checking every position (key and
    /// value) against the model at the cursor's seqno.
    pub(super) fn cursor(
        &mut self,
        slot: Option<u8>,
        start: &CursorStart,
        moves: u32,
        n: u8,
    ) -> Step {
        let (cursor, at) = match slot {
            None => {
                self.call = "cursor";
                let at = self.model.last_seqno();
                (self.db()?.cursor(), at)
            }
            Some(s) => {
                let Some(i) = self.slot(s) else {
                    return Ok(());
                };
                self.call = "snapshot.cursor";
                (self.snapshots[i].0.cursor(), self.snapshots[i].1)
            }
        };
        let r = cursor.and_then(|mut c| cursor_walk(&mut c, start, moves, n, &mut || {}));
        let Some(got) = self.read_result(r)? else {
            return Ok(());
        };
        let want = expected_cursor_walk(&self.model, at, start, moves, n);
        if got != want {
            return Err(format!(
                "cursor at seqno {at} from {start:?}, moves {moves:#x}: {}",
                walk_difference(&want, &got)
            ));
        }
        self.line(format!("  cursor: {} positions", got.len()));
        Ok(())
    }

    pub(super) fn multi_get(&mut self, keys: &[Vec<u8>]) -> Step {
        self.call = "multi_get";
        let r = self.db()?.multi_get(keys);
        let Some(got) = self.read_result(r)? else {
            return Ok(());
        };
        if got.len() != keys.len() {
            return Err(format!(
                "multi_get of {} keys gave {} values",
                keys.len(),
                got.len()
            ));
        }
        for (k, g) in keys.iter().zip(&got) {
            let want = self.model.get(k).map(<[u8]>::to_vec);
            self.compare_get(k, &want, g, "multi_get")?;
        }
        Ok(())
    }

    pub(super) fn prefix(&mut self, prefix: &[u8], reverse: bool) -> Step {
        self.call = "prefix";
        let at = self.model.last_seqno();
        let r = self.db()?.prefix(prefix).and_then(|it| {
            if reverse {
                it.rev().collect::<strata::Result<Vec<_>>>()
            } else {
                it.collect()
            }
        });
        let Some(got) = self.read_result(r)? else {
            return Ok(());
        };
        let want = expected_prefix(&self.model, prefix, reverse, at);
        if got != want {
            return Err(format!(
                "prefix {} ({}) at seqno {at}: expected {} items, found {} ({:?} vs {:?})",
                Show(prefix),
                if reverse { "reversed" } else { "forward" },
                want.len(),
                got.len(),
                want.iter()
                    .map(|e| Show(&e.0).to_string())
                    .collect::<Vec<_>>(),
                got.iter()
                    .map(|e| Show(&e.0).to_string())
                    .collect::<Vec<_>>()
            ));
        }
        self.line(format!("  {} items", got.len()));
        Ok(())
    }

    pub(super) fn first_last(&mut self) -> Step {
        self.call = "first_last";
        let at = self.model.last_seqno();
        let db = self.db()?;
        let r = db
            .first_key_value()
            .and_then(|f| db.last_key_value().map(|l| (f, l)));
        let Some((first, last)) = self.read_result(r)? else {
            return Ok(());
        };
        let pick = |dir| {
            self.model
                .range_at(Bound::Unbounded, Bound::Unbounded, dir, at, 1)
                .pop()
        };
        let want = (pick(Dir::Forward), pick(Dir::Reverse));
        if (first.clone(), last.clone()) != want {
            return Err(format!(
                "first/last at seqno {at}: expected {:?}, found {:?}",
                (
                    want.0.map(|e| Show(&e.0).to_string()),
                    want.1.map(|e| Show(&e.0).to_string())
                ),
                (
                    first.map(|e| Show(&e.0).to_string()),
                    last.map(|e| Show(&e.0).to_string())
                )
            ));
        }
        Ok(())
    }

    /// The properties agree with the model (last seqno, live snapshots)
    /// and with themselves (levels, by name); a range's approximate size
    /// is at most all the tables' bytes.
    pub(super) fn properties(&mut self, lo: &KeyBound, hi: &KeyBound) -> Step {
        self.call = "properties";
        let db = self.db()?;
        let p = db.properties();
        let tables: u64 = p.levels.iter().map(|l| l.bytes).sum();
        let mut wrong = Vec::new();
        if p.last_seqno != self.model.last_seqno() {
            wrong.push(format!(
                "last seqno {} (model {})",
                p.last_seqno,
                self.model.last_seqno()
            ));
        }
        // Every open transaction holds a snapshot too.
        if p.snapshots != self.snapshots.len() + self.txns.len() {
            wrong.push(format!(
                "{} snapshots ({} live, {} open transactions)",
                p.snapshots,
                self.snapshots.len(),
                self.txns.len()
            ));
        }
        wrong.extend(properties_disagreement(&p));
        let by_name = db.property("strata.num-files-at-level0");
        if by_name != Some(p.levels[0].files.to_string()) {
            wrong.push(format!(
                "num-files-at-level0 {by_name:?} vs {}",
                p.levels[0].files
            ));
        }
        let r = db.approximate_size((lo.to_bound(), hi.to_bound()));
        if let Some(size) = self.read_result(r)? {
            if size > tables {
                wrong.push(format!(
                    "approximate size {size} of {lo}..{hi} above all tables' {tables}"
                ));
            }
        }
        if !wrong.is_empty() {
            return Err(format!("properties: {}", wrong.join("; ")));
        }
        Ok(())
    }

    /// Opens the directory read-only beside the open database: the state it
    /// reads must be one the model allows (every write the WAL holds: the
    /// acknowledged ones, and failed ones the oracle may count), and no
    /// file's bytes may change.
    pub(super) fn read_only_open(&mut self) -> Step {
        self.call = "read_only_open";
        let image = |fs: &crate::simfs::SimFs| -> Vec<(std::path::PathBuf, Option<Vec<u8>>)> {
            fs.paths()
                .into_iter()
                .filter(|p| p.starts_with(super::DB_DIR))
                .map(|p| {
                    let c = fs.contents(&p);
                    (p, c)
                })
                .collect()
        };
        let before = image(&self.fs);
        let opts = self.options()?;
        let r = read_only_state(super::DB_DIR, opts).map(|(_, pairs)| pairs);
        if image(&self.fs) != before {
            return Err("a read-only open changed the files on disk".into());
        }
        let Some(pairs) = self.read_result(r)? else {
            return Ok(());
        };
        let state: strata_models::State = pairs.into_iter().collect();
        if let Err(d) = self.model.oracle().check(self.durable_mark, &state, None) {
            return Err(format!("read-only open: {d}"));
        }
        self.line(format!("  read-only open: {} keys", state.len()));
        Ok(())
    }
}
