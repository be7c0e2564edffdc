//! Small shared types: sequence numbers, scan direction, versions.

/// A sequence number. Every committed operation gets the next one, in commit
/// order; `0` means "before any write". A snapshot at `s` sees exactly the
/// operations with sequence number `<= s`.
pub type SeqNo = u64;

/// The largest sequence number the engine hands out. The top byte is kept
/// free so an internal key can pack `(seqno << 8) | kind` into a `u64`.
pub const SEQNO_MAX: SeqNo = (1 << 56) - 1;

/// Direction of an ordered scan.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Direction {
    /// Ascending key order.
    Forward,
    /// Descending key order.
    Reverse,
}

/// One version of a key as stored in a memtable: `value == None` is a
/// tombstone (a delete), which is distinct from an empty value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct EntryRef<'a> {
    /// The write's sequence number.
    pub seqno: SeqNo,
    /// The value, or `None` for a tombstone.
    pub value: Option<&'a [u8]>,
}
