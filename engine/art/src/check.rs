//! The invariant walker, for tests: call it when no writer is running.

use crossbeam_epoch as epoch;

use crate::node::{Header, Kind, Leaf, Ptr};
use crate::sync::Ordering;
use crate::tree::{entries, Art};

struct Checker<'g> {
    guard: &'g epoch::Guard,
    path: Vec<u8>,
    /// The last key seen (reused buffer), if any.
    last_key: Option<Vec<u8>>,
    leaves: usize,
    nodes: usize,
}

impl Checker<'_> {
    fn leaf(&mut self, leaf: &Leaf) -> Result<(), String> {
        let key = &leaf.key[..];
        if let Some(last) = &self.last_key {
            if key <= &last[..] {
                return Err(format!("keys out of order: {last:?} then {key:?}"));
            }
        }
        let mut n = 0;
        let mut prev = u64::MAX;
        for v in entries(leaf, self.guard) {
            if v.seqno > prev {
                return Err(format!("key {key:?}: version {} after {prev}", v.seqno));
            }
            prev = v.seqno;
            n += 1;
        }
        if n == 0 {
            return Err(format!("key {key:?} has no version"));
        }
        let last = self.last_key.get_or_insert_with(Vec::new);
        last.clear();
        last.extend_from_slice(key);
        self.leaves += 1;
        Ok(())
    }

    /// Checks one node and its terminal; returns its live children and
    /// leaves `self.path` at the node's full path.
    fn node(&mut self, node: &Header, is_root: bool) -> Result<Vec<(u8, Ptr)>, String> {
        self.nodes += 1;
        let at = &self.path;
        if node.obsolete.load(Ordering::Relaxed) {
            return Err(format!("node at {at:?} is obsolete but reachable"));
        }
        if node.lock.is_locked() {
            return Err(format!("node at {at:?} is still locked"));
        }
        if is_root && !node.prefix.is_empty() {
            return Err("root has a prefix".into());
        }
        node.check_local()
            .map_err(|e| format!("node at {at:?}: {e}"))?;
        let children = node.children();
        let live = node.live.load(Ordering::Relaxed) as usize;
        if live != children.len() {
            return Err(format!(
                "node at {at:?}: live count {live}, {} children",
                children.len()
            ));
        }
        if node.used_slots() > node.kind.capacity() {
            return Err(format!("node at {at:?}: slots overflow"));
        }
        if live < node.kind.children_min() || Kind::for_children(live) > node.kind {
            return Err(format!(
                "node at {at:?}: kind {:?} with {live} children",
                node.kind
            ));
        }
        let terminal = node.terminal.load(Ordering::Acquire);
        if !is_root && live + usize::from(!terminal.is_null()) < 2 {
            return Err(format!("inner node at {at:?} has fewer than two entries"));
        }
        self.path.extend_from_slice(&node.prefix);
        if !terminal.is_null() {
            // SAFETY: read from the tree under the guard.
            let leaf = unsafe { &*terminal };
            if leaf.key[..] != self.path[..] {
                return Err(format!(
                    "terminal key {:?} at path {:?}",
                    leaf.key, self.path
                ));
            }
            self.leaf(leaf)?;
        }
        Ok(children)
    }

    /// Walks the tree from `root` depth first with an explicit stack of
    /// `(path length, children left)` (reversed, next last), so a tree of
    /// any depth is checked on a small call stack.
    fn walk(&mut self, root: &Header) -> Result<(), String> {
        let mut children = self.node(root, true)?;
        children.reverse();
        let mut stack = vec![(self.path.len(), children)];
        while let Some((depth, children)) = stack.last_mut() {
            let depth = *depth;
            let Some((b, c)) = children.pop() else {
                stack.pop();
                continue;
            };
            self.path.truncate(depth);
            self.path.push(b);
            if c.is_leaf() {
                // SAFETY: read from the tree under the guard.
                let leaf = unsafe { &*c.leaf() };
                if !leaf.key.starts_with(&self.path) {
                    return Err(format!("leaf {:?} under path {:?}", leaf.key, self.path));
                }
                self.leaf(leaf)?;
            } else {
                // SAFETY: read from the tree under the guard.
                let mut children = self.node(unsafe { &*c.inner() }, false)?;
                children.reverse();
                stack.push((self.path.len(), children));
            }
        }
        Ok(())
    }
}

/// What `check` found.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct CheckReport {
    /// Keys holding at least one version.
    pub keys: usize,
    /// Inner nodes (Node4/16/48/256) reached.
    pub inner_nodes: usize,
}

impl Art {
    /// Walks the whole tree and reports the first broken invariant: node
    /// kinds match their child counts, no reachable node is obsolete or
    /// locked, non-root nodes have two entries or more, leaves sit under
    /// their key's path, keys are strictly ascending, versions newest first,
    /// and `len()` counts the leaves. Call it while no writer runs.
    #[doc(hidden)]
    pub fn try_check(&self) -> Result<CheckReport, String> {
        let guard = epoch::pin();
        let mut c = Checker {
            guard: &guard,
            path: Vec::new(),
            last_key: None,
            leaves: 0,
            nodes: 0,
        };
        // SAFETY: the root is never null; read under the guard.
        c.walk(unsafe { &*self.root_ptr() })?;
        if c.leaves != self.len() {
            return Err(format!("len() is {} but {} leaves", self.len(), c.leaves));
        }
        Ok(CheckReport {
            keys: c.leaves,
            inner_nodes: c.nodes,
        })
    }

    /// [`Art::try_check`], panicking on a broken invariant.
    #[doc(hidden)]
    pub fn check(&self) -> CheckReport {
        match self.try_check() {
            Ok(r) => r,
            Err(e) => panic!("ART invariant broken: {e}"),
        }
    }
}
