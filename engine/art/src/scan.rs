//! Ordered range scans.
//!
//! A scan walks the tree depth first under one epoch guard, iteratively (an
//! explicit stack of node cursors on the heap, so depth costs no call
//! stack), reading each node's live children in byte order as it goes.
//! It prunes with the bounds: a subtree whose path is entirely below the
//! lower or above the upper bound is skipped, and only subtrees on a bound's
//! edge compare leaf keys.

use std::cmp::Ordering as CmpOrdering;
use std::ops::{Bound, ControlFlow};

use crossbeam_epoch::{self as epoch, Guard};

use crate::node::{Cursor, Header, Leaf};
use crate::sync::Ordering;
use crate::tree::{entries_view, Art, Entries};

/// Visitor for [`Art::scan`]: a key and its versions `(seqno, value)`,
/// newest first (`None` is a tombstone); `Break` stops the scan.
pub type ScanVisitor<'v> = dyn FnMut(&[u8], &[(u64, Option<&[u8]>)]) -> ControlFlow<()> + 'v;

/// A tree pinned to the current epoch: what it hands out borrows from it
/// and stays readable (not freed) until it is dropped. Keep it short-lived:
/// while it lives, memory retired by writers is not reclaimed.
pub struct Pinned<'a> {
    art: &'a Art,
    guard: Guard,
}

impl Art {
    /// Pins the current epoch for a batch of reads.
    pub fn pin(&self) -> Pinned<'_> {
        Pinned {
            art: self,
            guard: epoch::pin(),
        }
    }

    /// Visits, in key order (descending if `reverse`), the keys within the
    /// bounds with their versions, newest first. The visitor stops the scan
    /// by returning `Break`.
    ///
    /// Under concurrent writes a scan returns keys in order, each at most
    /// once, and every key present for the whole scan.
    pub fn scan(
        &self,
        lower: Bound<&[u8]>,
        upper: Bound<&[u8]>,
        reverse: bool,
        visitor: &mut ScanVisitor<'_>,
    ) {
        let pinned = self.pin();
        // Reused for keys with several versions; a key with one version
        // (the common case) is passed in a one-element array, so a scan
        // allocates nothing per key.
        let mut buf = Vec::new();
        pinned.scan(lower, upper, reverse, |key, mut versions| {
            let Some(first) = versions.next() else {
                return visitor(key, &[]);
            };
            let Some(second) = versions.next() else {
                return visitor(key, &[(first.seqno, first.value)]);
            };
            buf.clear();
            buf.push((first.seqno, first.value));
            buf.push((second.seqno, second.value));
            buf.extend(versions.map(|v| (v.seqno, v.value)));
            visitor(key, &buf)
        });
    }
}

/// How a subtree relates to one bound.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Side {
    /// No key of the subtree is within the bound.
    Outside,
    /// Some may be: look closer.
    Edge,
    /// Every key of the subtree is within the bound.
    Inside,
}

/// Subtree of keys starting with `path` versus the lower bound key `l`.
fn lower_side(path: &[u8], l: &[u8]) -> Side {
    let n = path.len().min(l.len());
    match path[..n].cmp(&l[..n]) {
        CmpOrdering::Less => Side::Outside,
        CmpOrdering::Greater => Side::Inside,
        CmpOrdering::Equal if path.len() > l.len() => Side::Inside,
        CmpOrdering::Equal => Side::Edge,
    }
}

/// Subtree of keys starting with `path` versus the upper bound key `u`.
fn upper_side(path: &[u8], u: &[u8]) -> Side {
    let n = path.len().min(u.len());
    match path[..n].cmp(&u[..n]) {
        CmpOrdering::Less => Side::Inside,
        CmpOrdering::Greater => Side::Outside,
        CmpOrdering::Equal if path.len() > u.len() => Side::Outside,
        CmpOrdering::Equal => Side::Edge,
    }
}

fn bound_key(b: Bound<&[u8]>) -> Option<&[u8]> {
    match b {
        Bound::Included(k) | Bound::Excluded(k) => Some(k),
        Bound::Unbounded => None,
    }
}

/// One node on the scan's explicit stack.
struct Visit<'g> {
    node: &'g Header,
    /// The children still to visit.
    cursor: Cursor,
    /// Length of the path up to and including this node's prefix; kept
    /// only while the node may straddle a bound (`self.path` is not
    /// maintained below nodes wholly inside the bounds).
    depth: usize,
    /// The child byte that may straddle the lower / upper bound.
    lo_straddle: Option<u8>,
    hi_straddle: Option<u8>,
    /// The terminal leaf (visited last in reverse scans), and whether its
    /// key must be compared with the bounds.
    terminal: *mut Leaf,
    terminal_exact: bool,
}

/// An iterative depth-first walk: the stack is a heap `Vec` of frames, so
/// a tree tens of thousands of levels deep (nested keys) needs no more
/// than a few machine words of call stack.
struct Walk<'b, 'g, F> {
    lower: Bound<&'b [u8]>,
    upper: Bound<&'b [u8]>,
    reverse: bool,
    /// The path to the deepest node that may straddle a bound.
    path: Vec<u8>,
    stack: Vec<Visit<'g>>,
    f: F,
}

impl<'g, F> Walk<'_, 'g, F>
where
    F: FnMut(&'g [u8], Entries<'g>) -> ControlFlow<()>,
{
    fn in_range(&self, key: &[u8]) -> bool {
        let above = match self.lower {
            Bound::Included(l) => key >= l,
            Bound::Excluded(l) => key > l,
            Bound::Unbounded => true,
        };
        let below = match self.upper {
            Bound::Included(u) => key <= u,
            Bound::Excluded(u) => key < u,
            Bound::Unbounded => true,
        };
        above && below
    }

    #[inline]
    fn leaf(&mut self, leaf: *mut Leaf, exact: bool) -> ControlFlow<()> {
        // SAFETY: read from the tree under the scan's guard (the `'g` the
        // walk was made with); leaves are freed only after it is dropped.
        let leaf: &'g Leaf = unsafe { &*leaf };
        if exact && !self.in_range(&leaf.key) {
            return ControlFlow::Continue(());
        }
        (self.f)(&leaf.key, entries_view(leaf))
    }

    /// Reaches `node` (child byte `byte` of a parent whose path is
    /// `self.path[..parent_depth]`; the root has no byte): visits its
    /// terminal if the scan is forward and pushes its frame. `lo_edge` /
    /// `hi_edge`: the subtree may straddle that bound.
    fn enter(
        &mut self,
        node: &'g Header,
        byte: Option<u8>,
        parent_depth: usize,
        lo_edge: bool,
        hi_edge: bool,
    ) -> ControlFlow<()> {
        let terminal = node.terminal.load(Ordering::Acquire);
        let frame = if lo_edge || hi_edge {
            match self.edge_frame(node, byte, parent_depth, lo_edge, hi_edge, terminal) {
                Some(frame) => frame,
                None => return ControlFlow::Continue(()),
            }
        } else {
            // Wholly inside both bounds: no path, no comparisons below.
            Visit {
                node,
                cursor: node.open(0, 255, self.reverse),
                depth: 0,
                lo_straddle: None,
                hi_straddle: None,
                terminal,
                terminal_exact: false,
            }
        };
        if !self.reverse && !terminal.is_null() {
            self.leaf(terminal, frame.terminal_exact)?;
        }
        self.stack.push(frame);
        ControlFlow::Continue(())
    }

    /// The frame of a node that may straddle a bound, or `None` if the
    /// node is wholly outside one.
    fn edge_frame(
        &mut self,
        node: &'g Header,
        byte: Option<u8>,
        parent_depth: usize,
        lo_edge: bool,
        hi_edge: bool,
        terminal: *mut Leaf,
    ) -> Option<Visit<'g>> {
        self.path.truncate(parent_depth);
        self.path.extend(byte);
        self.path.extend_from_slice(&node.prefix);
        let depth = self.path.len();
        let lo = match (lo_edge, bound_key(self.lower)) {
            (true, Some(l)) => lower_side(&self.path, l),
            _ => Side::Inside,
        };
        let hi = match (hi_edge, bound_key(self.upper)) {
            (true, Some(u)) => upper_side(&self.path, u),
            _ => Side::Inside,
        };
        if lo == Side::Outside || hi == Side::Outside {
            return None;
        }
        // Children's byte range, and which edge bytes straddle.
        let (byte_lo, lo_straddle) = match (lo, bound_key(self.lower)) {
            (Side::Edge, Some(l)) if l.len() > depth => (l[depth], Some(l[depth])),
            _ => (0, None),
        };
        let cursor = match (hi, bound_key(self.upper)) {
            (Side::Edge, Some(u)) if u.len() > depth => node.open(byte_lo, u[depth], self.reverse),
            // The path equals the upper key: every child is above it.
            (Side::Edge, Some(_)) => Cursor::Empty,
            _ => node.open(byte_lo, 255, self.reverse),
        };
        let hi_straddle = match (hi, bound_key(self.upper)) {
            (Side::Edge, Some(u)) if u.len() > depth => Some(u[depth]),
            _ => None,
        };
        Some(Visit {
            node,
            cursor,
            depth,
            lo_straddle,
            hi_straddle,
            terminal,
            terminal_exact: lo == Side::Edge || hi == Side::Edge,
        })
    }

    /// The walk from the root until the tree is done or the visitor breaks.
    fn run(&mut self, root: &'g Header) -> ControlFlow<()> {
        self.enter(root, None, 0, true, true)?;
        while let Some(top) = self.stack.last_mut() {
            match top.node.next_child(&mut top.cursor) {
                Some((b, c)) => {
                    let lo_e = top.lo_straddle == Some(b);
                    let hi_e = top.hi_straddle == Some(b);
                    if c.is_leaf() {
                        self.leaf(c.leaf(), lo_e || hi_e)?;
                    } else {
                        let depth = top.depth;
                        // SAFETY: read from the tree under the scan's guard.
                        let child: &'g Header = unsafe { &*c.inner() };
                        self.enter(child, Some(b), depth, lo_e, hi_e)?;
                    }
                }
                None => {
                    let (terminal, exact) = (top.terminal, top.terminal_exact);
                    self.stack.pop();
                    if self.reverse && !terminal.is_null() {
                        self.leaf(terminal, exact)?;
                    }
                }
            }
        }
        ControlFlow::Continue(())
    }
}

impl<'a> Pinned<'a> {
    /// The versions of `key`, newest first, if the key is present.
    pub fn entries<'g>(&'g self, key: &[u8]) -> Option<Entries<'g>> {
        self.art
            .find_leaf(key, &self.guard)
            .map(|leaf| entries_view(leaf))
    }

    /// Like [`Art::scan`], with the keys and versions borrowed from this pin,
    /// so a visitor may keep them in buffers that outlive one call.
    pub fn scan<'g, F>(&'g self, lower: Bound<&[u8]>, upper: Bound<&[u8]>, reverse: bool, f: F)
    where
        F: FnMut(&'g [u8], Entries<'g>) -> ControlFlow<()>,
    {
        let mut walk = Walk {
            lower,
            upper,
            reverse,
            path: Vec::new(),
            stack: Vec::with_capacity(16),
            f,
        };
        // SAFETY: the root is never null; read under the pin's guard, which
        // outlives `'g` (everything the walk hands out borrows from `self`).
        let root: &'g Header = unsafe { &*self.art.root_ptr() };
        let _ = walk.run(root);
    }
}
