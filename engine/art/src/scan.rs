//! Ordered range scans.
//!
//! A scan walks the tree depth first under one epoch guard, taking a
//! snapshot of each node's live children (sorted) as it reaches the node.
//! It prunes with the bounds: a subtree whose path is entirely below the
//! lower or above the upper bound is skipped, and only subtrees on a bound's
//! edge compare leaf keys.

use std::cmp::Ordering as CmpOrdering;
use std::ops::{Bound, ControlFlow};

use crossbeam_epoch::{self as epoch, Guard};

use crate::node::{Header, Ptr};
use crate::sync::Ordering;
use crate::tree::{versions_view, Art, Versions};

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
        let mut buf = Vec::new();
        pinned.scan(lower, upper, reverse, |key, versions| {
            buf.clear();
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

struct Walk<'b, 'g, F> {
    lower: Bound<&'b [u8]>,
    upper: Bound<&'b [u8]>,
    reverse: bool,
    path: Vec<u8>,
    guard: &'g Guard,
    f: F,
}

impl<'g, F> Walk<'_, 'g, F>
where
    F: FnMut(&'g [u8], Versions<'g>) -> ControlFlow<()>,
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

    fn leaf(&mut self, p: Ptr, exact: bool) -> ControlFlow<()> {
        // SAFETY: read from the tree under `self.guard`; leaves are freed
        // only after the guard is dropped.
        let leaf = unsafe { &*p.leaf() };
        if exact && !self.in_range(&leaf.key) {
            return ControlFlow::Continue(());
        }
        (self.f)(&leaf.key, versions_view(leaf))
    }

    /// Visits the subtree at `node`, whose path so far is `self.path`.
    /// `lo_edge`/`hi_edge`: the subtree may straddle that bound.
    fn node(&mut self, node: &'g Header, lo_edge: bool, hi_edge: bool) -> ControlFlow<()> {
        let depth0 = self.path.len();
        self.path.extend_from_slice(&node.prefix);
        let r = self.node_inner(node, lo_edge, hi_edge);
        self.path.truncate(depth0);
        r
    }

    fn node_inner(&mut self, node: &'g Header, lo_edge: bool, hi_edge: bool) -> ControlFlow<()> {
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
            return ControlFlow::Continue(());
        }
        // Children's byte range, and whether the edge bytes straddle.
        let (byte_lo, lo_straddles) = match (lo, bound_key(self.lower)) {
            (Side::Edge, Some(l)) if l.len() > depth => (l[depth], true),
            _ => (0, false),
        };
        let children = match (hi, bound_key(self.upper)) {
            (Side::Edge, Some(u)) if u.len() > depth => Some((u[depth], true)),
            // The path equals the upper key: every child is above it.
            (Side::Edge, Some(_)) => None,
            _ => Some((255, false)),
        };
        let terminal = node.terminal.load(Ordering::Acquire);
        let exact = lo == Side::Edge || hi == Side::Edge;
        if !self.reverse && !terminal.is_null() {
            self.leaf(Ptr::from_leaf(terminal), exact)?;
        }
        if let Some((byte_hi, hi_straddles)) = children {
            if byte_lo <= byte_hi {
                let mut flow = ControlFlow::Continue(());
                let reverse = self.reverse;
                node.for_each_child(byte_lo, byte_hi, reverse, |b, c| {
                    let lo_e = lo_straddles && b == byte_lo;
                    let hi_e = hi_straddles && b == byte_hi;
                    flow = if c.is_leaf() {
                        self.leaf(c, lo_e || hi_e)
                    } else {
                        // SAFETY: read from the tree under `self.guard`.
                        let child = unsafe { &*c.inner() };
                        self.path.push(b);
                        let r = self.node(child, lo_e, hi_e);
                        self.path.pop();
                        r
                    };
                    flow.is_continue()
                });
                flow?;
            }
        }
        if self.reverse && !terminal.is_null() {
            self.leaf(Ptr::from_leaf(terminal), exact)?;
        }
        ControlFlow::Continue(())
    }
}

impl<'a> Pinned<'a> {
    /// The versions of `key`, newest first, if the key is present.
    pub fn versions<'g>(&'g self, key: &[u8]) -> Option<Versions<'g>> {
        self.art
            .find_leaf(key, &self.guard)
            .map(|leaf| versions_view(leaf))
    }

    /// Like [`Art::scan`], with the keys and versions borrowed from this pin,
    /// so a visitor may keep them in buffers that outlive one call.
    pub fn scan<'g, F>(&'g self, lower: Bound<&[u8]>, upper: Bound<&[u8]>, reverse: bool, f: F)
    where
        F: FnMut(&'g [u8], Versions<'g>) -> ControlFlow<()>,
    {
        let mut walk = Walk {
            lower,
            upper,
            reverse,
            path: Vec::new(),
            guard: &self.guard,
            f,
        };
        // SAFETY: the root is never null; read under the pin's guard.
        let root = unsafe { &*self.art.root_ptr() };
        let _ = walk.guard;
        let _ = walk.node(root, true, true);
    }
}
