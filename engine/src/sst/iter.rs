//! A bidirectional cursor over every internal entry of a table.
//!
//! The cursor holds one decoded data block. Entering a block decodes it fully
//! (checking every entry) and cross-checks it against the index: its last
//! entry must equal its index key and its first entry must follow the
//! previous block's index key. Any failure leaves the cursor invalid and
//! returns the error; a later seek may position it again.

use crate::sync::Arc;
use std::cmp::Ordering;

use super::block::{DecodeBuffers, DecodedBlock};
use super::{cmp_internal, Table};
use crate::error::Result;
use crate::types::SeqNo;

/// Cursor over a table's entries in internal-key order (user key ascending,
/// seqno descending). Moving an invalid cursor with `next`/`prev` is a no-op.
#[derive(Debug)]
pub struct TableIter {
    table: Arc<Table>,
    block_idx: usize,
    block: Option<DecodedBlock>,
    pos: usize,
    valid: bool,
}

impl TableIter {
    pub(crate) fn new(table: Arc<Table>) -> TableIter {
        TableIter {
            table,
            block_idx: 0,
            block: None,
            pos: 0,
            valid: false,
        }
    }

    /// True if positioned on an entry.
    pub fn valid(&self) -> bool {
        self.valid
    }

    /// The current entry's user key (empty if not valid).
    pub fn user_key(&self) -> &[u8] {
        match (&self.block, self.valid) {
            (Some(b), true) => b.user_key(self.pos),
            _ => &[],
        }
    }

    /// The current entry's seqno (0 if not valid).
    pub fn seqno(&self) -> SeqNo {
        match (&self.block, self.valid) {
            (Some(b), true) => b.seqno(self.pos),
            _ => 0,
        }
    }

    /// The current entry's value; `None` for a tombstone (or if not valid).
    pub fn value(&self) -> Option<&[u8]> {
        match (&self.block, self.valid) {
            (Some(b), true) => b.value(self.pos),
            _ => None,
        }
    }

    /// Decodes and enters block `i`.
    fn enter(&mut self, i: usize) -> Result<()> {
        self.valid = false;
        // The previous block's buffers serve the next one.
        let buffers = self
            .block
            .take()
            .map_or_else(DecodeBuffers::default, DecodedBlock::into_buffers);
        self.block = Some(self.table.decode_block(i, buffers)?);
        self.block_idx = i;
        Ok(())
    }

    fn block_len(&self) -> usize {
        self.block.as_ref().map_or(0, DecodedBlock::len)
    }

    /// Positions on the first entry.
    pub fn seek_to_first(&mut self) -> Result<()> {
        self.enter(0)?;
        self.pos = 0;
        self.valid = true;
        Ok(())
    }

    /// Positions on the last entry.
    pub fn seek_to_last(&mut self) -> Result<()> {
        let last = self.table.index().len() - 1;
        self.enter(last)?;
        self.pos = self.block_len() - 1;
        self.valid = true;
        Ok(())
    }

    /// Positions on the first entry `>= (user_key, seqno)` in internal order.
    fn seek_internal(&mut self, user_key: &[u8], seqno: SeqNo) -> Result<()> {
        let i = self.table.index().lower_bound(user_key, seqno);
        if i == self.table.index().len() {
            self.valid = false;
            self.block = None;
            return Ok(());
        }
        self.enter(i)?;
        // `enter` checked that the block's last entry equals its index key,
        // which is >= the target, so the bound lies inside the block.
        self.pos = self
            .block
            .as_ref()
            .map_or(0, |b| b.lower_bound(user_key, seqno));
        self.valid = self.pos < self.block_len();
        Ok(())
    }

    /// Positions on the first entry whose user key is `>= user_key`.
    pub fn seek(&mut self, user_key: &[u8]) -> Result<()> {
        self.seek_internal(user_key, SeqNo::MAX)
    }

    /// Positions on the last entry whose user key is `<= user_key`.
    pub fn seek_for_prev(&mut self, user_key: &[u8]) -> Result<()> {
        // (user_key, 0) is the largest internal key with this user key.
        self.seek_internal(user_key, 0)?;
        if !self.valid {
            return self.seek_to_last();
        }
        if cmp_internal(self.user_key(), self.seqno(), user_key, 0) == Ordering::Greater {
            self.prev()?;
        }
        Ok(())
    }

    /// Moves to the next entry (invalid past the last).
    // A cursor step that can fail, not an `Iterator`: the name is the API's.
    #[allow(clippy::should_implement_trait)]
    pub fn next(&mut self) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        if self.pos + 1 < self.block_len() {
            self.pos += 1;
        } else if self.block_idx + 1 < self.table.index().len() {
            self.enter(self.block_idx + 1)?;
            self.pos = 0;
            self.valid = true;
        } else {
            self.valid = false;
        }
        Ok(())
    }

    /// Moves to the previous entry (invalid before the first).
    pub fn prev(&mut self) -> Result<()> {
        if !self.valid {
            return Ok(());
        }
        if self.pos > 0 {
            self.pos -= 1;
        } else if self.block_idx > 0 {
            self.enter(self.block_idx - 1)?;
            self.pos = self.block_len() - 1;
            self.valid = true;
        } else {
            self.valid = false;
        }
        Ok(())
    }
}
