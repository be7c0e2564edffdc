//! A concurrent Adaptive Radix Tree (Leis et al., ICDE 2013) synchronised
//! with ROWEX (Leis et al., DaMoN 2016), holding versioned values: the
//! Strata memtable.
//!
//! - Keys are arbitrary byte strings: the empty key, keys that are prefixes
//!   of other keys (held in a node's terminal slot), keys of any length
//!   (each node stores its full compressed prefix).
//! - Each key holds versions `(seqno, Option<value>)`, newest first;
//!   `None` is a tombstone.
//! - Readers (`get`, `scan`) never lock; writers lock only the nodes they
//!   change. Unlinked memory is reclaimed through crossbeam-epoch.
//!
//! See `DESIGN.md` beside this crate for the protocol and its argument.

#![warn(missing_docs)]
#![deny(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks)]

mod arena;
mod check;
mod node;
mod scan;
mod sync;
#[doc(hidden)]
pub mod testing;
mod tree;

pub use check::CheckReport;

/// Bytes the trees' leaf arenas hold in memory mapped directly from the
/// kernel rather than taken from the global allocator (their 2 MiB chunks,
/// see `DESIGN.md`, "Leaf arena"), over every tree in the process. A memory
/// measurement that counts through a global allocator adds this.
pub fn mapped_bytes() -> usize {
    arena::mapped_bytes()
}
pub use scan::{Pinned, ScanVisitor};
pub use tree::{Art, Entries, EntryView};
